// Package audit is the one writer of the hash-chained audit log (ARCH-2): it consumes the audit
// intents every service publishes on the AUDIT stream (durable pull consumer audit-writer),
// appends exactly one row per intent id in stream order — a single writer transaction per
// fetched batch — then publishes audit.appended and acks. It serves the audit queries
// (stasima.audit.q.*, including the ARCH-6 barrier await), anchors the head into git through
// capstore (U-50), reconciles from git (U-40) and restores snapshots (O-restore-2). The store is
// Postgres (pgx) when a DSN is configured, else SQLite (the single binary).
package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/logkey"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/telemetry"
	"github.com/stasima/stasima/services/audit/internal/chain"
	"github.com/stasima/stasima/services/audit/internal/pgstore"
	"github.com/stasima/stasima/services/audit/internal/sqlitestore"
)

// Module provides the audit service to an fx graph.
var Module = fx.Module("audit",
	fx.Provide(New),
	fx.Invoke(func(*Service) {}),
)

var (
	_ chain.Store = (*sqlitestore.Store)(nil)
	_ chain.Store = (*pgstore.Store)(nil)
)

// Config configures the audit service.
type Config struct {
	// DSN selects Postgres (postgres://…); empty means SQLite at DBPath.
	DSN    string
	DBPath string
	// BusPrefix is the deployment prefix of subjects and streams.
	BusPrefix string
	CanonRef  string
	// BatchSize bounds the intents appended in one writer transaction.
	BatchSize int
	// AckWait is the redelivery timeout of a fetched, unacknowledged intent.
	AckWait time.Duration
	// QueryConcurrency caps the requests one query handler has in progress; past it a request
	// is answered BackendUnavailable. 0 is bus.DefaultQueryConcurrency.
	QueryConcurrency int
	// RetryEvery is the pause between append attempts while the store is unavailable.
	RetryEvery time.Duration
	// LogKey is the file of the log's Ed25519 checkpoint key (generated on first start, mode
	// 0600, never in git); empty means no signed checkpoints. Origin is the checkpoints'
	// origin line and the key's name.
	LogKey string
	Origin string
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{BusPrefix: bus.DefaultPrefix, CanonRef: refs.DefaultCanon, BatchSize: 256,
		AckWait: 30 * time.Second, RetryEvery: time.Second, Origin: "stasima.local/audit"}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.DSN == "" && c.DBPath == "" {
		return errors.New("audit: audit_db (SQLite path) or audit_dsn (postgres://…) is required")
	}
	if c.DSN != "" && !strings.HasPrefix(c.DSN, "postgres://") && !strings.HasPrefix(c.DSN, "postgresql://") {
		return errors.New("audit: audit_dsn must be a postgres:// URL")
	}
	if c.BatchSize < 1 || c.AckWait <= 0 || c.RetryEvery <= 0 {
		return fmt.Errorf("audit: batch size, ack wait and retry interval must be positive")
	}
	return nil
}

// Params are the audit service's dependencies.
type Params struct {
	fx.In
	Config    Config
	Logger    *slog.Logger
	Conn      *nats.Conn
	JS        jetstream.JetStream
	Lifecycle fx.Lifecycle
	Telemetry *telemetry.Telemetry `optional:"true"`
}

// Service is a running audit service.
type Service struct {
	cfg    Config
	log    *slog.Logger
	nc     *nats.Conn
	js     jetstream.JetStream
	subj   bus.Subjects
	client *busclient.Client
	m      meters

	store chain.Store
	key   *logKey // nil without Config.LogKey
	// toGit carries the checkpoints of lands to publishCheckpoints; pubStop and pubDone stop it.
	toGit   chan string
	pubStop context.CancelFunc
	pubDone chan struct{}
	queries *bus.Registrar
	router  *bus.Router

	// appendMu serializes this process's appends with the anchor's read of {count, head}
	// ("at a point where it is not appending", U-50) and with reconcile's backfill.
	appendMu sync.Mutex

	// cursorMu guards cursors: the latest canon_pull row per actor, the canon cursor every
	// write reads (T-common-15, U-15). It is rebuilt from the log at start and kept by the
	// writer, so a write still learns its cursor while the store is unreachable.
	cursorMu sync.RWMutex
	cursors  map[string]chain.Event

	waitMu   sync.Mutex
	waiters  map[string][]chan chain.Event
	degraded bool // the last append attempt failed: awaits answer at once
	// inHand and recent spare a barrier wait its store lookup (ARCH-6): inHand holds the
	// intent ids the writer has decoded and not yet appended (their rows reach the waiters by
	// wake), recent the last appended rows by intent id (rows are immutable once appended,
	// U-5). An id in neither is looked up in the store, as before. Both under waitMu.
	inHand    map[string]bool
	recent    map[string]chain.Event
	recentIDs []string // ring of recent's keys, oldest at recentAt
	recentAt  int

	stop chan struct{}
	done chan struct{}

	// afterAppend, when set (tests only), runs after a batch is committed and before its
	// events and acks: the window a crash must not turn into a gap or a duplicate.
	afterAppend atomic.Pointer[func(n int)]
}

