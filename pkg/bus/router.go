package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/logkey"
	"github.com/stasima/stasima/pkg/telemetry"
)

// Command is one delivered command in a handler's hands: its verb (a key of the service's
// table), its decoded envelope and how often JetStream has delivered it.
type Command struct {
	Verb      string
	Subject   string
	Envelope  Envelope
	Delivered uint64
	msg       jetstream.Msg
}

// Redelivered reports whether an earlier delivery of the command may have run (ARCH-8).
func (c Command) Redelivered() bool { return c.Delivered > 1 }

// InProgress resets the command's ack deadline, for work that may outlast AckWait.
func (c Command) InProgress() error {
	if c.msg == nil {
		return nil
	}
	return c.msg.InProgress()
}

// Decode unmarshals a command's data into a C; a failure is ArgumentError naming the verb.
func Decode[C any](cmd Command) (C, error) {
	var c C
	if err := json.Unmarshal(cmd.Envelope.Data, &c); err != nil {
		return c, fault.Wrap(cmd.Verb, fault.ArgumentError, err, "undecodable %s command", cmd.Verb)
	}
	return c, nil
}

// Answer is a handler's outcome: the reply it sends (Result or Err, with the audit intents and
// the event sequence of the barriers, ARCH-6/ARCH-7), or a request for redelivery (Retry).
type Answer struct {
	Result   any
	Err      error
	Intents  []string
	EventSeq uint64
	retry    error
}

// Retry is the answer of a handler that could not apply the command for now (its store or a
// peer unavailable): nothing is replied, and the command is delivered again after a backoff,
// as often as it takes.
func Retry(err error) Answer {
	if err == nil {
		err = errors.New("retry requested")
	}
	return Answer{retry: err}
}

// AnswerOf is the answer that replies res or err.
func AnswerOf(res any, err error) Answer { return Answer{Result: res, Err: err} }

// Handler applies one command. It runs once per delivery; it must be safe to run again on a
// redelivery (ARCH-8), and return only once the effect, its events and its intents are durable
// (ARCH-12: the kit replies and acks after it returns).
type Handler func(ctx context.Context, cmd Command) Answer

// Typed adapts a handler of one command payload C and result R: the kit decodes the envelope's
// data into C (ArgumentError when it cannot) and replies R or the error.
func Typed[C, R any](fn func(ctx context.Context, cmd Command, c C) (R, error)) Handler {
	return func(ctx context.Context, cmd Command) Answer {
		c, err := Decode[C](cmd)
		if err != nil {
			return AnswerOf(nil, err)
		}
		res, err := fn(ctx, cmd, c)
		return AnswerOf(res, err)
	}
}

// Handlers is a service's command table: verb → handler. Only the exact subjects
// <prefix>.<svc>.cmd.<verb> of its verbs are handled.
type Handlers map[string]Handler

// Backoff is the delay before a command handed back with Retry is delivered again: Base after
// the first delivery, doubling per delivery up to Max.
type Backoff struct {
	Base, Max time.Duration
}

// DefaultBackoff is 1 s doubling to one minute.
var DefaultBackoff = Backoff{Base: time.Second, Max: time.Minute}

