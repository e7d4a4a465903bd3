// Package pgstore is the audit store on PostgreSQL (pgx/v5 pool): audit_events with the same
// logical schema as the SQLite store (audit.md U-1), created by the embedded migrations, which
// Migrate applies at start.
//
// Invariant: writers serialise on a table lock taken before the tail is read, so seqs are
// contiguous and the chain valid across any number of processes.
package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/services/audit/internal/chain"
)

//go:embed migrations/*.sql
var migrations embed.FS

const (
	cols = `seq, ts, actor, op, target_ref, target_path, op_id, result_oid, outcome, detail,
		prev_hash, hash, intent_id`
	insertRow = `INSERT INTO audit_events (seq, ts, actor, op, target_ref, target_path, op_id,
		result_oid, outcome, detail, prev_hash, hash, intent_id, stream_seq, intent_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`
	colsE = `e.seq, e.ts, e.actor, e.op, e.target_ref, e.target_path, e.op_id, e.result_oid,
		e.outcome, e.detail, e.prev_hash, e.hash, e.intent_id`
	insertKeys = `INSERT INTO audit_detail_keys (seq, op, win, purpose, object) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (seq) DO UPDATE SET op = EXCLUDED.op, win = EXCLUDED.win, purpose = EXCLUDED.purpose, object = EXCLUDED.object`
	// SHARE ROW EXCLUSIVE conflicts with itself and with row writes but not with reads:
	// one appender at a time, readers never blocked.
	lockTable = `LOCK TABLE audit_events IN SHARE ROW EXCLUSIVE MODE`
	pageSize  = 1000
)

// Store is a chain.Store over a pgx pool. The pool's search_path selects the schema.
type Store struct {
	pool    *pgxpool.Pool
	ownPool bool
	now     func() time.Time
}

var _ chain.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock that stamps ts (tests).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New wraps pool without any I/O; call Migrate before use. Close does not close pool.
func New(pool *pgxpool.Pool, opts ...Option) *Store {
	s := &Store{pool: pool, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Open creates a pool from cfg, applies the migrations and returns a Store that owns the pool.
func Open(ctx context.Context, cfg *pgxpool.Config, opts ...Option) (*Store, error) {
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, unavailable("open", err, "connect")
	}
	s := New(pool, opts...)
	s.ownPool = true
	if err := s.Migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the pool if Open created it.
func (s *Store) Close() error {
	if s.ownPool {
		s.pool.Close()
	}
	return nil
}

func unavailable(op string, err error, format string, args ...any) error {
	return fault.Wrap("audit.pgstore."+op, fault.BackendUnavailable, err, format, args...)
}

// Migrate applies the embedded migrations not yet recorded in audit_schema_migrations, each
// in order, in one transaction under an advisory lock (keyed by schema) so concurrent starts
// do not race.
func (s *Store) Migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	slices.Sort(names)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return unavailable("migrate", err, "begin")
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('stasima.audit.migrate'), hashtext(current_schema()))`); err != nil {
		return unavailable("migrate", err, "lock")
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS audit_schema_migrations (
		version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return unavailable("migrate", err, "create audit_schema_migrations")
	}
	applied := map[int]bool{}
	rows, err := tx.Query(ctx, `SELECT version FROM audit_schema_migrations`)
	if err != nil {
		return unavailable("migrate", err, "read applied")
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return unavailable("migrate", err, "read applied")
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return unavailable("migrate", err, "read applied")
	}
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		num, _, _ := strings.Cut(base, "_")
		version, err := strconv.Atoi(num)
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number", base)
		}
		if applied[version] {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("migration %s: %w", base, err)
		}
		if _, err := tx.Exec(ctx, string(body)); err != nil {
			return unavailable("migrate", err, "apply %s", base)
		}
		if fill := backfills[version]; fill != nil {
			if err := fill(ctx, tx); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO audit_schema_migrations (version, name) VALUES ($1, $2)`, version, base); err != nil {
			return unavailable("migrate", err, "record %s", base)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return unavailable("migrate", err, "commit")
	}
	return s.buildTree(ctx)
}

