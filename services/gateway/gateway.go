// Package gateway is Stasima's agent-facing HTTP surface: MCP streamable HTTP at /mcp, the JSON
// REST mirror at /api/v1, and health endpoints. It is stateless (ARCH-5): reads are queries to
// the owning services, writes are commands on the COMMANDS stream (ARCH-12).
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/logkey"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/telemetry"
	"github.com/stasima/stasima/services/gateway/internal/app"
)

// Module provides the gateway to an fx graph.
var Module = fx.Module("gateway",
	fx.Provide(New),
	fx.Invoke(func(*Service) {}),
)

var _ app.Backend = (*busclient.Client)(nil)

// Config configures the gateway.
type Config struct {
	HTTPAddr        string // host:port; port 0 picks one at start
	DeploymentName  string
	CanonRef        string
	OrientationBase string
	BusPrefix       string
	MaxBodyBytes    int
	// ToolTimeout bounds one command's wait for its reply.
	ToolTimeout time.Duration
	// IndexBarrier bounds the wait for the index to apply a write (ARCH-7); 0 turns it off.
	IndexBarrier time.Duration
	// Approvers may close any proposal (T-propose_close-5).
	Approvers []string
	// Committer is capstore's committer name, reserved like C-names-3's actors ("" = the
	// default, capstore).
	Committer string
	// AuditBarrier bounds the wait for a call's own audit rows (ARCH-6); 0 turns it off.
	AuditBarrier time.Duration
	// BindingMode is strict, witness or off, case-insensitive ("" = strict; identity.md I-3).
	BindingMode string
	// PinnedInstance (env STASIMA_INSTANCE) binds every session to one seat (I-1); Port (env
	// STASIMA_PORT) makes the learned binding durable across restarts. Blank = unset (I-4).
	PinnedInstance string
	Port           string
	// RESTSessionIdle expires a REST Stasima-Session binding after inactivity (I-24).
	RESTSessionIdle time.Duration
	// BodyReadTimeout and WriteStallTimeout bound reading a request body and each write of a
	// response (limits.go); MaxMCPSessions caps concurrent MCP sessions, the least recently
	// active closed first when a new one would exceed it (mcp_max_sessions).
	BodyReadTimeout   time.Duration
	WriteStallTimeout time.Duration
	MaxMCPSessions    int
	// Door arms the OAuth door and the hardening middleware (routes.go).
	Door DoorConfig
	// Metrics serves the process's /metrics on the HTTP listener to loopback peers
	// (metrics.go): `stasima up`, which has no ops listener of its own.
	Metrics bool
}

// DefaultConfig returns the defaults of operations §8.
func DefaultConfig() Config {
	return Config{
		HTTPAddr:          "127.0.0.1:8787",
		CanonRef:          refs.DefaultCanon,
		OrientationBase:   "technical/orientation",
		BusPrefix:         bus.DefaultPrefix,
		MaxBodyBytes:      1 << 20,
		ToolTimeout:       30 * time.Second,
		AuditBarrier:      10 * time.Second,
		Approvers:         []string{"practitioner"},
		RESTSessionIdle:   time.Hour,
		BodyReadTimeout:   BodyReadTimeout,
		WriteStallTimeout: WriteStallTimeout,
		MaxMCPSessions:    1024,
	}
}

// Validate checks the configuration; the bind address must be loopback or inside 100.64.0.0/10
// (O-config-18) — expose the gateway through a TLS proxy, never directly.
func (c Config) Validate() error {
	host, _, err := net.SplitHostPort(c.HTTPAddr)
	if err != nil {
		return fmt.Errorf("gateway: http address %q: %w", c.HTTPAddr, err)
	}
	if !BindAllowed(host) {
		return fmt.Errorf("gateway: refusing to bind %q: bind loopback (127.0.0.1) or a 100.64.0.0/10 address and expose it through a TLS proxy", host)
	}
	if c.MaxBodyBytes <= 0 {
		return fmt.Errorf("gateway: max_body_bytes must be positive")
	}
	if c.BodyReadTimeout <= 0 || c.WriteStallTimeout <= 0 {
		return fmt.Errorf("gateway: body read timeout (%v) and write stall timeout (%v) must be positive", c.BodyReadTimeout, c.WriteStallTimeout)
	}
	if c.MaxMCPSessions < 1 {
		return fmt.Errorf("gateway: mcp_max_sessions must be at least 1, got %d", c.MaxMCPSessions)
	}
	if _, ok := app.NormalizeMode(c.BindingMode); !ok { // I-3
		return fmt.Errorf("gateway: binding mode %q: must be one of strict|witness|off", c.BindingMode)
	}
	return c.validateDoor()
}

