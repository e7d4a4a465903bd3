// Package capstore is Stasima's sole writer of git (ARCH-1). It consumes write commands from the
// COMMANDS stream (durable pull consumer capstore-commands), applies them to a bare repository
// through go-git with compare-and-swap and op_id idempotency, publishes git events, replies on
// the requester's inbox and only then acks (ARCH-12). Reads are core request/reply queries
// (stasima.capstore.q.*) in a queue group, so read capacity scales with instances.
package capstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/hexseq"
	"github.com/stasima/stasima/pkg/logkey"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/pkg/telemetry"
	"github.com/stasima/stasima/services/capstore/internal/app"
	"github.com/stasima/stasima/services/capstore/internal/gitstore"
)

// Module provides capstore to an fx graph.
var Module = fx.Module("capstore",
	fx.Provide(New),
	fx.Invoke(func(*Service) {}),
)

var _ app.Git = (*gitstore.Store)(nil)

// Config configures capstore.
type Config struct {
	GitDir         string
	CanonRef       string
	SeqOrigin      uint64
	CommitterName  string
	CommitterEmail string
	MaxBodyBytes   int
	BusPrefix      string
	EventsMaxAge   time.Duration
	// Workers is the number of command workers; commands for one ref always go to the same
	// worker (ARCH-9), different refs proceed in parallel.
	Workers int
	// AckWait is how long a delivered command may stay unacknowledged before redelivery.
	AckWait time.Duration
	// QueryConcurrency caps the requests one query handler has in progress; past it a request
	// is answered BackendUnavailable. 0 is bus.DefaultQueryConcurrency.
	QueryConcurrency int
	// Retry is the redelivery backoff of a command that could not be applied for now (git or
	// the bus unavailable); zero is bus.DefaultBackoff. Redelivery is unbounded.
	Retry bus.Backoff
	// Approvers may land (sorted; the first is the default approver, O-land-1).
	Approvers []string
}

// DefaultConfig returns the defaults of operations §8.
func DefaultConfig() Config {
	return Config{
		CanonRef:       refs.DefaultCanon,
		SeqOrigin:      hexseq.DefaultOrigin,
		CommitterName:  "capstore",
		CommitterEmail: "capstore@stasima.local",
		MaxBodyBytes:   1 << 20,
		BusPrefix:      bus.DefaultPrefix,
		EventsMaxAge:   30 * 24 * time.Hour,
		Workers:        64,
		AckWait:        30 * time.Second,
		Approvers:      []string{"practitioner"},
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.GitDir == "" {
		return errors.New("capstore: git_dir is required")
	}
	if !strings.HasPrefix(c.CanonRef, "refs/") {
		return fmt.Errorf("capstore: canon_ref %q must start with refs/", c.CanonRef)
	}
	if strings.HasPrefix(c.CanonRef, "refs/cap/") {
		return fmt.Errorf("capstore: canon_ref %q must not lie under refs/cap/", c.CanonRef)
	}
	if c.Workers < 1 {
		return fmt.Errorf("capstore: workers must be ≥ 1, got %d", c.Workers)
	}
	if c.AckWait <= 0 {
		return fmt.Errorf("capstore: ack wait must be positive")
	}
	return nil
}

// Params are capstore's dependencies.
type Params struct {
	fx.In
	Config    Config
	Logger    *slog.Logger
	Conn      *nats.Conn
	JS        jetstream.JetStream
	Lifecycle fx.Lifecycle
	Telemetry *telemetry.Telemetry `optional:"true"`
}

// Service is a running capstore.
type Service struct {
	cfg  Config
	log  *slog.Logger
	nc   *nats.Conn
	js   jetstream.JetStream
	subj bus.Subjects

	// client queries the audit service (the land's barrier and head).
	client *busclient.Client

	git     *gitstore.Store
	app     *app.App
	router  *bus.Router
	queries *bus.Registrar
	m       meters

	// afterApply, when set (tests only), runs after a command's effect and before its events,
	// reply and ack: the window a crash must not turn into a lost or doubled write.
	afterApply atomic.Pointer[func(verb string)]
	// beforeApply, when set (tests only), runs before a command's effect; an error it returns
	// is the command's, as if the repository had failed.
	beforeApply atomic.Pointer[func(verb string) error]
}

// New assembles capstore; the I/O happens in OnStart.
func New(p Params) (*Service, error) {
	if err := p.Config.Validate(); err != nil {
		return nil, err
	}
	subj, err := bus.NewSubjects(p.Config.BusPrefix)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: p.Config, log: p.Logger.With(logkey.Svc, bus.Capstore), nc: p.Conn, js: p.JS, subj: subj,
		client: busclient.New(p.Conn, p.JS, subj, bus.Capstore, 30*time.Second).WithTelemetry(p.Telemetry)}
	s.m.tel = p.Telemetry
	if err := s.m.register(); err != nil {
		return nil, err
	}
	p.Lifecycle.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop})
	return s, nil
}