// New assembles the audit service; its I/O happens in Start.
func New(p Params) (*Service, error) {
	if err := p.Config.Validate(); err != nil {
		return nil, err
	}
	subj, err := bus.NewSubjects(p.Config.BusPrefix)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg: p.Config, log: p.Logger.With(logkey.Svc, bus.Audit), nc: p.Conn, js: p.JS, subj: subj,
		client:  busclient.New(p.Conn, p.JS, subj, bus.Audit, 30*time.Second).WithTelemetry(p.Telemetry),
		waiters: map[string][]chan chain.Event{}, inHand: map[string]bool{}, recent: map[string]chain.Event{},
	}
	s.m.tel = p.Telemetry
	if err := s.m.register(); err != nil {
		return nil, err
	}
	p.Lifecycle.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop})
	return s, nil
}

// openStore opens the configured backend (migrations applied at start).
func (s *Service) openStore(ctx context.Context) (chain.Store, error) {
	if s.cfg.DSN != "" {
		pc, err := pgxpool.ParseConfig(s.cfg.DSN)
		if err != nil {
			return nil, fmt.Errorf("audit: dsn: %w", err)
		}
		return pgstore.Open(ctx, pc)
	}
	return sqlitestore.Open(ctx, s.cfg.DBPath)
}

// Start opens the store, ensures the streams and consumers, and starts the writer.
func (s *Service) Start(ctx context.Context) error {
	st, err := s.openStore(ctx)
	if err != nil {
		return fmt.Errorf("audit: open store: %w", err)
	}
	s.store = st
	if err := s.loadCursors(ctx); err != nil {
		return err
	}
	if s.cfg.LogKey != "" {
		if s.key, err = loadLogKey(s.cfg.LogKey, s.cfg.Origin); err != nil {
			return err
		}
		// The first checkpoint covers the log as opened (a 0.1.5 log's existing rows included);
		// a persisted one that still matches the log is served as it is.
		if err := s.loadCheckpoint(ctx); err != nil {
			return fmt.Errorf("audit: first checkpoint: %w", err)
		}
	}
	for _, sc := range []jetstream.StreamConfig{s.subj.AuditStreamConfig(), s.subj.CommandsStreamConfig(), s.subj.EventsStreamConfig(0)} {
		if _, err := s.js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("audit: ensure stream %s: %w", sc.Name, err)
		}
	}
	// U-3 appends in AUDIT stream order. Within a run the writer never naks (it retries in
	// memory), so order holds; across a restart, intents a dead writer held unacknowledged
	// would come back only after AckWait, behind newer ones. Recreating the consumer at start
	// restarts delivery at the oldest unacknowledged intent — on a work-queue stream that is
	// exactly the intents not yet appended, in order. One writer per deployment (ARCH-2).
	if err := s.js.DeleteConsumer(ctx, s.subj.AuditStream(), "audit-writer"); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("audit: reset writer consumer: %w", err)
	}
	writer, err := s.js.CreateOrUpdateConsumer(ctx, s.subj.AuditStream(), jetstream.ConsumerConfig{
		Durable:       "audit-writer",
		Description:   "the one writer of audit_events",
		FilterSubject: s.subj.AllIntents(),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.AckWait,
		MaxDeliver:    -1, // an intent is never dropped
		MaxAckPending: s.cfg.BatchSize,
	})
	if err != nil {
		return fmt.Errorf("audit: ensure writer consumer: %w", err)
	}
	if err := s.client.Start(); err != nil {
		return err
	}
	if err := s.startQueries(); err != nil {
		return err
	}
	// One audit command at a time: each may hold the append lock for long (ARCH-2).
	s.router, err = bus.NewRouter(s.subj, s.nc, s.js, s.log, s.m.tel, bus.RouterConfig{
		Service: bus.Audit, Durable: commandsConsumer, AckWait: 5 * time.Minute, Timeout: 4 * time.Minute,
		MaxAckPending: 1,
	}, s.commands())
	if err != nil {
		return err
	}
	if err := s.router.Start(ctx); err != nil {
		return err
	}
	if err := s.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("audit: flush: %w", err)
	}
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	if s.key != nil {
		pctx, cancel := context.WithCancel(context.Background())
		s.toGit, s.pubStop, s.pubDone = make(chan string, 64), cancel, make(chan struct{})
		go s.publishCheckpoints(pctx, s.pubDone)
	}
	go s.write(writer)
	s.m.started(s.store, s.js, s.subj.AuditStream())
	s.log.Info("audit started", "backend", s.backend())
	return nil
}

