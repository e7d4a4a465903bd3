package approval_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/services/airlock/internal/approval"
)

var hex40 = regexp.MustCompile(`^[0-9a-f]{40}$`)

// TestSC10 is conformance scenario SC-10 against the state machine (A-*), with the injected
// clock and the RFC 6238 test key. Practitioner attention and the chain check belong to the
// gateway and the audit service.
func TestSC10(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx
	p1 := oid("candidate p1")

	// Stage at t0+5 s: a 40-hex oid and log_seq 3c (A-30…A-35).
	h.at(5 * time.Second)
	w0 := h.window()
	h.markRows()
	st, evs, err := h.svc.Stage(ctx, "p1", h.code(0))
	if err != nil {
		t.Fatal(err)
	}
	stagedAt := float64(t0.Unix() + 5)
	if !hex40.MatchString(st.StagedOID) || st.StagedOID != p1 || st.LogSeq != "3c" {
		t.Fatalf("stage = %+v", st)
	}
	res, _ := json.Marshal(st)
	wantRes := fmt.Sprintf(`{"proposal_id":"p1","staged_oid":"%s","staged_at":%.1f,"lands_after":%.1f,"expires_at":%.1f,`+
		`"changed_paths":["meta/log/3c.md","practice/a.md","practice/b.md"],"log_seq":"3c"}`,
		p1, stagedAt, stagedAt+120, stagedAt+7200)
	if string(res) != wantRes {
		t.Errorf("stage result\n got %s\nwant %s", res, wantRes)
	}
	equalStrings(t, "stage events", eventsJSON(t, evs), []string{"airlock.staged " + wantRes})
	equalStrings(t, "stage rows", h.newRows(), []string{
		fmt.Sprintf(`practitioner totp_accept ref= oid= {"window":%d,"purpose":"stage","object":"p1"}`, w0),
		fmt.Sprintf(`practitioner airlock_stage ref=refs/cap/proposals/p1 oid=%s {"proposal":"p1","staged_oid":"%s","window":%d,"staged_at":%.1f,"seq":"3c","changed_paths":["meta/log/3c.md","practice/a.md","practice/b.md"]}`,
			p1, p1, w0, stagedAt),
	})

	// Propose, retract and close on the staged proposal refuse: frozen (A-20, C-prop-5).
	for _, op := range []string{"propose", "propose_retract", "propose_close"} {
		_, err := h.svc.CheckWritable(ctx, op, "p1")
		if !fault.Is(err, fault.Denied) {
			t.Errorf("%s on staged: err = %v, want Denied", op, err)
		}
		mustContain(t, err, "p1", "frozen for review")
	}

	// Land at +40 s refuses naming 40 and 120, before the code: nothing burned.
	h.at(45 * time.Second)
	h.markRows()
	_, _, err = h.svc.Land(ctx, p1[:12], h.code(0))
	mustContain(t, err, "review floor not met", "40s", "120")
	equalStrings(t, "floor rows", h.newRows(), nil)

	// A wrong prefix refuses: content-binding.
	_, _, err = h.svc.Land(ctx, "deadbeefcafe", h.code(0))
	mustContain(t, err, "deadbeefcafe", "content-binding")

	// With floor 0, a land in the staging window refuses: strictly later.
	zero := h.cfg
	zero.Floor = 0
	h.at(6 * time.Second)
	h.markRows()
	_, _, err = h.newService(zero).Land(ctx, p1[:8], h.code(0))
	mustContain(t, err, "strictly later", fmt.Sprint(w0))
	equalStrings(t, "same-window rows", h.newRows(), []string{
		fmt.Sprintf(`system totp_reject ref= oid= {"purpose":"land","object":"p1","window":%d,"min_window":%d,"reason":"not strictly later"}`, w0, w0),
	})

	// Revert is free (no code), entries intact, writable again (A-50…A-52).
	h.markRows()
	rv, evs, err := h.svc.Revert(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	if rv != (approval.RevertResult{ProposalID: "p1", State: approval.PhaseOpen}) {
		t.Errorf("revert = %+v", rv)
	}
	equalStrings(t, "revert events", eventsJSON(t, evs), []string{`airlock.reverted {"proposal_id":"p1","reason":"manual"}`})
	equalStrings(t, "revert rows", h.newRows(), []string{
		`system airlock_revert ref=refs/cap/proposals/p1 oid= {"proposal":"p1","reason":"manual"}`,
	})
	if got := h.cands.props["refs/cap/proposals/p1"].entries; len(got) != 2 || len(h.cands.lands) != 0 {
		t.Errorf("revert touched the proposal: entries %v, lands %d", got, len(h.cands.lands))
	}
	if _, err := h.svc.CheckWritable(ctx, "propose", "p1"); err != nil {
		t.Errorf("propose after revert: %v", err)
	}

	// Re-stage in the same window refuses: consume-once.
	h.at(7 * time.Second)
	h.markRows()
	_, _, err = h.svc.Stage(ctx, "p1", h.code(0))
	mustContain(t, err, fmt.Sprint(w0), "stage", "consume-once")
	equalStrings(t, "replay rows", h.newRows(), []string{
		fmt.Sprintf(`system totp_reject ref= oid= {"purpose":"stage","object":"p1","window":%d,"reason":"replay"}`, w0),
	})

	// The next window works.
	h.at(35 * time.Second)
	w1 := h.window()
	if w1 != w0+1 {
		t.Fatalf("window at +35 s = %d, want %d", w1, w0+1)
	}
	st, _, err = h.svc.Stage(ctx, "p1", h.code(0))
	if err != nil {
		t.Fatal(err)
	}
	if float64(st.StagedAt) != float64(t0.Unix()+35) {
		t.Errorf("re-stage staged_at = %v", st.StagedAt)
	}

	// Land at +130 s after staging lands ::3C.
	h.at((35 + 130) * time.Second)
	w2 := h.window()
	h.markRows()
	landed, evs, err := h.svc.Land(ctx, p1[:8], h.code(0))
	if err != nil {
		t.Fatal(err)
	}
	if landed.Display != "::3C" || landed.Seq != "3c" || !hex40.MatchString(landed.Landed) {
		t.Errorf("land = %+v", landed)
	}
	equalStrings(t, "land events", eventsJSON(t, evs), []string{
		fmt.Sprintf(`airlock.landed {"proposal_id":"p1","staged_oid":"%s","landed":"%s","seq":"3c"}`, p1, landed.Landed),
	})
	if len(h.cands.lands) != 1 {
		t.Fatalf("lands = %d", len(h.cands.lands))
	}
	call := h.cands.lands[0]
	wantCand := approval.Candidate{OID: p1, Into: "refs/heads/main", ProposalRef: "refs/cap/proposals/p1",
		ChangedPaths: []string{"meta/log/3c.md", "practice/a.md", "practice/b.md"}}
	if fmt.Sprint(call.cand) != fmt.Sprint(wantCand) {
		t.Errorf("landed candidate %+v, want %+v", call.cand, wantCand)
	}
	if call.appr != (approval.LandApproval{CandidateOID: p1, ApprovedBy: "practitioner", Evidence: fmt.Sprintf("airlock-totp-w%d", w2)}) {
		t.Errorf("approval = %+v", call.appr)
	}
	rows := h.newRows()
	if len(rows) != 2 || rows[0] != fmt.Sprintf(`practitioner totp_accept ref= oid= {"window":%d,"purpose":"land","object":"p1"}`, w2) {
		t.Errorf("land rows = %q", rows)
	}
	state, _, err := h.svc.State(ctx, "p1")
	if err != nil || state.Phase != approval.PhaseLanded {
		t.Errorf("state after land = %+v, %v", state, err)
	}
	_, _, err = h.svc.Land(ctx, p1[:8], h.code(1)) // tools.md §12: no longer staged
	mustContain(t, err, "content-binding")

	// TTL: a stage older than the ceiling is reverted by the next read, and recorded.
	h.at(300 * time.Second)
	p2 := oid("candidate p2")
	st2, _, err := h.svc.Stage(ctx, "p2", h.code(0))
	if err != nil {
		t.Fatal(err)
	}
	h.at((300 + 7200) * time.Second) // exactly the ceiling: still staged
	state, evs, err = h.svc.State(ctx, "p2")
	if err != nil || state.Phase != approval.PhaseStaged || len(evs) != 0 {
		t.Errorf("state at the ceiling = %+v, %v, %v", state, evs, err)
	}
	h.at((300 + 7300) * time.Second)
	h.markRows()
	state, evs, err = h.svc.State(ctx, "p2")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(state)
	if string(b) != `{"state":"open","reverted":"ttl"}` {
		t.Errorf("state past the ceiling = %s", b)
	}
	equalStrings(t, "ttl events", eventsJSON(t, evs), []string{`airlock.reverted {"proposal_id":"p2","reason":"ttl"}`})
	equalStrings(t, "ttl rows", h.newRows(), []string{
		fmt.Sprintf(`system airlock_revert ref=refs/cap/proposals/p2 oid= {"proposal":"p2","reason":"ttl","staged_oid":"%s"}`, st2.StagedOID),
	})
	if st2.StagedOID != p2 {
		t.Errorf("p2 staged %s", st2.StagedOID)
	}
	h.markRows()
	if state, evs, _ = h.svc.State(ctx, "p2"); state.Phase != approval.PhaseOpen || len(evs) != 0 || len(h.newRows()) != 0 {
		t.Errorf("second read after ttl = %+v, %v, rows %q", state, evs, h.newRows())
	}

	// INV-16: none of the codes used appears in logs, rows or error texts.
	h.assertNoCodes(err2s(err)...)
	if h.logs.String() == "" {
		t.Error("nothing was logged; the code check would prove nothing")
	}
}

func err2s(errs ...error) []string {
	var out []string
	for _, e := range errs {
		if e != nil {
			out = append(out, e.Error())
		}
	}
	return out
}
