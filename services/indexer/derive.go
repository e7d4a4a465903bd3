package indexer

import (
	"context"
	"encoding/json"
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

// Batches of the derivation's blob reads: paths per read_blobs request (at most
// schema.MaxReadBlobsPaths) and requests in flight at once. One read_blob per path made a
// 100,000-entry reindex 100,000 capstore requests in one queue, and timed out (issue 15).
const (
	blobBatch   = 512
	blobWorkers = 4
)

// blobs reads paths in the tree of commit through read_blobs, blobBatch paths a request and
// blobWorkers requests at once, and returns their answers in paths order (Found=false when a
// path is absent there). A request answered in part (its byte bound) is asked again for the rest.
func (s *Service) blobs(ctx context.Context, commit string, paths []string) ([]schema.PathBlob, error) {
	out := make([]schema.PathBlob, len(paths))
	n := (len(paths) + blobBatch - 1) / blobBatch
	errs := make([]error, n)
	parallel(n, blobWorkers, func(i int) {
		lo, hi := i*blobBatch, min(len(paths), (i+1)*blobBatch)
		for lo < hi {
			var a schema.BlobsAnswer
			if err := s.client.Query(ctx, bus.Capstore, schema.QReadBlobs, schema.BlobsQuery{OID: commit, Paths: paths[lo:hi]}, &a); err != nil {
				errs[i] = err
				return
			}
			if len(a.Blobs) == 0 || len(a.Blobs) > hi-lo {
				errs[i] = fault.E("index.read_blobs", fault.BackendUnavailable, "read_blobs answered %d of %d paths", len(a.Blobs), hi-lo)
				return
			}
			for k, b := range a.Blobs {
				if b.Path != paths[lo+k] {
					errs[i] = fault.E("index.read_blobs", fault.BackendUnavailable, "read_blobs answered %q for %q", b.Path, paths[lo+k])
					return
				}
				out[lo+k] = b
			}
			lo += len(a.Blobs)
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// pathWorkers bounds one derivation's per-path capstore queries in flight (a canon path's
// history, read only when its envelope names no author).
const pathWorkers = 16

// perspectiveRows derives the rows of paths on a perspective ref at commit (S-31), in paths
// order. Paths that are not indexed (S-3) or absent at the commit are skipped. Each row names
// commit, so the store writes a commit's row once however often its event is delivered (S-6).
func (s *Service) perspectiveRows(ctx context.Context, ref, commit string, paths []string) ([]rows.Row, error) {
	var md []string
	for _, p := range paths {
		if rows.Indexed(s.cfg.CanonRef, ref, p) {
			md = append(md, p)
		}
	}
	bs, err := s.blobs(ctx, commit, md)
	if err != nil {
		return nil, err
	}
	return s.deriveEach(len(md), func(i int) (rows.Row, bool, error) {
		a := bs[i]
		if !a.Found {
			return rows.Row{}, false, nil
		}
		r, err := rows.Derive(rows.Source{CanonRef: s.cfg.CanonRef, Ref: ref, Path: a.Path, BlobOID: a.BlobOID, Text: string(a.Data)})
		r.Commit = commit
		return r, err == nil, err
	})
}

// deriveEach derives the row of each of n paths concurrently (at most pathWorkers at once) and
// returns the rows found, in order, or the first error in order.
func (s *Service) deriveEach(n int, fn func(i int) (rows.Row, bool, error)) ([]rows.Row, error) {
	type result struct {
		r     rows.Row
		found bool
		err   error
	}
	res := make([]result, n)
	parallel(n, pathWorkers, func(i int) {
		res[i].r, res[i].found, res[i].err = fn(i)
	})
	var out []rows.Row
	for _, r := range res {
		if r.err != nil {
			return nil, r.err
		}
		if r.found {
			out = append(out, r.r)
		}
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
	bs, err := s.blobs(ctx, tip, md)
	if err != nil {
		return nil, err
	}
	return s.deriveEach(len(md), func(i int) (rows.Row, bool, error) {
		a, p := bs[i], md[i]
		if !a.Found {
			return rows.Row{}, false, nil
		}
		src := rows.Source{CanonRef: s.cfg.CanonRef, Ref: s.cfg.CanonRef, Path: p, BlobOID: a.BlobOID,
			Text: string(a.Data), Position: int64(pos.Positions[p])}
		r, err := rows.Derive(src)
		r.Commit = tip
		if err != nil || r.AuthoringInstance != "" {
			// An envelope's origin_author is the author (S-4): the path's history is read only
			// when it names none, one capstore round trip fewer per entry on a reindex.
			return r, err == nil, err
		}
		var h schema.HistoryAnswer
		if err := s.client.Query(ctx, bus.Capstore, schema.QHistory, schema.HistoryQuery{Ref: s.cfg.CanonRef, Path: p}, &h); err != nil {
			return rows.Row{}, false, err
		}
		if n := len(h.History); n > 0 {
			src.Introducer = h.History[n-1].Author // newest first: the last is the oldest
		}
		r, err = rows.Derive(src)
		r.Commit = tip
		return r, err == nil, err
	})
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
	total := len(lr.Refs)
	if ok {
		total++
	}
	done := total - len(lr.Refs)
	s.progress("derive", done, total)
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
		done++
		s.progress("derive", done, total)
	}
	return out, nil
}

// progress reports a full reindex's progress to a watching terminal (bus.Subjects.Progress;
// best effort: nobody may be listening).
func (s *Service) progress(phase string, done, total int) {
	b, err := json.Marshal(schema.Progress{Job: schema.CmdIndexReindex, Phase: phase, Done: done, Total: total})
	if err == nil {
		_ = s.nc.Publish(s.subj.Progress(bus.Index), b)
	}
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
	s.progress("embed", 0, len(rs))
	if err := s.embedRows(ctx, rs); err != nil {
		return 0, err
	}
	s.progress("write", 0, len(rs))
	if err := s.store.Reset(ctx); err != nil {
		return 0, err
	}
	n, err := s.store.Upsert(ctx, version, rs...)
	if err != nil {
		return 0, err
	}
	s.progress("write", n, len(rs))
	s.log.Info("reindexed", "rows", n, "version", version)
	return n, nil
}

// Kinds of eventRows.
const (
	unitNone      = "none"      // nothing to index (a proposal, anchor or backup ref, S-3)
	unitRows      = "rows"      // a perspective commit's rows (S-31)
	unitLand      = "land"      // canon re-derived at a landed commit (S-35)
	unitBootstrap = "bootstrap" // a full rebuild (S-33)
)

// eventRows is what one event asks of the index, derived from git but not yet compared with the
// index or written.
type eventRows struct {
	kind    string
	version int64
	rows    []rows.Row
}

var errUnknownEvent = errors.New("not an indexed event")

// derive reads from capstore what the git event at stream sequence seq writes. It reads only
// git, never the index, so the events of a batch are derived concurrently.
func (s *Service) derive(ctx context.Context, seq uint64, env bus.Envelope) (eventRows, error) {
	d := eventRows{kind: unitNone, version: int64(seq)}
	var err error
	switch env.Type {
	case schema.EvtGitCommit:
		var ev schema.GitCommitted
		if err := decodeData(env, &ev); err != nil {
			return d, err
		}
		if ev.Ref == s.cfg.CanonRef {
			d.kind = unitLand
			d.rows, err = s.landRows(ctx, ev.OID)
			return d, err
		}
		if _, ok := refs.SeatOf(ev.Ref); !ok {
			return d, nil // proposals, anchors, backups: never indexed (S-3)
		}
		d.kind = unitRows
		d.rows, err = s.perspectiveRows(ctx, ev.Ref, ev.OID, ev.Paths)
		return d, err
	case schema.EvtGitBootstrap:
		d.kind = unitBootstrap // S-33: the rebuild reads git itself, under the write lock
		return d, nil
	case schema.EvtGitLand:
		var ev schema.GitLanded
		if err := decodeData(env, &ev); err != nil {
			return d, err
		}
		if ev.Ref != "" && ev.Ref != s.cfg.CanonRef {
			return d, nil
		}
		d.kind = unitLand
		if ev.Parent != "" {
			d.rows, err = s.landChangedRows(ctx, ev.Parent, ev.OID)
		} else {
			d.rows, err = s.landRows(ctx, ev.OID)
		}
		return d, err
	}
	return d, fmt.Errorf("%s: %w", env.Type, errUnknownEvent)
}

// landRows re-derives every canon path at the landed commit (S-35).
func (s *Service) landRows(ctx context.Context, oid string) ([]rows.Row, error) {
	// capstore lists trees by ref name: a path the canon ref gained after oid is absent at oid
	// and skipped; its own land event indexes it.
	ps, err := s.paths(ctx, s.cfg.CanonRef)
	if err != nil {
		return nil, err
	}
	return s.canonRows(ctx, oid, ps)
}

// landChangedRows is S-35 proper: only the paths changed between the merge's first parent and
// the merge are derived. A path the land did not touch keeps its blob, its introducer and its
// spine position, so its row cannot change; deriving only the changed ones keeps a land into a
// large canon proportional to the land, not to canon.
func (s *Service) landChangedRows(ctx context.Context, parent, oid string) ([]rows.Row, error) {
	var ch schema.ChangedPathsAnswer
	if err := s.client.Query(ctx, bus.Capstore, schema.QChangedPaths, schema.ChangedPathsQuery{From: parent, To: oid}, &ch); err != nil {
		return nil, err
	}
	return s.canonRows(ctx, oid, ch.Paths)
}

// batchWriter gathers the writes of consecutive events, in stream order, for one store
// transaction (S-32: each at its event's version, so the store's version guard applies per
// event exactly as if each were written alone).
type batchWriter struct {
	s      *Service
	writes []rows.Write
	// canon is the canon rows as the index will hold them once writes are in: read from the
	// store at the batch's first land, then updated by each land's changed rows.
	canon map[string]rows.Row
}

func (s *Service) newBatchWriter() *batchWriter { return &batchWriter{s: s} }

// add takes one derived event and returns the rows it will write (a bootstrap's rebuild is
// written at once, with whatever was added before it already flushed). A land writes only the
// canon rows that differ from the indexed ones (after the batch's earlier lands), so the canon
// rows always equal those of a full reindex (S-36) and unchanged rows keep their place in
// ins_seq order. Canon rows are never deleted.
func (w *batchWriter) add(ctx context.Context, d eventRows) (int, error) {
	switch d.kind {
	case unitBootstrap:
		if _, err := w.flush(ctx); err != nil {
			return 0, err
		}
		w.canon = nil // the rebuild rewrites canon
		// A redelivered bootstrap (its ack lost after later events were applied) must not
		// rebuild again: that would renumber rows no later write replaced (S-6). A rebuild
		// writes every row at its event's version, so the index holding that version or a
		// newer one means this event was applied.
		if have, err := w.s.store.MaxVersion(ctx); err != nil {
			return 0, err
		} else if have >= d.version {
			return 0, nil
		}
		return w.s.reindex(ctx, d.version)
	case unitRows:
		if len(d.rows) > 0 {
			w.writes = append(w.writes, rows.Write{Version: d.version, Rows: d.rows})
		}
		return len(d.rows), nil
	case unitLand:
		if w.canon == nil {
			have, err := w.s.store.ListByRef(ctx, w.s.cfg.CanonRef)
			if err != nil {
				return 0, err
			}
			w.canon = make(map[string]rows.Row, len(have))
			for _, r := range have {
				w.canon[r.Path] = r
			}
		}
		var changed []rows.Row
		for _, r := range d.rows {
			if c, ok := w.canon[r.Path]; ok && c.ContentOID == r.ContentOID &&
				c.AuthoringInstance == r.AuthoringInstance && c.InstanceDepth == r.InstanceDepth {
				continue
			}
			changed = append(changed, r)
			w.canon[r.Path] = r
		}
		if len(changed) > 0 {
			w.writes = append(w.writes, rows.Write{Version: d.version, Rows: changed})
		}
		return len(changed), nil
	}
	return 0, nil
}

// flush embeds the gathered rows outside the write lock (S-37) and writes them in one store
// transaction; it returns the rows written.
func (w *batchWriter) flush(ctx context.Context) (int, error) {
	if len(w.writes) == 0 {
		return 0, nil
	}
	var all []rows.Row
	for _, wr := range w.writes {
		all = append(all, wr.Rows...)
	}
	if err := w.s.embedRows(ctx, all); err != nil {
		return 0, err
	}
	// rows.Embed filled all in place; the writes share nothing with it, so copy back.
	k := 0
	for _, wr := range w.writes {
		k += copy(wr.Rows, all[k:k+len(wr.Rows)])
	}
	w.s.writeMu.Lock()
	n, err := w.s.store.UpsertBatch(ctx, w.writes...)
	w.s.writeMu.Unlock()
	if err != nil {
		return 0, err
	}
	w.writes = nil
	return n, nil
}

// apply applies one git event at its stream sequence and returns the rows written.
func (s *Service) apply(ctx context.Context, seq uint64, env bus.Envelope) (int, error) {
	d, err := s.derive(ctx, seq, env)
	if err != nil {
		return 0, err
	}
	w := s.newBatchWriter()
	n, err := w.add(ctx, d)
	if err != nil || d.kind == unitBootstrap {
		return n, err
	}
	return w.flush(ctx)
}
