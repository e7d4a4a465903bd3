package totp

import (
	"fmt"
	"time"

	"github.com/stasima/stasima/pkg/pytext"
)

// DiagnoseRange is how many windows either side of now totp-check searches for skew (O-totp-5).
const DiagnoseRange = 10

// Diagnosis is the result of totp-check (O-totp-5), in one of three shapes:
//
//	{valid: true, matched_window, current_window, note}   accepted by A-3
//	{valid: false, matched_window, skew, note}             right secret, clock skew beyond ±1
//	{valid: false, note}                                   no match within ±10 windows
type Diagnosis struct {
	Valid         bool   `json:"valid"`
	MatchedWindow *int64 `json:"matched_window,omitempty"`
	CurrentWindow *int64 `json:"current_window,omitempty"`
	Skew          string `json:"skew,omitempty"`
	Note          string `json:"note"`
}

// Notes of the diagnoses (from 1.0.0).
const (
	NoteValid   = "your authenticator and the server agree — the airlock will accept codes"
	NoteSkew    = "code is from the right secret but outside the ±1-window acceptance — sync the server or phone clock"
	NoteNoMatch = "no match within ±10 windows — mistyped code, or the app holds a different/old secret (re-provision with --force and re-add to the app)"
)

// Check diagnoses a code without consuming anything (O-totp-5): it writes no audit row and
// never records the code. A match in A-3's acceptance is valid; otherwise windows cur−10 …
// cur+10 are searched in ascending order and the first match reports its skew as
// "<±d> windows (≈ <±d*30>s)".
func Check(s Secret, code string, now time.Time) Diagnosis {
	cur := Window(now)
	if w, ok := Verify(s, code, now); ok {
		return Diagnosis{Valid: true, MatchedWindow: &w, CurrentWindow: &cur, Note: NoteValid}
	}
	code = pytext.Strip(code)
	for d := int64(-DiagnoseRange); d <= DiagnoseRange; d++ {
		if w := cur + d; s.matches(code, w) {
			return Diagnosis{MatchedWindow: &w, Skew: fmt.Sprintf("%+d windows (≈ %+ds)", d, d*Step),
				Note: NoteSkew}
		}
	}
	return Diagnosis{Note: NoteNoMatch}
}
