package gitstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/go-git/go-billy/v5"
)

// syncFS is a billy.Filesystem that makes everything written through it durable
// before the writing call returns (ARCH-13):
//
//   - a file opened for writing (Create, OpenFile with a write flag, TempFile) is
//     fsynced on Close, before the descriptor is released;
//   - a file created by Create/OpenFile (not a temp file, not a "*.lock" file: both
//     are always renamed or removed) also has its parent directory fsynced on Close;
//   - Rename fsyncs the destination's directory, so the new name survives a crash;
//   - every directory created implicitly (Rename, OpenFile, TempFile) or by MkdirAll
//     has its parent fsynced, so the directory entry survives too.
//
// go-git writes the repository's config and HEAD through it. The package's own
// pack, index and packed-refs files are written with os directly and made
// durable with syncOSFile, renameAll and syncDir, which count and observe the
// same events.
type syncFS struct {
	billy.Filesystem
	root string // absolute repository directory; relative names are under it

	// noSync disables every fsync. Benchmarks only, to measure the cost of ARCH-13.
	noSync bool
	// observe, when set, sees every fsync and rename in order. Tests only; set it
	// before the store is used concurrently.
	observe func(ev fsEvent)

	fileSyncs atomic.Int64
	dirSyncs  atomic.Int64
}

// fsEvent is one durability-relevant step, recorded for tests.
type fsEvent struct {
	Kind string // "sync-file", "sync-dir", "rename"
	Path string // absolute; for "rename" the destination
	From string // "rename" only: the absolute source
}

const writeFlags = os.O_WRONLY | os.O_RDWR | os.O_CREATE | os.O_TRUNC | os.O_APPEND

func newSyncFS(inner billy.Filesystem, root string) *syncFS {
	return &syncFS{Filesystem: inner, root: root}
}

func (s *syncFS) abs(name string) string {
	if filepath.IsAbs(name) {
		return filepath.Clean(name)
	}
	return filepath.Join(s.root, name)
}

