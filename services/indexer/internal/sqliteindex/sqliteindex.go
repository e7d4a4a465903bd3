// Package sqliteindex is the indexer's SQLite store of the map index (search.md §1, §2, §6, S-80)
// and the only code that touches the index database. Its map_entries table has exactly Stasima
// 0.1.5's schema, so a shipped map_index.sqlite opens as is; ins_seq (S-6) is SQLite's rowid,
// as in 0.1.5, because a replacing write deletes and re-inserts the row.
//
// Go-only additions, created on open and invisible to 0.1.5:
//   - map_fts, an FTS5 table over title and body_text keyed by the map_entries rowid, kept in
//     step in the same transaction as every write (rebuilt on open when its row count differs,
//     e.g. after 0.1.5 wrote the file), for keyword search;
//   - map_versions, the version guard: each (ref, path) remembers the version (the EVENTS stream
//     sequence of the event that wrote it) so that a redelivered or older event never overwrites
//     a newer row and never disturbs ins_seq (S-32). Rows without a record (a shipped index)
//     accept any version.
//
// The store is safe for concurrent use; writes are serialized by SQLite (BEGIN IMMEDIATE).
package sqliteindex

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/services/indexer/internal/embed"
	"github.com/stasima/stasima/services/indexer/internal/rows"

	_ "modernc.org/sqlite" // the pure-Go driver, registered as "sqlite"
)

// schema is 0.1.5's DDL verbatim (table and indexes), then the Go-only tables.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS map_entries (
                ref TEXT NOT NULL, path TEXT NOT NULL, is_canon INTEGER NOT NULL,
                authoring_instance TEXT, content_oid TEXT, type TEXT, title TEXT, status TEXT,
                tags TEXT, refs TEXT, supersedes TEXT, region_labels TEXT, links TEXT, salience REAL,
                recipients TEXT, subject TEXT, vantage TEXT, canon_state TEXT, instance_depth INTEGER,
                tick TEXT, thread TEXT, body_text TEXT, embedding TEXT, model_id TEXT,
                PRIMARY KEY (ref, path)
            )`,
	`CREATE INDEX IF NOT EXISTS ix_author ON map_entries(authoring_instance)`,
	`CREATE INDEX IF NOT EXISTS ix_canon  ON map_entries(is_canon)`,
	`CREATE INDEX IF NOT EXISTS ix_type   ON map_entries(type)`,
	`CREATE INDEX IF NOT EXISTS ix_cstate ON map_entries(canon_state)`,
	`CREATE INDEX IF NOT EXISTS ix_idepth ON map_entries(instance_depth)`,
	`CREATE VIRTUAL TABLE IF NOT EXISTS map_fts USING fts5(title, body_text)`,
	`CREATE TABLE IF NOT EXISTS map_versions (
		ref TEXT NOT NULL, path TEXT NOT NULL, version INTEGER NOT NULL,
		PRIMARY KEY (ref, path)
	)`,
}

// columns lists map_entries' columns in DDL order; rowid (ins_seq) is read after them.
const columns = `ref, path, is_canon, authoring_instance, content_oid, type, title, status,
	tags, refs, supersedes, region_labels, links, salience, recipients, subject, vantage,
	canon_state, instance_depth, tick, thread, body_text, embedding, model_id`

// Store is the SQLite map index.
type Store struct {
	db *sql.DB
}

// Open opens (creating if needed) the index at path and ensures the schema: 0.1.5's table and
// indexes if absent, then the Go-only tables. An existing file keeps its journal mode.
func Open(ctx context.Context, path string) (*Store, error) {
	_, statErr := os.Stat(path)
	fresh := errors.Is(statErr, os.ErrNotExist)
	// _txlock=immediate: the version check and the write happen under the write lock.
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		return nil, fault.Wrap("index.open", fault.BackendUnavailable, err, "open %s", path)
	}
	if fresh {
		if _, err := db.ExecContext(ctx, `PRAGMA journal_mode=WAL`); err != nil {
			db.Close()
			return nil, fault.Wrap("index.open", fault.BackendUnavailable, err, "journal mode of %s", path)
		}
	}
	s := &Store{db: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) migrate(ctx context.Context) error {
	return s.tx(ctx, "index.migrate", func(tx *sql.Tx) error {
		for _, stmt := range schema {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("schema: %w", err)
			}
		}
		var rowsN, ftsN int64
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM map_entries`).Scan(&rowsN); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM map_fts`).Scan(&ftsN); err != nil {
			return err
		}
		if rowsN == ftsN {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM map_fts`); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO map_fts(rowid, title, body_text)
			SELECT rowid, coalesce(title, ''), coalesce(body_text, '') FROM map_entries`)
		return err
	})
}

func (s *Store) tx(ctx context.Context, op string, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fault.Wrap(op, fault.BackendUnavailable, err, "begin")
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return fault.Wrap(op, fault.BackendUnavailable, err, "%s", op)
	}
	if err := tx.Commit(); err != nil {
		return fault.Wrap(op, fault.BackendUnavailable, err, "commit")
	}
	return nil
}

// Upsert writes rs as the effect of the event with the given version (its EVENTS stream
// sequence, > 0), in one transaction and in order (S-6: each written row becomes the newest).
// A row whose (ref, path) already carries a version >= version is left untouched, so a
// redelivered or older event changes nothing. It returns how many rows were written.
func (s *Store) Upsert(ctx context.Context, version int64, rs ...rows.Row) (int, error) {
	if version < 1 {
		return 0, fault.E("index.upsert", fault.ArgumentError, "version %d is not positive", version)
	}
	written := 0
	err := s.tx(ctx, "index.upsert", func(tx *sql.Tx) error {
		written = 0
		for _, r := range rs {
			var have int64
			err := tx.QueryRowContext(ctx, `SELECT version FROM map_versions WHERE ref = ? AND path = ?`,
				r.Ref, r.Path).Scan(&have)
			switch {
			case err == nil && have >= version:
				continue
			case err != nil && !errors.Is(err, sql.ErrNoRows):
				return err
			}
			if err := writeRow(ctx, tx, r); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO map_versions(ref, path, version) VALUES (?, ?, ?)
				ON CONFLICT(ref, path) DO UPDATE SET version = excluded.version`, r.Ref, r.Path, version); err != nil {
				return err
			}
			written++
		}
		return nil
	})
	return written, err
}

