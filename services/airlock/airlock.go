package airlock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/logkey"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/telemetry"
	"github.com/stasima/stasima/services/airlock/internal/approval"
	"github.com/stasima/stasima/services/airlock/internal/totp"
)

// Module provides the airlock service to an fx graph. Only one airlock may run per deployment
//
var Module = fx.Module("airlock",
	fx.Provide(New),
	fx.Invoke(func(*Service) {}),
)

var _ approval.SecretSource = totp.File{}

// Config configures the airlock (operations.md §8.2).
type Config struct {
	// SecretPath is airlock_secret_path (O-totp-1), resolved by the caller: the secret file the
	// airlock alone reads (ARCH-3) and totp_provision writes with mode 0600.
	SecretPath string
	// LandSecretPath is airlock_land_secret: when set, land codes verify against this second
	// secret (an independent factor); stage codes and the OAuth door use SecretPath.
	// totp_provision {land: true} writes it. It must differ from SecretPath.
	LandSecretPath string
	// Floor and Ceiling are airlock_floor_s and airlock_ceiling_s.
	Floor   time.Duration
	Ceiling time.Duration
	// Approvers may land; the airlock lands as the first in sorted order.
	Approvers []string
	// CanonRef is canon_ref, where a staged candidate lands.
	CanonRef string
	// RelayBurst and RelayPeriod are the limit on the code checks of the relay commands stage
	// and land, per session and per client address: a token bucket of RelayBurst attempts
	// refilled at RelayBurst per RelayPeriod (default 10 per minute; see relayLimiter). Revert
	// is never limited.
	RelayBurst  int
	RelayPeriod time.Duration
	// FailureBudget wrong codes within FailurePeriod, across stage, land and the OAuth door,
	// lock every code check for LockFor (airlock_failure_budget, airlock_failure_period_s,
	// airlock_lock_s; default 20 per hour, 15 minutes). The console land is never locked.
	FailureBudget int
	FailurePeriod time.Duration
	LockFor       time.Duration
	// Issuer is the otpauth issuer of totp_provision: deployment_name, or "Stasima" when empty.
	Issuer string
	// BusPrefix is the deployment prefix of subjects and streams.
	BusPrefix    string
	EventsMaxAge time.Duration
	// AckWait is how long a delivered command may stay unacknowledged before it is delivered
	// again (to a restarted airlock).
	AckWait time.Duration
	// QueryConcurrency caps the requests one query handler has in progress; past it a request
	// is answered BackendUnavailable. 0 is bus.DefaultQueryConcurrency.
	QueryConcurrency int
	// RequestTimeout bounds each command and query the airlock sends (capstore, audit).
	RequestTimeout time.Duration
	// AuditWait bounds the wait for one of the airlock's own audit rows (ARCH-6; default 10 s).
	AuditWait time.Duration
	// LeaseTTL is how long the single-instance lease outlives its holder's last renewal
	// 0 is DefaultLeaseTTL. A standby takes over within it after a crash, at once
	// after a stop.
	LeaseTTL time.Duration
	// LeaseHolder names this airlock in the lease; empty is host/pid.
	LeaseHolder string
	// Retry is the redelivery backoff of a command whose events could not be published;
	// zero is bus.DefaultBackoff.
	Retry bus.Backoff
	// Now is the clock of every gate (INV-17, A-5); nil is the server's time.Now. Tests inject
	// a clock here.
	Now func() time.Time

	// shortFloor lets a test run a floor at or below MinFloor (set only by export_test.go).
	shortFloor bool
}

// MinFloor is the bound airlock_floor_s must exceed: the longest a TOTP code is accepted
// (30 s step, ±1 window), so a code seen at staging is dead at the earliest land.
const MinFloor = totp.MaxCodeLifetime

// DefaultConfig returns the defaults of operations.md §8.2; SecretPath has none.
func DefaultConfig() Config {
	d := approval.DefaultConfig()
	return Config{
		Floor:          d.Floor,
		Ceiling:        d.Ceiling,
		Approvers:      d.Approvers,
		CanonRef:       refs.DefaultCanon,
		RelayBurst:     10,
		RelayPeriod:    time.Minute,
		FailureBudget:  approval.DefaultFailureBudget,
		FailurePeriod:  approval.DefaultFailurePeriod,
		LockFor:        approval.DefaultLockFor,
		Issuer:         totp.DefaultIssuer,
		BusPrefix:      bus.DefaultPrefix,
		EventsMaxAge:   30 * 24 * time.Hour,
		AckWait:        30 * time.Second,
		RequestTimeout: 30 * time.Second,
		AuditWait:      10 * time.Second,
	}
}

