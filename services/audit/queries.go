package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/audit/internal/chain"
)

// maxAwait caps one barrier wait.
const maxAwait = time.Minute

// startQueries serves stasima.audit.q.* in the audit queue group. Each request runs on a
// goroutine of its own, so a slow one (verify) or a waiting barrier never stalls the others.
func (s *Service) startQueries() error {
	tbl := bus.Queries{
		schema.QAuditEvents: bus.Query(s.events),
		schema.QAuditLatest: bus.Query(func(ctx context.Context, f schema.AuditFilter) (schema.AuditLatest, error) {
			cf := filter(f)
			r, ok, cached := s.cursorRow(cf)
			var err error
			if !cached {
				r, ok, err = s.store.Latest(ctx, cf)
			}
			if err != nil || !ok {
				return schema.AuditLatest{}, err
			}
			w := wireRow(r)
			if f.NoDetail {
				w.Detail = nil // null on the wire
			}
			return schema.AuditLatest{Row: &w}, nil
		}),
		schema.QAuditIsRead: bus.Query(func(ctx context.Context, q schema.IsReadQuery) (schema.IsReadAnswer, error) {
			read, err := s.store.IsRead(ctx, q.Actor, q.Path)
			return schema.IsReadAnswer{Read: read}, err
		}),
		schema.QAuditCount: func(ctx context.Context, _ bus.Request) (any, error) {
			n, err := s.store.Count(ctx)
			return map[string]int64{"count": n}, err
		},
		schema.QAuditHead: func(ctx context.Context, _ bus.Request) (any, error) { return s.head(ctx) },
		schema.QAuditHeadAt: bus.Query(func(ctx context.Context, q schema.HeadAtQuery) (map[string]string, error) {
			h, err := chain.HeadAtStore(ctx, s.store, q.Seq)
			return map[string]string{"head": h}, err
		}),
		schema.QAuditVerify:       func(ctx context.Context, _ bus.Request) (any, error) { return s.verify(ctx) },
		schema.QAuditPortBindings: func(ctx context.Context, _ bus.Request) (any, error) { return s.portBindings(ctx) },
		schema.QAuditSnapshot: bus.Query(func(ctx context.Context, q schema.SnapshotQuery) (any, error) {
			return s.Snapshot(ctx, q.File)
		}),
		schema.QAuditStatus: func(ctx context.Context, _ bus.Request) (any, error) {
			n, err := s.store.Count(ctx)
			if err != nil {
				return nil, err
			}
			v, err := s.verify(ctx)
			if err != nil {
				return nil, err
			}
			return schema.AuditStatus{Events: n, VerifyOK: v.OK, AuditVsAnchor: v.AuditVsAnchor}, nil
		},
		schema.QAuditAwait:      func(_ context.Context, r bus.Request) (any, error) { return s.await(r.Data) },
		schema.QAuditCheckpoint: func(ctx context.Context, _ bus.Request) (any, error) { return s.latestCheckpoint(ctx) },
		schema.QAuditProve:      bus.Query(s.Prove),
		schema.QAuditConsistency: bus.Query(func(ctx context.Context, q schema.TlogProveQuery) (schema.TlogProof, error) {
			if q.From == "" || q.Seq != 0 {
				return schema.TlogProof{}, fault.E("audit.consistency", fault.ArgumentError, "want an earlier checkpoint (from) and no seq")
			}
			return s.Prove(ctx, q)
		}),
	}
	r, err := bus.ServeQueries(s.nc, s.subj, s.log, s.m.tel, bus.QueriesConfig{Service: bus.Audit, Timeout: 5 * time.Minute, Concurrency: s.cfg.QueryConcurrency,
		Caps: map[string]int{schema.QAuditAwait: 4 * bus.DefaultQueryConcurrency}}, tbl)
	if err != nil {
		return fmt.Errorf("audit: queries: %w", err)
	}
	s.queries = r
	return nil
}

// pageBytes bounds the rows of one events page, well under NATS's default 1 MiB payload, so
// a page of large details still fits whatever the server's max_payload.
const pageBytes = 512 << 10

