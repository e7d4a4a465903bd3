package indexer

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stasima/stasima/pkg/pgtest"
	"github.com/stasima/stasima/pkg/pytext"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/indexer/internal/fixture"
	"github.com/stasima/stasima/services/indexer/internal/pgindex"
	"github.com/stasima/stasima/services/indexer/internal/rows"
	"github.com/stasima/stasima/services/indexer/internal/sqliteindex"
	"github.com/stasima/stasima/services/indexer/internal/storetest"
)

// authorsOfAll is the oracle of AuthorsOf (S-50) over every row.
func authorsOfAll(all []rows.Row, path string) schema.AuthorsAnswer {
	out := schema.AuthorsAnswer{Authors: []string{}}
	for _, r := range all {
		if r.Path == path && r.AuthoringInstance != "" && !slices.Contains(out.Authors, r.AuthoringInstance) {
			out.Authors = append(out.Authors, r.AuthoringInstance)
		}
	}
	slices.Sort(out.Authors)
	return out
}

// authorsOfBodyAll is the oracle of AuthorsOfBody (S-52) over every row.
func authorsOfBodyAll(all []rows.Row, body string) schema.BodyAuthorsAnswer {
	want := pytext.Strip(body)
	out := schema.BodyAuthorsAnswer{Authors: []schema.AuthorPath{}}
	seen := map[string]bool{}
	for _, r := range all {
		if r.AuthoringInstance == "" || seen[r.AuthoringInstance] || strings.Trim(r.BodyText, " \n\r\t") != want {
			continue
		}
		seen[r.AuthoringInstance] = true
		out.Authors = append(out.Authors, schema.AuthorPath{Author: r.AuthoringInstance, Path: r.Path})
	}
	return out
}

// lookupStore is a store with both the lookups and All (the oracle's input).
type lookupStore interface {
	Lookups
	All(ctx context.Context) ([]rows.Row, error)
}

// checkLookups holds every indexed lookup to its pure function over every row (the oracle),
// for requests built from the rows' own values and a few absent ones.
func checkLookups(t *testing.T, st lookupStore) {
	t.Helper()
	ctx := context.Background()
	all, err := st.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	same := func(what string, got, want any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
		}
	}
	var paths, threads, entries, authors, bodies, recipients []string
	for _, r := range all {
		paths = append(paths, r.Path)
		authors = append(authors, r.AuthoringInstance)
		bodies = append(bodies, r.BodyText, "\t"+r.BodyText+" \n")
		recipients = append(recipients, r.Recipients...)
		if r.Thread != "" {
			threads = append(threads, r.Thread)
		}
		if r.Type == "vap" {
			entries = append(entries, r.Links...)
		}
	}
	for _, l := range []*[]string{&paths, &threads, &entries, &authors, &bodies, &recipients} {
		slices.Sort(*l)
		*l = slices.Compact(*l)
	}
	seats := append(recipients, "Nobody", "", "\x00", "Pr\xffactitioner")
	got, err := LookupInbox(ctx, st, seats)
	want := schema.InboxAnswer{Inboxes: map[string][]schema.InboxMessage{}}
	for _, s := range seats {
		want.Inboxes[s] = Inbox(all, s)
	}
	same("inbox", got, want, err)
	flagged, attended := 0, 0
	for _, seat := range seats {
		inbox := Inbox(all, seat)
		var every, first []string
		for i, m := range inbox {
			if i%2 == 1 {
				every = append(every, m.Path)
			}
			if i < 3 {
				first = append(first, m.Path)
			}
		}
		// Past the stores' parameter chunks, with hostile paths among the read ones.
		many := append(slices.Clone(every), "\x00", "messages/\xffx.md", "messages/a\x00b.md")
		for i := 0; len(many) < 1300; i++ {
			many = append(many, fmt.Sprintf("messages/none-%d.md", i))
		}
		for _, read := range [][]string{nil, every, first, append(first, "absent.md", ""), storetest.CountPaths(all)[3], many} {
			set := map[string]bool{}
			for _, p := range read {
				set[p] = true
			}
			f, err := LookupFlags(ctx, st, seat, read)
			same("flags "+seat, f, Frontier(all, seat, set), err)
			flagged += f.Unread
			n, err := LookupAttention(ctx, st, seat, read)
			same("attention "+seat, n, Attention(all, seat, set), err)
			attended += n
		}
	}
	if flagged == 0 && len(all) > 100 {
		t.Fatal("no seat has an unread message: the corpus does not exercise the flags")
	}
	if attended == 0 && len(all) > 100 {
		t.Fatal("no seat has attention: the corpus does not exercise it")
	}
	for _, p := range append(paths, "absent.md", "") {
		s, err := LookupStatusOf(ctx, st, p)
		same("status_of "+p, s, StatusOf(all, p), err)
		a, err := LookupAuthorsOf(ctx, st, p)
		same("authors_of "+p, a, authorsOfAll(all, p), err)
	}
	for _, b := range append(bodies, "absent body", "") {
		a, err := LookupAuthorsOfBody(ctx, st, b)
		same("authors_of_body "+b, a, authorsOfBodyAll(all, b), err)
	}
	th, err := LookupThreads(ctx, st)
	same("threads", th, Threads(all), err)
	for _, tag := range append(threads, "absent") {
		for _, q := range []schema.ThreadQuery{{Thread: tag, Limit: -1}, {Thread: tag, Limit: 2, Offset: 1}, {Thread: tag, Limit: 0, Offset: -3}} {
			a, err := LookupThreadEntries(ctx, st, q)
			same("thread_entries "+tag, a, ThreadEntries(all, q), err)
		}
	}
	terms, err := LookupArgTerms(ctx, st)
	same("arg_terms", terms, ArgTerms(all), err)
	for _, term := range []string{"weft", "WEFT", "Heddle", "shed", "warp", "absent", "w%", "argot"} {
		a, err := LookupArgDefinitions(ctx, st, term)
		same("arg_definitions "+term, a, ArgDefinitions(all, term), err)
	}
	for _, e := range append(entries, "", "absent.md") {
		for _, author := range []string{"", "Recto", "Verso", "practitioner"} {
			for _, q := range []schema.VantagesQuery{{Limit: 3}, {Limit: 2, Offset: 1, Full: true, CanonState: "draft"},
				{All: true}, {Limit: 0, Offset: -1}, {Limit: 5, Offset: 1 << 40}} {
				q.Entry, q.Author = e, author
				a, err := LookupVantagesFor(ctx, st, q, storetest.CanonRef)
				same("vantages_for", a, VantagesFor(all, q, storetest.CanonRef), err)
			}
		}
	}
}

