// Package busclient is the requesting side of the bus (gateway, admin CLI, airlock): write commands published to the COMMANDS
// stream with a reply inbox (ARCH-12), and read queries as core request/reply.
package busclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/pkg/telemetry"
)

// Client sends commands and queries for one process. It is safe for concurrent use.
type Client struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	subj     bus.Subjects
	producer string
	timeout  time.Duration

	// barrier is the ARCH-6 wait for a command's audit intents; 0 turns it off.
	barrier time.Duration
	// indexBarrier is the ARCH-7 wait for the index to apply a command's events; 0: off.
	indexBarrier time.Duration
	log          *slog.Logger
	// tel makes the producer spans; nil still carries the caller's span context in headers.
	tel *telemetry.Telemetry

	inbox string
	sub   *nats.Subscription
	mu    sync.Mutex
	wait  map[string]chan []byte
	next  atomic.Uint64
}

// New builds a client; Start subscribes its reply inbox.
func New(nc *nats.Conn, js jetstream.JetStream, subj bus.Subjects, producer string, timeout time.Duration) *Client {
	return &Client{nc: nc, js: js, subj: subj, producer: producer, timeout: timeout, wait: map[string]chan []byte{}}
}

// WithAuditBarrier makes Do wait, up to d, until the audit service has appended the intents a
// command produced (ARCH-6), so a tool result observes its own rows. A barrier that times out
// or finds the audit store degraded is logged, not failed: git is truth (INV-18) and the intents
// wait in the AUDIT stream.
func (c *Client) WithAuditBarrier(d time.Duration, log *slog.Logger) *Client {
	c.barrier, c.log = d, log
	return c
}

// WithIndexBarrier makes Do wait, up to d, until the indexer has applied the events a command
// published (ARCH-7, S-30). On timeout the call still succeeds (git is truth) and a warning is
// logged.
func (c *Client) WithIndexBarrier(d time.Duration) *Client {
	c.indexBarrier = d
	return c
}

// WithTelemetry makes the client's producer spans with t's tracer. Without it, the caller's
// span context still crosses the bus in the message headers.
func (c *Client) WithTelemetry(t *telemetry.Telemetry) *Client {
	c.tel = t
	return c
}

// Start subscribes the reply inbox shared by every command of this client.
func (c *Client) Start() error {
	c.inbox = c.nc.NewInbox() // under the connection's inbox prefix (bus.Subjects.InboxPrefix), the only one its user may subscribe
	sub, err := c.nc.Subscribe(c.inbox+".*", func(m *nats.Msg) {
		token := m.Subject[len(c.inbox)+1:]
		c.mu.Lock()
		ch := c.wait[token]
		delete(c.wait, token)
		c.mu.Unlock()
		if ch != nil {
			ch <- m.Data
		}
	})
	if err != nil {
		return fmt.Errorf("busclient: subscribe inbox: %w", err)
	}
	c.sub = sub
	return nil
}

// Stop unsubscribes the inbox.
func (c *Client) Stop() {
	if c.sub != nil {
		_ = c.sub.Unsubscribe()
	}
}

// Command describes one write command.
type Command struct {
	Svc, Verb string
	// ID is the command id (Nats-Msg-Id); derived from op_id where the command has one.
	ID      string
	OpID    string
	Session string
	Data    any
}