// Validate checks the configuration: a secret path, a land secret path apart from it,
// 0 < floor < ceiling (O-config-15) and floor > MinFloor, at least one approver, positive
// timeouts and a relay rate limit that allows something.
func (c Config) Validate() error {
	switch {
	case c.SecretPath == "":
		return errors.New("airlock: airlock_secret_path is required")
	case c.Floor <= 0 || c.Ceiling <= c.Floor:
		return fmt.Errorf("airlock: airlock_floor_s (%s) and airlock_ceiling_s (%s) must satisfy 0 < floor < ceiling",
			c.Floor, c.Ceiling)
	case c.Floor <= MinFloor && !c.shortFloor:
		return fmt.Errorf("airlock: airlock_floor_s (%g) must exceed %g s, the longest a TOTP code is accepted, so that a code seen at staging is dead at the earliest land (A-61): raise it (default 120)",
			c.Floor.Seconds(), MinFloor.Seconds())
	case c.LandSecretPath != "" && filepath.Clean(c.LandSecretPath) == filepath.Clean(c.SecretPath):
		return errors.New("airlock: airlock_land_secret must be another file than airlock_secret_path (an independent factor)")
	case c.AckWait <= 0 || c.RequestTimeout <= 0 || c.AuditWait <= 0:
		return errors.New("airlock: ack wait, request timeout and audit wait must be positive")
	case c.RelayBurst <= 0 || c.RelayPeriod < time.Duration(c.RelayBurst):
		return fmt.Errorf("airlock: relay rate limit %d per %s must allow at least one command", c.RelayBurst, c.RelayPeriod)
	}
	return c.machine().Validate()
}

func (c Config) machine() approval.Config {
	return approval.Config{Floor: c.Floor, Ceiling: c.Ceiling, Approvers: c.Approvers, CanonRef: c.CanonRef,
		FailureBudget: c.FailureBudget, FailurePeriod: c.FailurePeriod, LockFor: c.LockFor}
}

func (c Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Params are the airlock's dependencies.
type Params struct {
	fx.In
	Config    Config
	Logger    *slog.Logger
	Conn      *nats.Conn
	JS        jetstream.JetStream
	Lifecycle fx.Lifecycle
	Telemetry *telemetry.Telemetry `optional:"true"`
}

// Service is a running airlock: the approval state machine behind the airlock's commands
// (durable consumer airlock-commands) and queries (queue group <prefix>-airlock).
type Service struct {
	cfg    Config
	log    *slog.Logger
	nc     *nats.Conn
	js     jetstream.JetStream
	subj   bus.Subjects
	client *busclient.Client
	ledger *ledger
	audit  *auditLog
	m      *approval.Service
	// limiter is the per-client relay rate limit (ratelimit.go).
	limiter *relayLimiter

	// router and queries serve while this airlock holds the lease; the lease goroutine
	// (runLease) owns them after Start.
	router    *bus.Router
	queries   *bus.Registrar
	lease     *lease
	leaseStop chan struct{}
	leaseDone chan struct{}
	tel       *telemetry.Telemetry

	// afterApply, when set (tests only), runs after a command's effect and before its events,
	// reply and ack: the window a crash must not turn into a lost or doubled row.
	afterApply atomic.Pointer[func(verb string)]
}

// New assembles the airlock; its I/O happens in Start.
func New(p Params) (*Service, error) {
	if err := p.Config.Validate(); err != nil {
		return nil, err
	}
	subj, err := bus.NewSubjects(p.Config.BusPrefix)
	if err != nil {
		return nil, err
	}
	log := p.Logger.With(logkey.Svc, bus.Airlock)
	client := busclient.New(p.Conn, p.JS, subj, bus.Airlock, p.Config.RequestTimeout).WithTelemetry(p.Telemetry)
	l := &ledger{client: client}
	audit := &auditLog{client: client, await: p.Config.AuditWait}
	var landSecret approval.SecretSource
	if p.Config.LandSecretPath != "" {
		landSecret = totp.File{Path: p.Config.LandSecretPath}
	}
	m, err := approval.New(approval.Params{
		Config:     p.Config.machine(),
		Secret:     totp.File{Path: p.Config.SecretPath},
		LandSecret: landSecret,
		Ledger:     l,
		Audit:      audit,
		Candidates: &candidates{client: client},
		Logger:     log,
		Now:        p.Config.now,
	})
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: p.Config, log: log, nc: p.Conn, js: p.JS, subj: subj, client: client, ledger: l, audit: audit, m: m,
		limiter: newRelayLimiter(p.Config.RelayBurst, p.Config.RelayPeriod, p.Config.now), tel: p.Telemetry}
	p.Lifecycle.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop})
	return s, nil
}

