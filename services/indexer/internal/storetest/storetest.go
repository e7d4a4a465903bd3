// Package storetest is the contract suite every map index store passes (S-80): SQLite
// (sqliteindex) and PostgreSQL (pgindex) run the same tests through Run, so the two backends
// answer the same queries the same way. Embedding-mode answers must be identical; in hybrid
// mode the keyword side ranks with each database's own full-text rank, so the suite asserts the
// hits a query must (and must not) return and the top hit where it is unambiguous.
package storetest

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/indexer/internal/embed"
	"github.com/stasima/stasima/services/indexer/internal/fixture"
	"github.com/stasima/stasima/services/indexer/internal/ranking"
	"github.com/stasima/stasima/services/indexer/internal/rows"
)

// Store is the store contract: what the indexer service and the scry queries call.
type Store interface {
	Upsert(ctx context.Context, version int64, rs ...rows.Row) (int, error)
	UpsertBatch(ctx context.Context, ws ...rows.Write) (int, error)
	Reset(ctx context.Context) error
	DeleteRef(ctx context.Context, ref string) (int64, error)
	Count(ctx context.Context) (int64, error)
	MaxVersion(ctx context.Context) (int64, error)
	All(ctx context.Context) ([]rows.Row, error)
	ListByRef(ctx context.Context, ref string) ([]rows.Row, error)
	EnvelopesFor(ctx context.Context, ref string) (map[string]schema.EntryEnvelope, error)
	EnvelopesUnder(ctx context.Context, ref, under string) (map[string]schema.EntryEnvelope, error)
	Search(ctx context.Context, q ranking.Query) (schema.SearchResult, error)
	PhraseDF(ctx context.Context, phrase []string, limit int) (int, error)
	Select(ctx context.Context, f rows.Filter) ([]rows.Row, error)
	ThreadGroups(ctx context.Context) ([]rows.ThreadGroup, error)
	RowsBySeq(ctx context.Context, seqs []int64) (map[int64]rows.Row, error)
	InboxCounts(ctx context.Context, seat string, paths []string) (map[string]int, error)
	Close() error
}

// Opener opens a store over one database; each call is another store (another connection
// pool, as another process would hold) over the same database.
type Opener func(t testing.TB) Store

// Backend makes a fresh, empty database for one test and returns its opener.
type Backend func(t testing.TB) Opener

// Canon and the seats of the suite's rows.
const (
	CanonRef    = "refs/heads/main"
	Perspective = "refs/cap/perspectives/"
)

// RefOf maps "canon" to CanonRef and a seat name to its perspective ref.
func RefOf(name string) string {
	if name == "canon" {
		return CanonRef
	}
	return Perspective + name
}

// Row derives a row the way the indexer does (S-2) and embeds it with the stub (S-21).
func Row(ref, path, typ, status, title, body, origin string) rows.Row {
	text := "---\ntype: " + typ + "\ntitle: " + title + "\nstatus: " + status + "\n"
	if origin != "" {
		text += "origin_author: " + origin + "\n"
	}
	r, err := rows.Derive(rows.Source{CanonRef: CanonRef, Ref: ref, Path: path, BlobOID: "oid-" + path,
		Text: text + "---\n\n" + body})
	if err != nil {
		panic(err)
	}
	r.Embedding, r.ModelID = embed.StubVector(r.EmbedText()), embed.StubModelID
	return r
}

func open(t *testing.T, b Backend) Store {
	t.Helper()
	return b(t)(t)
}

// Run runs the contract suite against b.
func Run(t *testing.T, b Backend) {
	t.Run("fixture", func(t *testing.T) { testFixture(t, b) })
	t.Run("filters", func(t *testing.T) { testFilters(t, b) })
	t.Run("version guard", func(t *testing.T) { testVersionGuard(t, b) })
	t.Run("batch equals one write per event", func(t *testing.T) { testBatch(t, b) })
	t.Run("order independent of delivery", func(t *testing.T) { testOrderIndependentOfDelivery(t, b) })
	t.Run("phrase counts follow every write", func(t *testing.T) { testPhraseDF(t, b) })
	t.Run("rows round trip", func(t *testing.T) { testRoundTrip(t, b) })
	t.Run("envelopes and delete", func(t *testing.T) { testEnvelopesDelete(t, b) })
	t.Run("keyword syntax", func(t *testing.T) { testKeywordSyntax(t, b) })
	t.Run("huge limits", func(t *testing.T) { testHugeLimits(t, b) })
	t.Run("corpus", func(t *testing.T) { testCorpus(t, b) })
	t.Run("another writer", func(t *testing.T) { testAnotherWriter(t, b) })
	t.Run("lookups select through the indexes", func(t *testing.T) { testLookups(t, b) })
	t.Run("envelopes under a path", func(t *testing.T) { testEnvelopesUnder(t, b) })
}

