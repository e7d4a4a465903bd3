package pgindex

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/indexer/internal/rows"
)

// lookupSchema are the scry lookups' indexes (S-40…S-71 answered without reading every row):
// path, thread with author and ins_seq, GIN over recipients and links, and an expression index
// over the md5 of the body stripped of " \n\r\t" (the S-52 comparison). Made on open; on an
// existing index they are built once from the stored rows.
var lookupSchema = []string{
	`SELECT pg_advisory_xact_lock(7220150001)`,
	`CREATE INDEX IF NOT EXISTS map_entries_path ON map_entries (path)`,
	`CREATE INDEX IF NOT EXISTS map_entries_ref_path ON map_entries (ref, path text_pattern_ops)`,
	`CREATE INDEX IF NOT EXISTS map_entries_thread ON map_entries (thread, authoring_instance, ins_seq) WHERE thread <> ''`,
	`CREATE INDEX IF NOT EXISTS map_entries_recipients ON map_entries USING gin (recipients)`,
	`CREATE INDEX IF NOT EXISTS map_entries_links ON map_entries USING gin (links)`,
	`CREATE INDEX IF NOT EXISTS map_entries_body ON map_entries (md5(btrim(body_text, E' \n\r\t')))`,
}

// selCols are rowCols without the embedding (the lookups never need it); %s is body_text or ”.
var selCols = strings.Replace(rowCols, "body_text, embedding", "%s, '{}'::float8[]", 1)

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
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "$?", fmt.Sprintf("$%d", len(args))))
	}
	for _, c := range []struct{ col, v string }{{"type", f.Type}, {"path", f.Path}, {"thread", f.Thread},
		{"authoring_instance", f.Author}, {"canon_state", f.CanonState}} {
		if c.v != "" {
			add(c.col+` = $?`, clean(c.v))
		}
	}
	if len(f.Paths) > 0 {
		// Stored text is clean, so a path that is not matches no row.
		var ps []string
		for _, p := range f.Paths {
			if clean(p) == p {
				ps = append(ps, p)
			}
		}
		if len(ps) == 0 {
			return nil, nil
		}
		add(`path = ANY($?::text[])`, ps)
	}
	if f.Recipient != "" {
		add(`recipients @> ARRAY[$?::text]`, clean(f.Recipient))
	}
	if f.Link != "" {
		add(`links @> ARRAY[$?::text]`, clean(f.Link))
	}
	if f.Body != nil {
		if clean(*f.Body) != *f.Body {
			return nil, nil // no stored body holds NUL or invalid UTF-8
		}
		add(`md5(btrim(body_text, E' \n\r\t')) = md5($?::text)`, *f.Body)
		where = append(where, fmt.Sprintf(`btrim(body_text, E' \n\r\t') = $%d`, len(args)))
	}
	if f.Superseding {
		where = append(where, `cardinality(supersedes) > 0`)
	}
	body := "body_text"
	if f.Light {
		body = "''"
	}
	return s.query(ctx, "index.select", `SELECT `+fmt.Sprintf(selCols, body)+` FROM map_entries WHERE `+
		strings.Join(where, " AND ")+` ORDER BY ins_seq`, args...)
}

// InboxCounts returns, per authoring_instance, how many msg rows hold seat among their
// recipients (S-40), only those at paths unless paths is empty, counted through the recipients
// index without reading the messages (issue 15). Stored text is clean (NUL and invalid UTF-8
// replaced), so a seat or path that is not matches no row.
func (s *Store) InboxCounts(ctx context.Context, seat string, paths []string) (map[string]int, error) {
	out := map[string]int{}
	if clean(seat) != seat {
		return out, nil
	}
	q := `SELECT authoring_instance, count(*) FROM map_entries WHERE type = 'msg' AND recipients @> ARRAY[$1::text]`
	args := []any{seat}
	if len(paths) > 0 {
		kept := make([]string, 0, len(paths))
		for _, p := range paths {
			if clean(p) == p {
				kept = append(kept, p)
			}
		}
		if len(kept) == 0 {
			return out, nil
		}
		q += ` AND path = ANY($2::text[])`
		args = append(args, kept)
	}
	res, err := s.pool.Query(ctx, q+` GROUP BY authoring_instance`, args...)
	if err != nil {
		return nil, fault.Wrap("index.inbox_counts", fault.BackendUnavailable, err, "query")
	}
	var (
		author string
		n      int
	)
	if _, err := pgx.ForEachRow(res, []any{&author, &n}, func() error {
		out[author] += n
		return nil
	}); err != nil {
		return nil, fault.Wrap("index.inbox_counts", fault.BackendUnavailable, err, "query")
	}
	return out, nil
}

// ThreadGroups returns the (thread, author) groups of the rows with a non-empty thread (S-61)
// from the thread index, each with its row count and newest row.
func (s *Store) ThreadGroups(ctx context.Context) ([]rows.ThreadGroup, error) {
	res, err := s.pool.Query(ctx, `SELECT DISTINCT ON (thread, authoring_instance) thread, authoring_instance,
		count(*) OVER (PARTITION BY thread, authoring_instance), ins_seq, path, ref
		FROM map_entries WHERE thread <> '' ORDER BY thread, authoring_instance, ins_seq DESC`)
	if err != nil {
		return nil, fault.Wrap("index.threads", fault.BackendUnavailable, err, "query")
	}
	out, err := pgx.CollectRows(res, func(r pgx.CollectableRow) (rows.ThreadGroup, error) {
		var g rows.ThreadGroup
		err := r.Scan(&g.Thread, &g.Author, &g.Count, &g.Latest, &g.Path, &g.Ref)
		return g, err
	})
	if err != nil {
		return nil, fault.Wrap("index.threads", fault.BackendUnavailable, err, "query")
	}
	return out, nil
}

// EnvelopesUnder returns {path: envelope} for the rows of ref at under or below it ("" is every
// row of ref; S-53, T-list_entries-2), through the (ref, path text_pattern_ops) index.
func (s *Store) EnvelopesUnder(ctx context.Context, ref, under string) (map[string]schema.EntryEnvelope, error) {
	q := `SELECT path, title, status, type, tick, thread FROM map_entries WHERE ref = $1`
	args := []any{planned, clean(ref)}
	if under != "" {
		q += ` AND (path = $2 OR path LIKE $3)`
		esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(clean(under))
		args = append(args, clean(under), esc+"/%")
	}
	res, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fault.Wrap("index.envelopes", fault.BackendUnavailable, err, "query")
	}
	out := map[string]schema.EntryEnvelope{}
	var (
		p string
		e schema.EntryEnvelope
	)
	_, err = pgx.ForEachRow(res, []any{&p, &e.Title, &e.Status, &e.Type, &e.Tick, &e.Thread}, func() error {
		out[p] = e
		return nil
	})
	if err != nil {
		return nil, fault.Wrap("index.envelopes", fault.BackendUnavailable, err, "query")
	}
	return out, nil
}
