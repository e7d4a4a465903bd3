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
	"github.com/nats-io/nats.go/micro"
	"go.uber.org/fx"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/logkey"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/services/indexer/internal/embed"
	"github.com/stasima/stasima/services/indexer/internal/sqliteindex"
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
	// RetryEvery is the delay before an event whose application failed (capstore or the
	// store unavailable) is redelivered.
	RetryEvery time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{BusPrefix: bus.DefaultPrefix, CanonRef: refs.DefaultCanon,
		AckWait: 5 * time.Minute, RetryEvery: time.Second}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.DBPath == "" {
		return errors.New("indexer: index_db (the SQLite map index path) is required")
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

	store *sqliteindex.Store
	msvc  micro.Service
	evc   jetstream.ConsumeContext
	cmds  jetstream.ConsumeContext

	// writeMu serializes index writes: event application and full reindex.
	writeMu sync.Mutex

	mark *watermark
}

// New assembles the indexer; its I/O happens in Start. Rows are embedded with the S-21 stub.
func New(p Params) (*Service, error) {
	if err := p.Config.Validate(); err != nil {
		return nil, err
	}
	subj, err := bus.NewSubjects(p.Config.BusPrefix)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg: p.Config, log: p.Logger.With(logkey.Svc, bus.Index), nc: p.Conn, js: p.JS, subj: subj,
		client: busclient.New(p.Conn, p.JS, subj, bus.Index, 30*time.Second),
		emb:    embed.Stub{},
		mark:   newWatermark(),
	}
	p.Lifecycle.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop})
	return s, nil
}

// Start opens the index, ensures the streams and consumers, serves the queries and starts
// consuming events and commands.
func (s *Service) Start(ctx context.Context) error {
	st, err := sqliteindex.Open(ctx, s.cfg.DBPath)
	if err != nil {
		return fmt.Errorf("indexer: open index: %w", err)
	}
	s.store = st
	for _, sc := range []jetstream.StreamConfig{s.subj.EventsStreamConfig(0), s.subj.CommandsStreamConfig()} {
		if _, err := s.js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("indexer: ensure stream %s: %w", sc.Name, err)
		}
	}
	events, err := s.js.CreateOrUpdateConsumer(ctx, s.subj.EventsStream(), jetstream.ConsumerConfig{
		Durable:       EventsConsumer,
		Description:   "the map index: git events in stream order",
		FilterSubject: s.subj.Event("git.>"),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.AckWait,
		MaxDeliver:    -1, // an event is never dropped: the index would silently diverge
		MaxAckPending: 1,  // strictly in stream order, a retried event before the next
	})
	if err != nil {
		return fmt.Errorf("indexer: ensure event consumer: %w", err)
	}
	cmds, err := s.js.CreateOrUpdateConsumer(ctx, s.subj.CommandsStream(), jetstream.ConsumerConfig{
		Durable:       CommandsConsumer,
		FilterSubject: s.subj.Commands(bus.Index),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.AckWait,
		MaxDeliver:    5,
		MaxAckPending: 1,
	})
	if err != nil {
		return fmt.Errorf("indexer: ensure command consumer: %w", err)
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
	if s.evc, err = events.Consume(s.event, jetstream.PullMaxMessages(1)); err != nil {
		return fmt.Errorf("indexer: consume events: %w", err)
	}
	if s.cmds, err = cmds.Consume(s.command, jetstream.PullMaxMessages(1)); err != nil {
		return fmt.Errorf("indexer: consume commands: %w", err)
	}
	if err := s.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("indexer: flush: %w", err)
	}
	s.log.Info("indexer started", "index", s.cfg.DBPath, "watermark", s.mark.get())
	return nil
}

// Stop drains the consumers (the event being applied finishes), stops the queries and closes
// the index.
func (s *Service) Stop(ctx context.Context) error {
	for _, cc := range []jetstream.ConsumeContext{s.evc, s.cmds} {
		if cc == nil {
			continue
		}
		cc.Drain()
		select {
		case <-cc.Closed():
		case <-ctx.Done():
		}
	}
	if s.msvc != nil {
		_ = s.msvc.Stop()
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
