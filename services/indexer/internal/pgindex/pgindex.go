// Package pgindex is the indexer's PostgreSQL store of the map index (search.md §1, §2, §6,
// S-80), for compose deployments (index_dsn = postgres://…), and the only code that touches
// that database. It answers exactly what package sqliteindex answers (one contract suite,
// storetest, runs over both):
//
//   - map_entries holds every row with its embedding beside it (float8[], the stored float64
//     values, so embedding scores are bit-identical to SQLite's), the row's keyword terms
//     (ranking.Terms) and a generated tsvector over them with a GIN index for the keyword side;
//     pgvector is not needed (S-80: the exhaustive scan is the ranking).
//   - ins_seq (S-6) comes from a sequence; a replacing write deletes and re-inserts the row
//     with the next value, like SQLite's rowid.
//   - version is the guard of S-32: a row is replaced only by a strictly newer event, and
//     commit_oid, the commit it came from, keeps a re-announced or redelivered event of the
//     same commit from replacing it (S-6: no new write, no new ins_seq).
//   - map_meta's generation is bumped by every write transaction (which also serializes
//     writers), so the in-memory vector table reloads when another process wrote.
//
// PostgreSQL text cannot hold NUL or invalid UTF-8: such bytes are stored as U+FFFD.
// The store is safe for concurrent use.
package pgindex

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/indexer/internal/ranking"
	"github.com/stasima/stasima/services/indexer/internal/rows"
)

// tableSchema is the index's tables and indexes in PostgreSQL, created on open.
var tableSchema = []string{
	`SELECT pg_advisory_xact_lock(7220150001)`, // one migrator at a time
	`CREATE SEQUENCE IF NOT EXISTS map_ins_seq`,
	`CREATE TABLE IF NOT EXISTS map_entries (
		ref text NOT NULL, path text NOT NULL, is_canon boolean NOT NULL,
		authoring_instance text NOT NULL, content_oid text NOT NULL, type text NOT NULL,
		title text NOT NULL, status text NOT NULL, tags text[] NOT NULL, refs text[] NOT NULL,
		supersedes text[] NOT NULL, region_labels text[] NOT NULL, links text[] NOT NULL,
		salience double precision NOT NULL, recipients text[] NOT NULL, subject text NOT NULL,
		vantage text NOT NULL, canon_state text NOT NULL, instance_depth bigint NOT NULL,
		tick text NOT NULL, thread text NOT NULL, body_text text NOT NULL,
		embedding double precision[] NOT NULL, model_id text NOT NULL,
		ins_seq bigint NOT NULL, version bigint NOT NULL, terms text NOT NULL,
		tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, terms)) STORED,
		PRIMARY KEY (ref, path)
	)`,
	`CREATE UNIQUE INDEX IF NOT EXISTS map_entries_ins_seq ON map_entries (ins_seq)`,
	// A small GIN pending list: every full-text match scans the whole list of entries not yet
	// merged, 5 ms per query at the default 4 MB against under 1 ms at 256 kB, while bulk
	// writes still merge in batches (a 20,000-row load takes as long).
	`CREATE INDEX IF NOT EXISTS map_entries_tsv ON map_entries USING gin (tsv) WITH (gin_pending_list_limit = 256)`,
	`ALTER INDEX map_entries_tsv SET (gin_pending_list_limit = 256)`, // an index made before
	`CREATE INDEX IF NOT EXISTS map_entries_author ON map_entries (authoring_instance)`,
	`CREATE INDEX IF NOT EXISTS map_entries_type ON map_entries (type)`,
	`CREATE TABLE IF NOT EXISTS map_meta (id int PRIMARY KEY CHECK (id = 1), gen bigint NOT NULL)`,
	`INSERT INTO map_meta (id, gen) VALUES (1, 0) ON CONFLICT DO NOTHING`,
	// map_term_df counts the rows holding each lexeme of tsv, kept in step by every write, so
	// a one-word phrase's match count is a key lookup, not a bitmap of every matching row
	// (a common word over 100,000 rows: 28 ms). term_df marks it complete; an index made
	// before it has it filled from ts_stat once.
	`CREATE TABLE IF NOT EXISTS map_term_df (term text PRIMARY KEY, df bigint NOT NULL)`,
	`ALTER TABLE map_meta ADD COLUMN IF NOT EXISTS term_df boolean NOT NULL DEFAULT false`,
	`INSERT INTO map_term_df (term, df) SELECT word, ndoc FROM ts_stat('SELECT tsv FROM map_entries')
		WHERE NOT (SELECT term_df FROM map_meta WHERE id = 1)`,
	`UPDATE map_meta SET term_df = true WHERE NOT term_df`,
	`ALTER TABLE map_entries ADD COLUMN IF NOT EXISTS commit_oid text NOT NULL DEFAULT ''`,
}

