package gitstore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"syscall"

	"github.com/go-git/go-git/v5/plumbing"
)

// packedRefsHeader declares the only trait the file relies on. No "peeled"
// trait: peel lines are not written, and git peels tags itself when needed.
const packedRefsHeader = "# pack-refs with: sorted \n"

// packedRefs is one parsed version of packed-refs. It is immutable once
// published.
type packedRefs struct {
	id    fileID
	names []string // sorted in byte order, as git requires for "sorted"
	oids  map[string]plumbing.Hash
}

// fileID identifies a version of a file that is only ever replaced by rename
// (git and this package both write packed-refs that way): a new version is a
// new inode, so device, inode, size and mtime together tell versions apart, as
// git's own stat validity check does.
type fileID struct {
	exists   bool
	dev, ino uint64
	size     int64
	mtime    int64
}

func fileIDOf(fi os.FileInfo) fileID {
	id := fileID{exists: true, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.dev, id.ino = uint64(st.Dev), uint64(st.Ino) //nolint:unconvert // widths differ by platform
	}
	return id
}

// packed returns the current packed-refs, re-reading the file only when its
// identity changed since the cached version.
func (st *storage) packed() (*packedRefs, error) {
	name := st.fs.abs("packed-refs")
	cur := st.packedCache.Load()
	fi, err := os.Stat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if cur != nil && !cur.id.exists {
			return cur, nil
		}
		pr := &packedRefs{oids: map[string]plumbing.Hash{}}
		st.packedCache.Store(pr)
		return pr, nil
	case err != nil:
		return nil, err
	}
	if cur != nil && cur.id == fileIDOf(fi) {
		return cur, nil
	}
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) { // replaced between stat and open
		return st.packed()
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The identity of the open file, not of the name: the content read below
	// belongs to this inode whatever happens to the name meanwhile.
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	pr, err := parsePackedRefs(b)
	if err != nil {
		return nil, err
	}
	pr.id = fileIDOf(fi)
	st.packedCache.Store(pr)
	return pr, nil
}

// parsePackedRefs parses git's packed-refs format; peel lines ("^oid") and
// comments are skipped.
func parsePackedRefs(b []byte) (*packedRefs, error) {
	pr := &packedRefs{oids: make(map[string]plumbing.Hash)}
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 || line[0] == '#' || line[0] == '^' {
			continue
		}
		hex, name, ok := strings.Cut(string(line), " ")
		h, hok := fromHex(hex)
		if !ok || !hok || name == "" {
			return nil, fmt.Errorf("packed-refs: malformed line %q", line)
		}
		if _, dup := pr.oids[name]; !dup {
			pr.names = append(pr.names, name)
		}
		pr.oids[name] = h
	}
	if !sort.StringsAreSorted(pr.names) {
		sort.Strings(pr.names)
	}
	return pr, nil
}

// with returns packed-refs with updates applied (new names inserted in order)
// and its serialization.
func (pr *packedRefs) with(updates map[string]plumbing.Hash) (*packedRefs, []byte) {
	next := &packedRefs{
		names: make([]string, 0, len(pr.names)+len(updates)),
		oids:  make(map[string]plumbing.Hash, len(pr.oids)+len(updates)),
	}
	for n, h := range pr.oids {
		next.oids[n] = h
	}
	var added []string
	for n, h := range updates {
		if _, ok := next.oids[n]; !ok {
			added = append(added, n)
		}
		next.oids[n] = h
	}
	sort.Strings(added)
	// Merge the two sorted lists.
	i, j := 0, 0
	for i < len(pr.names) || j < len(added) {
		if j == len(added) || i < len(pr.names) && pr.names[i] < added[j] {
			next.names = append(next.names, pr.names[i])
			i++
		} else {
			next.names = append(next.names, added[j])
			j++
		}
	}
	var b bytes.Buffer
	b.Grow(len(packedRefsHeader) + len(next.names)*(41+48))
	b.WriteString(packedRefsHeader)
	for _, n := range next.names {
		b.WriteString(next.oids[n].String())
		b.WriteByte(' ')
		b.WriteString(n)
		b.WriteByte('\n')
	}
	return next, b.Bytes()
}

// conflict returns a packed ref that name cannot coexist with (git refs are
// prefix-free: "refs/a" and "refs/a/b" cannot both exist).
func (pr *packedRefs) conflict(name string) (string, bool) {
	for i := range len(name) {
		if name[i] == '/' {
			if _, ok := pr.oids[name[:i]]; ok {
				return name[:i], true
			}
		}
	}
	dir := name + "/"
	if k := sort.SearchStrings(pr.names, dir); k < len(pr.names) && strings.HasPrefix(pr.names[k], dir) {
		return pr.names[k], true
	}
	return "", false
}
