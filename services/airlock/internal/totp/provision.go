package totp

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/stasima/stasima/pkg/fault"
)

// SecretBytes is the size of a generated secret (O-totp-1): 20 random bytes, 32 base32 chars.
const SecretBytes = 20

// DefaultIssuer is the issuer when deployment_name is empty (O-totp-2).
const DefaultIssuer = "Stasima"

// Account is the account half of the otpauth label (O-totp-2).
const Account = "practitioner"

// LandAccount is the account half of the label of the land factor (airlock_land_secret): a
// second authenticator entry, named apart so the practitioner reads the right code for a land.
const LandAccount = "practitioner-land"

// Issuer returns the otpauth issuer of a deployment: its name, or DefaultIssuer.
func Issuer(deploymentName string) string {
	if deploymentName == "" {
		return DefaultIssuer
	}
	return deploymentName
}

// GenerateSecret draws SecretBytes from r (crypto/rand when nil) and returns the secret and its
// base32 text (RFC 4648, upper case, 32 characters, no padding needed).
func GenerateSecret(r io.Reader) (Secret, string, error) {
	if r == nil {
		r = rand.Reader
	}
	key := make([]byte, SecretBytes)
	if _, err := io.ReadFull(r, key); err != nil {
		return Secret{}, "", fmt.Errorf("generate totp secret: %w", err)
	}
	text := base32.StdEncoding.EncodeToString(key)
	s, err := ParseSecret(text)
	return s, text, err
}

// URI returns the otpauth URI of O-totp-2:
//
//	otpauth://totp/<label>?secret=<secret>&issuer=<issuer>&algorithm=SHA1&digits=6&period=30
//
// with label = <issuer>:practitioner. The issuer and the account are percent-encoded (D-8)
// separately and joined by a literal ':', the separator of the Key URI format; the secret is
// given without '=' padding, as authenticators expect.
func URI(s Secret, issuer string) string { return AccountURI(s, issuer, Account) }

// AccountURI is URI with another account in the label: <issuer>:<account>, as LandAccount
// labels the land factor.
func AccountURI(s Secret, issuer, account string) string {
	esc := percentEncode(issuer)
	return "otpauth://totp/" + esc + ":" + percentEncode(account) +
		"?secret=" + s.unpadded() + "&issuer=" + esc +
		fmt.Sprintf("&algorithm=SHA1&digits=%d&period=%d", Digits, Step)
}

// percentEncode escapes every byte outside RFC 3986's unreserved set (ALPHA, DIGIT, '-', '.',
// '_', '~'), so the result is safe in both the path and the query of a URI.
func percentEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// ProvisionOptions are the flags of totp-provision (O-totp-3/4).
type ProvisionOptions struct {
	Force  bool   // rotate an existing secret
	QR     bool   // with an existing secret and no Force: re-display it
	Issuer string // Issuer(deployment_name)
	// Account is the account half of the label: Account when empty, LandAccount for the land
	// factor.
	Account string
	Rand    io.Reader // nil: crypto/rand
}

// Provisioned is the result of totp-provision. Rotated is set (false) only when an existing
// secret was re-displayed (O-totp-4). The QR rendering is RenderQR's.
type Provisioned struct {
	SecretPath string `json:"secret_path"`
	OTPAuthURI string `json:"otpauth_uri"`
	Rotated    *bool  `json:"rotated,omitempty"`
	Note       string `json:"note"`
}

// Notes of the provisioning results (from 1.0.0).
const (
	NoteCreated     = "scan the QR (or enter the secret= value manually); the secret stays server-side, never in git — if the QR won't scan, terminal polarity is the usual culprit; the manual key always works"
	NoteRedisplayed = "existing secret re-displayed; scan the QR or enter the secret= value manually"
)

// Provision implements totp-provision (O-totp-3/4) for the secret file at path:
//   - no secret: create one;
//   - a secret and Force: rotate it (a new secret replaces the file atomically);
//   - a secret and QR only: re-display it (Rotated false, nothing written);
//   - a secret and neither: refuse with an AirlockError naming the path, --force and --qr.
//
// The file holds the base32 secret and "\n", mode 0600 (best effort where the OS lacks POSIX
// modes). It is written to a temporary file in the same directory, synced and then linked (new)
// or renamed (rotation) into place, so a reader never sees a partial secret and two concurrent
// first provisions cannot both win.
func Provision(path string, opt ProvisionOptions) (Provisioned, error) {
	const op = "totp-provision"
	issuer := opt.Issuer
	if issuer == "" {
		issuer = DefaultIssuer
	}
	account := opt.Account
	if account == "" {
		account = Account
	}
	f := File{Path: path}
	exists, err := f.Exists()
	if err != nil {
		return Provisioned{}, fmt.Errorf("%s: %w", op, err)
	}
	if exists && !opt.Force {
		if !opt.QR {
			return Provisioned{}, refuseExisting(op, path)
		}
		s, err := f.Load()
		if err != nil {
			return Provisioned{}, fmt.Errorf("%s: %w", op, err)
		}
		rotated := false
		return Provisioned{SecretPath: path, OTPAuthURI: AccountURI(s, issuer, account), Rotated: &rotated,
			Note: NoteRedisplayed}, nil
	}
	s, text, err := GenerateSecret(opt.Rand)
	if err != nil {
		return Provisioned{}, fmt.Errorf("%s: %w", op, err)
	}
	if err := writeSecretFile(path, text+"\n", exists); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return Provisioned{}, refuseExisting(op, path)
		}
		return Provisioned{}, fmt.Errorf("%s: %w", op, err)
	}
	return Provisioned{SecretPath: path, OTPAuthURI: AccountURI(s, issuer, account), Note: NoteCreated}, nil
}

func refuseExisting(op, path string) error {
	return fault.E(op, fault.AirlockError,
		"secret already exists at %s — pass --force to rotate (rotating invalidates the "+
			"practitioner's current authenticator entry), or --qr to re-display it", path)
}

// writeSecretFile writes content to path with mode 0600 through a synced temporary file.
// replace renames over an existing file; otherwise the file is linked into place and an
// existing path fails with fs.ErrExist.
func writeSecretFile(path, content string, replace bool) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".totp-secret-*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer func() {
		// After a link the temporary name is a second link to the secret; after a rename it is
		// gone. Either way it must not stay behind.
		if rmErr := os.Remove(tmpName); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) && err == nil {
			err = rmErr
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if replace {
		err = os.Rename(tmpName, path)
	} else {
		err = os.Link(tmpName, path)
	}
	if err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename or link in dir durable; platforms that cannot sync a directory are
// not an error.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) && !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	return nil
}