// dropDF takes the lexemes of the rows d (a data-modifying CTE returning tsv) out of
// map_term_df; it completes a statement beginning "WITH d AS (DELETE … RETURNING …)".
const dropDF = `, c AS (SELECT u.lexeme, count(*) AS n FROM d, unnest(d.tsv) u GROUP BY u.lexeme),
	t AS (UPDATE map_term_df t SET df = t.df - c.n FROM c WHERE t.term = c.lexeme)`

// rowCols are map_entries' row columns in rows.Row order, ins_seq last.
const rowCols = `ref, path, is_canon, authoring_instance, content_oid, type, title, status, tags,
	refs, supersedes, region_labels, links, salience, recipients, subject, vantage, canon_state,
	instance_depth, tick, thread, body_text, embedding, model_id, ins_seq`

var copyCols = []string{"ref", "path", "is_canon", "authoring_instance", "content_oid", "type",
	"title", "status", "tags", "refs", "supersedes", "region_labels", "links", "salience",
	"recipients", "subject", "vantage", "canon_state", "instance_depth", "tick", "thread",
	"body_text", "embedding", "model_id", "ins_seq", "version", "terms", "commit_oid"}

// Store is the PostgreSQL map index.
type Store struct {
	pool *pgxpool.Pool
	vt   *ranking.Vectors
	// wmu serializes this store's write transactions with their vector-table updates, and
	// reloads of the table (lock order: wmu, then the table's own lock).
	wmu sync.Mutex
}

// Open connects to dsn, ensures the schema and loads the vector table.
func Open(ctx context.Context, dsn string) (*Store, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fault.Wrap("index.open", fault.BackendUnavailable, err, "postgres index")
	}
	s := &Store{pool: pool, vt: ranking.NewVectors()}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := s.ensure(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

func (s *Store) migrate(ctx context.Context) error {
	return s.tx(ctx, "index.migrate", func(tx pgx.Tx) error {
		for _, stmt := range tableSchema {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("schema: %w", err)
			}
		}
		for _, stmt := range lookupSchema {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("schema: %w", err)
			}
		}
		return nil
	})
}

func (s *Store) tx(ctx context.Context, op string, fn func(pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, s.pool, fn)
	if err != nil {
		return fault.Wrap(op, fault.BackendUnavailable, err, "%s", op)
	}
	return nil
}

// ensure reloads the vector table when the stored generation moved past it. The generation is
// read before the rows, so a racing write leaves the table marked older than its rows.
func (s *Store) ensure(ctx context.Context) error {
	var g int64
	if err := s.pool.QueryRow(ctx, `SELECT gen FROM map_meta WHERE id = 1`).Scan(&g); err != nil {
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
	res, err := s.pool.Query(ctx, `SELECT ins_seq, type, status, authoring_instance, is_canon, embedding
		FROM map_entries ORDER BY ins_seq`)
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
			m   ranking.Meta
			vec []float64
		)
		if err := res.Scan(&m.Seq, &m.Type, &m.Status, &m.Author, &m.IsCanon, &vec); err != nil {
			return fault.Wrap("index.vectors", fault.BackendUnavailable, err, "load vectors")
		}
		if len(vec) == 0 {
			vec = nil
		}
		metas, vecs = append(metas, m), append(vecs, vec)
	}
	if err := res.Err(); err != nil {
		return fault.Wrap("index.vectors", fault.BackendUnavailable, err, "load vectors")
	}
	s.vt.Load(g, metas, vecs)
	return nil
}