// Create opens name for writing like billy's Create, with durability.
func (s *syncFS) Create(name string) (billy.File, error) {
	return s.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

// OpenFile wraps files opened for writing so that Close makes them durable.
func (s *syncFS) OpenFile(name string, flag int, perm os.FileMode) (billy.File, error) {
	if flag&writeFlags == 0 {
		return s.Filesystem.OpenFile(name, flag, perm)
	}
	abs := s.abs(name)
	var created []string
	fresh := false
	if flag&os.O_CREATE != 0 {
		created = s.missingDirs(filepath.Dir(abs))
		if _, err := os.Lstat(abs); errors.Is(err, fs.ErrNotExist) {
			fresh = true
		}
	}
	f, err := s.Filesystem.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if err := s.syncCreated(created); err != nil {
		_ = f.Close()
		return nil, err
	}
	sf := &syncFile{File: f, fs: s, path: abs}
	if fresh && !strings.HasSuffix(abs, ".lock") {
		sf.dir = filepath.Dir(abs)
	}
	return sf, nil
}

// TempFile returns a temp file that is fsynced on Close. Its directory entry is
// not synced: temp files are renamed (which syncs the destination) or removed.
func (s *syncFS) TempFile(dir, prefix string) (billy.File, error) {
	created := s.missingDirs(s.abs(dir))
	f, err := s.Filesystem.TempFile(dir, prefix)
	if err != nil {
		return nil, err
	}
	if err := s.syncCreated(created); err != nil {
		_ = f.Close()
		return nil, err
	}
	return &syncFile{File: f, fs: s, path: s.abs(f.Name())}, nil
}

// Rename renames and then fsyncs the destination directory (and the parents of
// any directory the rename had to create).
func (s *syncFS) Rename(from, to string) error {
	absTo := s.abs(to)
	created := s.missingDirs(filepath.Dir(absTo))
	if err := s.Filesystem.Rename(from, to); err != nil {
		return err
	}
	if s.observe != nil {
		s.observe(fsEvent{Kind: "rename", Path: absTo, From: s.abs(from)})
	}
	if err := s.syncCreated(created); err != nil {
		return err
	}
	return s.syncDir(filepath.Dir(absTo))
}

// renameAll renames every {from, to} pair in order, then fsyncs each distinct
// destination directory once (and the parents of directories the renames had
// to create): a group of renames into one directory costs one directory sync.
func (s *syncFS) renameAll(pairs ...[2]string) error {
	var dirs []string
	for _, p := range pairs {
		absTo := s.abs(p[1])
		created := s.missingDirs(filepath.Dir(absTo))
		// Plain os.Rename: the names are the package's own, and billy's
		// bound filesystem resolves every path component on each call.
		if err := os.Rename(s.abs(p[0]), absTo); err != nil {
			return err
		}
		if s.observe != nil {
			s.observe(fsEvent{Kind: "rename", Path: absTo, From: s.abs(p[0])})
		}
		if err := s.syncCreated(created); err != nil {
			return err
		}
		if d := filepath.Dir(absTo); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	for _, d := range dirs {
		if err := s.syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// MkdirAll creates path and fsyncs the parent of every directory it created.
func (s *syncFS) MkdirAll(path string, perm os.FileMode) error {
	created := s.missingDirs(s.abs(path))
	if err := s.Filesystem.MkdirAll(path, perm); err != nil {
		return err
	}
	return s.syncCreated(created)
}

// missingDirs lists, outermost first, the directories of dir (inclusive) that do
// not exist yet and stay below root.
func (s *syncFS) missingDirs(dir string) []string {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || !errors.Is(err, fs.ErrNotExist) {
			break
		}
		missing = append(missing, d)
		if d == s.root || d == filepath.Dir(d) {
			break
		}
	}
	for i, j := 0, len(missing)-1; i < j; i, j = i+1, j-1 {
		missing[i], missing[j] = missing[j], missing[i]
	}
	return missing
}

// syncCreated makes the entries of freshly created directories durable. A
// directory that another goroutine created first is synced all the same.
func (s *syncFS) syncCreated(created []string) error {
	for _, d := range created {
		if err := s.syncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

// syncDir fsyncs the directory dir (absolute).
func (s *syncFS) syncDir(dir string) error {
	if s.noSync {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	s.dirSyncs.Add(1)
	if s.observe != nil {
		s.observe(fsEvent{Kind: "sync-dir", Path: dir})
	}
	return nil
}

// syncOSFile fsyncs a file the package opened with os directly.
func (s *syncFS) syncOSFile(f *os.File) error {
	if s.noSync {
		return nil
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", f.Name(), err)
	}
	s.fileSyncs.Add(1)
	if s.observe != nil {
		s.observe(fsEvent{Kind: "sync-file", Path: f.Name()})
	}
	return nil
}

// syncFile is a file opened for writing through syncFS.
type syncFile struct {
	billy.File
	fs   *syncFS
	path string // absolute
	dir  string // directory to fsync after Close, "" for none
}

type syncer interface{ Sync() error }

// Close fsyncs the file's data before closing it, then its directory entry when
// the file is new.
func (f *syncFile) Close() error {
	if !f.fs.noSync {
		sy, ok := f.File.(syncer)
		if !ok {
			_ = f.File.Close()
			return fmt.Errorf("fsync %s: file type %T cannot sync", f.path, f.File)
		}
		if err := sy.Sync(); err != nil {
			_ = f.File.Close()
			return fmt.Errorf("fsync %s: %w", f.path, err)
		}
		f.fs.fileSyncs.Add(1)
		if f.fs.observe != nil {
			f.fs.observe(fsEvent{Kind: "sync-file", Path: f.path})
		}
	}
	if err := f.File.Close(); err != nil {
		return err
	}
	if f.dir != "" {
		return f.fs.syncDir(f.dir)
	}
	return nil
}
