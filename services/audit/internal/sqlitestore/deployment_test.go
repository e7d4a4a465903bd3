package sqlitestore_test

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stasima/stasima/services/audit/internal/chain"
	"github.com/stasima/stasima/services/audit/internal/sqlitestore"
	"github.com/stasima/stasima/services/audit/internal/storetest"
)

// unpack extracts a .tar.gz into dir (regular files and directories only).
func unpack(t *testing.T, archive, dir string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatalf("deployment fixture missing (shared/ must sit beside the repository): %v", err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if !filepath.IsLocal(h.Name) {
			t.Fatalf("archive entry %q escapes the target", h.Name)
		}
		path := filepath.Join(dir, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(out, tr); err != nil {
				t.Fatal(err)
			}
			if err := out.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

type anchor struct {
	Seq  int64  `json:"seq"`
	Head string `json:"head"`
}

// README "What a Go implementation should do with it" step 3: the shipped 0.1.5 audit.sqlite
// opens, verifies with the same count and head, and matches the git anchor (U-52).
func TestDeployment015(t *testing.T) {
	dir := t.TempDir()
	unpack(t, filepath.Join(storetest.TestdataDir, "stasima-0.1.5-deployment.tar.gz"), dir)
	root := filepath.Join(dir, "stasima-0.1.5-deployment")

	b, err := os.ReadFile(filepath.Join(root, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var expected struct {
		Audit struct {
			Count  int64  `json:"count"`
			Head   string `json:"head"`
			Verify struct {
				OK          bool   `json:"ok"`
				FirstBadSeq *int64 `json:"first_bad_seq"`
			} `json:"verify"`
			VerifyAgainstAnchor bool   `json:"verify_against_anchor"`
			Anchor              anchor `json:"anchor"`
		} `json:"audit"`
	}
	if err := json.Unmarshal(b, &expected); err != nil {
		t.Fatal(err)
	}
	want := expected.Audit

	s, err := sqlitestore.Open(t.Context(), filepath.Join(root, "audit.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	if n, err := s.Count(ctx); err != nil || n != want.Count {
		t.Errorf("count = %d, %v; want %d", n, err, want.Count)
	}
	if tail, err := s.Tail(ctx); err != nil || tail.Hash != want.Head {
		t.Errorf("head = %s, %v; want %s", tail.Hash, err, want.Head)
	}
	ok, bad, err := chain.VerifyStore(ctx, s)
	if err != nil || ok != want.Verify.OK || want.Verify.FirstBadSeq != nil {
		t.Errorf("verify = (%v, %d), %v; want ok", ok, bad, err)
	}
	// The Merkle tree is built over the existing rows at open, additively.
	storetest.WantTree(t, s, int(want.Count))
	headAt, err := chain.HeadAtStore(ctx, s, want.Anchor.Seq)
	if err != nil {
		t.Fatal(err)
	}
	if (headAt == want.Anchor.Head) != want.VerifyAgainstAnchor {
		t.Errorf("head_at(%d) = %s, anchor %s, want verify_against_anchor %v",
			want.Anchor.Seq, headAt, want.Anchor.Head, want.VerifyAgainstAnchor)
	}

	// The anchor as git holds it, read with the git CLI as an oracle.
	git, err := exec.LookPath("git")
	if err != nil {
		t.Log("git not installed; anchor compared with expected.json only")
		return
	}
	out, err := exec.Command(git, "--git-dir", filepath.Join(root, "stasima.git"),
		"show", "refs/cap/audit-anchor:audit-head.json").Output()
	if err != nil {
		t.Fatalf("git show anchor: %v", err)
	}
	// U-50: compact JSON, key order seq, head.
	var got anchor
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if got != want.Anchor {
		t.Errorf("git anchor = %+v, expected.json has %+v", got, want.Anchor)
	}
	if compact := strings.TrimSpace(string(out)); compact != `{"seq":62,"head":"`+got.Head+`"}` {
		t.Errorf("anchor blob = %s", compact)
	}
	if headAt != got.Head {
		t.Errorf("head_at(%d) = %s, git anchor %s", got.Seq, headAt, got.Head)
	}
}

// Opening a 0.1.5 file adds the Go-only columns without touching any stored row, and a second
// open is a no-op.
func TestDeployment015_Reopen(t *testing.T) {
	dir := t.TempDir()
	unpack(t, filepath.Join(storetest.TestdataDir, "stasima-0.1.5-deployment.tar.gz"), dir)
	path := filepath.Join(dir, "stasima-0.1.5-deployment", "audit.sqlite")
	for range 2 {
		s, err := sqlitestore.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		storetest.WantVerify(t, s, 0)
		s.Close()
	}
	s, err := sqlitestore.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.AppendBatch(t.Context(), []chain.Intent{{ID: "go-1", Actor: "Recto", Op: "kip_commit", Session: "s468a90"}})
	if err != nil {
		t.Fatal(err)
	}
	if rows[0].Seq != 71 {
		t.Errorf("first Go row seq = %d, want 71", rows[0].Seq)
	}
	storetest.WantVerify(t, s, 0)
}
