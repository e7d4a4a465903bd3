// Package sqliteindex is the indexer's SQLite store of the map index (search.md §1, §2, §6, S-80)
// and the only code that touches the index database. Its map_entries table has exactly Stasima
// 0.1.5's schema, so a shipped map_index.sqlite opens as is; ins_seq (S-6) is SQLite's rowid,
// as in 0.1.5, because a replacing write deletes and re-inserts the row.
//
// Go-only additions, created on open and invisible to 0.1.5:
//   - map_terms, an FTS5 table holding each row's keyword terms (ranking.Terms) keyed by the
//     map_entries rowid, kept in step in the same transaction as every write (rebuilt on open
//     when its row count differs, e.g. after 0.1.5 wrote the file), for the keyword side of
//     hybrid search;
//   - map_versions, the version guard: each (ref, path) remembers the version (the EVENTS stream
//     sequence of the event that wrote it) and the commit the row came from, so that a
//     redelivered, re-announced or older event never overwrites a newer row and never disturbs
//     ins_seq (S-6, S-32). Rows without a record (a shipped index) accept any version;
//   - map_meta, one generation counter bumped by every write transaction, so the in-memory
//     vector table (ranking.Vectors) knows when another writer changed the file.
//
// The store is safe for concurrent use; writes are serialized by a mutex and by SQLite (BEGIN
// IMMEDIATE).
package sqliteindex

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/indexer/internal/ranking"
	"github.com/stasima/stasima/services/indexer/internal/rows"

	_ "modernc.org/sqlite" // the pure-Go driver, registered as "sqlite"
)

// tableSchema is 0.1.5's DDL verbatim (table and indexes), then the Go-only tables.
var tableSchema = []string{
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
	`DROP TABLE IF EXISTS map_fts`, // an earlier Go-only keyword table over the raw text
	`CREATE VIRTUAL TABLE IF NOT EXISTS map_terms USING fts5(terms, tokenize = 'unicode61 remove_diacritics 0')`,
	`CREATE TABLE IF NOT EXISTS map_versions (
		ref TEXT NOT NULL, path TEXT NOT NULL, version INTEGER NOT NULL, commit_oid TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (ref, path)
	)`,
	`CREATE TABLE IF NOT EXISTS map_meta (id INTEGER PRIMARY KEY CHECK (id = 1), gen INTEGER NOT NULL)`,
	`INSERT OR IGNORE INTO map_meta(id, gen) VALUES (1, 0)`,
}

// columns lists map_entries' columns in DDL order; rowid (ins_seq) is read after them.
const columns = `ref, path, is_canon, authoring_instance, content_oid, type, title, status,
	tags, refs, supersedes, region_labels, links, salience, recipients, subject, vantage,
	canon_state, instance_depth, tick, thread, body_text, embedding, model_id`

// Store is the SQLite map index.
type Store struct {
	db *sql.DB
	vt *ranking.Vectors
	// wmu serializes this store's write transactions with their vector-table updates, and
	// reloads of the table (lock order: wmu, then the table's own lock).
	wmu sync.Mutex
	// upgraded says what Open rebuilt (Upgraded).
	upgraded string
}

