package gitstore

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// ARCH-13: when Commit returns, every new object file and the ref were fsynced
// before being renamed into place, every rename's directory (and every new
// directory's parent) was fsynced after it, and all objects were durable before
// the ref moved.
func TestSyncFS_CommitIsDurable(t *testing.T) {
	s, dir, _ := newStore(t)
	const ref = "refs/cap/perspectives/seat-1"
	first := mustCommit(t, s, seatRequest(ref, "", "op-1", put("a.md", "a")))

	var mu sync.Mutex
	var events []fsEvent
	s.fs.observe = func(ev fsEvent) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}
	before := looseObjects(t, dir)
	files0, dirs0 := s.fs.fileSyncs.Load(), s.fs.dirSyncs.Load()
	res := mustCommit(t, s, seatRequest(ref, first.OID, "op-2",
		put("practice/new/deep/x.md", "x"), put("practice/y.md", "y"), put("a.md", "a")))
	s.fs.observe = nil
	files, dirs := s.fs.fileSyncs.Load()-files0, s.fs.dirSyncs.Load()-dirs0

	var created []string
	for p := range looseObjects(t, dir) {
		if !before[p] && !strings.HasSuffix(p, "/") {
			created = append(created, p)
		}
	}
	// blob x, blob y (a.md's blob exists), trees deep, new, practice, root, commit.
	if len(created) != 7 {
		t.Fatalf("created %d objects, want 7: %v", len(created), created)
	}
	refPath := filepath.Join(dir, ref)
	durable := func(target string) int {
		t.Helper()
		at := -1
		for i, ev := range events {
			if ev.Kind == "rename" && ev.Path == target {
				at = i
			}
		}
		if at < 0 {
			t.Fatalf("%s was not renamed into place", target)
		}
		synced := false
		for _, ev := range events[:at] {
			synced = synced || ev.Kind == "sync-file" && ev.Path == events[at].From
		}
		if !synced {
			t.Errorf("%s: its data (%s) was not fsynced before the rename", target, events[at].From)
		}
		dirSynced := false
		for _, ev := range events[at+1:] {
			dirSynced = dirSynced || ev.Kind == "sync-dir" && ev.Path == filepath.Dir(target)
		}
		if !dirSynced {
			t.Errorf("%s: directory not fsynced after the rename", target)
		}
		return at
	}
	refAt := durable(refPath)
	for _, p := range created {
		if at := durable(p); at > refAt {
			t.Errorf("object %s was renamed after the ref moved", p)
		}
		// A fresh objects/xx directory needs its own entry in objects/ durable.
		if !before[filepath.Dir(p)+"/"] {
			found := false
			for _, ev := range events {
				found = found || ev.Kind == "sync-dir" && ev.Path == filepath.Join(dir, "objects")
			}
			if !found {
				t.Errorf("new directory %s: objects/ was not fsynced", filepath.Dir(p))
			}
		}
	}
	if want := int64(len(created) + 1); files != want {
		t.Errorf("file fsyncs = %d, want %d (one per new object, one for the ref)", files, want)
	}
	// One directory fsync per rename (objects and ref), one for the fan-out
	// directory of the blob that already existed, one of objects/ per new
	// fan-out directory.
	newFans := 0
	for p := range looseObjects(t, dir) {
		if strings.HasSuffix(p, "/") && !before[p] {
			newFans++
		}
	}
	if want := int64(len(created) + 1 + 1 + newFans); dirs != want {
		t.Errorf("directory fsyncs = %d, want %d", dirs, want)
	}
	t.Logf("commit %s: %d file fsyncs, %d directory fsyncs", res.OID[:12], files, dirs)
}

func looseObjects(t *testing.T, dir string) map[string]bool {
	t.Helper()
	out := make(map[string]bool)
	fans, err := os.ReadDir(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fans {
		if len(f.Name()) != 2 {
			continue
		}
		d := filepath.Join(dir, "objects", f.Name())
		out[d+"/"] = true
		es, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			out[filepath.Join(d, e.Name())] = true
		}
	}
	return out
}

// ARCH-13 for SetRef and init: the ref and config writes go through the same
// discipline.
func TestSyncFS_SetRefAndInitAreDurable(t *testing.T) {
	s, dir, _ := newStore(t)
	res := mustCommit(t, s, seatRequest("refs/heads/main", "", "op-1"))
	var events []fsEvent
	s.fs.observe = func(ev fsEvent) { events = append(events, ev) }
	if err := s.SetRef(context.Background(), "refs/tags/state/3c", res.OID, ""); err != nil {
		t.Fatal(err)
	}
	s.fs.observe = nil
	var kinds []string
	for _, ev := range events {
		kinds = append(kinds, ev.Kind+" "+strings.TrimPrefix(ev.Path, dir+"/"))
	}
	want := []string{
		"sync-dir refs/tags", // refs/tags/state/ created for the lock file
		"sync-file refs/tags/state/3c.lock",
		"rename refs/tags/state/3c",
		"sync-dir refs/tags/state",
	}
	if strings.Join(kinds, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(kinds, "\n"), strings.Join(want, "\n"))
	}
}
