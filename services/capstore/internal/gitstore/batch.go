package gitstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/stasima/stasima/pkg/fault"
)

// refUpdate is one compare-and-swap submitted to the group committer: move ref
// from old (zero: the ref must not exist) to new, after writing objs. An
// update with ref "" only writes objs (an unreferenced merge candidate,
// PrepareCandidate): it joins a batch's pack and moves no ref.
type refUpdate struct {
	op       string
	ref      string
	old, new plumbing.Hash
	objs     []*plumbing.MemoryObject // objects new names, hashes computed

	wake chan struct{} // closed once: err is final, or lead was set
	lead bool          // this update's goroutine writes the next batch
	err  error
}

// committer coalesces concurrent ref updates into batches (group commit).
// There is no committer goroutine: the caller that finds no batch in flight
// writes one, containing every update queued meanwhile, and hands the role to
// the first update queued during its batch. A lone writer is never delayed,
// and concurrent writers share one pack, one packed-refs write and their syncs.
type committer struct {
	mu      sync.Mutex // leaf; never held across I/O
	queue   []*refUpdate
	writing bool // a batch is being written
}

// apply submits u and returns once its objects and its ref move are durable
// (ARCH-13), or with the reason it was refused. The caller holds the ref's
// write lock (ARCH-9), so a batch names each ref at most once.
func (s *Store) apply(u *refUpdate) error {
	u.wake = make(chan struct{})
	c := &s.committer
	c.mu.Lock()
	c.queue = append(c.queue, u)
	if c.writing {
		c.mu.Unlock()
		<-u.wake
		if !u.lead {
			return u.err
		}
		c.mu.Lock()
	}
	c.writing = true
	batch := c.queue
	c.queue = nil
	c.mu.Unlock()

	s.writeBatch(batch)

	c.mu.Lock()
	if len(c.queue) > 0 {
		next := c.queue[0]
		next.lead = true
		close(next.wake)
	} else {
		c.writing = false
	}
	c.mu.Unlock()
	for _, b := range batch {
		if b != u {
			close(b.wake)
		}
	}
	return u.err
}

