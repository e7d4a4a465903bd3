package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"

	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/pkg/tlog"
)

// forkLog is a log's tree whose rows are named by label: two logs sharing labels up to a point
// share that prefix of their trees.
func forkLog(labels ...string) *testonly.Tree {
	tr := testonly.New(tlog.Hasher)
	for _, l := range labels {
		h := sha256.Sum256([]byte(l))
		tr.Append(tlog.LeafHash(hex.EncodeToString(h[:])))
	}
	return tr
}

func labels(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

func witnessCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(append([]string{"witness"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// Two witnesses cosign the same history; the log then forks, showing each witness a different
// continuation with a valid consistency proof from what it cosigned. Each cosigns its own; when
// the second is shown the other branch, it refuses with "fork detected" and both roots. A
// shrunken or same-size-different-root checkpoint is refused too; the cosigned note carries
// the log's and the witness's signatures.
func TestWitness_ForkDetected(t *testing.T) {
	dir := t.TempDir()
	skey, vkey, err := tlog.GenerateKey(rand.Reader, "stasima.test/audit")
	if err != nil {
		t.Fatal(err)
	}
	file := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	checkpoint := func(name string, tr *testonly.Tree) (string, []byte) {
		msg, err := tlog.Sign(tlog.Checkpoint{Origin: "stasima.test/audit", Size: tr.Size(), Hash: tr.Hash()}, skey)
		if err != nil {
			t.Fatal(err)
		}
		return file(name, msg), msg
	}
	consistency := func(name string, tr *testonly.Tree, from uint64) string {
		p, err := tr.ConsistencyProof(from, tr.Size())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(schema.TlogProof{Kind: schema.TlogConsistency, Proof: tlog.Encode(p)})
		return file(name, b)
	}
	common := labels("row", 0, 8)
	a := forkLog(append(common, labels("a", 8, 16)...)...)
	b := forkLog(append(common, labels("b", 8, 16)...)...)
	shared := forkLog(common...)
	cp8, _ := checkpoint("cp8", shared)
	w1 := []string{"--key", filepath.Join(dir, "w1.key"), "--log-key", vkey, "--state", filepath.Join(dir, "w1")}
	w2 := []string{"--key", filepath.Join(dir, "w2.key"), "--log-key", vkey, "--state", filepath.Join(dir, "w2")}
	for _, w := range [][]string{w1, w2} {
		code, out, errs := witnessCLI(append(w, cp8)...)
		if code != 0 || strings.Count(out, "\n— ") != 2 {
			t.Fatalf("cosign cp8: %d %q %s", code, out, errs)
		}
		// The cosignature is C2SP cosignature/v1: it verifies with the witness's 0x04 vkey.
		_, wkey, _ := strings.Cut(strings.TrimSpace(errs), "verifier key (cosignature/v1): ")
		cv, err := tlog.NewCosignatureVerifier(wkey)
		if err != nil {
			t.Fatalf("witness vkey %q: %v", wkey, err)
		}
		lv, _ := note.NewVerifier(vkey)
		n, err := note.Open([]byte(out), note.VerifierList(lv, cv))
		if err != nil || len(n.Sigs) != 2 {
			t.Fatalf("cosigned cp8 with the log's and the witness's keys: %v", err)
		}
		if ts, err := tlog.CosignatureTime(n.Sigs[1].Base64); err != nil || ts == 0 {
			t.Fatalf("cosignature time %d %v", ts, err)
		}
	}
	cpA, _ := checkpoint("cpA", a)
	cpB, _ := checkpoint("cpB", b)
	if code, _, errs := witnessCLI(append(w1, "--proof", consistency("pA", a, 8), cpA)...); code != 0 {
		t.Fatalf("w1 cosign A: %d %s", code, errs)
	}
	if code, _, errs := witnessCLI(append(w2, "--proof", consistency("pB", b, 8), cpB)...); code != 0 {
		t.Fatalf("w2 cosign B: %d %s", code, errs)
	}
	// Gossip: the second witness is shown the first's branch.
	code, _, errs := witnessCLI(append(w2, cpA)...)
	wantRoots := fmt.Sprintf("cosigned size 16 root %x, offered size 16 root %x", b.Hash(), a.Hash())
	if code != 1 || !strings.Contains(errs, "fork detected") || !strings.Contains(errs, wantRoots) {
		t.Fatalf("w2 shown A: %d %s; want fork detected with %s", code, errs, wantRoots)
	}
	// A proof that does not lead from the cosigned tree is a fork too; so is a rollback.
	a20 := forkLog(append(append(common, labels("a", 8, 16)...), labels("a", 16, 20)...)...)
	cpA20, _ := checkpoint("cpA20", a20)
	if code, _, errs := witnessCLI(append(w2, "--proof", consistency("pA20", a20, 16), cpA20)...); code != 1 || !strings.Contains(errs, "fork detected") {
		t.Fatalf("w2 shown A20: %d %s", code, errs)
	}
	if code, _, errs := witnessCLI(append(w1, cp8)...); code != 1 || !strings.Contains(errs, "fork detected") {
		t.Fatalf("w1 rolled back to 8: %d %s", code, errs)
	}
	// The honest continuation is still cosigned.
	if code, _, errs := witnessCLI(append(w1, "--proof", consistency("pA20b", a20, 16), cpA20)...); code != 0 {
		t.Fatalf("w1 cosign A20: %d %s", code, errs)
	}
}

// The witness refuses hostile files with exit 1 and a message, and survives each: a
// checkpoint that is garbage, oversized or signed by another key, a proof file that is no
// consistency proof or an oversized path, a corrupt state, a state pinned to another log key,
// and a witness key that others may read or that is no key.
func TestWitness_Refusals(t *testing.T) {
	skey, vkey, err := tlog.GenerateKey(rand.Reader, "stasima.test/audit")
	if err != nil {
		t.Fatal(err)
	}
	otherS, otherV, _ := tlog.GenerateKey(rand.Reader, "stasima.test/audit")
	sign := func(skey string, tr *testonly.Tree) []byte {
		msg, err := tlog.Sign(tlog.Checkpoint{Origin: "stasima.test/audit", Size: tr.Size(), Hash: tr.Hash()}, skey)
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	small, grown := forkLog(labels("r", 0, 4)...), forkLog(labels("r", 0, 8)...)
	huge := make([]string, 10000)
	for i := range huge {
		huge[i] = tlog.Encode([][]byte{make([]byte, 32)})[0]
	}
	hugeProof, _ := json.Marshal(schema.TlogProof{Kind: schema.TlogConsistency, Proof: huge})
	inclusion, _ := json.Marshal(schema.TlogProof{Kind: schema.TlogInclusion})
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string, w []string) []string // extra arguments
	}{
		{"checkpoint_garbage", func(t *testing.T, dir string, w []string) []string {
			return []string{witnessFile(t, dir, "cp", "\xff\x00garbage", 0o644)}
		}},
		{"checkpoint_oversized", func(t *testing.T, dir string, w []string) []string {
			p := witnessFile(t, dir, "cp", "", 0o644)
			if err := os.Truncate(p, maxProofFile+1); err != nil {
				t.Fatal(err)
			}
			return []string{p}
		}},
		{"checkpoint_other_key", func(t *testing.T, dir string, w []string) []string {
			return []string{witnessFile(t, dir, "cp", string(sign(otherS, small)), 0o644)}
		}},
		{"proof_not_json", func(t *testing.T, dir string, w []string) []string {
			return []string{"--proof", witnessFile(t, dir, "p", "{", 0o644), witnessFile(t, dir, "cp", string(sign(skey, small)), 0o644)}
		}},
		{"proof_inclusion_kind", func(t *testing.T, dir string, w []string) []string {
			return []string{"--proof", witnessFile(t, dir, "p", string(inclusion), 0o644), witnessFile(t, dir, "cp", string(sign(skey, small)), 0o644)}
		}},
		{"proof_huge_path", func(t *testing.T, dir string, w []string) []string {
			if code, _, errs := witnessCLI(append(w, witnessFile(t, dir, "cp4", string(sign(skey, small)), 0o644))...); code != 0 {
				t.Fatalf("cosign the first: %d %s", code, errs)
			}
			return []string{"--proof", witnessFile(t, dir, "p", string(hugeProof), 0o644), witnessFile(t, dir, "cp", string(sign(skey, grown)), 0o644)}
		}},
		{"state_corrupt", func(t *testing.T, dir string, w []string) []string {
			witnessFile(t, filepath.Join(dir, "state"), witnessLast, "\xff\x00garbage", 0o600)
			return []string{witnessFile(t, dir, "cp", string(sign(skey, small)), 0o644)}
		}},
		{"state_other_log_key", func(t *testing.T, dir string, w []string) []string {
			witnessFile(t, filepath.Join(dir, "state"), witnessLogKey, otherV+"\n", 0o600)
			return []string{witnessFile(t, dir, "cp", string(sign(skey, small)), 0o644)}
		}},
		{"witness_key_readable", func(t *testing.T, dir string, w []string) []string {
			wkey, _, _ := note.GenerateKey(rand.Reader, "w")
			witnessFile(t, dir, "w.key", wkey+"\n", 0o644)
			return []string{witnessFile(t, dir, "cp", string(sign(skey, small)), 0o644)}
		}},
		{"witness_key_garbage", func(t *testing.T, dir string, w []string) []string {
			witnessFile(t, dir, "w.key", "PRIVATE+KEY+w+00000000+!!!!\n", 0o600)
			return []string{witnessFile(t, dir, "cp", string(sign(skey, small)), 0o644)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "state"), 0o700); err != nil {
				t.Fatal(err)
			}
			w := []string{"--key", filepath.Join(dir, "w.key"), "--log-key", vkey, "--state", filepath.Join(dir, "state")}
			args := append(w, tt.setup(t, dir, w)...)
			if code, out, errs := witnessCLI(args...); code != 1 || out != "" || errs == "" {
				t.Fatalf("exit %d, stdout %.80q, stderr %.200q; want a refusal", code, out, errs)
			}
		})
	}
}

// witnessFile writes data to dir/name with mode and returns its path.
func witnessFile(t *testing.T, dir, name, data string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}