type change struct {
	from, to int64
	deleted  []int64
	added    []ranking.Meta
	vecs     [][]float64
}

// write runs fn in a transaction that first bumps the generation (taking map_meta's row lock,
// so writers are serialized and ins_seq values are committed in order), then applies the
// recorded change to the vector table.
func (s *Store) write(ctx context.Context, op string, fn func(pgx.Tx, *change) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var ch change
	err := s.tx(ctx, op, func(tx pgx.Tx) error {
		ch = change{}
		var g int64
		if err := tx.QueryRow(ctx, `UPDATE map_meta SET gen = gen + 1 WHERE id = 1 RETURNING gen`).Scan(&g); err != nil {
			return err
		}
		ch.from, ch.to = g-1, g
		return fn(tx, &ch)
	})
	if err != nil {
		s.vt.Invalidate()
		return err
	}
	s.vt.Apply(ch.from, ch.to, ch.deleted, ch.added, ch.vecs)
	return nil
}

// chunk bounds the rows of one lookup round trip.
const chunk = 5000

// Upsert writes rs as the effect of the event with the given version (> 0), in one
// transaction and in order (S-6: each written row becomes the newest). A row whose (ref, path)
// already carries a version >= version is left untouched (S-32), and a second row for the same
// (ref, path) in one call is skipped. It returns how many rows were written.
func (s *Store) Upsert(ctx context.Context, version int64, rs ...rows.Row) (int, error) {
	return s.UpsertBatch(ctx, rows.Write{Version: version, Rows: rs})
}