// Open opens (creating if needed) the index at path, ensures the schema (0.1.5's table and
// indexes if absent, then the Go-only tables) and loads the vector table. An existing file
// keeps its journal mode.
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
	s := &Store{db: db, vt: ranking.NewVectors()}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.ensure(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) migrate(ctx context.Context) error {
	return s.tx(ctx, "index.migrate", func(tx *sql.Tx) error {
		for _, stmt := range tableSchema {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("schema: %w", err)
			}
		}
		if err := migrateVersions(ctx, tx); err != nil {
			return err
		}
		rebuilt, err := migrateKeys(ctx, tx)
		if err != nil {
			return err
		}
		if rebuilt {
			s.upgraded = "rebuilt the lookup keys (map_keys) from the stored rows"
		}
		var rowsN, ftsN int64
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM map_entries`).Scan(&rowsN); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM map_terms`).Scan(&ftsN); err != nil {
			return err
		}
		if rowsN == ftsN {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM map_terms`); err != nil {
			return err
		}
		res, err := tx.QueryContext(ctx, `SELECT rowid, coalesce(title, ''), coalesce(body_text, '') FROM map_entries`)
		if err != nil {
			return err
		}
		type term struct {
			id    int64
			terms string
		}
		var ts []term
		for res.Next() {
			var r rows.Row
			if err := res.Scan(&r.InsSeq, &r.Title, &r.BodyText); err != nil {
				res.Close()
				return err
			}
			ts = append(ts, term{r.InsSeq, ranking.Terms(r)})
		}
		res.Close()
		if err := res.Err(); err != nil {
			return err
		}
		for _, t := range ts {
			if _, err := tx.ExecContext(ctx, `INSERT INTO map_terms(rowid, terms) VALUES (?, ?)`, t.id, t.terms); err != nil {
				return err
			}
		}
		_, err = bumpGen(ctx, tx)
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

// bumpGen advances the write generation inside a write transaction and returns the new value.
func bumpGen(ctx context.Context, tx *sql.Tx) (int64, error) {
	var g int64
	err := tx.QueryRowContext(ctx, `UPDATE map_meta SET gen = gen + 1 WHERE id = 1 RETURNING gen`).Scan(&g)
	return g, err
}

// ensure reloads the vector table when the stored generation moved past it (another writer,
// or a write whose table update was lost). The generation is read before the rows, so a write
// racing the reload leaves the table marked older than its rows and reloaded again next time.
func (s *Store) ensure(ctx context.Context) error {
	var g int64
	if err := s.db.QueryRowContext(ctx, `SELECT gen FROM map_meta WHERE id = 1`).Scan(&g); err != nil {
		return fault.Wrap("index.vectors", fault.BackendUnavailable, err, "read generation")
	}
	if g == s.vt.Gen() {
		return nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if g == s.vt.Gen() {
		return nil
	}
	res, err := s.db.QueryContext(ctx, `SELECT rowid, coalesce(type, ''), coalesce(status, ''),
		coalesce(authoring_instance, ''), is_canon, embedding FROM map_entries ORDER BY rowid`)
	if err != nil {
		return fault.Wrap("index.vectors", fault.BackendUnavailable, err, "load vectors")
	}
	defer res.Close()
	var (
		metas []ranking.Meta
		vecs  [][]float64
	)
	for res.Next() {
		var (
			m       ranking.Meta
			isCanon int64
			emb     sql.NullString
		)
		if err := res.Scan(&m.Seq, &m.Type, &m.Status, &m.Author, &isCanon, &emb); err != nil {
			return fault.Wrap("index.vectors", fault.BackendUnavailable, err, "load vectors")
		}
		m.IsCanon = isCanon != 0
		v, err := decodeVector(emb.String, emb.Valid)
		if err != nil {
			return fault.Wrap("index.vectors", fault.Internal, err, "row %d", m.Seq)
		}
		metas, vecs = append(metas, m), append(vecs, v)
	}
	if err := res.Err(); err != nil {
		return fault.Wrap("index.vectors", fault.BackendUnavailable, err, "load vectors")
	}
	s.vt.Load(g, metas, vecs)
	return nil
}

// change is one write transaction's effect on the vector table.
type change struct {
	from, to int64
	deleted  []int64
	added    []ranking.Meta
	vecs     [][]float64
	// addedAt indexes added by rowid, so a row replaced later in the same transaction (one
	// batch of events writing a path twice) leaves the change instead of surviving it.
	addedAt map[int64]int
}

func (ch *change) add(m ranking.Meta, vec []float64) {
	if ch.addedAt == nil {
		ch.addedAt = map[int64]int{}
	}
	ch.addedAt[m.Seq] = len(ch.added)
	ch.added, ch.vecs = append(ch.added, m), append(ch.vecs, vec)
}

// drop records that the row at rowid went: one this transaction added is taken out of added,
// any other is deleted.
func (ch *change) drop(rowid int64) {
	if i, ok := ch.addedAt[rowid]; ok {
		delete(ch.addedAt, rowid)
		ch.added[i].Seq = 0 // rowids are positive: 0 marks a taken-back row
		return
	}
	ch.deleted = append(ch.deleted, rowid)
}

// final returns added and vecs without the rows taken back.
func (ch *change) final() ([]ranking.Meta, [][]float64) {
	if len(ch.addedAt) == len(ch.added) {
		return ch.added, ch.vecs
	}
	var ms []ranking.Meta
	var vs [][]float64
	for i, m := range ch.added {
		if m.Seq != 0 {
			ms, vs = append(ms, m), append(vs, ch.vecs[i])
		}
	}
	return ms, vs
}

// write runs fn in a write transaction that bumps the generation, then applies the recorded
// change to the vector table (a failed transaction leaves the table as it was).
func (s *Store) write(ctx context.Context, op string, fn func(*sql.Tx, *change) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var ch change
	err := s.tx(ctx, op, func(tx *sql.Tx) error {
		ch = change{}
		if err := fn(tx, &ch); err != nil {
			return err
		}
		g, err := bumpGen(ctx, tx)
		ch.from, ch.to = g-1, g
		return err
	})
	if err != nil {
		s.vt.Invalidate()
		return err
	}
	added, vecs := ch.final()
	s.vt.Apply(ch.from, ch.to, ch.deleted, added, vecs)
	return nil
}

// Upsert writes rs as the effect of the event with the given version (its EVENTS stream
// sequence, > 0), in one transaction and in order (S-6: each written row becomes the newest).
// A row whose (ref, path) already carries a version >= version is left untouched, so a
// redelivered or older event changes nothing (and a second row for the same (ref, path) in one
// call is skipped). It returns how many rows were written.
func (s *Store) Upsert(ctx context.Context, version int64, rs ...rows.Row) (int, error) {
	return s.UpsertBatch(ctx, rows.Write{Version: version, Rows: rs})
}

// UpsertBatch writes ws in order in one transaction, each at its own version, with exactly
// the effect of one Upsert per write (the same rows, rowids and versions), and returns how
// many rows were written.
func (s *Store) UpsertBatch(ctx context.Context, ws ...rows.Write) (int, error) {
	for _, w := range ws {
		if w.Version < 1 {
			return 0, fault.E("index.upsert", fault.ArgumentError, "version %d is not positive", w.Version)
		}
	}
	written := 0
	err := s.write(ctx, "index.upsert", func(tx *sql.Tx, ch *change) error {
		written = 0
		st, err := prepare(ctx, tx)
		if err != nil {
			return err
		}
		defer st.close()
		for _, w := range ws {
			for _, r := range w.Rows {
				var have int64
				var haveCommit string
				err := st.version.QueryRowContext(ctx, r.Ref, r.Path).Scan(&have, &haveCommit)
				switch {
				case err == nil && rows.Held(have, haveCommit, w.Version, r.Commit):
					continue
				case err != nil && !errors.Is(err, sql.ErrNoRows):
					return err
				}
				if err := st.writeRow(ctx, r, ch); err != nil {
					return err
				}
				if _, err := st.setVersion.ExecContext(ctx, r.Ref, r.Path, w.Version, r.Commit); err != nil {
					return err
				}
				written++
			}
		}
		return nil
	})
	return written, err
}

// migrateVersions adds the commit column to a map_versions made before it existed.
func migrateVersions(ctx context.Context, tx *sql.Tx) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('map_versions') WHERE name = 'commit_oid'`).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `ALTER TABLE map_versions ADD COLUMN commit_oid TEXT NOT NULL DEFAULT ''`)
	return err
}

