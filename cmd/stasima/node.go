package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
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
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/embednats"
	"github.com/stasima/stasima/pkg/telemetry"
	"github.com/stasima/stasima/services/airlock"
	"github.com/stasima/stasima/services/audit"
	"github.com/stasima/stasima/services/capstore"
	"github.com/stasima/stasima/services/gateway"
	"github.com/stasima/stasima/services/indexer"
)

// busFile is where a running deployment records its bus address and the admin credentials in
// the data dir, so `stasima admin` reaches it (and never assumes a port).
const busFile = "bus.json"

// gatewayBusFile records the gateway's own credentials beside it, for `stasima stdio` — the
// process an agent's client spawns reads this file alone, never the admin's (ARCH-11).
const gatewayBusFile = "bus-gateway.json"

// lockFile is held by the one process that owns a data dir's stores.
const lockFile = "stasima.lock"

type busRecord struct {
	URL  string `json:"url"`
	PID  int    `json:"pid"`
	HTTP string `json:"http,omitempty"`
	// User and Password are one component's credentials of the embedded bus: the admin's in
	// bus.json, the gateway's in bus-gateway.json (both files 0600).
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`
}

// writeBusRecord records rec at path, readable by the owner alone.
func writeBusRecord(path string, rec busRecord) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b, 0o600)
}

// readBusRecord reads a bus record and refuses one that group or others may access: it holds
// credentials (ARCH-11, readSecretFile).
func readBusRecord(path string) (busRecord, error) {
	b, err := readSecretFile("bus record", path)
	if err != nil {
		return busRecord{}, err
	}
	var rec busRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return busRecord{}, fmt.Errorf("bus record %s: %w", path, err)
	}
	return rec, nil
}

// busConn is one component's connection.
type busConn struct {
	nc *nats.Conn
	js jetstream.JetStream
}

// node is one running process: the embedded bus (or a connection to an external one) and the
// fx graph of the services it hosts.
type node struct {
	cfg  Config
	log  *slog.Logger
	lock *os.File
	ns   *server.Server
	nc   *nats.Conn // the admin connection
	app  *fx.App
	gw   *gateway.Service

	conns []*nats.Conn
	ops   *opsServer // `serve` only: /healthz, /readyz, /metrics
	creds map[string]embednats.User

	// tel is the process's metrics registry and tracer; traceStop flushes the exporter.
	tel       *telemetry.Telemetry
	traceStop func(context.Context) error
}

type nodeOptions struct {
	gateway bool // host the HTTP gateway
	record  bool // record the bus address in the data dir
	// tracer, when set (tests), records the node's spans instead of the environment's choice.
	tracer trace.TracerProvider
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
	subj, err := bus.NewSubjects(n.cfg.BusPrefix)
	if err != nil {
		return err
	}
	url := n.cfg.NATSURL
	n.creds = map[string]embednats.User{}
	if url == "" {
		// ARCH-11: one user per component; the gateway may not publish the human gate's
		// commands. Passwords are minted per start and never logged.
		users := componentUsers(subj, func(string) string { return randomSecret() })
		for _, u := range users {
			n.creds[u.Name] = u
		}
		ns, err := embednats.Start(embednats.Options{Port: n.cfg.NATSPort, StoreDir: filepath.Join(n.cfg.DataDir, "nats"), Users: users})
		if err != nil {
			return err
		}
		n.ns = ns
		url = ns.ClientURL()
	}
	connect := func(name string) (busConn, error) {
		opts := append(busOptions(subj, name), nats.Name("stasima-"+name), nats.MaxReconnects(-1),
			nats.ErrorHandler(busErrorLogger(n.log, name)))
		if u, ok := n.creds[name]; ok {
			opts = append(opts, nats.UserInfo(u.Name, u.Password))
		}
		nc, err := nats.Connect(url, opts...)
		if err != nil {
			return busConn{}, fmt.Errorf("connect bus %s as %s: %w", url, name, err)
		}
		n.conns = append(n.conns, nc)
		js, err := jetstream.New(nc)
		return busConn{nc, js}, err
	}
	conns := map[string]busConn{}
	for _, name := range []string{bus.UserAdmin, bus.UserCapstore, bus.UserAudit, bus.UserAirlock, bus.UserIndexer, bus.UserGateway} {
		c, err := connect(name)
		if err != nil {
			return err
		}
		conns[name] = c
	}
	n.nc = conns["admin"].nc
	if opt.tracer != nil {
		n.tel = telemetry.New(telemetry.Options{TracerProvider: opt.tracer})
	} else if n.tel, n.traceStop, err = newTelemetry(ctx, "stasima", n.log); err != nil {
		return err
	}
	// One registry for every service of the node; the gateway serves it on /metrics.
	opts := append(upGraph(n.cfg, n.log, conns, opt.gateway), fx.Supply(n.tel))
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
		gw := n.creds[bus.UserGateway]
		if err := writeBusRecord(filepath.Join(n.cfg.DataDir, gatewayBusFile),
			busRecord{URL: url, PID: os.Getpid(), User: gw.Name, Password: gw.Password}); err != nil {
			return err
		}
		rec := busRecord{URL: url, PID: os.Getpid(), User: n.creds[bus.UserAdmin].Name, Password: n.creds[bus.UserAdmin].Password}
		if n.gw != nil {
			rec.HTTP = n.gw.Addr()
		}
		if err := writeBusRecord(filepath.Join(n.cfg.DataDir, busFile), rec); err != nil {
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
	for _, nc := range n.conns {
		// Whatever the drained services published reaches the bus before the socket closes.
		_ = nc.FlushTimeout(5 * time.Second)
		nc.Close()
	}
	if n.ops != nil {
		n.ops.close(ctx)
	}
	if n.traceStop != nil {
		_ = n.traceStop(ctx)
	}
	if n.ns != nil {
		n.ns.Shutdown()
		n.ns.WaitForShutdown()
	}
	if n.lock != nil {
		_ = os.Remove(filepath.Join(n.cfg.DataDir, busFile))
		_ = os.Remove(filepath.Join(n.cfg.DataDir, gatewayBusFile))
		n.lock.Close()
	}
	return err
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	return writeBytesAtomic(path, data, mode)
}

// upGraph is the fx graph of `stasima up`: every service module, each over its own bus
// connection (its own credentials on the embedded bus).
func upGraph(cfg Config, log *slog.Logger, conns map[string]busConn, withGateway bool) []fx.Option {
	withConn := func(name string, mod fx.Option) fx.Option {
		c := conns[name]
		return fx.Module(name+"-bus",
			fx.Decorate(func() *nats.Conn { return c.nc }),
			fx.Decorate(func() jetstream.JetStream { return c.js }),
			mod)
	}
	admin := conns["admin"]
	opts := []fx.Option{
		fx.WithLogger(func() fxevent.Logger {
			l := &fxevent.SlogLogger{Logger: log}
			l.UseLogLevel(slog.LevelDebug)
			return l
		}),
		fx.Supply(log, admin.nc, fx.Annotate(admin.js, fx.As(new(jetstream.JetStream)))),
		fx.Supply(cfg.capstore(), cfg.audit(), cfg.airlock(), cfg.indexer()),
		withConn("capstore", capstore.Module),
		withConn("audit", audit.Module),
		withConn("airlock", airlock.Module),
		withConn("indexer", indexer.Module),
	}
	if withGateway {
		gw := cfg.gateway()
		gw.Metrics = true // `up` has no ops listener: /metrics on the gateway's, loopback only
		opts = append(opts, fx.Supply(gw), withConn("gateway", gateway.Module))
	}
	return opts
}

// randomSecret mints a bus password.
func randomSecret() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
