package chain_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stasima/stasima/services/audit/internal/chain"
)

// sharedTestdata is /work/shared/testdata reached from this package's directory
// (services/audit/internal/chain), so it resolves wherever the repository is cloned with
// shared/ beside it.
var sharedTestdata = filepath.Join("..", "..", "..", "..", "..", "shared", "testdata")

type vectorRow struct {
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
}

type vectors struct {
	Genesis      string   `json:"genesis"`
	HashedFields []string `json:"hashed_fields"`
	TableSQL     string   `json:"table_sql"`
	IndexSQL     []string `json:"index_sql"`
	Count        int      `json:"count"`
	Head         string   `json:"head"`
	Verify       struct {
		OK          bool   `json:"ok"`
		FirstBadSeq *int64 `json:"first_bad_seq"`
	} `json:"verify"`
	HeadAt map[string]string `json:"head_at"`
	Rows   []struct {
		Label     string    `json:"label"`
		Row       vectorRow `json:"row"`
		Canonical string    `json:"canonical"`
	} `json:"rows"`
}

func loadVectors(t testing.TB) (vectors, []chain.Event) {
	t.Helper()
	path := filepath.Join(sharedTestdata, "audit-vectors.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("audit vectors missing (shared/ must sit beside the repository): %v", err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	rows := make([]chain.Event, len(v.Rows))
	for i, r := range v.Rows {
		rows[i] = toEvent(r.Row)
	}
	return v, rows
}

func toEvent(r vectorRow) chain.Event {
	e := chain.Event{
		Seq: r.Seq, TS: r.TS, Actor: r.Actor, Op: r.Op, TargetRef: r.TargetRef,
		TargetPath: r.TargetPath, OpID: r.OpID, ResultOID: r.ResultOID, Outcome: r.Outcome,
		PrevHash: r.PrevHash, Hash: r.Hash,
	}
	if r.Detail != nil {
		e.Detail = json.RawMessage(*r.Detail)
	}
	return e
}

// U-7, U-8, U-9: every vector's canonical string byte for byte, and its hash.
func TestVectors_Canonical(t *testing.T) {
	v, rows := loadVectors(t)
	if v.Genesis != chain.Genesis {
		t.Fatalf("genesis = %q, want %q", chain.Genesis, v.Genesis)
	}
	for i, r := range v.Rows {
		t.Run(strconv.FormatInt(r.Row.Seq, 10)+" "+r.Label, func(t *testing.T) {
			got, err := chain.Canonical(&rows[i])
			if err != nil {
				t.Fatal(err)
			}
			if got != r.Canonical {
				t.Fatalf("canonical mismatch\n got %s\nwant %s", got, r.Canonical)
			}
			h, err := chain.Hash(rows[i].PrevHash, &rows[i])
			if err != nil {
				t.Fatal(err)
			}
			if h != r.Row.Hash {
				t.Errorf("hash = %s, want %s", h, r.Row.Hash)
			}
		})
	}
}

// U-10, U-11, U-12: chain links, head, verify and head_at over the vectors.
func TestVectors_Chain(t *testing.T) {
	v, rows := loadVectors(t)
	prev := v.Genesis
	for _, r := range rows {
		if r.PrevHash != prev {
			t.Fatalf("seq %d: prev_hash %s, want %s", r.Seq, r.PrevHash, prev)
		}
		prev = r.Hash
	}
	if len(rows) != v.Count {
		t.Errorf("rows = %d, count = %d", len(rows), v.Count)
	}
	if got := chain.Head(rows); got != v.Head {
		t.Errorf("head = %s, want %s", got, v.Head)
	}
	ok, bad := chain.Verify(rows)
	if ok != v.Verify.OK || v.Verify.FirstBadSeq != nil {
		t.Errorf("verify = (%v, %d), want (%v, %v)", ok, bad, v.Verify.OK, v.Verify.FirstBadSeq)
	}
	for k, want := range v.HeadAt {
		seq, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		got, err := chain.HeadAt(rows, seq)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("head_at(%d) = %s, want %s", seq, got, want)
		}
	}
	if got, _ := chain.HeadAt(rows, 0); got != chain.Genesis {
		t.Errorf("head_at(0) = %s, want genesis", got)
	}
}

