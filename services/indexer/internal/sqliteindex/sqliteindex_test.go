package sqliteindex

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/indexer/internal/embed"
	"github.com/stasima/stasima/services/indexer/internal/fixture"
	"github.com/stasima/stasima/services/indexer/internal/ranking"
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
	Result schema.SearchResult `json:"result"`
}

func fixtureSearch(t *testing.T, d fixture.Deployment) (ranking.Query, schema.SearchResult) {
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
	return ranking.Query{Vector: embed.StubVector(read.Args.Query), InstanceID: read.Args.InstanceID,
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

// S-81: a shipped 0.1.5 index gains the Go-only keyword table on open, so hybrid search finds
// its rows by keyword at once.
func TestStore_ShippedIndexKeywordSearch(t *testing.T) {
	st, _ := openShipped(t)
	res, err := st.Search(context.Background(), ranking.Query{Mode: ranking.ModeHybrid, Text: "weft",
		Vector: embed.StubVector("weft"), Limit: 50, IncludeSuperseded: true})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, h := range res.Results {
		if slices.Contains(h.Matched, ranking.MatchedKeyword) {
			n++
		}
	}
	if n == 0 {
		t.Errorf("no keyword hits for weft in the shipped index: %+v", res)
	}
}