// Start opens the repository, ensures streams and the consumer, and starts serving.
func (s *Service) Start(ctx context.Context) error {
	g, err := gitstore.Open(gitstore.Config{
		Dir: s.cfg.GitDir, CommitterName: s.cfg.CommitterName, CommitterEmail: s.cfg.CommitterEmail,
	})
	if err != nil {
		return fmt.Errorf("capstore: open repo: %w", err)
	}
	s.git = g
	s.app = app.New(g, app.Config{CanonRef: s.cfg.CanonRef, SeqOrigin: s.cfg.SeqOrigin, MaxBodyBytes: s.cfg.MaxBodyBytes,
		Approvers: s.cfg.Approvers, CommitterName: s.cfg.CommitterName}, s.log)

	// AUDIT is the audit service's stream; capstore ensures it too (same declaration) so the
	// intents it produces are kept even while no audit writer runs.
	for _, sc := range []jetstream.StreamConfig{s.subj.CommandsStreamConfig(), s.subj.EventsStreamConfig(s.cfg.EventsMaxAge), s.subj.AuditStreamConfig()} {
		if _, err := s.js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("capstore: ensure stream %s: %w", sc.Name, err)
		}
	}
	if err := s.startQueries(); err != nil {
		return err
	}
	// The query subscriptions must be known to the server before Start reports ready.
	if err := s.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("capstore: flush: %w", err)
	}
	// Commands for one seat go to one worker, in order; other seats proceed in parallel (ARCH-9).
	s.router, err = bus.NewRouter(s.subj, s.nc, s.js, s.log, s.m.tel, bus.RouterConfig{
		Service: bus.Capstore, Durable: commandsConsumer, Description: "capstore applies write commands",
		AckWait: s.cfg.AckWait, MaxAckPending: s.cfg.Workers * 64, PullMax: s.cfg.Workers * 32,
		Workers: s.cfg.Workers, Shard: seatKey, Backoff: s.cfg.Retry,
	}, s.commands())
	if err != nil {
		return err
	}
	if err := s.router.Start(ctx); err != nil {
		return err
	}
	s.m.started(s.app)
	s.log.Info("capstore started", "git_dir", s.cfg.GitDir, "canon_ref", s.cfg.CanonRef)
	return nil
}

// Stop drains the consumer, waits for the workers and closes the repository.
func (s *Service) Stop(ctx context.Context) error {
	if s.router != nil {
		s.router.Stop(ctx)
	}
	if s.queries != nil {
		s.queries.Stop(ctx)
	}
	if s.git != nil {
		_ = s.git.Close()
	}
	s.log.Info("capstore stopped")
	return nil
}

// seatKey is a command's shard key: its seat, so one seat's commands apply in order (ARCH-9).
func seatKey(env bus.Envelope) string { return seatOf(env) }

