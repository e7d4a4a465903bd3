package bus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/natstest"
	"github.com/stasima/stasima/pkg/telemetry"
)

const waitFor = 10 * time.Second

type rig struct {
	t    *testing.T
	nc   *nats.Conn
	js   jetstream.JetStream
	subj bus.Subjects
	tel  *telemetry.Telemetry
	logs *syncBuffer
	log  *slog.Logger
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newRig(t *testing.T) *rig {
	t.Helper()
	srv := natstest.Start(t)
	nc := srv.Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	subj := bus.MustSubjects("")
	if _, err := js.CreateOrUpdateStream(context.Background(), subj.CommandsStreamConfig()); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	return &rig{t: t, nc: nc, js: js, subj: subj, tel: telemetry.New(telemetry.Options{}), logs: logs,
		log: slog.New(slog.NewTextHandler(io.MultiWriter(logs), nil))}
}

func (r *rig) router(tbl bus.Handlers, mod func(*bus.RouterConfig)) *bus.Router {
	r.t.Helper()
	cfg := bus.RouterConfig{Service: bus.Capstore, Durable: "capstore-commands", AckWait: 30 * time.Second,
		MaxAckPending: 1, Backoff: bus.Backoff{Base: time.Millisecond, Max: 5 * time.Millisecond}}
	if mod != nil {
		mod(&cfg)
	}
	rt, err := bus.NewRouter(r.subj, r.nc, r.js, r.log, r.tel, cfg, tbl)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := rt.Start(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { rt.Stop(context.Background()) })
	return rt
}

// send publishes a command envelope on subject with reply as its Stasima-Reply header.
func (r *rig) send(subject, reply string, data any) {
	r.t.Helper()
	env, err := bus.NewEnvelope(nats.NewInbox(), "cmd", "test", "", "op-1", time.Now(), data)
	if err != nil {
		r.t.Fatal(err)
	}
	b, _ := json.Marshal(env)
	m := nats.NewMsg(subject)
	m.Data = b
	if reply != "" {
		m.Header.Set(bus.HeaderReply, reply)
	}
	if _, err := r.js.PublishMsg(context.Background(), m); err != nil {
		r.t.Fatal(err)
	}
}

// inbox subscribes a fresh reply inbox.
func (r *rig) inbox() (string, *nats.Subscription) {
	r.t.Helper()
	in := nats.NewInbox()
	sub, err := r.nc.SubscribeSync(in)
	if err != nil {
		r.t.Fatal(err)
	}
	return in, sub
}

func (r *rig) reply(sub *nats.Subscription, result any) error {
	r.t.Helper()
	m, err := sub.NextMsg(waitFor)
	if err != nil {
		r.t.Fatalf("no reply: %v", err)
	}
	return bus.DecodeReply(m.Data, result)
}

// counter reads a counter series of the rig's registry (0 when absent).
func (r *rig) counter(name string, labels map[string]string) float64 {
	r.t.Helper()
	fams, err := r.tel.Registry().Gather()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type landCmd struct {
	N int `json:"n"`
}

type landRes struct {
	Landed int `json:"landed"`
}

// TestRouter_exactSubjects: only <prefix>.capstore.cmd.<verb> for a verb of the table reaches a
// handler; an extra token before or after the verb, or an unknown verb, is terminated, logged
// and counted, and the requester is told (ARCH-11: cmd.x.land never lands).
func TestRouter_exactSubjects(t *testing.T) {
	r := newRig(t)
	var calls atomic.Int64
	r.router(bus.Handlers{"land": bus.Typed(func(_ context.Context, _ bus.Command, c landCmd) (landRes, error) {
		calls.Add(1)
		return landRes{Landed: c.N}, nil
	})}, nil)

	tests := []struct {
		name    string
		subject string
		handled bool
	}{
		{"exact verb", r.subj.Command(bus.Capstore, "land"), true},
		{"token before the verb", r.subj.Command(bus.Capstore, "x.land"), false},
		{"token after the verb", r.subj.Command(bus.Capstore, "land.x"), false},
		{"unknown verb", r.subj.Command(bus.Capstore, "nope"), false},
		{"verb of another table", r.subj.Command(bus.Capstore, "landx"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, refused := calls.Load(), r.counter("stasima_refused_messages_total", map[string]string{"reason": "subject"})
			in, sub := r.inbox()
			r.send(tt.subject, in, landCmd{N: 7})
			var res landRes
			err := r.reply(sub, &res)
			if got := calls.Load() - before; (got == 1) != tt.handled {
				t.Fatalf("handler calls = %d, handled %v", got, tt.handled)
			}
			if tt.handled {
				if err != nil || res.Landed != 7 {
					t.Fatalf("reply %+v, %v", res, err)
				}
				return
			}
			if fault.ClassOf(err) != fault.ArgumentError {
				t.Fatalf("refusal reply: %v", err)
			}
			if got := r.counter("stasima_refused_messages_total", map[string]string{"reason": "subject"}) - refused; got != 1 {
				t.Errorf("refused counter +%v, want +1", got)
			}
		})
	}
	// Every command left the work queue: handled ones acked, refused ones terminated.
	eventually(t, "COMMANDS empty", func() bool {
		info, err := r.js.Stream(context.Background(), r.subj.CommandsStream())
		if err != nil {
			return false
		}
		si, err := info.Info(context.Background())
		return err == nil && si.State.Msgs == 0
	})
	if n := bytes.Count([]byte(r.logs.String()), []byte("command refused")); n != 4 {
		t.Errorf("%d refusal log lines, want 4:\n%s", n, r.logs.String())
	}
}

// TestRouter_replyOnlyToInbox: a Stasima-Reply header naming a subject outside _INBOX. is not
// published to; the command is still applied.
func TestRouter_replyOnlyToInbox(t *testing.T) {
	r := newRig(t)
	var calls atomic.Int64
	r.router(bus.Handlers{"land": func(context.Context, bus.Command) bus.Answer {
		calls.Add(1)
		return bus.AnswerOf("ok", nil)
	}}, nil)
	target := r.subj.Command(bus.Capstore, "bootstrap")
	spy, err := r.nc.SubscribeSync(target)
	if err != nil {
		t.Fatal(err)
	}
	r.send(r.subj.Command(bus.Capstore, "land"), target, landCmd{})
	// The router handles one command at a time: once the next one is answered, the first was.
	in, sub := r.inbox()
	r.send(r.subj.Command(bus.Capstore, "land"), in, landCmd{})
	if err := r.reply(sub, nil); err != nil {
		t.Fatal(err)
	}
	if err := r.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := spy.Pending(); n != 0 {
		t.Fatalf("%d replies published on %s", n, target)
	}
	if calls.Load() != 2 {
		t.Fatalf("applied %d commands, want 2", calls.Load())
	}
}

// TestRouter_panicAnswersInternal: a handler that panics answers Internal, the panic is counted,
// and the next command on the same consumer is applied (the process lives on).
func TestRouter_panicAnswersInternal(t *testing.T) {
	r := newRig(t)
	var applied atomic.Int64
	r.router(bus.Handlers{
		"boom": func(context.Context, bus.Command) bus.Answer { panic("kaboom") },
		"land": func(context.Context, bus.Command) bus.Answer {
			applied.Add(1)
			return bus.AnswerOf(landRes{Landed: 1}, nil)
		},
	}, nil)
	in, sub := r.inbox()
	r.send(r.subj.Command(bus.Capstore, "boom"), in, landCmd{})
	err := r.reply(sub, nil)
	if fault.ClassOf(err) != fault.Internal || bytes.Contains([]byte(err.Error()), []byte("kaboom")) {
		t.Fatalf("panic reply: %v (want Internal without the detail)", err)
	}
	in2, sub2 := r.inbox()
	r.send(r.subj.Command(bus.Capstore, "land"), in2, landCmd{})
	var res landRes
	if err := r.reply(sub2, &res); err != nil || res.Landed != 1 || applied.Load() != 1 {
		t.Fatalf("next command: %+v, %v, applied %d", res, err, applied.Load())
	}
	if got := r.counter("stasima_handler_panics_total", map[string]string{"service": bus.Capstore, "handler": "boom"}); got != 1 {
		t.Errorf("panics counter = %v, want 1", got)
	}
}

// TestRouter_retryIsUnbounded: a command its handler hands back with Retry is redelivered with
// backoff until it applies — past the 20 deliveries that used to drop it.
func TestRouter_retryIsUnbounded(t *testing.T) {
	r := newRig(t)
	var tries atomic.Int64
	r.router(bus.Handlers{"land": func(_ context.Context, cmd bus.Command) bus.Answer {
		if tries.Add(1) <= 25 {
			return bus.Retry(fault.E("git", fault.BackendUnavailable, "store down"))
		}
		return bus.AnswerOf(cmd.Delivered, nil)
	}}, func(c *bus.RouterConfig) { c.Workers = 2; c.MaxAckPending = 4 })
	in, sub := r.inbox()
	r.send(r.subj.Command(bus.Capstore, "land"), in, landCmd{})
	var delivered uint64
	if err := r.reply(sub, &delivered); err != nil || delivered != 26 {
		t.Fatalf("reply delivered=%d, %v", delivered, err)
	}
	if got := r.counter("stasima_command_retries_total", map[string]string{"verb": "land"}); got != 25 {
		t.Errorf("retries counter = %v, want 25", got)
	}
}

// TestQueries: exact subjects, a panic answered Internal, the concurrency cap answered
// BackendUnavailable while saturated.
func TestQueries(t *testing.T) {
	r := newRig(t)
	entered, release := make(chan struct{}, 1), make(chan struct{})
	reg, err := bus.ServeQueries(r.nc, r.subj, r.log, r.tel, bus.QueriesConfig{Service: bus.Audit, Concurrency: 1},
		bus.Queries{
			"echo": bus.Query(func(_ context.Context, q landCmd) (landRes, error) { return landRes{Landed: q.N}, nil }),
			"boom": func(context.Context, bus.Request) (any, error) { panic("kaboom") },
			"slow": func(context.Context, bus.Request) (any, error) {
				entered <- struct{}{}
				<-release
				return "done", nil
			},
		})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { close(release); reg.Stop(context.Background()) })
	if err := r.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	ask := func(name string, body []byte, res any) error {
		m, err := r.nc.Request(r.subj.Query(bus.Audit, name), body, waitFor)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return bus.DecodeReply(m.Data, res)
	}
	var res landRes
	if err := ask("echo", []byte(`{"n":3}`), &res); err != nil || res.Landed != 3 {
		t.Fatalf("echo: %+v %v", res, err)
	}
	if err := ask("echo", []byte(`{`), nil); fault.ClassOf(err) != fault.ArgumentError {
		t.Fatalf("undecodable echo: %v", err)
	}
	if err := ask("boom", nil, nil); fault.ClassOf(err) != fault.Internal {
		t.Fatalf("panicking query: %v", err)
	}
	if got := r.counter("stasima_handler_panics_total", map[string]string{"service": bus.Audit, "handler": "boom"}); got != 1 {
		t.Errorf("panics counter = %v", got)
	}
	// One slow request holds the cap; the next is refused at once.
	first := make(chan error, 1)
	go func() { first <- ask("slow", nil, nil) }()
	<-entered
	if err := ask("slow", nil, nil); fault.ClassOf(err) != fault.BackendUnavailable {
		t.Fatalf("saturated: %v", err)
	}
	release <- struct{}{}
	if err := <-first; err != nil {
		t.Fatalf("first slow: %v", err)
	}
	// A request on a subject with an extra token reaches no handler.
	if _, err := r.nc.Request(r.subj.Query(bus.Audit, "echo.x"), nil, 200*time.Millisecond); err == nil {
		t.Fatal("echo.x answered")
	}
}

// TestRouter_undecodableEnvelope: an envelope that does not decode is terminated unhandled,
// counted, and the requester told.
func TestRouter_undecodableEnvelope(t *testing.T) {
	r := newRig(t)
	var calls atomic.Int64
	r.router(bus.Handlers{"land": func(context.Context, bus.Command) bus.Answer {
		calls.Add(1)
		return bus.AnswerOf(nil, nil)
	}}, nil)
	in, sub := r.inbox()
	m := nats.NewMsg(r.subj.Command(bus.Capstore, "land"))
	m.Data = []byte(`{"v":1,`)
	m.Header.Set(bus.HeaderReply, in)
	if _, err := r.js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if err := r.reply(sub, nil); fault.ClassOf(err) != fault.ArgumentError {
		t.Fatalf("reply: %v", err)
	}
	if calls.Load() != 0 {
		t.Fatal("an undecodable command reached the handler")
	}
	if got := r.counter("stasima_refused_messages_total", map[string]string{"reason": "envelope"}); got != 1 {
		t.Errorf("refused counter = %v", got)
	}
}

// TestQueries_answerOnlyInbox: a request whose reply subject is not an _INBOX. subject is not
// answered, so a request cannot make the service publish where the requester chooses.
func TestQueries_answerOnlyInbox(t *testing.T) {
	r := newRig(t)
	reg, err := bus.ServeQueries(r.nc, r.subj, r.log, r.tel, bus.QueriesConfig{Service: bus.Audit, Inline: true},
		bus.Queries{"echo": func(context.Context, bus.Request) (any, error) { return "hi", nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Stop(context.Background()) })
	target := r.subj.Command(bus.Capstore, "land")
	spy, err := r.nc.SubscribeSync(target)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.nc.PublishRequest(r.subj.Query(bus.Audit, "echo"), target, nil); err != nil {
		t.Fatal(err)
	}
	// Inline: one request at a time, so once the next is answered the first was handled.
	if _, err := r.nc.Request(r.subj.Query(bus.Audit, "echo"), nil, waitFor); err != nil {
		t.Fatal(err)
	}
	if err := r.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := spy.Pending(); n != 0 {
		t.Fatalf("%d answers published on %s", n, target)
	}
}
