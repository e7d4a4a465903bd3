package airlock_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/airlock"
	"github.com/stasima/stasima/services/airlock/internal/totp"
)

// Issue #5: brute force, rate limit, the land factor, the QR, and the swap, TTL and replay
// cases over the bus. Every test runs on the injected clock and waits on replies and
// events, never on time.

// wrongCode is a code of secret s for a window far from now: a real code, never accepted.
func (r *rig) wrongCode(s totp.Secret, offset int64) string {
	r.t.Helper()
	c, err := s.Code(r.window() + offset)
	if err != nil {
		r.t.Fatal(err)
	}
	r.codes = append(r.codes, c)
	return c
}

// stage stages pid with the current window's code and takes its airlock.staged event.
func (r *rig) stage(pid, client string) {
	r.t.Helper()
	if err := r.do(airlock.CmdStage, airlock.Stage{ProposalID: pid, Code: r.code(), Client: client}, nil); err != nil {
		r.t.Fatal(err)
	}
	r.event()
}

// TestLand_bruteForceLocks: five wrong land codes per staging (A-7 rows, folded from the log
// ); the sixth land code — even the right one — is refused naming the proposal and
// stage_revert, with a totp_reject row each time; a revert and a fresh stage start a new count.
func TestLand_bruteForceLocks(t *testing.T) {
	r := newRig(t)
	r.cfg.RelayBurst = 100 // the rate limit is TestRelay_rateLimited's
	r.start(30 * time.Second)
	p1 := candidateOf("p1")
	r.stage("p1", "s1")

	r.at(130 * time.Second)
	for i := range airlock.MaxWrongLandCodes {
		err := r.do(airlock.CmdLand, airlock.Land{StagedOIDPrefix: p1[:8], Code: r.wrongCode(r.secret, int64(5+i)), Client: "s1"}, nil)
		mustContain(t, err, "invalid code")
	}
	for _, code := range []string{r.wrongCode(r.secret, 9), r.code()} {
		err := r.do(airlock.CmdLand, airlock.Land{StagedOIDPrefix: p1[:8], Code: code, Client: "s1"}, nil)
		if !fault.Is(err, fault.AirlockError) {
			t.Fatalf("land past the limit: %v", err)
		}
		mustContain(t, err, "p1", "5 wrong land codes", "stage_revert p1")
	}
	rows := r.audit.rows("totp_reject")
	if len(rows) != airlock.MaxWrongLandCodes+2 {
		t.Fatalf("totp_reject rows %q", rows)
	}
	for _, row := range rows[airlock.MaxWrongLandCodes:] {
		if want := `system totp_reject ref= oid= {"purpose":"land","object":"p1","misses":5,"reason":"too many wrong codes"}`; row != want {
			t.Errorf("lock-out row\n got %s\nwant %s", row, want)
		}
	}
	if n := len(r.audit.rows("totp_accept")); n != 1 || len(r.capstore.lands) != 0 {
		t.Errorf("accepts %d, lands %d: the lock-out consumed or landed", n, len(r.capstore.lands))
	}

	// Revert (free, A-50) and stage again in a fresh window: the count starts over.
	if err := r.do(airlock.CmdRevert, airlock.Revert{ProposalID: "p1", Client: "s1"}, nil); err != nil {
		t.Fatal(err)
	}
	r.event()
	r.at(200 * time.Second)
	r.stage("p1", "s1")
	r.at(330 * time.Second)
	var landed schema.LandResult
	if err := r.do(airlock.CmdLand, airlock.Land{StagedOIDPrefix: p1[:8], Code: r.code(), Client: "s1"}, &landed); err != nil {
		t.Fatalf("land after re-staging: %v", err)
	}
	if landed.Display != "::3C" {
		t.Errorf("land = %+v", landed)
	}
	r.assertNoCodes()
}

