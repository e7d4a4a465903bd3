package tlog_test

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/stasima/stasima/pkg/tlog"
)

func TestCheckpoint_SignOpen(t *testing.T) {
	skey, vkey, err := tlog.GenerateKey(rand.Reader, "example.org/log")
	if err != nil {
		t.Fatal(err)
	}
	c := tlog.Checkpoint{Origin: "example.org/log", Size: 70, Hash: bytes.Repeat([]byte{7}, 32)}
	msg, err := tlog.Sign(c, skey)
	if err != nil {
		t.Fatal(err)
	}
	// C2SP tlog-checkpoint: origin, size, base64 root, blank line, signature line.
	if !strings.HasPrefix(string(msg), "example.org/log\n70\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n\n— example.org/log ") {
		t.Fatalf("note:\n%s", msg)
	}
	got, _, err := tlog.Open(msg, vkey)
	if err != nil || got.Size != 70 || !bytes.Equal(got.Hash, c.Hash) {
		t.Fatalf("open: %+v, %v", got, err)
	}
	_, otherV, _ := tlog.GenerateKey(rand.Reader, "example.org/log")
	if _, _, err := tlog.Open(msg, otherV); err == nil {
		t.Error("opened with another key")
	}
	if _, err := tlog.Sign(tlog.Checkpoint{Origin: "other", Hash: c.Hash}, skey); err == nil {
		t.Error("signed another origin")
	}
	tampered := bytes.Replace(msg, []byte("\n70\n"), []byte("\n71\n"), 1)
	if _, _, err := tlog.Open(tampered, vkey); err == nil {
		t.Error("opened a changed size")
	}
}

func TestParseCheckpoint_Refusals(t *testing.T) {
	tests := []struct{ name, give string }{
		{"short", "o\n1\n"},
		{"no_origin", "\n1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n"},
		{"size_sign", "o\n+1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n"},
		{"size_leading_zero", "o\n01\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n"},
		{"short_hash", "o\n1\nBwcH\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tlog.ParseCheckpoint(tt.give); err == nil {
				t.Errorf("parsed %q", tt.give)
			}
		})
	}
}
