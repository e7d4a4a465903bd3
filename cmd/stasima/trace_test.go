package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// Issue #8 item 6: one kip_commit is one trace across the node — the gateway's tool span, the
// command it publishes, capstore's handling, and the consumers of what capstore published
// (the audit writer's intent, the indexer's git event) — the context crossing NATS in message
// headers.
func TestTrace_KipCommitIsOneTrace(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	cfg, err := loadConfig(t.TempDir(), "", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n, err := startNode(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nodeOptions{gateway: true, tracer: tp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.stop(context.Background()) })
	s := mcpSession(t, n)
	mustCall(t, s, "kip_commit", map[string]any{
		"instance_id": "Recto", "domain": "practice", "slug": "traced", "body": "Followed.\n", "op_id": "op-t1",
	})

	var root trace.SpanContext
	for _, sp := range sr.Ended() {
		if sp.Name() == "tool kip_commit" {
			root = sp.SpanContext()
		}
	}
	if !root.IsValid() {
		t.Fatal("no tool span for kip_commit")
	}
	want := map[string]func(sdktrace.ReadOnlySpan) bool{
		"capstore handles the command": func(sp sdktrace.ReadOnlySpan) bool {
			return strings.HasPrefix(sp.Name(), "handle ") && strings.HasSuffix(sp.Name(), ".capstore.cmd.kip_commit")
		},
		"the audit writer consumes its intent": func(sp sdktrace.ReadOnlySpan) bool {
			return strings.HasPrefix(sp.Name(), "consume ") && strings.Contains(sp.Name(), ".audit.intent.") && consumerOf(sp) == "audit-writer"
		},
		"the indexer consumes its git event": func(sp sdktrace.ReadOnlySpan) bool {
			return strings.HasPrefix(sp.Name(), "consume ") && strings.Contains(sp.Name(), ".evt.") && consumerOf(sp) == "indexer-events"
		},
	}
	// The consumers after the reply finish on their own time: wait for their spans.
	deadline := time.Now().Add(10 * time.Second)
	for len(want) > 0 {
		for _, sp := range sr.Ended() {
			if sp.SpanContext().TraceID() != root.TraceID() {
				continue
			}
			for what, match := range want {
				if match(sp) {
					delete(want, what)
				}
			}
		}
		if len(want) == 0 {
			break
		}
		if time.Now().After(deadline) {
			var names []string
			for _, sp := range sr.Ended() {
				names = append(names, sp.Name()+"@"+sp.SpanContext().TraceID().String())
			}
			t.Fatalf("missing from trace %s: %v\nspans: %v", root.TraceID(), want, names)
		}
		time.Sleep(10 * time.Millisecond) // poll the recorder, with a deadline
	}
}

func consumerOf(sp sdktrace.ReadOnlySpan) string {
	for _, a := range sp.Attributes() {
		if a.Key == "messaging.consumer.group.name" {
			return a.Value.AsString()
		}
	}
	return ""
}
