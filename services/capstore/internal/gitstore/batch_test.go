package gitstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stasima/stasima/pkg/fault"
)

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// refsMatchGit checks ListRefs against git for-each-ref.
func refsMatchGit(t *testing.T, s *Store, dir string) {
	t.Helper()
	refs, err := s.ListRefs("")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range refs {
		got = append(got, r.Name+" "+r.OID)
	}
	if want := lines(gitCLI(t, dir, "for-each-ref", "--format=%(refname) %(objectname)")); !reflect.DeepEqual(got, want) {
		t.Errorf("ListRefs = %q\ngit for-each-ref = %q", got, want)
	}
}

// Group commit: updates queued while a batch is written form the next batch,
// one pack and one packed-refs write; a ref whose compare-and-swap fails under
// the lock is refused alone and the others land (C-commit-5).
func TestStore_Batch_StaleRefRefusedAlone(t *testing.T) {
	s, dir, _ := newStore(t)
	ctx := context.Background()
	refs := []string{"refs/cap/perspectives/a", "refs/cap/perspectives/b", "refs/cap/perspectives/c"}
	tips := map[string]string{}
	for _, r := range refs {
		tips[r] = mustCommit(t, s, seatRequest(r, "", "op-0-"+r, put("x.md", r))).OID
	}
	side := mustCommit(t, s, seatRequest("refs/heads/side", "", "op-side", put("s.md", "s")))
	packs := s.db.packCount()

	entered, release := make(chan struct{}), make(chan struct{})
	var batches [][]string
	var once sync.Once
	s.batchHook = func(b []*refUpdate) {
		var names []string
		for _, u := range b {
			names = append(names, u.ref)
		}
		batches = append(batches, names) // batches are written one at a time
		once.Do(func() {
			close(entered)
			<-release
		})
	}
	var wg sync.WaitGroup
	results := make(map[string]error)
	var mu sync.Mutex
	commit := func(ref, parent string) {
		defer wg.Done()
		_, err := s.Commit(ctx, seatRequest(ref, parent, "op-1-"+ref, put("y.md", ref)))
		mu.Lock()
		results[ref] = err
		mu.Unlock()
	}
	wg.Add(1)
	go commit("refs/heads/leader", "")
	<-entered
	for _, r := range refs {
		wg.Add(1)
		go commit(r, tips[r])
	}
	waitFor(t, "three queued updates", func() bool {
		s.committer.mu.Lock()
		defer s.committer.mu.Unlock()
		return len(s.committer.queue) == 3
	})
	// b passed its precondition before queueing; git moves it meanwhile.
	gitCLI(t, dir, "update-ref", refs[1], side.OID, tips[refs[1]])
	close(release)
	wg.Wait()

	if len(batches) != 2 || len(batches[1]) != 3 {
		t.Fatalf("batches = %v, want the leader alone, then a, b and c together", batches)
	}
	for _, r := range []string{"refs/heads/leader", refs[0], refs[2]} {
		if results[r] != nil {
			t.Errorf("%s: %v", r, results[r])
		}
	}
	err := results[refs[1]]
	if !fault.Is(err, fault.StaleRef) || !strings.Contains(err.Error(), "actual tip "+side.OID) {
		t.Errorf("%s: err = %v, want StaleRef naming the tip git wrote", refs[1], err)
	}
	if got := mustResolve(t, s, refs[1]); got != side.OID {
		t.Errorf("%s = %s, want git's %s", refs[1], got, side.OID)
	}
	for _, r := range []string{refs[0], refs[2]} {
		c, err := s.CommitInfo(mustResolve(t, s, r))
		if err != nil || !reflect.DeepEqual(c.Parents, []string{tips[r]}) {
			t.Errorf("%s tip = %+v, %v; want a child of %s", r, c, err, tips[r])
		}
	}
	if got := s.db.packCount() - packs; got != 2 {
		t.Errorf("%d packs written, want 2 (one per batch)", got)
	}
	refsMatchGit(t, s, dir)
	fsck(t, s, dir)
}

