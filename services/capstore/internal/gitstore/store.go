package gitstore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/format/config"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/stasima/stasima/pkg/fault"
)

// Config configures a Store.
type Config struct {
	// Dir is the bare repository directory (git_dir). It is created and
	// initialized when it holds no object store (O-bootstrap-1).
	Dir string
	// CommitterName and CommitterEmail sign every commit as committer
	// (C-commit-2). Defaults: "capstore" and "<name>@stasima.local".
	CommitterName, CommitterEmail string
	// Now is the commit clock (C-commit-7); nil means time.Now. Times are
	// written with a UTC offset whatever the clock's location.
	Now func() time.Time
	// Logger receives what the store cannot return to a caller: failures of
	// background pack consolidation. nil means slog.Default().
	Logger *slog.Logger
}

// Store is a bare git repository. Its methods are safe for concurrent use.
type Store struct {
	cfg Config
	fs  *syncFS
	st  *storage // go-git storage: init, config, HEAD; refs via the lockfile protocol
	db  *objectDB

	refMu    sync.Mutex
	refLocks map[string]chan struct{} // per-ref write lock (ARCH-9), a 1-slot semaphore

	committer committer // group commit of ref updates (batch.go)
	lists     listCache // the latest large listings by tree (read.go)
	// batchHook, when set, runs as a batch starts. Tests only; set it before
	// the store is used concurrently.
	batchHook func(batch []*refUpdate)
	// lockInode is the file hard-linked to "<ref>.lock" to lock a ref.
	lockInode string
	// owner holds the lock inode's flock while this Store owns the repository alone
	// (stale.go); nil when another Store has it open.
	owner *os.File
	// packedRefsTimeout bounds the wait for another holder of packed-refs.lock.
	packedRefsTimeout time.Duration

	maxPacks int           // consolidate above this many packs
	stop     chan struct{} // closed by Close: background work ends
	bg       sync.WaitGroup
	bgMu     sync.Mutex
	bgIdle   *sync.Cond // signalled when a consolidation ends
	merging  bool       // a consolidation goroutine is running
	closed   bool
	close1   sync.Once
	closeErr error

	countMu sync.Mutex
	meta    map[plumbing.Hash]*commitMeta // C-pos-4: immutable per oid, never evicted

	trees treeCache // decoded tree entries for path lookups (treecache.go)
}

