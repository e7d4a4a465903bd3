package door

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stasima/stasima/pkg/pgtest"
)

// stores opens each backend of the door's store: a 0600 SQLite file and a Postgres schema.
var stores = map[string]func(t *testing.T) *Store{
	"sqlite": func(t *testing.T) *Store {
		path := filepath.Join(t.TempDir(), "auth.sqlite")
		s, err := OpenStore(context.Background(), "", path)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("auth store mode: %v %v (I-71 wants 0600)", st.Mode(), err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	},
	"postgres": func(t *testing.T) *Store {
		s, err := OpenStore(context.Background(), pgtest.Schema(t), "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	},
}

// TestStore runs one contract over both stores (I-71).
func TestStore(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			storeContract(t, open(t))
		})
	}
}

func storeContract(t *testing.T, s *Store) {
	ctx := context.Background()
	t0 := time.Unix(1_700_000_000, 0)

	t.Run("client cap evicts the oldest unreferenced (I-62)", func(t *testing.T) {
		for i, id := range []string{"c1", "c2", "c3"} {
			if err := s.AddClient(ctx, Client{ID: id, Name: "n-" + id}, t0.Add(time.Duration(i)*time.Second), 3); err != nil {
				t.Fatal(err)
			}
		}
		// c1 holds a token, so c2 is the oldest evictable.
		if err := s.PutPair(ctx, "a1", Token{Kind: KindAccess, ClientID: "c1", Expires: t0.Add(time.Hour)},
			"r1", Token{Kind: KindRefresh, ClientID: "c1", Expires: t0.Add(2 * time.Hour)}, t0, t0.Add(-TxnTTL)); err != nil {
			t.Fatal(err)
		}
		if err := s.AddClient(ctx, Client{ID: "c4"}, t0.Add(time.Minute), 3); err != nil {
			t.Fatal(err)
		}
		n, _ := s.CountClients(ctx)
		c1, _ := s.Client(ctx, "c1")
		c2, _ := s.Client(ctx, "c2")
		c4, _ := s.Client(ctx, "c4")
		if n != 3 || c1 == nil || c2 != nil || c4 == nil || c1.Display() != "n-c1" {
			t.Fatalf("after eviction: n=%d c1=%v c2=%v c4=%v", n, c1, c2, c4)
		}
	})

	t.Run("tokens are stored hashed and revoke as a pair (I-68, I-69)", func(t *testing.T) {
		var raw int
		if err := s.db.QueryRowContext(ctx, s.rebind(`SELECT COUNT(*) FROM tokens WHERE token = ? OR token = ?`), "a1", "r1").Scan(&raw); err != nil || raw != 0 {
			t.Fatalf("a raw token is stored: %d %v", raw, err)
		}
		at, err := s.Token(ctx, "a1")
		if err != nil || at == nil || at.Kind != KindAccess || at.ClientID != "c1" {
			t.Fatalf("access token: %+v %v", at, err)
		}
		if err := s.Revoke(ctx, "r1"); err != nil {
			t.Fatal(err)
		}
		if at, _ := s.Token(ctx, "a1"); at != nil {
			t.Fatal("the paired access token survived the refresh token's revocation")
		}
	})

	t.Run("txn attempts, burn, approve once, code single use (I-63…I-67)", func(t *testing.T) {
		tx := Txn{ID: "t1", ClientID: "c1", Created: t0, Params: Params{RedirectURI: "https://app.example/cb", Scopes: []string{}}}
		if err := s.PutTxn(ctx, tx, t0.Add(-TxnTTL)); err != nil {
			t.Fatal(err)
		}
		for want := 1; want <= BurnAt; want++ {
			n, live, err := s.Attempt(ctx, "t1", BurnAt)
			if err != nil || !live || n != want {
				t.Fatalf("attempt %d: %d %v %v", want, n, live, err)
			}
		}
		if n, live, err := s.Attempt(ctx, "t1", BurnAt); err != nil || !live || n != 0 {
			t.Fatalf("attempt past the cap: %d %v %v, want 0 and live", n, live, err)
		}
		if err := s.Refund(ctx, "t1"); err != nil {
			t.Fatal(err)
		}
		if n, _, _ := s.Attempt(ctx, "t1", BurnAt); n != BurnAt {
			t.Fatalf("attempt after a refund: %d, want %d", n, BurnAt)
		}
		if burned, err := s.Burn(ctx, "t1"); err != nil || !burned {
			t.Fatalf("burn: %v %v", burned, err)
		}
		if burned, _ := s.Burn(ctx, "t1"); burned {
			t.Fatal("a transaction burned twice")
		}
		if got, _ := s.Txn(ctx, "t1"); got != nil {
			t.Fatal("a burned transaction survived")
		}
		if _, live, _ := s.Attempt(ctx, "t1", BurnAt); live {
			t.Fatal("an attempt on a burned transaction")
		}
		tx.ID = "t2"
		if err := s.PutTxn(ctx, tx, t0.Add(-TxnTTL)); err != nil {
			t.Fatal(err)
		}
		code := Code{ClientID: "c1", Expires: t0.Add(CodeTTL)}
		r1, fresh, err := s.Approve(ctx, "t2", "https://app.example/cb?code=K1", "K1", code)
		if err != nil || !fresh || r1 != "https://app.example/cb?code=K1" {
			t.Fatalf("approve: %q %v %v", r1, fresh, err)
		}
		r2, fresh, err := s.Approve(ctx, "t2", "https://app.example/cb?code=K2", "K2", code)
		if err != nil || fresh || r2 != r1 {
			t.Fatalf("second approve: %q %v %v", r2, fresh, err)
		}
		if _, live, _ := s.Attempt(ctx, "t2", BurnAt); live {
			t.Fatal("an attempt counted on an approved transaction")
		}
		if burned, _ := s.Burn(ctx, "t2"); burned {
			t.Fatal("an approved transaction burned")
		}
		if c, _ := s.TakeCode(ctx, "K2"); c != nil {
			t.Fatal("the second approval stored a code")
		}
		if c, err := s.TakeCode(ctx, "K1"); err != nil || c == nil || c.ClientID != "c1" {
			t.Fatalf("take code: %+v %v", c, err)
		}
		if c, _ := s.TakeCode(ctx, "K1"); c != nil {
			t.Fatal("a code was used twice")
		}
	})

	t.Run("pending is unapproved and fresh, oldest first; gc (O-oauth-1, I-68)", func(t *testing.T) {
		for i, id := range []string{"p-old", "p-a", "p-b"} {
			created := t0.Add(time.Duration(i) * time.Second)
			if id == "p-old" {
				created = t0.Add(-time.Hour)
			}
			if err := s.PutTxn(ctx, Txn{ID: id, ClientID: "c1", Created: created}, created.Add(-time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		ps, err := s.Pending(ctx, t0.Add(-TxnTTL))
		if err != nil || len(ps) != 2 || ps[0].ID != "p-a" || ps[1].ID != "p-b" {
			t.Fatalf("pending: %+v %v", ps, err)
		}
		if err := s.PutPair(ctx, "a2", Token{Kind: KindAccess, ClientID: "c4", Expires: t0.Add(time.Hour)},
			"r2", Token{Kind: KindRefresh, ClientID: "c4", Expires: t0.Add(time.Hour)}, t0.Add(2*time.Hour), t0); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Txn(ctx, "p-old"); got != nil {
			t.Fatal("gc kept a stale transaction")
		}
		if got, _ := s.Txn(ctx, "t2"); got != nil {
			t.Fatal("gc kept an approved transaction")
		}
		if got, _ := s.Token(ctx, "a1"); got != nil {
			t.Fatal("gc kept an expired token")
		}
	})
}

// TestRedirectAllowed is the registration's redirect policy.
func TestRedirectAllowed(t *testing.T) {
	tests := []struct {
		give string
		ok   bool
	}{
		{"https://claude.ai/api/mcp/auth_callback", true},
		{"http://localhost:33418/callback", true},
		{"http://127.0.0.1/cb", true},
		{"cursor://anysphere.cursor-retrieval/oauth/callback", true},
		{"http://evil.example/cb", false},
		{"https://app.example/cb#frag", false},
		{"javascript:alert(1)", false},
		{"/relative", false},
		{"data:text/html,x", false},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			if err := redirectAllowed(tt.give); (err == nil) != tt.ok {
				t.Fatalf("redirectAllowed(%q) = %v, want ok=%v", tt.give, err, tt.ok)
			}
		})
	}
}

// TestStore_AddsFamily: a SQLite store from before reuse detection gains tokens.family on open
// and keeps its tokens.
func TestStore_AddsFamily(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "auth.sqlite")
	old, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE tokens (token TEXT PRIMARY KEY, kind TEXT NOT NULL, client_id TEXT NOT NULL, data TEXT NOT NULL, expires_at BIGINT NOT NULL, paired TEXT NOT NULL)`,
		`INSERT INTO tokens VALUES ('` + hash("a0") + `', 'access', 'c0', '{"kind":"access","client_id":"c0"}', 1, '')`,
	} {
		if _, err := old.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()
	for range 2 { // the second open finds the column there
		s, err := OpenStore(ctx, "", path)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := s.Token(ctx, "a0")
		s.Close()
		if err != nil || tok == nil || tok.ClientID != "c0" {
			t.Fatalf("the old token after the migration: %+v %v", tok, err)
		}
	}
}