// Derived returns the rows of a full reindex of the 0.1.5 fixture, embedded with the stub.
func Derived(t testing.TB, d fixture.Deployment) []rows.Row {
	t.Helper()
	var rs []rows.Row
	for _, src := range d.Sources(t) {
		r, err := rows.Derive(src)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	if err := rows.Embed(context.Background(), embed.Stub{}, rs); err != nil {
		t.Fatal(err)
	}
	return rs
}

// FixtureSearch returns the query and answer of expected.json's map_search read (index 13).
func FixtureSearch(t testing.TB, d fixture.Deployment) (ranking.Query, schema.SearchResult) {
	t.Helper()
	var reads []json.RawMessage
	if err := json.Unmarshal(d.Expected(t)["reads"], &reads); err != nil {
		t.Fatal(err)
	}
	var read struct {
		Tool string `json:"tool"`
		Args struct {
			InstanceID string `json:"instance_id"`
			Query      string `json:"query"`
			Scope      string `json:"scope"`
		} `json:"args"`
		Result schema.SearchResult `json:"result"`
	}
	if err := json.Unmarshal(reads[13], &read); err != nil {
		t.Fatal(err)
	}
	if read.Tool != "map_search" {
		t.Fatalf("read 13 is %q", read.Tool)
	}
	// The tool defaults: limit 10, no type, live only, stub floor 0.0.
	return ranking.Query{Mode: ranking.ModeEmbedding, Text: read.Args.Query, Vector: embed.StubVector(read.Args.Query),
		InstanceID: read.Args.InstanceID, Scope: read.Args.Scope, Limit: 10, Floor: embed.Stub{}.DefaultFloor()}, read.Result
}

// S-10…S-15, S-34: an index built from the fixture's derived rows answers expected.json's
// map_search read exactly (0.1.5's floats, order and previews); hybrid mode keeps every hit
// attributed and says which side found it.
func testFixture(t *testing.T, b Backend) {
	st := open(t, b)
	ctx := context.Background()
	d := fixture.Unpack(t)
	if n, err := st.Upsert(ctx, 1, Derived(t, d)...); err != nil || n != 34 {
		t.Fatalf("Upsert = %d, %v; want 34 (admin_reindex_returns)", n, err)
	}
	q, want := FixtureSearch(t, d)
	got, err := st.Search(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("embedding mode:\n got %+v\nwant %+v", got, want)
	}
	q.Mode = ranking.ModeHybrid
	hy, err := st.Search(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(hy.Results) == 0 {
		t.Fatal("hybrid: no hits")
	}
	for _, h := range hy.Results {
		if h.Author == "" && !h.IsCanon || len(h.Matched) == 0 || h.Type == "msg" || h.Type == "vap" {
			t.Errorf("hybrid hit %+v: want attributed, matched, never msg/vap (INV-9, INV-10)", h)
		}
	}
}

func seed(t *testing.T, b Backend) Store {
	t.Helper()
	st := open(t, b)
	_, err := st.Upsert(context.Background(), 1,
		Row(CanonRef, "a.md", "kno", "active", "a.md", "weft warp", "practitioner"),
		Row(RefOf("Recto"), "b.md", "kno", "superseded", "b.md", "weft", ""),
		Row(RefOf("Recto"), "c.md", "msg", "active", "c.md", "weft", ""),
		Row(RefOf("Verso"), "d.md", "vap", "active", "d.md", "weft", ""),
		Row(RefOf("Verso"), "e.md", "arg", "active", "e.md", "weft warp loom", ""),
		Row(RefOf("Verso"), "f.md", "kno", "draft", "f.md", "weft", ""),
	)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func paths(r schema.SearchResult) []string {
	var out []string
	for _, h := range r.Results {
		out = append(out, h.Path)
	}
	return out
}

// S-10, S-12, S-14, D-16, INV-10: candidate filters, limit and floor, in both modes.
func testFilters(t *testing.T, b Backend) {
	st := seed(t, b)
	tests := []struct {
		name      string
		give      ranking.Query
		wantPaths []string
		wantBelow int
	}{
		{"live only, msg and vap excluded", ranking.Query{Limit: 10}, []string{"a.md", "e.md"}, 0},
		{"include superseded and other statuses", ranking.Query{Limit: 10, IncludeSuperseded: true}, []string{"b.md", "f.md", "a.md", "e.md"}, 0},
		{"type filter", ranking.Query{Limit: 10, Type: "arg"}, []string{"e.md"}, 0},
		{"type filter never reaches msg", ranking.Query{Limit: 10, Type: "msg"}, nil, 0},
		{"scope canon", ranking.Query{Limit: 10, Scope: ranking.ScopeCanon}, []string{"a.md"}, 0},
		{"scope mine", ranking.Query{Limit: 10, Scope: ranking.ScopeMine, InstanceID: "Verso"}, []string{"e.md"}, 0},
		{"unknown scope is all", ranking.Query{Limit: 10, Scope: "elsewhere"}, []string{"a.md", "e.md"}, 0},
		{"limit", ranking.Query{Limit: 1}, []string{"a.md"}, 0},
		{"limit zero", ranking.Query{Limit: 0}, nil, 0},
		{"limit negative", ranking.Query{Limit: -1}, nil, 0},
		{"floor withholds", ranking.Query{Limit: 10, Floor: 0.48}, []string{"a.md"}, 1},
		{"include weak", ranking.Query{Limit: 10, Floor: 0.48, IncludeWeak: true}, []string{"a.md", "e.md"}, 0},
		{"hybrid: keyword hits are never withheld", ranking.Query{Mode: ranking.ModeHybrid, Limit: 10, Floor: 0.99}, []string{"a.md", "e.md"}, 0},
		{"hybrid: type filter never reaches vap", ranking.Query{Mode: ranking.ModeHybrid, Limit: 10, Type: "vap"}, nil, 0},
		{"hybrid: scope mine", ranking.Query{Mode: ranking.ModeHybrid, Limit: 10, Scope: ranking.ScopeMine, InstanceID: "Verso", IncludeSuperseded: true}, []string{"f.md", "e.md"}, 0},
		{"hybrid: limit zero", ranking.Query{Mode: ranking.ModeHybrid, Limit: 0}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.give.Text, tt.give.Vector = "weft", embed.StubVector("weft")
			got, err := st.Search(context.Background(), tt.give)
			if err != nil {
				t.Fatal(err)
			}
			gp := paths(got)
			if tt.give.Mode == ranking.ModeHybrid {
				slices.Sort(gp)
				slices.Sort(tt.wantPaths)
			}
			if !slices.Equal(gp, tt.wantPaths) || got.BelowFloor != tt.wantBelow || got.Results == nil {
				t.Errorf("got %v below %d, want %v below %d", gp, got.BelowFloor, tt.wantPaths, tt.wantBelow)
			}
		})
	}
}

// S-6, S-32: the version guard keeps redelivered and older events from rewriting a row or
// moving it in ins_seq order; a newer version replaces it and makes it the newest.
func testVersionGuard(t *testing.T, b Backend) {
	st := open(t, b)
	ctx := context.Background()
	recto := RefOf("Recto")
	a, bb := Row(recto, "a.md", "kno", "active", "a", "one", ""), Row(recto, "b.md", "kno", "active", "b", "two", "")
	if n, err := st.Upsert(ctx, 5, a, bb); err != nil || n != 2 {
		t.Fatalf("Upsert = %d, %v", n, err)
	}
	older := Row(recto, "a.md", "kno", "superseded", "a", "one", "")
	for _, v := range []int64{5, 4} {
		if n, err := st.Upsert(ctx, v, older); err != nil || n != 0 {
			t.Fatalf("Upsert(v%d) = %d, %v; want 0", v, n, err)
		}
	}
	list, _ := st.ListByRef(ctx, recto)
	if list[0].Path != "a.md" || list[0].Status != "active" {
		t.Fatalf("older event changed the row: %+v", list[0])
	}
	if v, err := st.MaxVersion(ctx); err != nil || v != 5 {
		t.Fatalf("MaxVersion after v5 (older v4 refused) = %d, %v", v, err)
	}
	if n, err := st.Upsert(ctx, 6, older); err != nil || n != 1 {
		t.Fatalf("Upsert(v6) = %d, %v", n, err)
	}
	if v, err := st.MaxVersion(ctx); err != nil || v != 6 {
		t.Fatalf("MaxVersion after v6 = %d, %v", v, err)
	}
	list, _ = st.ListByRef(ctx, recto)
	if len(list) != 2 || list[1].Path != "a.md" || list[1].Status != "superseded" || list[1].InsSeq <= list[0].InsSeq {
		t.Fatalf("newer event: %+v", list)
	}
	// The replaced row is searched as its new self only.
	res, err := st.Search(ctx, ranking.Query{Text: "one", Vector: embed.StubVector("one"), Limit: 10, IncludeSuperseded: true})
	if err != nil || len(res.Results) != 2 || res.Results[0].Path != "a.md" || res.Results[0].Status != "superseded" {
		t.Errorf("search after replace: %+v, %v", res, err)
	}
	if _, err := st.Upsert(ctx, 0, a); err == nil {
		t.Error("version 0 accepted")
	}
}

// S-6, S-32: a batch of writes in one transaction (the indexer applying consecutive events)
// leaves exactly the rows, ins_seq values and search answers of one Upsert per write, the
// version guard applied per write: a path written twice in the batch is stored once, as its
// newer self, and searched only as that; an older write and a repeat within a write are skipped.
func testBatch(t *testing.T, b Backend) {
	ctx := context.Background()
	recto, verso := RefOf("Recto"), RefOf("Verso")
	row := func(ref, path, status, body string) rows.Row { return Row(ref, path, "kno", status, path, body, "") }
	stored := []rows.Row{row(recto, "a.md", "active", "loom one"), row(verso, "b.md", "active", "loom two")}
	ws := []rows.Write{
		{Version: 4, Rows: []rows.Row{row(recto, "a.md", "superseded", "older than stored")}},
		{Version: 6, Rows: []rows.Row{row(recto, "c.md", "active", "loom three"), row(recto, "a.md", "active", "loom one again")}},
		{Version: 7, Rows: []rows.Row{row(recto, "c.md", "superseded", "loom three replaced"), row(verso, "d.md", "active", "loom four")}},
		{Version: 8, Rows: []rows.Row{row(verso, "b.md", "active", "loom two again"), row(verso, "b.md", "active", "a repeat in one write")}},
		{Version: 8, Rows: []rows.Row{row(recto, "c.md", "active", "the same version again")}},
		{Version: 9, Rows: nil},
	}
	one, batch := open(t, b), b(t)
	many := batch(t)
	for _, st := range []Store{one, many} {
		if _, err := st.Upsert(ctx, 5, stored...); err != nil {
			t.Fatal(err)
		}
	}
	wantN := 0
	for _, w := range ws {
		n, err := one.Upsert(ctx, w.Version, w.Rows...)
		if err != nil {
			t.Fatal(err)
		}
		wantN += n
	}
	if n, err := many.UpsertBatch(ctx, ws...); err != nil || n != wantN {
		t.Fatalf("UpsertBatch = %d, %v; want %d", n, err, wantN)
	}
	want, err := one.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := many.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("batch rows:\n got %+v\nwant %+v", got, want)
	}
	// The batch's vector table, and one loaded afresh from the database, search like the
	// one-write-per-event store; the limit is the live row count, so a replaced row left in
	// the table would cost a live one its place.
	fresh := batch(t)
	for _, mode := range []string{ranking.ModeEmbedding, ranking.ModeHybrid} {
		q := ranking.Query{Mode: mode, Text: "loom", Vector: embed.StubVector("loom"), Limit: len(want), IncludeSuperseded: true}
		wantRes, err := one.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for name, st := range map[string]Store{"batch": many, "reopened": fresh} {
			res, err := st.Search(ctx, q)
			if err != nil || !reflect.DeepEqual(res, wantRes) {
				t.Errorf("%s %s search:\n got %+v, %v\nwant %+v", name, mode, res, err, wantRes)
			}
		}
	}
	if _, err := many.UpsertBatch(ctx, rows.Write{Version: 10}, rows.Write{Version: 0}); err == nil {
		t.Error("version 0 accepted in a batch")
	}
}

// S-80: a phrase's match count (hybrid mode's selectivity and BM25 weight) is the number of
// rows whose terms hold it, capped at limit+1, after inserts, replacements, a batch, a
// ref's deletion and a reset, and as another store over the database counts it.
func testPhraseDF(t *testing.T, b Backend) {
	ctx := context.Background()
	opener := b(t)
	st := opener(t)
	recto, verso := RefOf("Recto"), RefOf("Verso")
	check := func(stage string, sts ...Store) {
		t.Helper()
		all, err := st.All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		phrases := [][]string{{"absent"}, {"loom", "weft"}, {"weft", "loom"}, {"build", "7", "hotfix"}}
		for _, w := range []string{"loom", "weft", "warp", "shuttle", "7", "hotfix", "a"} {
			phrases = append(phrases, []string{w})
		}
		for _, p := range phrases {
			want := 0
			for _, r := range all {
				if phraseCount(strings.Fields(ranking.Terms(r)), p) > 0 {
					want++
				}
			}
			for _, limit := range []int{1, 2, 100} {
				for i, other := range sts {
					if got, err := other.PhraseDF(ctx, p, limit); err != nil || got != min(want, limit+1) {
						t.Errorf("%s: store %d PhraseDF(%q, %d) = %d, %v; want %d", stage, i, p, limit, got, err, min(want, limit+1))
					}
				}
			}
		}
	}
	row := func(ref, path, body string) rows.Row { return Row(ref, path, "kno", "active", path, body, "") }
	if _, err := st.Upsert(ctx, 1, row(recto, "a.md", "loom weft loom"), row(recto, "b.md", "weft loom warp"),
		row(verso, "c.md", "shuttle build-7-hotfix")); err != nil {
		t.Fatal(err)
	}
	check("inserted", st)
	if _, err := st.Upsert(ctx, 2, row(recto, "a.md", "warp only"), row(verso, "c.md", "loom weft build-7-hotfix")); err != nil {
		t.Fatal(err)
	}
	check("replaced", st)
	if _, err := st.UpsertBatch(ctx, rows.Write{Version: 3, Rows: []rows.Row{row(verso, "d.md", "weft")}},
		rows.Write{Version: 4, Rows: []rows.Row{row(verso, "d.md", "shuttle loom"), row(recto, "e.md", "loom")}}); err != nil {
		t.Fatal(err)
	}
	check("batch", st, opener(t))
	if _, err := st.DeleteRef(ctx, recto); err != nil {
		t.Fatal(err)
	}
	check("ref deleted", st)
	if err := st.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	check("reset", st, opener(t))
}

// phraseCount is how many times phrase occurs as consecutive tokens of toks.
func phraseCount(toks, phrase []string) int {
	n := 0
	for i := 0; i+len(phrase) <= len(toks); i++ {
		if slices.Equal(toks[i:i+len(phrase)], phrase) {
			n++
		}
	}
	return n
}

// S-1, S-2: every column reads back as written, rows in ins_seq order.
func testRoundTrip(t *testing.T, b Backend) {
	st := open(t, b)
	ctx := context.Background()
	want := Derived(t, fixture.Unpack(t))
	if _, err := st.Upsert(ctx, 1, want...); err != nil {
		t.Fatal(err)
	}
	got, err := st.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("All = %d rows, want %d", len(got), len(want))
	}
	for i := range got {
		if i > 0 && got[i].InsSeq <= got[i-1].InsSeq {
			t.Errorf("ins_seq not ascending at %d", i)
		}
		g := got[i]
		g.InsSeq = 0
		if !reflect.DeepEqual(g, want[i]) {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, g, want[i])
		}
	}
	if n, err := st.Count(ctx); err != nil || n != int64(len(want)) {
		t.Errorf("Count = %d, %v", n, err)
	}
	if err := st.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.Count(ctx); n != 0 {
		t.Errorf("Count after Reset = %d", n)
	}
	if res, err := st.Search(ctx, ranking.Query{Mode: ranking.ModeHybrid, Text: "weft", Vector: embed.StubVector("weft"), Limit: 10}); err != nil || len(res.Results) != 0 {
		t.Errorf("search after Reset: %+v, %v", res, err)
	}
}