func (s *Service) backend() string {
	if s.cfg.DSN != "" {
		return "postgres"
	}
	return "sqlite"
}

// pubDrain bounds how long a stop waits for the checkpoints still queued for git.
const pubDrain = 5 * time.Second

// Stop stops the writer after its current batch, drains the command consumer, closes the store.
func (s *Service) Stop(ctx context.Context) error {
	writerDone := s.stop == nil
	if s.stop != nil {
		close(s.stop)
		select {
		case <-s.done:
			writerDone = true
		case <-ctx.Done():
		}
	}
	if s.pubStop != nil {
		// Once the writer has stopped nothing more is queued: the publisher commits what is
		// left (a land just before a stop keeps its checkpoint commit), for a bounded time.
		if writerDone {
			close(s.toGit)
			t := time.NewTimer(pubDrain)
			select {
			case <-s.pubDone:
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		}
		s.pubStop()
		<-s.pubDone
	}
	if s.router != nil {
		s.router.Stop(ctx)
	}
	if s.queries != nil {
		s.queries.Stop(ctx)
	}
	s.client.Stop()
	s.m.stopped()
	if s.store != nil {
		_ = s.store.Close()
	}
	s.log.Info("audit stopped")
	return nil
}

const opCanonPull = "canon_pull"

// loadCursors rebuilds the cursor cache from the log.
func (s *Service) loadCursors(ctx context.Context) error {
	rows, err := s.store.Events(ctx, chain.Filter{Op: chain.Str(opCanonPull)})
	if err != nil {
		return fmt.Errorf("audit: load cursors: %w", err)
	}
	m := make(map[string]chain.Event, len(rows))
	for _, r := range rows {
		m[r.Actor.String] = r
	}
	s.cursorMu.Lock()
	s.cursors = m
	s.cursorMu.Unlock()
	return nil
}

// noteAppended keeps the cursor cache current.
func (s *Service) noteAppended(rows []chain.Event) {
	s.cursorMu.Lock()
	defer s.cursorMu.Unlock()
	for _, r := range rows {
		if r.Op.Valid && r.Op.String == opCanonPull && r.Actor.Valid {
			if cur, ok := s.cursors[r.Actor.String]; !ok || r.Seq > cur.Seq {
				s.cursors[r.Actor.String] = r
			}
		}
	}
}

// cursorRow answers latest(op=canon_pull, actor) from the cache; ok=false when the filter is
// not exactly that shape.
func (s *Service) cursorRow(f chain.Filter) (chain.Event, bool, bool) {
	if !f.Op.Valid || f.Op.String != opCanonPull || !f.Actor.Valid || f.OpID.Valid || f.TargetRef.Valid || f.TargetPath.Valid ||
		f.HasDetailKeys() || f.AfterSeq != 0 || f.BeforeSeq != 0 {
		return chain.Event{}, false, false
	}
	s.cursorMu.RLock()
	defer s.cursorMu.RUnlock()
	r, found := s.cursors[f.Actor.String]
	return r, found, true
}