// stmts are the prepared statements of a bulk write.
type stmts struct {
	version, setVersion, oldID, delTerms, insert, insTerms *sql.Stmt
	delKeys, insKey                                        *sql.Stmt
}

func prepare(ctx context.Context, tx *sql.Tx) (*stmts, error) {
	var st stmts
	for _, p := range []struct {
		dst **sql.Stmt
		q   string
	}{
		{&st.version, `SELECT version, commit_oid FROM map_versions WHERE ref = ? AND path = ?`},
		{&st.setVersion, `INSERT INTO map_versions(ref, path, version, commit_oid) VALUES (?, ?, ?, ?)
			ON CONFLICT(ref, path) DO UPDATE SET version = excluded.version, commit_oid = excluded.commit_oid`},
		{&st.oldID, `SELECT rowid FROM map_entries WHERE ref = ? AND path = ?`},
		{&st.delTerms, `DELETE FROM map_terms WHERE rowid = ?`},
		{&st.insert, `INSERT OR REPLACE INTO map_entries (` + columns + `)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&st.insTerms, `INSERT INTO map_terms(rowid, terms) VALUES (?, ?)`},
		{&st.delKeys, delKeys},
		{&st.insKey, insKey},
	} {
		var err error
		if *p.dst, err = tx.PrepareContext(ctx, p.q); err != nil {
			st.close()
			return nil, err
		}
	}
	return &st, nil
}

func (st *stmts) close() {
	for _, s := range []*sql.Stmt{st.version, st.setVersion, st.oldID, st.delTerms, st.insert, st.insTerms, st.delKeys, st.insKey} {
		if s != nil {
			s.Close()
		}
	}
}

// writeRow replaces the row at (ref, path) and its terms. INSERT OR REPLACE deletes and
// re-inserts, which is what gives the row the next rowid (S-6), exactly as 0.1.5 did.
func (st *stmts) writeRow(ctx context.Context, r rows.Row, ch *change) error {
	var old int64
	switch err := st.oldID.QueryRowContext(ctx, r.Ref, r.Path).Scan(&old); {
	case err == nil:
		if _, err := st.delTerms.ExecContext(ctx, old); err != nil {
			return err
		}
		if _, err := st.delKeys.ExecContext(ctx, old); err != nil {
			return err
		}
		ch.drop(old)
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	isCanon := 0
	if r.IsCanon {
		isCanon = 1
	}
	res, err := st.insert.ExecContext(ctx,
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
	if _, err := st.insTerms.ExecContext(ctx, id, ranking.Terms(r)); err != nil {
		return err
	}
	if err := putKeys(ctx, st.insKey, id, keysOf(r.Recipients, r.Links, r.BodyText)); err != nil {
		return err
	}
	r.InsSeq = id
	// A stored vector reads back as the empty vector when it has no entries.
	vec := r.Embedding
	if len(vec) == 0 {
		vec = nil
	}
	ch.add(ranking.MetaOf(r), vec)
	return nil
}

// Reset empties the index, its terms and the version guard: the first step of a full reindex
// (S-34). A rebuild numbers rows anew (S-7).
func (s *Store) Reset(ctx context.Context) error {
	return s.write(ctx, "index.reset", func(tx *sql.Tx, ch *change) error {
		ids, err := rowids(ctx, tx, `SELECT rowid FROM map_entries`)
		if err != nil {
			return err
		}
		ch.deleted = ids
		for _, stmt := range []string{`DELETE FROM map_entries`, `DELETE FROM map_terms`, `DELETE FROM map_versions`, `DELETE FROM map_keys`} {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
}

func rowids(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]int64, error) {
	res, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	var ids []int64
	for res.Next() {
		var id int64
		if err := res.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, res.Err()
}

// DeleteRef removes every row of ref (with its terms and versions) and returns how many rows
// went. Canon rows are never deleted by the indexer's event handling (S-35); this serves
// perspective removal and repair.
func (s *Store) DeleteRef(ctx context.Context, ref string) (int64, error) {
	var n int64
	err := s.write(ctx, "index.delete_ref", func(tx *sql.Tx, ch *change) error {
		ids, err := rowids(ctx, tx, `SELECT rowid FROM map_entries WHERE ref = ?`, ref)
		if err != nil {
			return err
		}
		ch.deleted, n = ids, int64(len(ids))
		for _, stmt := range []string{
			`DELETE FROM map_terms WHERE rowid IN (SELECT rowid FROM map_entries WHERE ref = ?)`,
			`DELETE FROM map_keys WHERE seq IN (SELECT rowid FROM map_entries WHERE ref = ?)`,
			`DELETE FROM map_entries WHERE ref = ?`,
			`DELETE FROM map_versions WHERE ref = ?`,
		} {
			if _, err := tx.ExecContext(ctx, stmt, ref); err != nil {
				return err
			}
		}
		return nil
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

// MaxVersion returns the highest version a row was written at, 0 for an empty index: a
// bootstrap event at or below it was applied already (a redelivery).
func (s *Store) MaxVersion(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM map_versions`).Scan(&n); err != nil {
		return 0, fault.Wrap("index.max_version", fault.BackendUnavailable, err, "max version")
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

// EnvelopesFor returns {path: envelope} for every row of ref (S-53, T-list_entries-2); NULL
// fields read as "".
func (s *Store) EnvelopesFor(ctx context.Context, ref string) (map[string]schema.EntryEnvelope, error) {
	return s.EnvelopesUnder(ctx, ref, "")
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

// Search answers map_search (S-10…S-15 in embedding mode; keyword ∪ embedding in hybrid mode,
// see ranking.Search). It reads only (S-16).
func (s *Store) Search(ctx context.Context, q ranking.Query) (schema.SearchResult, error) {
	if q.Limit < 1 {
		return schema.SearchResult{Results: []schema.SearchHit{}}, nil
	}
	if err := s.ensure(ctx); err != nil {
		return schema.SearchResult{Results: []schema.SearchHit{}}, err
	}
	return ranking.Search(ctx, s.vt, s, q)
}

// KeywordTopK implements ranking.Source over map_terms: each phrase is an FTS5 string (its
// tokens are letters and digits only, so no query syntax can form), the phrases are ORed,
// ranked by bm25 then rowid. The S-10 filter is applied from the vector table's copy of each
// row's fields, fetching more matches until k are admitted or the matches run out.
func (s *Store) KeywordTopK(ctx context.Context, q ranking.Query, phrases [][]string, k int) ([]int64, error) {
	match := matchExpr(phrases)
	var out []int64
	// fetch grows fourfold and saturates: a k near 2^62 (map_search's limit is any int64, S-12)
	// would overflow to zero and page forever.
	for fetch, offset := grow(k), 0; ; fetch = grow(fetch) {
		ids, err := s.matches(ctx, match, fetch, offset)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			if s.vt.Admits(q, id) {
				out = append(out, id)
				if len(out) == k {
					return out, nil
				}
			}
		}
		if len(ids) < fetch {
			return out, nil
		}
		offset += fetch
	}
}

// grow is 4n saturated at math.MaxInt.
func grow(n int) int {
	if n > math.MaxInt/4 {
		return math.MaxInt
	}
	return 4 * n
}

// matchExpr renders phrases as an FTS5 query: each phrase a string, the phrases ORed.
func matchExpr(phrases [][]string) string {
	parts := make([]string, len(phrases))
	for i, p := range phrases {
		parts[i] = `"` + strings.Join(p, " ") + `"`
	}
	return strings.Join(parts, " OR ")
}

// PhraseDF implements ranking.Source: the matches of phrase, counted up to limit+1.
func (s *Store) PhraseDF(ctx context.Context, phrase []string, limit int) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM map_terms WHERE map_terms MATCH ? LIMIT ?)`,
		matchExpr([][]string{phrase}), limit+1).Scan(&n)
	if err != nil {
		return 0, fault.Wrap("index.keyword_search", fault.BackendUnavailable, err, "count matches")
	}
	return n, nil
}

func (s *Store) matches(ctx context.Context, match string, limit, offset int) ([]int64, error) {
	res, err := s.db.QueryContext(ctx, `SELECT rowid FROM map_terms WHERE map_terms MATCH ?
		ORDER BY rank, rowid LIMIT ? OFFSET ?`, match, limit, offset)
	if err != nil {
		return nil, fault.Wrap("index.keyword_search", fault.BackendUnavailable, err, "query %q", match)
	}
	defer res.Close()
	var ids []int64
	for res.Next() {
		var id int64
		if err := res.Scan(&id); err != nil {
			return nil, fault.Wrap("index.keyword_search", fault.BackendUnavailable, err, "scan")
		}
		ids = append(ids, id)
	}
	if err := res.Err(); err != nil {
		return nil, fault.Wrap("index.keyword_search", fault.BackendUnavailable, err, "query %q", match)
	}
	return ids, nil
}

// RowsBySeq implements ranking.Source.
func (s *Store) RowsBySeq(ctx context.Context, seqs []int64) (map[int64]rows.Row, error) {
	out := make(map[int64]rows.Row, len(seqs))
	if len(seqs) == 0 {
		return out, nil
	}
	args := make([]any, len(seqs))
	for i, id := range seqs {
		args[i] = id
	}
	rs, err := s.query(ctx, "index.search", `SELECT `+columns+`, rowid FROM map_entries WHERE rowid IN (?`+
		strings.Repeat(", ?", len(seqs)-1)+`)`, args...)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		out[r.InsSeq] = r
	}
	return out, nil
}
