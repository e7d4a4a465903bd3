package totp_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stasima/stasima/services/airlock/internal/totp"
)

// FuzzParseSecret: the secret parser never panics, refuses only with ErrInvalidSecret, and an
// accepted secret is case- and padding-insensitive (A-2, D-34) and yields 6-digit codes.
func FuzzParseSecret(f *testing.F) {
	for _, s := range []string{rfcSecret, rfcSecret + "\n", strings.ToLower(rfcSecret[:26]), "GEZ", "", " \n", "AB CD", "MZXW6===", "ı"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		s, err := totp.ParseSecret(text)
		if err != nil {
			if !errors.Is(err, totp.ErrInvalidSecret) {
				t.Fatalf("error %v is not ErrInvalidSecret", err)
			}
			return
		}
		c, err := s.Code(1)
		if err != nil || len(c) != totp.Digits || strings.Trim(c, "0123456789") != "" {
			t.Fatalf("Code = %q, %v", c, err)
		}
		u, err := totp.ParseSecret(strings.ToUpper(strings.TrimRight(strings.TrimSpace(text), "=")))
		if err != nil {
			return // trimming Go whitespace may remove what Python strip keeps, or vice versa
		}
		if c2, _ := u.Code(1); c2 != c {
			t.Fatalf("upper-cased, unpadded secret gives %s, want %s", c2, c)
		}
	})
}
