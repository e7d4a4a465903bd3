package capstore_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/capstore"
)

// Graceful shutdown (issue #8 item 6): a command in flight when the process stops is finished
// — its commit written, its reply sent, its message acked — before Stop returns, rather than
// left to a redelivery.
func TestService_StopFinishesInFlightCommand(t *testing.T) {
	r := newRig(t)
	nc, err := nats.Connect(r.srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	cfg := capstore.DefaultConfig()
	cfg.GitDir = r.gitDir
	stopping := make(chan struct{})
	var svc *capstore.Service
	app := fxtest.New(t,
		fx.NopLogger,
		fx.Supply(slog.New(slog.NewTextHandler(io.Discard, nil)), nc, fx.Annotate(js, fx.As(new(jetstream.JetStream))), cfg),
		capstore.Module,
		fx.Populate(&svc),
		// Appended after capstore's hooks, so it runs first on stop: the stop has begun.
		fx.Invoke(func(lc fx.Lifecycle) {
			lc.Append(fx.Hook{OnStop: func(context.Context) error { close(stopping); return nil }})
		}),
	)
	app.RequireStart()

	inFlight, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	svc.SetAfterApply(func(verb string) {
		if verb == schema.CmdKipCommit {
			once.Do(func() { close(inFlight) })
			<-release
		}
	})
	client := r.client(t, 30*time.Second)
	done := make(chan error, 1)
	go func() {
		var res schema.KipCommitResult
		done <- client.Do(context.Background(), kip("Recto", "in-flight", "op-stop"), &res)
	}()
	<-inFlight
	stopped := make(chan error, 1)
	go func() { stopped <- app.Stop(context.Background()) }()
	<-stopping
	close(release)
	if err := <-stopped; err != nil {
		t.Fatalf("stop: %v", err)
	}
	// The process exits: what it had not sent by now is lost.
	_ = nc.FlushTimeout(5 * time.Second)
	nc.Close()
	if got := revCount(t, r.gitDir, "refs/cap/perspectives/Recto"); got != "1" {
		t.Fatalf("perspective holds %s commits, want 1", got)
	}
	obs := r.srv.Connect(t)
	ojs, _ := jetstream.New(obs)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		cons, err := ojs.Consumer(ctx, r.subj.CommandsStream(), "capstore-commands")
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		info := cons.CachedInfo()
		if info.NumAckPending == 0 && info.NumPending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after stop: %d unacknowledged, %d pending commands, want none", info.NumAckPending, info.NumPending)
		}
		time.Sleep(10 * time.Millisecond) // polling the bus's count, with a deadline
	}
	if err := <-done; err != nil {
		t.Fatalf("the in-flight command was not answered by the stopping service: %v", err)
	}
}