// writeRow replaces the row at (ref, path) and its FTS entry. INSERT OR REPLACE deletes and
// re-inserts, which is what gives the row the next rowid (S-6), exactly as 0.1.5 did.
func writeRow(ctx context.Context, tx *sql.Tx, r rows.Row) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM map_fts WHERE rowid IN
		(SELECT rowid FROM map_entries WHERE ref = ? AND path = ?)`, r.Ref, r.Path); err != nil {
		return err
	}
	isCanon := 0
	if r.IsCanon {
		isCanon = 1
	}
	res, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO map_entries (`+columns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Ref, r.Path, isCanon, r.AuthoringInstance, r.ContentOID, r.Type, r.Title, r.Status,
		encodeList(r.Tags), encodeList(r.Refs), encodeList(r.Supersedes), encodeList(r.RegionLabels),
		encodeList(r.Links), r.Salience, encodeList(r.Recipients), r.Subject, r.Vantage,
		r.CanonState, r.InstanceDepth, r.Tick, r.Thread, r.BodyText, encodeVector(r.Embedding), r.ModelID)
	if err != nil {
		return err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO map_fts(rowid, title, body_text) VALUES (?, ?, ?)`,
		id, r.Title, r.BodyText)
	return err
}

// Reset empties the index, its FTS table and the version guard: the first step of a full
// reindex (S-34). A rebuild numbers rows anew (S-7).
func (s *Store) Reset(ctx context.Context) error {
	return s.tx(ctx, "index.reset", func(tx *sql.Tx) error {
		for _, stmt := range []string{`DELETE FROM map_entries`, `DELETE FROM map_fts`, `DELETE FROM map_versions`} {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteRef removes every row of ref (with its FTS entries and versions) and returns how many
// rows went. Canon rows are never deleted by the indexer's event handling (S-35); this serves
// perspective removal and repair.
func (s *Store) DeleteRef(ctx context.Context, ref string) (int64, error) {
	var n int64
	err := s.tx(ctx, "index.delete_ref", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM map_fts WHERE rowid IN
			(SELECT rowid FROM map_entries WHERE ref = ?)`, ref); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM map_entries WHERE ref = ?`, ref)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM map_versions WHERE ref = ?`, ref)
		return err
	})
	return n, err
}