// backfills are the Go steps that complete a migration, run in its transaction right after
// its SQL.
var backfills = map[int]func(context.Context, pgx.Tx) error{
	2: backfillKeys,
}

// backfillKeys fills audit_detail_keys from the rows already present (migration 0002).
func backfillKeys(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `SELECT seq, op, detail FROM audit_events
		WHERE detail LIKE '%"window"%' OR detail LIKE '%"purpose"%' OR detail LIKE '%"object"%'`)
	if err != nil {
		return unavailable("migrate", err, "read detail keys")
	}
	batch := &pgx.Batch{}
	for rows.Next() {
		var (
			seq        int64
			op, detail *string
		)
		if err := rows.Scan(&seq, &op, &detail); err != nil {
			rows.Close()
			return unavailable("migrate", err, "read detail keys")
		}
		if k, ok := chain.KeysOf([]byte(deref(detail))); ok {
			batch.Queue(insertKeys, keysArgs(seq, op, k)...)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return unavailable("migrate", err, "read detail keys")
	}
	if batch.Len() > 0 {
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return unavailable("migrate", err, "fill detail keys")
		}
	}
	return nil
}

func keysArgs(seq int64, op *string, k chain.DetailKeys) []any {
	return []any{seq, op, k.Window, k.Purpose, k.Object}
}

// queueInsert queues e and, when its detail has any, its detail keys.
func queueInsert(batch *pgx.Batch, e *chain.Event, streamSeq int64, intentAt string) {
	batch.Queue(insertRow, insertArgs(e, streamSeq, intentAt)...)
	if k, ok := chain.KeysOf(e.Detail); ok {
		var op *string
		if e.Op.Valid {
			op = &e.Op.String
		}
		batch.Queue(insertKeys, keysArgs(e.Seq, op, k)...)
	}
}

