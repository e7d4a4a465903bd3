package gitstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/go-git/go-git/v5/plumbing"
	gitstorage "github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/stasima/stasima/pkg/commitmsg"
	"github.com/stasima/stasima/pkg/fault"
)

// Ref is a reference and the oid it points at.
type Ref struct {
	Name string // full name, "refs/heads/main"
	OID  string
}

// errRefLocked reports that "<ref>.lock" exists: another writer (an out-of-band
// git process) holds the ref, or a crashed writer left the lock behind.
var errRefLocked = errors.New("ref is locked")

// storage is go-git's filesystem storage with git's lockfile protocol for the
// refs go-git itself writes (HEAD at init); the package moves refs through
// packed-refs (batch.go).
//
// go-git's own reference writer updates a ref in place (open, flock, truncate,
// write): a concurrent reader can see the empty file and conclude the ref does not
// exist, a crash can leave it empty, and git's CLI (which uses "<ref>.lock") does
// not see go-git's flock. This override writes "<ref>.lock" with O_EXCL, checks
// the old value under it, fsyncs, and renames it over the ref, exactly like git.
type storage struct {
	*filesystem.Storage
	fs *syncFS

	packedCache atomic.Pointer[packedRefs] // the last packed-refs read or written
}

// SetReference sets r unconditionally (used by go-git's init for HEAD).
func (st *storage) SetReference(r *plumbing.Reference) error {
	return st.CheckAndSetReference(r, nil)
}

// CheckAndSetReference moves r from old. old == nil sets unconditionally; an old
// reference with the zero hash requires the ref not to exist (create-only); any
// other old requires the ref to point at old's hash. A mismatch is
// gitstorage.ErrReferenceHasChanged; a held lock is errRefLocked.
func (st *storage) CheckAndSetReference(r, old *plumbing.Reference) (err error) {
	name := r.Name().String()
	var content string
	switch r.Type() {
	case plumbing.HashReference:
		content = r.Hash().String() + "\n"
	case plumbing.SymbolicReference:
		content = "ref: " + r.Target().String() + "\n"
	default:
		return fmt.Errorf("set ref %s: invalid reference type", name)
	}
	lock := name + ".lock"
	f, err := st.fs.OpenFile(lock, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %s exists", errRefLocked, lock)
	}
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			_ = f.Close()
			_ = st.fs.Remove(lock)
		}
	}()
	if old != nil {
		cur, exists, err := st.readRef(name)
		if err != nil {
			return err
		}
		if old.Hash().IsZero() && exists || !old.Hash().IsZero() && (!exists || cur != old.Hash()) {
			return gitstorage.ErrReferenceHasChanged
		}
	}
	if _, err := io.WriteString(f, content); err != nil {
		return err
	}
	committed = true
	if err := f.Close(); err != nil { // fsyncs the lock file
		_ = st.fs.Remove(lock)
		return err
	}
	if err := st.fs.Rename(lock, name); err != nil { // fsyncs the ref's directory
		_ = st.fs.Remove(lock)
		return err
	}
	return nil
}

// readRef reads a ref as git does: the loose file, else packed-refs. Symbolic
// refs are followed (to a bounded depth). exists is false when the ref (or the
// target of a symbolic ref) does not exist.
func (st *storage) readRef(name string) (h plumbing.Hash, exists bool, err error) {
	h, exists, _, err = st.resolveRef(name)
	return h, exists, err
}

// resolveRef is readRef that also reports whether name itself is a loose file
// (which shadows any packed value of name).
func (st *storage) resolveRef(name string) (h plumbing.Hash, exists, loose bool, err error) {
	for depth := 0; depth < 5; depth++ {
		b, err := os.ReadFile(st.fs.abs(name))
		switch {
		case err == nil:
			loose = loose || depth == 0
			line := strings.TrimSpace(string(b))
			if target, ok := strings.CutPrefix(line, "ref:"); ok {
				name = strings.TrimSpace(target)
				continue
			}
			h, ok := fromHex(line)
			if !ok || len(line) != 40 {
				return plumbing.ZeroHash, false, loose, fmt.Errorf("ref %s is corrupt: %q", name, line)
			}
			return h, true, loose, nil
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.EISDIR), errors.Is(err, syscall.ENOTDIR),
			errors.Is(err, syscall.ENAMETOOLONG):
			// Not a loose ref (a directory of refs, under a file, or a name
			// longer than the filesystem holds): git then consults packed-refs.
			// A read of such a name is a miss, not a storage failure (issue 13:
			// announce of a 5,000-byte seat name answered 503).
			pr, err := st.packed()
			if err != nil {
				return plumbing.ZeroHash, false, loose, err
			}
			h, ok := pr.oids[name]
			return h, ok, loose, nil
		default:
			return plumbing.ZeroHash, false, loose, err
		}
	}
	return plumbing.ZeroHash, false, loose, fmt.Errorf("ref %s: symbolic refs nest too deep", name)
}

// checkRefName refuses names that are not full, well-formed refs (git
// check-ref-format rules, C-names-2).
func checkRefName(op, ref string) error {
	if !strings.HasPrefix(ref, "refs/") || plumbing.ReferenceName(ref).Validate() != nil ||
		!plumbing.ReferenceName(ref).IsSafe() {
		return fault.E(op, fault.ArgumentError, "ref %q is not a valid full ref name", ref)
	}
	return nil
}