// TestRelay_rateLimited: a session and an address each draw from a bucket of 10 code checks a
// minute. Ten wrong stage codes from one session empty both; the 11th command is RateLimited
// with an airlock_rate_limited row and looks at nothing else, and so is a fresh session from
// the same address; stage_revert is never limited; commands that check no code cost nothing;
// another address has its own buckets; 6 s on the injected clock refill one token.
func TestRelay_rateLimited(t *testing.T) {
	r := newRig(t)
	r.start(30 * time.Second)
	const addr = "192.0.2.7"
	for i := range 10 {
		pid := []string{"p1", "p2", "p3"}[i%3] // under the per-proposal stage cap
		err := r.do(airlock.CmdStage, airlock.Stage{ProposalID: pid, Code: r.wrongCode(r.secret, int64(5+i)), Client: "sess-a", Address: addr}, nil)
		mustContain(t, err, "invalid code")
	}
	code := r.code()
	err := r.do(airlock.CmdStage, airlock.Stage{ProposalID: "p1", Code: code, Client: "sess-a", Address: addr}, nil)
	if !fault.Is(err, airlock.RateLimited) {
		t.Fatalf("11th command: %v, want RateLimited", err)
	}
	mustContain(t, err, `"sess-a"`, addr, "10", "slow down")
	err = r.do(airlock.CmdLand, airlock.Land{StagedOIDPrefix: "deadbeef", Code: code, Client: "sess-fresh", Address: addr}, nil)
	if !fault.Is(err, airlock.RateLimited) {
		t.Fatalf("a fresh session from the same address: %v, want RateLimited", err)
	}
	want := []string{
		`system airlock_rate_limited ref=refs/cap/proposals/p1 oid= {"command":"stage","object":"p1","client":"sess-a","address":"192.0.2.7"}`,
		`system airlock_rate_limited ref= oid= {"command":"land","object":"deadbeef","client":"sess-fresh","address":"192.0.2.7"}`,
	}
	if got := r.audit.rows(airlock.OpRateLimited); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rows\n got %q\nwant %q", got, want)
	}
	if r.capstore.prepare != 10 {
		t.Errorf("prepares = %d, want 10: a rate-limited stage prepared a merge", r.capstore.prepare)
	}
	// A revert is never limited, whatever the buckets hold.
	for range 12 {
		err := r.do(airlock.CmdRevert, airlock.Revert{ProposalID: "p1", Client: "sess-a", Address: addr}, nil)
		mustContain(t, err, "p1 is not staged")
	}

	// Another address: commands that check no code (an unknown prefix) cost nothing, and the
	// code is still fresh.
	for range 12 {
		err := r.do(airlock.CmdLand, airlock.Land{StagedOIDPrefix: "deadbeef", Code: code, Client: "sess-b", Address: "198.51.100.9"}, nil)
		mustContain(t, err, "no staged proposal matches")
	}
	if err := r.do(airlock.CmdStage, airlock.Stage{ProposalID: "p1", Code: code, Client: "sess-b", Address: "198.51.100.9"}, nil); err != nil {
		t.Fatalf("other address: %v", err)
	}
	r.event()

	r.at(6 * time.Second) // one token back for sess-a and its address
	err = r.do(airlock.CmdStage, airlock.Stage{ProposalID: "p2", Code: r.wrongCode(r.secret, 20), Client: "sess-a", Address: addr}, nil)
	mustContain(t, err, "invalid code")
	err = r.do(airlock.CmdStage, airlock.Stage{ProposalID: "p2", Code: r.code(), Client: "sess-a", Address: addr}, nil)
	if !fault.Is(err, airlock.RateLimited) {
		t.Fatalf("second after one refill: %v", err)
	}
	if n := len(r.audit.rows(airlock.OpRateLimited)); n != 3 {
		t.Errorf("airlock_rate_limited rows = %d, want 3", n)
	}
	r.noEvent()
	r.assertNoCodes()
}

// TestTOTP_landFactor: totp_provision {land: true} writes airlock_land_secret (0600, its own
// otpauth label, refused without force once present); with it configured a land code from
// the first secret is invalid and one from the land secret lands (A-45 with the second factor).
func TestTOTP_landFactor(t *testing.T) {
	r := newRig(t)
	r.cfg.LandSecretPath = filepath.Join(t.TempDir(), "totp-land.secret")
	r.start(30 * time.Second)

	var p airlock.Provisioned
	if err := r.do(airlock.CmdTOTPProvision, airlock.TOTPProvision{Land: true}, &p); err != nil {
		t.Fatal(err)
	}
	if p.SecretPath != r.cfg.LandSecretPath || !strings.HasPrefix(p.OTPAuthURI, "otpauth://totp/Stasima:practitioner-land?secret=") ||
		!strings.Contains(p.Note, "land factor") || p.QR != "" {
		t.Errorf("provisioned = %+v", p)
	}
	fi, err := os.Stat(r.cfg.LandSecretPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("land secret file: %v, %v", fi, err)
	}
	err = r.do(airlock.CmdTOTPProvision, airlock.TOTPProvision{Land: true}, nil)
	mustContain(t, err, r.cfg.LandSecretPath, "--force", "--qr")
	landSecret, err := (totp.File{Path: r.cfg.LandSecretPath}).Load()
	if err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(r.cfg.SecretPath)
	if err != nil || strings.TrimSpace(string(first)) != rfcSecret {
		t.Fatalf("the first secret changed: %q, %v", first, err)
	}

	p1 := candidateOf("p1")
	r.stage("p1", "") // stage codes still come from the first secret
	r.at(130 * time.Second)
	err = r.do(airlock.CmdLand, airlock.Land{StagedOIDPrefix: p1[:8], Code: r.code()}, nil)
	mustContain(t, err, "invalid code")
	landCode, err := landSecret.Code(r.window())
	if err != nil {
		t.Fatal(err)
	}
	r.codes = append(r.codes, landCode)
	var landed schema.LandResult
	if err := r.do(airlock.CmdLand, airlock.Land{StagedOIDPrefix: p1[:8], Code: landCode}, &landed); err != nil {
		t.Fatalf("land with the land factor: %v", err)
	}
	if landed.Display != "::3C" {
		t.Errorf("land = %+v", landed)
	}
	r.assertNoCodes()
}