// Open opens the bare repository at cfg.Dir, initializing it first when the
// directory has no object store (O-bootstrap-1).
func Open(cfg Config) (*Store, error) {
	const op = "gitstore.open"
	if cfg.Dir == "" {
		return nil, fault.E(op, fault.ArgumentError, "git dir is empty")
	}
	if cfg.CommitterName == "" {
		cfg.CommitterName = "capstore"
	}
	if cfg.CommitterEmail == "" {
		cfg.CommitterEmail = cfg.CommitterName + "@stasima.local"
	}
	if err := checkIdent(cfg.CommitterName, cfg.CommitterEmail); err != nil {
		return nil, fault.Wrap(op, fault.ArgumentError, err, "committer")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fault.Wrap(op, fault.ArgumentError, err, "git dir %q", cfg.Dir)
	}
	cfg.Dir = dir

	sfs := newSyncFS(osfs.New(dir, osfs.WithBoundOS()), dir)
	if err := sfs.MkdirAll(".", 0o755); err != nil {
		return nil, fault.Wrap(op, fault.BackendUnavailable, err, "create git dir %q", dir)
	}
	s := &Store{
		cfg:               cfg,
		fs:                sfs,
		db:                newObjectDB(sfs),
		refLocks:          make(map[string]chan struct{}),
		lockInode:         filepath.Join(dir, lockInodeName),
		packedRefsTimeout: time.Second, // git's core.packedRefsTimeout
		maxPacks:          defaultMaxPacks,
		stop:              make(chan struct{}),
		meta:              make(map[plumbing.Hash]*commitMeta),
	}
	s.bgIdle = sync.NewCond(&s.bgMu)
	s.st = &storage{
		// go-git's object storage is not used: objects go through s.db.
		Storage: filesystem.NewStorageWithOptions(sfs, cache.NewObjectLRU(0), filesystem.Options{}),
		fs:      sfs,
	}

	fi, err := os.Stat(filepath.Join(dir, "objects"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// O-bootstrap-1. go-git writes SHA-1 repositories unless told otherwise.
		if _, err := git.InitWithOptions(s.st, nil, git.InitOptions{DefaultBranch: plumbing.Main}); err != nil {
			return nil, fault.Wrap(op, fault.BackendUnavailable, err, "init bare repository %q", dir)
		}
		// git honours core.bare under an explicit --git-dir only with a format
		// version, which go-git's init leaves out.
		c, err := s.st.Config()
		if err == nil {
			c.Core.RepositoryFormatVersion = config.Version_0
			err = s.st.SetConfig(c)
		}
		if err != nil {
			return nil, fault.Wrap(op, fault.BackendUnavailable, err, "write config of %q", dir)
		}
	case err != nil:
		return nil, fault.Wrap(op, fault.BackendUnavailable, err, "stat object store of %q", dir)
	case !fi.IsDir():
		return nil, fault.E(op, fault.BackendUnavailable, "%q: objects is not a directory", dir)
	}
	c, err := s.st.Config()
	if err != nil {
		return nil, fault.Wrap(op, fault.BackendUnavailable, err, "read config of %q", dir)
	}
	if !c.Core.IsBare {
		return nil, fault.E(op, fault.BackendUnavailable, "%q is not a bare repository", dir)
	}
	if f := c.Extensions.ObjectFormat; f != "" && f != config.SHA1 {
		return nil, fault.E(op, fault.BackendUnavailable, "%q uses object format %s, want sha1 (CONV-4)", dir, f)
	}
	s.db.mu.Lock()
	_, err = s.db.loadLocked()
	s.db.mu.Unlock()
	if err != nil {
		_ = s.db.close()
		return nil, fault.Wrap(op, fault.BackendUnavailable, err, "read packs of %q", dir)
	}
	if err := s.createLockInode(); err != nil {
		_ = s.db.close()
		return nil, fault.Wrap(op, fault.BackendUnavailable, err, "create %s in %q", lockInodeName, dir)
	}
	if s.owner, err = s.clearStaleLocks(); err != nil {
		_ = s.db.close()
		return nil, fault.Wrap(op, fault.BackendUnavailable, err, "clear stale ref locks in %q", dir)
	}
	s.maybeConsolidate()
	return s, nil
}

// lockInodeName is the file in the repository that ref locks are hard links
// of (see lockRefFile). git ignores it.
const lockInodeName = "gitstore-lock-inode"

// Close stops background pack consolidation, waits for it, and releases the
// repository's file descriptors. In-flight calls must have returned.
func (s *Store) Close() error {
	s.close1.Do(func() {
		s.bgMu.Lock()
		s.closed = true
		s.bgMu.Unlock()
		close(s.stop)
		s.bg.Wait()
		s.closeErr = errors.Join(s.db.close(), s.st.Close())
		if s.owner != nil {
			s.owner.Close()
		}
	})
	return s.closeErr
}

// lockRef takes the per-ref write lock (ARCH-9), giving up when ctx ends.
func (s *Store) lockRef(ctx context.Context, ref string) (unlock func(), err error) {
	s.refMu.Lock()
	l, ok := s.refLocks[ref]
	if !ok {
		l = make(chan struct{}, 1)
		s.refLocks[ref] = l
	}
	s.refMu.Unlock()
	select {
	case l <- struct{}{}:
		return func() { <-l }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Store) now() time.Time {
	// Git records seconds; UTC gives the +0000 offset of C-commit-7.
	return s.cfg.Now().UTC().Truncate(time.Second)
}

// parseOID parses a 40-hex lowercase oid (CONV-4).
func parseOID(op, oid string) (plumbing.Hash, error) {
	if len(oid) != 40 || strings.ToLower(oid) != oid {
		return plumbing.ZeroHash, fault.E(op, fault.ArgumentError, "oid %q is not 40 lowercase hex digits", oid)
	}
	h, ok := fromHex(oid)
	if !ok {
		return plumbing.ZeroHash, fault.E(op, fault.ArgumentError, "oid %q is not 40 lowercase hex digits", oid)
	}
	return h, nil
}

func hexes(hs []plumbing.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.String()
	}
	return out
}

// checkIdent refuses names and emails that would corrupt a git ident line.
func checkIdent(name, email string) error {
	if name == "" || email == "" {
		return errors.New("name and email must be non-empty")
	}
	for _, v := range []string{name, email} {
		if strings.ContainsAny(v, "<>\n\x00") {
			return fmt.Errorf("%q contains <, >, a newline or NUL", v)
		}
	}
	return nil
}

// getCommit reads and decodes a commit. A missing object is fault.RefNotFound.
func (s *Store) getCommit(op string, h plumbing.Hash) (*object.Commit, error) {
	o, err := s.getObject(op, "commit", plumbing.CommitObject, h)
	if err != nil {
		return nil, err
	}
	c, err := object.DecodeCommit(s.st, o)
	if err != nil {
		return nil, fault.Wrap(op, fault.Internal, err, "decode commit %s", h)
	}
	return c, nil
}

// getTree reads and decodes a tree.
func (s *Store) getTree(op string, h plumbing.Hash) (*object.Tree, error) {
	o, err := s.getObject(op, "tree", plumbing.TreeObject, h)
	if err != nil {
		return nil, err
	}
	t, err := object.DecodeTree(s.st, o)
	if err != nil {
		return nil, fault.Wrap(op, fault.Internal, err, "decode tree %s", h)
	}
	return t, nil
}

// getBlob reads a blob's content.
func (s *Store) getBlob(op string, h plumbing.Hash) ([]byte, error) {
	o, err := s.getObject(op, "blob", plumbing.BlobObject, h)
	if err != nil {
		return nil, err
	}
	r, err := o.Reader()
	if err != nil {
		return nil, fault.Wrap(op, fault.BackendUnavailable, err, "read blob %s", h)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fault.Wrap(op, fault.BackendUnavailable, err, "read blob %s", h)
	}
	return b, nil
}

// getObject reads object h, which must be of type t.
func (s *Store) getObject(op, kind string, t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	o, err := s.db.get(h)
	if err == nil && o.Type() != t {
		err = plumbing.ErrObjectNotFound // as go-git reports a type mismatch
	}
	if err != nil {
		return nil, s.objectError(op, kind, h, err)
	}
	return o, nil
}

func (s *Store) objectError(op, kind string, h plumbing.Hash, err error) error {
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return fault.Wrap(op, fault.RefNotFound, err, "%s %s not found", kind, h)
	}
	return fault.Wrap(op, fault.BackendUnavailable, err, "read %s %s", kind, h)
}

// fromHex decodes a 40-digit hex oid.
func fromHex(s string) (plumbing.Hash, bool) {
	var h plumbing.Hash
	if len(s) != 2*len(h) {
		return h, false
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return plumbing.ZeroHash, false
	}
	return h, true
}
