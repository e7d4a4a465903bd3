package indexer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/logkey"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/telemetry"
	"github.com/stasima/stasima/services/indexer/internal/embed"
	"github.com/stasima/stasima/services/indexer/internal/ranking"
)

// Module provides the indexer service to an fx graph.
var Module = fx.Module("indexer",
	fx.Provide(New),
	fx.Invoke(func(*Service) {}),
)

// Durable consumer names.
const (
	EventsConsumer   = "indexer-events"
	CommandsConsumer = "indexer-commands"
)

// Config configures the indexer.
type Config struct {
	// DBPath is the SQLite map index (map_index.sqlite); created when absent.
	DBPath string
	// BusPrefix is the deployment prefix of subjects and streams.
	BusPrefix string
	// CanonRef is the deployment's canon ref; every other indexed ref is a perspective.
	CanonRef string
	// AckWait is the redelivery timeout of an event or command being applied.
	AckWait time.Duration
	// QueryConcurrency caps the requests one query handler has in progress; past it a request
	// is answered BackendUnavailable. 0 is bus.DefaultQueryConcurrency.
	QueryConcurrency int
	// RetryEvery is the delay before an event whose application failed (capstore or the
	// store unavailable) is redelivered.
	RetryEvery time.Duration
	// IndexDSN (index_dsn) selects the PostgreSQL index when it is a postgres:// URL;
	// otherwise the SQLite index at DBPath is used.
	IndexDSN string
	// SearchMode (search_mode) is "hybrid" (the default) or "embedding" (0.1.5's ranking).
	SearchMode string
	// ScoreFloor (search_score_floor) overrides the embedder's default floor when set (S-14).
	ScoreFloor *float64
	// EmbedBackend is "stub" (the default, S-21) or "local-server" (S-22), with the
	// server's URL, model, declared dimension and task prefixes.
	EmbedBackend, EmbedURL, EmbedModel string
	EmbedDim                           int
	EmbedDocPrefix, EmbedQueryPrefix   string
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{BusPrefix: bus.DefaultPrefix, CanonRef: refs.DefaultCanon,
		AckWait: 5 * time.Minute, RetryEvery: time.Second,
		SearchMode: ranking.ModeHybrid, EmbedBackend: EmbedStub}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.DBPath == "" && !postgresDSN(c.IndexDSN) {
		return errors.New("indexer: index_db (the SQLite map index path) is required")
	}
	switch c.SearchMode {
	case "", ranking.ModeHybrid, ranking.ModeEmbedding:
	default:
		return fmt.Errorf("indexer: search_mode %q is not hybrid or embedding", c.SearchMode)
	}
	if _, err := c.embedder(); err != nil {
		return err
	}
	if c.CanonRef == "" {
		return errors.New("indexer: canon_ref is required")
	}
	if c.AckWait <= 0 || c.RetryEvery <= 0 {
		return errors.New("indexer: ack wait and retry interval must be positive")
	}
	return nil
}

// Params are the indexer's dependencies.
type Params struct {
	fx.In
	Config    Config
	Logger    *slog.Logger
	Conn      *nats.Conn
	JS        jetstream.JetStream
	Lifecycle fx.Lifecycle
	Telemetry *telemetry.Telemetry `optional:"true"`
}

// Service is a running indexer.
type Service struct {
	cfg    Config
	log    *slog.Logger
	nc     *nats.Conn
	js     jetstream.JetStream
	subj   bus.Subjects
	client *busclient.Client
	emb    embed.Embedder
	tel    *telemetry.Telemetry

	store   Store
	queries *bus.Registrar
	router  *bus.Router
	evc     jetstream.ConsumeContext

	// writeMu serializes index writes: event application and full reindex.
	writeMu sync.Mutex

	// inbox carries delivered events, in delivery order, to the applier goroutine; quit stops
	// it and applied is closed when it has returned.
	inbox   chan jetstream.Msg
	quit    chan struct{}
	applied chan struct{}

	mark *watermark
}

// New assembles the indexer; its I/O happens in Start. Rows are embedded with the configured
// embedder (the S-21 stub by default).
func New(p Params) (*Service, error) {
	if err := p.Config.Validate(); err != nil {
		return nil, err
	}
	subj, err := bus.NewSubjects(p.Config.BusPrefix)
	if err != nil {
		return nil, err
	}
	emb, err := p.Config.embedder()
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg: p.Config, log: p.Logger.With(logkey.Svc, bus.Index), nc: p.Conn, js: p.JS, subj: subj,
		client:  busclient.New(p.Conn, p.JS, subj, bus.Index, 30*time.Second).WithTelemetry(p.Telemetry),
		emb:     emb,
		tel:     p.Telemetry,
		mark:    newWatermark(),
		inbox:   make(chan jetstream.Msg, eventBatch),
		quit:    make(chan struct{}),
		applied: make(chan struct{}),
	}
	p.Lifecycle.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop})
	return s, nil
}