// TestTOTP_landFactorUnconfigured: without airlock_land_secret, {land: true} refuses and
// writes nothing.
func TestTOTP_landFactorUnconfigured(t *testing.T) {
	r := newRig(t)
	r.start(30 * time.Second)
	err := r.do(airlock.CmdTOTPProvision, airlock.TOTPProvision{Land: true}, nil)
	if !fault.Is(err, fault.AirlockError) {
		t.Fatalf("err = %v", err)
	}
	mustContain(t, err, "airlock_land_secret")
}

// TestTOTP_provisionQR: {qr: true} on an existing secret re-displays it (O-totp-4) with the
// terminal QR of its URI in field qr: a square of half blocks, quiet zone included, as wide
// as a QR symbol of some version (17 + 4v modules + 8).
func TestTOTP_provisionQR(t *testing.T) {
	r := newRig(t)
	r.start(30 * time.Second)
	var p airlock.Provisioned
	if err := r.do(airlock.CmdTOTPProvision, airlock.TOTPProvision{QR: true}, &p); err != nil {
		t.Fatal(err)
	}
	if p.Rotated == nil || *p.Rotated || !strings.Contains(p.OTPAuthURI, "secret="+rfcSecret) {
		t.Errorf("re-display = %+v", p)
	}
	lines := strings.Split(strings.TrimSuffix(p.QR, "\n"), "\n")
	width := len([]rune(lines[0]))
	if (width-8-17)%4 != 0 || width < 21+8 || len(lines) != (width+1)/2 {
		t.Fatalf("QR of %d×%d text cells is not a QR symbol:\n%s", width, len(lines), p.QR)
	}
	if strings.Trim(p.QR, " ▀▄█\n") != "" {
		t.Errorf("QR holds other runes than half blocks")
	}
	if strings.Contains(r.logs.String(), "█") {
		t.Error("the QR was logged")
	}
}

// TestTOTPCheck_skew: totp_check names the skew of a right code up to ±10 windows away and
// nothing beyond (O-totp-5); it consumes and records nothing.
func TestTOTPCheck_skew(t *testing.T) {
	r := newRig(t)
	r.start(30 * time.Second)
	tests := []struct {
		give int64
		want string
	}{
		{+3, `"skew":"+3 windows (≈ +90s)"`},
		{-10, `"skew":"-10 windows (≈ -300s)"`},
		{+10, `"skew":"+10 windows (≈ +300s)"`},
		{-11, `"note":"no match within ±10 windows`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.give), func(t *testing.T) {
			var d airlock.Diagnosis
			if err := r.query(airlock.QTOTPCheck, airlock.TOTPCheck{Code: r.wrongCode(r.secret, tt.give)}, &d); err != nil {
				t.Fatal(err)
			}
			if got := mustJSON(t, d); d.Valid || !strings.Contains(got, tt.want) {
				t.Errorf("diagnosis %s, want %s", got, tt.want)
			}
		})
	}
	if r.audit.log.Len() != 0 {
		t.Errorf("totp_check wrote rows: %q", r.audit.rows(""))
	}
}

// TestLand_swapRefusesContentBinding (A-64, INV-14): the proposal changes after staging, so
// capstore answers that the staged candidate no longer binds; land refuses "content-binding",
// the code is spent and the proposal stays staged; stage_revert makes it writable.
func TestLand_swapRefusesContentBinding(t *testing.T) {
	r := newRig(t)
	r.start(30 * time.Second)
	p1 := candidateOf("p1")
	r.stage("p1", "")
	r.capstore.swap("p1")

	r.at(130 * time.Second)
	err := r.do(airlock.CmdLand, airlock.Land{StagedOIDPrefix: p1[:8], Code: r.code()}, nil)
	if !fault.Is(err, fault.AirlockError) {
		t.Fatalf("land of a swapped proposal: %v", err)
	}
	mustContain(t, err, "content-binding", p1, "p1", "stage_revert p1")
	if n := len(r.audit.rows("land_merge")); n != 0 {
		t.Errorf("land_merge rows = %d", n)
	}
	if n := len(r.audit.rows("totp_accept")); n != 2 {
		t.Errorf("totp_accept rows = %d, want 2 (the land code is spent)", n)
	}
	var state airlock.ProposalState
	if err := r.query(airlock.QState, airlock.ProposalQuery{ProposalID: "p1"}, &state); err != nil || state.State != "staged" {
		t.Fatalf("state after the refused land = %+v, %v", state, err)
	}
	if err := r.do(airlock.CmdRevert, airlock.Revert{ProposalID: "p1"}, nil); err != nil {
		t.Fatal(err)
	}
	r.event()
	var w airlock.Writable
	if err := r.query(airlock.QCheckWritable, airlock.CheckWritable{Op: "propose", ProposalID: "p1"}, &w); err != nil || !w.Writable {
		t.Errorf("after revert: %+v, %v", w, err)
	}
	r.noEvent()
	r.assertNoCodes(err.Error())
}

