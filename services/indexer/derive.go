package indexer

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/indexer/internal/rows"
)

// The derivation reads git only through capstore's queries; every failure to get an answer is
// BackendUnavailable, so the event or command is retried rather than dropped.

// blob reads path in the tree of commit (found=false when the path is absent there).
func (s *Service) blob(ctx context.Context, commit, path string) (schema.BlobAnswer, error) {
	var a schema.BlobAnswer
	err := s.client.Query(ctx, bus.Capstore, schema.QReadBlob, schema.BlobQuery{OID: commit, Path: path}, &a)
	return a, err
}

// perspectiveRows derives the rows of paths on a perspective ref at commit (S-31). Paths that
// are not indexed (S-3) or absent at the commit are skipped.
func (s *Service) perspectiveRows(ctx context.Context, ref, commit string, paths []string) ([]rows.Row, error) {
	var out []rows.Row
	for _, p := range paths {
		if !rows.Indexed(s.cfg.CanonRef, ref, p) {
			continue
		}
		a, err := s.blob(ctx, commit, p)
		if err != nil {
			return nil, err
		}
		if !a.Found {
			continue
		}
		r, err := rows.Derive(rows.Source{CanonRef: s.cfg.CanonRef, Ref: ref, Path: p, BlobOID: a.BlobOID, Text: string(a.Data)})
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// canonRows derives the canon rows of paths at the canon commit tip (S-4, S-5, S-35): the
// author is the envelope's origin_author, else the path's introducer (the author of the oldest
// commit in its canon history); the depth is the C-pos-3 position at tip.
func (s *Service) canonRows(ctx context.Context, tip string, paths []string) ([]rows.Row, error) {
	var md []string
	for _, p := range paths {
		if rows.Indexed(s.cfg.CanonRef, s.cfg.CanonRef, p) {
			md = append(md, p)
		}
	}
	if len(md) == 0 {
		return nil, nil
	}
	var pos schema.CanonPositionsAnswer
	if err := s.client.Query(ctx, bus.Capstore, schema.QCanonPositions,
		schema.CanonPositionsQuery{Tip: tip, Paths: md}, &pos); err != nil {
		return nil, err
	}
	var out []rows.Row
	for _, p := range md {
		a, err := s.blob(ctx, tip, p)
		if err != nil {
			return nil, err
		}
		if !a.Found {
			continue
		}
		var h schema.HistoryAnswer
		if err := s.client.Query(ctx, bus.Capstore, schema.QHistory, schema.HistoryQuery{Ref: s.cfg.CanonRef, Path: p}, &h); err != nil {
			return nil, err
		}
		src := rows.Source{CanonRef: s.cfg.CanonRef, Ref: s.cfg.CanonRef, Path: p, BlobOID: a.BlobOID,
			Text: string(a.Data), Position: int64(pos.Positions[p])}
		if n := len(h.History); n > 0 {
			src.Introducer = h.History[n-1].Author // newest first: the last is the oldest
		}
		r, err := rows.Derive(src)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// canonTip resolves the canon ref; ok=false when canon does not exist yet.
func (s *Service) canonTip(ctx context.Context) (string, bool, error) {
	var a schema.RefAnswer
	if err := s.client.Query(ctx, bus.Capstore, schema.QResolveRef, schema.RefQuery{Ref: s.cfg.CanonRef}, &a); err != nil {
		return "", false, err
	}
	return a.OID, a.OID != "", nil
}

// paths lists every file of ref's tree (ref is a ref name) in byte order.
func (s *Service) paths(ctx context.Context, ref string) ([]string, error) {
	var a schema.ListPathsAnswer
	if err := s.client.Query(ctx, bus.Capstore, schema.QListPaths, schema.RefQuery{Ref: ref}, &a); err != nil {
		return nil, err
	}
	return a.Paths, nil
}

// allRows derives the rows of a full reindex (S-34): canon if it exists, then every
// perspective in ref order, each ".md" path in tree order.
func (s *Service) allRows(ctx context.Context) ([]rows.Row, error) {
	var out []rows.Row
	tip, ok, err := s.canonTip(ctx)
	if err != nil {
		return nil, err
	}
	if ok {
		ps, err := s.paths(ctx, s.cfg.CanonRef)
		if err != nil {
			return nil, err
		}
		if out, err = s.canonRows(ctx, tip, ps); err != nil {
			return nil, err
		}
	}
	var lr schema.ListRefsAnswer
	if err := s.client.Query(ctx, bus.Capstore, schema.QListRefs, schema.ListRefsQuery{Prefix: refs.PerspectivePrefix}, &lr); err != nil {
		return nil, err
	}
	slices.SortFunc(lr.Refs, func(a, b schema.RefEntry) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	for _, r := range lr.Refs {
		ps, err := s.paths(ctx, r.Name)
		if err != nil {
			return nil, err
		}
		rs, err := s.perspectiveRows(ctx, r.Name, r.OID, ps)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

// embedRows fills the embeddings (S-23); an embedder failure is a backend failure.
func (s *Service) embedRows(ctx context.Context, rs []rows.Row) error {
	if len(rs) == 0 {
		return nil
	}
	if err := rows.Embed(ctx, s.emb, rs); err != nil {
		return fault.Wrap("index.embed", fault.BackendUnavailable, err, "embed")
	}
	return nil
}

// Reindex rebuilds the whole index from git (S-34) and returns the number of rows written.
// The rows carry the current watermark as their version, so no event already applied can
// overwrite them and every later one can.
func (s *Service) Reindex(ctx context.Context) (int, error) { return s.reindex(ctx, 0) }

// reindex is Reindex at version (0: the watermark). Every row is derived and embedded before
// the index is cleared, so a failed derivation leaves the old index in place. The write lock is
// held throughout — unlike an event's write (S-37) — so no event's rows land between the read
// of git and the rebuild and are then lost to it; events wait for the rebuild.
func (s *Service) reindex(ctx context.Context, version int64) (int, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if version == 0 {
		version = max(int64(s.mark.get()), 1)
	}
	rs, err := s.allRows(ctx)
	if err != nil {
		return 0, err
	}
	if err := s.embedRows(ctx, rs); err != nil {
		return 0, err
	}
	if err := s.store.Reset(ctx); err != nil {
		return 0, err
	}
	n, err := s.store.Upsert(ctx, version, rs...)
	if err != nil {
		return 0, err
	}
	s.log.Info("reindexed", "rows", n, "version", version)
	return n, nil
}

// indexLand re-derives every canon path at the landed commit (S-35) and writes the rows that
// differ from the indexed ones, so the canon rows always equal those of a full reindex (S-36)
// and unchanged rows keep their place in ins_seq order. Canon rows are never deleted.
func (s *Service) indexLand(ctx context.Context, version int64, oid string) (int, error) {
	// capstore lists trees by ref name: a path the canon ref gained after oid is absent at oid
	// and skipped; its own land event indexes it.
	ps, err := s.paths(ctx, s.cfg.CanonRef)
	if err != nil {
		return 0, err
	}
	rs, err := s.canonRows(ctx, oid, ps)
	if err != nil {
		return 0, err
	}
	have, err := s.store.ListByRef(ctx, s.cfg.CanonRef)
	if err != nil {
		return 0, err
	}
	cur := make(map[string]rows.Row, len(have))
	for _, r := range have {
		cur[r.Path] = r
	}
	changed := rs[:0]
	for _, r := range rs {
		if c, ok := cur[r.Path]; ok && c.ContentOID == r.ContentOID &&
			c.AuthoringInstance == r.AuthoringInstance && c.InstanceDepth == r.InstanceDepth {
			continue
		}
		changed = append(changed, r)
	}
	return s.write(ctx, version, changed)
}

// write embeds rs outside the write lock (S-37) and upserts them at version.
func (s *Service) write(ctx context.Context, version int64, rs []rows.Row) (int, error) {
	if len(rs) == 0 {
		return 0, nil
	}
	if err := s.embedRows(ctx, rs); err != nil {
		return 0, err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.store.Upsert(ctx, version, rs...)
}

var errUnknownEvent = errors.New("not an indexed event")

// apply applies one git event at its stream sequence and returns the rows written.
func (s *Service) apply(ctx context.Context, seq uint64, env bus.Envelope) (int, error) {
	version := int64(seq)
	switch env.Type {
	case schema.EvtGitCommit:
		var ev schema.GitCommitted
		if err := decodeData(env, &ev); err != nil {
			return 0, err
		}
		if ev.Ref == s.cfg.CanonRef {
			return s.indexLand(ctx, version, ev.OID)
		}
		if _, ok := refs.SeatOf(ev.Ref); !ok {
			return 0, nil // proposals, anchors, backups: never indexed (S-3)
		}
		rs, err := s.perspectiveRows(ctx, ev.Ref, ev.OID, ev.Paths)
		if err != nil {
			return 0, err
		}
		return s.write(ctx, version, rs)
	case schema.EvtGitBootstrap:
		return s.reindex(ctx, version) // S-33
	case schema.EvtGitLand:
		var ev struct {
			Ref string `json:"ref"`
			OID string `json:"oid"`
		}
		if err := decodeData(env, &ev); err != nil {
			return 0, err
		}
		if ev.Ref != "" && ev.Ref != s.cfg.CanonRef {
			return 0, nil
		}
		return s.indexLand(ctx, version, ev.OID)
	}
	return 0, fmt.Errorf("%s: %w", env.Type, errUnknownEvent)
}