// A loose ref left by git is honoured by the compare-and-swap, then superseded
// by packed-refs: the loose file is removed and never resurrects.
func TestStore_LooseRefHonouredThenPacked(t *testing.T) {
	s, dir, clk := newStore(t)
	const ref = "refs/heads/main"
	c1 := mustCommit(t, s, seatRequest(ref, "", "op-1", put("a.md", "1")))
	side := mustCommit(t, s, seatRequest("refs/heads/side", "", "op-s", put("s.md", "s")))
	gitCLI(t, dir, "update-ref", ref, side.OID, c1.OID)
	loose := filepath.Join(dir, ref)
	if _, err := os.Stat(loose); err != nil {
		t.Fatalf("git wrote no loose ref: %v", err)
	}

	_, err := s.Commit(context.Background(), seatRequest(ref, c1.OID, "op-2", put("a.md", "2")))
	if !fault.Is(err, fault.StaleRef) || !strings.Contains(err.Error(), "actual tip "+side.OID) {
		t.Fatalf("err = %v, want StaleRef against the loose value", err)
	}
	res := mustCommit(t, s, seatRequest(ref, side.OID, "op-2", put("a.md", "2")))
	if _, err := os.Stat(loose); !os.IsNotExist(err) {
		t.Errorf("loose ref still present after the packed write: %v", err)
	}
	if got := strings.TrimSpace(gitCLI(t, dir, "rev-parse", ref)); got != res.OID {
		t.Errorf("git sees %s, want %s", got, res.OID)
	}
	packed, err := os.ReadFile(filepath.Join(dir, "packed-refs"))
	if err != nil || !strings.Contains(string(packed), res.OID+" "+ref+"\n") {
		t.Errorf("packed-refs = %q, %v; want %s at %s", packed, err, ref, res.OID)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, dir, clk)
	if got := mustResolve(t, s2, ref); got != res.OID {
		t.Errorf("after reopen %s = %s, want %s", ref, got, res.OID)
	}
	// git still moves the ref by its own protocol, against the packed value.
	gitCLI(t, dir, "update-ref", ref, c1.OID, res.OID)
	if got := mustResolve(t, s2, ref); got != c1.OID {
		t.Errorf("after git's move %s = %s, want %s", ref, got, c1.OID)
	}
	refsMatchGit(t, s2, dir)
	fsck(t, s2, dir)
}

