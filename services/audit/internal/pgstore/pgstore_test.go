package pgstore_test

import (
	"context"
	"testing"

	"github.com/stasima/stasima/services/audit/internal/chain"
	"github.com/stasima/stasima/services/audit/internal/pgstore"
	"github.com/stasima/stasima/services/audit/internal/storetest"
)

func open(t *testing.T) storetest.Backend {
	t.Helper()
	cfg := storetest.PostgresConfig(t)
	s, err := pgstore.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return storetest.Backend{
		Store: s,
		Exec: func(ctx context.Context, q string) error {
			_, err := s.Pool().Exec(ctx, q)
			return err
		},
	}
}

func TestStore_Contract(t *testing.T) { storetest.Run(t, open) }

func TestStore_Tree(t *testing.T) { storetest.RunTree(t, open) }

// Migrations apply once; a second start is a no-op.
func TestStore_MigrateTwice(t *testing.T) {
	b := open(t)
	s := b.Store.(*pgstore.Store)
	storetest.Seed(t, s, 2)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.Pool().QueryRow(t.Context(), `SELECT count(*) FROM audit_schema_migrations`).Scan(&n); err != nil || n != 2 {
		t.Errorf("migrations recorded = %d, %v", n, err)
	}
	storetest.WantVerify(t, s, 0)
}

// A log migrated before audit_detail_keys existed is found by its detail keys once the
// migration that adds the table has run.
func TestStore_MigrateBackfillsDetailKeys(t *testing.T) {
	b := open(t)
	s := b.Store.(*pgstore.Store)
	storetest.SeedAirlock(t, s)
	for _, q := range []string{`DROP TABLE audit_detail_keys`, `DELETE FROM audit_schema_migrations WHERE version = 2`} {
		if err := b.Exec(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	storetest.WantAirlockKeys(t, s)
}

func BenchmarkAppend(b *testing.B) {
	storetest.BenchAppend(b, func(b *testing.B) chain.Store {
		s, err := pgstore.Open(b.Context(), storetest.PostgresConfig(b))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	})
}

// BenchmarkLedger: the airlock's reads at 100k reject rows (make bench).
func BenchmarkLedger(b *testing.B) {
	s, err := pgstore.Open(b.Context(), storetest.PostgresConfig(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	storetest.BenchLedger(b, s, 100_000)
}
