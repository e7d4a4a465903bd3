// Package storetest is the contract suite every chain.Store implementation passes (Run), and
// the fixtures it needs: the shared 0.1.5 test data and a per-test Postgres schema.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/services/audit/internal/chain"
)

// Backend is one store under test plus raw access to its database, which the suite uses to
// tamper behind the store's back.
type Backend struct {
	Store chain.Store
	// Exec runs one SQL statement (no parameters) directly against the store's database.
	Exec func(ctx context.Context, sql string) error
}

// TestdataDir is shared/testdata reached from any services/audit/internal/<pkg> directory
// (the working directory of its tests), so it resolves wherever the repository is cloned
// with shared/ beside it.
var TestdataDir = filepath.Join("..", "..", "..", "..", "..", "shared", "testdata")

// Vector is one row of audit-vectors.json.
type Vector struct {
	Label     string
	Row       chain.Event
	Canonical string
}

// Vectors are the contents of audit-vectors.json that the store tests use.
type Vectors struct {
	TableSQL string
	IndexSQL []string
	Head     string
	Rows     []Vector
}

// LoadVectors reads shared/testdata/audit-vectors.json, failing t when it is missing.
func LoadVectors(t testing.TB) Vectors {
	t.Helper()
	path := filepath.Join(TestdataDir, "audit-vectors.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("audit vectors missing (shared/ must sit beside the repository): %v", err)
	}
	var raw struct {
		TableSQL string   `json:"table_sql"`
		IndexSQL []string `json:"index_sql"`
		Head     string   `json:"head"`
		Rows     []struct {
			Label string `json:"label"`
			Row   struct {
				Seq        int64      `json:"seq"`
				TS         chain.Text `json:"ts"`
				Actor      chain.Text `json:"actor"`
				Op         chain.Text `json:"op"`
				TargetRef  chain.Text `json:"target_ref"`
				TargetPath chain.Text `json:"target_path"`
				OpID       chain.Text `json:"op_id"`
				ResultOID  chain.Text `json:"result_oid"`
				Outcome    chain.Text `json:"outcome"`
				Detail     *string    `json:"detail"`
				PrevHash   string     `json:"prev_hash"`
				Hash       string     `json:"hash"`
			} `json:"row"`
			Canonical string `json:"canonical"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	v := Vectors{TableSQL: raw.TableSQL, IndexSQL: raw.IndexSQL, Head: raw.Head}
	for _, r := range raw.Rows {
		x := r.Row
		e := chain.Event{Seq: x.Seq, TS: x.TS, Actor: x.Actor, Op: x.Op, TargetRef: x.TargetRef,
			TargetPath: x.TargetPath, OpID: x.OpID, ResultOID: x.ResultOID, Outcome: x.Outcome,
			PrevHash: x.PrevHash, Hash: x.Hash}
		if x.Detail != nil && *x.Detail != "" {
			e.Detail = json.RawMessage(*x.Detail)
		}
		v.Rows = append(v.Rows, Vector{Label: r.Label, Row: e, Canonical: r.Canonical})
	}
	return v
}

// Events returns the vector rows.
func (v Vectors) Events() []chain.Event {
	out := make([]chain.Event, len(v.Rows))
	for i, r := range v.Rows {
		out[i] = r.Row
	}
	return out
}

// PostgresConfig returns a pool config for a fresh schema of its own, dropped at cleanup. The
// DSN comes from STASIMA_TEST_PG_DSN (default postgres://postgres@127.0.0.1:5432/test). When
// the server is unreachable the test is skipped, or fails when CI=true.
func PostgresConfig(t testing.TB) *pgxpool.Config {
	t.Helper()
	dsn := os.Getenv("STASIMA_TEST_PG_DSN")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("STASIMA_TEST_PG_DSN: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy())
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("postgres at %s unreachable (CI=true, so this fails): %v", cfg.ConnConfig.Host, err)
		}
		t.Skipf("postgres at %s unreachable; set STASIMA_TEST_PG_DSN to run: %v", cfg.ConnConfig.Host, err)
	}
	defer conn.Close(ctx)
	var suffix [8]byte
	rand.Read(suffix[:])
	schema := "audit_test_" + hex.EncodeToString(suffix[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy())
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	return cfg
}

func intent(id, actor, op string) chain.Intent {
	return chain.Intent{ID: id, Actor: actor, Op: op}
}

// Run runs the contract suite; open returns a new, empty backend for each subtest.
func Run(t *testing.T, open func(t *testing.T) Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b Backend)
	}{
		{"empty", testEmpty},
		{"append and verify", testAppendVerify},
		{"batch", testBatch},
		{"duplicate intents", testDuplicates},
		{"invalid intent writes nothing", testInvalid},
		{"concurrent appends", testConcurrent},
		{"tamper field", testTamperField},
		{"tamper detail text", testTamperDetail},
		{"delete row", testDelete},
		{"swap pair", testSwap},
		{"queries", testQueries},
		{"detail key queries and paging", testDetailQueries},
		{"import 0.1.5 vectors", testImportVectors},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

func ctx(t *testing.T) context.Context { return t.Context() }

func mustAppend(t *testing.T, s chain.Store, intents ...chain.Intent) []chain.Event {
	t.Helper()
	out, err := s.AppendBatch(ctx(t), intents)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	if len(out) != len(intents) {
		t.Fatalf("append returned %d rows for %d intents", len(out), len(intents))
	}
	return out
}

func all(t *testing.T, s chain.Store) []chain.Event {
	t.Helper()
	var out []chain.Event
	for e, err := range s.Range(ctx(t), chain.MinSeq, chain.MaxSeq) {
		if err != nil {
			t.Fatalf("range: %v", err)
		}
		out = append(out, e)
	}
	return out
}

func wantVerify(t *testing.T, s chain.Store, wantBad int64) {
	t.Helper()
	ok, bad, err := chain.VerifyStore(ctx(t), s)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if ok != (wantBad == 0) || bad != wantBad {
		t.Fatalf("verify = (%v, %d), want first bad seq %d", ok, bad, wantBad)
	}
}

func seed(t *testing.T, s chain.Store, n int) []chain.Event {
	t.Helper()
	intents := make([]chain.Intent, n)
	for i := range intents {
		intents[i] = intent("seed-"+strconv.Itoa(i+1), "Recto", "kip_commit")
		intents[i].TargetPath = chain.Str(fmt.Sprintf("practice/n-%d.md", i+1))
		intents[i].Detail = json.RawMessage(fmt.Sprintf(`{"i":%d,"f":%d.5,"s":"é😀"}`, i, i))
	}
	return mustAppend(t, s, intents...)
}

func testEmpty(t *testing.T, b Backend) {
	s := b.Store
	tail, err := s.Tail(ctx(t))
	if err != nil || tail != chain.GenesisTail {
		t.Errorf("tail = %+v, %v", tail, err)
	}
	if n, err := s.Count(ctx(t)); err != nil || n != 0 {
		t.Errorf("count = %d, %v", n, err)
	}
	wantVerify(t, s, 0)
	if h, err := chain.HeadAtStore(ctx(t), s, 10); err != nil || h != chain.Genesis {
		t.Errorf("head_at = %s, %v", h, err)
	}
	if _, ok, err := s.Latest(ctx(t), chain.Filter{}); ok || err != nil {
		t.Errorf("latest on empty = %v, %v", ok, err)
	}
	if out, err := s.AppendBatch(ctx(t), nil); err != nil || len(out) != 0 {
		t.Errorf("empty batch = %v, %v", out, err)
	}
}

// U-3, U-10, U-11, U-12, U-13.
func testAppendVerify(t *testing.T, b Backend) {
	s := b.Store
	in := []chain.Intent{
		intent("a-1", "Recto", "kip_commit"),
		{ID: "a-2", Actor: "Verso", Op: "propose", TargetRef: chain.Str(""), TargetPath: chain.Str("p.md"),
			OpID: chain.Str("op-1"), ResultOID: chain.Str("0123"), Outcome: "denied",
			Detail:  json.RawMessage(`{"z":[1,2.0,-0.0,1e16,18446744073709551616],"a":"\u2028\ud83d\ude00\u0000"}`),
			Session: "s0a1b2c", StreamSeq: 42, IntentAt: "2026-01-01T00:00:00Z"},
		{ID: "a-3", Actor: "system", Op: "airlock_revert", Outcome: "error:StaleRef", Detail: json.RawMessage(`[]`)},
	}
	var got []chain.Event
	for i := range in {
		got = append(got, mustAppend(t, s, in[i])...)
	}
	prev := chain.Genesis
	for i, e := range got {
		if e.Seq != int64(i+1) || e.PrevHash != prev || e.IntentID != in[i].ID {
			t.Fatalf("row %d = seq %d prev %s intent %q", i, e.Seq, e.PrevHash, e.IntentID)
		}
		if _, err := chain.ParseTS(e.TS.String); err != nil {
			t.Errorf("ts: %v", err)
		}
		prev = e.Hash
	}
	if want := `{"z": [1, 2.0, -0.0, 1e+16, 18446744073709551616], "a": "\u2028\ud83d\ude00\u0000", "session": "s0a1b2c"}`; string(got[1].Detail) != want {
		t.Errorf("stored detail = %s, want %s", got[1].Detail, want)
	}
	if string(got[2].Detail) != "{}" || got[2].TargetRef.Valid || !got[1].TargetRef.Valid {
		t.Errorf("row 3 = %+v", got[2])
	}
	stored := all(t, s)
	if !slices.EqualFunc(stored, got, equalEvent) {
		t.Fatalf("stored rows differ from appended rows:\n%+v\n%+v", stored, got)
	}
	tail, err := s.Tail(ctx(t))
	if err != nil || tail != (chain.Tail{Seq: 3, Hash: got[2].Hash}) {
		t.Errorf("tail = %+v, %v", tail, err)
	}
	if n, _ := s.Count(ctx(t)); n != 3 {
		t.Errorf("count = %d", n)
	}
	wantVerify(t, s, 0)
	if h, _ := chain.HeadAtStore(ctx(t), s, 3); h != got[2].Hash {
		t.Errorf("head_at(3) = %s, want %s", h, got[2].Hash)
	}
	if h, _ := chain.HeadAtStore(ctx(t), s, 1); h != got[0].Hash {
		t.Errorf("head_at(1) = %s, want %s", h, got[0].Hash)
	}
}

func equalEvent(a, b chain.Event) bool {
	return a.Seq == b.Seq && a.TS == b.TS && a.Actor == b.Actor && a.Op == b.Op &&
		a.TargetRef == b.TargetRef && a.TargetPath == b.TargetPath && a.OpID == b.OpID &&
		a.ResultOID == b.ResultOID && a.Outcome == b.Outcome && string(a.Detail) == string(b.Detail) &&
		a.PrevHash == b.PrevHash && a.Hash == b.Hash && a.IntentID == b.IntentID
}

func testBatch(t *testing.T, b Backend) {
	s := b.Store
	first := seed(t, s, 3)
	rows := seed2(t, s, 64)
	for i, e := range rows {
		if e.Seq != int64(4+i) {
			t.Fatalf("row %d seq %d", i, e.Seq)
		}
	}
	if rows[0].PrevHash != first[2].Hash {
		t.Error("batch does not chain onto the tail")
	}
	if n, _ := s.Count(ctx(t)); n != 67 {
		t.Errorf("count = %d", n)
	}
	wantVerify(t, s, 0)
	if got := all(t, s); !slices.EqualFunc(got, append(first, rows...), equalEvent) {
		t.Error("stored rows differ from appended rows")
	}
}

func seed2(t *testing.T, s chain.Store, n int) []chain.Event {
	intents := make([]chain.Intent, n)
	for i := range intents {
		intents[i] = intent("batch-"+strconv.Itoa(i), "Verso", "imp_send")
		intents[i].Detail = json.RawMessage(`{"recipients":["Recto"]}`)
	}
	return mustAppend(t, s, intents...)
}

// U-5: redelivery and duplicate publishes never make a second row.
func testDuplicates(t *testing.T, b Backend) {
	s := b.Store
	first := mustAppend(t, s, intent("d-1", "Recto", "kip_commit"), intent("d-2", "Recto", "propose"))
	again := mustAppend(t, s,
		intent("d-2", "Recto", "propose"),
		intent("d-3", "Recto", "imp_send"),
		intent("d-3", "Recto", "imp_send"),
		intent("d-1", "someone else", "anything"), // the id decides, not the content
	)
	if !equalEvent(again[0], first[1]) || !equalEvent(again[3], first[0]) {
		t.Error("duplicate did not return the existing row")
	}
	if again[1].Seq != 3 || !equalEvent(again[1], again[2]) {
		t.Errorf("in-batch duplicate: %+v / %+v", again[1], again[2])
	}
	if n, _ := s.Count(ctx(t)); n != 3 {
		t.Errorf("count = %d, want 3", n)
	}
	e, ok, err := s.ByIntent(ctx(t), "d-3")
	if err != nil || !ok || !equalEvent(e, again[1]) {
		t.Errorf("by intent = %+v, %v, %v", e, ok, err)
	}
	if _, ok, err := s.ByIntent(ctx(t), "missing"); ok || err != nil {
		t.Errorf("by intent missing = %v, %v", ok, err)
	}
	wantVerify(t, s, 0)
}

func testInvalid(t *testing.T, b Backend) {
	s := b.Store
	_, err := s.AppendBatch(ctx(t), []chain.Intent{
		intent("ok-1", "Recto", "kip_commit"),
		{ID: "bad", Actor: "Recto", Op: "kip_commit", Detail: json.RawMessage(`[1]`)},
	})
	if !errors.Is(err, chain.ErrInvalidIntent) || fault.ClassOf(err) != fault.ArgumentError {
		t.Fatalf("err = %v, want ErrInvalidIntent", err)
	}
	if n, _ := s.Count(ctx(t)); n != 0 {
		t.Errorf("count = %d after a rejected batch", n)
	}
}

// U-3: seq comes from the table; racing writers get contiguous seqs and one valid chain.
func testConcurrent(t *testing.T, b Backend) {
	s := b.Store
	const workers, batches = 12, 8
	var wg sync.WaitGroup
	errs := make(chan error, workers*batches)
	for w := range workers {
		wg.Go(func() {
			for i := range batches {
				n := 1 + (w/2+i)%6
				intents := make([]chain.Intent, n)
				for j := range intents {
					// Every id is published by two workers.
					intents[j] = intent(fmt.Sprintf("c-%d-%d-%d", w/2, i, j), "Recto", "kip_commit")
				}
				if _, err := s.AppendBatch(context.Background(), intents); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := 0
	for w := 0; w < workers; w += 2 {
		for i := range batches {
			want += 1 + (w/2+i)%6
		}
	}
	rows := all(t, s)
	if len(rows) != want {
		t.Fatalf("%d rows, want %d", len(rows), want)
	}
	for i, e := range rows {
		if e.Seq != int64(i+1) {
			t.Fatalf("row %d has seq %d", i, e.Seq)
		}
	}
	wantVerify(t, s, 0)
}

func testTamperField(t *testing.T, b Backend) {
	s := b.Store
	rows := seed(t, s, 8)
	if err := b.Exec(ctx(t), `UPDATE audit_events SET actor = 'mallory' WHERE seq = 5`); err != nil {
		t.Fatal(err)
	}
	wantVerify(t, s, 5)
	h, err := chain.HeadAtStore(ctx(t), s, 8)
	if err != nil || h == rows[7].Hash {
		t.Errorf("head_at(8) = %s, %v: tamper at 5 did not propagate", h, err)
	}
	if h, _ := chain.HeadAtStore(ctx(t), s, 4); h != rows[3].Hash {
		t.Errorf("head_at(4) = %s, want %s", h, rows[3].Hash)
	}
	// NULL and '' are different values (U-7).
	if err := b.Exec(ctx(t), `UPDATE audit_events SET actor = 'Recto', op_id = '' WHERE seq = 5`); err != nil {
		t.Fatal(err)
	}
	wantVerify(t, s, 5)
	if err := b.Exec(ctx(t), `UPDATE audit_events SET op_id = NULL WHERE seq = 5`); err != nil {
		t.Fatal(err)
	}
	wantVerify(t, s, 0)
}

// U-9, U-62: the hash covers the parsed detail, so re-spacing verifies and a changed number
// type does not.
func testTamperDetail(t *testing.T, b Backend) {
	s := b.Store
	seed(t, s, 4)
	if err := b.Exec(ctx(t), `UPDATE audit_events SET detail = '{ "s":"\u00e9\ud83d\ude00" ,"f":2.5,"i":2 }' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	wantVerify(t, s, 0)
	if err := b.Exec(ctx(t), `UPDATE audit_events SET detail = '{"s":"é😀","f":2.5,"i":2.0}' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	wantVerify(t, s, 3)
	if err := b.Exec(ctx(t), `UPDATE audit_events SET detail = 'not json' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	wantVerify(t, s, 3)
}

func testDelete(t *testing.T, b Backend) {
	s := b.Store
	rows := seed(t, s, 6)
	if err := b.Exec(ctx(t), `DELETE FROM audit_events WHERE seq = 6`); err != nil {
		t.Fatal(err)
	}
	// U-10: deleting the tail is invisible to verify; the anchor's head_at catches it.
	wantVerify(t, s, 0)
	if h, _ := chain.HeadAtStore(ctx(t), s, 6); h == rows[5].Hash {
		t.Error("head_at(6) still matches after deleting seq 6")
	}
	if err := b.Exec(ctx(t), `DELETE FROM audit_events WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	wantVerify(t, s, 4)
	if n, _ := s.Count(ctx(t)); n != 4 {
		t.Errorf("count = %d, want 4 (U-13: rows, not max seq)", n)
	}
}

func testSwap(t *testing.T, b Backend) {
	s := b.Store
	seed(t, s, 6)
	for _, q := range []string{
		`UPDATE audit_events SET seq = -1 WHERE seq = 3`,
		`UPDATE audit_events SET seq = 3 WHERE seq = 4`,
		`UPDATE audit_events SET seq = 4 WHERE seq = -1`,
	} {
		if err := b.Exec(ctx(t), q); err != nil {
			t.Fatal(err)
		}
	}
	wantVerify(t, s, 3)
}

// U-14, U-15, U-16.
func testQueries(t *testing.T, b Backend) {
	s := b.Store
	mk := func(id, actor, op, path string) chain.Intent {
		in := intent(id, actor, op)
		in.TargetPath = chain.OrNull(path)
		in.OpID = chain.OrNull(id)
		return in
	}
	rows := mustAppend(t, s,
		mk("q1", "Recto", "canon_pull", ""),
		mk("q2", "Verso", "read_receipt", "messages/m1.md"),
		mk("q3", "Recto", "canon_pull", ""),
		mk("q4", "Recto", "read_receipt", "messages/m2.md"),
		mk("q5", "Verso", "canon_pull", ""),
	)
	seqs := func(es []chain.Event) []int64 {
		var out []int64
		for _, e := range es {
			out = append(out, e.Seq)
		}
		return out
	}
	tests := []struct {
		name string
		give chain.Filter
		want []int64
	}{
		{"all", chain.Filter{}, []int64{1, 2, 3, 4, 5}},
		{"op", chain.Filter{Op: chain.Str("canon_pull")}, []int64{1, 3, 5}},
		{"op and actor", chain.Filter{Op: chain.Str("canon_pull"), Actor: chain.Str("Recto")}, []int64{1, 3}},
		{"op id", chain.Filter{OpID: chain.Str("q4")}, []int64{4}},
		{"target path", chain.Filter{TargetPath: chain.Str("messages/m1.md")}, []int64{2}},
		{"empty string matches no NULL", chain.Filter{TargetPath: chain.Str("")}, nil},
	}
	for _, tt := range tests {
		got, err := s.Events(ctx(t), tt.give)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(seqs(got), tt.want) {
			t.Errorf("%s: seqs %v, want %v", tt.name, seqs(got), tt.want)
		}
	}
	e, ok, err := s.Latest(ctx(t), chain.Filter{Op: chain.Str("canon_pull"), Actor: chain.Str("Recto")})
	if err != nil || !ok || !equalEvent(e, rows[2]) {
		t.Errorf("latest = %+v, %v, %v", e, ok, err)
	}
	if _, ok, _ := s.Latest(ctx(t), chain.Filter{Op: chain.Str("land_merge")}); ok {
		t.Error("latest found a land_merge")
	}
	for _, tt := range []struct {
		actor, path string
		want        bool
	}{{"Verso", "messages/m1.md", true}, {"Recto", "messages/m1.md", false}, {"Recto", "messages/m2.md", true}, {"Verso", "", false}} {
		if got, err := s.IsRead(ctx(t), tt.actor, tt.path); err != nil || got != tt.want {
			t.Errorf("is_read(%s, %s) = %v, %v", tt.actor, tt.path, got, err)
		}
	}
}

// The airlock's reads: rows by detail window, purpose and object, after a seq, limited, newest
// first; rows without the key, or whose detail does not parse, never match.
func testDetailQueries(t *testing.T, b Backend) {
	s := b.Store
	mk := func(id, op, detail string) chain.Intent {
		in := intent(id, "system", op)
		in.Detail = json.RawMessage(detail)
		return in
	}
	mustAppend(t, s,
		mk("d1", "totp_accept", `{"window":7,"purpose":"stage","object":"p1"}`),
		mk("d2", "totp_reject", `{"purpose":"land","object":"p1","reason":"invalid"}`),
		mk("d3", "totp_reject", `{"purpose":"stage","object":"p2","reason":"invalid"}`),
		mk("d4", "totp_reject", `{"purpose":"land","object":"p1","window":9,"reason":"replay"}`),
		mk("d5", "oauth_approve", `{"client_id":"c","channel":"totp","window":7.0}`),
		mk("d6", "totp_accept", `{"window":8,"purpose":"land","object":"p1"}`),
		mk("d7", "totp_reject", `{"purpose":"land","object":"p1","reason":"invalid"}`),
		mk("d8", "kip_commit", `{"window":"7","object":["p1"]}`),
	)
	// Import takes the same keys as an append, so a restored or migrated log is found too.
	imported := chain.Event{Seq: 100, Op: chain.Str("totp_reject"), Actor: chain.Str("system"),
		Detail: json.RawMessage(`{"purpose":"land","object":"p1","reason":"invalid"}`)}
	if err := s.Import(ctx(t), []chain.Event{imported}); err != nil {
		t.Fatal(err)
	}
	w7, w9 := int64(7), int64(9)
	tests := []struct {
		name string
		give chain.Filter
		want []int64
	}{
		{"window across ops", chain.Filter{Window: &w7}, []int64{1, 5}},
		{"window of one op, 7.0 is 7", chain.Filter{Op: chain.Str("oauth_approve"), Window: &w7}, []int64{5}},
		{"window nobody used", chain.Filter{Op: chain.Str("totp_accept"), Window: &w9}, nil},
		{"object and purpose", chain.Filter{Op: chain.Str("totp_reject"), Purpose: chain.Str("land"), Object: chain.Str("p1")}, []int64{2, 4, 7, 100}},
		{"after a staging", chain.Filter{Op: chain.Str("totp_reject"), Purpose: chain.Str("land"), Object: chain.Str("p1"), AfterSeq: 2}, []int64{4, 7, 100}},
		{"after and limited", chain.Filter{Op: chain.Str("totp_reject"), Object: chain.Str("p1"), AfterSeq: 2, Limit: 2}, []int64{4, 7}},
		{"before, newest first", chain.Filter{Op: chain.Str("totp_reject"), Object: chain.Str("p1"), BeforeSeq: 100, Desc: true}, []int64{7, 4, 2}},
		{"purpose alone", chain.Filter{Purpose: chain.Str("stage")}, []int64{1, 3}},
		{"a string window is no window", chain.Filter{Op: chain.Str("kip_commit"), Window: &w7}, nil},
		{"columns page without keys", chain.Filter{AfterSeq: 3, Limit: 3}, []int64{4, 5, 6}},
		{"newest first without keys", chain.Filter{Op: chain.Str("totp_accept"), Desc: true, Limit: 1}, []int64{6}},
	}
	for _, tt := range tests {
		got, err := s.Events(ctx(t), tt.give)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var seqs []int64
		for _, e := range got {
			seqs = append(seqs, e.Seq)
		}
		if !slices.Equal(seqs, tt.want) {
			t.Errorf("%s: seqs %v, want %v", tt.name, seqs, tt.want)
		}
	}
	e, ok, err := s.Latest(ctx(t), chain.Filter{Op: chain.Str("totp_accept"), Object: chain.Str("p1"), Purpose: chain.Str("stage")})
	if err != nil || !ok || e.Seq != 1 || e.IntentID != "d1" {
		t.Errorf("latest stage accept of p1 = seq %d %q, %v, %v; want seq 1 d1", e.Seq, e.IntentID, ok, err)
	}
	if _, ok, err := s.Latest(ctx(t), chain.Filter{Op: chain.Str("totp_accept"), Object: chain.Str("p2")}); ok || err != nil {
		t.Errorf("latest accept of p2 found one (%v)", err)
	}
}

// A 0.1.5 log imported verbatim keeps every byte (NULL vs ”, detail text) and verifies; the
// Go writer continues its chain.
func testImportVectors(t *testing.T, b Backend) {
	s := b.Store
	v := LoadVectors(t)
	if err := s.Import(ctx(t), v.Events()); err != nil {
		t.Fatal(err)
	}
	stored := all(t, s)
	if !slices.EqualFunc(stored, v.Events(), equalEvent) {
		t.Fatal("imported rows changed")
	}
	for i := range stored {
		c, err := chain.Canonical(&stored[i])
		if err != nil || c != v.Rows[i].Canonical {
			t.Fatalf("seq %d canonical after storage:\n%s\n%s (%v)", stored[i].Seq, c, v.Rows[i].Canonical, err)
		}
	}
	wantVerify(t, s, 0)
	if tail, _ := s.Tail(ctx(t)); tail.Hash != v.Head {
		t.Errorf("head = %s, want %s", tail.Hash, v.Head)
	}
	next := mustAppend(t, s, intent("after-import", "Recto", "kip_commit"))
	if next[0].Seq != int64(len(v.Rows)+1) || next[0].PrevHash != v.Head {
		t.Errorf("append after import: seq %d prev %s", next[0].Seq, next[0].PrevHash)
	}
	wantVerify(t, s, 0)
	err := s.Import(ctx(t), v.Events()[:1])
	if !errors.Is(err, chain.ErrRowExists) {
		t.Errorf("re-import err = %v, want ErrRowExists", err)
	}
	err = s.Import(ctx(t), []chain.Event{{Seq: 1000, IntentID: "after-import"}})
	if !errors.Is(err, chain.ErrRowExists) {
		t.Errorf("import of a known intent err = %v, want ErrRowExists", err)
	}
}

// Copy moves every row of from into to with Import, for cross-backend checks.
func Copy(t *testing.T, from, to chain.Store, after int64) {
	t.Helper()
	var rows []chain.Event
	for e, err := range from.Range(ctx(t), after+1, chain.MaxSeq) {
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, e)
	}
	if err := to.Import(ctx(t), rows); err != nil {
		t.Fatal(err)
	}
}

// WantVerify fails t unless VerifyStore reports wantBad (0: intact).
func WantVerify(t *testing.T, s chain.Store, wantBad int64) {
	t.Helper()
	wantVerify(t, s, wantBad)
}

// Seed appends n intents with varied details and returns their rows.
func Seed(t *testing.T, s chain.Store, n int) []chain.Event {
	t.Helper()
	return seed(t, s, n)
}

// SeedAirlock appends two airlock rows with detail keys (for migration tests).
func SeedAirlock(t *testing.T, s chain.Store) {
	t.Helper()
	a := intent("k1", "practitioner", "totp_accept")
	a.Detail = json.RawMessage(`{"window":42,"purpose":"stage","object":"p1"}`)
	r := intent("k2", "system", "totp_reject")
	r.Detail = json.RawMessage(`{"purpose":"land","object":"p1","reason":"invalid"}`)
	mustAppend(t, s, a, r)
}

// WantAirlockKeys fails t unless the rows of SeedAirlock are found by their detail keys.
func WantAirlockKeys(t *testing.T, s chain.Store) {
	t.Helper()
	w := int64(42)
	for _, f := range []chain.Filter{{Window: &w}, {Op: chain.Str("totp_reject"), Object: chain.Str("p1"), Purpose: chain.Str("land")}} {
		got, err := s.Events(ctx(t), f)
		if err != nil || len(got) != 1 {
			t.Errorf("events %+v = %d rows, %v; want 1", f, len(got), err)
		}
	}
}
