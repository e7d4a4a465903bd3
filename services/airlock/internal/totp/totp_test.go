package totp_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/services/airlock/internal/totp"
)

// rfcSecret is base32 of the ASCII bytes "12345678901234567890", RFC 6238's SHA-1 key.
const rfcSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

func mustParse(t *testing.T, text string) totp.Secret {
	t.Helper()
	s, err := totp.ParseSecret(text)
	if err != nil {
		t.Fatalf("ParseSecret(%q): %v", text, err)
	}
	return s
}

func code(t *testing.T, s totp.Secret, w int64) string {
	t.Helper()
	c, err := s.Code(w)
	if err != nil {
		t.Fatalf("Code(%d): %v", w, err)
	}
	return c
}

// TestSecret_Code checks RFC 6238 Appendix B (SHA-1), truncated to 6 digits.
func TestSecret_Code(t *testing.T) {
	s := mustParse(t, rfcSecret)
	tests := []struct {
		give int64 // unix seconds
		want string
	}{
		{59, "287082"},
		{1111111109, "081804"},
		{1111111111, "050471"},
		{1234567890, "005924"},
		{2000000000, "279037"},
		{20000000000, "353130"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.give), func(t *testing.T) {
			if got := code(t, s, totp.Window(time.Unix(tt.give, 0))); got != tt.want {
				t.Errorf("code at %d = %s, want %s", tt.give, got, tt.want)
			}
		})
	}
}

func TestWindow(t *testing.T) {
	tests := []struct {
		give time.Time
		want int64
	}{
		{time.Unix(0, 0), 0},
		{time.Unix(29, 999999999), 0},
		{time.Unix(30, 0), 1},
		{time.Unix(59, 0), 1},
		{time.Unix(-1, 0), -1},
		{time.Unix(-30, 0), -1},
		{time.Unix(-31, 0), -2},
	}
	for _, tt := range tests {
		if got := totp.Window(tt.give); got != tt.want {
			t.Errorf("Window(%v) = %d, want %d", tt.give.Unix(), got, tt.want)
		}
	}
}

// TestVerify covers: the matched window (not the current one) is returned, in the
// order cur, cur−1, cur+1; the code is stripped of Python whitespace only at its ends.
func TestVerify(t *testing.T) {
	s := mustParse(t, rfcSecret)
	now := time.Unix(1_700_000_015, 0)
	cur := totp.Window(now)
	tests := []struct {
		name   string
		give   string
		want   int64
		wantOK bool
	}{
		{"A-4 vector", "287082", 1, true}, // checked at time 59 below
		{"current", code(t, s, cur), cur, true},
		{"previous", code(t, s, cur-1), cur - 1, true},
		{"next", code(t, s, cur+1), cur + 1, true},
		{"two back", code(t, s, cur-2), 0, false},
		{"two ahead", code(t, s, cur+2), 0, false},
		{"surrounding space", " \t" + code(t, s, cur) + "\n", cur, true},
		{"python whitespace U+001F", "\x1f" + code(t, s, cur) + "\u2003", cur, true},
		{"inner space", code(t, s, cur)[:3] + " " + code(t, s, cur)[3:], 0, false},
		{"empty", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := now
			if tt.name == "A-4 vector" {
				at = time.Unix(59, 0)
			}
			w, ok := totp.Verify(s, tt.give, at)
			if ok != tt.wantOK || w != tt.want {
				t.Errorf("Verify = (%d, %v), want (%d, %v)", w, ok, tt.want, tt.wantOK)
			}
		})
	}
	if _, ok := totp.Verify(s, "000000", time.Unix(59, 0)); ok {
		t.Error("000000 verifies at time 59 (A-4)")
	}
	if _, ok := totp.Verify(totp.Secret{}, "287082", time.Unix(59, 0)); ok {
		t.Error("the zero Secret verifies a code")
	}
}

