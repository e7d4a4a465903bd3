package storetest

import (
	"context"
	"path/filepath"
	"testing"

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