// delay is the backoff after the n-th delivery.
func (b Backoff) delay(n uint64) time.Duration {
	d := b.Base
	for i := uint64(1); i < n && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// RouterConfig declares one service's command consumer on COMMANDS.
type RouterConfig struct {
	// Service is the second subject token (Capstore, Airlock, …).
	Service string
	// Durable and Description name the durable pull consumer (<svc>-commands).
	Durable, Description string
	// AckWait is how long a delivered command may stay unacknowledged before redelivery.
	AckWait time.Duration
	// Timeout bounds one handler call's context; 0 means AckWait.
	Timeout time.Duration
	// MaxAckPending bounds the commands in flight; PullMax the pull batch (0: MaxAckPending).
	MaxAckPending, PullMax int
	// Workers > 0 handles commands on that many goroutines, each command on the worker Shard
	// picks, so one key's commands stay in order and other keys proceed (ARCH-9); 0 handles
	// them one at a time in the consumer's callback.
	Workers int
	// Shard returns a delivered command's key (capstore: the seat); nil keys on the verb.
	Shard func(env Envelope) string
	// Backoff of Retry; zero means DefaultBackoff.
	Backoff Backoff
}

// Router is the one command loop of the services (ARCH-12). It owns the durable consumer, the
// exact-subject dispatch to the service's table, the envelope decoding, the reply, the
// ack/nak/term policy, telemetry and panic recovery:
//
//   - A subject that is not <prefix>.<svc>.cmd.<verb> for a verb of the table (an extra token,
//     an unknown verb) and an undecodable envelope are terminated unhandled, with one error log
//     line and stasima_refused_messages_total{service,reason}.
//   - A handler's answer is replied to the Stasima-Reply inbox, only when it names an _INBOX.
//     subject, then the command is acked.
//   - A panic in a handler is answered Internal (the detail is logged once, with the stack),
//     counted in stasima_handler_panics_total{service,handler}, and the command is terminated;
//     the consumer goes on with the next one.
//   - No command is ever dropped silently: the consumer has MaxDeliver -1 (unbounded) and a
//     handler's Retry naks with an exponential delay (Backoff, 1 s doubling to a minute by
//     default), logged and counted in stasima_command_retries_total{service,verb}. A command
//     whose store is down is applied once it is back, however long that takes.
type Router struct {
	cfg  RouterConfig
	subj Subjects
	nc   *nats.Conn
	js   jetstream.JetStream
	log  *slog.Logger
	tel  *telemetry.Telemetry
	tbl  Handlers
	pre  string // <prefix>.<svc>.cmd.

	cc jetstream.ConsumeContext
	// mu guards jobs against the consume callback sending after Stop closed them.
	mu     sync.RWMutex
	jobs   []chan jetstream.Msg
	closed bool
	wg     sync.WaitGroup
}

// NewRouter assembles a router for cfg.Service's table; Start does the I/O.
func NewRouter(subj Subjects, nc *nats.Conn, js jetstream.JetStream, log *slog.Logger, tel *telemetry.Telemetry,
	cfg RouterConfig, tbl Handlers) (*Router, error) {
	if cfg.Service == "" || cfg.Durable == "" || cfg.AckWait <= 0 {
		return nil, fault.E("bus.router", fault.ArgumentError, "router needs a service, a durable name and a positive ack wait")
	}
	for verb := range tbl {
		if verb == "" || strings.ContainsAny(verb, ".*> \t\r\n") {
			return nil, fault.E("bus.router", fault.ArgumentError, "verb %q of %s is not one subject token", verb, cfg.Service)
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = cfg.AckWait
	}
	if cfg.MaxAckPending <= 0 {
		cfg.MaxAckPending = 1
	}
	if cfg.PullMax <= 0 {
		cfg.PullMax = cfg.MaxAckPending
	}
	if cfg.Backoff.Base <= 0 || cfg.Backoff.Max < cfg.Backoff.Base {
		cfg.Backoff = DefaultBackoff
	}
	return &Router{cfg: cfg, subj: subj, nc: nc, js: js, log: log, tel: tel, tbl: tbl,
		pre: subj.Command(cfg.Service, "")}, nil
}

// ConsumerConfig is the durable consumer the router ensures.
func (r *Router) ConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       r.cfg.Durable,
		Description:   r.cfg.Description,
		FilterSubject: r.subj.Commands(r.cfg.Service),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       r.cfg.AckWait,
		MaxDeliver:    -1, // never dropped: see Router
		MaxAckPending: r.cfg.MaxAckPending,
	}
}

// Start ensures the consumer and starts consuming. The COMMANDS stream must exist.
func (r *Router) Start(ctx context.Context) error {
	cons, err := r.js.CreateOrUpdateConsumer(ctx, r.subj.CommandsStream(), r.ConsumerConfig())
	if err != nil {
		return fmt.Errorf("%s: ensure command consumer: %w", r.cfg.Service, err)
	}
	handle := r.handle
	if r.cfg.Workers > 0 {
		r.jobs = make([]chan jetstream.Msg, r.cfg.Workers)
		for i := range r.jobs {
			r.jobs[i] = make(chan jetstream.Msg, 64)
			r.wg.Add(1)
			go r.work(r.jobs[i])
		}
		handle = r.dispatch
	}
	if r.cc, err = cons.Consume(handle, jetstream.PullMaxMessages(r.cfg.PullMax)); err != nil {
		return fmt.Errorf("%s: consume commands: %w", r.cfg.Service, err)
	}
	r.tel.WatchConsumer(r.js, r.subj.CommandsStream(), r.cfg.Durable)
	return nil
}

// Stop drains the consumer (the commands in hand finish) and waits for the workers, or for ctx.
func (r *Router) Stop(ctx context.Context) {
	if r.cc != nil {
		r.cc.Drain()
		select {
		case <-r.cc.Closed():
		case <-ctx.Done():
		}
	}
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		for _, ch := range r.jobs {
			close(ch)
		}
	}
	r.mu.Unlock()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// dispatch hands a delivered command to the worker its shard key picks (ARCH-9).
func (r *Router) dispatch(msg jetstream.Msg) {
	key := ""
	if r.cfg.Shard != nil {
		if env, err := DecodeEnvelope(msg.Data()); err == nil {
			key = r.cfg.Shard(env)
		}
	} else {
		key = msg.Subject()
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return // stopping: left unacknowledged, delivered to the next run
	}
	r.jobs[h.Sum32()%uint32(len(r.jobs))] <- msg
}

func (r *Router) work(ch <-chan jetstream.Msg) {
	defer r.wg.Done()
	for msg := range ch {
		r.handle(msg)
	}
}

