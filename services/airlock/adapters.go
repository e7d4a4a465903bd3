package airlock

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/airlock/internal/approval"
)

// The approval ports over the bus. The state machine serializes every call, so the
// adapters hold no lock of their own beyond what their maps need.

var (
	_ approval.Ledger     = (*ledger)(nil)
	_ approval.Audit      = (*auditLog)(nil)
	_ approval.Candidates = (*candidates)(nil)
)

// call is one command or query being handled. It names the audit intents the handling
// produces, "<id>/<op>/<n>" with n counting the rows of the call from 0, and remembers the rows
// they became, so the events that report them take ids derived from theirs. For a command id is
// the envelope id, which a redelivery repeats: the same decisions append under the same intent
// ids and the audit writer keeps one row each (ARCH-8, U-5). A query has no envelope and takes
// a fresh "q/<ulid>".
type call struct {
	id      string
	session string

	mu   sync.Mutex
	rows []appended
}

// appended is one row a call appended.
type appended struct {
	op, intentID string
	seq          int64
	checked      bool // the row means a code was looked at (checksCode)
}

type callKey struct{}

func withCall(ctx context.Context, c *call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

func callOf(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}

func newQueryCall() *call { return &call{id: "q/" + strings.ToLower(ulid.Make().String())} }

// nextIntentID reserves the id of the call's next row.
func (c *call) nextIntentID(op string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("%s/%s/%d", c.id, op, len(c.rows))
}

func (c *call) note(op, id string, seq int64, checked bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rows = append(c.rows, appended{op: op, intentID: id, seq: seq, checked: checked})
}

// checkedCode reports whether the call looked at a code (its rows say so).
func (c *call) checkedCode() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.rows {
		if r.checked {
			return true
		}
	}
	return false
}

// allIntentIDs returns the ids of every row of the call, in append order.
func (c *call) allIntentIDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.rows))
	for i, r := range c.rows {
		out[i] = r.intentID
	}
	return out
}

// intentIDs returns the ids of the rows of op, in append order.
func (c *call) intentIDs(op string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, r := range c.rows {
		if r.op == op {
			out = append(out, r.intentID)
		}
	}
	return out
}

// ledger is approval.Ledger over stasima.audit.q.events.
type ledger struct {
	client *busclient.Client
}

// Rows asks the audit service for every row of op, in seq order.
func (l *ledger) Rows(ctx context.Context, op string) ([]approval.Row, error) {
	rows, err := l.raw(ctx, op)
	if err != nil {
		return nil, err
	}
	return rowsOf(rows), nil
}

// raw returns the rows of op as the audit service sends them, intent ids included.
func (l *ledger) raw(ctx context.Context, op string) ([]schema.AuditRow, error) {
	return busclient.AuditEvents(ctx, l.client, schema.AuditFilter{Op: &op}, 0)
}

// Find asks the audit service for the rows q selects: one page of at most q.Limit rows
// (schema.AuditPageMax when q.Limit is 0 or more), read through the audit store's detail-key
// index.
func (l *ledger) Find(ctx context.Context, q approval.Query) ([]approval.Row, error) {
	f := schema.AuditFilter{Op: &q.Op, Window: q.Window, AfterSeq: q.AfterSeq, Desc: q.Desc,
		Limit: min(max(q.Limit, 0), schema.AuditPageMax)}
	if f.Limit == 0 {
		f.Limit = schema.AuditPageMax
	}
	if q.Purpose != "" {
		f.Purpose = &q.Purpose
	}
	if q.Object != "" {
		f.Object = &q.Object
	}
	var ans schema.AuditRows
	if err := l.client.Query(ctx, bus.Audit, schema.QAuditEvents, f, &ans); err != nil {
		return nil, err
	}
	return rowsOf(ans.Rows), nil
}

