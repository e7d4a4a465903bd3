package airlock_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/airlock/internal/approval"
	"github.com/stasima/stasima/services/airlock/internal/memlog"
)

// The parts of capstore and audit the airlock talks to, as small responders on the real bus.
// Services never import each other, so these stand in for them: they read the real streams
// through consumers of their own and answer on the real subjects.

// auditFake is the audit service's writer and its two queries the airlock uses (events,
// await), over internal/memlog. It appends one row per intent id (U-5), so a republished
// intent is acked without a new row, as the real writer does.
type auditFake struct {
	log *memlog.Log

	mu      sync.Mutex
	bySeq   map[int64]string // seq → intent id
	byID    map[string]int64 // intent id → seq
	changed chan struct{}    // closed and replaced on every append
	maxRead map[string]int   // op → most rows one events answer carried
}

func (a *auditFake) noteRead(op string, n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.maxRead[op] = max(a.maxRead[op], n)
}

// mostRead returns the most rows of op one events answer carried.
func (a *auditFake) mostRead(op string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.maxRead[op]
}

func startAudit(t *testing.T, nc *nats.Conn, js jetstream.JetStream, subj bus.Subjects) *auditFake {
	t.Helper()
	ctx := t.Context()
	a := &auditFake{log: memlog.New(), bySeq: map[int64]string{}, byID: map[string]int64{}, changed: make(chan struct{}),
		maxRead: map[string]int{}}
	if _, err := js.CreateOrUpdateStream(ctx, subj.AuditStreamConfig()); err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, subj.AuditStream(), jetstream.ConsumerConfig{
		Durable: "audit-writer", FilterSubject: subj.AllIntents(), AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		env, err := bus.DecodeEnvelope(m.Data())
		var in schema.AuditIntent
		if err == nil {
			err = json.Unmarshal(env.Data, &in)
		}
		if err != nil {
			t.Errorf("audit fake: undecodable intent: %v", err)
			_ = m.Term()
			return
		}
		a.append(in)
		_ = m.Ack()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	respond(t, nc, subj.Query(bus.Audit, schema.QAuditEvents), func(b []byte) (any, error) {
		var f schema.AuditFilter
		if err := json.Unmarshal(b, &f); err != nil || f.Op == nil {
			return nil, fault.E("audit.events", fault.ArgumentError, "the fake answers op filters only")
		}
		q := approval.Query{Op: *f.Op, Window: f.Window, AfterSeq: f.AfterSeq, Limit: f.Limit, Desc: f.Desc}
		if f.Purpose != nil {
			q.Purpose = *f.Purpose
		}
		if f.Object != nil {
			q.Object = *f.Object
		}
		rows, err := a.log.Find(context.Background(), q)
		if err != nil {
			return nil, err
		}
		a.noteRead(q.Op, len(rows))
		out := schema.AuditRows{Rows: []schema.AuditRow{}}
		for _, r := range rows {
			out.Rows = append(out.Rows, a.wire(r))
		}
		return out, nil
	})
	respond(t, nc, subj.Query(bus.Audit, schema.QAuditAwait), func(b []byte) (any, error) {
		var q schema.AwaitQuery
		if err := json.Unmarshal(b, &q); err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(q.TimeoutMS)*time.Millisecond)
		defer cancel()
		out := schema.AwaitAnswer{}
		for _, id := range q.IDs {
			seq, err := a.wait(ctx, id)
			if err != nil {
				return nil, fault.E("audit.await", fault.BackendUnavailable, "intent %s not appended", id)
			}
			out.Rows = append(out.Rows, schema.AuditRow{Seq: seq, IntentID: id})
		}
		return out, nil
	})
	return a
}

func (a *auditFake) append(in schema.AuditIntent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.byID[in.ID]; ok {
		return // U-5
	}
	seq, err := a.log.Append(context.Background(), approval.Record{Actor: in.Actor, Op: in.Op, TargetRef: str(in.TargetRef),
		ResultOID: str(in.ResultOID), Detail: in.Detail})
	if err != nil {
		panic(err)
	}
	a.byID[in.ID], a.bySeq[seq] = seq, in.ID
	close(a.changed)
	a.changed = make(chan struct{})
}