// TestTTL_concurrentReadsOnce: several goroutines read an expired stage's state
// at once; the expiry is recorded once — one airlock_revert {reason: ttl} row, one event — and
// every reader sees the proposal open.
func TestTTL_concurrentReadsOnce(t *testing.T) {
	r := newRig(t)
	r.start(30 * time.Second)
	r.stage("p3", "")
	r.at(7201 * time.Second)

	const readers = 8
	var wg sync.WaitGroup
	states := make([]airlock.ProposalState, readers)
	errs := make([]error, readers)
	for i := range readers {
		wg.Go(func() {
			if i%2 == 0 {
				errs[i] = r.query(airlock.QState, airlock.ProposalQuery{ProposalID: "p3"}, &states[i])
				return
			}
			var w airlock.Writable
			errs[i] = r.query(airlock.QCheckWritable, airlock.CheckWritable{Op: "propose", ProposalID: "p3"}, &w)
			states[i].State = "open"
		})
	}
	wg.Wait()
	for i := range readers {
		if errs[i] != nil || states[i].State != "open" {
			t.Errorf("reader %d: %+v, %v", i, states[i], errs[i])
		}
	}
	if got := r.audit.rows("airlock_revert"); len(got) != 1 || !strings.Contains(got[0], `"reason":"ttl"`) {
		t.Errorf("airlock_revert rows %q, want one ttl row", got)
	}
	if got := r.event(); got != `airlock.reverted {"proposal_id":"p3","reason":"ttl"}` {
		t.Errorf("event %s", got)
	}
	r.noEvent()
}

// TestReplay_windows (A-8, A-9, INV-16): a window used to stage cannot stage again, for the
// same proposal after a revert or for another; and a land code from the staging window is
// refused as not strictly later even once the floor has passed.
func TestReplay_windows(t *testing.T) {
	r := newRig(t)
	r.cfg.Floor = time.Second // so the staging window is still current at the earliest land
	r.start(30 * time.Second)
	w := r.window()
	code := r.code()
	if err := r.do(airlock.CmdStage, airlock.Stage{ProposalID: "p1", Code: code}, nil); err != nil {
		t.Fatal(err)
	}
	r.event()

	r.at(2 * time.Second) // same window, floor passed
	err := r.do(airlock.CmdLand, airlock.Land{StagedOIDPrefix: candidateOf("p1")[:8], Code: code}, nil)
	mustContain(t, err, fmt.Sprint(w), "not strictly later")

	err = r.do(airlock.CmdStage, airlock.Stage{ProposalID: "p2", Code: code}, nil)
	mustContain(t, err, fmt.Sprint(w), "stage", "consume-once")
	if err := r.do(airlock.CmdRevert, airlock.Revert{ProposalID: "p1"}, nil); err != nil {
		t.Fatal(err)
	}
	r.event()
	err = r.do(airlock.CmdStage, airlock.Stage{ProposalID: "p1", Code: code}, nil)
	mustContain(t, err, fmt.Sprint(w), "stage", "consume-once")

	want := []string{
		fmt.Sprintf(`system totp_reject ref= oid= {"purpose":"land","object":"p1","window":%d,"min_window":%d,"reason":"not strictly later"}`, w, w),
		fmt.Sprintf(`system totp_reject ref= oid= {"purpose":"stage","object":"p2","window":%d,"reason":"replay"}`, w),
		fmt.Sprintf(`system totp_reject ref= oid= {"purpose":"stage","object":"p1","window":%d,"reason":"replay"}`, w),
	}
	if got := r.audit.rows("totp_reject"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rows\n got %q\nwant %q", got, want)
	}
	if n := len(r.audit.rows("airlock_stage")); n != 1 {
		t.Errorf("airlock_stage rows = %d", n)
	}
	r.noEvent()
	r.assertNoCodes()
}