// events answers stasima.audit.q.events one page at a time (U-14): at most f.Limit rows
// (schema.AuditPageDefault when 0, clamped to schema.AuditPageMax), fewer when their bytes
// reach pageBytes, with Next set when more may follow. The store reads one row past the page
// to tell.
func (s *Service) events(ctx context.Context, f schema.AuditFilter) (schema.AuditRows, error) {
	const op = "audit.events"
	switch {
	case f.Limit < 0:
		return schema.AuditRows{}, fault.E(op, fault.ArgumentError, "limit %d is negative: give 1..%d, or 0 for %d",
			f.Limit, schema.AuditPageMax, schema.AuditPageDefault)
	case f.AfterSeq < 0 || f.BeforeSeq < 0:
		return schema.AuditRows{}, fault.E(op, fault.ArgumentError, "after_seq %d and before_seq %d must not be negative",
			f.AfterSeq, f.BeforeSeq)
	}
	if f.NoDetail {
		return schema.AuditRows{}, fault.E(op, fault.ArgumentError, "no_detail is latest's: events answers whole rows")
	}
	limit := f.Limit
	if limit == 0 {
		limit = schema.AuditPageDefault
	}
	limit = min(limit, schema.AuditPageMax)
	cf := filter(f)
	cf.Limit = limit + 1
	rows, err := s.store.Events(ctx, cf)
	if err != nil {
		return schema.AuditRows{}, err
	}
	out := schema.AuditRows{Rows: make([]schema.AuditRow, 0, min(len(rows), limit))}
	size := 0
	for i, r := range rows {
		if i == limit || (i > 0 && size >= pageBytes) {
			out.Next = rows[i-1].Seq
			break
		}
		size += rowBytes(r)
		out.Rows = append(out.Rows, wireRow(r))
	}
	return out, nil
}

// rowBytes estimates the wire size of r: its text fields plus the JSON keys around them.
func rowBytes(r chain.Event) int {
	n := 256 + len(r.Detail) + len(r.PrevHash) + len(r.Hash) + len(r.IntentID)
	for _, t := range []chain.Text{r.TS, r.Actor, r.Op, r.TargetRef, r.TargetPath, r.OpID, r.ResultOID, r.Outcome} {
		n += len(t.String)
	}
	return n
}

// await is U-6 / ARCH-6: it answers once every intent is appended, or at the timeout, or at
// once when the store is unavailable (the intents are queued; the caller proceeds).
func (s *Service) await(b []byte) (any, error) {
	var q schema.AwaitQuery
	if err := decode(b, &q); err != nil {
		return nil, err
	}
	timeout := time.Duration(q.TimeoutMS) * time.Millisecond
	if timeout <= 0 || timeout > maxAwait {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// Register before looking, so an append between the two is not missed.
	// A row appended lately is answered from memory; an intent in the writer's hands is waited
	// for without a store lookup (wake delivers it); any other id is looked up.
	chans := make([]chan chain.Event, len(q.IDs))
	out := schema.AwaitAnswer{Rows: make([]schema.AuditRow, len(q.IDs))}
	known := make([]bool, len(q.IDs))
	inHand := make([]bool, len(q.IDs))
	s.waitMu.Lock()
	for i, id := range q.IDs {
		chans[i] = make(chan chain.Event, 1)
		s.waiters[id] = append(s.waiters[id], chans[i])
		if r, ok := s.recent[id]; ok {
			out.Rows[i], known[i] = wireRow(r), true
		}
		inHand[i] = s.inHand[id]
	}
	degraded := s.degraded
	s.waitMu.Unlock()
	defer s.unregister(q.IDs, chans)

	for i, id := range q.IDs {
		if known[i] {
			continue
		}
		if !inHand[i] || degraded {
			if r, ok, err := s.store.ByIntent(ctx, id); err == nil && ok {
				out.Rows[i] = wireRow(r)
				continue
			}
		}
		if degraded {
			return nil, fault.E("audit.await", fault.BackendUnavailable,
				"audit store unavailable: intent %s is queued in the AUDIT stream and will be appended in order", id)
		}
		select {
		case r := <-chans[i]:
			out.Rows[i] = wireRow(r)
		case <-ctx.Done():
			return nil, fault.E("audit.await", fault.BackendUnavailable,
				"intent %s not appended within %s: the barrier wait did NOT complete", id, timeout)
		}
	}
	return out, nil
}

func (s *Service) unregister(ids []string, chans []chan chain.Event) {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	for i, id := range ids {
		ws := s.waiters[id]
		for j, ch := range ws {
			if ch == chans[i] {
				ws = append(ws[:j], ws[j+1:]...)
				break
			}
		}
		if len(ws) == 0 {
			delete(s.waiters, id)
		} else {
			s.waiters[id] = ws
		}
	}
}

// head is {seq: count(), head: head()} (U-13, U-11), read while no append runs.
func (s *Service) head(ctx context.Context) (schema.AuditHead, error) {
	s.appendMu.Lock()
	defer s.appendMu.Unlock()
	n, err := s.store.Count(ctx)
	if err != nil {
		return schema.AuditHead{}, err
	}
	t, err := s.store.Tail(ctx)
	if err != nil {
		return schema.AuditHead{}, err
	}
	return schema.AuditHead{Seq: n, Head: t.Hash}, nil
}

// verify is O-verify-1: the chain (U-10) and the anchor (U-52).
func (s *Service) verify(ctx context.Context) (schema.VerifyAnswer, error) {
	ok, bad, err := chain.VerifyStore(ctx, s.store)
	if err != nil {
		return schema.VerifyAnswer{}, err
	}
	out := schema.VerifyAnswer{OK: ok}
	if !ok {
		out.FirstBadSeq = &bad
	}
	vs, err := s.vsAnchor(ctx)
	if err != nil {
		return schema.VerifyAnswer{}, err
	}
	out.AuditVsAnchor = vs
	return out, nil
}

// vsAnchor is U-52: nil without an anchor, else head_at(anchor.seq) == anchor.head.
func (s *Service) vsAnchor(ctx context.Context) (*bool, error) {
	var a schema.AnchorResult
	if err := s.client.Query(ctx, bus.Capstore, schema.QAnchorHead, nil, &a); err != nil {
		return nil, err
	}
	if !a.Found {
		return nil, nil
	}
	h, err := chain.HeadAtStore(ctx, s.store, a.Seq)
	if err != nil {
		return nil, err
	}
	match := h == a.Head
	return &match, nil
}

func decode(b []byte, v any) error {
	if len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fault.Wrap("audit.query", fault.ArgumentError, err, "undecodable query")
	}
	return nil
}

