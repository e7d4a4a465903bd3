package approval

import (
	"context"
	"time"

	"github.com/stasima/stasima/pkg/fault"
)

// budget is the deployment-wide failure budget: FailureBudget wrong codes within
// FailurePeriod, whatever they were for (stage, land, the OAuth door) and whichever session or
// address sent them, lock every code check for LockFor. It bounds guessing where the per-client
// rate limit cannot, since sessions are free and behind a proxy every client shares one
// address.
//
// The lock is in the log (airlock_locked, airlock_unlocked), so a restart keeps it. The
// failure times are kept in memory, on the airlock's clock: a restart forgets the failures that
// had not yet locked, as it refills the relay rate limit.
type budget struct {
	loaded bool
	until  time.Time   // end of the current lock; zero when not locked
	fails  []time.Time // code failures within the period, oldest first
}

// ErrLockedOp is the op of the refusal of a code while the failure budget's lock holds; its
// class is fault.RateLimited.
const ErrLockedOp = "airlock.budget"

// loadLock reads the current lock from the log once per process: the newest airlock_locked row
// holds unless an airlock_unlocked row follows it.
func (s *Service) loadLock(ctx context.Context) error {
	if s.budget.loaded {
		return nil
	}
	locks, err := s.ledger.Find(ctx, Query{Op: OpAirlockLocked, Limit: 1, Desc: true})
	if err != nil || len(locks) == 0 {
		s.budget.loaded = err == nil
		return err
	}
	unlocks, err := s.ledger.Find(ctx, Query{Op: OpAirlockUnlocked, AfterSeq: locks[0].Seq, Limit: 1})
	if err != nil {
		return err
	}
	if len(unlocks) == 0 {
		s.budget.until = secondsTime(parseDetail(locks[0].Detail).float("until"))
	}
	s.budget.loaded = true
	return nil
}

// checkLock refuses a code check while the budget's lock holds; the code is never looked at
// and no row is written, so a flood against a locked airlock does not grow the log. The first
// call after the lock ends appends airlock_unlocked and returns its event.
func (s *Service) checkLock(ctx context.Context, evs *[]Event) error {
	if err := s.loadLock(ctx); err != nil {
		return err
	}
	if s.budget.until.IsZero() {
		return nil
	}
	now := s.now()
	if now.Before(s.budget.until) {
		return fault.E(ErrLockedOp, fault.RateLimited,
			"the airlock is locked until %s: %d wrong codes within %s used up the deployment's failure budget, so "+
				"every code (stage, land and the OAuth door) is refused until then; the console land (stasima admin land) "+
				"is not locked", s.budget.until.UTC().Format(time.RFC3339), s.cfg.FailureBudget, s.cfg.FailurePeriod)
	}
	until := SecondsOf(s.budget.until)
	if err := s.record(ctx, Record{Actor: ActorSystem, Op: OpAirlockUnlocked, Detail: encodeDetail(unlockedDetail{Until: until})}); err != nil {
		return err
	}
	s.log.Info("airlock unlocked", "until", s.budget.until)
	s.budget.until = time.Time{}
	*evs = append(*evs, Unlocked{Until: until})
	return nil
}

// failed counts one wrong code against the budget, after its reject row. The one that uses the
// budget up locks the airlock: its airlock_locked row and event.
func (s *Service) failed(ctx context.Context, evs *[]Event) error {
	now := s.now()
	from := now.Add(-s.cfg.FailurePeriod)
	keep := s.budget.fails[:0]
	for _, t := range s.budget.fails {
		if t.After(from) {
			keep = append(keep, t)
		}
	}
	s.budget.fails = append(keep, now)
	if len(s.budget.fails) < s.cfg.FailureBudget {
		return nil
	}
	d := lockedDetail{Until: SecondsOf(now.Add(s.cfg.LockFor)), Failures: len(s.budget.fails), PeriodS: s.cfg.FailurePeriod.Seconds()}
	if err := s.record(ctx, Record{Actor: ActorSystem, Op: OpAirlockLocked, Detail: encodeDetail(d)}); err != nil {
		return err
	}
	s.budget.until, s.budget.fails = now.Add(s.cfg.LockFor), nil
	*evs = append(*evs, Locked(d))
	s.log.Warn("airlock locked: failure budget used up", "failures", d.Failures, "until", s.budget.until)
	return nil
}

// LockState is the failure budget's lock as status shows it: Until is zero when unlocked.
type LockState struct {
	Locked bool    `json:"locked"`
	Until  Seconds `json:"until,omitempty"`
}

// Lock reports the failure budget's lock; reading it after its end appends airlock_unlocked,
// whose event is returned.
func (s *Service) Lock(ctx context.Context) (LockState, []Event, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return LockState{}, nil, err
	}
	defer unlock()
	var evs []Event
	if err := s.checkLock(ctx, &evs); err != nil && fault.ClassOf(err) != fault.RateLimited {
		return LockState{}, evs, err
	}
	if s.budget.until.IsZero() {
		return LockState{}, evs, nil
	}
	return LockState{Locked: true, Until: SecondsOf(s.budget.until)}, evs, nil
}

func secondsTime(f float64) time.Time {
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9))
}
