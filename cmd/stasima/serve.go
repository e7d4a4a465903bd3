package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/services/airlock"
	"github.com/stasima/stasima/services/audit"
	"github.com/stasima/stasima/services/capstore"
	"github.com/stasima/stasima/services/gateway"
	"github.com/stasima/stasima/services/indexer"
)

// services are what `stasima serve` runs, one per process (O-deploy-1, O-deploy-2).
var services = []string{"capstore", "audit", "airlock", "indexer", "gateway"}

// serveOptions are the flags of `serve` beyond the config.
type serveOptions struct {
	ops     string       // /healthz, /readyz, /metrics listener; "" = off
	metrics http.Handler // served on /metrics
}

// serveOne runs one service module against the external bus (the compose deployment), with
// the component's own credentials (nats_creds). Services cannot tell this from `stasima up`:
// the same module, the same config conversion, the same streams and consumers.
func serveOne(ctx context.Context, cfg Config, log *slog.Logger, svc string, so serveOptions) (*node, error) {
	if !slices.Contains(services, svc) {
		return nil, fmt.Errorf("%w: unknown service %q (capstore, audit, airlock, indexer, gateway)", errUsage, svc)
	}
	if cfg.NATSURL == "" {
		return nil, errors.New("serve needs an external bus: set nats_url (and nats_creds) in the config file")
	}
	n := &node{cfg: cfg, log: log}
	var mod []fx.Option
	switch svc {
	case "capstore":
		// ARCH-1/ARCH-9: one writer per repository; the lock is released by stop.
		lock, ok, err := acquireLock(cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", cfg.DataDir, err)
		}
		if !ok {
			return nil, fmt.Errorf("another stasima process owns %s: capstore must own its repository alone", cfg.DataDir)
		}
		n.lock = lock
		mod = []fx.Option{fx.Supply(cfg.capstore()), capstore.Module}
	case "airlock":
		mod = []fx.Option{fx.Supply(cfg.airlock()), airlock.Module}
	case "indexer":
		mod = []fx.Option{fx.Supply(cfg.indexer()), indexer.Module}
	case "audit":
		mod = []fx.Option{fx.Supply(cfg.audit()), audit.Module}
	case "gateway":
		if cfg.Transport != "http" {
			return nil, errors.New(`serve gateway serves HTTP: set transport = "http" in its config (O-deploy-4)`)
		}
		mod = []fx.Option{fx.Supply(cfg.gateway()), gateway.Module, fx.Populate(&n.gw)}
	}
	auth, err := busAuth(cfg.NATSCreds, svc)
	if err != nil {
		n.stop(ctx)
		return nil, err
	}
	subj, err := bus.NewSubjects(cfg.BusPrefix)
	if err != nil {
		n.stop(ctx)
		return nil, err
	}
	nc, err := nats.Connect(cfg.NATSURL, append(append(busOptions(subj, svc), nats.Name("stasima-"+svc), nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(false), nats.ErrorHandler(busErrorLogger(log, svc)),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("bus disconnected", "err", err) }),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("bus reconnected", "url", c.ConnectedUrl()) }),
	), auth...)...)
	if err != nil {
		n.stop(ctx)
		return nil, fmt.Errorf("connect bus %s as %s: %w", cfg.NATSURL, svc, err)
	}
	n.nc, n.conns = nc, []*nats.Conn{nc}
	if n.tel, n.traceStop, err = newTelemetry(ctx, "stasima-"+svc, log); err != nil {
		n.stop(ctx)
		return nil, err
	}
	if so.metrics == nil {
		so.metrics = n.tel.Handler()
	}
	js, err := jetstream.New(nc)
	if err != nil {
		n.stop(ctx)
		return nil, err
	}
	if so.ops != "" {
		if n.ops, err = startOps(so.ops, nc, so.metrics, log); err != nil {
			n.stop(ctx)
			return nil, err
		}
	}
	opts := append([]fx.Option{
		fx.WithLogger(func() fxevent.Logger {
			l := &fxevent.SlogLogger{Logger: log}
			l.UseLogLevel(slog.LevelDebug)
			return l
		}),
		fx.Supply(log, nc, fx.Annotate(js, fx.As(new(jetstream.JetStream))), n.tel),
	}, mod...)
	n.app = fx.New(opts...)
	if err := n.app.Err(); err != nil {
		n.app = nil
		n.stop(ctx)
		return nil, err
	}
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := n.app.Start(startCtx); err != nil {
		n.app = nil
		n.stop(ctx)
		return nil, err
	}
	if n.ops != nil {
		n.ops.started.Store(true)
	}
	log.Info("service started", "svc", svc, "bus", nc.ConnectedUrl(), "ops", so.ops)
	return n, nil
}