func (a *auditFake) wait(ctx context.Context, id string) (int64, error) {
	for {
		a.mu.Lock()
		seq, ok := a.byID[id]
		ch := a.changed
		a.mu.Unlock()
		if ok {
			return seq, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

func (a *auditFake) wire(r approval.Row) schema.AuditRow {
	a.mu.Lock()
	id := a.bySeq[r.Seq]
	a.mu.Unlock()
	ok := "ok"
	return schema.AuditRow{Seq: r.Seq, Actor: schema.S(r.Actor), Op: schema.S(r.Op), TargetRef: schema.S(r.TargetRef),
		ResultOID: schema.S(r.ResultOID), Outcome: &ok, Detail: r.Detail, IntentID: id}
}

// rows renders every row of op as "actor op ref=… oid=… detail".
func (a *auditFake) rows(op string) []string {
	var out []string
	for _, r := range a.log.All() {
		if op == "" || r.Op == op {
			out = append(out, r.Actor+" "+r.Op+" ref="+r.TargetRef+" oid="+r.ResultOID+" "+string(r.Detail))
		}
	}
	return out
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// capstoreFake answers stasima.capstore.cmd.prepare_merge and .land from the COMMANDS stream
// (its own durable consumer, reply on the Stasima-Reply inbox, then ack). Land binds the given
// candidate exactly and writes land_merge through the AUDIT stream, awaited, as capstore does.
type capstoreFake struct {
	nc    *nats.Conn
	js    jetstream.JetStream
	subj  bus.Subjects
	audit *auditFake

	mu      sync.Mutex
	props   map[string][]string // proposal id → changed paths (unsorted on purpose)
	landed  map[string]schema.LandResult
	lands   []schema.Land
	prepare int
	swapped map[string]bool // proposals changed since staging: their staged candidate no longer binds
}

// swap changes proposal pid behind the airlock's back (a console write, or git directly):
// from now on its merge is another commit, so capstore's land refuses the staged candidate
// as not binding, exactly as capstore's land.bind gate does.
func (c *capstoreFake) swap(pid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.swapped[pid] = true
}

func startCapstore(t *testing.T, nc *nats.Conn, js jetstream.JetStream, subj bus.Subjects, audit *auditFake) *capstoreFake {
	t.Helper()
	ctx := t.Context()
	c := &capstoreFake{nc: nc, js: js, subj: subj, audit: audit, props: map[string][]string{}, landed: map[string]schema.LandResult{},
		swapped: map[string]bool{}}
	for _, pid := range []string{"p1", "p2", "p3"} {
		c.props[pid] = []string{"practice/b.md", "meta/log/3c.md", "practice/a.md"}
	}
	if _, err := js.CreateOrUpdateStream(ctx, subj.CommandsStreamConfig()); err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, subj.CommandsStream(), jetstream.ConsumerConfig{
		Durable: "capstore-commands", FilterSubject: subj.Commands(bus.Capstore), AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		res, err := c.handle(m)
		var body []byte
		if err != nil {
			body = bus.ErrReply(err)
		} else if body, err = bus.OKReply(res); err != nil {
			body = bus.ErrReply(err)
		}
		_ = nc.Publish(m.Headers().Get(bus.HeaderReply), body)
		_ = m.Ack()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return c
}

// candidateOf is the deterministic candidate oid the fake prepares for a proposal.
func candidateOf(pid string) string { return oid("candidate " + pid) }

func oid(s string) string {
	h := sha1.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

func (c *capstoreFake) handle(m jetstream.Msg) (any, error) {
	env, err := bus.DecodeEnvelope(m.Data())
	if err != nil {
		return nil, err
	}
	verb := m.Subject()[strings.LastIndexByte(m.Subject(), '.')+1:]
	switch verb {
	case schema.CmdPrepareMerge:
		var q schema.ProposalQuery
		if err := json.Unmarshal(env.Data, &q); err != nil {
			return nil, err
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.prepare++
		paths, ok := c.props[q.ProposalID]
		if !ok {
			return nil, fault.E("prepare_merge", fault.RefNotFound, "ref not found: %s", refs.Proposal(q.ProposalID))
		}
		if _, done := c.landed[q.ProposalID]; done {
			return nil, fault.E("land.validate", fault.ValidationError, "exactly one log entry required, found 0")
		}
		return schema.Prepared{Candidate: candidateOf(q.ProposalID), Into: refs.DefaultCanon, ProposalRef: refs.Proposal(q.ProposalID),
			CanonTip: oid("canon"), Seq: "3c", ChangedPaths: slices.Clone(paths)}, nil
	case schema.CmdLand:
		var l schema.Land
		if err := json.Unmarshal(env.Data, &l); err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.lands = append(c.lands, l)
		if res, ok := c.landed[l.ProposalID]; ok { // O-land-10: a repeated land resumes
			c.mu.Unlock()
			return res, nil
		}
		current := candidateOf(l.ProposalID)
		if c.swapped[l.ProposalID] {
			current = candidateOf(l.ProposalID + " swapped")
		}
		c.mu.Unlock()
		if l.Candidate != current {
			return nil, fault.E("land.bind", fault.MergeNotApproved, "approval binds %s, not the prepared candidate", l.Candidate)
		}
		merge := oid("merge of " + l.Candidate)
		in := schema.AuditIntent{ID: "land/" + merge + "/0", Actor: l.ApprovedBy, Op: "land_merge", TargetRef: schema.S(refs.DefaultCanon),
			OpID: schema.S("land-" + merge[:12]), ResultOID: schema.S(merge), Outcome: "ok",
			Detail: schema.Detail("proposal", refs.Proposal(l.ProposalID), "seq", "3c", "evidence", l.Evidence)}
		b, _ := json.Marshal(mustEnvelope(in.ID, in))
		if _, err := c.js.Publish(context.Background(), c.subj.Intent(bus.UserCapstore, in.Op), b, jetstream.WithMsgID(in.ID)); err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		seq, err := c.audit.wait(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		res := schema.LandResult{Landed: merge, Seq: "3c", Display: "::3C", Anchor: schema.AuditHead{Seq: seq, Head: strings.Repeat("ab", 32)}}
		c.mu.Lock()
		c.landed[l.ProposalID] = res
		c.mu.Unlock()
		return res, nil
	}
	return nil, fault.E("capstore.cmd", fault.ArgumentError, "the fake does not answer %s", verb)
}

func mustEnvelope(id string, data any) bus.Envelope {
	env, err := bus.NewEnvelope(id, "audit.intent", bus.Capstore, "", "", time.Now(), data)
	if err != nil {
		panic(err)
	}
	return env
}

// respond serves a core request/reply subject, each request in its own goroutine (await
// blocks).
func respond(t *testing.T, nc *nats.Conn, subject string, fn func([]byte) (any, error)) {
	t.Helper()
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		go func() {
			res, err := fn(m.Data)
			var body []byte
			if err != nil {
				body = bus.ErrReply(err)
			} else if body, err = bus.OKReply(res); err != nil {
				body = bus.ErrReply(err)
			}
			_ = m.Respond(body)
		}()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
}
