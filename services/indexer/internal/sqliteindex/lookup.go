package sqliteindex

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/indexer/internal/rows"
)

// The scry lookups' indexes (S-40…S-71 answered without reading every row). map_entries gains
// two plain indexes (path; thread with author), invisible to 0.1.5 readers, and map_keys holds
// each row's list members and body key so that inbox, vantage and body lookups are key lookups:
//
//	kind 1: a recipient of the row; kind 2: a link of the row; kind 3: the hex SHA-256 of the
//	row's body_text stripped of " \n\r\t" (every row has exactly one).
//
// map_keys is kept in step by every write transaction and rebuilt on open from map_entries when
// it is not complete (a file written by 0.1.5, or made before map_keys existed, or an older
// keysVersion).
const (
	keyRecipient = 1
	keyLink      = 2
	keyBody      = 3
	// keysVersion names map_keys' current layout; a different stored value rebuilds it.
	keysVersion = 1
)

var lookupSchema = []string{
	`CREATE INDEX IF NOT EXISTS ix_path ON map_entries(path)`,
	`CREATE INDEX IF NOT EXISTS ix_thread ON map_entries(thread, authoring_instance)`,
	`CREATE TABLE IF NOT EXISTS map_keys (kind INTEGER NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL,
		PRIMARY KEY (kind, key, seq)) WITHOUT ROWID`,
	`CREATE INDEX IF NOT EXISTS map_keys_seq ON map_keys(seq)`,
	`CREATE TABLE IF NOT EXISTS map_keys_meta (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)`,
}

// bodyKey is kind 3's key of a stripped body.
func bodyKey(stripped string) string {
	h := sha256.Sum256([]byte(stripped))
	return hex.EncodeToString(h[:])
}

// keysOf lists the map_keys rows of a row: its recipients, its links and its body key.
func keysOf(recipients, links []string, body string) [][2]any {
	out := make([][2]any, 0, len(recipients)+len(links)+1)
	for _, r := range recipients {
		out = append(out, [2]any{keyRecipient, r})
	}
	for _, l := range links {
		out = append(out, [2]any{keyLink, l})
	}
	return append(out, [2]any{keyBody, bodyKey(rows.StripBody(body))})
}