// handler turns one of capstore's commands into a router handler: effect, events and intents,
// then the reply (ARCH-12). A command that failed for now (git or the bus unavailable, or an
// unexpected error) is handed back for redelivery; the requester's retry finds the same op_id.
func (s *Service) handler(fn execFunc) bus.Handler {
	return func(ctx context.Context, cmd bus.Command) bus.Answer {
		var (
			result  any
			events  []event
			intents []schema.AuditIntent
			err     error
		)
		if hook := s.beforeApply.Load(); hook != nil {
			err = (*hook)(cmd.Verb)
		}
		if err == nil {
			result, events, intents, err = fn(ctx, cmd.Envelope, cmd.Redelivered())
		}
		if hook := s.afterApply.Load(); hook != nil {
			(*hook)(cmd.Verb)
		}
		if err != nil && (fault.ClassOf(err) == fault.BackendUnavailable || fault.ClassOf(err) == fault.Internal) {
			return bus.Retry(err)
		}
		// Git first, audit second (INV-18, U-23); intent ids derive from the command's envelope
		// id, so a redelivered command republishes the same ids and the writer keeps one row each
		// (ARCH-8). Events and intents go out together; the reply waits for all their acks.
		ids := make([]string, len(intents))
		for i := range intents {
			intents[i].ID = fmt.Sprintf("%s/%s/%d", cmd.Envelope.ID, intents[i].Op, i)
			ids[i] = intents[i].ID
		}
		eventSeq, perr := s.publishAll(ctx, events, intents)
		if perr != nil {
			return bus.Retry(fault.Wrap("capstore.publish", fault.BackendUnavailable, perr, "publish events and intents"))
		}
		return bus.Answer{Result: result, Err: err, Intents: ids, EventSeq: eventSeq}
	}
}

type event struct {
	id, typ, opID, session string
	data                   any
}

// execFunc applies one decoded command and returns its result and the events to publish.
// A replay publishes nothing, except on redelivery: then the effect may have been written by
// a delivery that died before publishing, so its events are republished under their
// deterministic ids and JetStream's de-duplication drops what already went out.
type execFunc func(ctx context.Context, env bus.Envelope, redelivered bool) (any, []event, []schema.AuditIntent, error)