func scanEvent(r pgx.Row) (chain.Event, error) {
	var (
		e                      chain.Event
		detail, prev, h, inten *string
	)
	err := r.Scan(&e.Seq, &e.TS, &e.Actor, &e.Op, &e.TargetRef, &e.TargetPath, &e.OpID,
		&e.ResultOID, &e.Outcome, &detail, &prev, &h, &inten)
	if err != nil {
		return chain.Event{}, err
	}
	if detail != nil && *detail != "" {
		e.Detail = []byte(*detail)
	}
	e.PrevHash, e.Hash, e.IntentID = deref(prev), deref(h), deref(inten)
	return e, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func nullIfZero[T comparable](v T) any {
	var zero T
	if v == zero {
		return nil
	}
	return v
}

func insertArgs(e *chain.Event, streamSeq int64, intentAt string) []any {
	var detail any
	if e.Detail != nil {
		detail = string(e.Detail)
	}
	return []any{e.Seq, e.TS, e.Actor, e.Op, e.TargetRef, e.TargetPath, e.OpID, e.ResultOID,
		e.Outcome, detail, e.PrevHash, e.Hash, nullIfZero(e.IntentID), nullIfZero(streamSeq),
		nullIfZero(intentAt)}
}

func readTail(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (chain.Tail, error) {
	var t chain.Tail
	var h *string
	err := q.QueryRow(ctx, `SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&t.Seq, &h)
	if errors.Is(err, pgx.ErrNoRows) {
		return chain.GenesisTail, nil
	}
	t.Hash = deref(h)
	return t, err
}

// AppendBatch implements chain.Store.
func (s *Store) AppendBatch(ctx context.Context, intents []chain.Intent) ([]chain.Event, error) {
	for i := range intents {
		if err := intents[i].Validate(); err != nil {
			return nil, err
		}
	}
	if len(intents) == 0 {
		return nil, nil
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, unavailable("append", err, "begin")
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, lockTable); err != nil {
		return nil, unavailable("append", err, "lock")
	}
	ids := make([]string, len(intents))
	for i := range intents {
		ids[i] = intents[i].ID
	}
	existing := map[string]chain.Event{}
	rows, err := tx.Query(ctx, `SELECT `+cols+` FROM audit_events WHERE intent_id = ANY($1)`, ids)
	if err != nil {
		return nil, unavailable("append", err, "look up intents")
	}
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			rows.Close()
			return nil, unavailable("append", err, "look up intents")
		}
		existing[e.IntentID] = e
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, unavailable("append", err, "look up intents")
	}
	last, err := readTail(ctx, tx)
	if err != nil {
		return nil, unavailable("append", err, "read tail")
	}
	out := make([]chain.Event, len(intents))
	var appended []chain.Event
	batch := &pgx.Batch{}
	for i := range intents {
		in := &intents[i]
		if e, ok := existing[in.ID]; ok {
			out[i] = e // U-5: already recorded, or earlier in this batch
			continue
		}
		e, err := chain.Seal(in, last.Seq+1, chain.FormatTS(s.now()), last.Hash)
		if err != nil {
			return nil, err
		}
		queueInsert(batch, &e, int64(in.StreamSeq), in.IntentAt)
		last = chain.Tail{Seq: e.Seq, Hash: e.Hash}
		existing[in.ID] = e
		out[i] = e
		appended = append(appended, e)
	}
	if batch.Len() > 0 {
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return nil, unavailable("append", err, "insert")
		}
		if err := chain.AppendToTree(ctx, txTree{tx}, appended); err != nil {
			return nil, unavailable("tree", err, "add the appended rows to the tree")
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, unavailable("append", err, "commit")
	}
	return out, nil
}

// Tail implements chain.Store.
func (s *Store) Tail(ctx context.Context) (chain.Tail, error) {
	t, err := readTail(ctx, s.pool)
	if err != nil {
		return chain.Tail{}, unavailable("tail", err, "read tail")
	}
	return t, nil
}

// Count implements chain.Store.
func (s *Store) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM audit_events`).Scan(&n); err != nil {
		return 0, unavailable("count", err, "count")
	}
	return n, nil
}

func (s *Store) query(ctx context.Context, op, q string, args ...any) ([]chain.Event, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, unavailable(op, err, "query")
	}
	defer rows.Close()
	var out []chain.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, unavailable(op, err, "scan")
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(op, err, "query")
	}
	return out, nil
}

// Range implements chain.Store, one page per query so no cursor is held while the caller works.
func (s *Store) Range(ctx context.Context, from, to int64) iter.Seq2[chain.Event, error] {
	return func(yield func(chain.Event, error) bool) {
		for from <= to {
			page, err := s.query(ctx, "range",
				`SELECT `+cols+` FROM audit_events WHERE seq >= $1 AND seq <= $2 ORDER BY seq LIMIT $3`,
				from, to, pageSize)
			if err != nil {
				yield(chain.Event{}, err)
				return
			}
			for _, e := range page {
				if !yield(e, nil) {
					return
				}
			}
			if len(page) < pageSize || page[len(page)-1].Seq == chain.MaxSeq {
				return
			}
			from = page[len(page)-1].Seq + 1
		}
	}
}

