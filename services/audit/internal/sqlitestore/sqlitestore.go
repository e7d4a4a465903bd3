// Package sqlitestore is the embedded audit store: audit_events in a SQLite file through
// modernc.org/sqlite (pure Go). It opens files written by Stasima 0.1.5 as they are: the table
// and its two indexes keep 0.1.5's exact DDL, and the Go-only columns (intent_id, stream_seq,
// intent_at; audit.md U-1) are added with ALTER TABLE, so every 0.1.5 row keeps its bytes and
// still verifies.
//
// Invariant: seq is derived from the table inside a write transaction (BEGIN IMMEDIATE), never
// from a counter, so other processes may share the file (U-3).
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/services/audit/internal/chain"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// The 0.1.5 schema, byte for byte as SQLite reports it (shared/testdata/audit-vectors.json
// table_sql, index_sql). SQLite stores CREATE TABLE text without "IF NOT EXISTS".
const (
	createTable = `CREATE TABLE IF NOT EXISTS audit_events (
                 seq INTEGER PRIMARY KEY, ts TEXT, actor TEXT, op TEXT,
                 target_ref TEXT, target_path TEXT, op_id TEXT, result_oid TEXT,
                 outcome TEXT, detail TEXT, prev_hash TEXT, hash TEXT)`
	createIndexSeq  = `CREATE INDEX IF NOT EXISTS ix_ae_op_actor_seq ON audit_events(op, actor, seq)`
	createIndexPath = `CREATE INDEX IF NOT EXISTS ix_ae_op_actor_path ON audit_events(op, actor, target_path)`
	// Go-only (U-1, U-5). NULLs are distinct in a SQLite unique index, so 0.1.5 rows coexist.
	createIndexIntent = `CREATE UNIQUE INDEX IF NOT EXISTS ix_ae_intent_id ON audit_events(intent_id)`
	// The detail keys of chain.KeysOf, one row per audit row that has any, written with the row
	// by the one writer: the airlock finds its rows by window, purpose and object through these
	// indexes instead of reading every row of an op.
	createKeys = `CREATE TABLE audit_detail_keys (
		seq INTEGER PRIMARY KEY, op TEXT, win INTEGER, purpose TEXT, object TEXT)`
	insertKeys = `INSERT OR REPLACE INTO audit_detail_keys (seq, op, win, purpose, object) VALUES (?, ?, ?, ?, ?)`
)

var createKeysIndexes = []string{
	`CREATE INDEX IF NOT EXISTS ix_adk_op_win ON audit_detail_keys(op, win, seq)`,
	`CREATE INDEX IF NOT EXISTS ix_adk_op_object ON audit_detail_keys(op, object, purpose, seq)`,
	`CREATE INDEX IF NOT EXISTS ix_adk_op_purpose ON audit_detail_keys(op, purpose, seq)`,
}

var goColumns = []struct{ name, decl string }{
	{"intent_id", "intent_id TEXT"},
	{"stream_seq", "stream_seq INTEGER"},
	{"intent_at", "intent_at TEXT"},
}

