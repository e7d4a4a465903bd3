package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/logkey"
	"github.com/stasima/stasima/pkg/telemetry"
)

// Request is one query in a handler's hands: its name (a key of the service's table), its
// body and headers.
type Request struct {
	Name   string
	Data   []byte
	Header nats.Header
}

// QueryHandler answers one query: a result to encode, or an error (an Internal one is logged
// and answered with its detail withheld, see QueryReply).
type QueryHandler func(ctx context.Context, req Request) (any, error)

// Query adapts a handler of one request payload Q: the kit decodes a non-empty body into Q
// (ArgumentError when it cannot); an empty body is Q's zero value.
func Query[Q, R any](fn func(ctx context.Context, q Q) (R, error)) QueryHandler {
	return func(ctx context.Context, req Request) (any, error) {
		var q Q
		if len(req.Data) > 0 {
			if err := json.Unmarshal(req.Data, &q); err != nil {
				return nil, fault.Wrap(req.Name, fault.ArgumentError, err, "undecodable %s query", req.Name)
			}
		}
		return fn(ctx, q)
	}
}

// Queries is a service's query table: name → handler, each on the exact subject
// <prefix>.<svc>.q.<name> unless QueriesConfig.Subjects names another.
type Queries map[string]QueryHandler

// DefaultQueryConcurrency is the default cap of one query handler's requests in progress.
const DefaultQueryConcurrency = 64

// QueriesConfig declares one service's query endpoints.
type QueriesConfig struct {
	// Service is the second subject token; the endpoints share its queue group.
	Service string
	// Timeout bounds one handler call's context (default one minute).
	Timeout time.Duration
	// Inline answers each endpoint's requests one at a time on its subscription goroutine;
	// otherwise each request runs on a goroutine of its own, so a slow one never stalls the
	// others.
	Inline bool
	// Concurrency caps the requests one handler has in progress (waiting, for Inline); past
	// it a request is answered BackendUnavailable at once. 0 means DefaultQueryConcurrency.
	Concurrency int
	// Caps overrides Concurrency per query name (a barrier await holds its request long).
	Caps map[string]int
	// Subjects overrides the subject of a query name (the gateway's console grant is a
	// request/reply on a command subject).
	Subjects map[string]string
}

// Registrar serves a service's query table: exact subjects in the service's queue group,
// telemetry (stasima_queries_total), a recover that answers a panic Internal and counts it in
// stasima_handler_panics_total{service,handler}, and a concurrency cap per handler answering
// BackendUnavailable when saturated. Replies go only to _INBOX. subjects.
type Registrar struct {
	cfg  QueriesConfig
	log  *slog.Logger
	tel  *telemetry.Telemetry
	subs []*nats.Subscription
	wg   sync.WaitGroup
}

// ServeQueries subscribes every query of tbl; the subscriptions are known to the server once
// nc is flushed.
func ServeQueries(nc *nats.Conn, subj Subjects, log *slog.Logger, tel *telemetry.Telemetry, cfg QueriesConfig, tbl Queries) (*Registrar, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultQueryConcurrency
	}
	r := &Registrar{cfg: cfg, log: log, tel: tel}
	for name, h := range tbl {
		if name == "" || strings.ContainsAny(name, ".*> \t\r\n") {
			r.Stop(context.Background())
			return nil, fault.E("bus.queries", fault.ArgumentError, "query name %q of %s is not one subject token", name, cfg.Service)
		}
		subject := subj.Query(cfg.Service, name)
		if s, ok := cfg.Subjects[name]; ok {
			subject = s
		}
		limit := cfg.Concurrency
		if c, ok := cfg.Caps[name]; ok && c > 0 {
			limit = c
		}
		e := &endpoint{r: r, name: name, h: h, sem: make(chan struct{}, limit)}
		sub, err := nc.QueueSubscribe(subject, subj.QueueGroup(cfg.Service), e.serve)
		if err != nil {
			r.Stop(context.Background())
			return nil, fmt.Errorf("%s: subscribe %s: %w", cfg.Service, subject, err)
		}
		e.sub = sub
		r.subs = append(r.subs, sub)
	}
	return r, nil
}

// Stop drains the subscriptions (requests in hand are answered) and waits for the requests in
// progress, or for ctx.
func (r *Registrar) Stop(ctx context.Context) {
	var closed []<-chan nats.SubStatus
	for _, s := range r.subs {
		closed = append(closed, s.StatusChanged(nats.SubscriptionClosed))
		_ = s.Drain()
	}
	for i, ch := range closed {
		if !r.subs[i].IsValid() {
			continue
		}
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

type endpoint struct {
	r    *Registrar
	name string
	h    QueryHandler
	sem  chan struct{}
	sub  *nats.Subscription
}

func (e *endpoint) serve(m *nats.Msg) {
	if !IsInbox(m.Reply) {
		// A core request with no inbox, or one naming another subject: never answered, so
		// a request cannot make the service publish where the requester chooses.
		e.r.log.Warn("query without inbox ignored", logkey.Subject, m.Subject, "reply", m.Reply)
		return
	}
	if e.r.cfg.Inline {
		if n, _, err := e.sub.Pending(); err == nil && n >= cap(e.sem) {
			e.saturated(m)
			return
		}
		e.run(m)
		return
	}
	select {
	case e.sem <- struct{}{}:
	default:
		e.saturated(m)
		return
	}
	e.r.wg.Add(1)
	go func() {
		defer e.r.wg.Done()
		defer func() { <-e.sem }()
		e.run(m)
	}()
}

// saturated answers BackendUnavailable without running the handler.
func (e *endpoint) saturated(m *nats.Msg) {
	err := fault.E(e.r.cfg.Service+"."+e.name, fault.BackendUnavailable,
		"%s.%s has %d requests in progress (its cap): try again shortly", e.r.cfg.Service, e.name, cap(e.sem))
	_, done := e.r.tel.Query(e.r.cfg.Service, e.name, m.Header)
	done(err)
	_ = m.Respond(ErrReply(err))
}

// run answers one request, recovering a panic into an Internal answer.
func (e *endpoint) run(m *nats.Msg) {
	tctx, done := e.r.tel.Query(e.r.cfg.Service, e.name, m.Header)
	ctx, cancel := context.WithTimeout(tctx, e.r.cfg.Timeout)
	defer cancel()
	res, panicked, err := e.call(ctx, Request{Name: e.name, Data: m.Data, Header: m.Header})
	done(err)
	body := ErrReply(err) // a panic is logged already
	if !panicked {
		body = QueryReply(e.r.log, e.name, res, err)
	}
	if rerr := m.Respond(body); rerr != nil {
		e.r.log.Warn("query reply failed", "query", e.name, logkey.Err, rerr)
	}
}

func (e *endpoint) call(ctx context.Context, req Request) (res any, panicked bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			res, panicked, err = nil, true, recovered(e.r.log, e.r.tel, e.r.cfg.Service, e.name, v)
		}
	}()
	res, err = e.h(ctx, req)
	return res, false, err
}