// U-62: the stored detail text 0.1.5 wrote is the stored form of its own parse, so the Go
// writer reproduces it byte for byte.
func TestVectors_StoredDetail(t *testing.T) {
	_, rows := loadVectors(t)
	for _, r := range rows {
		v, err := r.DetailValue()
		if err != nil {
			t.Fatalf("seq %d: %v", r.Seq, err)
		}
		if got := string(v.AppendStored(nil)); got != string(r.Detail) {
			t.Errorf("seq %d stored form\n got %s\nwant %s", r.Seq, got, r.Detail)
		}
		in := chain.Intent{ID: "x", Actor: "a", Op: "o", Detail: r.Detail}
		e, err := chain.Seal(&in, r.Seq, r.TS.String, r.PrevHash)
		if err != nil {
			t.Fatalf("seq %d: seal: %v", r.Seq, err)
		}
		if string(e.Detail) != string(r.Detail) {
			t.Errorf("seq %d sealed detail\n got %s\nwant %s", r.Seq, e.Detail, r.Detail)
		}
	}
}

// U-10: tampering is localised to the first bad seq, and head_at propagates it (U-12).
func TestVerify_Tamper(t *testing.T) {
	v, base := loadVectors(t)
	clone := func() []chain.Event { return append([]chain.Event(nil), base...) }
	tests := []struct {
		name    string
		give    func([]chain.Event) []chain.Event
		wantBad int64
	}{
		{"actor edited", func(r []chain.Event) []chain.Event { r[9].Actor = chain.Str("mallory"); return r }, 10},
		{"null to empty", func(r []chain.Event) []chain.Event { r[0].TargetRef = chain.Str(""); return r }, 1},
		{"detail reordered keys still verify", func(r []chain.Event) []chain.Event {
			r[4].Detail = json.RawMessage(`{"canon_tip":"ffffffffffffffffffffffffffffffffffffffff","reason":"not reconciled with current canon"}`)
			return r
		}, 0},
		{"detail value edited", func(r []chain.Event) []chain.Event {
			r[13].Detail = json.RawMessage(`{"one": 1.0, "true": true, "zero": 0, "false": false}`)
			return r
		}, 14},
		{"detail unparsable", func(r []chain.Event) []chain.Event { r[20].Detail = json.RawMessage(`{`); return r }, 21},
		{"hash edited", func(r []chain.Event) []chain.Event { r[44].Hash = chain.Genesis; return r }, 45},
		{"row deleted", func(r []chain.Event) []chain.Event { return append(r[:29], r[30:]...) }, 31},
		{"last row deleted is invisible", func(r []chain.Event) []chain.Event { return r[:44] }, 0},
		{"pair swapped", func(r []chain.Event) []chain.Event {
			r[6], r[7] = r[7], r[6]
			r[6].Seq, r[7].Seq = 7, 8
			return r
		}, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := tt.give(clone())
			ok, bad := chain.Verify(rows)
			if ok != (tt.wantBad == 0) || bad != tt.wantBad {
				t.Fatalf("verify = (%v, %d), want bad seq %d", ok, bad, tt.wantBad)
			}
		})
	}

	rows := clone()
	rows[0].Actor = chain.Str("mallory")
	got, err := chain.HeadAt(rows, 45)
	if err != nil {
		t.Fatal(err)
	}
	if got == v.HeadAt["45"] {
		t.Error("head_at(45) unchanged by an edit of seq 1")
	}
	// Re-chaining every stored prev_hash and hash downstream hides the edit from Verify but
	// not from head_at compared with an anchor.
	for i := range rows {
		if i > 0 {
			rows[i].PrevHash = rows[i-1].Hash
		}
		rows[i].Hash, _ = chain.Hash(rows[i].PrevHash, &rows[i])
	}
	if ok, _ := chain.Verify(rows); !ok {
		t.Fatal("re-chained rows should verify")
	}
	if h, _ := chain.HeadAt(rows, 45); h != got {
		t.Errorf("head_at of re-chained log = %s, want %s", h, got)
	}
}
