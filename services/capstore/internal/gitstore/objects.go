package gitstore

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/objfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// packDir is where packs live, relative to the repository.
const packDir = "objects/pack"

// objectDB reads and writes the repository's objects. New objects are only
// ever written as packs (one per group commit, see batch.go); loose objects
// left by git or by older versions of this package are still read.
//
// go-git's packfile readers seek a shared scanner and are not safe for
// concurrent use, so the pack set and every reader are guarded by mu, a leaf
// lock that is never held across a write or a sync. Objects come out of the
// database fully read (MemoryObject) with their hash computed, so callers
// decode them outside mu.
type objectDB struct {
	fs    *syncFS
	cache cache.Object // decoded objects by hash; internally synchronized

	mu    sync.Mutex
	packs []*pack // newest first: recent objects are the hot ones
}

// pack is one registered pack: its index in memory and an open reader.
type pack struct {
	name  plumbing.Hash // the pack checksum, as in pack-<name>.pack
	idx   *idxfile.MemoryIndex
	count int
	file  billy.File
	pf    *packfile.Packfile
}

func packPath(name plumbing.Hash, ext string) string {
	return path.Join(packDir, "pack-"+name.String()+"."+ext)
}

func newObjectDB(sfs *syncFS) *objectDB {
	return &objectDB{fs: sfs, cache: cache.NewObjectLRUDefault()}
}

// load registers every complete pack in objects/pack (an .idx with its .pack)
// that is not registered yet, and reports how many it added. mu must be held.
func (db *objectDB) loadLocked() (int, error) {
	ents, err := os.ReadDir(db.fs.abs(packDir))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	known := make(map[plumbing.Hash]bool, len(db.packs))
	for _, p := range db.packs {
		known[p.name] = true
	}
	added := 0
	for _, e := range ents {
		hexName, ok := strings.CutPrefix(e.Name(), "pack-")
		if !ok {
			continue
		}
		if hexName, ok = strings.CutSuffix(hexName, ".idx"); !ok {
			continue
		}
		name, ok := fromHex(hexName)
		if !ok || known[name] {
			continue
		}
		p, err := db.openPack(name)
		if errors.Is(err, fs.ErrNotExist) {
			// An index without its pack: a writer that crashed between the
			// renames, or a pack being removed. git skips it too.
			continue
		}
		if err != nil {
			return added, err
		}
		db.packs = append([]*pack{p}, db.packs...)
		added++
	}
	return added, nil
}

// openPack reads the index of pack name and opens the pack for reading.
func (db *objectDB) openPack(name plumbing.Hash) (*pack, error) {
	if _, err := os.Lstat(db.fs.abs(packPath(name, "pack"))); err != nil {
		return nil, err
	}
	f, err := db.fs.Open(packPath(name, "idx"))
	if err != nil {
		return nil, err
	}
	idx := idxfile.NewMemoryIndex()
	err = idxfile.NewDecoder(bufio.NewReader(f)).Decode(idx)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("read index of pack %s: %w", name, err)
	}
	if plumbing.Hash(idx.PackfileChecksum) != name {
		return nil, fmt.Errorf("index of pack %s names pack %x", name, idx.PackfileChecksum)
	}
	return db.newPack(name, idx)
}

func (db *objectDB) newPack(name plumbing.Hash, idx *idxfile.MemoryIndex) (*pack, error) {
	n, err := idx.Count()
	if err != nil {
		return nil, err
	}
	pf, err := db.fs.Open(packPath(name, "pack"))
	if err != nil {
		return nil, err
	}
	return &pack{
		name: name, idx: idx, count: int(n), file: pf,
		// No filesystem: objects are read into memory, never lazily from a
		// file that consolidation may remove later.
		pf: packfile.NewPackfileWithCache(idx, nil, pf, db.cache, 0),
	}, nil
}

