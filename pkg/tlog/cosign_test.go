package tlog

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// A cosignature/v1 verifies with the cosigner's 0x04 vkey, states its timestamp, and fails for
// another checkpoint body or another key; the log's own signature stays beside it.
func TestCosignatureV1(t *testing.T) {
	skey, vkey, err := GenerateKey(rand.Reader, "example.com/log")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := Sign(Checkpoint{Origin: "example.com/log", Size: 3, Hash: make([]byte, 32)}, skey)
	if err != nil {
		t.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	c, err := NewCosigner("witness.example.com/w1", priv, func() uint64 { return 1679315147 })
	if err != nil {
		t.Fatal(err)
	}
	_, n, err := Open(msg, vkey)
	if err != nil {
		t.Fatal(err)
	}
	out, err := note.Sign(&note.Note{Text: n.Text, Sigs: n.Sigs}, c)
	if err != nil {
		t.Fatal(err)
	}
	cv, err := NewCosignatureVerifier(c.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	lv, _ := note.NewVerifier(vkey)
	got, err := note.Open(out, note.VerifierList(lv, cv))
	if err != nil || len(got.Sigs) != 2 {
		t.Fatalf("open the cosigned checkpoint: %v %+v", err, got)
	}
	if ts, err := CosignatureTime(got.Sigs[1].Base64); err != nil || ts != 1679315147 {
		t.Fatalf("cosignature time %d %v", ts, err)
	}
	forged := strings.Replace(string(out), "\n3\n", "\n4\n", 1)
	if _, err := note.Open([]byte(forged), note.VerifierList(lv, cv)); err == nil {
		t.Fatal("a cosignature verified over another body")
	}
	if !strings.HasPrefix(strings.SplitN(c.VerifierKey(), "+", 3)[2], "B") { // base64 of 0x04…
		t.Fatalf("vkey %s does not carry signature type 0x04", c.VerifierKey())
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	c2, _ := NewCosigner("witness.example.com/w1", other, func() uint64 { return 1 })
	cv2, _ := NewCosignatureVerifier(c2.VerifierKey())
	if n, err := note.Open(out, note.VerifierList(lv, cv2)); err != nil || len(n.Sigs) != 1 || len(n.UnverifiedSigs) != 1 {
		t.Fatalf("with another cosigner key: %v; the cosignature must stay unverified", err)
	}
}

// Malformed cosigner keys and cosignatures are refused, never a panic.
func TestCosignatureV1_Refusals(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	c, err := NewCosigner("w", priv, func() uint64 { return 1 })
	if err != nil {
		t.Fatal(err)
	}
	good := c.VerifierKey()
	parts := strings.SplitN(good, "+", 3)
	for name, vkey := range map[string]string{
		"empty":         "",
		"no_hash":       "w",
		"no_name":       "+" + parts[1] + "+" + parts[2],
		"short_hash":    "w+1234+" + parts[2],
		"hash_mismatch": "w+00000000+" + parts[2],
		"not_base64":    "w+" + parts[1] + "+!!!!",
		"ed25519_type":  "w+" + parts[1] + "+AQ" + parts[2][2:],
		"short_key":     "w+" + parts[1] + "+BAAA",
	} {
		if _, err := NewCosignatureVerifier(vkey); err == nil {
			t.Errorf("%s: accepted %q", name, vkey)
		}
	}
	cv, _ := NewCosignatureVerifier(good)
	for _, sig := range [][]byte{nil, make([]byte, 8), make([]byte, 8+ed25519.SignatureSize), append(bytes.Repeat([]byte{0xff}, 8), make([]byte, ed25519.SignatureSize)...)} {
		if cv.Verify([]byte("o\n1\nx\n"), sig) {
			t.Errorf("verified signature %x", sig)
		}
	}
	for _, s := range []string{"", "!!", "AAAA"} {
		if _, err := CosignatureTime(s); err == nil {
			t.Errorf("cosignature time of %q", s)
		}
	}
	for _, name := range []string{"", "a+b", "a b", "a\nb"} {
		if _, err := NewCosigner(name, priv, nil); err == nil {
			t.Errorf("cosigner name %q accepted", name)
		}
	}
	if _, err := NewCosigner("w", priv[:10], nil); err == nil {
		t.Error("short private key accepted")
	}
}