// selectEvents is the query of Events and Latest: the columns of audit_events (alias e),
// joined to audit_detail_keys (alias k) when f filters on a detail key, in seq order.
func selectEvents(f chain.Filter, desc bool, limit int) (string, []any) {
	var conds []string
	var args []any
	cond := func(expr string, v any) {
		args = append(args, v)
		conds = append(conds, expr+" $"+strconv.Itoa(len(args)))
	}
	for _, c := range []struct {
		col string
		v   chain.Text
	}{{"e.op", f.Op}, {"e.actor", f.Actor}, {"e.op_id", f.OpID}, {"e.target_ref", f.TargetRef}, {"e.target_path", f.TargetPath}} {
		if c.v.Valid {
			cond(c.col+" =", c.v.String)
		}
	}
	from := ` FROM audit_events e`
	seqCol := "e.seq"
	if f.HasDetailKeys() {
		from += ` JOIN audit_detail_keys k ON k.seq = e.seq`
		seqCol = "k.seq" // the index's last column, so the seq bounds and order use it
		if f.Op.Valid {
			cond("k.op =", f.Op.String) // leads every detail key index
		}
		if f.Window != nil {
			cond("k.win =", *f.Window)
		}
		if f.Object.Valid {
			cond("k.object =", f.Object.String)
		}
		if f.Purpose.Valid {
			cond("k.purpose =", f.Purpose.String)
		}
	}
	if f.AfterSeq != 0 {
		cond(seqCol+" >", f.AfterSeq)
	}
	if f.BeforeSeq != 0 {
		cond(seqCol+" <", f.BeforeSeq)
	}
	q := `SELECT ` + colsE + from
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	q += " ORDER BY " + seqCol
	if desc {
		q += " DESC"
	}
	if limit > 0 {
		args = append(args, limit)
		q += " LIMIT $" + strconv.Itoa(len(args))
	}
	return q, args
}

// Events implements chain.Store.
func (s *Store) Events(ctx context.Context, f chain.Filter) ([]chain.Event, error) {
	q, args := selectEvents(f, f.Desc, f.Limit)
	return s.query(ctx, "events", q, args...)
}

// Latest implements chain.Store.
func (s *Store) Latest(ctx context.Context, f chain.Filter) (chain.Event, bool, error) {
	q, args := selectEvents(f, true, 1)
	return s.one(ctx, "latest", q, args...)
}

func (s *Store) one(ctx context.Context, op, q string, args ...any) (chain.Event, bool, error) {
	e, err := scanEvent(s.pool.QueryRow(ctx, q, args...))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return chain.Event{}, false, nil
	case err != nil:
		return chain.Event{}, false, unavailable(op, err, "query")
	}
	return e, true, nil
}

// IsRead implements chain.Store.
func (s *Store) IsRead(ctx context.Context, actor, path string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM audit_events
		WHERE op = 'read_receipt' AND actor = $1 AND target_path = $2)`, actor, path).Scan(&ok)
	if err != nil {
		return false, unavailable("is_read", err, "query")
	}
	return ok, nil
}

// ByIntent implements chain.Store.
func (s *Store) ByIntent(ctx context.Context, id string) (chain.Event, bool, error) {
	return s.one(ctx, "by_intent", `SELECT `+cols+` FROM audit_events WHERE intent_id = $1`, id)
}

// Import implements chain.Store.
func (s *Store) Import(ctx context.Context, rows []chain.Event) error {
	if len(rows) == 0 {
		return nil
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return unavailable("import", err, "begin")
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, lockTable); err != nil {
		return unavailable("import", err, "lock")
	}
	seqs := make([]int64, len(rows))
	var ids []string
	for i := range rows {
		seqs[i] = rows[i].Seq
		if rows[i].IntentID != "" {
			ids = append(ids, rows[i].IntentID)
		}
	}
	var taken *int64
	err = tx.QueryRow(ctx, `SELECT min(seq) FROM audit_events WHERE seq = ANY($1) OR intent_id = ANY($2)`,
		seqs, ids).Scan(&taken)
	if err != nil {
		return unavailable("import", err, "check seqs")
	}
	if taken != nil {
		return fmt.Errorf("import: seq %d: %w", *taken, chain.ErrRowExists)
	}
	batch := &pgx.Batch{}
	for i := range rows {
		queueInsert(batch, &rows[i], 0, "")
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return unavailable("import", err, "insert")
	}
	if err := extendTree(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return unavailable("import", err, "commit")
	}
	return nil
}

// Pool returns the underlying pool, for out-of-band inspection.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }
