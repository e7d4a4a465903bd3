package tlog_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/stasima/stasima/pkg/schema"
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
		{"long_hash", "o\n1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n"},
		{"hash_not_base64", "o\n1\n!wcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n"},
		{"size_negative", "o\n-1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n"},
		{"size_overflow", "o\n18446744073709551616\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n"},
		{"size_empty", "o\n\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tlog.ParseCheckpoint(tt.give); err == nil {
				t.Errorf("parsed %q", tt.give)
			}
		})
	}
}

// TestVerify_Refusals feeds the offline verifiers hostile proof files: each is refused with an
// error, none panics, and a proof that contradicts a well-signed checkpoint is a MismatchError.
func TestVerify_Refusals(t *testing.T) {
	const origin = "example.org/log"
	skey, vkey, err := tlog.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	otherS, _, _ := tlog.GenerateKey(rand.Reader, origin)
	sign := func(skey string, size uint64, b byte) string {
		msg, err := tlog.Sign(tlog.Checkpoint{Origin: origin, Size: size, Hash: bytes.Repeat([]byte{b}, 32)}, skey)
		if err != nil {
			t.Fatal(err)
		}
		return string(msg)
	}
	cp3, cpMax := sign(skey, 3, 7), sign(skey, math.MaxUint64, 7)
	forged := sign(otherS, 3, 7)
	h := strings.Repeat("ab", 32)
	row := func(seq int64) *schema.AuditRow { return &schema.AuditRow{Seq: seq, Hash: h} }
	zero := tlog.Encode([][]byte{make([]byte, 32), make([]byte, 32)})
	huge := make([]string, 10000)
	for i := range huge {
		huge[i] = zero[0]
	}
	tests := []struct {
		name     string
		give     schema.TlogProof
		mismatch bool
	}{
		{"wrong_kind", schema.TlogProof{Kind: "bogus", Checkpoint: cp3, Row: row(1)}, false},
		{"malformed_checkpoint", schema.TlogProof{Kind: schema.TlogInclusion, Checkpoint: "not a note", Row: row(1)}, false},
		{"forged_signature", schema.TlogProof{Kind: schema.TlogInclusion, Checkpoint: forged, Row: row(1), Proof: zero}, false},
		{"no_row", schema.TlogProof{Kind: schema.TlogInclusion, Checkpoint: cp3}, false},
		{"seq_zero", schema.TlogProof{Kind: schema.TlogInclusion, Checkpoint: cp3, Row: row(0)}, false},
		{"seq_negative", schema.TlogProof{Kind: schema.TlogInclusion, Checkpoint: cp3, Row: row(math.MinInt64)}, false},
		{"seq_beyond", schema.TlogProof{Kind: schema.TlogInclusion, Checkpoint: cp3, Row: row(math.MaxInt64)}, false},
		{"proof_not_base64", schema.TlogProof{Kind: schema.TlogInclusion, Checkpoint: cp3, Row: row(1), Proof: []string{"!!", "!!"}}, false},
		{"proof_short_hash", schema.TlogProof{Kind: schema.TlogInclusion, Checkpoint: cp3, Row: row(1), Proof: []string{"BwcH", "BwcH"}}, false},
		{"proof_wrong_path", schema.TlogProof{Kind: schema.TlogInclusion, Checkpoint: cp3, Row: row(1), Proof: zero}, true},
		{"proof_huge", schema.TlogProof{Kind: schema.TlogInclusion, Checkpoint: cpMax, Row: row(math.MaxInt64), Proof: huge}, true},
		{"leaf_hash_mismatch", schema.TlogProof{Kind: schema.TlogInclusion, Checkpoint: cp3, Row: row(1), LeafHash: h, Proof: zero}, true},
		{"consistency_forged_old", schema.TlogProof{Kind: schema.TlogConsistency, OldCheckpoint: forged, Checkpoint: cp3}, false},
		{"consistency_shrank", schema.TlogProof{Kind: schema.TlogConsistency, OldCheckpoint: cpMax, Checkpoint: cp3}, true},
		{"consistency_fork", schema.TlogProof{Kind: schema.TlogConsistency, OldCheckpoint: sign(skey, 3, 8), Checkpoint: cp3}, true},
		{"consistency_huge_sizes", schema.TlogProof{Kind: schema.TlogConsistency, OldCheckpoint: sign(skey, math.MaxUint64-1, 8), Checkpoint: cpMax, Proof: huge}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.give.Kind == schema.TlogConsistency {
				_, _, err = tlog.VerifyConsistency(tt.give, vkey)
			} else {
				_, err = tlog.VerifyInclusion(tt.give, vkey, nil)
			}
			var m *tlog.MismatchError
			if err == nil || errors.As(err, &m) != tt.mismatch {
				t.Errorf("err %v, want a refusal (mismatch %v)", err, tt.mismatch)
			}
		})
	}
}

func TestParseNote(t *testing.T) {
	skey, _, _ := tlog.GenerateKey(rand.Reader, "o")
	msg, err := tlog.Sign(tlog.Checkpoint{Origin: "o", Size: 5, Hash: make([]byte, 32)}, skey)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := tlog.ParseNote(string(msg)); err != nil || c.Size != 5 || c.Origin != "o" {
		t.Fatalf("parse %q: %+v %v", msg, c, err)
	}
	body := "o\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
	for name, give := range map[string]string{
		"body_only":         body,
		"no_signature_line": body + "\nnot a signature\n",
		"bad_body":          "o\n-5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— o sig\n",
		"empty":             "",
	} {
		if _, err := tlog.ParseNote(give); err == nil {
			t.Errorf("%s: parsed %q", name, give)
		}
	}
}