// Count returns the number of rows.
func (s *Store) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM map_entries`).Scan(&n); err != nil {
		return 0, fault.Wrap("index.count", fault.BackendUnavailable, err, "count rows")
	}
	return n, nil
}

// All returns every row, ins_seq ascending (the unordered-scan order of S-6).
func (s *Store) All(ctx context.Context) ([]rows.Row, error) {
	return s.query(ctx, "index.all", `SELECT `+columns+`, rowid FROM map_entries ORDER BY rowid`)
}

// ListByRef returns the rows of ref, ins_seq ascending.
func (s *Store) ListByRef(ctx context.Context, ref string) ([]rows.Row, error) {
	return s.query(ctx, "index.list_ref",
		`SELECT `+columns+`, rowid FROM map_entries WHERE ref = ? ORDER BY rowid`, ref)
}

// Envelope is the listing enrichment of one path (S-53); Tick and Thread are omitted when empty.
type Envelope struct {
	Title  string `json:"title"`
	Status string `json:"status"`
	Type   string `json:"type"`
	Tick   string `json:"tick,omitempty"`
	Thread string `json:"thread,omitempty"`
}

// EnvelopesFor returns {path: envelope} for every row of ref (S-53, T-list_entries-2); NULL
// fields read as "".
func (s *Store) EnvelopesFor(ctx context.Context, ref string) (map[string]Envelope, error) {
	rs, err := s.ListByRef(ctx, ref)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Envelope, len(rs))
	for _, r := range rs {
		out[r.Path] = Envelope{Title: r.Title, Status: r.Status, Type: r.Type, Tick: r.Tick, Thread: r.Thread}
	}
	return out, nil
}

func (s *Store) query(ctx context.Context, op, q string, args ...any) ([]rows.Row, error) {
	res, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fault.Wrap(op, fault.BackendUnavailable, err, "query")
	}
	defer res.Close()
	var out []rows.Row
	for res.Next() {
		r, err := scanRow(res)
		if err != nil {
			return nil, fault.Wrap(op, fault.Internal, err, "read row")
		}
		out = append(out, r)
	}
	if err := res.Err(); err != nil {
		return nil, fault.Wrap(op, fault.BackendUnavailable, err, "query")
	}
	return out, nil
}

func scanRow(sc interface{ Scan(...any) error }) (rows.Row, error) {
	var (
		r                                          rows.Row
		isCanon                                    int64
		author, oid, typ, title, status            sql.NullString
		tags, refsCol, sup, regions, links, recips sql.NullString
		subject, vantage, cstate, tick, thread     sql.NullString
		body, emb, model                           sql.NullString
		salience                                   sql.NullFloat64
		depth                                      sql.NullInt64
	)
	if err := sc.Scan(&r.Ref, &r.Path, &isCanon, &author, &oid, &typ, &title, &status,
		&tags, &refsCol, &sup, &regions, &links, &salience, &recips, &subject, &vantage,
		&cstate, &depth, &tick, &thread, &body, &emb, &model, &r.InsSeq); err != nil {
		return r, err
	}
	r.IsCanon = isCanon != 0
	r.AuthoringInstance, r.ContentOID, r.Type, r.Title, r.Status = author.String, oid.String, typ.String, title.String, status.String
	r.Subject, r.Vantage, r.CanonState, r.Tick, r.Thread = subject.String, vantage.String, cstate.String, tick.String, thread.String
	r.BodyText, r.ModelID = body.String, model.String
	r.Salience, r.InstanceDepth = salience.Float64, depth.Int64
	var err error
	for _, l := range []struct {
		dst *[]string
		col sql.NullString
	}{{&r.Tags, tags}, {&r.Refs, refsCol}, {&r.Supersedes, sup}, {&r.RegionLabels, regions}, {&r.Links, links}, {&r.Recipients, recips}} {
		if *l.dst, err = decodeList(l.col.String, l.col.Valid); err != nil {
			return r, err
		}
	}
	r.Embedding, err = decodeVector(emb.String, emb.Valid)
	return r, err
}

// Scope values of map_search (S-10). Any other value, "all" included, applies no scope filter.
const (
	ScopeCanon = "canon"
	ScopeMine  = "mine"
	ScopeAll   = "all"
)

// PreviewLen is the number of characters of body_text in a hit's preview (S-13).
const PreviewLen = 160

// Query is one map_search over embeddings (S-10…S-14).
type Query struct {
	Vector            []float64 // the query embedding of the query text (S-20)
	InstanceID        string    // the caller's seat, for ScopeMine
	Scope             string
	Type              string // "" = any type (msg and vap are always excluded, INV-10)
	IncludeSuperseded bool
	IncludeWeak       bool
	Limit             int     // < 1 returns no hits (D-16)
	Floor             float64 // search_score_floor, or the embedder's default floor
}

// Hit is one attributed search result (S-13, INV-9).
type Hit struct {
	Path    string  `json:"path"`
	Ref     string  `json:"ref"`
	Author  string  `json:"author"`
	IsCanon bool    `json:"is_canon"`
	Type    string  `json:"type"`
	Title   string  `json:"title"`
	Status  string  `json:"status"`
	Score   float64 `json:"score"`
	Preview string  `json:"preview"`
}

// Result is a search answer: the kept hits and how many were withheld under the floor (S-14).
type Result struct {
	Results    []Hit `json:"results"`
	BelowFloor int   `json:"below_floor"`
}

// filter builds the S-10 candidate predicate shared by both search modes.
func (q Query) filter(prefix string) (string, []any) {
	where := []string{`coalesce(` + prefix + `type, '') NOT IN ('msg', 'vap')`}
	var args []any
	if !q.IncludeSuperseded {
		where = append(where, prefix+`status = 'active'`)
	}
	if q.Type != "" {
		where = append(where, prefix+`type = ?`)
		args = append(args, q.Type)
	}
	switch q.Scope {
	case ScopeCanon:
		where = append(where, prefix+`is_canon = 1`)
	case ScopeMine:
		where = append(where, prefix+`authoring_instance = ?`)
		args = append(args, q.InstanceID)
	}
	return strings.Join(where, " AND "), args
}

type scored struct {
	row   rows.Row
	score float64
}

// Search answers map_search in embedding mode (S-10…S-15): an exhaustive scan of the
// candidates, scored by embed.Dot, sorted by score descending then ins_seq ascending, cut to
// Limit, then the floor applied to the rounded scores. It reads only (S-16).
func (s *Store) Search(ctx context.Context, q Query) (Result, error) {
	res := Result{Results: []Hit{}}
	if q.Limit < 1 {
		return res, nil
	}
	where, args := q.filter("")
	rs, err := s.query(ctx, "index.search",
		`SELECT `+columns+`, rowid FROM map_entries WHERE `+where+` ORDER BY rowid`, args...)
	if err != nil {
		return res, err
	}
	cands := make([]scored, 0, len(rs))
	for _, r := range rs {
		if len(r.Embedding) == 0 {
			continue
		}
		cands = append(cands, scored{r, embed.Dot(q.Vector, r.Embedding)})
	}
	// Candidates arrive in ins_seq order, so a stable sort breaks ties by ins_seq ascending.
	slices.SortStableFunc(cands, func(a, b scored) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	return cut(cands, q), nil
}

// cut applies S-12…S-14 to sorted candidates.
func cut(cands []scored, q Query) Result {
	res := Result{Results: []Hit{}}
	if len(cands) > q.Limit {
		cands = cands[:q.Limit]
	}
	for _, c := range cands {
		score := embed.Round4(c.score)
		if score < q.Floor && !q.IncludeWeak {
			res.BelowFloor++
			continue
		}
		res.Results = append(res.Results, Hit{
			Path: c.row.Path, Ref: c.row.Ref, Author: c.row.AuthoringInstance, IsCanon: c.row.IsCanon,
			Type: c.row.Type, Title: c.row.Title, Status: c.row.Status, Score: score,
			Preview: preview(c.row.BodyText, PreviewLen),
		})
	}
	return res
}

// KeywordSearch is the Go-only keyword mode over map_fts: the same S-10 candidates (Vector is
// ignored), each word of text matched as a quoted FTS5 term (so no query syntax leaks through),
// ranked by bm25 (score = -bm25, higher is better) then ins_seq ascending, with the same limit
// and floor rules. Text without words returns no hits.
func (s *Store) KeywordSearch(ctx context.Context, text string, q Query) (Result, error) {
	res := Result{Results: []Hit{}}
	terms := embed.Tokens(text)
	if q.Limit < 1 || len(terms) == 0 {
		return res, nil
	}
	for i, t := range terms {
		terms[i] = `"` + strings.ReplaceAll(t, `"`, `""`) + `"`
	}
	where, args := q.filter("m.")
	args = append([]any{strings.Join(terms, " OR ")}, args...)
	rowsRes, err := s.db.QueryContext(ctx, `SELECT m.rowid, -bm25(map_fts) FROM map_fts
		JOIN map_entries m ON m.rowid = map_fts.rowid
		WHERE map_fts MATCH ? AND `+where+` ORDER BY bm25(map_fts), m.rowid`, args...)
	if err != nil {
		return res, fault.Wrap("index.keyword_search", fault.BackendUnavailable, err, "query")
	}
	type idScore struct {
		id    int64
		score float64
	}
	var ids []idScore
	for rowsRes.Next() {
		var is idScore
		if err := rowsRes.Scan(&is.id, &is.score); err != nil {
			rowsRes.Close()
			return res, fault.Wrap("index.keyword_search", fault.BackendUnavailable, err, "scan")
		}
		ids = append(ids, is)
	}
	rowsRes.Close()
	if err := rowsRes.Err(); err != nil {
		return res, fault.Wrap("index.keyword_search", fault.BackendUnavailable, err, "query")
	}
	if len(ids) > q.Limit {
		ids = ids[:q.Limit] // S-12 before reading the rows; cut applies the floor
	}
	cands := make([]scored, 0, len(ids))
	for _, is := range ids {
		r, err := s.query(ctx, "index.keyword_search", `SELECT `+columns+`, rowid FROM map_entries WHERE rowid = ?`, is.id)
		if err != nil {
			return res, err
		}
		if len(r) == 1 {
			cands = append(cands, scored{r[0], is.score})
		}
	}
	return cut(cands, q), nil
}