// migrateKeys ensures the lookup indexes and rebuilds map_keys when it is incomplete: its
// version differs, or its body keys do not cover exactly the rows of map_entries. It reports
// whether it rebuilt.
func migrateKeys(ctx context.Context, tx *sql.Tx) (bool, error) {
	for _, stmt := range lookupSchema {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return false, fmt.Errorf("schema: %w", err)
		}
	}
	var version, entries, nkeyed, maxEntry, maxKeyed sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT version FROM map_keys_meta WHERE id = 1),
		(SELECT count(*) FROM map_entries), (SELECT count(*) FROM map_keys WHERE kind = 3),
		(SELECT max(rowid) FROM map_entries), (SELECT max(seq) FROM map_keys WHERE kind = 3)`).
		Scan(&version, &entries, &nkeyed, &maxEntry, &maxKeyed); err != nil {
		return false, err
	}
	if version.Int64 == keysVersion && entries == nkeyed && maxEntry == maxKeyed {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM map_keys`); err != nil {
		return false, err
	}
	res, err := tx.QueryContext(ctx, `SELECT rowid, recipients, links, body_text FROM map_entries`)
	if err != nil {
		return false, err
	}
	type keyed struct {
		seq  int64
		keys [][2]any
	}
	var all []keyed
	for res.Next() {
		var (
			seq                 int64
			recips, links, body sql.NullString
			recipList, linkList []string
		)
		if err := res.Scan(&seq, &recips, &links, &body); err != nil {
			res.Close()
			return false, err
		}
		if recipList, err = decodeList(recips.String, recips.Valid); err != nil {
			res.Close()
			return false, err
		}
		if linkList, err = decodeList(links.String, links.Valid); err != nil {
			res.Close()
			return false, err
		}
		all = append(all, keyed{seq, keysOf(recipList, linkList, body.String)})
	}
	res.Close()
	if err := res.Err(); err != nil {
		return false, err
	}
	ins, err := tx.PrepareContext(ctx, insKey)
	if err != nil {
		return false, err
	}
	defer ins.Close()
	for _, k := range all {
		if err := putKeys(ctx, ins, k.seq, k.keys); err != nil {
			return false, err
		}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO map_keys_meta(id, version) VALUES (1, ?)
		ON CONFLICT(id) DO UPDATE SET version = excluded.version`, keysVersion)
	return true, err
}

const (
	insKey  = `INSERT OR IGNORE INTO map_keys(kind, key, seq) VALUES (?, ?, ?)`
	delKeys = `DELETE FROM map_keys WHERE seq = ?`
)

func putKeys(ctx context.Context, ins *sql.Stmt, seq int64, keys [][2]any) error {
	for _, k := range keys {
		if _, err := ins.ExecContext(ctx, k[0], k[1], seq); err != nil {
			return err
		}
	}
	return nil
}

// Upgraded says what Open rebuilt from the stored rows ("" when nothing), for the service's log.
func (s *Store) Upgraded() string { return s.upgraded }

// Select returns the rows matching f, ins_seq ascending, without embeddings (and without
// body_text when f.Light), through the indexes: f must name a key (rows.Filter.Keyed).
func (s *Store) Select(ctx context.Context, f rows.Filter) ([]rows.Row, error) {
	if !f.Keyed() {
		return nil, fault.E("index.select", fault.ArgumentError, "a lookup names no indexed key: it would read every row")
	}
	var (
		where []string
		args  []any
	)
	eq := func(col, v string) {
		if v != "" {
			where, args = append(where, col+` = ?`), append(args, v)
		}
	}
	eq("type", f.Type)
	eq("path", f.Path)
	eq("thread", f.Thread)
	eq("authoring_instance", f.Author)
	eq("canon_state", f.CanonState)
	if len(f.Paths) > 0 {
		// One parameter whatever the number of paths: SQLite bounds the parameters.
		ps, err := json.Marshal(f.Paths)
		if err != nil {
			return nil, fault.Wrap("index.select", fault.Internal, err, "encode paths")
		}
		where, args = append(where, `path IN (SELECT value FROM json_each(?))`), append(args, string(ps))
	}
	key := func(kind int, v string) {
		where = append(where, `rowid IN (SELECT seq FROM map_keys WHERE kind = ? AND key = ?)`)
		args = append(args, kind, v)
	}
	if f.Recipient != "" {
		key(keyRecipient, f.Recipient)
	}
	if f.Link != "" {
		key(keyLink, f.Link)
	}
	if f.Body != nil {
		key(keyBody, bodyKey(*f.Body))
	}
	if f.Superseding {
		// Every list column that decodes to a non-empty list, and a few that do not (a JSON
		// null, "", [ ]): the decoded lists are checked below.
		where = append(where, `supersedes IS NOT NULL AND supersedes NOT IN ('', '[]')`)
	}
	body := "body_text"
	if f.Light {
		body = "NULL"
	}
	cols := strings.Replace(strings.Replace(columns, "body_text, embedding", body+", NULL", 1), "\n\t", " ", -1)
	rs, err := s.query(ctx, "index.select", `SELECT `+cols+`, rowid FROM map_entries WHERE `+
		strings.Join(where, " AND ")+` ORDER BY rowid`, args...)
	if err != nil || f.Body == nil && !f.Superseding {
		return rs, err
	}
	// The body key is a hash and the supersedes test a superset: keep only the rows f matches.
	out := rs[:0]
	for _, r := range rs {
		if (f.Body == nil || rows.StripBody(r.BodyText) == *f.Body) && (!f.Superseding || len(r.Supersedes) > 0) {
			out = append(out, r)
		}
	}
	return out, nil
}

// InboxCounts returns, per authoring_instance ("" for none), how many msg rows hold seat among
// their recipients (S-40), only those at paths unless paths is empty: the inbox's size by
// sender, counted from the recipient keys without reading the messages (issue 15).
func (s *Store) InboxCounts(ctx context.Context, seat string, paths []string) (map[string]int, error) {
	out := map[string]int{}
	q := `SELECT coalesce(e.authoring_instance, ''), count(*) FROM map_keys k JOIN map_entries e ON e.rowid = k.seq
		WHERE k.kind = ? AND k.key = ? AND e.type = 'msg'`
	count := func(args []any, and string) error {
		res, err := s.db.QueryContext(ctx, q+and+` GROUP BY 1`, args...)
		if err != nil {
			return fault.Wrap("index.inbox_counts", fault.BackendUnavailable, err, "query")
		}
		defer res.Close()
		for res.Next() {
			var (
				author string
				n      int
			)
			if err := res.Scan(&author, &n); err != nil {
				return fault.Wrap("index.inbox_counts", fault.Internal, err, "read count")
			}
			out[author] += n
		}
		if err := res.Err(); err != nil {
			return fault.Wrap("index.inbox_counts", fault.BackendUnavailable, err, "query")
		}
		return nil
	}
	if len(paths) == 0 {
		if err := count([]any{keyRecipient, seat}, ""); err != nil {
			return nil, err
		}
		return out, nil
	}
	// In chunks of distinct paths (SQLite bounds the parameters): each row is at one path, so
	// the chunks' counts add up.
	set := slices.Clone(paths)
	slices.Sort(set)
	set = slices.Compact(set)
	const chunk = 500
	for len(set) > 0 {
		n := min(chunk, len(set))
		args := []any{keyRecipient, seat}
		for _, p := range set[:n] {
			args = append(args, p)
		}
		set = set[n:]
		if err := count(args, ` AND e.path IN (?`+strings.Repeat(", ?", n-1)+`)`); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ThreadGroups returns the (thread, author) groups of the rows with a non-empty thread (S-61)
// from the thread index, each with its row count and newest row. The groups are read from the
// index alone (thread, author and rowid are its columns); path and ref are then read for each
// thread's newest row only: reading them for every threaded row, from the table, was linear in
// the rows and cost 50 ms at 100,000 entries (issue 15).
func (s *Store) ThreadGroups(ctx context.Context) ([]rows.ThreadGroup, error) {
	res, err := s.db.QueryContext(ctx, `SELECT thread, coalesce(authoring_instance, ''), count(*), max(rowid)
		FROM map_entries WHERE thread > '' GROUP BY thread, authoring_instance`)
	if err != nil {
		return nil, fault.Wrap("index.threads", fault.BackendUnavailable, err, "query")
	}
	var out []rows.ThreadGroup
	newest := map[string]int{} // thread → index in out of its newest group
	for res.Next() {
		var g rows.ThreadGroup
		if err := res.Scan(&g.Thread, &g.Author, &g.Count, &g.Latest); err != nil {
			res.Close()
			return nil, fault.Wrap("index.threads", fault.Internal, err, "read group")
		}
		if k, ok := newest[g.Thread]; !ok || g.Latest > out[k].Latest {
			newest[g.Thread] = len(out)
		}
		out = append(out, g)
	}
	res.Close()
	if err := res.Err(); err != nil {
		return nil, fault.Wrap("index.threads", fault.BackendUnavailable, err, "query")
	}
	if len(newest) == 0 {
		return out, nil
	}
	at := make(map[int64]int, len(newest))
	seqs := make([]any, 0, len(newest))
	for _, k := range newest {
		at[out[k].Latest] = k
		seqs = append(seqs, out[k].Latest)
	}
	// In chunks: a thread per row would pass SQLite's bound on parameters.
	const chunk = 500
	for len(seqs) > 0 {
		args := seqs[:min(chunk, len(seqs))]
		seqs = seqs[len(args):]
		if err := s.newestRows(ctx, args, func(seq int64, path, ref string) {
			out[at[seq]].Path, out[at[seq]].Ref = path, ref
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// newestRows reads the path and ref of the rows seqs.
func (s *Store) newestRows(ctx context.Context, seqs []any, fn func(seq int64, path, ref string)) error {
	res, err := s.db.QueryContext(ctx, `SELECT rowid, path, ref FROM map_entries WHERE rowid IN (?`+
		strings.Repeat(", ?", len(seqs)-1)+`)`, seqs...)
	if err != nil {
		return fault.Wrap("index.threads", fault.BackendUnavailable, err, "query")
	}
	defer res.Close()
	for res.Next() {
		var (
			seq       int64
			path, ref string
		)
		if err := res.Scan(&seq, &path, &ref); err != nil {
			return fault.Wrap("index.threads", fault.Internal, err, "read newest row")
		}
		fn(seq, path, ref)
	}
	if err := res.Err(); err != nil {
		return fault.Wrap("index.threads", fault.BackendUnavailable, err, "query")
	}
	return nil
}

// EnvelopesUnder returns {path: envelope} for the rows of ref at under or below it ("" is every
// row of ref; S-53, T-list_entries-2), through the (ref, path) key: "under/" ≤ path < "under0"
// is exactly the paths below under, '0' following '/' in byte order. NULL fields read as "".
func (s *Store) EnvelopesUnder(ctx context.Context, ref, under string) (map[string]schema.EntryEnvelope, error) {
	q := `SELECT path, coalesce(title, ''), coalesce(status, ''), coalesce(type, ''), coalesce(tick, ''),
		coalesce(thread, '') FROM map_entries WHERE ref = ?`
	args := []any{ref}
	if under != "" {
		q += ` AND (path = ? OR path >= ? AND path < ?)`
		args = append(args, under, under+"/", under+"0")
	}
	res, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fault.Wrap("index.envelopes", fault.BackendUnavailable, err, "query")
	}
	defer res.Close()
	out := map[string]schema.EntryEnvelope{}
	for res.Next() {
		var (
			p string
			e schema.EntryEnvelope
		)
		if err := res.Scan(&p, &e.Title, &e.Status, &e.Type, &e.Tick, &e.Thread); err != nil {
			return nil, fault.Wrap("index.envelopes", fault.Internal, err, "read row")
		}
		out[p] = e
	}
	if err := res.Err(); err != nil {
		return nil, fault.Wrap("index.envelopes", fault.BackendUnavailable, err, "query")
	}
	return out, nil
}