func text(p *string) chain.Text {
	if p == nil {
		return chain.Text{}
	}
	return chain.Str(*p)
}

func filter(f schema.AuditFilter) chain.Filter {
	return chain.Filter{Op: text(f.Op), Actor: text(f.Actor), OpID: text(f.OpID), TargetRef: text(f.TargetRef), TargetPath: text(f.TargetPath),
		Window: f.Window, Purpose: text(f.Purpose), Object: text(f.Object),
		AfterSeq: f.AfterSeq, BeforeSeq: f.BeforeSeq, Limit: f.Limit, Desc: f.Desc}
}

func ptr(t chain.Text) *string {
	if !t.Valid {
		return nil
	}
	s := t.String
	return &s
}

func wireRow(e chain.Event) schema.AuditRow {
	d := e.Detail
	if len(d) == 0 {
		d = json.RawMessage("{}")
	}
	return schema.AuditRow{
		Seq: e.Seq, TS: ptr(e.TS), Actor: ptr(e.Actor), Op: ptr(e.Op), TargetRef: ptr(e.TargetRef),
		TargetPath: ptr(e.TargetPath), OpID: ptr(e.OpID), ResultOID: ptr(e.ResultOID), Outcome: ptr(e.Outcome),
		Detail: d, PrevHash: e.PrevHash, Hash: e.Hash, IntentID: e.IntentID,
	}
}

// portBindings is U-17: scan port_binding rows by seq; rows without detail.port are skipped;
// action clear sets {instance: null, ts}, anything else {instance: actor, ts}; latest wins.
func (s *Service) portBindings(ctx context.Context) (map[string]schema.PortBinding, error) {
	rows, err := s.store.Events(ctx, chain.Filter{Op: chain.Str("port_binding")})
	if err != nil {
		return nil, err
	}
	out := map[string]schema.PortBinding{}
	for _, r := range rows {
		var d struct {
			Port   any    `json:"port"`
			Action string `json:"action"`
		}
		if err := json.Unmarshal(r.Detail, &d); err != nil || d.Port == nil {
			continue
		}
		port := fmt.Sprint(d.Port)
		pb := schema.PortBinding{TS: r.TS.String}
		if d.Action != "clear" {
			pb.Instance = ptr(r.Actor)
		}
		out[port] = pb
	}
	return out, nil
}