// Do publishes a command to the COMMANDS stream and waits for the handler's reply. A command
// the stream already holds under the same id (a retry within the de-duplication window) is
// published again under a fresh id: the handler's op_id idempotency answers it with the same
// commit, so the retry gets the original result instead of waiting on a reply already sent.
func (c *Client) Do(ctx context.Context, cmd Command, result any) error {
	op := cmd.Svc + "." + cmd.Verb
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	// The envelope id names this call: it is what a redelivery repeats and what the handler
	// derives its audit intent ids from, so a retried call (same op_id) still gets rows of its
	// own while a redelivered one does not. The Nats-Msg-Id is the command id, derived from the
	// op_id, so JetStream drops a repeated publish of the same command.
	callID := ulid.Make().String()
	id := cmd.ID
	if id == "" {
		id = callID
	}
	env, err := bus.NewEnvelope(callID, "cmd."+cmd.Verb, c.producer, cmd.Session, cmd.OpID, time.Now(), cmd.Data)
	if err != nil {
		return fault.Wrap(op, fault.Internal, err, "encode command")
	}
	body, err := json.Marshal(env)
	if err != nil {
		return fault.Wrap(op, fault.Internal, err, "encode command")
	}
	token := strconv.FormatUint(c.next.Add(1), 36)
	ch := make(chan []byte, 1)
	c.mu.Lock()
	c.wait[token] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.wait, token)
		c.mu.Unlock()
	}()

	msg := nats.NewMsg(c.subj.Command(cmd.Svc, cmd.Verb))
	msg.Data = body
	msg.Header.Set(bus.HeaderReply, c.inbox+"."+token)
	span := c.tel.Publish(ctx, msg.Subject, msg.Header)
	defer span.End()
	ack, err := c.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id))
	if err != nil {
		return unavailable(op, err)
	}
	if ack.Duplicate {
		msg.Header.Set(bus.HeaderMsgID, id+"#"+ulid.Make().String())
		if _, err := c.js.PublishMsg(ctx, msg); err != nil {
			return unavailable(op, err)
		}
	}
	select {
	case b := <-ch:
		r, err := bus.DecodeCommandReply(b, result)
		c.Await(ctx, r.Intents)
		c.awaitIndex(ctx, r.EventSeq)
		return err
	case <-ctx.Done():
		return fault.E(op, fault.BackendUnavailable,
			"%s did NOT complete within the tool timeout: the command is queued and will apply; retry with the same op_id to get its result", op)
	}
}

// Query sends a core request/reply query to svc.q.name.
func (c *Client) Query(ctx context.Context, svc, name string, req, result any) error {
	return c.request(ctx, svc+".q."+name, c.subj.Query(svc, name), req, result)
}

// Call sends a command served by core request/reply rather than the COMMANDS stream to
// svc.cmd.verb: the gateway's admin-only oauth_console_grant, whose state is the door's own
// store (identity.md I-66).
func (c *Client) Call(ctx context.Context, svc, verb string, req, result any) error {
	return c.request(ctx, svc+".cmd."+verb, c.subj.Command(svc, verb), req, result)
}

func (c *Client) request(ctx context.Context, op, subject string, req, result any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	var body []byte
	if req != nil {
		var err error
		if body, err = json.Marshal(req); err != nil {
			return fault.Wrap(op, fault.Internal, err, "encode query")
		}
	}
	msg := nats.NewMsg(subject)
	msg.Data = body
	span := c.tel.Publish(ctx, subject, msg.Header)
	defer span.End()
	m, err := c.nc.RequestMsgWithContext(ctx, msg)
	if err != nil {
		return unavailable(op, err)
	}
	return bus.DecodeReply(m.Data, result)
}

func unavailable(op string, err error) error {
	msg := "the bus did not answer"
	if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) {
		msg = "no service answers on the bus"
	}
	return fault.Wrap(op, fault.BackendUnavailable, err, "%s: %s did NOT complete", msg, op)
}

// PublishIntents publishes audit intents on the AUDIT stream, the intent id as Nats-Msg-Id so a
// repeat inside the de-duplication window is dropped (and past it, the writer's U-5 check). It
// returns once every intent is stored in the stream.
func (c *Client) PublishIntents(ctx context.Context, intents []schema.AuditIntent) error {
	return c.PublishIntentsAsync(ctx, intents)
}

