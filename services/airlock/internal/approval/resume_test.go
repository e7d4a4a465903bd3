package approval_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/services/airlock/internal/approval"
)

// TestResumeLand finishes a land whose code an earlier delivery consumed: it lands the staged
// candidate with the evidence of that window and no new row; asked again after the land, it
// lands the same candidate again (capstore answers a repeated land, O-land-10).
func TestResumeLand(t *testing.T) {
	h := newHarness(t)
	p1 := oid("candidate p1")
	h.stage("p1")
	h.at(200 * time.Second)
	h.markRows()
	res, evs, err := h.svc.ResumeLand(h.ctx, "p1", 4242)
	if err != nil {
		t.Fatal(err)
	}
	equalStrings(t, "events", eventsJSON(t, evs), []string{
		fmt.Sprintf(`airlock.landed {"proposal_id":"p1","staged_oid":"%s","landed":"%s","seq":"3c"}`, p1, res.Landed),
	})
	if len(h.cands.lands) != 1 || h.cands.lands[0].appr != (approval.LandApproval{CandidateOID: p1, ApprovedBy: "practitioner",
		Evidence: "airlock-totp-w4242"}) {
		t.Fatalf("lands = %+v", h.cands.lands)
	}
	if rows := h.newRows(); len(rows) != 1 { // capstore's land_merge only
		t.Errorf("rows = %q", rows)
	}
	if _, _, err := h.svc.ResumeLand(h.ctx, "p1", 4242); err != nil || len(h.cands.lands) != 2 || h.cands.lands[1].cand.OID != p1 {
		t.Errorf("resume after the land: %v, lands %+v", err, h.cands.lands)
	}
}

// TestResumeLand_notStaged: a proposal reverted since, or never staged, is not landed.
func TestResumeLand_notStaged(t *testing.T) {
	h := newHarness(t)
	h.stage("p1")
	if _, _, err := h.svc.Revert(h.ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []string{"p1", "p2"} {
		_, _, err := h.svc.ResumeLand(h.ctx, pid, 1)
		if !fault.Is(err, fault.AirlockError) {
			t.Errorf("%s: err = %v", pid, err)
		}
		mustContain(t, err, pid+" is not staged")
	}
	if len(h.cands.lands) != 0 {
		t.Errorf("lands = %d", len(h.cands.lands))
	}
}
