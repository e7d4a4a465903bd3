package indexer

import (
	"context"
	"fmt"
	"strings"

	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/indexer/internal/embed"
	"github.com/stasima/stasima/services/indexer/internal/pgindex"
	"github.com/stasima/stasima/services/indexer/internal/ranking"
	"github.com/stasima/stasima/services/indexer/internal/rows"
	"github.com/stasima/stasima/services/indexer/internal/sqliteindex"
)

// Store is the map index as the service uses it (S-80): SQLite (sqliteindex, one binary) or
// PostgreSQL (pgindex, compose), one contract (internal/storetest runs the same suite over
// both). Implementations are safe for concurrent use. Upsert is idempotent per version (S-32):
// a row already written by a version >= the given one is left untouched. Search only reads
// (S-16). Errors are fault errors; an unreachable database is BackendUnavailable.
type Store interface {
	// Upsert writes rows in order, each becoming the newest (S-6), and returns how many it wrote.
	Upsert(ctx context.Context, version int64, rs ...rows.Row) (int, error)
	// UpsertBatch writes consecutive events' writes in order in one transaction, each at its
	// version, with the effect of one Upsert per write.
	UpsertBatch(ctx context.Context, ws ...rows.Write) (int, error)
	// Reset empties the index (the first step of a full reindex, S-34).
	Reset(ctx context.Context) error
	// Count returns the number of rows.
	Count(ctx context.Context) (int64, error)
	// MaxVersion returns the highest version any row was written at (0 for an empty index).
	MaxVersion(ctx context.Context) (int64, error)
	// All returns every row, ins_seq ascending: reindex and tests only, never a query
	// (TestQueriesNeverReadAll).
	All(ctx context.Context) ([]rows.Row, error)
	// ListByRef returns the rows of ref, ins_seq ascending.
	ListByRef(ctx context.Context, ref string) ([]rows.Row, error)
	// EnvelopesFor is S-53.
	EnvelopesFor(ctx context.Context, ref string) (map[string]schema.EntryEnvelope, error)
	// EnvelopesUnder is EnvelopesFor kept to the path under and the paths below it ("" is every
	// path), through the (ref, path) key.
	EnvelopesUnder(ctx context.Context, ref, under string) (map[string]schema.EntryEnvelope, error)
	// Search is map_search (S-10…S-15; hybrid per ranking.Search).
	Search(ctx context.Context, q ranking.Query) (schema.SearchResult, error)
	// Lookups are the scry lookups' indexed selections (lookup.go).
	Lookups
	Close() error
}

var (
	_ Store = (*sqliteindex.Store)(nil)
	_ Store = (*pgindex.Store)(nil)
)

// postgresDSN reports whether dsn selects the PostgreSQL index (index_dsn).
func postgresDSN(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// openStore opens the configured index: PostgreSQL when IndexDSN is a postgres URL, else
// SQLite at DBPath.
func (c Config) openStore(ctx context.Context) (Store, string, error) {
	if postgresDSN(c.IndexDSN) {
		st, err := pgindex.Open(ctx, c.IndexDSN)
		return st, "postgres", err
	}
	st, err := sqliteindex.Open(ctx, c.DBPath)
	return st, c.DBPath, err
}

// Embedder backends (embed_backend).
const (
	EmbedStub        = "stub"
	EmbedLocalServer = "local-server"
)

// embedder builds the configured embedder (S-21, S-22).
func (c Config) embedder() (embed.Embedder, error) {
	switch c.EmbedBackend {
	case "", EmbedStub:
		return embed.Stub{}, nil
	case EmbedLocalServer:
		return embed.NewClient(embed.ClientConfig{URL: c.EmbedURL, Model: c.EmbedModel, Dim: c.EmbedDim,
			DocPrefix: c.EmbedDocPrefix, QueryPrefix: c.EmbedQueryPrefix})
	}
	return nil, fmt.Errorf("indexer: embed_backend %q is not stub or local-server", c.EmbedBackend)
}