// S-53 and delete-by-ref; the keyword side follows every write.
func testEnvelopesDelete(t *testing.T, b Backend) {
	st := seed(t, b)
	ctx := context.Background()
	recto := RefOf("Recto")
	tick := Row(recto, "g.md", "log", "active", "g.md", "loom", "")
	tick.Tick, tick.Thread = "1a", "wave"
	if _, err := st.Upsert(ctx, 2, tick); err != nil {
		t.Fatal(err)
	}
	env, err := st.EnvelopesFor(ctx, recto)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]schema.EntryEnvelope{
		"b.md": {Title: "b.md", Status: "superseded", Type: "kno"},
		"c.md": {Title: "c.md", Status: "active", Type: "msg"},
		"g.md": {Title: "g.md", Status: "active", Type: "log", Tick: "1a", Thread: "wave"},
	}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("EnvelopesFor = %+v", env)
	}
	kw := keyword(t, st, "LOOM!")
	if !slices.Equal(kw, []string{"e.md", "g.md"}) {
		t.Errorf("keyword = %v", kw)
	}
	if n, err := st.DeleteRef(ctx, recto); err != nil || n != 3 {
		t.Fatalf("DeleteRef = %d, %v", n, err)
	}
	if kw := keyword(t, st, "loom"); !slices.Equal(kw, []string{"e.md"}) {
		t.Errorf("keyword after delete = %v", kw)
	}
	if env, _ := st.EnvelopesFor(ctx, recto); len(env) != 0 {
		t.Errorf("rows left: %v", env)
	}
}

