package airlock_test

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/stasima/stasima/services/airlock"
)

// startAs runs one airlock process named holder in the lease, returning its app to stop.
func (r *rig) startAs(holder string, ttl time.Duration) (*airlock.Service, *fxtest.App) {
	r.t.Helper()
	nc, err := nats.Connect(r.srv.ClientURL())
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	cfg := r.cfg
	cfg.AckWait = 30 * time.Second
	cfg.LeaseHolder, cfg.LeaseTTL = holder, ttl
	logger := slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("holder", holder)
	var svc *airlock.Service
	app := fxtest.New(r.t, fx.NopLogger,
		fx.Supply(logger, nc, fx.Annotate(js, fx.As(new(jetstream.JetStream))), cfg),
		airlock.Module, fx.Populate(&svc))
	app.RequireStart()
	r.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = app.Stop(ctx)
	})
	return svc, app
}

// TestLease_secondAirlockStandsBy is A-70's single instance: a second airlock on the same bus
// holds no consumer while the first holds the lease — every command goes to the first — and
// takes over the commands once the first stops.
func TestLease_secondAirlockStandsBy(t *testing.T) {
	r := newRig(t)
	first, firstApp := r.startAs("first", 900*time.Millisecond)
	second, _ := r.startAs("second", 900*time.Millisecond)
	if !strings.Contains(r.logs.String(), "airlock standby") {
		t.Fatalf("the second airlock did not stand by:\n%s", r.logs.String())
	}
	var byFirst, bySecond atomic.Int64
	first.SetAfterApply(func(string) { byFirst.Add(1) })
	second.SetAfterApply(func(string) { bySecond.Add(1) })

	for range 3 {
		_ = r.do(airlock.CmdRevert, airlock.Revert{ProposalID: "p-none"}, nil) // refused or not: handled once
	}
	if byFirst.Load() != 3 || bySecond.Load() != 0 {
		t.Fatalf("while the first holds the lease: first %d, second %d commands", byFirst.Load(), bySecond.Load())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := firstApp.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// The command waits in the stream until the standby takes over, then is answered.
	_ = r.do(airlock.CmdRevert, airlock.Revert{ProposalID: "p-none"}, nil)
	if byFirst.Load() != 3 || bySecond.Load() != 1 {
		t.Fatalf("after the first stopped: first %d, second %d commands", byFirst.Load(), bySecond.Load())
	}
	if !strings.Contains(r.logs.String(), "airlock took over the lease") {
		t.Error("no takeover logged")
	}
}