// commands is capstore's command table (stasima.capstore.cmd.<verb>).
func (s *Service) commands() bus.Handlers {
	tbl := map[string]execFunc{
		schema.CmdKipCommit: func(ctx context.Context, env bus.Envelope, redelivered bool) (any, []event, []schema.AuditIntent, error) {
			var c schema.KipCommit
			if err := json.Unmarshal(env.Data, &c); err != nil {
				return nil, nil, nil, fault.Wrap("kip_commit", fault.ArgumentError, err, "undecodable kip_commit command")
			}
			res, ev, rows, err := s.app.KipCommit(ctx, c)
			if err != nil {
				return nil, nil, rows, err
			}
			var evs []event
			if ev != nil && (!res.Replayed || redelivered) {
				evs = append(evs, event{id: schema.EvtGitCommit + "/" + ev.OID, typ: schema.EvtGitCommit, opID: c.OpID, session: c.Session, data: ev})
			}
			return res, evs, rows, nil
		},
		schema.CmdImpSend: func(ctx context.Context, env bus.Envelope, redelivered bool) (any, []event, []schema.AuditIntent, error) {
			return perspectiveAct(ctx, env, schema.CmdImpSend, redelivered, s.app.ImpSend, func(r schema.ImpSendResult) bool { return r.Replayed })
		},
		schema.CmdVapRecord: func(ctx context.Context, env bus.Envelope, redelivered bool) (any, []event, []schema.AuditIntent, error) {
			return perspectiveAct(ctx, env, schema.CmdVapRecord, redelivered, s.app.VapRecord, func(r schema.VapRecordResult) bool { return r.Replayed })
		},
		schema.CmdBootstrap: func(ctx context.Context, env bus.Envelope, _ bool) (any, []event, []schema.AuditIntent, error) {
			var c schema.Bootstrap
			if err := json.Unmarshal(env.Data, &c); err != nil {
				return nil, nil, nil, fault.Wrap("bootstrap", fault.ArgumentError, err, "undecodable bootstrap command")
			}
			res, err := s.app.Bootstrap(ctx, c)
			if err != nil {
				return nil, nil, nil, err
			}
			ev := schema.GitBootstrapped{OID: res.Bootstrapped, Paths: res.Entries}
			return res, []event{{id: schema.EvtGitBootstrap + "/" + res.Bootstrapped, typ: schema.EvtGitBootstrap, opID: "bootstrap", data: ev}}, nil, nil
		},
		schema.CmdAnchor: func(ctx context.Context, env bus.Envelope, redelivered bool) (any, []event, []schema.AuditIntent, error) {
			var c schema.Anchor
			if err := json.Unmarshal(env.Data, &c); err != nil {
				return nil, nil, nil, fault.Wrap("anchor", fault.ArgumentError, err, "undecodable anchor command")
			}
			res, err := s.app.Anchor(ctx, c)
			if err != nil {
				return nil, nil, nil, err
			}
			var evs []event
			if !res.Replayed || redelivered {
				evs = append(evs, anchorEvent(res, c.Head))
			}
			return res, evs, nil, nil
		},
		schema.CmdCheckpoint: func(ctx context.Context, env bus.Envelope, _ bool) (any, []event, []schema.AuditIntent, error) {
			var c schema.CheckpointCommit
			if err := json.Unmarshal(env.Data, &c); err != nil {
				return nil, nil, nil, fault.Wrap("audit_checkpoint", fault.ArgumentError, err, "undecodable audit_checkpoint command")
			}
			// Like the anchor, a checkpoint writes no audit row and announces nothing (U-51).
			res, err := s.app.Checkpoint(ctx, c)
			return res, nil, nil, err
		},
		schema.CmdPrepareMerge: func(ctx context.Context, env bus.Envelope, _ bool) (any, []event, []schema.AuditIntent, error) {
			res, _, err := decodeApply(ctx, env, schema.CmdPrepareMerge, func(ctx context.Context, q schema.ProposalQuery) (schema.Prepared, []schema.AuditIntent, error) {
				r, err := s.app.PrepareMerge(ctx, q)
				return r, nil, err
			})
			return res, nil, nil, err
		},
		schema.CmdLand: func(ctx context.Context, env bus.Envelope, _ bool) (any, []event, []schema.AuditIntent, error) {
			res, err := s.land(ctx, env)
			return res, nil, nil, err
		},
		schema.CmdBackupPush: func(ctx context.Context, env bus.Envelope, _ bool) (any, []event, []schema.AuditIntent, error) {
			res, err := s.backupPush(ctx, env)
			return res, nil, nil, err
		},
		schema.CmdMirrorPush: func(ctx context.Context, env bus.Envelope, _ bool) (any, []event, []schema.AuditIntent, error) {
			res, err := s.mirrorPush(ctx, env)
			return res, nil, nil, err
		},
		schema.CmdPropose: func(_ context.Context, env bus.Envelope, _ bool) (any, []event, []schema.AuditIntent, error) {
			return lifecycle(env, schema.CmdPropose, s.app.Propose)
		},
		schema.CmdProposeRetract: func(_ context.Context, env bus.Envelope, _ bool) (any, []event, []schema.AuditIntent, error) {
			return lifecycle(env, schema.CmdProposeRetract, s.app.ProposeRetract)
		},
		schema.CmdProposeClose: func(_ context.Context, env bus.Envelope, _ bool) (any, []event, []schema.AuditIntent, error) {
			return lifecycle(env, schema.CmdProposeClose, s.app.ProposeClose)
		},
		schema.CmdSupReconcile: func(ctx context.Context, env bus.Envelope, _ bool) (any, []event, []schema.AuditIntent, error) {
			res, rows, err := decodeApply(ctx, env, schema.CmdSupReconcile, s.app.SupReconcile)
			if err != nil || res.Already {
				return res, nil, rows, err
			}
			// The reconcile report is an entry on the perspective: announce it like any commit.
			ev := schema.GitCommitted{Ref: refs.Perspective(seatOf(env)), OID: res.OID, OpID: "reconcile-" + res.CanonCursor[:12],
				Author: seatOf(env), Subject: "KIP " + res.Path, Paths: []string{res.Path}}
			return res, []event{{id: schema.EvtGitCommit + "/" + res.OID, typ: schema.EvtGitCommit, opID: ev.OpID, data: ev}}, rows, nil
		},
	}
	out := make(bus.Handlers, len(tbl))
	for verb, fn := range tbl {
		out[verb] = s.handler(fn)
	}
	return out
}