const (
	cols = `seq, ts, actor, op, target_ref, target_path, op_id, result_oid, outcome, detail,
		prev_hash, hash, intent_id`
	colsE = `e.seq, e.ts, e.actor, e.op, e.target_ref, e.target_path, e.op_id, e.result_oid,
		e.outcome, e.detail, e.prev_hash, e.hash, e.intent_id`
	insertRow = `INSERT INTO audit_events (seq, ts, actor, op, target_ref, target_path, op_id,
		result_oid, outcome, detail, prev_hash, hash, intent_id, stream_seq, intent_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	pageSize = 1000
)

// Store is a chain.Store over one SQLite file.
type Store struct {
	db  *sql.DB
	now func() time.Time
	// mu serialises this process's writers so they queue here rather than spin on SQLite's
	// busy handler; BEGIN IMMEDIATE still serialises against other processes.
	mu sync.Mutex
	// appendStmts are AppendBatch's statements, prepared once (under mu) and bound to each
	// transaction, which reuses them on a connection that prepared them before: compiling
	// them for every batch was a third of an append's CPU.
	appendStmts *appendStmts
}

type appendStmts struct{ byIntent, ins, insKeys *sql.Stmt }

// stmts prepares AppendBatch's statements on first use; mu is held.
func (s *Store) stmts(ctx context.Context) (*appendStmts, error) {
	if s.appendStmts != nil {
		return s.appendStmts, nil
	}
	var a appendStmts
	for _, p := range []struct {
		dst **sql.Stmt
		q   string
	}{{&a.byIntent, `SELECT ` + cols + ` FROM audit_events WHERE intent_id = ?`}, {&a.ins, insertRow}, {&a.insKeys, insertKeys}} {
		st, err := s.db.PrepareContext(ctx, p.q)
		if err != nil {
			a.close()
			return nil, err
		}
		*p.dst = st
	}
	s.appendStmts = &a
	return &a, nil
}

func (a *appendStmts) close() {
	for _, st := range []*sql.Stmt{a.byIntent, a.ins, a.insKeys} {
		if st != nil {
			_ = st.Close()
		}
	}
}

var _ chain.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock that stamps ts (tests).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// Open opens (creating if needed) the audit log at path and brings its schema up to date:
// 0.1.5's table and indexes if absent, then the Go-only columns and the unique intent index.
// The journal mode is left as the file has it (0.1.5 used rollback journaling).
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	// _txlock=immediate makes every transaction BEGIN IMMEDIATE: the tail read and the
	// insert happen under the write lock. busy_timeout waits out other processes.
	// A log this store creates uses write-ahead logging: a rollback journal creates and
	// deletes a file on every transaction, which costs more than the append itself on some
	// filesystems. An existing file keeps the journal mode it has (0.1.5 used rollback
	// journaling), and synchronous=FULL keeps every commit durable in either mode.
	_, statErr := os.Stat(path)
	fresh := errors.Is(statErr, os.ErrNotExist)
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		return nil, unavailable("open", err, "open %s", path)
	}
	if fresh {
		if _, err := db.ExecContext(ctx, `PRAGMA journal_mode=WAL`); err != nil {
			db.Close()
			return nil, unavailable("open", err, "set journal mode of %s", path)
		}
	}
	s := &Store{db: db, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// DB returns the underlying database, for snapshots and out-of-band inspection.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.appendStmts != nil {
		s.appendStmts.close()
		s.appendStmts = nil
	}
	s.mu.Unlock()
	return s.db.Close()
}

func unavailable(op string, err error, format string, args ...any) error {
	return fault.Wrap("audit.sqlitestore."+op, fault.BackendUnavailable, err, format, args...)
}

func (s *Store) migrate(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return unavailable("migrate", err, "begin")
	}
	defer tx.Rollback()
	for _, q := range []string{createTable, createIndexSeq, createIndexPath} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return unavailable("migrate", err, "create 0.1.5 schema")
		}
	}
	have := map[string]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT name FROM pragma_table_info('audit_events')`)
	if err != nil {
		return unavailable("migrate", err, "table info")
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return unavailable("migrate", err, "table info")
		}
		have[name] = true
	}
	if err := rows.Close(); err != nil {
		return unavailable("migrate", err, "table info")
	}
	for _, c := range goColumns {
		if !have[c.name] {
			if _, err := tx.ExecContext(ctx, `ALTER TABLE audit_events ADD COLUMN `+c.decl); err != nil {
				return unavailable("migrate", err, "add column %s", c.name)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, createIndexIntent); err != nil {
		return unavailable("migrate", err, "create intent index")
	}
	if err := migrateKeys(ctx, tx); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, createTree); err != nil {
		return unavailable("migrate", err, "create merkle_nodes")
	}
	if err := extendTree(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return unavailable("migrate", err, "commit")
	}
	return nil
}

// migrateKeys creates audit_detail_keys when the file has none and fills it from the rows
// already there, in the migration's transaction, so a log written before the table existed
// (0.1.5's included) is found by its detail keys too.
func migrateKeys(ctx context.Context, tx *sql.Tx) error {
	var n int
	if err := tx.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'audit_detail_keys'`).Scan(&n); err != nil {
		return unavailable("migrate", err, "look up audit_detail_keys")
	}
	if n == 0 {
		if _, err := tx.ExecContext(ctx, createKeys); err != nil {
			return unavailable("migrate", err, "create audit_detail_keys")
		}
		if err := backfillKeys(ctx, tx); err != nil {
			return err
		}
	}
	for _, q := range createKeysIndexes {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return unavailable("migrate", err, "create detail key index")
		}
	}
	return nil
}

func backfillKeys(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT seq, op, detail FROM audit_events
		WHERE detail LIKE '%"window"%' OR detail LIKE '%"purpose"%' OR detail LIKE '%"object"%'`)
	if err != nil {
		return unavailable("migrate", err, "read detail keys")
	}
	type keyed struct {
		seq  int64
		op   sql.NullString
		keys chain.DetailKeys
	}
	var found []keyed
	for rows.Next() {
		var (
			k      keyed
			detail sql.NullString
		)
		if err := rows.Scan(&k.seq, &k.op, &detail); err != nil {
			rows.Close()
			return unavailable("migrate", err, "read detail keys")
		}
		var ok bool
		if k.keys, ok = chain.KeysOf([]byte(detail.String)); ok {
			found = append(found, k)
		}
	}
	if err := rows.Close(); err != nil {
		return unavailable("migrate", err, "read detail keys")
	}
	for _, k := range found {
		if _, err := tx.ExecContext(ctx, insertKeys, keysArgs(k.seq, k.op, k.keys)...); err != nil {
			return unavailable("migrate", err, "fill detail keys of seq %d", k.seq)
		}
	}
	return nil
}

