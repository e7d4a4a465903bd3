package capstore_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/capstore"
)

// TestService_StoreDownLongerThanOldMaxDeliver: a command whose repository is unavailable (a
// hook fails it BackendUnavailable, as gitstore does) is
// handed back for redelivery, with backoff, for as long as it takes — well past the 20
// deliveries after which the old consumer dropped it — and applies once the repository is
// back: an accepted command is never dropped (ARCH-12).
func TestService_StoreDownLongerThanOldMaxDeliver(t *testing.T) {
	r := newRig(t)
	nc, err := nats.Connect(r.srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	cfg := capstore.DefaultConfig()
	cfg.GitDir = r.gitDir
	cfg.Retry = bus.Backoff{Base: time.Millisecond, Max: 4 * time.Millisecond}
	var svc *capstore.Service
	app := fxtest.New(t, fx.NopLogger,
		fx.Supply(slog.New(slog.NewTextHandler(io.Discard, nil)), nc, fx.Annotate(js, fx.As(new(jetstream.JetStream))), cfg),
		capstore.Module, fx.Populate(&svc))
	app.RequireStart()
	t.Cleanup(app.RequireStop)
	c := r.client(t, time.Minute)
	var first schema.KipCommitResult
	if err := c.Do(context.Background(), kip("Recto", "before", "op-before"), &first); err != nil {
		t.Fatal(err)
	}

	// The repository is unavailable: every delivery fails and is handed back.
	var down atomic.Bool
	down.Store(true)
	var deliveries atomic.Int64
	svc.SetBeforeApply(func(verb string) error {
		if verb != schema.CmdKipCommit || !down.Load() {
			return nil
		}
		deliveries.Add(1)
		return fault.E("gitstore", fault.BackendUnavailable, "repository unavailable")
	})
	done := make(chan error, 1)
	var res schema.KipCommitResult
	go func() { done <- c.Do(context.Background(), kip("Recto", "during", "op-during"), &res) }()
	deadline := time.Now().Add(30 * time.Second)
	for deliveries.Load() <= 25 { // the old consumer gave up after 20
		if time.Now().After(deadline) {
			select {
			case err := <-done:
				t.Fatalf("only %d deliveries while the repository was down; answered %+v %v", deliveries.Load(), res, err)
			default:
			}
			t.Fatalf("only %d deliveries while the repository was down", deliveries.Load())
		}
		time.Sleep(2 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("answered while the repository was down: %+v %v", res, err)
	default:
	}
	down.Store(false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after the repository came back: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("never applied after the repository came back")
	}
	if got := revCount(t, r.gitDir, "refs/cap/perspectives/Recto"); got != "2" {
		t.Errorf("perspective commits = %s, want 2", got)
	}
}