// verb returns the verb of an exact command subject of the table, else "".
func (r *Router) verb(subject string) string {
	verb, ok := strings.CutPrefix(subject, r.pre)
	if !ok || strings.Contains(verb, ".") {
		return ""
	}
	if _, ok := r.tbl[verb]; !ok {
		return ""
	}
	return verb
}

// badSubject names what is wrong with a subject the table has no verb for.
func (r *Router) badSubject(subject string) error {
	op := r.cfg.Service + ".cmd"
	rest, ok := strings.CutPrefix(subject, r.pre)
	if !ok || strings.Contains(rest, ".") {
		return fault.E(op, fault.ArgumentError, "subject %q is not a command subject %s<verb> (one token after cmd)", subject, r.pre)
	}
	return fault.E(op, fault.ArgumentError, "unknown %s command %q", r.cfg.Service, rest)
}

// refuse terminates a message the router will not handle (one error line, one count) and
// tells a waiting requester why.
func (r *Router) refuse(msg jetstream.Msg, reason string, err error) {
	r.log.Error("command refused", logkey.Subject, msg.Subject(), "reason", reason, logkey.Err, err)
	r.tel.Refused(r.cfg.Service, reason)
	_ = msg.TermWithReason(reason)
	r.reply(msg, ErrReply(err))
}

// handle runs one delivered command: decode, handler (recovered), then reply and ack — or nak
// with backoff on Retry, or term after a panic.
func (r *Router) handle(msg jetstream.Msg) {
	subject := msg.Subject()
	verb := r.verb(subject)
	if verb == "" {
		r.refuse(msg, "subject", r.badSubject(subject))
		return
	}
	env, err := DecodeEnvelope(msg.Data())
	if err != nil {
		r.refuse(msg, "envelope", err)
		return
	}
	cmd := Command{Verb: verb, Subject: subject, Envelope: env, Delivered: 1, msg: msg}
	if md, err := msg.Metadata(); err == nil {
		cmd.Delivered = md.NumDelivered
	}
	log := r.log.With(logkey.Subject, subject, logkey.OpID, env.OpID, "command_id", env.ID)
	if cmd.Redelivered() {
		log.Warn("command redelivered", logkey.Delivered, cmd.Delivered)
	}
	tctx, handling := r.tel.Command(r.cfg.Service, msg)
	ctx, cancel := context.WithTimeout(tctx, r.cfg.Timeout)
	defer cancel()

	ans, panicked := r.call(ctx, log, verb, cmd)
	if ans.retry != nil {
		delay := r.cfg.Backoff.delay(cmd.Delivered)
		log.Error("command not applied; redelivering", logkey.Err, ans.retry, logkey.Delivered, cmd.Delivered, "delay", delay)
		handling.Done(fault.Wrap(r.cfg.Service+".cmd", fault.BackendUnavailable, ans.retry, "retry"))
		r.tel.Retried(r.cfg.Service, verb)
		_ = msg.NakWithDelay(delay)
		return
	}
	if !panicked && ans.Err != nil && fault.ClassOf(ans.Err) == fault.Internal {
		log.Error("command failed", logkey.Err, ans.Err)
	}
	handling.Done(ans.Err)
	r.reply(msg, CommandReply(ans.Result, ans.Err, ans.Intents, ans.EventSeq))
	if panicked {
		err = msg.TermWithReason("handler panicked")
	} else {
		err = msg.Ack()
	}
	if err != nil {
		log.Warn("ack failed", logkey.Err, err)
	}
}

// call runs the verb's handler and turns a panic into an Internal answer.
func (r *Router) call(ctx context.Context, log *slog.Logger, verb string, cmd Command) (ans Answer, panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			ans, panicked = Answer{Err: recovered(log, r.tel, r.cfg.Service, verb, v)}, true
		}
	}()
	return r.tbl[verb](ctx, cmd), false
}

// reply publishes body on the command's Stasima-Reply inbox when it names one. Only _INBOX.
// subjects are answered: a header naming another subject is ignored, so a command cannot make
// the service publish on a subject of the requester's choosing.
func (r *Router) reply(msg jetstream.Msg, body []byte) {
	inbox := msg.Headers().Get(HeaderReply)
	if inbox == "" {
		return
	}
	if !IsInbox(inbox) {
		r.log.Warn("reply withheld: not an inbox", logkey.Subject, msg.Subject(), "reply", inbox)
		return
	}
	if err := r.nc.Publish(inbox, body); err != nil {
		r.log.Warn("reply failed", logkey.Subject, msg.Subject(), logkey.Err, err)
	}
}

// IsInbox reports whether subject is a reply inbox (_INBOX.…, one literal subject).
func IsInbox(subject string) bool {
	rest, ok := strings.CutPrefix(subject, "_INBOX.")
	return ok && rest != "" && !strings.ContainsAny(subject, "*> \t\r\n") && !strings.Contains(subject, "..") &&
		!strings.HasSuffix(subject, ".")
}