// S-40…S-71 on SQLite: the indexed lookups equal the oracle on the fixture plus a generated
// corpus, after rewrites and deletes.
func TestLookups_SQLite(t *testing.T) {
	st, err := sqliteindex.Open(context.Background(), filepath.Join(t.TempDir(), "map_index.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	storetest.LookupCorpus(t, st, 300)
	checkLookups(t, st)
	if _, err := st.DeleteRef(context.Background(), storetest.RefOf("Verso")); err != nil {
		t.Fatal(err)
	}
	checkLookups(t, st)
}

// S-40…S-71 on PostgreSQL.
func TestLookups_Postgres(t *testing.T) {
	st, err := pgindex.Open(context.Background(), pgtest.Schema(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	storetest.LookupCorpus(t, st, 300)
	checkLookups(t, st)
}

// S-80: the 0.1.5 deployment's shipped map_index.sqlite (no lookup keys) is upgraded on open,
// saying so, and then answers every lookup as the oracle does over its rows.
func TestLookups_ShippedIndexUpgraded(t *testing.T) {
	d := fixture.Unpack(t)
	path := filepath.Join(t.TempDir(), "map_index.sqlite")
	copyFile(t, d.MapIndex(), path)
	st, err := sqliteindex.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Upgraded() == "" {
		t.Error("Upgraded() is empty after opening a 0.1.5 index: want the rebuild named")
	}
	checkLookups(t, st)
	st.Close()
	again, err := sqliteindex.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if u := again.Upgraded(); u != "" {
		t.Errorf("second open Upgraded() = %q: want nothing rebuilt", u)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// Issue 15: no query path reads every row. Outside tests, nothing in the service package calls
// a method named All (the store's every-row read is for reindex and tests only).
func TestQueriesNeverReadAll(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok {
				if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "All" {
					t.Errorf("%s: calls %s.All: a query must select through the store's indexes (Lookups)",
						fset.Position(call.Pos()), exprName(sel.X))
				}
			}
			return true
		})
	}
	if checked < 5 {
		t.Fatalf("checked %d files: the glob missed the package", checked)
	}
}

func exprName(x ast.Expr) string {
	if id, ok := x.(*ast.SelectorExpr); ok {
		return exprName(id.X) + "." + id.Sel.Name
	}
	if id, ok := x.(*ast.Ident); ok {
		return id.Name
	}
	return "?"
}

// supersessionRows are S-41's edge cases for the flags: a sender's own edge (dead), another
// sender's edge (ignored), a path held by two rows whose newest has another author, an edge to
// a path outside the inbox, messages with no author, a bare scalar supersedes (D-32) and a
// message to two seats.
func supersessionRows(t *testing.T) []rows.Row {
	t.Helper()
	msg := func(ref, path, recipients, extra string) rows.Row {
		r, err := rows.Derive(rows.Source{CanonRef: storetest.CanonRef, Ref: ref, Path: path, BlobOID: "oid-" + path,
			Text: "---\ntype: msg\nrecipients: [" + recipients + "]\nsubject: s\n" + extra + "---\n\nbody"})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	recto, gnomon, scholiast, canon := storetest.RefOf("Recto"), storetest.RefOf("Gnomon"), storetest.RefOf("Scholiast"), storetest.CanonRef
	return []rows.Row{
		msg(recto, "messages/a.md", "Verso", ""),
		msg(recto, "messages/b.md", "Verso", "supersedes: [messages/a.md]\n"),
		msg(gnomon, "messages/c.md", "Verso", "supersedes: [messages/b.md]\n"),
		msg(gnomon, "messages/d.md", "Verso", ""),
		msg(canon, "messages/d.md", "Verso", "origin_author: Scholiast\n"),
		msg(gnomon, "messages/e.md", "Verso", "supersedes: [messages/d.md]\n"),
		msg(scholiast, "messages/f.md", "Verso, Recto", "supersedes: [messages/d.md, messages/absent.md, messages/f.md]\n"),
		msg(canon, "messages/g.md", "Verso", ""),
		msg(canon, "messages/h.md", "Verso", "supersedes: [messages/g.md]\n"),
		msg(recto, "messages/i.md", "Verso", "supersedes: messages/b.md\n"),
		msg(recto, "messages/j.md", "Verso, Verso", "supersedes: []\n"),
	}
}

// checkSupersessionFlags holds LookupFlags to Frontier over supersessionRows for several read
// sets, and asserts the corpus kills what S-41 says it kills.
func checkSupersessionFlags(t *testing.T, st lookupStore) {
	t.Helper()
	ctx := context.Background()
	all, err := st.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, seat := range []string{"Verso", "Recto", "Nobody"} {
		for _, read := range [][]string{nil, {"messages/c.md"}, {"messages/a.md", "messages/a.md"}, {"messages/d.md", "messages/j.md"}} {
			set := map[string]bool{}
			for _, p := range read {
				set[p] = true
			}
			got, err := LookupFlags(ctx, st, seat, read)
			if err != nil {
				t.Fatal(err)
			}
			if want := Frontier(all, seat, set); !reflect.DeepEqual(got, want) {
				t.Fatalf("flags %s read %q:\n got %+v\nwant %+v", seat, read, got, want)
			}
			n, err := LookupAttention(ctx, st, seat, read)
			if err != nil {
				t.Fatal(err)
			}
			if want := Attention(all, seat, set); n != want {
				t.Fatalf("attention %s read %q = %d, want %d", seat, read, n, want)
			}
		}
	}
	// a, b, d (both rows), f (its own edge) and g are dead: of 11 rows, c, e, h, i and j are left.
	if got := Frontier(all, "Verso", nil); got.Unread != 5 || !slices.Equal(got.From, []string{"", "Gnomon", "Recto"}) {
		t.Errorf("Verso's frontier = %+v: want 5 unread from \"\", Gnomon and Recto (the corpus no longer kills a, b, d, f and g)", got)
	}
	// Attention is the flat inbox: all 11 rows, superseded or not, less the read ones.
	if got := Attention(all, "Verso", map[string]bool{"messages/d.md": true}); got != 9 {
		t.Errorf("Verso's attention with d read = %d, want 9 (11 rows, both of d's read)", got)
	}
}

// S-41/S-43: the flags equal the oracle on the supersession edge cases, on SQLite and PostgreSQL.
func TestLookupFlags_Supersessions(t *testing.T) {
	open := map[string]func(t *testing.T) lookupStore{
		"sqlite": func(t *testing.T) lookupStore {
			st, err := sqliteindex.Open(context.Background(), filepath.Join(t.TempDir(), "map_index.sqlite"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
		"postgres": func(t *testing.T) lookupStore {
			st, err := pgindex.Open(context.Background(), pgtest.Schema(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
	}
	for name, o := range open {
		t.Run(name, func(t *testing.T) {
			st := o(t)
			up, ok := st.(interface {
				Upsert(ctx context.Context, version int64, rs ...rows.Row) (int, error)
			})
			if !ok {
				t.Fatal("store cannot be written")
			}
			if _, err := up.Upsert(context.Background(), 1, supersessionRows(t)...); err != nil {
				t.Fatal(err)
			}
			checkSupersessionFlags(t, st)
		})
	}
}