// get returns the object h. A missing object is plumbing.ErrObjectNotFound.
func (db *objectDB) get(h plumbing.Hash) (plumbing.EncodedObject, error) {
	if o, ok := db.cache.Get(h); ok {
		return o, nil
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	o, err := db.getLocked(h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		// Maybe a pack that git wrote after we looked (a repack, a fetch).
		if n, lerr := db.loadLocked(); lerr != nil {
			return nil, lerr
		} else if n > 0 {
			o, err = db.getLocked(h)
		}
	}
	return o, err
}

func (db *objectDB) getLocked(h plumbing.Hash) (plumbing.EncodedObject, error) {
	for _, p := range db.packs {
		if _, err := p.idx.FindOffset(h); err != nil {
			continue
		}
		o, err := p.pf.Get(h)
		if err != nil {
			return nil, fmt.Errorf("pack %s: object %s: %w", p.name, h, err)
		}
		// Compute the hash now, under mu: a MemoryObject computes it lazily,
		// and the object is shared once it is returned or cached.
		if got := o.Hash(); got != h {
			return nil, fmt.Errorf("pack %s: object %s reads back as %s", p.name, h, got)
		}
		db.cache.Put(o)
		return o, nil
	}
	return db.getLoose(h)
}

// getLoose reads a loose object (written by git or by an older gitstore).
func (db *objectDB) getLoose(h plumbing.Hash) (plumbing.EncodedObject, error) {
	hex := h.String()
	f, err := os.Open(db.fs.abs(path.Join("objects", hex[:2], hex[2:])))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, plumbing.ErrObjectNotFound
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := objfile.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("loose object %s: %w", h, err)
	}
	defer r.Close()
	t, size, err := r.Header()
	if err != nil {
		return nil, fmt.Errorf("loose object %s: %w", h, err)
	}
	o := &plumbing.MemoryObject{}
	o.SetType(t)
	o.SetSize(size)
	if _, err := io.Copy(o, r); err != nil {
		return nil, fmt.Errorf("loose object %s: %w", h, err)
	}
	if got := o.Hash(); got != h {
		return nil, fmt.Errorf("loose object %s reads back as %s", h, got)
	}
	db.cache.Put(o)
	return o, nil
}

// hasPacked reports whether h is in the cache or a registered pack. It is the
// cheap existence check used to skip writing objects again; a false negative
// only costs a duplicate copy.
func (db *objectDB) hasPacked(h plumbing.Hash) bool {
	if _, ok := db.cache.Get(h); ok {
		return true
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	for _, p := range db.packs {
		if _, err := p.idx.FindOffset(h); err == nil {
			return true
		}
	}
	return false
}

// add registers a freshly written, durable pack: the next read sees it.
func (db *objectDB) add(p *pack) {
	db.mu.Lock()
	db.packs = append([]*pack{p}, db.packs...)
	db.mu.Unlock()
}

func (db *objectDB) packCount() int {
	db.mu.Lock()
	defer db.mu.Unlock()
	return len(db.packs)
}

func (db *objectDB) close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	var first error
	for _, p := range db.packs {
		if err := p.file.Close(); err != nil && first == nil {
			first = err
		}
	}
	db.packs = nil
	return first
}

// errStopped ends a pack write because the store is closing.
var errStopped = errors.New("store is closing")

// packBuilder appends entries to a pack being written by writePack.
type packBuilder struct {
	n, written int
	offset     int64
	bw         *bufio.Writer
	iw         *idxfile.Writer
	entry      bytes.Buffer
	zw         *zlib.Writer
}

// object appends o whole (no delta), zlib-compressed.
func (b *packBuilder) object(o plumbing.EncodedObject) error {
	b.entry.Reset()
	b.entry.Write(appendEntryHeader(nil, o.Type(), o.Size()))
	if b.zw == nil {
		b.zw = zlibWriters.Get().(*zlib.Writer)
	}
	b.zw.Reset(&b.entry)
	r, err := o.Reader()
	if err != nil {
		return err
	}
	_, err = io.Copy(b.zw, r)
	_ = r.Close()
	if err == nil {
		err = b.zw.Close()
	}
	if err != nil {
		return fmt.Errorf("pack object %s: %w", o.Hash(), err)
	}
	return b.raw(o.Hash(), b.entry.Bytes(), crc32.ChecksumIEEE(b.entry.Bytes()))
}

// zlibWriters recycles compressors: a new one allocates about a megabyte.
var zlibWriters = sync.Pool{New: func() any {
	zw, _ := zlib.NewWriterLevel(io.Discard, zlib.BestSpeed)
	return zw
}}

// raw appends an entry copied verbatim from another pack (header and
// compressed data); crc is its CRC-32. Only whole objects can be copied: a
// delta's base offset is relative to its position.
func (b *packBuilder) raw(h plumbing.Hash, entry []byte, crc uint32) error {
	if b.written == b.n {
		return fmt.Errorf("pack: more than the %d objects announced", b.n)
	}
	b.iw.Add(h, uint64(b.offset), crc)
	if _, err := b.bw.Write(entry); err != nil {
		return err
	}
	b.offset += int64(len(entry))
	b.written++
	return nil
}