// UpsertBatch writes ws in order in one transaction, each at its own version, with exactly the
// effect of one Upsert per write: the same rows, versions and ins_seq values (a row that a
// later write of the batch replaces still takes its ins_seq, and is never stored). It returns
// how many rows were written.
func (s *Store) UpsertBatch(ctx context.Context, ws ...rows.Write) (int, error) {
	n := 0
	for _, w := range ws {
		if w.Version < 1 {
			return 0, fault.E("index.upsert", fault.ArgumentError, "version %d is not positive", w.Version)
		}
		n += len(w.Rows)
	}
	all := make([]rows.Row, 0, n)
	for _, w := range ws {
		all = append(all, w.Rows...)
	}
	written := 0
	err := s.write(ctx, "index.upsert", func(tx pgx.Tx, ch *change) error {
		written = 0
		type held struct {
			seq, version int64
			commit       string
		}
		have := map[[2]string]held{}
		for i := 0; i < len(all); i += chunk {
			part := all[i:min(i+chunk, len(all))]
			refsA, pathsA := make([]string, len(part)), make([]string, len(part))
			for j, r := range part {
				refsA[j], pathsA[j] = clean(r.Ref), clean(r.Path)
			}
			res, err := tx.Query(ctx, `SELECT m.ref, m.path, m.ins_seq, m.version, m.commit_oid FROM map_entries m
				JOIN unnest($1::text[], $2::text[]) AS k(ref, path) ON m.ref = k.ref AND m.path = k.path
				FOR UPDATE OF m`, refsA, pathsA)
			if err != nil {
				return err
			}
			for res.Next() {
				var k [2]string
				var h held
				if err := res.Scan(&k[0], &k[1], &h.seq, &h.version, &h.commit); err != nil {
					res.Close()
					return err
				}
				have[k] = h
			}
			res.Close()
			if err := res.Err(); err != nil {
				return err
			}
		}
		// Replay the writes over what is stored: each admitted row replaces the stored row or
		// the batch's earlier one for its (ref, path).
		type slot struct {
			r       rows.Row
			version int64
			live    bool
		}
		var todo []slot
		latest := map[[2]string]int{} // (ref, path) → its row in todo
		for _, w := range ws {
			seen := map[[2]string]bool{}
			for _, r := range w.Rows {
				k := [2]string{clean(r.Ref), clean(r.Path)}
				if seen[k] {
					continue
				}
				if i, ok := latest[k]; ok {
					if rows.Held(todo[i].version, clean(todo[i].r.Commit), w.Version, clean(r.Commit)) {
						continue
					}
					todo[i].live = false
				} else if h, ok := have[k]; ok {
					if rows.Held(h.version, h.commit, w.Version, clean(r.Commit)) {
						continue
					}
					ch.deleted = append(ch.deleted, h.seq)
				}
				seen[k] = true
				latest[k] = len(todo)
				todo = append(todo, slot{r: r, version: w.Version, live: true})
			}
		}
		if len(todo) == 0 {
			return nil
		}
		if len(ch.deleted) > 0 {
			if _, err := tx.Exec(ctx, `WITH d AS (DELETE FROM map_entries WHERE ins_seq = ANY($1) RETURNING tsv)`+dropDF+`
				SELECT 1`, ch.deleted); err != nil {
				return err
			}
		}
		seqs, err := nextSeqs(ctx, tx, len(todo))
		if err != nil {
			return err
		}
		src := make([][]any, 0, len(todo))
		for i, t := range todo {
			if !t.live {
				continue
			}
			r := t.r
			r.InsSeq = seqs[i]
			vec := r.Embedding
			if vec == nil {
				vec = []float64{}
			}
			src = append(src, []any{clean(r.Ref), clean(r.Path), r.IsCanon, clean(r.AuthoringInstance), clean(r.ContentOID),
				clean(r.Type), clean(r.Title), clean(r.Status), cleanList(r.Tags), cleanList(r.Refs),
				cleanList(r.Supersedes), cleanList(r.RegionLabels), cleanList(r.Links), r.Salience,
				cleanList(r.Recipients), clean(r.Subject), clean(r.Vantage), clean(r.CanonState),
				r.InstanceDepth, clean(r.Tick), clean(r.Thread), clean(r.BodyText), vec, clean(r.ModelID),
				r.InsSeq, t.version, clean(ranking.Terms(r)), clean(r.Commit)})
			ch.added = append(ch.added, ranking.MetaOf(r))
			if len(r.Embedding) == 0 {
				ch.vecs = append(ch.vecs, nil)
			} else {
				ch.vecs = append(ch.vecs, r.Embedding)
			}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"map_entries"}, copyCols, pgx.CopyFromRows(src)); err != nil {
			return err
		}
		// The sequence gave this transaction seqs[0]…seqs[len-1] (writers are serialized), so
		// the rows in that range are exactly the ones just copied.
		if _, err := tx.Exec(ctx, `INSERT INTO map_term_df (term, df)
			SELECT u.lexeme, count(*) FROM map_entries m, unnest(m.tsv) u
			WHERE m.ins_seq BETWEEN $1 AND $2 GROUP BY u.lexeme
			ON CONFLICT (term) DO UPDATE SET df = map_term_df.df + excluded.df`, seqs[0], seqs[len(seqs)-1]); err != nil {
			return err
		}
		written = len(todo)
		return nil
	})
	return written, err
}

// nextSeqs takes n values of map_ins_seq in ascending order.
func nextSeqs(ctx context.Context, tx pgx.Tx, n int) ([]int64, error) {
	res, err := tx.Query(ctx, `SELECT nextval('map_ins_seq') FROM generate_series(1, $1)`, n)
	if err != nil {
		return nil, err
	}
	seqs, err := pgx.CollectRows(res, pgx.RowTo[int64])
	if err != nil {
		return nil, err
	}
	if len(seqs) != n {
		return nil, fmt.Errorf("sequence gave %d values, want %d", len(seqs), n)
	}
	slices.Sort(seqs)
	return seqs, nil
}

// clean makes s storable as PostgreSQL text: NUL and invalid UTF-8 become U+FFFD.
func clean(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func cleanList(l []string) []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = clean(s)
	}
	return out
}