// keyword returns the sorted paths of the hybrid hits the keyword side found.
func keyword(t *testing.T, st Store, text string) []string {
	t.Helper()
	res, err := st.Search(context.Background(), ranking.Query{Mode: ranking.ModeHybrid, Text: text,
		Vector: embed.StubVector(text), Limit: 100, IncludeSuperseded: true})
	if err != nil {
		t.Fatalf("search %q: %v", text, err)
	}
	var out []string
	for _, h := range res.Results {
		if slices.Contains(h.Matched, ranking.MatchedKeyword) {
			out = append(out, h.Path)
		}
	}
	slices.Sort(out)
	return out
}

// Query text is never full-text syntax: punctuation, quotes, operators and column filters
// neither fail the query nor change what matches (FTS5 MATCH, to_tsquery).
func testKeywordSyntax(t *testing.T, b Backend) {
	st := open(t, b)
	recto := RefOf("Recto")
	_, err := st.Upsert(context.Background(), 1,
		Row(recto, "id.md", "kno", "active", "id", "shipped deploy-v2.4.7-hotfix today", ""),
		Row(recto, "near.md", "kno", "active", "near", "NEAR AND OR NOT are words here, like title and body", ""),
		Row(recto, "path.md", "kno", "active", "path", "see /etc/stasima/config.toml and C:\\temp\\x", ""),
		Row(recto, "quote.md", "kno", "active", "quote", `she said "it's fine" o'clock`, ""),
	)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		give string
		want []string
	}{
		{"deploy-v2.4.7-hotfix", []string{"id.md"}},
		{"v2.4.7-hotfix", []string{"id.md"}},
		{"deploy-v2.4.8-hotfix", nil}, // a phrase: adjacent tokens in order
		{`"`, nil},
		{`"unterminated`, nil},
		{`"it's fine"`, []string{"quote.md"}},
		{"o'clock", []string{"quote.md"}},
		{"NEAR(deploy hotfix)", []string{"id.md"}}, // "near deploy" is a phrase nobody wrote
		{"NEAR/3", nil},
		{"AND", []string{"near.md", "path.md"}}, // a word, case-folded
		{"NOT OR AND", []string{"near.md", "path.md"}},
		{"title:and", []string{"near.md"}}, // the phrase "title and", not a column filter
		{"body:*", []string{"near.md"}},
		{"deploy*", []string{"id.md"}},
		{"^shipped", []string{"id.md"}},
		{"-hotfix", []string{"id.md"}},
		{"/etc/stasima/config.toml", []string{"path.md"}},
		{`C:\temp\x`, []string{"path.md"}},
		{"(", nil},
		{"a & b | !c <-> d:*", []string{"path.md"}}, // only "c" is written
		{"'", nil},
		{"\\", nil},
		{"", nil},
		{"{}[]:;", nil},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			if got := keyword(t, st, tt.give); !slices.Equal(got, tt.want) {
				t.Errorf("keyword %q = %v, want %v", tt.give, got, tt.want)
			}
		})
	}
}

