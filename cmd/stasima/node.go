package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/stasima/stasima/pkg/embednats"
	"github.com/stasima/stasima/services/audit"
	"github.com/stasima/stasima/services/capstore"
	"github.com/stasima/stasima/services/gateway"
)

// busFile is where a running deployment records its bus address in the data dir, so
// `stasima admin` reaches it (and never assumes a port).
const busFile = "bus.json"

// lockFile is held by the one process that owns a data dir's stores.
const lockFile = "stasima.lock"

type busRecord struct {
	URL  string `json:"url"`
	PID  int    `json:"pid"`
	HTTP string `json:"http,omitempty"`
}

// node is one running process: the embedded bus (or a connection to an external one) and the
// fx graph of the services it hosts.
type node struct {
	cfg  Config
	log  *slog.Logger
	lock *os.File
	ns   *server.Server
	nc   *nats.Conn
	app  *fx.App
	gw   *gateway.Service
}

type nodeOptions struct {
	gateway bool // host the HTTP gateway
	record  bool // record the bus address in the data dir
}

// acquireLock takes the data dir's lock without waiting; ok=false when another process holds it.
func acquireLock(dataDir string) (*os.File, bool, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(filepath.Join(dataDir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, false, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return f, true, nil
}

// startNode runs the embedded bus and every service over the data dir, holding its lock.
func startNode(ctx context.Context, cfg Config, log *slog.Logger, opt nodeOptions) (*node, error) {
	lock, ok, err := acquireLock(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", cfg.DataDir, err)
	}
	if !ok {
		return nil, fmt.Errorf("another stasima process owns %s (see %s)", cfg.DataDir, filepath.Join(cfg.DataDir, busFile))
	}
	n := &node{cfg: cfg, log: log, lock: lock}
	if err := n.start(ctx, opt); err != nil {
		n.stop(context.Background())
		return nil, err
	}
	return n, nil
}

func (n *node) start(ctx context.Context, opt nodeOptions) error {
	url := n.cfg.NATSURL
	if url == "" {
		ns, err := embednats.Start(embednats.Options{Port: n.cfg.NATSPort, StoreDir: filepath.Join(n.cfg.DataDir, "nats")})
		if err != nil {
			return err
		}
		n.ns = ns
		url = ns.ClientURL()
	}
	nc, err := nats.Connect(url, nats.Name("stasima"), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("connect bus %s: %w", url, err)
	}
	n.nc = nc
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	opts := upGraph(n.cfg, n.log, nc, js, opt.gateway)
	if opt.gateway {
		opts = append(opts, fx.Populate(&n.gw))
	}
	n.app = fx.New(opts...)
	if err := n.app.Err(); err != nil {
		return err
	}
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := n.app.Start(startCtx); err != nil {
		n.app = nil
		return err
	}
	if opt.record {
		rec := busRecord{URL: url, PID: os.Getpid()}
		if n.gw != nil {
			rec.HTTP = n.gw.Addr()
		}
		b, _ := json.MarshalIndent(rec, "", "  ")
		if err := writeFileAtomic(filepath.Join(n.cfg.DataDir, busFile), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// stop stops the services (draining), then the bus, then releases the lock.
func (n *node) stop(ctx context.Context) error {
	var err error
	if n.app != nil {
		stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = n.app.Stop(stopCtx)
		cancel()
	}
	if n.nc != nil {
		n.nc.Close()
	}
	if n.ns != nil {
		n.ns.Shutdown()
		n.ns.WaitForShutdown()
	}
	if n.lock != nil {
		_ = os.Remove(filepath.Join(n.cfg.DataDir, busFile))
		n.lock.Close()
	}
	return err
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// upGraph is the fx graph of `stasima up`: every service module over one bus connection.
func upGraph(cfg Config, log *slog.Logger, nc *nats.Conn, js jetstream.JetStream, withGateway bool) []fx.Option {
	opts := []fx.Option{
		fx.WithLogger(func() fxevent.Logger {
			l := &fxevent.SlogLogger{Logger: log}
			l.UseLogLevel(slog.LevelDebug)
			return l
		}),
		fx.Supply(log, nc, fx.Annotate(js, fx.As(new(jetstream.JetStream)))),
		fx.Supply(cfg.capstore(), cfg.audit()),
		capstore.Module,
		audit.Module,
	}
	if withGateway {
		opts = append(opts, fx.Supply(cfg.gateway()), gateway.Module)
	}
	return opts
}
