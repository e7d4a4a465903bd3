package gitstore

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stasima/stasima/pkg/commitmsg"
)

// clock is a fake commit clock: each call advances one second, unless frozen.
type clock struct {
	mu     sync.Mutex
	t      time.Time
	frozen bool
}

func newClock() *clock {
	return &clock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 5*3600))}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen {
		c.t = c.t.Add(time.Second)
	}
	return c.t
}

func (c *clock) freeze(b bool) {
	c.mu.Lock()
	c.frozen = b
	c.mu.Unlock()
}

func openStore(t testing.TB, dir string, clk *clock) *Store {
	t.Helper()
	s, err := Open(Config{Dir: dir, CommitterName: "capstore", CommitterEmail: "capstore@stasima.local", Now: clk.Now})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newStore(t testing.TB) (*Store, string, *clock) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo.git")
	clk := newClock()
	return openStore(t, dir, clk), dir, clk
}

// gitCLI runs the git CLI on the bare repository: a test oracle only.
func gitCLI(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := gitCmd(dir, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func gitCmd(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"--git-dir=" + dir}, args...)...)
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_LITERAL_PATHSPECS=1",
		"GIT_AUTHOR_NAME=oracle", "GIT_AUTHOR_EMAIL=oracle@test", "GIT_COMMITTER_NAME=oracle",
		"GIT_COMMITTER_EMAIL=oracle@test")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// fsck runs git fsck on the repository once s (when not nil) has finished
// consolidating packs: git fsck, unlike git's readers, does not tolerate packs
// removed while it runs.
func fsck(t testing.TB, s *Store, dir string) {
	t.Helper()
	if s != nil {
		s.waitConsolidated()
	}
	gitCLI(t, dir, "fsck", "--strict", "--no-dangling")
}

// countObjects counts the objects stored, loose and packed (git's count).
func countObjects(t testing.TB, dir string) int {
	t.Helper()
	n := 0
	for _, l := range lines(gitCLI(t, dir, "count-objects", "-v")) {
		k, v, _ := strings.Cut(l, ": ")
		if k == "count" || k == "in-pack" {
			c, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("count-objects: %q", l)
			}
			n += c
		}
	}
	return n
}

// put is a one-file seat commit shaped like C-commit-2.
func put(path, data string) Change { return Change{Path: path, Data: []byte(data)} }

func del(path string) Change { return Change{Path: path, Delete: true} }

func seatRequest(ref, parent, opID string, changes ...Change) CommitRequest {
	return CommitRequest{
		Ref: ref, Parent: parent, Changes: changes,
		AuthorName: "seat-1", AuthorEmail: "seat-1@stasima.local",
		Message: "KIP x\n\nop-id: " + opID + "\ninstance-id: seat-1",
		OpID:    opID,
	}
}

func mustCommit(t testing.TB, s *Store, req CommitRequest) CommitResult {
	t.Helper()
	res, err := s.Commit(context.Background(), req)
	if err != nil {
		t.Fatalf("Commit(%s, %q): %v", req.Ref, req.OpID, err)
	}
	return res
}

func mustResolve(t testing.TB, s *Store, ref string) string {
	t.Helper()
	oid, ok, err := s.Resolve(ref)
	if err != nil || !ok {
		t.Fatalf("Resolve(%s) = %q, %v, %v", ref, oid, ok, err)
	}
	return oid
}

// opIDOf is the op-id trailer of a commit message ("" when absent).
func opIDOf(msg string) string {
	v, _ := commitmsg.Trailer(msg, commitmsg.OpIDKey)
	return v
}

// Issue 13: a ref name longer than the filesystem holds is a miss (git would consult
// packed-refs), not a storage failure.
func TestResolve_OverlongNameIsAMiss(t *testing.T) {
	s, _, _ := newStore(t)
	oid, ok, err := s.Resolve("refs/cap/perspectives/" + strings.Repeat("s", 5000))
	if err != nil || ok || oid != "" {
		t.Fatalf("Resolve(overlong) = %q, %v, %v; want a miss", oid, ok, err)
	}
}