// Start ensures the streams and takes the single-instance lease: holding it, the
// airlock serves the queries and consumes commands before Start returns; when another airlock
// holds it, this one starts as a standby that holds no consumer and takes over once the lease
// is free.
func (s *Service) Start(ctx context.Context) error {
	if err := s.checkSecretModes(); err != nil {
		return err
	}
	// AUDIT is the audit service's stream; the airlock ensures it too (same declaration) so
	// the intents it produces are kept even while no audit writer runs.
	for _, sc := range []jetstream.StreamConfig{s.subj.CommandsStreamConfig(), s.subj.EventsStreamConfig(s.cfg.EventsMaxAge),
		s.subj.AuditStreamConfig()} {
		if _, err := s.js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("airlock: ensure stream %s: %w", sc.Name, err)
		}
	}
	if err := s.client.Start(); err != nil {
		return err
	}
	ttl, holder := s.cfg.LeaseTTL, s.cfg.LeaseHolder
	if ttl <= 0 {
		ttl = DefaultLeaseTTL
	}
	if holder == "" {
		holder = defaultHolder()
	}
	l, err := openLease(ctx, s.js, s.subj.AirlockLeaseBucket(), holder, ttl)
	if err != nil {
		return err
	}
	s.lease = l
	held, current, err := l.acquire(ctx)
	if err != nil {
		return fmt.Errorf("airlock: lease: %w", err)
	}
	if held {
		if err := s.activate(ctx); err != nil {
			return err
		}
		s.log.Info("airlock started", "floor_s", s.cfg.Floor.Seconds(), "ceiling_s", s.cfg.Ceiling.Seconds(),
			"approver", s.m.Approver(), "holder", holder)
	} else {
		s.log.Warn("airlock standby: another airlock holds the lease", "holder", current)
	}
	s.leaseStop, s.leaseDone = make(chan struct{}), make(chan struct{})
	go s.runLease(held)
	return nil
}

// checkSecretModes refuses to start while a secret file that exists grants group or others
// access, naming the chmod that fixes it (O-totp-1); every Load checks again, so a file opened
// up later is refused too. A missing secret is fine here: the airlock answers "not provisioned".
func (s *Service) checkSecretModes() error {
	for _, p := range []string{s.cfg.SecretPath, s.cfg.LandSecretPath} {
		if p == "" {
			continue
		}
		if err := (totp.File{Path: p}).CheckMode(); err != nil && !errors.Is(err, totp.ErrNotProvisioned) {
			return fmt.Errorf("airlock: %w", err)
		}
	}
	return nil
}

// activate serves the queries and consumes commands, one at a time: MaxAckPending 1.
func (s *Service) activate(ctx context.Context) error {
	if err := s.startQueries(); err != nil {
		return err
	}
	// The query subscriptions must be known to the server before the airlock reports ready.
	if err := s.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("airlock: flush: %w", err)
	}
	// The handling may outlast the ack wait (a capstore land): the redelivery that follows
	// waits behind this one and is recognised as done.
	r, err := bus.NewRouter(s.subj, s.nc, s.js, s.log, s.tel, bus.RouterConfig{
		Service: bus.Airlock, Durable: "airlock-commands", Description: "the airlock's approval commands",
		AckWait: s.cfg.AckWait, Timeout: max(s.cfg.AckWait, s.cfg.RequestTimeout+s.cfg.AuditWait),
		MaxAckPending: 1, Backoff: s.cfg.Retry,
	}, s.commands())
	if err != nil {
		return err
	}
	if err := r.Start(ctx); err != nil {
		return err
	}
	s.router = r
	return nil
}

// deactivate stops consuming and serving (the command in hand finishes).
func (s *Service) deactivate(ctx context.Context) {
	if s.router != nil {
		s.router.Stop(ctx)
		s.router = nil
	}
	if s.queries != nil {
		s.queries.Stop(ctx)
		s.queries = nil
	}
}

// Stop stops the lease goroutine, drains the command consumer, stops serving queries and
// releases the lease, so a standby takes over at once.
func (s *Service) Stop(ctx context.Context) error {
	if s.leaseStop != nil {
		close(s.leaseStop)
		select {
		case <-s.leaseDone:
		case <-ctx.Done():
		}
	}
	s.deactivate(ctx)
	if s.lease != nil {
		if err := s.lease.release(ctx); err != nil {
			s.log.Warn("airlock lease not released; it lapses", logkey.Err, err)
		}
	}
	s.client.Stop()
	s.log.Info("airlock stopped")
	return nil
}
