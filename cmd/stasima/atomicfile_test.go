package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestWriteAtomic_PlantedTemp: a symlink or file planted at the predictable "<dst>.tmp" is
// neither followed nor clobbered by writeFileAtomic (bus.json) or copyFile (backup and restore);
// dst gets the content and the mode, and no temporary file stays behind.
func TestWriteAtomic_PlantedTemp(t *testing.T) {
	writers := []struct {
		name  string
		write func(t *testing.T, dst string, data []byte, mode os.FileMode) error
	}{
		{"writeFileAtomic", func(_ *testing.T, dst string, data []byte, mode os.FileMode) error {
			return writeFileAtomic(dst, data, mode)
		}},
		{"copyFile", func(t *testing.T, dst string, data []byte, mode os.FileMode) error {
			src := filepath.Join(t.TempDir(), "src")
			if err := os.WriteFile(src, data, 0o600); err != nil {
				t.Fatal(err)
			}
			return copyFile(src, dst, mode)
		}},
	}
	plants := []struct {
		name  string
		plant func(t *testing.T, tmp, victim string)
	}{
		{"symlink to a victim", func(t *testing.T, tmp, victim string) {
			if err := os.Symlink(victim, tmp); err != nil {
				t.Fatal(err)
			}
		}},
		{"regular file", func(t *testing.T, tmp, _ string) {
			if err := os.WriteFile(tmp, []byte("planted"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"dangling symlink", func(t *testing.T, tmp, victim string) {
			if err := os.Symlink(victim+".absent", tmp); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, w := range writers {
		for _, p := range plants {
			t.Run(w.name+"/"+p.name, func(t *testing.T) {
				dir, elsewhere := t.TempDir(), t.TempDir()
				dst := filepath.Join(dir, "bus.json")
				victim := filepath.Join(elsewhere, "victim")
				if err := os.WriteFile(victim, []byte("victim"), 0o600); err != nil {
					t.Fatal(err)
				}
				tmp := dst + ".tmp"
				p.plant(t, tmp, victim)
				before, _ := os.Readlink(tmp)
				if err := w.write(t, dst, []byte(`{"secret":1}`), 0o600); err != nil {
					t.Fatal(err)
				}
				if b, _ := os.ReadFile(dst); string(b) != `{"secret":1}` {
					t.Fatalf("dst holds %q", b)
				}
				if fi, err := os.Lstat(dst); err != nil || fi.Mode() != 0o600 {
					t.Fatalf("dst mode %v, %v; want a regular 0600 file", fi.Mode(), err)
				}
				if b, _ := os.ReadFile(victim); string(b) != "victim" {
					t.Fatalf("the victim behind the planted temp name now holds %q", b)
				}
				if after, _ := os.Readlink(tmp); after != before {
					t.Fatalf("planted link %q became %q", before, after)
				}
				if p.name == "regular file" {
					if b, _ := os.ReadFile(tmp); string(b) != "planted" {
						t.Fatalf("planted file clobbered: %q", b)
					}
				}
				entries, _ := os.ReadDir(dir)
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				if !slices.Equal(names, []string{"bus.json", "bus.json.tmp"}) {
					t.Fatalf("directory holds %v, want only dst and the planted name", names)
				}
			})
		}
	}
}

// TestWriteAtomic_FailureLeavesNoTrace: a failed write leaves dst as it was and no temporary file.
func TestWriteAtomic_FailureLeavesNoTrace(t *testing.T) {
	dir := t.TempDir()
	dst := filepath.Join(dir, "f")
	if err := os.WriteFile(dst, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := writeAtomic(dst, 0o600, func(w io.Writer) error {
		_, _ = w.Write([]byte("half"))
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "old" {
		t.Fatalf("dst holds %q after a failed write", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only dst", len(entries))
	}
}