// Start opens the index, ensures the streams and consumers, serves the queries and starts
// consuming events and commands.
func (s *Service) Start(ctx context.Context) error {
	st, where, err := s.cfg.openStore(ctx)
	if err != nil {
		return fmt.Errorf("indexer: open index: %w", err)
	}
	s.store = st
	if u, ok := st.(interface{ Upgraded() string }); ok && u.Upgraded() != "" {
		s.log.Info("index upgraded on open", "index", where, "upgrade", u.Upgraded())
	}
	for _, sc := range []jetstream.StreamConfig{s.subj.EventsStreamConfig(0), s.subj.CommandsStreamConfig()} {
		if _, err := s.js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("indexer: ensure stream %s: %w", sc.Name, err)
		}
	}
	eventsCfg := jetstream.ConsumerConfig{
		Durable:       EventsConsumer,
		Description:   "the map index: git events in stream order",
		FilterSubject: s.subj.Event("git.>"),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.AckWait,
		MaxDeliver:    -1, // an event is never dropped: the index would silently diverge
		// Up to a batch in flight: one applier applies them strictly in stream order and
		// retries a failed one in place, never NAKing, so nothing is redelivered out of order.
		MaxAckPending: eventBatch,
	}
	// A killed indexer leaves its in-flight events unacknowledged; the server would redeliver
	// them only after AckWait, behind later events. Recreating the durable at its ack floor
	// restarts delivery, in order, at exactly the first of them (one indexer per deployment,
	// ARCH-4); those already written are skipped by the version guard (S-32).
	if old, err := s.js.Consumer(ctx, s.subj.EventsStream(), EventsConsumer); err == nil {
		info, err := old.Info(ctx)
		if err != nil {
			return fmt.Errorf("indexer: event consumer: %w", err)
		}
		if err := s.js.DeleteConsumer(ctx, s.subj.EventsStream(), EventsConsumer); err != nil {
			return fmt.Errorf("indexer: reset event consumer: %w", err)
		}
		eventsCfg.DeliverPolicy, eventsCfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, info.AckFloor.Stream+1
	} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("indexer: event consumer: %w", err)
	}
	events, err := s.js.CreateOrUpdateConsumer(ctx, s.subj.EventsStream(), eventsCfg)
	if err != nil {
		return fmt.Errorf("indexer: ensure event consumer: %w", err)
	}
	// Everything the durable consumer acknowledged was applied by an earlier run.
	if info, err := events.Info(ctx); err == nil {
		s.mark.advance(info.AckFloor.Stream)
	}
	if err := s.client.Start(); err != nil {
		return err
	}
	if err := s.startQueries(); err != nil {
		return err
	}
	go s.applier()
	if s.evc, err = events.Consume(s.enqueue, jetstream.PullMaxMessages(eventBatch)); err != nil {
		return fmt.Errorf("indexer: consume events: %w", err)
	}
	s.router, err = bus.NewRouter(s.subj, s.nc, s.js, s.log, s.tel, bus.RouterConfig{
		Service: bus.Index, Durable: CommandsConsumer, AckWait: s.cfg.AckWait, MaxAckPending: 1,
	}, s.commands())
	if err != nil {
		return err
	}
	if err := s.router.Start(ctx); err != nil {
		return err
	}
	s.tel.WatchConsumer(s.js, s.subj.EventsStream(), EventsConsumer)
	if err := s.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("indexer: flush: %w", err)
	}
	s.log.Info("indexer started", "index", where, "search_mode", s.cfg.SearchMode, "model", s.emb.ModelID(), "watermark", s.mark.get())
	return nil
}

// Stop stops the applier (the batch being applied finishes; events delivered after it stay
// unacknowledged for the next run), drains the consumers, stops the queries and closes the
// index.
func (s *Service) Stop(ctx context.Context) error {
	close(s.quit)
	if s.evc != nil {
		select {
		case <-s.applied:
		case <-ctx.Done():
		}
	}
	if s.evc != nil {
		s.evc.Drain()
		select {
		case <-s.evc.Closed():
		case <-ctx.Done():
		}
	}
	if s.router != nil {
		s.router.Stop(ctx)
	}
	if s.queries != nil {
		s.queries.Stop(ctx)
	}
	s.client.Stop()
	// Take the write lock so no write outlives the store.
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.store != nil {
		_ = s.store.Close()
	}
	s.log.Info("indexer stopped")
	return nil
}

// watermark is the last applied EVENTS stream sequence with a broadcast on every advance.
type watermark struct {
	mu  sync.Mutex
	seq uint64
	ch  chan struct{} // closed and replaced when seq advances
}

func newWatermark() *watermark { return &watermark{ch: make(chan struct{})} }

func (w *watermark) advance(seq uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if seq > w.seq {
		w.seq = seq
		close(w.ch)
		w.ch = make(chan struct{})
	}
}

func (w *watermark) get() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seq
}

// wait returns once seq has been applied or ctx is done.
func (w *watermark) wait(ctx context.Context, seq uint64) (uint64, error) {
	for {
		w.mu.Lock()
		cur, ch := w.seq, w.ch
		w.mu.Unlock()
		if cur >= seq {
			return cur, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return cur, ctx.Err()
		}
	}
}
