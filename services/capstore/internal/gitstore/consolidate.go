package gitstore

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"
	"sort"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// defaultMaxPacks is the pack count above which packs are consolidated. Every
// group commit adds a pack, and a read looks an object up in each index, so
// the count is kept bounded.
const defaultMaxPacks = 32

// maybeConsolidate starts a background consolidation when there are more
// than maxPacks packs and none is running.
func (s *Store) maybeConsolidate() {
	if s.db.packCount() <= s.maxPacks {
		return
	}
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.merging || s.closed {
		return
	}
	s.merging = true
	s.bg.Add(1)
	go s.consolidateLoop()
}

// consolidateLoop merges packs until at most maxPacks remain, the store
// closes, or a merge fails (the next group commit retries).
func (s *Store) consolidateLoop() {
	defer s.bg.Done()
	for {
		err := s.consolidate()
		if err != nil && !errors.Is(err, errStopped) {
			s.cfg.Logger.Error("gitstore: pack consolidation failed", "dir", s.cfg.Dir, "err", err)
		}
		s.bgMu.Lock()
		if err != nil || s.closed || s.db.packCount() <= s.maxPacks {
			s.merging = false
			s.bgIdle.Broadcast()
			s.bgMu.Unlock()
			return
		}
		s.bgMu.Unlock()
	}
}

// waitConsolidated blocks until no consolidation is running.
func (s *Store) waitConsolidated() {
	s.bgMu.Lock()
	for s.merging {
		s.bgIdle.Wait()
	}
	s.bgMu.Unlock()
}

// pickMerge chooses the packs to merge, geometrically (like git repack
// --geometric=2): sorted by object count, every pack that is smaller than
// twice the packs below it joins the merge, so the packs left form a
// progression and an object is rewritten O(log n) times over the store's life.
func (db *objectDB) pickMerge(maxPacks int) []*pack {
	db.mu.Lock()
	ps := slices.Clone(db.packs)
	db.mu.Unlock()
	if len(ps) <= maxPacks {
		return nil
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].count < ps[j].count })
	last, sum := 1, 0
	for j, p := range ps {
		if j > 0 && p.count < 2*sum {
			last = max(last, j)
		}
		sum += p.count
	}
	return ps[:last+1]
}

// consolidate merges a set of packs into one. The merged pack is durable and
// registered before the inputs are unregistered and removed, all under the
// database lock, so every object stays readable throughout.
//
// Whole objects are copied as they are stored (compressed bytes, checked
// against the CRC-32 in the source index), as git repack reuses objects;
// deltas, found only in packs written by git, are resolved and stored whole.
func (s *Store) consolidate() error {
	inputs := s.db.pickMerge(s.maxPacks)
	if len(inputs) < 2 {
		return nil
	}
	type source struct {
		p       *pack
		f       billy.File
		size    int64
		entries []*idxfile.Entry // by offset
	}
	var srcs []*source
	defer func() {
		for _, sr := range srcs {
			_ = sr.f.Close()
		}
	}()
	unique := make(map[plumbing.Hash]bool)
	for _, p := range inputs {
		f, err := s.fs.Open(packPath(p.name, "pack"))
		if err != nil {
			return fmt.Errorf("open pack %s: %w", p.name, err)
		}
		sr := &source{p: p, f: f}
		srcs = append(srcs, sr)
		fi, err := os.Stat(s.fs.abs(packPath(p.name, "pack")))
		if err != nil {
			return err
		}
		sr.size = fi.Size()
		it, err := p.idx.EntriesByOffset()
		if err != nil {
			return err
		}
		for {
			e, err := it.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			sr.entries = append(sr.entries, e)
			unique[e.Hash] = true
		}
		_ = it.Close()
	}

	merged, exists, err := s.db.writePack(len(unique), func(b *packBuilder) error {
		done := make(map[plumbing.Hash]bool, len(unique))
		var buf []byte
		n := 0
		for _, sr := range srcs {
			// Entries are contiguous: each ends where the next begins, the
			// last at the 20-byte trailer.
			// The buffer is at most the pack: most inputs are one group commit's few objects,
			// and a 256 KiB buffer each (allocated and zeroed) cost more than the copy.
			r := bufio.NewReaderSize(io.NewSectionReader(sr.f, 0, sr.size-20), int(min(sr.size, 256<<10)))
			pos := int64(0)
			var pf *packfile.Packfile // for deltas, opened on first use
			for i, e := range sr.entries {
				if n++; n%256 == 0 {
					select {
					case <-s.stop:
						return errStopped
					default:
					}
				}
				end := sr.size - 20
				if i+1 < len(sr.entries) {
					end = int64(sr.entries[i+1].Offset)
				}
				if _, err := r.Discard(int(int64(e.Offset) - pos)); err != nil {
					return fmt.Errorf("pack %s: %w", sr.p.name, err)
				}
				buf = slices.Grow(buf[:0], int(end-int64(e.Offset)))[:end-int64(e.Offset)]
				if _, err := io.ReadFull(r, buf); err != nil || len(buf) == 0 {
					return fmt.Errorf("pack %s: entry %s at %d: %v", sr.p.name, e.Hash, e.Offset, err)
				}
				pos = end
				if done[e.Hash] {
					continue
				}
				done[e.Hash] = true
				if t := plumbing.ObjectType(buf[0] >> 4 & 7); t.Valid() && t != plumbing.OFSDeltaObject && t != plumbing.REFDeltaObject {
					if crc32.ChecksumIEEE(buf) != e.CRC32 {
						return fmt.Errorf("pack %s: entry %s at %d fails its CRC", sr.p.name, e.Hash, e.Offset)
					}
					if err := b.raw(e.Hash, buf, e.CRC32); err != nil {
						return err
					}
					continue
				}
				if pf == nil {
					pf = packfile.NewPackfileWithCache(sr.p.idx, nil, sr.f, cache.NewObjectLRU(8*cache.MiByte), 0)
				}
				o, err := pf.Get(e.Hash)
				if err != nil {
					return fmt.Errorf("pack %s: object %s: %w", sr.p.name, e.Hash, err)
				}
				if got := o.Hash(); got != e.Hash {
					return fmt.Errorf("pack %s: object %s reads back as %s", sr.p.name, e.Hash, got)
				}
				if err := b.object(o); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	removed, err := s.db.replace(inputs, merged, exists)
	if err != nil {
		return err
	}
	for _, name := range removed {
		if err := s.db.removePackFiles(name); err != nil {
			return fmt.Errorf("remove merged pack %s: %w", name, err)
		}
	}
	return nil
}

// replace registers merged in place of inputs and returns the names of the
// inputs whose files may now be removed (never merged's own name). When merged
// already existed on disk (exists), the pack of that name is kept or opened.
func (db *objectDB) replace(inputs []*pack, merged *pack, exists bool) ([]plumbing.Hash, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	name := merged.name
	if exists {
		merged = nil
		if !slices.ContainsFunc(db.packs, func(p *pack) bool { return p.name == name }) {
			p, err := db.openPack(name)
			if err != nil {
				return nil, err
			}
			merged = p
		}
	}
	var keep []*pack
	for _, p := range db.packs {
		if !slices.Contains(inputs, p) || p.name == name {
			keep = append(keep, p)
		}
	}
	if merged != nil {
		keep = append(keep, merged) // the oldest objects: looked up last
	}
	var removed []plumbing.Hash
	for _, p := range inputs {
		if p.name == name {
			continue
		}
		// No reader holds p: readers use packs only under db.mu.
		_ = p.file.Close()
		removed = append(removed, p.name)
	}
	db.packs = keep
	return removed, nil
}