func keysArgs(seq int64, op sql.NullString, k chain.DetailKeys) []any {
	args := []any{seq, op, nil, nil, nil}
	if k.Window != nil {
		args[2] = *k.Window
	}
	if k.Purpose != nil {
		args[3] = *k.Purpose
	}
	if k.Object != nil {
		args[4] = *k.Object
	}
	return args
}

type scanner interface{ Scan(dest ...any) error }

func scanEvent(r scanner) (chain.Event, error) {
	var (
		e                      chain.Event
		detail, prev, h, inten sql.NullString
	)
	err := r.Scan(&e.Seq, &e.TS, &e.Actor, &e.Op, &e.TargetRef, &e.TargetPath, &e.OpID,
		&e.ResultOID, &e.Outcome, &detail, &prev, &h, &inten)
	if err != nil {
		return chain.Event{}, err
	}
	if detail.String != "" {
		e.Detail = []byte(detail.String)
	}
	e.PrevHash, e.Hash, e.IntentID = prev.String, h.String, inten.String
	return e, nil
}

func nullIfZero[T comparable](v T) any {
	var zero T
	if v == zero {
		return nil
	}
	return v
}

// insert writes e and, when its detail has any, its detail keys (keys is the prepared
// insertKeys of the same transaction).
func insert(ctx context.Context, stmt, keys *sql.Stmt, e *chain.Event, streamSeq int64, intentAt string) error {
	var detail any
	if e.Detail != nil {
		detail = string(e.Detail) // TEXT, never BLOB: 0.1.5 reads it as str
	}
	_, err := stmt.ExecContext(ctx, e.Seq, e.TS, e.Actor, e.Op, e.TargetRef, e.TargetPath, e.OpID,
		e.ResultOID, e.Outcome, detail, e.PrevHash, e.Hash, nullIfZero(e.IntentID),
		nullIfZero(streamSeq), nullIfZero(intentAt))
	if err != nil {
		return err
	}
	if k, ok := chain.KeysOf(e.Detail); ok {
		_, err = keys.ExecContext(ctx, keysArgs(e.Seq, sql.NullString(e.Op), k)...)
	}
	return err
}

