package tlog

import (
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
