package app

import (
	"strings"

	"github.com/stasima/stasima/pkg/commitmsg"
	"github.com/stasima/stasima/pkg/entry"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/hexseq"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
)

// ResolveRef answers the tip of a full ref name.
func (a *App) ResolveRef(q schema.RefQuery) (schema.RefAnswer, error) {
	oid, ok, err := a.git.Resolve(q.Ref)
	if err != nil {
		return schema.RefAnswer{}, unavailable("resolve_ref", err)
	}
	if !ok {
		return schema.RefAnswer{Ref: q.Ref}, nil
	}
	return schema.RefAnswer{Ref: q.Ref, OID: oid}, nil
}

// ReadBlob reads a path at a ref or commit.
func (a *App) ReadBlob(q schema.BlobQuery) (schema.BlobAnswer, error) {
	commit := q.OID
	if commit == "" {
		oid, ok, err := a.git.Resolve(q.Ref)
		if err != nil {
			return schema.BlobAnswer{}, unavailable("read_blob", err)
		}
		if !ok {
			return schema.BlobAnswer{}, nil
		}
		commit = oid
	}
	// One walk of the trees answers both the bytes and the blob's oid.
	bs, err := a.git.ReadBlobs(commit, []string{q.Path}, schema.MaxReadBlobsBytes)
	if err != nil {
		return schema.BlobAnswer{}, unavailable("read_blob", err)
	}
	b := bs[0]
	return schema.BlobAnswer{Found: b.OK, RefFound: true, Commit: commit, BlobOID: b.OID, Data: b.Data}, nil
}

// ReadBlobs reads many paths at one commit (the indexer's derivation, issue 15): at most
// schema.MaxReadBlobsPaths paths, answered in order and cut before schema.MaxReadBlobsBytes.
func (a *App) ReadBlobs(q schema.BlobsQuery) (schema.BlobsAnswer, error) {
	const op = "read_blobs"
	if q.OID == "" {
		return schema.BlobsAnswer{}, fault.E(op, fault.ArgumentError, "oid is empty: read_blobs reads at a commit")
	}
	if len(q.Paths) > schema.MaxReadBlobsPaths {
		return schema.BlobsAnswer{}, fault.E(op, fault.ArgumentError, "%d paths asked, at most %d per request",
			len(q.Paths), schema.MaxReadBlobsPaths)
	}
	bs, err := a.git.ReadBlobs(q.OID, q.Paths, schema.MaxReadBlobsBytes)
	if err != nil {
		return schema.BlobsAnswer{}, unavailable(op, err)
	}
	out := schema.BlobsAnswer{Commit: q.OID, Blobs: make([]schema.PathBlob, len(bs))}
	for i, b := range bs {
		out.Blobs[i] = schema.PathBlob{Path: b.Path, Found: b.OK, BlobOID: b.OID, Data: b.Data}
	}
	return out, nil
}

// ListPaths lists every file of a ref's tree.
func (a *App) ListPaths(q schema.RefQuery) (schema.ListPathsAnswer, error) {
	oid, ok, err := a.git.Resolve(q.Ref)
	if err != nil {
		return schema.ListPathsAnswer{}, unavailable("list_paths", err)
	}
	if !ok {
		return schema.ListPathsAnswer{Paths: []string{}}, nil
	}
	paths, err := a.git.ListPathsUnder(oid, q.Under)
	if err != nil {
		return schema.ListPathsAnswer{}, unavailable("list_paths", err)
	}
	if paths == nil {
		paths = []string{}
	}
	return schema.ListPathsAnswer{RefFound: true, OID: oid, Paths: paths}, nil
}

