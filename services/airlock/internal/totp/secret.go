// Package totp owns the airlock's RFC 6238 primitives (airlock.md §1) and the TOTP secret file
// (operations.md §6): parsing the secret (A-2, D-34), the window arithmetic, verification that
// returns the matched window, provisioning and rotation (O-totp-1…4) and the totp-check
// diagnostics (O-totp-5).
//
// Invariants: codes are never logged, stored or put into an error message (INV-16); a Secret
// prints as "[redacted]" through fmt, slog and encoding/json; the secret file is written with
// mode 0600 and replaced atomically. Only the airlock service reads the secret (ARCH-3), so
// this package is imported by services/airlock alone. github.com/pquerna/otp computes the codes.
package totp

import (
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/stasima/stasima/pkg/pytext"
)

// SecretFileName is the default base name of the secret file (O-totp-1).
const SecretFileName = "totp.secret"

// ErrNotProvisioned reports that the secret file does not exist (A-6, O-totp-5).
var ErrNotProvisioned = errors.New("totp secret not provisioned")

// ErrInvalidSecret reports a secret file whose content is not a usable base32 secret.
var ErrInvalidSecret = errors.New("totp secret is not valid base32")

// ErrInsecureMode reports a secret file that grants any permission to group or others.
var ErrInsecureMode = errors.New("totp secret is open to group or others")

// maxSecretFile bounds what Load reads: a secret is a few dozen bytes.
const maxSecretFile = 4096

const redacted = "[redacted]"

// Secret is a parsed TOTP shared secret. The zero value holds no secret. A Secret never
// reveals itself when printed, logged or marshalled; only this package reads its key.
type Secret struct {
	b32 string // canonical: ASCII upper case, '=' padded to a multiple of 8
}

// ParseSecret parses the text of a secret file: surrounding Python whitespace (CONV-1) is
// removed, the rest is decoded as RFC 4648 base32 case-insensitively with missing '=' padding
// added (D-34). Whitespace inside the secret is not removed, so it fails to decode; an empty
// secret is refused because an empty HMAC key is public.
func ParseSecret(text string) (Secret, error) {
	s := pytext.Strip(text)
	if s == "" {
		return Secret{}, fmt.Errorf("%w: the secret is empty", ErrInvalidSecret)
	}
	var b strings.Builder
	b.Grow(len(s) + 7)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A' // ASCII only: Python's casefold=True maps nothing else
		}
		b.WriteByte(c)
	}
	if n := b.Len() % 8; n != 0 {
		b.WriteString(strings.Repeat("=", 8-n))
	}
	canon := b.String()
	// Go's decoder silently skips '\r' and '\n'; A-2 keeps inner whitespace, so refuse any
	// byte outside the alphabet before decoding.
	body := strings.TrimRight(canon, "=")
	for i := 0; i < len(body); i++ {
		if c := body[i]; !('A' <= c && c <= 'Z' || '2' <= c && c <= '7') {
			return Secret{}, fmt.Errorf("%w: byte %d is not in the base32 alphabet", ErrInvalidSecret, i)
		}
	}
	key, err := base32.StdEncoding.DecodeString(canon)
	if err != nil || len(key) == 0 {
		return Secret{}, fmt.Errorf("%w: bad length or padding", ErrInvalidSecret)
	}
	return Secret{b32: canon}, nil
}

// IsZero reports whether s holds no secret.
func (s Secret) IsZero() bool { return s.b32 == "" }

// String returns "[redacted]".
func (s Secret) String() string { return redacted }

// GoString returns "[redacted]", so %#v does not print the key either.
func (s Secret) GoString() string { return redacted }

// LogValue implements slog.LogValuer: a Secret logs as "[redacted]".
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON encodes a Secret as the string "[redacted]".
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// unpadded is the secret as authenticator apps expect it in an otpauth URI.
func (s Secret) unpadded() string { return strings.TrimRight(s.b32, "=") }

// File is the secret file at Path. Every Load reads the file again, so a rotation
// (totp-provision --force) takes effect without a restart and a removed file means "not
// provisioned" at once.
type File struct {
	Path string
}

// Load reads and parses the secret. A missing file is ErrNotProvisioned; a file that group or
// others may access wraps ErrInsecureMode and names the chmod that fixes it, checked on the open
// file before its content is read (O-totp-1 writes 0600; a 1.0.0 deployment wrote it with the
// default umask, and a readable secret is a second factor anyone on the host holds);
// unparseable content wraps ErrInvalidSecret.
func (f File) Load() (Secret, error) {
	fh, err := os.Open(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return Secret{}, fmt.Errorf("%w: no secret at %s", ErrNotProvisioned, f.Path)
	}
	if err != nil {
		return Secret{}, fmt.Errorf("read totp secret: %w", err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return Secret{}, fmt.Errorf("read totp secret: %w", err)
	}
	if err := checkMode(f.Path, fi); err != nil {
		return Secret{}, err
	}
	b, err := io.ReadAll(io.LimitReader(fh, maxSecretFile+1))
	if err != nil {
		return Secret{}, fmt.Errorf("read totp secret: %w", err)
	}
	if len(b) > maxSecretFile {
		return Secret{}, fmt.Errorf("%s: %w: the file is over %d bytes", f.Path, ErrInvalidSecret, maxSecretFile)
	}
	s, err := ParseSecret(string(b))
	if err != nil {
		return Secret{}, fmt.Errorf("%s: %w", f.Path, err)
	}
	return s, nil
}

// Exists reports whether the secret file exists.
func (f File) Exists() (bool, error) {
	_, err := os.Stat(f.Path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, err
}

// CheckMode returns an error wrapping ErrInsecureMode when the secret file grants any
// permission to group or others (O-totp-1 writes 0600). A missing file is ErrNotProvisioned.
func (f File) CheckMode() error {
	fi, err := os.Stat(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: no secret at %s", ErrNotProvisioned, f.Path)
	}
	if err != nil {
		return err
	}
	return checkMode(f.Path, fi)
}

// checkMode refuses a secret file with any group or other permission bit, naming the fix.
func checkMode(path string, fi fs.FileInfo) error {
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %#o, want 0600 — run: chmod 600 %s", ErrInsecureMode, path, m, path)
	}
	return nil
}

// DefaultPath is the secret path when airlock_secret_path is empty (O-totp-1): totp.secret in
// the parent directory of gitDir, computed after removing trailing separators (D-26).
func DefaultPath(gitDir string) string {
	trimmed := strings.TrimRightFunc(gitDir, func(r rune) bool { return r < 0x80 && os.IsPathSeparator(uint8(r)) })
	if trimmed == "" {
		trimmed = gitDir
	}
	return filepath.Join(filepath.Dir(trimmed), SecretFileName)
}
