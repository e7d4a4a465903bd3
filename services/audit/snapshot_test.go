package audit_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/schema"
)

// TestService_SnapshotIgnoresPlantedTemps: files and symlinks planted at the names a snapshot's
// temporary file used to take ("<file>.tmp-<pid>" and its SQLite side files) are neither
// followed nor clobbered; the snapshot lands whole at its name and nothing temporary stays
// (O-backup-2).
func TestService_SnapshotIgnoresPlantedTemps(t *testing.T) {
	r := sqliteRig(t)
	r.start(t)
	c := r.client(t, 10*time.Second)
	ctx := context.Background()
	in := intents(0, 3)
	if err := c.PublishIntents(ctx, in); err != nil {
		t.Fatal(err)
	}
	c.Await(ctx, []string{in[2].ID})

	dir, elsewhere := t.TempDir(), t.TempDir()
	file := filepath.Join(dir, "audit.sqlite")
	victim := filepath.Join(elsewhere, "victim")
	if err := os.WriteFile(victim, []byte("victim"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := fmt.Sprintf("%s.tmp-%d", file, os.Getpid())
	planted := []string{file + ".tmp", old, old + "-journal", old + "-wal", old + "-shm"}
	for _, p := range planted {
		if err := os.Symlink(victim, p); err != nil {
			t.Fatal(err)
		}
	}
	var ans schema.SnapshotAnswer
	if err := c.Query(ctx, bus.Audit, schema.QAuditSnapshot, schema.SnapshotQuery{File: file}, &ans); err != nil {
		t.Fatal(err)
	}
	if ans.Events != 3 || ans.File != file {
		t.Fatalf("snapshot answer %+v, want 3 events at %s", ans, file)
	}
	if b, _ := os.ReadFile(file); !strings.HasPrefix(string(b), "SQLite format 3\x00") {
		t.Fatalf("%s is not a SQLite file", file)
	}
	if fi, err := os.Lstat(file); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("%s: %v, %v; want a regular file", file, fi, err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "victim" {
		t.Fatalf("the victim behind a planted name now holds %d bytes", len(b))
	}
	for _, p := range planted {
		if to, err := os.Readlink(p); err != nil || to != victim {
			t.Fatalf("planted %s became %q, %v", p, to, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{"audit.sqlite"}
	for _, p := range planted {
		want = append(want, filepath.Base(p))
	}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("directory holds %v, want %v", names, want)
	}
}