// Reset empties the index and the version guard (S-34). A rebuild numbers rows anew (S-7).
func (s *Store) Reset(ctx context.Context) error {
	return s.write(ctx, "index.reset", func(tx pgx.Tx, ch *change) error {
		res, err := tx.Query(ctx, `DELETE FROM map_entries RETURNING ins_seq`)
		if err != nil {
			return err
		}
		if ch.deleted, err = pgx.CollectRows(res, pgx.RowTo[int64]); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM map_term_df`)
		return err
	})
}

// DeleteRef removes every row of ref and returns how many rows went.
func (s *Store) DeleteRef(ctx context.Context, ref string) (int64, error) {
	var n int64
	err := s.write(ctx, "index.delete_ref", func(tx pgx.Tx, ch *change) error {
		res, err := tx.Query(ctx, `WITH d AS (DELETE FROM map_entries WHERE ref = $1 RETURNING ins_seq, tsv)`+dropDF+`
			SELECT ins_seq FROM d`, clean(ref))
		if err != nil {
			return err
		}
		ch.deleted, err = pgx.CollectRows(res, pgx.RowTo[int64])
		n = int64(len(ch.deleted))
		return err
	})
	return n, err
}

// Count returns the number of rows.
func (s *Store) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM map_entries`).Scan(&n); err != nil {
		return 0, fault.Wrap("index.count", fault.BackendUnavailable, err, "count rows")
	}
	return n, nil
}

// MaxVersion returns the highest version a row was written at, 0 for an empty index: a
// bootstrap event at or below it was applied already (a redelivery).
func (s *Store) MaxVersion(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM map_entries`).Scan(&n); err != nil {
		return 0, fault.Wrap("index.max_version", fault.BackendUnavailable, err, "max version")
	}
	return n, nil
}

// All returns every row, ins_seq ascending.
func (s *Store) All(ctx context.Context) ([]rows.Row, error) {
	return s.query(ctx, "index.all", `SELECT `+rowCols+` FROM map_entries ORDER BY ins_seq`)
}

// ListByRef returns the rows of ref, ins_seq ascending.
func (s *Store) ListByRef(ctx context.Context, ref string) ([]rows.Row, error) {
	return s.query(ctx, "index.list_ref", `SELECT `+rowCols+` FROM map_entries WHERE ref = $1 ORDER BY ins_seq`, clean(ref))
}

// EnvelopesFor returns {path: envelope} for every row of ref (S-53).
func (s *Store) EnvelopesFor(ctx context.Context, ref string) (map[string]schema.EntryEnvelope, error) {
	return s.EnvelopesUnder(ctx, ref, "")
}

func (s *Store) query(ctx context.Context, op, q string, args ...any) ([]rows.Row, error) {
	res, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fault.Wrap(op, fault.BackendUnavailable, err, "query")
	}
	defer res.Close()
	var out []rows.Row
	for res.Next() {
		var r rows.Row
		if err := res.Scan(&r.Ref, &r.Path, &r.IsCanon, &r.AuthoringInstance, &r.ContentOID, &r.Type,
			&r.Title, &r.Status, &r.Tags, &r.Refs, &r.Supersedes, &r.RegionLabels, &r.Links, &r.Salience,
			&r.Recipients, &r.Subject, &r.Vantage, &r.CanonState, &r.InstanceDepth, &r.Tick, &r.Thread,
			&r.BodyText, &r.Embedding, &r.ModelID, &r.InsSeq); err != nil {
			return nil, fault.Wrap(op, fault.Internal, err, "read row")
		}
		if len(r.Embedding) == 0 {
			r.Embedding = nil
		}
		for _, l := range []*[]string{&r.Tags, &r.Refs, &r.Supersedes, &r.RegionLabels, &r.Links, &r.Recipients} {
			if *l == nil {
				*l = []string{}
			}
		}
		out = append(out, r)
	}
	if err := res.Err(); err != nil {
		return nil, fault.Wrap(op, fault.BackendUnavailable, err, "query")
	}
	return out, nil
}

// Search answers map_search (ranking.Search). It reads only (S-16).
func (s *Store) Search(ctx context.Context, q ranking.Query) (schema.SearchResult, error) {
	if q.Limit < 1 {
		return schema.SearchResult{Results: []schema.SearchHit{}}, nil
	}
	if err := s.ensure(ctx); err != nil {
		return schema.SearchResult{Results: []schema.SearchHit{}}, err
	}
	return ranking.Search(ctx, s.vt, s, q)
}

// TSQuery renders phrases as to_tsquery text: each phrase its quoted tokens joined by <->,
// the phrases ORed. Tokens are letters and digits only, so no tsquery syntax can form.
func TSQuery(phrases [][]string) string {
	parts := make([]string, len(phrases))
	for i, p := range phrases {
		q := make([]string, len(p))
		for j, t := range p {
			q[j] = "'" + t + "'"
		}
		parts[i] = "(" + strings.Join(q, " <-> ") + ")"
	}
	return strings.Join(parts, " | ")
}

// planned runs a full-text query as an unnamed statement, planned with its tsquery. A cached
// statement's generic plan cannot see the tsquery's selectivity and turns to a sequential scan
// that evaluates to_tsquery per row (a rare identifier's count: 190 ms over 10,000 rows against
// 5 ms through the GIN index).
const planned = pgx.QueryExecModeExec

// KeywordTopK implements ranking.Source over the tsvector: matches ranked by ts_rank
// descending, then ins_seq ascending, with the S-10 filter in SQL.
func (s *Store) KeywordTopK(ctx context.Context, q ranking.Query, phrases [][]string, k int) ([]int64, error) {
	where := []string{`tsv @@ to_tsquery('simple', $1)`, `type NOT IN ('msg', 'vap')`}
	args := []any{clean(TSQuery(phrases)), k}
	if !q.IncludeSuperseded {
		where = append(where, `status = 'active'`)
	}
	if q.Type != "" {
		args = append(args, clean(q.Type))
		where = append(where, fmt.Sprintf(`type = $%d`, len(args)))
	}
	switch q.Scope {
	case ranking.ScopeCanon:
		where = append(where, `is_canon`)
	case ranking.ScopeMine:
		args = append(args, clean(q.InstanceID))
		where = append(where, fmt.Sprintf(`authoring_instance = $%d`, len(args)))
	}
	res, err := s.pool.Query(ctx, `SELECT ins_seq FROM map_entries WHERE `+strings.Join(where, " AND ")+`
		ORDER BY ts_rank(tsv, to_tsquery('simple', $1)) DESC, ins_seq LIMIT $2`, append([]any{planned}, args...)...)
	if err != nil {
		return nil, fault.Wrap("index.keyword_search", fault.BackendUnavailable, err, "query")
	}
	ids, err := pgx.CollectRows(res, pgx.RowTo[int64])
	if err != nil {
		return nil, fault.Wrap("index.keyword_search", fault.BackendUnavailable, err, "query")
	}
	return ids, nil
}

// PhraseDF implements ranking.Source: the matches of phrase, counted up to limit+1. A phrase
// the parser reads as one lexeme is counted from map_term_df; a longer one by matching.
func (s *Store) PhraseDF(ctx context.Context, phrase []string, limit int) (int, error) {
	tsq := clean(TSQuery([][]string{phrase}))
	n := -1
	if len(phrase) == 1 {
		err := s.pool.QueryRow(ctx, `SELECT CASE WHEN numnode(q) = 1 AND cardinality(l) = 1
			THEN coalesce((SELECT df FROM map_term_df WHERE term = l[1]), 0) ELSE -1 END
			FROM to_tsquery('simple', $1) q, tsvector_to_array(to_tsvector('simple', $2)) l`,
			tsq, clean(phrase[0])).Scan(&n)
		if err != nil {
			return 0, fault.Wrap("index.keyword_search", fault.BackendUnavailable, err, "count matches")
		}
	}
	if n >= 0 {
		return min(n, limit+1), nil
	}
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM map_entries
		WHERE tsv @@ to_tsquery('simple', $1) LIMIT $2) m`, planned, tsq, limit+1).Scan(&n)
	if err != nil {
		return 0, fault.Wrap("index.keyword_search", fault.BackendUnavailable, err, "count matches")
	}
	return n, nil
}

// RowsBySeq implements ranking.Source.
func (s *Store) RowsBySeq(ctx context.Context, seqs []int64) (map[int64]rows.Row, error) {
	out := make(map[int64]rows.Row, len(seqs))
	if len(seqs) == 0 {
		return out, nil
	}
	rs, err := s.query(ctx, "index.search", `SELECT `+rowCols+` FROM map_entries WHERE ins_seq = ANY($1)`, seqs)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		out[r.InsSeq] = r
	}
	return out, nil
}
