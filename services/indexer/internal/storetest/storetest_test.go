package storetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/stasima/stasima/pkg/pgtest"
	"github.com/stasima/stasima/services/indexer/internal/pgindex"
	"github.com/stasima/stasima/services/indexer/internal/sqliteindex"
)

// SQLite is a fresh map_index.sqlite in a temp dir.
func SQLite(t testing.TB) Opener {
	path := filepath.Join(t.TempDir(), "map_index.sqlite")
	return func(t testing.TB) Store {
		t.Helper()
		st, err := sqliteindex.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
}

// Postgres is a fresh schema of the machine's PostgreSQL (pgtest: fails under CI=true when
// unreachable).
func Postgres(t testing.TB) Opener {
	dsn := pgtest.Schema(t)
	return func(t testing.TB) Store {
		t.Helper()
		st, err := pgindex.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
}

// S-80: one contract, both backends.
func TestContract_SQLite(t *testing.T)   { Run(t, SQLite) }
func TestContract_Postgres(t *testing.T) { Run(t, Postgres) }

// S-80: an index made before map_term_df existed has its phrase counts filled once on open.
func TestPostgres_PhraseCountsFilledOnOpen(t *testing.T) {
	dsn := pgtest.Schema(t)
	ctx := context.Background()
	st, err := pgindex.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Upsert(ctx, 1, Row(RefOf("Recto"), "a.md", "kno", "active", "a", "loom weft", ""),
		Row(RefOf("Verso"), "b.md", "kno", "active", "b", "loom", "")); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DELETE FROM map_term_df; UPDATE map_meta SET term_df = false`); err != nil {
		t.Fatal(err)
	}
	again, err := pgindex.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	for _, tt := range []struct {
		give string
		want int
	}{{"loom", 2}, {"weft", 1}, {"warp", 0}} {
		if got, err := again.PhraseDF(ctx, []string{tt.give}, 100); err != nil || got != tt.want {
			t.Errorf("PhraseDF(%q) = %d, %v; want %d", tt.give, got, err, tt.want)
		}
	}
}