// Corpus is services/indexer/testdata/corpus.json.
type Corpus struct {
	Entries []struct {
		Ref, Path, Type, Status, Title, Body, Origin string
	} `json:"entries"`
	Queries []CorpusQuery `json:"queries"`
}

// CorpusPath is the corpus reached from services/indexer/internal/<pkg>.
var CorpusPath = filepath.Join("..", "..", "testdata", "corpus.json")

// CorpusQuery is one expected search of the corpus.
type CorpusQuery struct {
	Name              string   `json:"name"`
	Query             string   `json:"query"`
	Mode              string   `json:"mode"`
	Scope             string   `json:"scope"`
	InstanceID        string   `json:"instance_id"`
	Type              string   `json:"type"`
	Limit             int      `json:"limit"`
	IncludeSuperseded bool     `json:"include_superseded"`
	IncludeWeak       bool     `json:"include_weak"`
	Floor             float64  `json:"floor"`
	WantFirst         string   `json:"want_first"`
	WantIn            []string `json:"want_in"`
	WantAbsent        []string `json:"want_absent"`
	WantEmpty         bool     `json:"want_empty"`
	WantBelowFloor    *int     `json:"want_below_floor"`
	WantBelowFloorMin int      `json:"want_below_floor_min"`
}

// LoadCorpus reads the corpus and returns it with its rows.
func LoadCorpus(t testing.TB) (Corpus, []rows.Row) {
	t.Helper()
	b, err := os.ReadFile(CorpusPath)
	if err != nil {
		t.Fatal(err)
	}
	var c Corpus
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	var rs []rows.Row
	for _, e := range c.Entries {
		typ, status := cmpOr(e.Type, "kno"), cmpOr(e.Status, "active")
		rs = append(rs, Row(RefOf(e.Ref), e.Path, typ, status, e.Title, e.Body, e.Origin))
	}
	return c, rs
}

