package approval_test

import (
	"testing"
	"time"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/services/airlock/internal/approval"
)

// TestBudget_lockEndsOnTheClock: the wrong code that uses up the failure budget appends
// airlock_locked and returns the airlock.locked event; a restarted airlock keeps the lock (it
// is in the log); the first call after the lock's end appends airlock_unlocked, returns
// airlock.unlocked and is decided normally.
func TestBudget_lockEndsOnTheClock(t *testing.T) {
	h := newHarness(t)
	h.wrongDoorCodes(approval.DefaultFailureBudget - 1)
	h.markRows()
	_, evs, err := h.svc.VerifyDoor(h.ctx, h.invalidCode(), "c1")
	if err == nil {
		t.Fatal("wrong code accepted")
	}
	want := approval.Locked{Until: approval.SecondsOf(t0.Add(15 * time.Minute)), Failures: 20, PeriodS: 3600}
	if len(evs) != 1 || evs[0] != want {
		t.Fatalf("events = %+v, want %+v", evs, want)
	}
	equalStrings(t, "rows", h.newRows(), []string{
		`system oauth_totp_reject ref= oid= {"reason":"bad code"}`,
		`system airlock_locked ref= oid= {"until":1700000910.0,"failures":20,"period_s":3600}`,
	})

	h.svc = h.newService(h.cfg) // a restart
	h.at(15*time.Minute - time.Second)
	if _, _, err := h.svc.Stage(h.ctx, "p1", h.code(0)); fault.ClassOf(err) != fault.RateLimited {
		t.Fatalf("stage after a restart within the lock: %v, want RateLimited", err)
	}
	st, _, err := h.svc.Lock(h.ctx)
	if err != nil || !st.Locked || st.Until != want.Until {
		t.Fatalf("lock state = %+v, %v", st, err)
	}

	h.at(15 * time.Minute)
	h.markRows()
	_, evs, err = h.svc.Stage(h.ctx, "p1", h.code(0))
	if err != nil {
		t.Fatalf("stage at the lock's end: %v", err)
	}
	if len(evs) != 2 || evs[0] != (approval.Unlocked{Until: want.Until}) {
		t.Fatalf("events = %+v, want airlock.unlocked then airlock.staged", evs)
	}
	if rows := h.newRows(); len(rows) != 3 || rows[0] != `system airlock_unlocked ref= oid= {"until":1700000910.0}` {
		t.Fatalf("rows = %v", rows)
	}
	if st, _, err := h.svc.Lock(h.ctx); err != nil || st.Locked {
		t.Fatalf("lock state after the end = %+v, %v", st, err)
	}
}

// TestBudget_failuresOutsideThePeriodDoNotCount: wrong codes spread wider than the period
// never lock.
func TestBudget_failuresOutsideThePeriodDoNotCount(t *testing.T) {
	h := newHarness(t)
	for i := range 3 * approval.DefaultFailureBudget {
		h.at(time.Duration(i) * 4 * time.Minute) // 15 per hour
		h.wrongDoorCodes(1)
	}
	if _, _, err := h.svc.VerifyDoor(h.ctx, h.code(0), "c1"); err != nil {
		t.Fatalf("door after spread-out failures: %v", err)
	}
}

// TestStageCap_endsOnTheClock: five wrong stage codes lock the proposal's stage codes for 15
// minutes on the injected clock (one row); at the end the right code stages it, and a restart
// in between keeps the lock (it is folded from the log).
func TestStageCap_endsOnTheClock(t *testing.T) {
	h := newHarness(t)
	h.wrongStageCodes("p1", approval.MaxWrongStageCodes)
	h.markRows()
	for range 3 {
		if _, _, err := h.svc.Stage(h.ctx, "p1", h.code(0)); err == nil {
			t.Fatal("stage accepted past the cap")
		}
	}
	if rows := h.newRows(); len(rows) != 1 {
		t.Fatalf("rows while locked = %q, want the one that starts the lock", rows)
	}
	h.svc = h.newService(h.cfg)
	h.at(15*time.Minute - time.Second)
	if _, _, err := h.svc.Stage(h.ctx, "p1", h.code(0)); err == nil {
		t.Fatal("a restarted airlock forgot the stage lock")
	}
	h.at(15 * time.Minute)
	if _, _, err := h.svc.Stage(h.ctx, "p1", h.code(0)); err != nil {
		t.Fatalf("stage at the lock's end: %v", err)
	}
}
