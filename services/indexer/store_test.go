package indexer

import (
	"context"
	"reflect"
	"testing"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/pgtest"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/indexer/internal/ranking"
)

// S-80, index_dsn: a postgres:// DSN puts the map index in PostgreSQL; a reindex there answers
// expected.json's map_search exactly as SQLite does, and hybrid mode (the default) keeps the
// same top hit with its sides named.
func TestService_PostgresIndex(t *testing.T) {
	dsn := pgtest.Schema(t)
	r := start(t, func(c *Config) { c.IndexDSN, c.DBPath = dsn, "" })
	var res schema.ReindexResult
	if err := r.client.Do(context.Background(), busclient.Command{Svc: bus.Index, Verb: schema.CmdIndexReindex, OpID: "pg-reindex"}, &res); err != nil {
		t.Fatal(err)
	}
	if res.Reindexed != 34 {
		t.Fatalf("reindexed %d, want 34", res.Reindexed)
	}
	diffRows(t, r.indexed(t), derived(t, r.d))
	req, want := fixtureSearch(t, r.d)
	var got schema.SearchResult
	r.query(t, schema.QIndexSearch, req, &got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("search:\n got %+v\nwant %+v", got, want)
	}
	r.svc.cfg.SearchMode = ranking.ModeHybrid
	var hy schema.SearchResult
	r.query(t, schema.QIndexSearch, req, &hy)
	if len(hy.Results) == 0 || hy.Results[0].Path != want.Results[0].Path || len(hy.Results[0].Matched) == 0 {
		t.Errorf("hybrid: %+v", hy)
	}
}

// Config selects the backend and checks search_mode and the embedder (O-config-11…13).
func TestConfig_Backends(t *testing.T) {
	ok := DefaultConfig()
	ok.DBPath = "x.sqlite"
	tests := []struct {
		name string
		give func(*Config)
		ok   bool
	}{
		{"defaults", func(*Config) {}, true},
		{"postgres needs no db path", func(c *Config) { c.DBPath, c.IndexDSN = "", "postgres://u@h/db" }, true},
		{"a non-postgres dsn still needs the db path", func(c *Config) { c.DBPath, c.IndexDSN = "", "mysql://u@h/db" }, false},
		{"embedding mode", func(c *Config) { c.SearchMode = ranking.ModeEmbedding }, true},
		{"unknown mode", func(c *Config) { c.SearchMode = "bm25" }, false},
		{"local server", func(c *Config) {
			c.EmbedBackend, c.EmbedURL, c.EmbedDim = EmbedLocalServer, "http://localhost:11434", 768
		}, true},
		{"local server without url", func(c *Config) { c.EmbedBackend, c.EmbedDim = EmbedLocalServer, 768 }, false},
		{"local server without dim", func(c *Config) { c.EmbedBackend, c.EmbedURL = EmbedLocalServer, "http://localhost:11434" }, false},
		{"unknown backend", func(c *Config) { c.EmbedBackend = "openai" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.give(&c)
			if err := c.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
