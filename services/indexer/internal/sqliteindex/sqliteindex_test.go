package sqliteindex

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/stasima/stasima/services/indexer/internal/embed"
	"github.com/stasima/stasima/services/indexer/internal/fixture"
	"github.com/stasima/stasima/services/indexer/internal/rows"
)

func openShipped(t *testing.T) (*Store, fixture.Deployment) {
	t.Helper()
	d := fixture.Unpack(t)
	st, err := Open(context.Background(), d.MapIndex())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, d
}

func openFresh(t *testing.T) *Store {
	t.Helper()
	st, err := Open(context.Background(), filepath.Join(t.TempDir(), "map_index.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// derived returns the rows of a full reindex of the fixture, embedded with the stub.
func derived(t *testing.T, d fixture.Deployment) []rows.Row {
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

type mapSearchRead struct {
	Tool string `json:"tool"`
	Args struct {
		InstanceID string `json:"instance_id"`
		Query      string `json:"query"`
		Scope      string `json:"scope"`
	} `json:"args"`
	Result Result `json:"result"`
}

func fixtureSearch(t *testing.T, d fixture.Deployment) (Query, Result) {
	t.Helper()
	var reads []json.RawMessage
	if err := json.Unmarshal(d.Expected(t)["reads"], &reads); err != nil {
		t.Fatal(err)
	}
	var read mapSearchRead
	if err := json.Unmarshal(reads[13], &read); err != nil {
		t.Fatal(err)
	}
	if read.Tool != "map_search" {
		t.Fatalf("read 13 is %q", read.Tool)
	}
	// The tool defaults: limit 10, no type, live only, stub floor 0.0.
	return Query{Vector: embed.StubVector(read.Args.Query), InstanceID: read.Args.InstanceID,
		Scope: read.Args.Scope, Limit: 10, Floor: embed.Stub{}.DefaultFloor()}, read.Result
}

// S-10…S-15: searching the shipped index answers expected.json's map_search read (index 13)
// with the same hits, order, scores and previews; so does an index rebuilt from git (S-34).
func TestStore_SearchMatchesFixture(t *testing.T) {
	st, d := openShipped(t)
	ctx := context.Background()
	if n, err := st.Count(ctx); err != nil || n != 34 {
		t.Fatalf("Count = %d, %v; want 34", n, err)
	}
	q, want := fixtureSearch(t, d)
	got, err := st.Search(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("shipped index:\n got %+v\nwant %+v", got, want)
	}

	if err := st.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := st.Upsert(ctx, 1, derived(t, d)...); err != nil || n != 34 {
		t.Fatalf("Upsert = %d, %v; want 34 (admin_reindex_returns)", n, err)
	}
	got, err = st.Search(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rebuilt index:\n got %+v\nwant %+v", got, want)
	}
}

// A Go-written index stores the same column text as 0.1.5 (lists and embeddings as Python's
// json.dumps), so a 0.1.5 reader and a byte comparison agree; only content_oid of perspective
// rows differs (D-2) and rowids follow write order.
func TestStore_WrittenTextMatchesShipped(t *testing.T) {
	shipped, d := openShipped(t)
	fresh := openFresh(t)
	ctx := context.Background()
	if _, err := fresh.Upsert(ctx, 1, derived(t, d)...); err != nil {
		t.Fatal(err)
	}
	const cols = `ref, path, is_canon, authoring_instance, type, title, status, tags, refs,
		supersedes, region_labels, links, quote(salience), recipients, subject, vantage,
		canon_state, instance_depth, tick, thread, body_text, embedding, model_id,
		CASE WHEN is_canon = 1 THEN content_oid END`
	dump := func(s *Store) map[string][]string {
		res, err := s.db.QueryContext(ctx, `SELECT `+cols+` FROM map_entries`)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Close()
		out := map[string][]string{}
		for res.Next() {
			vals := make([]any, 24)
			ptrs := make([]any, 24)
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := res.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			strs := make([]string, 24)
			for i, v := range vals {
				b, _ := json.Marshal(v)
				strs[i] = string(b)
			}
			out[strs[0]+" "+strs[1]] = strs
		}
		return out
	}
	want, got := dump(shipped), dump(fresh)
	if len(got) != 34 || !reflect.DeepEqual(got, want) {
		for k, w := range want {
			if !slices.Equal(got[k], w) {
				t.Errorf("%s:\n got %q\nwant %q", k, got[k], w)
			}
		}
	}
}

func row(ref, path, typ, status, body string) rows.Row {
	r, err := rows.Derive(rows.Source{CanonRef: "refs/heads/main", Ref: ref, Path: path,
		Text: "---\ntype: " + typ + "\ntitle: " + path + "\nstatus: " + status + "\n---\n\n" + body})
	if err != nil {
		panic(err)
	}
	if r.IsCanon {
		r.AuthoringInstance = "practitioner"
	}
	r.Embedding, r.ModelID = embed.StubVector(r.EmbedText()), embed.StubModelID
	return r
}

const (
	canon = "refs/heads/main"
	recto = "refs/cap/perspectives/Recto"
	verso = "refs/cap/perspectives/Verso"
)

func seed(t *testing.T) *Store {
	t.Helper()
	st := openFresh(t)
	_, err := st.Upsert(context.Background(), 1,
		row(canon, "a.md", "kno", "active", "weft warp"),
		row(recto, "b.md", "kno", "superseded", "weft"),
		row(recto, "c.md", "msg", "active", "weft"),
		row(verso, "d.md", "vap", "active", "weft"),
		row(verso, "e.md", "arg", "active", "weft warp loom"),
		row(verso, "f.md", "kno", "draft", "weft"),
	)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func paths(r Result) []string {
	var out []string
	for _, h := range r.Results {
		out = append(out, h.Path)
	}
	return out
}

// S-10, S-12, S-14, D-16, INV-10: candidate filters, limit and floor.
func TestStore_SearchFilters(t *testing.T) {
	st := seed(t)
	vec := embed.StubVector("weft")
	tests := []struct {
		name      string
		give      Query
		wantPaths []string
		wantBelow int
	}{
		{"live only, msg and vap excluded", Query{Limit: 10}, []string{"a.md", "e.md"}, 0},
		{"include superseded and other statuses", Query{Limit: 10, IncludeSuperseded: true}, []string{"b.md", "f.md", "a.md", "e.md"}, 0},
		{"type filter", Query{Limit: 10, Type: "arg"}, []string{"e.md"}, 0},
		{"type filter never reaches msg", Query{Limit: 10, Type: "msg"}, nil, 0},
		{"scope canon", Query{Limit: 10, Scope: ScopeCanon}, []string{"a.md"}, 0},
		{"scope mine", Query{Limit: 10, Scope: ScopeMine, InstanceID: "Verso"}, []string{"e.md"}, 0},
		{"unknown scope is all", Query{Limit: 10, Scope: "elsewhere"}, []string{"a.md", "e.md"}, 0},
		{"limit", Query{Limit: 1}, []string{"a.md"}, 0},
		{"limit zero", Query{Limit: 0}, nil, 0},
		{"limit negative", Query{Limit: -1}, nil, 0},
		{"floor withholds", Query{Limit: 10, Floor: 0.48}, []string{"a.md"}, 1},
		{"include weak", Query{Limit: 10, Floor: 0.48, IncludeWeak: true}, []string{"a.md", "e.md"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.give.Vector = vec
			got, err := st.Search(context.Background(), tt.give)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(paths(got), tt.wantPaths) || got.BelowFloor != tt.wantBelow {
				t.Errorf("got %v below %d, want %v below %d", paths(got), got.BelowFloor, tt.wantPaths, tt.wantBelow)
			}
		})
	}
}

// S-6, S-32: the version guard keeps redelivered and older events from rewriting a row or
// moving it in ins_seq order; a newer version replaces it and makes it the newest.
func TestStore_UpsertVersionGuard(t *testing.T) {
	st := openFresh(t)
	ctx := context.Background()
	a, b := row(recto, "a.md", "kno", "active", "one"), row(recto, "b.md", "kno", "active", "two")
	if n, err := st.Upsert(ctx, 5, a, b); err != nil || n != 2 {
		t.Fatalf("Upsert = %d, %v", n, err)
	}
	older := row(recto, "a.md", "kno", "superseded", "one")
	for _, v := range []int64{5, 4} {
		if n, err := st.Upsert(ctx, v, older); err != nil || n != 0 {
			t.Fatalf("Upsert(v%d) = %d, %v; want 0", v, n, err)
		}
	}
	list, _ := st.ListByRef(ctx, recto)
	if list[0].Path != "a.md" || list[0].Status != "active" {
		t.Fatalf("older event changed the row: %+v", list[0])
	}
	if n, err := st.Upsert(ctx, 6, older); err != nil || n != 1 {
		t.Fatalf("Upsert(v6) = %d, %v", n, err)
	}
	list, _ = st.ListByRef(ctx, recto)
	if len(list) != 2 || list[1].Path != "a.md" || list[1].Status != "superseded" || list[1].InsSeq <= list[0].InsSeq {
		t.Fatalf("newer event: %+v", list)
	}
	if _, err := st.Upsert(ctx, 0, a); err == nil {
		t.Error("version 0 accepted")
	}
}

// S-53 and delete-by-ref; the FTS table follows every write.
func TestStore_EnvelopesDeleteKeyword(t *testing.T) {
	st := seed(t)
	ctx := context.Background()
	tick := row(recto, "g.md", "log", "active", "loom")
	tick.Tick, tick.Thread = "1a", "wave"
	if _, err := st.Upsert(ctx, 2, tick); err != nil {
		t.Fatal(err)
	}
	env, err := st.EnvelopesFor(ctx, recto)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Envelope{
		"b.md": {Title: "b.md", Status: "superseded", Type: "kno"},
		"c.md": {Title: "c.md", Status: "active", Type: "msg"},
		"g.md": {Title: "g.md", Status: "active", Type: "log", Tick: "1a", Thread: "wave"},
	}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("EnvelopesFor = %+v", env)
	}
	kw, err := st.KeywordSearch(ctx, "LOOM!", Query{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(paths(kw), []string{"g.md", "e.md"}) && !slices.Equal(paths(kw), []string{"e.md", "g.md"}) {
		t.Errorf("KeywordSearch = %v", paths(kw))
	}
	if n, err := st.DeleteRef(ctx, recto); err != nil || n != 3 {
		t.Fatalf("DeleteRef = %d, %v", n, err)
	}
	kw, _ = st.KeywordSearch(ctx, "loom", Query{Limit: 10})
	if !slices.Equal(paths(kw), []string{"e.md"}) {
		t.Errorf("KeywordSearch after delete = %v", paths(kw))
	}
	if env, _ := st.EnvelopesFor(ctx, recto); len(env) != 0 {
		t.Errorf("rows left: %v", env)
	}
}
