package busclient_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/natstest"
	"github.com/stasima/stasima/pkg/telemetry"
)

// spanNamed returns the one ended span called name.
func spanNamed(t *testing.T, sr *tracetest.SpanRecorder, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	for _, s := range sr.Ended() {
		if s.Name() == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one ended span %q, have %d of %d spans", name, len(found), len(sr.Ended()))
	}
	return found[0]
}

// Issue #8 item 6: a command's consumer span continues the publisher's trace across a real
// JetStream (the context travels in the message headers), and so does a query's.
func TestTraceContextCrossesTheBus(t *testing.T) {
	ns := natstest.Start(t)
	nc := ns.Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	subj := bus.MustSubjects("trace")
	if _, err := js.CreateOrUpdateStream(ctx, subj.CommandsStreamConfig()); err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, subj.CommandsStream(), jetstream.ConsumerConfig{
		Durable: "capstore-commands", FilterSubject: subj.Commands(bus.Capstore), AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}

	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	// Two processes' telemetry over one provider: the recorder sees both sides.
	handler, caller := telemetry.New(telemetry.Options{TracerProvider: tp}), telemetry.New(telemetry.Options{TracerProvider: tp})

	cc, err := cons.Consume(func(m jetstream.Msg) {
		_, h := handler.Command(bus.Capstore, m)
		body := bus.CommandReply(map[string]string{"ok": "yes"}, nil, nil, 0)
		h.Done(nil)
		_ = bus.Finish(nc, m, body)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Stop()
	sub, err := nc.Subscribe(subj.Query(bus.Capstore, "ping"), func(m *nats.Msg) {
		_, span := handler.Tracer().Start(telemetry.Extract(context.Background(), m.Header), "serve ping",
			trace.WithSpanKind(trace.SpanKindServer))
		span.End()
		_ = m.Respond(bus.CommandReply(nil, nil, nil, 0))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	client := busclient.New(nc, js, subj, bus.Gateway, 10*time.Second).WithTelemetry(caller)
	if err := client.Start(); err != nil {
		t.Fatal(err)
	}
	defer client.Stop()

	callCtx, done := caller.Tool(ctx, "kip_commit")
	var res map[string]string
	err = client.Do(callCtx, busclient.Command{Svc: bus.Capstore, Verb: "kip_commit", OpID: "op-1", Data: map[string]string{}}, &res)
	if err == nil {
		err = client.Query(callCtx, bus.Capstore, "ping", nil, nil)
	}
	done(err)
	if err != nil {
		t.Fatal(err)
	}

	root := spanNamed(t, sr, "tool kip_commit")
	publish := spanNamed(t, sr, "publish "+subj.Command(bus.Capstore, "kip_commit"))
	handle := spanNamed(t, sr, "handle "+subj.Command(bus.Capstore, "kip_commit"))
	serve := spanNamed(t, sr, "serve ping")
	want := root.SpanContext().TraceID()
	for _, s := range []sdktrace.ReadOnlySpan{publish, handle, serve} {
		if got := s.SpanContext().TraceID(); got != want {
			t.Errorf("span %q trace id %s, want the caller's %s", s.Name(), got, want)
		}
	}
	if !handle.Parent().IsRemote() || handle.Parent().SpanID() != publish.SpanContext().SpanID() {
		t.Errorf("consumer span's parent %v, want the remote publish span %s", handle.Parent(), publish.SpanContext().SpanID())
	}
	if handle.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("consumer span kind %v", handle.SpanKind())
	}
}