func cmpOr(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func key(h schema.SearchHit) string {
	if h.IsCanon {
		return "canon:" + h.Path
	}
	return strings.TrimPrefix(h.Ref, Perspective) + ":" + h.Path
}

// The fixed corpus answers each query with its expected hits: identifiers, paths and error
// codes first in hybrid mode; a keyword-only match found in hybrid and withheld in embedding
// mode; live-only vs include_superseded; the floor (SC-7); scopes; INV-9, INV-10.
func testCorpus(t *testing.T, b Backend) {
	st := open(t, b)
	c, rs := LoadCorpus(t)
	if _, err := st.Upsert(context.Background(), 1, rs...); err != nil {
		t.Fatal(err)
	}
	for _, tt := range c.Queries {
		t.Run(tt.Name, func(t *testing.T) { corpusQuery(t, st, tt, 0) })
		if tt.Mode == ranking.ModeHybrid {
			// The same expectations when every phrase counts as common (matched only among the
			// embedding candidates, which on this corpus are all rows): the two keyword paths
			// agree on what they find.
			t.Run(tt.Name+"/common-phrase path", func(t *testing.T) { corpusQuery(t, st, tt, 1) })
		}
	}
}

func corpusQuery(t *testing.T, st Store, tt CorpusQuery, selective int) {
	limit := tt.Limit
	if limit == 0 {
		limit = 10
	}
	got, err := st.Search(context.Background(), ranking.Query{Mode: tt.Mode, Text: tt.Query,
		Vector: embed.StubVector(tt.Query), InstanceID: tt.InstanceID, Scope: tt.Scope, Type: tt.Type,
		IncludeSuperseded: tt.IncludeSuperseded, IncludeWeak: tt.IncludeWeak, Limit: limit, Floor: tt.Floor,
		Selective: selective})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, h := range got.Results {
		keys = append(keys, key(h))
		if h.Type == "msg" || h.Type == "vap" {
			t.Errorf("INV-10: %s in search", key(h))
		}
	}
	switch {
	case selective == 0 && tt.WantFirst != "" && (len(keys) == 0 || keys[0] != tt.WantFirst):
		t.Errorf("first hit of %v, want %s", keys, tt.WantFirst)
	case tt.WantEmpty && len(keys) != 0:
		t.Errorf("hits %v, want none", keys)
	case tt.WantBelowFloor != nil && got.BelowFloor != *tt.WantBelowFloor:
		t.Errorf("below_floor %d, want %d", got.BelowFloor, *tt.WantBelowFloor)
	case got.BelowFloor < tt.WantBelowFloorMin:
		t.Errorf("below_floor %d, want at least %d", got.BelowFloor, tt.WantBelowFloorMin)
	}
	for _, w := range tt.WantIn {
		if !slices.Contains(keys, w) {
			t.Errorf("%s missing from %v", w, keys)
		}
	}
	for _, w := range tt.WantAbsent {
		if slices.Contains(keys, w) {
			t.Errorf("%s in %v", w, keys)
		}
	}
}

// A second store over the same database (another process) sees the first one's writes in
// search, because every write moves the generation its vector table follows.
func testAnotherWriter(t *testing.T, b Backend) {
	opener := b(t)
	w, r := opener(t), opener(t)
	ctx := context.Background()
	q := ranking.Query{Mode: ranking.ModeEmbedding, Text: "loom", Vector: embed.StubVector("loom"), Limit: 10}
	if res, err := r.Search(ctx, q); err != nil || len(res.Results) != 0 {
		t.Fatalf("empty index: %+v, %v", res, err)
	}
	if _, err := w.Upsert(ctx, 1, Row(RefOf("Recto"), "a.md", "kno", "active", "a", "loom", "")); err != nil {
		t.Fatal(err)
	}
	if res, err := r.Search(ctx, q); err != nil || !slices.Equal(paths(res), []string{"a.md"}) {
		t.Fatalf("after the other writer: %+v, %v", res, err)
	}
	if err := w.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if res, err := r.Search(ctx, q); err != nil || len(res.Results) != 0 {
		t.Fatalf("after the other writer's reset: %+v, %v", res, err)
	}
}

// map_search's limit is any int64 (S-12): a limit near 2^62 answers exactly what a limit above
// the row count does, in one pass. Issue 13: the SQLite keyword side's fourfold fetch size
// overflowed to zero and paged until the request timed out.
func testHugeLimits(t *testing.T, b Backend) {
	st := seed(t, b)
	for _, mode := range []string{ranking.ModeEmbedding, ranking.ModeHybrid} {
		search := func(limit int) []string {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := st.Search(ctx, ranking.Query{Mode: mode, Text: "weft", Vector: embed.StubVector("weft"),
				Limit: limit, IncludeSuperseded: true, IncludeWeak: true})
			if err != nil {
				t.Fatalf("mode %s limit %d: %v", mode, limit, err)
			}
			return paths(res)
		}
		want := search(100)
		if len(want) == 0 {
			t.Fatalf("mode %s: no hits for weft", mode)
		}
		for _, limit := range []int{1 << 62, math.MaxInt} {
			if got := search(limit); !slices.Equal(got, want) {
				t.Errorf("mode %s limit %d: %v, want %v", mode, limit, got, want)
			}
		}
	}
}