func rowsOf(rows []schema.AuditRow) []approval.Row {
	out := make([]approval.Row, 0, len(rows))
	for _, r := range rows {
		out = append(out, approval.Row{Seq: r.Seq, Op: deref(r.Op), Actor: deref(r.Actor),
			TargetRef: deref(r.TargetRef), ResultOID: deref(r.ResultOID), Detail: r.Detail})
	}
	return out
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// auditLog is approval.Audit over the AUDIT stream and the audit barrier.
type auditLog struct {
	client *busclient.Client
	await  time.Duration
}

// Append publishes r as an intent named after the call in ctx and waits until the audit
// service has appended it (ARCH-6). The wait is strict: consume-once needs the row visible to
// the next read, so a barrier that passes without the row is an error here
// (BackendUnavailable), where busclient.Client.Await would only log it.
func (a *auditLog) Append(ctx context.Context, r approval.Record) (int64, error) {
	const op = "airlock.audit"
	c := callOf(ctx)
	if c == nil {
		return 0, fault.E(op, fault.Internal, "append %s outside a command or query", r.Op)
	}
	id := c.nextIntentID(r.Op)
	in := schema.AuditIntent{ID: id, Actor: r.Actor, Op: r.Op, TargetRef: schema.S(r.TargetRef),
		ResultOID: schema.S(r.ResultOID), Outcome: "ok", Detail: r.Detail, Session: c.session}
	if err := a.client.PublishIntents(ctx, []schema.AuditIntent{in}); err != nil {
		return 0, err
	}
	var ans schema.AwaitAnswer
	err := a.client.Query(ctx, bus.Audit, schema.QAuditAwait,
		schema.AwaitQuery{IDs: []string{id}, TimeoutMS: int(a.await / time.Millisecond)}, &ans)
	if err != nil {
		return 0, err
	}
	if len(ans.Rows) != 1 || ans.Rows[0].Seq <= 0 {
		return 0, fault.E(op, fault.BackendUnavailable, "audit await for %s answered without the row", id)
	}
	c.note(r.Op, id, ans.Rows[0].Seq, checksCode(r))
	return ans.Rows[0].Seq, nil
}

// candidates is approval.Candidates over capstore's prepare_merge and land commands.
//
// capstore's prepare_merge already validates the candidate's log entry (O-land-3) and returns
// its seq, so Prepare keeps that seq by candidate oid and Validate hands it back; a validation
// refusal comes from Prepare, before any code is looked at, exactly as A-32 requires.
type candidates struct {
	client *busclient.Client

	mu   sync.Mutex
	seqs map[string]string // candidate oid → validated seq, from the last Prepare
}

// Prepare sends stasima.capstore.cmd.prepare_merge for the proposal of proposalRef.
func (c *candidates) Prepare(ctx context.Context, proposalRef, into string) (approval.Candidate, error) {
	pid, ok := refs.ProposalOf(proposalRef)
	if !ok {
		return approval.Candidate{}, fault.E("airlock.prepare", fault.Internal, "%q is not a proposal ref", proposalRef)
	}
	var p schema.Prepared
	if err := c.client.Do(ctx, busclient.Command{Svc: bus.Capstore, Verb: schema.CmdPrepareMerge, Session: sessionOf(ctx),
		Data: schema.ProposalQuery{ProposalID: pid}}, &p); err != nil {
		return approval.Candidate{}, err
	}
	if p.Into != "" && p.Into != into {
		return approval.Candidate{}, fault.E("airlock.prepare", fault.Internal,
			"capstore prepared a merge into %s, the airlock lands into %s: canon_ref differs between them", p.Into, into)
	}
	c.mu.Lock()
	// One entry is enough: Validate follows its Prepare under the airlock mutex.
	c.seqs = map[string]string{p.Candidate: p.Seq}
	c.mu.Unlock()
	return approval.Candidate{OID: p.Candidate, Into: into, ProposalRef: p.ProposalRef, ChangedPaths: p.ChangedPaths}, nil
}

// Validate returns the seq prepare_merge validated for cand.
func (c *candidates) Validate(_ context.Context, cand approval.Candidate) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	seq, ok := c.seqs[cand.OID]
	if !ok {
		return "", fault.E("airlock.validate", fault.Internal, "candidate %s was not prepared", cand.OID)
	}
	return seq, nil
}

// capstoreBindOp is the gate of capstore's land that refuses an approval whose candidate is not
// the merge of the current canon and proposal tips (MergeNotApproved): the wire form of
// approval.ErrUnbound. Its other MergeNotApproved refusal (an approver capstore does not know)
// is a configuration fault and passes unchanged.
const capstoreBindOp = "land.bind"

// Land sends stasima.capstore.cmd.land binding the approval to the staged candidate exactly
// (INV-14); a candidate that no longer binds comes back as approval.ErrUnbound. The command id
// derives from the airlock command being handled, so a redelivered land_approve repeats the
// same capstore command and capstore resumes instead of landing twice.
func (c *candidates) Land(ctx context.Context, cand approval.Candidate, a approval.LandApproval) (approval.LandResult, error) {
	pid, ok := refs.ProposalOf(cand.ProposalRef)
	if !ok {
		return approval.LandResult{}, fault.E("airlock.land", fault.Internal, "%q is not a proposal ref", cand.ProposalRef)
	}
	cmd := busclient.Command{Svc: bus.Capstore, Verb: schema.CmdLand, Session: sessionOf(ctx),
		Data: schema.Land{Actor: schema.Actor{Seat: a.ApprovedBy, Session: sessionOf(ctx)}, ProposalID: pid,
			ApprovedBy: a.ApprovedBy, Evidence: a.Evidence, Candidate: a.CandidateOID}}
	if cl := callOf(ctx); cl != nil {
		cmd.ID = "airlock/" + cl.id + "/land/" + a.CandidateOID
	}
	var res schema.LandResult
	if err := c.client.Do(ctx, cmd, &res); err != nil {
		if fe := (*fault.Error)(nil); errors.As(err, &fe) && fe.Class == fault.MergeNotApproved && fe.Op == capstoreBindOp {
			return approval.LandResult{}, fmt.Errorf("%w: %w", approval.ErrUnbound, err)
		}
		return approval.LandResult{}, err
	}
	return approval.LandResult{Landed: res.Landed, Seq: res.Seq, Display: res.Display,
		Anchor: approval.Anchor{Seq: res.Anchor.Seq, Head: res.Anchor.Head}}, nil
}

func sessionOf(ctx context.Context) string {
	if c := callOf(ctx); c != nil {
		return c.session
	}
	return ""
}