var cgnat = &net.IPNet{IP: net.IPv4(100, 64, 0, 0), Mask: net.CIDRMask(10, 32)}

// BindAllowed is O-config-18's host test.
func BindAllowed(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || cgnat.Contains(ip))
}

// Params are the gateway's dependencies.
type Params struct {
	fx.In
	Config    Config
	Logger    *slog.Logger
	Conn      *nats.Conn
	JS        jetstream.JetStream
	Lifecycle fx.Lifecycle
	Telemetry *telemetry.Telemetry `optional:"true"`
}

// Service is a running gateway.
type Service struct {
	cfg    Config
	log    *slog.Logger
	client *busclient.Client
	app    *app.App
	srv    *http.Server
	ln     net.Listener
	done   chan error
}

// New assembles the gateway; it listens in OnStart.
func New(p Params) (*Service, error) {
	if err := p.Config.Validate(); err != nil {
		return nil, err
	}
	subj, err := bus.NewSubjects(p.Config.BusPrefix)
	if err != nil {
		return nil, err
	}
	log := p.Logger.With(logkey.Svc, bus.Gateway)
	client := busclient.New(p.Conn, p.JS, subj, bus.Gateway, p.Config.ToolTimeout).WithAuditBarrier(p.Config.AuditBarrier, log).WithIndexBarrier(p.Config.IndexBarrier).WithTelemetry(p.Telemetry)
	a := app.New(client, p.Config.appConfig(), log).WithTelemetry(p.Telemetry)
	// The MCP transport's own cap sits above the body cap so an oversized body is refused by
	// D-37's argument error (naming size and cap) rather than a bare 413.
	reqCap := int64(p.Config.MaxBodyBytes)*2 + 1<<20
	handler, d, err := routes(p.Config, a, client, p.Conn, log, reqCap)
	if err != nil {
		return nil, err
	}
	if p.Config.Metrics && p.Telemetry != nil {
		handler = withMetrics(p.Telemetry.Handler(), handler)
	}
	handler = recoverHTTP(a, log, withDeadlines(p.Config.BodyReadTimeout, p.Config.WriteStallTimeout, handler))
	s := &Service{cfg: p.Config, log: log, client: client, app: a, done: make(chan error, 1),
		srv: &http.Server{Handler: handler, ReadHeaderTimeout: ReadHeaderTimeout, IdleTimeout: IdleTimeout}}
	if d != nil {
		// The door's store opens before the listener and closes after it (its hooks wrap ours).
		p.Lifecycle.Append(fx.Hook{OnStart: d.Start, OnStop: d.Stop})
	}
	p.Lifecycle.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop})
	return s, nil
}

// appConfig is the tool App's part of the configuration (HTTP and stdio alike).
func (c Config) appConfig() app.Config {
	return app.Config{
		DeploymentName: c.DeploymentName, CanonRef: c.CanonRef,
		OrientationBase: c.OrientationBase, MaxBodyBytes: c.MaxBodyBytes, Approvers: c.Approvers, Committer: c.Committer,
		BindingMode: c.BindingMode, PinnedInstance: c.PinnedInstance, Port: c.Port,
		RESTSessionIdle: c.RESTSessionIdle,
	}
}

// Addr is the bound HTTP address (after Start).
func (s *Service) Addr() string { return s.ln.Addr().String() }

// Start subscribes the reply inbox, listens and serves in a goroutine.
func (s *Service) Start(ctx context.Context) error {
	if err := s.client.Start(); err != nil {
		return err
	}
	// The spawn-time binding rows and the port restore come before the first session (I-14,
	// I-18), so a restored port is enforced from the first call.
	if err := s.app.StartBinding(ctx); err != nil {
		s.client.Stop()
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("gateway: listen: %w", err)
	}
	s.ln = ln
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	s.log.Info("gateway listening", logkey.Addr, ln.Addr().String())
	return nil
}

// stopGrace bounds how long Stop waits for in-flight HTTP requests.
const stopGrace = 5 * time.Second

// Stop shuts the HTTP server down gracefully and releases the inbox.
func (s *Service) Stop(ctx context.Context) error {
	// Shutdown waits for every connection to go idle, and a client's long-lived MCP stream
	// never does: in-flight calls get a grace (their commands are durable on the bus either
	// way, ARCH-12), then the remaining streams are closed.
	grace, cancel := context.WithTimeout(ctx, stopGrace)
	err := s.srv.Shutdown(grace)
	cancel()
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		err = s.srv.Close()
	}
	if s.ln != nil {
		if serr := <-s.done; serr != nil && err == nil {
			err = serr
		}
	}
	s.client.Stop()
	s.log.Info("gateway stopped")
	return err
}
