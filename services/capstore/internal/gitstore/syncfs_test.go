package gitstore

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// ARCH-13: when Commit returns, the batch's pack and index were fsynced, renamed
// into objects/pack (index last) and the directory fsynced; only then was
// packed-refs.lock written, fsynced and renamed over packed-refs, and the
// repository directory fsynced. Nothing is written loose.
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
	packsBefore := packFiles(t, dir)
	files0, dirs0 := s.fs.fileSyncs.Load(), s.fs.dirSyncs.Load()
	res := mustCommit(t, s, seatRequest(ref, first.OID, "op-2",
		put("practice/new/deep/x.md", "x"), put("practice/y.md", "y"), put("a.md", "a")))
	s.fs.observe = nil
	files, dirs := s.fs.fileSyncs.Load()-files0, s.fs.dirSyncs.Load()-dirs0

	var created []string
	for _, p := range packFiles(t, dir) {
		if !slices.Contains(packsBefore, p) {
			created = append(created, p)
		}
	}
	if len(created) != 2 || !strings.HasSuffix(created[0], ".idx") || !strings.HasSuffix(created[1], ".pack") {
		t.Fatalf("new files in objects/pack = %v, want one pack and its index", created)
	}
	// blob x, blob y (a.md's blob exists), trees deep, new, practice, root, commit.
	idx := filepath.Join(dir, "objects/pack", created[0])
	if got := len(packedObjects(t, dir, idx)); got != 7 {
		t.Errorf("the pack holds %d objects, want 7", got)
	}
	if n := len(looseObjects(t, dir)); n != 0 {
		t.Errorf("%d loose objects or fan-out directories, want none", n)
	}

	rel := regexp.MustCompile(`tmp_(pack|idx)_[^/]*$|pack-[0-9a-f]{40}`)
	var got []string
	for _, ev := range events {
		p := strings.TrimPrefix(strings.TrimPrefix(ev.Path, dir), "/")
		if p == "" {
			p = "."
		}
		got = append(got, ev.Kind+" "+rel.ReplaceAllStringFunc(p, func(m string) string {
			if strings.HasPrefix(m, "tmp_") {
				return m[:strings.LastIndex(m, "_")+1] + "*"
			}
			return "pack-X"
		}))
	}
	want := []string{
		"sync-file objects/pack/tmp_pack_*",
		"sync-file objects/pack/tmp_idx_*",
		"rename objects/pack/pack-X.pack",
		"rename objects/pack/pack-X.idx", // git discovers packs by their index
		"sync-dir objects/pack",
		"sync-file packed-refs.lock",
		"rename packed-refs",
		"sync-dir .",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Each rename moved the file that was fsynced before it.
	for i, ev := range events {
		if ev.Kind != "rename" {
			continue
		}
		if !slices.ContainsFunc(events[:i], func(e fsEvent) bool { return e.Kind == "sync-file" && e.Path == ev.From }) {
			t.Errorf("%s: its data (%s) was not fsynced before the rename", ev.Path, ev.From)
		}
	}
	if files != 3 || dirs != 2 {
		t.Errorf("fsyncs: %d files, %d directories; want 3 (pack, index, packed-refs) and 2", files, dirs)
	}
	if _, err := os.Lstat(filepath.Join(dir, ref)); !os.IsNotExist(err) {
		t.Errorf("loose ref file %s: %v, want none", ref, err)
	}
	if got := strings.TrimSpace(gitCLI(t, dir, "rev-parse", ref)); got != res.OID {
		t.Errorf("git sees %s at %s, want %s", ref, got, res.OID)
	}
	t.Logf("commit %s: %d file fsyncs, %d directory fsyncs", res.OID[:12], files, dirs)
}

// packedObjects lists the oids in a pack, as git verify-pack reads them.
func packedObjects(t *testing.T, dir, idx string) []string {
	t.Helper()
	var out []string
	for _, l := range lines(gitCLI(t, dir, "verify-pack", "-v", idx)) {
		if f := strings.Fields(l); len(f) > 0 && len(f[0]) == 40 {
			out = append(out, f[0])
		}
	}
	return out
}

// looseObjects lists loose object files and fan-out directories (with a
// trailing "/").
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

// packFiles lists objects/pack, sorted.
func packFiles(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(dir, "objects/pack"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// ARCH-13 for SetRef: the ref moves through packed-refs like a commit's.
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
		p := strings.TrimPrefix(strings.TrimPrefix(ev.Path, dir), "/")
		if p == "" {
			p = "."
		}
		kinds = append(kinds, ev.Kind+" "+p)
	}
	want := []string{
		"sync-file packed-refs.lock",
		"rename packed-refs",
		"sync-dir .",
	}
	if strings.Join(kinds, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(kinds, "\n"), strings.Join(want, "\n"))
	}
}
