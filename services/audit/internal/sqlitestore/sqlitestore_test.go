package sqlitestore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stasima/stasima/services/audit/internal/chain"
	"github.com/stasima/stasima/services/audit/internal/sqlitestore"
	"github.com/stasima/stasima/services/audit/internal/storetest"
)

func open(t *testing.T) storetest.Backend {
	t.Helper()
	s, err := sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "audit.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return storetest.Backend{
		Store: s,
		Exec: func(ctx context.Context, q string) error {
			_, err := s.DB().ExecContext(ctx, q)
			return err
		},
	}
}

func TestStore_Contract(t *testing.T) { storetest.Run(t, open) }

func TestStore_Tree(t *testing.T) { storetest.RunTree(t, open) }

// U-1, U-2: a fresh file has 0.1.5's table (plus the Go-only columns SQLite appends on ALTER)
// and 0.1.5's two indexes, byte for byte.
func TestStore_Schema(t *testing.T) {
	v := storetest.LoadVectors(t)
	b := open(t)
	db := b.Store.(*sqlitestore.Store).DB()
	var table string
	if err := db.QueryRow(`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'audit_events'`).Scan(&table); err != nil {
		t.Fatal(err)
	}
	want := v.TableSQL[:len(v.TableSQL)-1] + ", intent_id TEXT, stream_seq INTEGER, intent_at TEXT)"
	if table != want {
		t.Errorf("table sql\n got %q\nwant %q", table, want)
	}
	for _, idx := range v.IndexSQL {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'index' AND sql = ?`, idx).Scan(&n); err != nil || n != 1 {
			t.Errorf("index %q: %d, %v", idx, n, err)
		}
	}
}

// A file written before audit_detail_keys existed (0.1.5's, or an older Go store's) gets the
// table and its keys at open, so its airlock rows are found by window and object.
func TestStore_OpenBackfillsDetailKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.sqlite")
	s, err := sqlitestore.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	storetest.SeedAirlock(t, s)
	if _, err := s.DB().ExecContext(t.Context(), `DROP TABLE audit_detail_keys`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlitestore.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	storetest.WantAirlockKeys(t, s)
}

func BenchmarkAppend(b *testing.B) {
	storetest.BenchAppend(b, func(b *testing.B) chain.Store {
		s, err := sqlitestore.Open(b.Context(), filepath.Join(b.TempDir(), "audit.sqlite"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	})
}

// BenchmarkLedger: the airlock's reads at 100k reject rows (make bench).
func BenchmarkLedger(b *testing.B) {
	s, err := sqlitestore.Open(b.Context(), filepath.Join(b.TempDir(), "audit.sqlite"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	storetest.BenchLedger(b, s, 100_000)
}