// writeBatch writes the batch's new objects as one pack, then moves its refs
// with one packed-refs write. Each update's err is set when it is refused.
func (s *Store) writeBatch(batch []*refUpdate) {
	if s.batchHook != nil {
		s.batchHook(batch)
	}
	var objs []*plumbing.MemoryObject
	seen := make(map[plumbing.Hash]bool)
	for _, u := range batch {
		for _, o := range u.objs {
			h := o.Hash()
			if seen[h] {
				continue
			}
			seen[h] = true
			// Commits are always new; blobs and trees often exist already.
			if o.Type() != plumbing.CommitObject && s.db.hasPacked(h) {
				continue
			}
			objs = append(objs, o)
		}
	}
	if len(objs) > 0 {
		p, exists, err := s.db.writePack(len(objs), func(b *packBuilder) error {
			for _, o := range objs {
				if err := b.object(o); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			for _, u := range batch {
				u.err = fault.Wrap(u.op, fault.BackendUnavailable, err, "write objects for %q", u.ref)
			}
			return
		}
		if !exists {
			s.db.add(p)
		}
		for _, o := range objs {
			s.db.cache.Put(o)
		}
		s.maybeConsolidate()
	}
	s.moveRefs(batch)
}

// moveRefs performs the batch's compare-and-swaps with git's lockfile
// protocol: every ref's "<ref>.lock" is taken (so an out-of-band git writer of
// that ref is excluded), then "packed-refs.lock"; under both, each ref's
// current value (a loose file shadows its packed value, as in git) is checked
// against the expected one, and the refs that pass are written with one
// packed-refs rewrite: fsync, rename, directory fsync. A loose file of a moved
// ref is then removed (and its directory fsynced), so that it cannot shadow
// the new value. A ref that fails its check is refused alone.
func (s *Store) moveRefs(batch []*refUpdate) {
	var locked []*refUpdate
	defer func() {
		for _, u := range locked {
			_ = os.Remove(s.fs.abs(u.ref + ".lock"))
		}
	}()
	for _, u := range batch {
		if u.err != nil || u.ref == "" { // "": objects only, already written
			continue
		}
		if err := s.lockRefFile(u.ref); err != nil {
			u.err = s.refLockError(u, err)
			continue
		}
		locked = append(locked, u)
	}
	if len(locked) == 0 {
		return
	}
	fail := func(us []*refUpdate, err error) {
		for _, u := range us {
			if u.err == nil {
				u.err = fault.Wrap(u.op, fault.BackendUnavailable, err, "move ref %q to %s", u.ref, u.new)
			}
		}
	}
	f, err := s.lockPackedRefs()
	if err != nil {
		fail(locked, err)
		return
	}
	lockPath := s.fs.abs("packed-refs.lock")
	renamed := false
	defer func() {
		if !renamed {
			_ = f.Close()
			_ = os.Remove(lockPath)
		}
	}()
	pr, err := s.st.packed()
	if err != nil {
		fail(locked, err)
		return
	}

	updates := make(map[string]plumbing.Hash)
	var moved, loose []*refUpdate
	for _, u := range locked {
		cur, exists, isLoose, err := s.st.resolveRef(u.ref)
		if err != nil {
			fail([]*refUpdate{u}, err)
			continue
		}
		if exists != !u.old.IsZero() || exists && cur != u.old {
			want := ""
			if !u.old.IsZero() {
				want = u.old.String()
			}
			u.err = staleRef(u.op, u.ref, want, cur, exists)
			continue
		}
		if !exists {
			if other, ok := s.refConflict(pr, updates, u.ref); ok {
				u.err = fault.E(u.op, fault.ArgumentError, "ref %q conflicts with existing ref %q", u.ref, other)
				continue
			}
		}
		updates[u.ref] = u.new
		moved = append(moved, u)
		if isLoose {
			loose = append(loose, u)
		}
	}
	if len(moved) == 0 {
		return
	}
	next, content := pr.with(updates)
	_, err = f.Write(content)
	if err == nil {
		err = s.fs.syncOSFile(f)
	}
	var fi os.FileInfo
	if err == nil {
		// The identity of our version, taken while we still hold the lock: a
		// rename keeps inode, size and mtime, and git may replace packed-refs
		// as soon as the rename below releases the lock.
		fi, err = f.Stat()
	}
	if err == nil {
		err = f.Close()
	}
	if err == nil {
		renamed = true
		err = s.fs.renameAll([2]string{"packed-refs.lock", "packed-refs"}) // fsyncs the directory
		if err != nil {
			_ = os.Remove(lockPath)
		}
	}
	if err != nil {
		fail(moved, err)
		return
	}
	next.id = fileIDOf(fi)
	s.st.packedCache.Store(next)

	var dirs []string
	for _, u := range loose {
		if err := os.Remove(s.fs.abs(u.ref)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			fail([]*refUpdate{u}, fmt.Errorf("remove loose ref: %w", err))
			continue
		}
		if d := filepath.Dir(s.fs.abs(u.ref)); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	for _, d := range dirs {
		// A removal that is not durable could resurrect the old value.
		if err := s.fs.syncDir(d); err != nil {
			fail(loose, err)
		}
	}
}

// lockRefFile takes "<ref>.lock" by hard-linking the store's lock inode to it:
// like git's O_EXCL create it fails when the name exists, but it allocates no
// inode, which on some filesystems costs far more than the rest of a commit.
// The lock file is never written or renamed; the ref's value goes to
// packed-refs, and the lock is removed afterwards.
func (s *Store) lockRefFile(ref string) error {
	lock := s.fs.abs(ref + ".lock")
	for attempt := 0; ; attempt++ {
		err := os.Link(s.lockInode, lock)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, fs.ErrExist):
			return fmt.Errorf("%w: %s exists", errRefLocked, ref+".lock")
		case errors.Is(err, fs.ErrNotExist) && attempt < 2:
			if _, serr := os.Lstat(s.lockInode); serr != nil {
				if err := s.createLockInode(); err != nil {
					return err
				}
			} else if err := os.MkdirAll(filepath.Dir(lock), 0o755); err != nil {
				// The directory only holds the lock: the ref goes to
				// packed-refs, so its durability does not matter.
				return err
			}
		default:
			return err
		}
	}
}

func (s *Store) createLockInode() error {
	f, err := os.OpenFile(s.lockInode, os.O_WRONLY|os.O_CREATE, 0o444)
	if err != nil {
		return err
	}
	return f.Close()
}

func (s *Store) refLockError(u *refUpdate, err error) error {
	switch {
	case errors.Is(err, errRefLocked):
		return fault.Wrap(u.op, fault.BackendUnavailable, err, "ref %q is locked by another writer", u.ref)
	case errors.Is(err, syscall.ENOTDIR):
		return fault.Wrap(u.op, fault.ArgumentError, err, "ref %q conflicts with an existing ref", u.ref)
	}
	return fault.Wrap(u.op, fault.BackendUnavailable, err, "lock ref %q", u.ref)
}

// lockPackedRefs creates packed-refs.lock exclusively. Another holder (git
// packing or deleting refs) is waited for up to packedRefsTimeout, as git
// itself does (core.packedRefsTimeout).
func (s *Store) lockPackedRefs() (*os.File, error) {
	deadline := time.Now().Add(s.packedRefsTimeout)
	wait := time.Millisecond
	for {
		f, err := os.OpenFile(s.fs.abs("packed-refs.lock"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
		if time.Now().Add(wait).After(deadline) {
			return nil, fmt.Errorf("%w: packed-refs.lock exists", errRefLocked)
		}
		time.Sleep(wait)
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// refConflict finds a ref that a new ref name cannot coexist with: packed,
// loose (name is a directory holding refs), or created earlier in the batch.
func (s *Store) refConflict(pr *packedRefs, batch map[string]plumbing.Hash, name string) (string, bool) {
	if other, ok := pr.conflict(name); ok {
		return other, true
	}
	for other := range batch {
		if strings.HasPrefix(other, name+"/") || strings.HasPrefix(name, other+"/") {
			return other, true
		}
	}
	found := ""
	_ = filepath.WalkDir(s.fs.abs(name), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".lock") {
			return nil
		}
		if rel, err := filepath.Rel(s.fs.root, p); err == nil {
			found = filepath.ToSlash(rel)
		}
		return filepath.SkipAll
	})
	return found, found != ""
}
