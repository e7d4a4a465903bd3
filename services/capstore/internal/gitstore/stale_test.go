package gitstore

import (
	"os"
	"path/filepath"
	"testing"
)

// TestStore_StaleRefLocksOfACrash: a Store killed between taking "<ref>.lock" and removing it
// leaves the hard link behind; the next Store that owns the repository alone removes it (so
// the ref is writable again), while a lock of another writer (git's own file) stays, and a
// Store that does not own the repository alone removes nothing (ARCH-9).
func TestStore_StaleRefLocksOfACrash(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo.git")
	s, err := Open(Config{Dir: dir, CommitterName: "capstore", CommitterEmail: "c@x", Now: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	const crashed, foreign = "refs/cap/perspectives/seat-1", "refs/cap/perspectives/seat-2"
	if err := s.lockRefFile(crashed); err != nil { // the crash: never unlocked
		t.Fatal(err)
	}
	if err := os.WriteFile(s.fs.abs(foreign+".lock"), []byte("git\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.lockPackedRefs(); err != nil { // the crash inside a batch's packed-refs write
		t.Fatal(err)
	}
	// While the first Store is open, a second one must not touch its locks.
	second, err := Open(Config{Dir: dir, CommitterName: "capstore", CommitterEmail: "c@x", Now: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(s.fs.abs(crashed + ".lock")); err != nil {
		t.Fatalf("a live Store's lock was removed: %v", err)
	}
	second.Close()
	s.Close()

	again := openStore(t, dir, newClock())
	if _, err := os.Lstat(again.fs.abs(crashed + ".lock")); !os.IsNotExist(err) {
		t.Fatalf("the crashed Store's lock is still there: %v", err)
	}
	if _, err := os.Lstat(again.fs.abs(foreign + ".lock")); err != nil {
		t.Fatalf("another writer's lock was removed: %v", err)
	}
	if err := again.lockRefFile(crashed); err != nil {
		t.Fatalf("the ref is still locked: %v", err)
	}
	f, err := again.lockPackedRefs()
	if err != nil {
		t.Fatalf("packed-refs is still locked: %v", err)
	}
	f.Close()
}