// Resolve returns the oid ref points at; ok is false when the ref does not exist.
func (s *Store) Resolve(ref string) (oid string, ok bool, err error) {
	const op = "gitstore.resolve"
	if err := checkRefName(op, ref); err != nil {
		return "", false, err
	}
	h, ok, err := s.st.readRef(ref)
	if err != nil {
		return "", false, fault.Wrap(op, fault.BackendUnavailable, err, "read ref %q", ref)
	}
	if !ok {
		return "", false, nil
	}
	return h.String(), true, nil
}

// ListRefs lists the refs whose names start with prefix ("" for all refs under
// refs/), loose and packed, sorted by name in byte order. Lightweight tags are
// included; an annotated tag lists its tag object's oid. Lock files of writes in
// flight are not refs and are skipped.
func (s *Store) ListRefs(prefix string) ([]Ref, error) {
	const op = "gitstore.list_refs"
	seen := make(map[string]bool)
	var refs []Ref
	add := func(name string, h plumbing.Hash) {
		if !seen[name] && strings.HasPrefix(name, prefix) {
			seen[name] = true
			refs = append(refs, Ref{Name: name, OID: h.String()})
		}
	}
	root := s.walkRoot(prefix)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) { // raced with a removal
				return nil
			}
			if p == root && (errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENAMETOOLONG)) {
				return nil // the prefix's directory cannot exist (a file in its way, a NUL, too long a name): no loose ref starts with it
			}
			return err
		}
		if d.IsDir() || strings.HasSuffix(p, ".lock") {
			return nil
		}
		rel, err := filepath.Rel(s.cfg.Dir, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if !strings.HasPrefix(name, prefix) {
			return nil
		}
		h, ok, err := s.st.readRef(name)
		if err != nil {
			return err
		}
		if ok {
			add(name, h) // first, so the loose value shadows a packed one
		}
		return nil
	})
	if err == nil {
		var pr *packedRefs
		if pr, err = s.st.packed(); err == nil {
			// A packed ref whose loose file is gone was deleted only if git
			// also dropped it from packed-refs, so packed values stand.
			for _, name := range pr.names {
				add(name, pr.oids[name])
			}
		}
	}
	if err != nil {
		return nil, fault.Wrap(op, fault.BackendUnavailable, err, "list refs %q", prefix)
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].Name < refs[j].Name })
	return refs, nil
}

// walkRoot is the directory of loose refs that can start with prefix: the
// prefix's directory part when it is a plain path under refs/ (so listing the
// perspectives, on every kip_commit, reads one directory and not every
// proposal's and tag's), else refs/ itself.
func (s *Store) walkRoot(prefix string) string {
	root := filepath.Join(s.cfg.Dir, "refs")
	i := strings.LastIndex(prefix, "/")
	if i <= len("refs") || !strings.HasPrefix(prefix, "refs/") {
		return root
	}
	dir := prefix[:i]
	if path.Clean(dir) != dir || slices.Contains(strings.Split(dir, "/"), "..") {
		return root
	}
	return filepath.Join(s.cfg.Dir, filepath.FromSlash(dir))
}

// SetRef points name at newOID by compare-and-swap, for tags and anchors.
// oldOID == "" creates the ref and refuses (fault.StaleRef) when it exists at
// another oid; re-creating it at newOID is a no-op (C-log-7). Otherwise the ref
// must currently point at oldOID. newOID must name an existing object.
func (s *Store) SetRef(ctx context.Context, name, newOID, oldOID string) error {
	const op = "gitstore.set_ref"
	if err := checkRefName(op, name); err != nil {
		return err
	}
	newH, err := parseOID(op, newOID)
	if err != nil {
		return err
	}
	oldH := plumbing.ZeroHash
	if oldOID != "" {
		if oldH, err = parseOID(op, oldOID); err != nil {
			return err
		}
	}
	unlock, err := s.lockRef(ctx, name)
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, name, err)
	}
	defer unlock()

	cur, exists, err := s.st.readRef(name)
	if err != nil {
		return fault.Wrap(op, fault.BackendUnavailable, err, "read ref %q", name)
	}
	if exists && cur == newH {
		return nil // C-log-7
	}
	if exists != (oldOID != "") || exists && cur != oldH {
		return staleRef(op, name, oldOID, cur, exists)
	}
	if err := s.hasObject(op, newH); err != nil {
		return err
	}
	return s.apply(&refUpdate{op: op, ref: name, old: oldH, new: newH})
}

func staleRef(op, name, expected string, cur plumbing.Hash, exists bool) error {
	want := "absent (create-only)"
	if expected != "" {
		want = expected
	}
	got := "absent"
	if exists {
		got = cur.String()
	}
	return fault.E(op, fault.StaleRef, "ref %q moved: expected tip %s, actual tip %s", name, want, got)
}

func (s *Store) hasObject(op string, h plumbing.Hash) error {
	if _, err := s.db.get(h); err != nil {
		return s.objectError(op, "object", h, err)
	}
	return nil
}

// TipOpID returns the tip of ref and the op-id trailer (C-commit-4) of its commit
// ("" when it has none); ok is false when the ref does not exist.
func (s *Store) TipOpID(ref string) (oid, opID string, ok bool, err error) {
	const op = "gitstore.tip_op_id"
	oid, ok, err = s.Resolve(ref)
	if err != nil || !ok {
		return "", "", false, err
	}
	h, _ := fromHex(oid)
	c, err := s.getCommit(op, h)
	if err != nil {
		return "", "", false, err
	}
	tipOp, _ := commitmsg.Trailer(c.Message, commitmsg.OpIDKey)
	return oid, tipOp, true, nil
}