func tail(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (chain.Tail, error) {
	var t chain.Tail
	var h sql.NullString
	err := q.QueryRowContext(ctx, `SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&t.Seq, &h)
	if errors.Is(err, sql.ErrNoRows) {
		return chain.GenesisTail, nil
	}
	t.Hash = h.String
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
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.stmts(ctx)
	if err != nil {
		return nil, unavailable("append", err, "prepare")
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, unavailable("append", err, "begin")
	}
	defer tx.Rollback()
	last, err := tail(ctx, tx)
	if err != nil {
		return nil, unavailable("append", err, "read tail")
	}
	byIntent := tx.StmtContext(ctx, st.byIntent)
	defer byIntent.Close()
	ins := tx.StmtContext(ctx, st.ins)
	defer ins.Close()
	insKeys := tx.StmtContext(ctx, st.insKeys)
	defer insKeys.Close()

	out := make([]chain.Event, len(intents))
	var appended []chain.Event
	seen := make(map[string]int, len(intents))
	for i := range intents {
		in := &intents[i]
		if j, ok := seen[in.ID]; ok {
			out[i] = out[j]
			continue
		}
		seen[in.ID] = i
		e, err := scanEvent(byIntent.QueryRowContext(ctx, in.ID))
		switch {
		case err == nil:
			out[i] = e // U-5: redelivered, already recorded
			continue
		case !errors.Is(err, sql.ErrNoRows):
			return nil, unavailable("append", err, "look up intent %q", in.ID)
		}
		e, err = chain.Seal(in, last.Seq+1, chain.FormatTS(s.now()), last.Hash)
		if err != nil {
			return nil, err
		}
		if err := insert(ctx, ins, insKeys, &e, int64(in.StreamSeq), in.IntentAt); err != nil {
			return nil, unavailable("append", err, "insert seq %d", e.Seq)
		}
		last = chain.Tail{Seq: e.Seq, Hash: e.Hash}
		out[i] = e
		appended = append(appended, e)
	}
	if err := chain.AppendToTree(ctx, txTree{tx}, appended); err != nil {
		return nil, unavailable("tree", err, "add the appended rows to the tree")
	}
	if err := tx.Commit(); err != nil {
		return nil, unavailable("append", err, "commit")
	}
	return out, nil
}

// Tail implements chain.Store.
func (s *Store) Tail(ctx context.Context) (chain.Tail, error) {
	t, err := tail(ctx, s.db)
	if err != nil {
		return chain.Tail{}, unavailable("tail", err, "read tail")
	}
	return t, nil
}

// Count implements chain.Store.
func (s *Store) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_events`).Scan(&n); err != nil {
		return 0, unavailable("count", err, "count")
	}
	return n, nil
}

func (s *Store) query(ctx context.Context, op, q string, args ...any) ([]chain.Event, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
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

// Range implements chain.Store. Each page is read to the end before its rows are yielded, so
// no read transaction is held while the caller works.
func (s *Store) Range(ctx context.Context, from, to int64) iter.Seq2[chain.Event, error] {
	return func(yield func(chain.Event, error) bool) {
		for from <= to {
			page, err := s.query(ctx, "range",
				`SELECT `+cols+` FROM audit_events WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT ?`,
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
	eq := func(col string, v any) {
		conds = append(conds, col+" = ?")
		args = append(args, v)
	}
	for _, c := range []struct {
		col string
		v   chain.Text
	}{{"e.op", f.Op}, {"e.actor", f.Actor}, {"e.op_id", f.OpID}, {"e.target_ref", f.TargetRef}, {"e.target_path", f.TargetPath}} {
		if c.v.Valid {
			eq(c.col, c.v.String)
		}
	}
	from := ` FROM audit_events e`
	if f.HasDetailKeys() {
		from += ` JOIN audit_detail_keys k ON k.seq = e.seq`
		if f.Op.Valid {
			eq("k.op", f.Op.String) // leads every detail key index
		}
		if f.Window != nil {
			eq("k.win", *f.Window)
		}
		if f.Object.Valid {
			eq("k.object", f.Object.String)
		}
		if f.Purpose.Valid {
			eq("k.purpose", f.Purpose.String)
		}
	}
	seqCol := "e.seq"
	if f.HasDetailKeys() {
		seqCol = "k.seq" // the index's last column, so the seq bounds and order use it
	}
	if f.AfterSeq != 0 {
		conds = append(conds, seqCol+" > ?")
		args = append(args, f.AfterSeq)
	}
	if f.BeforeSeq != 0 {
		conds = append(conds, seqCol+" < ?")
		args = append(args, f.BeforeSeq)
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
		q += " LIMIT ?"
		args = append(args, limit)
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
	e, err := scanEvent(s.db.QueryRowContext(ctx, q, args...))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return chain.Event{}, false, nil
	case err != nil:
		return chain.Event{}, false, unavailable(op, err, "query")
	}
	return e, true, nil
}

// IsRead implements chain.Store.
func (s *Store) IsRead(ctx context.Context, actor, path string) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx,
		`SELECT 1 FROM audit_events WHERE op = 'read_receipt' AND actor = ? AND target_path = ? LIMIT 1`,
		actor, path).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, unavailable("is_read", err, "query")
	}
	return true, nil
}

// ByIntent implements chain.Store.
func (s *Store) ByIntent(ctx context.Context, id string) (chain.Event, bool, error) {
	return s.one(ctx, "by_intent", `SELECT `+cols+` FROM audit_events WHERE intent_id = ?`, id)
}

// Import implements chain.Store.
func (s *Store) Import(ctx context.Context, rows []chain.Event) error {
	if len(rows) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return unavailable("import", err, "begin")
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, insertRow)
	if err != nil {
		return unavailable("import", err, "prepare")
	}
	defer ins.Close()
	insKeys, err := tx.PrepareContext(ctx, insertKeys)
	if err != nil {
		return unavailable("import", err, "prepare")
	}
	defer insKeys.Close()
	for i := range rows {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM audit_events WHERE seq = ? OR intent_id = ?`,
			rows[i].Seq, nullIfZero(rows[i].IntentID)).Scan(&one)
		switch {
		case err == nil:
			return fmt.Errorf("import seq %d: %w", rows[i].Seq, chain.ErrRowExists)
		case !errors.Is(err, sql.ErrNoRows):
			return unavailable("import", err, "check seq %d", rows[i].Seq)
		}
		if err := insert(ctx, ins, insKeys, &rows[i], 0, ""); err != nil {
			return unavailable("import", err, "insert seq %d", rows[i].Seq)
		}
	}
	if err := extendTree(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return unavailable("import", err, "commit")
	}
	return nil
}