// Await is the audit barrier (ARCH-6): it waits until the audit service has appended the
// intents, or the barrier times out. It never fails the caller.
func (c *Client) Await(ctx context.Context, ids []string) {
	if c.barrier <= 0 || len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.barrier+time.Second)
	defer cancel()
	var ans schema.AwaitAnswer
	err := c.Query(ctx, bus.Audit, schema.QAuditAwait, schema.AwaitQuery{IDs: ids, TimeoutMS: int(c.barrier / time.Millisecond)}, &ans)
	if err != nil && c.log != nil {
		c.log.Warn("audit barrier passed without the rows", "intents", len(ids), "err", err)
	}
}

// PublishIntentsAsync publishes intents without waiting for each acknowledgement in turn, then
// waits for all of them.
func (c *Client) PublishIntentsAsync(ctx context.Context, intents []schema.AuditIntent) error {
	futures := make([]jetstream.PubAckFuture, 0, len(intents))
	for _, in := range intents {
		env, err := bus.NewEnvelope(in.ID, "audit.intent", c.producer, in.Session, "", time.Now(), in)
		if err != nil {
			return fault.Wrap("audit.intent", fault.Internal, err, "encode intent")
		}
		b, err := json.Marshal(env)
		if err != nil {
			return fault.Wrap("audit.intent", fault.Internal, err, "encode intent")
		}
		msg := nats.NewMsg(c.subj.Intent(c.producer, in.Op))
		msg.Data = b
		telemetry.Inject(ctx, msg.Header)
		f, err := c.js.PublishMsgAsync(msg, jetstream.WithMsgID(in.ID))
		if err != nil {
			return unavailable("audit.intent", err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return unavailable("audit.intent", err)
		case <-ctx.Done():
			return unavailable("audit.intent", ctx.Err())
		}
	}
	return nil
}

// Follow starts following events on the EVENTS stream from now on (an ephemeral ordered
// consumer that writes nothing): when it returns, every later event reaches fn. stop ends it.
func (c *Client) Follow(ctx context.Context, subjects []string, fn func(bus.Envelope)) (stop func(), err error) {
	cons, err := c.js.OrderedConsumer(ctx, c.subj.EventsStream(), jetstream.OrderedConsumerConfig{
		FilterSubjects: subjects, DeliverPolicy: jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return nil, unavailable("watch", err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if env, err := bus.DecodeEnvelope(m.Data()); err == nil {
			fn(env)
		}
	})
	if err != nil {
		return nil, unavailable("watch", err)
	}
	return cc.Stop, nil
}

// Watch is Follow until ctx ends.
func (c *Client) Watch(ctx context.Context, subjects []string, fn func(bus.Envelope)) error {
	stop, err := c.Follow(ctx, subjects, fn)
	if err != nil {
		return err
	}
	defer stop()
	<-ctx.Done()
	return nil
}

// awaitIndex is the index barrier (ARCH-7): it never fails the caller.
// Progress subscribes fn to the progress reports of svc's long-running jobs (core NATS,
// ephemeral: subscribe before starting the job). stop ends the subscription.
func (c *Client) Progress(svc string, fn func(schema.Progress)) (stop func(), err error) {
	sub, err := c.nc.Subscribe(c.subj.Progress(svc), func(m *nats.Msg) {
		var p schema.Progress
		if json.Unmarshal(m.Data, &p) == nil {
			fn(p)
		}
	})
	if err != nil {
		return nil, err
	}
	if err := c.nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

func (c *Client) awaitIndex(ctx context.Context, seq uint64) {
	if c.indexBarrier <= 0 || seq == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.indexBarrier+time.Second)
	defer cancel()
	err := c.Query(ctx, bus.Index, schema.QIndexAwait, schema.IndexAwaitQuery{StreamSeq: seq, TimeoutMS: int(c.indexBarrier / time.Millisecond)}, nil)
	if err != nil && c.log != nil {
		c.log.Warn("index barrier passed before the index applied the commit", "stream_seq", seq, "err", err)
	}
}