// The lockfile protocol on packed-refs.lock: held by another writer, the
// batch is refused cleanly (BackendUnavailable), the ref stays, the other
// writer's lock is kept, and no ref lock is left behind.
func TestStore_PackedRefsLockHeld(t *testing.T) {
	s, dir, _ := newStore(t)
	s.packedRefsTimeout = 0 // refuse at once instead of waiting like git
	const ref = "refs/cap/perspectives/seat-1"
	a := mustCommit(t, s, seatRequest(ref, "", "op-1", put("a.md", "a")))
	lock := filepath.Join(dir, "packed-refs.lock")
	if err := os.WriteFile(lock, []byte("held"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := s.Commit(context.Background(), seatRequest(ref, a.OID, "op-2", put("b.md", "b")))
	if !fault.Is(err, fault.BackendUnavailable) || !strings.Contains(err.Error(), "packed-refs.lock") {
		t.Errorf("err = %v, want BackendUnavailable naming packed-refs.lock", err)
	}
	if got := mustResolve(t, s, ref); got != a.OID {
		t.Errorf("ref moved to %s", got)
	}
	if b, err := os.ReadFile(lock); err != nil || string(b) != "held" {
		t.Errorf("the other writer's lock = %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, ref+".lock")); !os.IsNotExist(err) {
		t.Errorf("ref lock left behind: %v", err)
	}
	if err := os.Remove(lock); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s, seatRequest(ref, a.OID, "op-2", put("b.md", "b")))
	fsck(t, s, dir)
}

// The store's ref lock (a hard link of its lock inode) excludes git's writer
// exactly as git's own lock file does, and is not a ref.
func TestStore_RefLockExcludesGit(t *testing.T) {
	s, dir, _ := newStore(t)
	const ref = "refs/cap/perspectives/seat-1"
	a := mustCommit(t, s, seatRequest(ref, "", "op-1", put("a.md", "a")))
	b := mustCommit(t, s, seatRequest(ref, a.OID, "op-2", put("a.md", "b")))
	if err := s.lockRefFile(ref); err != nil {
		t.Fatal(err)
	}
	out, err := gitCmd(dir, "update-ref", ref, a.OID, b.OID)
	if err == nil || !strings.Contains(out, ref+".lock") {
		t.Errorf("git update-ref under the store's lock: %v\n%s", err, out)
	}
	if refs, err := s.ListRefs(ref); err != nil || len(refs) != 1 || refs[0].OID != b.OID {
		t.Errorf("ListRefs = %v, %v", refs, err)
	}
	if err := s.lockRefFile(ref); !strings.Contains(fmt.Sprint(err), "exists") {
		t.Errorf("second lock: %v, want refused", err)
	}
	if err := os.Remove(filepath.Join(dir, ref+".lock")); err != nil {
		t.Fatal(err)
	}
	gitCLI(t, dir, "update-ref", ref, a.OID, b.OID)
	if got := mustResolve(t, s, ref); got != a.OID {
		t.Errorf("ref = %s, want %s", got, a.OID)
	}
}

// Packs are consolidated as group commits accumulate: after 240 batches at
// most maxPacks remain, the merged packs' files are gone, every object still
// reads, git fsck is clean, and readers running throughout never fail.
func TestStore_Consolidation_ObjectsStayReadable(t *testing.T) {
	const batches = 240
	s, dir, clk := newStore(t)
	s.fs.noSync = true // durability is not under test; keep 240 batches fast
	ctx := context.Background()

	type written struct{ oid, path, body string }
	var mu sync.Mutex
	var all []written
	snapshot := func() []written {
		mu.Lock()
		defer mu.Unlock()
		return all[:len(all):len(all)]
	}
	done := make(chan struct{})
	errs := make(chan error, 4)
	var readers sync.WaitGroup
	for r := 0; r < 2; r++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				ws := snapshot()
				for j := len(ws) - 1 - (i+r)%7; j >= 0; j -= 7 {
					w := ws[j]
					b, ok, err := s.ReadBlob(w.oid, w.path)
					if err != nil || !ok || string(b) != w.body {
						errs <- fmt.Errorf("ReadBlob(%s, %s) = %q, %v, %v", w.oid, w.path, b, ok, err)
						return
					}
				}
				if len(ws) > 0 {
					if _, err := s.CountCommits(ws[len(ws)-1].oid); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	tips := make([]string, 4)
	for n := 0; n < batches; n++ {
		ref := fmt.Sprintf("refs/cap/perspectives/seat-%d", n%4)
		p, body := fmt.Sprintf("practice/%03d.md", n), fmt.Sprintf("body %d", n)
		res, err := s.Commit(ctx, seatRequest(ref, tips[n%4], fmt.Sprintf("op-%d", n), put(p, body)))
		if err != nil {
			t.Fatal(err)
		}
		tips[n%4] = res.OID
		mu.Lock()
		all = append(all, written{res.OID, p, body})
		mu.Unlock()
	}
	s.waitConsolidated()
	close(done)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	if n := s.db.packCount(); n > s.maxPacks {
		t.Errorf("%d packs after consolidation, want at most %d", n, s.maxPacks)
	}
	var onDisk int
	for _, f := range packFiles(t, dir) {
		if strings.HasSuffix(f, ".pack") {
			onDisk++
		}
	}
	if onDisk != s.db.packCount() {
		t.Errorf("%d packs on disk, %d registered: merged packs must be removed", onDisk, s.db.packCount())
	}
	check := func(s *Store) {
		t.Helper()
		for i, w := range all {
			if b, ok, err := s.ReadBlob(w.oid, w.path); err != nil || !ok || string(b) != w.body {
				t.Fatalf("ReadBlob(%s, %s) = %q, %v, %v", w.oid, w.path, b, ok, err)
			}
			if c, err := s.CountCommits(w.oid); err != nil || c != i/4+1 {
				t.Fatalf("CountCommits(%s) = %d, %v; want %d", w.oid, c, err, i/4+1)
			}
		}
	}
	check(s)
	refsMatchGit(t, s, dir)
	fsck(t, s, dir)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(openStore(t, dir, clk))
}

// Resolve reuses the parsed packed-refs while the file is unchanged, and sees
// a version written by git.
func TestStore_PackedRefsCache(t *testing.T) {
	s, dir, _ := newStore(t)
	a := mustCommit(t, s, seatRequest("refs/heads/main", "", "op-1", put("a.md", "a")))
	cached := s.st.packedCache.Load()
	for range 3 {
		mustResolve(t, s, "refs/heads/main")
	}
	if s.st.packedCache.Load() != cached {
		t.Error("packed-refs was parsed again although unchanged")
	}
	gitCLI(t, dir, "update-ref", "refs/tags/v1", a.OID)
	gitCLI(t, dir, "pack-refs", "--all")
	if got := mustResolve(t, s, "refs/tags/v1"); got != a.OID {
		t.Errorf("refs/tags/v1 = %s, want %s", got, a.OID)
	}
	if s.st.packedCache.Load() == cached {
		t.Error("git's packed-refs was not read")
	}
	refsMatchGit(t, s, dir)
}
