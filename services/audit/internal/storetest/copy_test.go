package storetest_test

import (
	"path/filepath"
	"testing"

	"github.com/stasima/stasima/services/audit/internal/chain"
	"github.com/stasima/stasima/services/audit/internal/pgstore"
	"github.com/stasima/stasima/services/audit/internal/sqlitestore"
	"github.com/stasima/stasima/services/audit/internal/storetest"
)

// Rows copied verbatim between the backends verify in both, and each backend continues the
// other's chain (U-1: one logical schema).
func TestCopyAcrossBackends(t *testing.T) {
	lite, err := sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "audit.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	pg, err := pgstore.Open(t.Context(), storetest.PostgresConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()

	rows := storetest.Seed(t, lite, 5)
	storetest.Copy(t, lite, pg, 0)
	storetest.WantVerify(t, pg, 0)

	more, err := pg.AppendBatch(t.Context(), []chain.Intent{
		{ID: "pg-1", Actor: "Verso", Op: "imp_send", TargetPath: chain.Str("messages/x.md"), Session: "s4682d0"},
		{ID: "pg-2", Actor: "system", Op: "airlock_revert", Outcome: "ok"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if more[0].PrevHash != rows[4].Hash {
		t.Fatal("postgres did not continue the copied chain")
	}
	storetest.Copy(t, pg, lite, 5)
	for _, s := range []chain.Store{lite, pg} {
		storetest.WantVerify(t, s, 0)
		tail, err := s.Tail(t.Context())
		if err != nil || tail != (chain.Tail{Seq: 7, Hash: more[1].Hash}) {
			t.Errorf("tail = %+v, %v", tail, err)
		}
		e, ok, err := s.ByIntent(t.Context(), "pg-1")
		if err != nil || !ok || e.Seq != 6 || string(e.Detail) != `{"session": "s4682d0"}` {
			t.Errorf("by intent = %+v, %v, %v", e, ok, err)
		}
	}
}
