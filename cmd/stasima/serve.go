package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/stasima/stasima/services/airlock"
	"github.com/stasima/stasima/services/audit"
	"github.com/stasima/stasima/services/capstore"
	"github.com/stasima/stasima/services/gateway"
	"github.com/stasima/stasima/services/indexer"
)

// serveOne runs one service module against the external bus (the compose deployment).
// Services cannot tell this from `stasima up`.
func serveOne(ctx context.Context, cfg Config, log *slog.Logger, svc string) (*node, error) {
	var mod []fx.Option
	switch svc {
	case "capstore":
		lock, ok, err := acquireLock(cfg.DataDir)
		if err != nil || !ok {
			return nil, fmt.Errorf("capstore must own %s alone: %v", cfg.DataDir, err)
		}
		_ = lock // held for the life of the process
		mod = []fx.Option{fx.Supply(cfg.capstore()), capstore.Module}
	case "airlock":
		mod = []fx.Option{fx.Supply(cfg.airlock()), airlock.Module}
	case "indexer":
		mod = []fx.Option{fx.Supply(cfg.indexer()), indexer.Module}
	case "audit":
		mod = []fx.Option{fx.Supply(cfg.audit()), audit.Module}
	case "gateway":
		mod = []fx.Option{fx.Supply(cfg.gateway()), gateway.Module}
	default:
		return nil, fmt.Errorf("%w: unknown service %q (capstore, audit, airlock, indexer, gateway)", errUsage, svc)
	}
	nc, err := nats.Connect(cfg.NATSURL, nats.Name("stasima-"+svc), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("connect bus %s: %w", cfg.NATSURL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	n := &node{cfg: cfg, log: log, nc: nc}
	opts := append([]fx.Option{
		fx.WithLogger(func() fxevent.Logger { return &fxevent.SlogLogger{Logger: log} }),
		fx.Supply(log, nc, fx.Annotate(js, fx.As(new(jetstream.JetStream)))),
	}, mod...)
	n.app = fx.New(opts...)
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := n.app.Start(startCtx); err != nil {
		nc.Close()
		return nil, err
	}
	return n, nil
}