// perspectiveAct runs a one-file perspective write (imp_send, vap_record): its git.commit event
// goes out unless the write replayed (then only on redelivery, as for kip_commit).
func perspectiveAct[C, R any](ctx context.Context, env bus.Envelope, verb string, redelivered bool,
	fn func(context.Context, C) (R, *schema.GitCommitted, []schema.AuditIntent, error), replayed func(R) bool) (any, []event, []schema.AuditIntent, error) {
	var c C
	if err := json.Unmarshal(env.Data, &c); err != nil {
		return nil, nil, nil, fault.Wrap(verb, fault.ArgumentError, err, "undecodable %s command", verb)
	}
	res, ev, rows, err := fn(ctx, c)
	if err != nil {
		return nil, nil, rows, err
	}
	var evs []event
	if ev != nil && (!replayed(res) || redelivered) {
		var a schema.Actor
		_ = json.Unmarshal(env.Data, &a)
		evs = append(evs, event{id: schema.EvtGitCommit + "/" + ev.OID, typ: schema.EvtGitCommit, opID: ev.OpID, session: a.Session, data: ev})
	}
	return res, evs, rows, nil
}

// lifecycle runs a proposal command, which publishes no git event (proposals are never
// indexed) but writes audit rows.
func lifecycle[C, R any](env bus.Envelope, verb string, fn func(context.Context, C) (R, []schema.AuditIntent, error)) (any, []event, []schema.AuditIntent, error) {
	res, rows, err := decodeApply(context.Background(), env, verb, fn)
	if err != nil {
		return nil, nil, rows, err
	}
	return res, nil, rows, nil
}

func decodeApply[C, R any](ctx context.Context, env bus.Envelope, verb string, fn func(context.Context, C) (R, []schema.AuditIntent, error)) (R, []schema.AuditIntent, error) {
	var c C
	var zero R
	if err := json.Unmarshal(env.Data, &c); err != nil {
		return zero, nil, fault.Wrap(verb, fault.ArgumentError, err, "undecodable %s command", verb)
	}
	return fn(ctx, c)
}

func seatOf(env bus.Envelope) string {
	var a schema.Actor
	_ = json.Unmarshal(env.Data, &a)
	return a.Seat
}

// publishAll publishes a command's events and audit intents without waiting for each ack,
// then waits for all of them: every one is durable in its stream before the command replies.
//
// It returns the highest EVENTS sequence among the events (for the index barrier).
func (s *Service) publishAll(ctx context.Context, events []event, intents []schema.AuditIntent) (uint64, error) {
	futures := make([]jetstream.PubAckFuture, 0, len(events)+len(intents))
	for _, ev := range events {
		env, err := bus.NewEnvelope(ev.id, ev.typ, bus.Capstore, ev.session, ev.opID, time.Now(), ev.data)
		if err != nil {
			return 0, err
		}
		b, err := json.Marshal(env)
		if err != nil {
			return 0, err
		}
		f, err := s.js.PublishMsgAsync(telemetry.Msg(ctx, s.subj.Event(ev.typ), b), jetstream.WithMsgID(ev.id))
		if err != nil {
			return 0, err
		}
		futures = append(futures, f)
	}
	nEvents := len(futures)
	for _, in := range intents {
		env, err := bus.NewEnvelope(in.ID, "audit.intent", bus.Capstore, in.Session, "", time.Now(), in)
		if err != nil {
			return 0, err
		}
		b, err := json.Marshal(env)
		if err != nil {
			return 0, err
		}
		f, err := s.js.PublishMsgAsync(telemetry.Msg(ctx, s.subj.Intent(bus.UserCapstore, in.Op), b), jetstream.WithMsgID(in.ID))
		if err != nil {
			return 0, err
		}
		futures = append(futures, f)
	}
	var seq uint64
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			if i < nEvents && ack.Sequence > seq {
				seq = ack.Sequence
			}
		case err := <-f.Err():
			return 0, err
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return seq, nil
}
