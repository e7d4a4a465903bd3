package totp

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/pquerna/otp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/stasima/stasima/pkg/pytext"
)

// RFC 6238 parameters of A-1.
const (
	Step   = 30 // seconds per window
	Digits = 6
)

// MaxCodeLifetime is the longest one code is accepted: its own window and one either side
// three steps. The review floor must exceed it.
const MaxCodeLifetime = 3 * Step * time.Second

var codeOpts = pqtotp.ValidateOpts{
	Period:    Step,
	Skew:      0, // the ±1 window acceptance is ours: the matched window must be known
	Digits:    otp.DigitsSix,
	Algorithm: otp.AlgorithmSHA1,
}

// Window returns the RFC 6238 window number of t: floor(unix_seconds / 30).
func Window(t time.Time) int64 {
	sec := t.Unix() // floor for instants before 1970 too
	w := sec / Step
	if sec%Step < 0 {
		w--
	}
	return w
}

// Code returns the 6-digit code of window w: RFC 4226 dynamic truncation of
// HMAC-SHA1(key, 8-byte big-endian w). Negative windows have no code.
func (s Secret) Code(w int64) (string, error) {
	if s.IsZero() {
		return "", errors.New("totp: no secret")
	}
	if w < 0 {
		return "", fmt.Errorf("totp: window %d is before the epoch", w)
	}
	// pquerna/otp's counter is floor(t.Unix()/Period); t = w*30 makes it exactly w.
	return pqtotp.GenerateCodeCustom(s.b32, time.Unix(w*Step, 0), codeOpts)
}

// matches reports in constant time whether code equals the code of window w.
func (s Secret) matches(code string, w int64) bool {
	want, err := s.Code(w)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1
}

// Verify implements A-3: the code, stripped of Python whitespace, is compared in constant time
// with the codes of windows cur, cur−1 and cur+1 (cur = Window(now)), in that order, and the
// first matching window is returned. The matched window, not cur, is what every later rule
// uses. All three comparisons always run, so timing does not tell which window matched.
func Verify(s Secret, code string, now time.Time) (window int64, ok bool) {
	code = pytext.Strip(code)
	cur := Window(now)
	for _, w := range [...]int64{cur, cur - 1, cur + 1} {
		if s.matches(code, w) && !ok {
			window, ok = w, true
		}
	}
	return window, ok
}