// TestParseSecret covers A-2 and D-34.
func TestParseSecret(t *testing.T) {
	want := mustParse(t, rfcSecret)
	wantCode := code(t, want, 1)
	tests := []struct {
		name    string
		give    string
		wantErr bool
	}{
		{"canonical", rfcSecret, false},
		{"file with newline", rfcSecret + "\n", false},
		{"lower case", strings.ToLower(rfcSecret), false},
		{"python whitespace around", "\u3000\x1c " + rfcSecret + "\r\n\x1e", false},
		{"inner space", rfcSecret[:8] + " " + rfcSecret[8:], true},
		{"inner newline", rfcSecret[:8] + "\n" + rfcSecret[8:], true},
		{"inner CR", rfcSecret[:8] + "\r" + rfcSecret[8:], true},
		{"empty", " \n", true},
		{"bad alphabet", "GEZDGNBVGY3TQOJ1", true},
		{"non-ASCII letter", "GEZDGNBVGY3TQOJı", true},
		{"impossible length", "GEZ", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := totp.ParseSecret(tt.give)
			if tt.wantErr {
				if !errors.Is(err, totp.ErrInvalidSecret) {
					t.Fatalf("err = %v, want ErrInvalidSecret", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := code(t, s, 1); got != wantCode {
				t.Errorf("code = %s, want %s", got, wantCode)
			}
		})
	}
}

// TestParseSecret_missingPadding is D-34: unpadded base32 whose length is not a multiple of 8
// decodes (0.1.5 failed every verification).
func TestParseSecret_missingPadding(t *testing.T) {
	// 10 bytes → 16 chars (no padding); 11 bytes → 18 chars + "======"; 13 → 21 + "===".
	for _, key := range []string{"0123456789", "0123456789a", "0123456789abc", "0123456789abcd"} {
		padded := b32(key)
		unpadded := strings.TrimRight(padded, "=")
		a, b, c := mustParse(t, padded), mustParse(t, unpadded), mustParse(t, strings.ToLower(unpadded)+"\n")
		if code(t, a, 42) != code(t, b, 42) || code(t, a, 42) != code(t, c, 42) {
			t.Errorf("key %q: padded, unpadded and lower-case secrets disagree", key)
		}
	}
}

func b32(s string) string {
	// A tiny independent encoder keeps the test from trusting the code under test.
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	var out []byte
	var buf, bits uint
	for i := 0; i < len(s); i++ {
		buf = buf<<8 | uint(s[i])
		bits += 8
		for bits >= 5 {
			out = append(out, alpha[(buf>>(bits-5))&31])
			bits -= 5
		}
	}
	if bits > 0 {
		out = append(out, alpha[(buf<<(5-bits))&31])
	}
	for len(out)%8 != 0 {
		out = append(out, '=')
	}
	return string(out)
}

// TestSecret_redacted: a Secret never shows its key through fmt, slog or JSON.
func TestSecret_redacted(t *testing.T) {
	s := mustParse(t, rfcSecret)
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("loaded", "secret", s, "group", slog.GroupValue(slog.Any("s", s)))
	js, err := json.Marshal(struct{ S totp.Secret }{s})
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v":   fmt.Sprintf("%v", s),
		"%+v":  fmt.Sprintf("%+v", struct{ S totp.Secret }{s}),
		"%#v":  fmt.Sprintf("%#v", s),
		"slog": logs.String(),
		"json": string(js),
	}
	for name, out := range outputs {
		if strings.Contains(strings.ToUpper(out), rfcSecret[:16]) || !strings.Contains(out, "[redacted]") {
			t.Errorf("%s output %q is not redacted", name, out)
		}
	}
}

func TestFile_Load(t *testing.T) {
	dir := t.TempDir()
	f := totp.File{Path: filepath.Join(dir, "totp.secret")}
	if _, err := f.Load(); !errors.Is(err, totp.ErrNotProvisioned) {
		t.Fatalf("missing file: err = %v, want ErrNotProvisioned", err)
	}
	if err := f.CheckMode(); !errors.Is(err, totp.ErrNotProvisioned) {
		t.Fatalf("CheckMode on missing file: err = %v", err)
	}
	if err := os.WriteFile(f.Path, []byte(strings.ToLower(rfcSecret[:26])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := f.Load()
	if err != nil {
		t.Fatal(err)
	}
	if s.IsZero() {
		t.Fatal("loaded secret is zero")
	}
	if err := f.CheckMode(); err != nil {
		t.Errorf("CheckMode(0600) = %v", err)
	}
	if err := os.Chmod(f.Path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.CheckMode(); err == nil {
		t.Error("CheckMode(0644) = nil, want an error")
	}
	if err := os.Chmod(f.Path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.Path, []byte("not base32!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Load(); !errors.Is(err, totp.ErrInvalidSecret) {
		t.Errorf("corrupt file: err = %v, want ErrInvalidSecret", err)
	} else if strings.Contains(err.Error(), "base32!") {
		t.Errorf("error %q quotes the file content", err)
	}
}

func TestDefaultPath(t *testing.T) {
	tests := []struct{ give, want string }{
		{"/srv/stasima/repo.git", "/srv/stasima/totp.secret"},
		{"/srv/stasima/repo.git/", "/srv/stasima/totp.secret"}, // D-26
		{"/srv/stasima/repo.git//", "/srv/stasima/totp.secret"},
		{"repo.git", "totp.secret"},
	}
	for _, tt := range tests {
		if got := totp.DefaultPath(tt.give); got != tt.want {
			t.Errorf("DefaultPath(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}

// TestURI is O-totp-2 with D-8: label and issuer percent-encoded.
func TestURI(t *testing.T) {
	s := mustParse(t, rfcSecret)
	tests := []struct{ issuer, want string }{
		{"Stasima", "otpauth://totp/Stasima:practitioner?secret=" + rfcSecret +
			"&issuer=Stasima&algorithm=SHA1&digits=6&period=30"},
		{"Tom & Jerry's Ops/ü", "otpauth://totp/Tom%20%26%20Jerry%27s%20Ops%2F%C3%BC:practitioner?secret=" +
			rfcSecret + "&issuer=Tom%20%26%20Jerry%27s%20Ops%2F%C3%BC&algorithm=SHA1&digits=6&period=30"},
		{"a:b?c#d=e+f", "otpauth://totp/a%3Ab%3Fc%23d%3De%2Bf:practitioner?secret=" + rfcSecret +
			"&issuer=a%3Ab%3Fc%23d%3De%2Bf&algorithm=SHA1&digits=6&period=30"},
	}
	for _, tt := range tests {
		if got := totp.URI(s, tt.issuer); got != tt.want {
			t.Errorf("URI(%q)\n got %s\nwant %s", tt.issuer, got, tt.want)
		}
	}
	if got := totp.URI(mustParse(t, rfcSecret[:26]), "Stasima"); !strings.Contains(got, "secret="+rfcSecret[:26]+"&") {
		t.Errorf("URI keeps '=' padding: %s", got)
	}
	if totp.Issuer("") != "Stasima" || totp.Issuer("Lab") != "Lab" {
		t.Error("Issuer: want deployment_name or Stasima")
	}
}

func secretOfFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func assertMode0600(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("secret file mode = %#o, want 0600", m)
	}
}

func assertOnlyFile(t *testing.T, dir, name string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != name {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only %s (temporary files must not stay behind)", names, name)
	}
}

// TestProvision covers O-totp-1, O-totp-3 and O-totp-4.
func TestProvision(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "totp.secret")
	rnd := bytes.NewReader(bytes.Repeat([]byte("0123456789abcdefghij"), 2))

	// O-totp-3: create.
	got, err := totp.Provision(path, totp.ProvisionOptions{Issuer: "Lab One", Rand: rnd})
	if err != nil {
		t.Fatal(err)
	}
	first := secretOfFile(t, path)
	wantText := b32("0123456789abcdefghij")
	if first != wantText+"\n" || len(wantText) != 32 {
		t.Fatalf("file holds %q, want the 32-char secret and a newline", first)
	}
	assertMode0600(t, path)
	assertOnlyFile(t, dir, "totp.secret")
	wantURI := "otpauth://totp/Lab%20One:practitioner?secret=" + wantText +
		"&issuer=Lab%20One&algorithm=SHA1&digits=6&period=30"
	if got.SecretPath != path || got.OTPAuthURI != wantURI || got.Rotated != nil || got.Note == "" {
		t.Errorf("create = %+v", got)
	}
	js, _ := json.Marshal(got)
	if !strings.HasPrefix(string(js), `{"secret_path":`) || strings.Contains(string(js), "rotated") {
		t.Errorf("create JSON = %s", js)
	}

	// O-totp-4: refuse without flags, naming the path, --force and --qr.
	_, err = totp.Provision(path, totp.ProvisionOptions{})
	if !fault.Is(err, fault.AirlockError) {
		t.Fatalf("existing secret: err = %v, want AirlockError", err)
	}
	for _, tok := range []string{path, "--force", "invalidates", "--qr"} {
		if !strings.Contains(err.Error(), tok) {
			t.Errorf("refusal %q lacks %q", err, tok)
		}
	}

	// O-totp-4: --qr re-displays without rotating.
	got, err = totp.Provision(path, totp.ProvisionOptions{QR: true, Issuer: "Lab One"})
	if err != nil {
		t.Fatal(err)
	}
	if got.OTPAuthURI != wantURI || got.Rotated == nil || *got.Rotated || secretOfFile(t, path) != first {
		t.Errorf("re-display = %+v", got)
	}
	js, _ = json.Marshal(got)
	if !strings.Contains(string(js), `"rotated":false`) {
		t.Errorf("re-display JSON = %s", js)
	}

	// O-totp-4: --force rotates atomically, still 0600.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err = totp.Provision(path, totp.ProvisionOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	rotated := secretOfFile(t, path)
	if rotated == first || len(rotated) != 33 {
		t.Errorf("rotation left %q", rotated)
	}
	if !strings.Contains(got.OTPAuthURI, "secret="+strings.TrimSpace(rotated)+"&issuer=Stasima&") {
		t.Errorf("rotated URI = %s", got.OTPAuthURI)
	}
	assertMode0600(t, path)
	assertOnlyFile(t, dir, "totp.secret")
	if _, err := (totp.File{Path: path}).Load(); err != nil {
		t.Errorf("rotated secret does not load: %v", err)
	}
}

func TestProvision_missingDirectory(t *testing.T) {
	_, err := totp.Provision(filepath.Join(t.TempDir(), "nope", "totp.secret"), totp.ProvisionOptions{})
	if err == nil {
		t.Fatal("provision into a missing directory succeeded")
	}
}

// TestCheck is O-totp-5.
func TestCheck(t *testing.T) {
	s := mustParse(t, rfcSecret)
	now := time.Unix(1_700_000_015, 0)
	cur := totp.Window(now)
	tests := []struct {
		name string
		give string
		want string
	}{
		{"valid current", code(t, s, cur), fmt.Sprintf(`{"valid":true,"matched_window":%d,"current_window":%d,"note":%q}`, cur, cur, totp.NoteValid)},
		{"valid previous", code(t, s, cur-1), fmt.Sprintf(`{"valid":true,"matched_window":%d,"current_window":%d,"note":%q}`, cur-1, cur, totp.NoteValid)},
		{"skew ahead", code(t, s, cur+2), fmt.Sprintf(`{"valid":false,"matched_window":%d,"skew":"+2 windows (≈ +60s)","note":%q}`, cur+2, totp.NoteSkew)},
		{"skew behind", code(t, s, cur-10), fmt.Sprintf(`{"valid":false,"matched_window":%d,"skew":"-10 windows (≈ -300s)","note":%q}`, cur-10, totp.NoteSkew)},
		{"out of range", code(t, s, cur+11), fmt.Sprintf(`{"valid":false,"note":%q}`, totp.NoteNoMatch)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(totp.Check(s, tt.give, now))
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("Check\n got %s\nwant %s", b, tt.want)
			}
		})
	}
}

func TestGenerateSecret(t *testing.T) {
	s, text, err := totp.GenerateSecret(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(text) != 32 || strings.ToUpper(text) != text || s.IsZero() {
		t.Errorf("GenerateSecret = %q", text)
	}
	if _, _, err := totp.GenerateSecret(bytes.NewReader([]byte("short"))); err == nil {
		t.Error("a short random source was accepted")
	}
}

// TestFile_Mode: a secret file that group or others may access is refused on every load, before
// its content is read, with the chmod that fixes it (O-totp-1); owner-only modes load.
func TestFile_Mode(t *testing.T) {
	tests := []struct {
		give fs.FileMode
		ok   bool
	}{
		{0o600, true},
		{0o400, true},
		{0o700, true},
		{0o640, false},
		{0o604, false},
		{0o644, false},
		{0o660, false},
		{0o610, false},
		{0o601, false},
		{0o666, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%#o", tt.give), func(t *testing.T) {
			f := totp.File{Path: filepath.Join(t.TempDir(), "totp.secret")}
			if err := os.WriteFile(f.Path, []byte(rfcSecret+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(f.Path, tt.give); err != nil {
				t.Fatal(err)
			}
			_, loadErr := f.Load()
			modeErr := f.CheckMode()
			if tt.ok {
				if loadErr != nil || modeErr != nil {
					t.Fatalf("Load = %v, CheckMode = %v; want both nil", loadErr, modeErr)
				}
				return
			}
			for _, err := range []error{loadErr, modeErr} {
				if !errors.Is(err, totp.ErrInsecureMode) {
					t.Fatalf("err = %v, want ErrInsecureMode", err)
				}
				for _, want := range []string{fmt.Sprintf("mode %#o", tt.give), "chmod 600 " + f.Path} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q lacks %q", err, want)
					}
				}
			}
		})
	}
}
