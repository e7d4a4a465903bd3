package airlock

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/services/airlock/internal/approval"
)

// RateLimited is the wire class of a relay command refused by the per-client rate limit. Its
// Kind is RateLimited (HTTP 429). pkg/fault does not declare the class yet; the airlock sends
// it under this name, which pkg/fault is to adopt (classes cross the wire as their string).
const RateLimited fault.Class = "RateLimited"

// OpRateLimited is the audit op of a rate-limited relay command (actor system, target_ref the
// proposal ref for stage; detail {command, object, client, address}, object being the proposal
// id or, for land, the staged oid prefix, address omitted when empty). It is a row of its own,
// not a totp_reject: no code was looked at, so none is counted against the proposal.
const OpRateLimited = "airlock_rate_limited"

// limiterSweep is the table size past which idle buckets are dropped, as the OAuth door sweeps
// its table (identity.md I-83).
const limiterSweep = 4096

// relayLimiter is the per-client limit on the code-carrying relay commands stage and land: a
// token bucket of RelayBurst attempts, refilled at RelayBurst per RelayPeriod, per session AND
// per network address, so a fresh session from the same address finds the address's bucket as
// empty as the last one left it. A token bucket rather than I-83's sliding window because it
// needs one number per key and lets a practitioner who paused spend a short burst (stage, a
// mistyped land, the land) without waiting.
//
// A command is refused when either bucket is empty, and takes a token from each only when it
// checked a code (a totp_accept row, or a totp_reject row for a code it looked at): a land
// refused before the floor, an unknown prefix or a refusal past a lock-out cost nothing, and
// stage_revert, which never takes a code and is the safe direction, is never limited. The
// session is the gateway's session id (payload field "client"), the address the client's host
// (field "address"); commands without them share the buckets of the empty key.
//
// The buckets live in memory: a restart refills them. That is acceptable because the bounds
// that matter are folded from the audit log (MaxWrongLandCodes, the stage cap, the failure
// budget's lock); the rate limit only slows down a relaying seat. The clock is the airlock's
// (Config.Now), so tests drive refills without sleeping.
type relayLimiter struct {
	every time.Duration
	burst int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newRelayLimiter(burst int, period time.Duration, now func() time.Time) *relayLimiter {
	return &relayLimiter{every: period / time.Duration(burst), burst: burst, now: now, buckets: map[string]*rate.Limiter{}}
}

// relayKeys are the buckets a command of session client from address draws from.
func relayKeys(client, address string) []string {
	keys := []string{"session " + client}
	if address != "" {
		keys = append(keys, "address "+address)
	}
	return keys
}

// ready reports whether every bucket of keys holds a token, taking none.
func (l *relayLimiter) ready(keys []string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range keys {
		if l.bucket(k, now).TokensAt(now) < 1 {
			return false
		}
	}
	return true
}

// spend takes one token from every bucket of keys (a bucket may go below empty: a command that
// found tokens was allowed, and its cost is still paid).
func (l *relayLimiter) spend(keys []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range keys {
		l.bucket(k, now).ReserveN(now, 1)
	}
}

// bucket returns key's bucket, creating a full one; the caller holds mu.
func (l *relayLimiter) bucket(key string, now time.Time) *rate.Limiter {
	lim, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= limiterSweep {
			l.sweep(now)
		}
		lim = rate.NewLimiter(rate.Every(l.every), l.burst)
		l.buckets[key] = lim
	}
	return lim
}

// sweep drops the buckets that are full again: forgetting them changes nothing.
func (l *relayLimiter) sweep(now time.Time) {
	for k, lim := range l.buckets {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, k)
		}
	}
}

// rateLimit refuses a code-carrying relay command (stage, land) of client from address on
// object while one of its buckets is empty. A refusal appends its OpRateLimited row (awaited,
// under the command's intent ids, so a redelivery adds none) and returns a RateLimited error;
// the code, if any, is never looked at. An allowed command pays with spendRelay once it ran.
func (s *Service) rateLimit(ctx context.Context, verb, client, address, object string) error {
	if s.limiter.ready(relayKeys(client, address)) {
		return nil
	}
	var target string
	if verb != CmdLand {
		target = refs.Proposal(object)
	}
	if _, err := s.audit.Append(ctx, approval.Record{Actor: approval.ActorSystem, Op: OpRateLimited, TargetRef: target,
		Detail: rateLimitedDetail(verb, object, client, address)}); err != nil {
		return err
	}
	s.log.Info("relay command rate limited", "command", verb, "client", client, "address", address)
	return fault.E("airlock."+verb+".rate", RateLimited,
		"rate limit exceeded for client %q at address %q: at most %d airlock codes per %s from one session or one "+
			"address — slow down", client, address, s.cfg.RelayBurst, s.cfg.RelayPeriod)
}

// spendRelay charges the relay command of call c to its buckets when it checked a code.
func (s *Service) spendRelay(c *call, client, address string) {
	if c.checkedCode() {
		s.limiter.spend(relayKeys(client, address))
	}
}

// checksCode reports whether appending r means a code was looked at: a totp_accept row, or a
// totp_reject row other than a lock-out's, which refuses without looking.
func checksCode(r approval.Record) bool {
	switch r.Op {
	case approval.OpTOTPAccept:
		return true
	case approval.OpTOTPReject:
		var d struct {
			Reason string `json:"reason"`
		}
		return json.Unmarshal(r.Detail, &d) == nil && d.Reason != approval.RejectLocked
	}
	return false
}

// rateLimitedDetail is the detail of an OpRateLimited row, in this key order.
func rateLimitedDetail(verb, object, client, address string) json.RawMessage {
	b, _ := json.Marshal(struct {
		Command string `json:"command"`
		Object  string `json:"object"`
		Client  string `json:"client"`
		Address string `json:"address,omitempty"`
	}{verb, object, client, address}) // strings only: cannot fail
	return b
}