// ListRefs lists refs under a prefix in byte order.
func (a *App) ListRefs(q schema.ListRefsQuery) (schema.ListRefsAnswer, error) {
	rs, err := a.git.ListRefs(q.Prefix)
	if err != nil {
		return schema.ListRefsAnswer{}, unavailable("list_refs", err)
	}
	out := schema.ListRefsAnswer{Refs: make([]schema.RefEntry, 0, len(rs))}
	for _, r := range rs {
		out.Refs = append(out.Refs, schema.RefEntry{Name: r.Name, OID: r.OID})
	}
	return out, nil
}

// History answers T-kip_history-2/3.
func (a *App) History(q schema.HistoryQuery) (schema.HistoryAnswer, error) {
	oid, ok, err := a.git.Resolve(q.Ref)
	if err != nil {
		return schema.HistoryAnswer{}, unavailable("history", err)
	}
	if !ok {
		return schema.HistoryAnswer{History: []schema.HistoryItem{}}, nil
	}
	commits, err := a.git.History(oid, q.Path)
	if err != nil {
		return schema.HistoryAnswer{}, unavailable("history", err)
	}
	out := schema.HistoryAnswer{RefFound: true, History: make([]schema.HistoryItem, 0, len(commits))}
	for _, c := range commits {
		title := ""
		if data, ok, err := a.git.ReadBlob(c.OID, q.Path); err == nil && ok {
			env, _ := entry.Parse(strings.ToValidUTF8(string(data), "\uFFFD"))
			title = env.Str("title")
		}
		out.History = append(out.History, schema.HistoryItem{
			OID: c.OID, Author: c.AuthorName, Subject: commitmsg.Subject(c.Message), Title: title,
		})
	}
	return out, nil
}

// Holders names canon and every perspective that holds path (T-kip_get-2).
func (a *App) Holders(q schema.HoldersQuery) (schema.HoldersAnswer, error) {
	out := schema.HoldersAnswer{Holders: []string{}}
	if oid, ok, err := a.git.Resolve(a.cfg.CanonRef); err != nil {
		return out, unavailable("holders", err)
	} else if ok {
		if _, found, err := a.git.ReadBlob(oid, q.Path); err != nil {
			return out, unavailable("holders", err)
		} else if found {
			out.Holders = append(out.Holders, "canon")
		}
	}
	rs, err := a.git.ListRefs(refs.PerspectivePrefix)
	if err != nil {
		return out, unavailable("holders", err)
	}
	for _, r := range rs {
		if _, found, err := a.git.ReadBlob(r.OID, q.Path); err != nil {
			return out, unavailable("holders", err)
		} else if found {
			seat, _ := refs.SeatOf(r.Name)
			out.Holders = append(out.Holders, seat)
		}
	}
	return out, nil
}

// CanonSeq answers canon's state sequence (C-log-3).
func (a *App) CanonSeq() (schema.CanonSeqAnswer, error) {
	rs, err := a.git.ListRefs(refs.StateTagPrefix)
	if err != nil {
		return schema.CanonSeqAnswer{}, unavailable("canon_seq", err)
	}
	tags := make([]string, 0, len(rs))
	for _, r := range rs {
		tags = append(tags, strings.TrimPrefix(r.Name, refs.StateTagPrefix))
	}
	return schema.CanonSeqAnswer{Seq: hexseq.CanonSeq(tags, a.cfg.SeqOrigin)}, nil
}

// CommitCount answers the commit count of a ref's tip (0 when absent).
func (a *App) CommitCount(q schema.RefQuery) (int, error) {
	oid, ok, err := a.git.Resolve(q.Ref)
	if err != nil || !ok {
		return 0, unavailable("commit_count", err)
	}
	return a.git.CountCommits(oid)
}

// CanonPositions answers C-pos-3 for paths at a canon tip.
func (a *App) CanonPositions(q schema.CanonPositionsQuery) (schema.CanonPositionsAnswer, error) {
	pos, err := a.git.CanonPositions(q.Tip, q.Paths)
	if err != nil {
		return schema.CanonPositionsAnswer{}, unavailable("canon_positions", err)
	}
	return schema.CanonPositionsAnswer{Positions: pos}, nil
}
