package airlock_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/airlock"
)

// TestRelay_junkStageCodes: 1,000 junk stage codes, each from a fresh session at a fresh
// address (so the relay rate limit never applies), spread over five proposals. The 20th wrong
// code uses up the failure budget: airlock_locked and airlock.locked; every later code is
// refused (RateLimited) without a row, a prepared merge or a look at the code, so the log holds
// 21 rows after the flood. No decision reads more than a handful of rows (the reads are by
// window, purpose and object). On the injected clock the lock ends after 15 minutes, and the
// practitioner then stages and lands a good proposal.
func TestRelay_junkStageCodes(t *testing.T) {
	r := newRig(t)
	r.capstore.mu.Lock()
	for _, pid := range []string{"p4", "p5"} {
		r.capstore.props[pid] = []string{"practice/a.md"}
	}
	r.capstore.mu.Unlock()
	r.start(30 * time.Second)

	pids := []string{"p1", "p2", "p3", "p4", "p5"}
	var invalid, locked int
	for i := range 1000 {
		err := r.do(airlock.CmdStage, airlock.Stage{ProposalID: pids[i%len(pids)], Code: r.wrongCode(r.secret, int64(5+i%50)),
			Client: fmt.Sprintf("sess-%d", i), Address: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)}, nil)
		switch {
		case err != nil && strings.Contains(err.Error(), "invalid code"):
			invalid++
		case fault.Is(err, fault.RateLimited) && strings.Contains(err.Error(), "failure budget"):
			locked++
		default:
			t.Fatalf("junk code %d: %v", i, err)
		}
	}
	if invalid != 20 || locked != 980 {
		t.Fatalf("%d refused as invalid, %d by the lock; want 20 and 980", invalid, locked)
	}
	if got := r.event(); !strings.HasPrefix(got, airlock.EvtLocked+` {"until":1700000910.0,"failures":20`) {
		t.Fatalf("event %s, want airlock.locked", got)
	}
	if n, rows := len(r.audit.rows("")), r.audit.rows(airlock.OpLocked); n != 21 || len(rows) != 1 {
		t.Fatalf("%d rows after the flood (%q); want 20 totp_reject and one airlock_locked", n, rows)
	}
	if r.capstore.prepare != 20 {
		t.Errorf("%d merges prepared, want 20: the lock refuses before preparing", r.capstore.prepare)
	}
	for op, most := range map[string]int{"totp_reject": 5, "totp_accept": 1, "oauth_approve": 1} {
		if got := r.audit.mostRead(op); got > most {
			t.Errorf("one ledger read returned %d %s rows, want at most %d", got, op, most)
		}
	}

	r.at(15 * time.Minute)
	var st airlock.Staged
	if err := r.do(airlock.CmdStage, airlock.Stage{ProposalID: "p1", Code: r.code(), Client: "practitioner-1", Address: "127.0.0.1"}, &st); err != nil {
		t.Fatalf("stage after the lock: %v", err)
	}
	if got := r.event(); !strings.HasPrefix(got, airlock.EvtUnlocked) {
		t.Fatalf("event %s, want airlock.unlocked", got)
	}
	r.event() // airlock.staged
	r.at(15*time.Minute + 130*time.Second)
	var landed schema.LandResult
	if err := r.do(airlock.CmdLand, airlock.Land{StagedOIDPrefix: candidateOf("p1")[:8], Code: r.code(), Client: "practitioner-1",
		Address: "127.0.0.1"}, &landed); err != nil {
		t.Fatalf("land after the lock: %v", err)
	}
	if landed.Display != "::3C" {
		t.Errorf("land = %+v", landed)
	}
	r.assertNoCodes()
}
