package gitstore

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// clearStaleLocks removes the ref locks a killed Store left behind (a crash between taking
// "<ref>.lock" and removing it would refuse every later write of that ref). It takes an
// exclusive flock on the lock inode first and keeps it for the Store's life: holding it means
// no other Store has the repository open, so every "<ref>.lock" that is a hard link of the
// lock inode is stale. A lock taken by another writer (git itself) is another inode and
// stays. When another Store holds the flock nothing is removed and nil is returned.
func (s *Store) clearStaleLocks() (*os.File, error) {
	f, err := os.Open(s.lockInode)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil
		}
		return nil, err
	}
	inode, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	var removed []string
	root := s.fs.abs("refs")
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".lock") {
			return nil
		}
		if fi, err := os.Lstat(p); err == nil && os.SameFile(fi, inode) && os.Remove(p) == nil {
			removed = append(removed, strings.TrimPrefix(p, s.cfg.Dir+string(filepath.Separator)))
		}
		return nil
	})
	// packed-refs.lock is an ordinary file, git's or ours. Owning the repository alone, one
	// present now is a crashed Store's (its batch died between create and rename) or belongs
	// to a git command racing this start; removing it makes that command fail its rename
	// cleanly, which is the out-of-band writer's contract (ARCH-9).
	if os.Remove(s.fs.abs("packed-refs.lock")) == nil {
		removed = append(removed, "packed-refs.lock")
	}
	if len(removed) > 0 {
		s.cfg.Logger.Warn("removed ref locks left by a crashed writer", "locks", removed)
	}
	return f, nil
}