// writePack writes a pack of n objects, appended by fill, and its index under
// objects/pack, durably: both files are fsynced, renamed into place (the index
// last, as git discovers packs by their index) and the directory is fsynced.
// It returns the pack, opened for reading but not registered. When an
// identical pack already exists, its files are kept and exists is true.
func (db *objectDB) writePack(n int, fill func(b *packBuilder) error) (p *pack, exists bool, err error) {
	dir := db.fs.abs(packDir)
	if err := db.fs.MkdirAll(packDir, 0o755); err != nil {
		return nil, false, err
	}
	pw, err := os.CreateTemp(dir, "tmp_pack_")
	if err != nil {
		return nil, false, err
	}
	tmpPack, tmpIdx := pw.Name(), ""
	defer func() {
		if err != nil {
			_ = pw.Close()
			_ = os.Remove(tmpPack)
			if tmpIdx != "" {
				_ = os.Remove(tmpIdx)
			}
		}
	}()

	sum := sha1.New()
	b := &packBuilder{n: n, bw: bufio.NewWriterSize(io.MultiWriter(pw, sum), 64<<10), iw: new(idxfile.Writer)}
	defer func() {
		if b.zw != nil {
			zlibWriters.Put(b.zw)
		}
	}()
	var hdr [12]byte
	copy(hdr[:], "PACK")
	binary.BigEndian.PutUint32(hdr[4:], 2)
	binary.BigEndian.PutUint32(hdr[8:], uint32(n))
	_, err = b.bw.Write(hdr[:])
	_ = b.iw.OnHeader(uint32(n))
	b.offset = int64(len(hdr))
	if err == nil {
		err = fill(b)
	}
	if err == nil && b.written != n {
		err = fmt.Errorf("pack: %d objects written, %d announced", b.written, n)
	}
	if err == nil {
		err = b.bw.Flush()
	}
	var name plumbing.Hash
	if err == nil {
		copy(name[:], sum.Sum(nil))
		_, err = pw.Write(name[:]) // the trailer is not part of its own checksum
	}
	if err == nil {
		err = db.fs.syncOSFile(pw)
	}
	if err != nil {
		return nil, false, err
	}
	if err := pw.Close(); err != nil {
		return nil, false, err
	}
	if err := b.iw.OnFooter(name); err != nil {
		return nil, false, err
	}
	idx, err := b.iw.Index()
	if err != nil {
		return nil, false, err
	}

	xw, err := os.CreateTemp(dir, "tmp_idx_")
	if err != nil {
		return nil, false, err
	}
	tmpIdx = xw.Name()
	xb := bufio.NewWriter(xw)
	_, err = idxfile.NewEncoder(xb).Encode(idx)
	if err == nil {
		err = xb.Flush()
	}
	if err == nil {
		err = db.fs.syncOSFile(xw)
	}
	if cerr := xw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, false, err
	}

	finalPack, finalIdx := db.fs.abs(packPath(name, "pack")), db.fs.abs(packPath(name, "idx"))
	if _, serr := os.Lstat(finalIdx); serr == nil {
		if _, serr := os.Lstat(finalPack); serr == nil {
			// Same objects in the same order: the pack is already there.
			_ = os.Remove(tmpPack)
			_ = os.Remove(tmpIdx)
			return &pack{name: name, idx: idx}, true, nil
		}
	}
	// git packs are read-only; chmod changes no directory entry.
	for _, f := range []string{tmpPack, tmpIdx} {
		if err := os.Chmod(f, 0o444); err != nil {
			return nil, false, err
		}
	}
	if err := db.fs.renameAll([2]string{tmpPack, finalPack}, [2]string{tmpIdx, finalIdx}); err != nil {
		return nil, false, err
	}
	p, err = db.newPack(name, idx)
	if err != nil {
		return nil, false, err
	}
	return p, false, nil
}

// appendEntryHeader appends a pack entry header: the type and the inflated
// size, 4 bits then 7 bits per byte, continuation in the high bit.
func appendEntryHeader(b []byte, t plumbing.ObjectType, size int64) []byte {
	c := byte(t)<<4 | byte(size&0x0f)
	size >>= 4
	for size > 0 {
		b = append(b, c|0x80)
		c = byte(size & 0x7f)
		size >>= 7
	}
	return append(b, c)
}

// removePackFiles deletes a pack that is no longer registered: the index
// first, so that git stops discovering the pack before it disappears.
func (db *objectDB) removePackFiles(name plumbing.Hash) error {
	err := os.Remove(db.fs.abs(packPath(name, "idx")))
	if perr := os.Remove(db.fs.abs(packPath(name, "pack"))); err == nil {
		err = perr
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
