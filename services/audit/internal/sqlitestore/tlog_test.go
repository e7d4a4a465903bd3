package sqlitestore_test

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"

	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/pkg/tlog"
	"github.com/stasima/stasima/services/audit/internal/chain"
	"github.com/stasima/stasima/services/audit/internal/sqlitestore"
)

const origin = "stasima.test/audit"

func appendN(t testing.TB, s *sqlitestore.Store, from, n, batch int) {
	t.Helper()
	for i := 0; i < n; i += batch {
		var in []chain.Intent
		for j := i; j < min(i+batch, n); j++ {
			k := from + j
			in = append(in, chain.Intent{ID: fmt.Sprintf("i%d", k), Actor: fmt.Sprintf("seat-%d", k%5), Op: "kip_commit",
				TargetPath: chain.Str(fmt.Sprintf("practice/%d.md", k)), Outcome: "ok"})
		}
		if _, err := s.AppendBatch(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
}

// sign signs a checkpoint over s's whole tree.
func sign(t testing.TB, s chain.Tree, skey string) (tlog.Checkpoint, string) {
	t.Helper()
	ctx := context.Background()
	size, err := s.TreeSize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	root, err := chain.RootAt(ctx, s, size)
	if err != nil {
		t.Fatal(err)
	}
	c := tlog.Checkpoint{Origin: origin, Size: size, Hash: root}
	msg, err := tlog.Sign(c, skey)
	if err != nil {
		t.Fatal(err)
	}
	return c, string(msg)
}

func wire(e chain.Event) *schema.AuditRow {
	p := func(x chain.Text) *string {
		if !x.Valid {
			return nil
		}
		return &x.String
	}
	return &schema.AuditRow{Seq: e.Seq, TS: p(e.TS), Actor: p(e.Actor), Op: p(e.Op), TargetRef: p(e.TargetRef),
		TargetPath: p(e.TargetPath), OpID: p(e.OpID), ResultOID: p(e.ResultOID), Outcome: p(e.Outcome),
		Detail: e.Detail, PrevHash: e.PrevHash, Hash: e.Hash}
}

func rowHash(r schema.AuditRow) (string, error) {
	e := chain.Event{Seq: r.Seq, Detail: r.Detail, PrevHash: r.PrevHash}
	for _, f := range []struct {
		p *string
		t *chain.Text
	}{{r.TS, &e.TS}, {r.Actor, &e.Actor}, {r.Op, &e.Op}, {r.TargetRef, &e.TargetRef}, {r.TargetPath, &e.TargetPath},
		{r.OpID, &e.OpID}, {r.ResultOID, &e.ResultOID}, {r.Outcome, &e.Outcome}} {
		if f.p != nil {
			*f.t = chain.Str(*f.p)
		}
	}
	return chain.Hash(r.PrevHash, &e)
}

// Inclusion proofs for every row of a 10,000-row log verify against a signed checkpoint with
// only the public key; the same proof for a changed row fails. The rows are sealed and the
// tree built by the writer's own chain.Seal and chain.ExtendTree, in memory (the store's path
// is the tree contract's), so the test stays fast under -race.
func TestTlog_Inclusion10000(t *testing.T) {
	const n = 10000
	rows := make([]chain.Event, 0, n)
	prev := chain.Genesis
	for k := int64(1); k <= n; k++ {
		in := chain.Intent{ID: fmt.Sprintf("i%d", k), Actor: fmt.Sprintf("seat-%d", k%5), Op: "kip_commit",
			TargetPath: chain.Str(fmt.Sprintf("practice/%d.md", k)), Outcome: "ok"}
		e, err := chain.Seal(&in, k, "2026-12-06T22:00:00.000001+00:00", prev)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, e)
		prev = e.Hash
	}
	tree := buildTree(t, rows)
	skey, vkey, err := tlog.GenerateKey(crand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	c, note := sign(t, tree, skey)
	signed, _, err := tlog.Open([]byte(note), vkey)
	if err != nil || c.Size != n {
		t.Fatalf("checkpoint size %d: %v", c.Size, err)
	}
	for i, e := range rows {
		p, err := chain.InclusionProof(t.Context(), tree, uint64(e.Seq-1), c.Size)
		if err != nil {
			t.Fatal(err)
		}
		// Every proof against the signed root; every 97th also as the file verify-proof
		// reads (signature, row rehash), and changed.
		if err := proof.VerifyInclusion(tlog.Hasher, uint64(i), c.Size, tlog.LeafHash(e.Hash), p, signed.Hash); err != nil {
			t.Fatalf("seq %d: %v", e.Seq, err)
		}
		if i%97 == 0 {
			tp := schema.TlogProof{Kind: schema.TlogInclusion, Checkpoint: note, Row: wire(e), Proof: tlog.Encode(p)}
			if _, err := tlog.VerifyInclusion(tp, vkey, rowHash); err != nil {
				t.Fatalf("seq %d: %v", e.Seq, err)
			}
			tp.Row.Actor = schema.S("mallory")
			var me *tlog.MismatchError
			if _, err := tlog.VerifyInclusion(tp, vkey, rowHash); !errors.As(err, &me) || me.Size != uint64(e.Seq) {
				t.Fatalf("changed seq %d: %v", e.Seq, err)
			}
			// So does a proof of another row's hash at this position.
			tp.Row = wire(rows[(i+1)%n])
			tp.Row.Seq = e.Seq
			if _, err := tlog.VerifyInclusion(tp, vkey, nil); !errors.As(err, &me) {
				t.Fatalf("other row at seq %d: %v", e.Seq, err)
			}
		}
	}
}

// intruder rewrites the rows from seq k on as someone with the database, the git anchor and
// the log key would: each row's hash recomputed over its new prev_hash, the tree rebuilt from
// the rows (at the next open) — a log that verifies on its own.
func intruderRecompute(t *testing.T, s *sqlitestore.Store, k int64) {
	t.Helper()
	ctx := context.Background()
	prev := chain.Genesis
	var rows []chain.Event
	for e, err := range s.Range(ctx, chain.MinSeq, chain.MaxSeq) {
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, e)
	}
	for _, e := range rows {
		if e.Seq >= k {
			e.PrevHash = prev
			h, err := chain.Hash(prev, &e)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.DB().ExecContext(ctx, `UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?`, prev, h, e.Seq); err != nil {
				t.Fatal(err)
			}
			e.Hash = h
		}
		prev = e.Hash
	}
	if _, err := s.DB().ExecContext(ctx, `DELETE FROM merkle_nodes`); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// Tamper trials after checkpoints: change one row's field, delete a tail, insert a row, or
// rewrite the tail and recompute the chain, tree and signature as an intruder with full
// access would. A verifier holding the earlier signed checkpoints (one every 8 rows, as the
// land history keeps them) detects every trial from proofs alone and names the first
// differing size: the changed row's seq for a field edit (its inclusion proof fails), the
// first missing row for a deleted tail, and the smallest checkpoint size at or after the
// edit for a recomputed history (its consistency proof fails).
func TestTlog_TamperTrials(t *testing.T) {
	const n, every = 48, 8
	trials := 8 // two of each kind on real files; TestTlog_TamperTrialsInMemory runs 1,000
	if os.Getenv("TLOG_TRIALS") != "" {
		fmt.Sscan(os.Getenv("TLOG_TRIALS"), &trials)
	}
	dir := t.TempDir()
	template := filepath.Join(dir, "template.sqlite")
	s, err := sqlitestore.Open(t.Context(), template)
	if err != nil {
		t.Fatal(err)
	}
	skey, vkey, err := tlog.GenerateKey(crand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	var kept []tlog.Checkpoint
	for size := every; size <= n; size += every {
		appendN(t, s, size-every, every, every)
		c, note := sign(t, s, skey)
		if _, _, err := tlog.Open([]byte(note), vkey); err != nil {
			t.Fatal(err)
		}
		kept = append(kept, c)
	}
	if _, err := s.DB().ExecContext(t.Context(), `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	rng := rand.New(rand.NewPCG(17, 17))
	kinds := []string{"field", "delete_tail", "insert", "rewrite_tail"}
	for trial := range trials {
		kind := kinds[trial%len(kinds)]
		k := int64(1 + rng.IntN(n))
		path := filepath.Join(dir, fmt.Sprintf("t%d.sqlite", trial))
		copyFile(t, template, path)
		s, err := sqlitestore.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		db := s.DB()
		exec := func(q string, args ...any) {
			if _, err := db.ExecContext(t.Context(), q, args...); err != nil {
				t.Fatalf("trial %d %s: %v", trial, q, err)
			}
		}
		want := k
		switch kind {
		case "field":
			exec(`UPDATE audit_events SET actor = 'mallory' WHERE seq = ?`, k)
		case "delete_tail":
			exec(`DELETE FROM audit_events WHERE seq >= ?`, k)
			intruderRecompute(t, s, k)
		case "insert":
			exec(`UPDATE audit_events SET seq = -seq WHERE seq >= ?`, k)
			exec(`UPDATE audit_events SET seq = 1 - seq WHERE seq < 0`)
			exec(`INSERT INTO audit_events (seq, ts, actor, op, outcome, detail, prev_hash, hash)
				VALUES (?, '2026-01-01T00:00:00+00:00', 'mallory', 'kip_commit', 'ok', '{}', '', '')`, k)
			intruderRecompute(t, s, k)
		case "rewrite_tail":
			exec(`UPDATE audit_events SET actor = 'mallory' WHERE seq = ?`, k)
			intruderRecompute(t, s, k)
		}
		if kind != "field" {
			// The next open rebuilds the tree over the rewritten rows; the intruder re-signs.
			s.Close()
			if s, err = sqlitestore.Open(t.Context(), path); err != nil {
				t.Fatal(err)
			}
		}
		var rows []chain.Event
		for e, err := range s.Range(t.Context(), chain.MinSeq, chain.MaxSeq) {
			if err != nil {
				t.Fatal(err)
			}
			rows = append(rows, e)
		}
		got, err := detect(t, s, rows, skey, vkey, kept)
		s.Close()
		os.Remove(path)
		if err != nil {
			t.Fatal(err)
		}
		if kind == "insert" || kind == "rewrite_tail" {
			want = (k + every - 1) / every * every // the first kept checkpoint at or after k
		}
		if got != uint64(want) {
			t.Fatalf("trial %d %s at seq %d: detected at size %d, want %d", trial, kind, k, got, want)
		}
	}
}

// detect is the verifier: it takes the log's newest checkpoint (signed with the log key,
// which the intruder holds too), checks it against every kept checkpoint by consistency
// proof, then every row's inclusion proof with the row rehashed, and returns the first
// differing size, or 0 when nothing differs.
func detect(t *testing.T, tree chain.Tree, rows []chain.Event, skey, vkey string, kept []tlog.Checkpoint) (uint64, error) {
	ctx := context.Background()
	cur, note := sign(t, tree, skey)
	if _, _, err := tlog.Open([]byte(note), vkey); err != nil {
		return 0, err
	}
	for _, old := range kept {
		var p [][]byte
		if old.Size <= cur.Size {
			var err error
			if p, err = chain.ConsistencyProof(ctx, tree, old.Size, cur.Size); err != nil {
				return 0, err
			}
		}
		var me *tlog.MismatchError
		if err := tlog.Consistent(old, cur, tlog.Encode(p)); errors.As(err, &me) {
			return me.Size, nil
		} else if err != nil {
			return 0, err
		}
	}
	for _, e := range rows {
		p, err := chain.InclusionProof(ctx, tree, uint64(e.Seq-1), cur.Size)
		if err != nil {
			return 0, err
		}
		tp := schema.TlogProof{Kind: schema.TlogInclusion, Checkpoint: note, Row: wire(e), Proof: tlog.Encode(p)}
		var me *tlog.MismatchError
		if _, err := tlog.VerifyInclusion(tp, vkey, rowHash); errors.As(err, &me) {
			return me.Size, nil
		} else if err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// memTree is a chain.Tree and chain.TreeTx over a map: the stored tree's nodes read once, or a
// tree chain.ExtendTree builds in memory for the many-trial tamper test.
type memTree map[compact.NodeID][]byte

func (m memTree) TreeSize(context.Context) (uint64, error) {
	var n uint64
	for id := range m {
		if id.Level == 0 && id.Index+1 > n {
			n = id.Index + 1
		}
	}
	return n, nil
}

func (m memTree) TreeNodes(_ context.Context, ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h, ok := m[id]
		if !ok {
			return nil, fmt.Errorf("node %v: %w", id, chain.ErrTreeGap)
		}
		out[i] = h
	}
	return out, nil
}

func (m memTree) Node(_ context.Context, id compact.NodeID) ([]byte, error) {
	h, ok := m[id]
	if !ok {
		return nil, chain.ErrTreeGap
	}
	return h, nil
}

func (m memTree) Put(_ context.Context, nodes []chain.TreeNode) error {
	for _, n := range nodes {
		m[n.ID] = n.Hash
	}
	return nil
}

func buildTree(t *testing.T, rows []chain.Event) memTree {
	t.Helper()
	m := memTree{}
	if _, err := chain.ExtendTree(context.Background(), m, 0, rows); err != nil {
		t.Fatal(err)
	}
	return m
}

// recompute rehashes rows from seq k on over their new prev_hash, as an intruder would.
func recompute(t *testing.T, rows []chain.Event, k int64) {
	t.Helper()
	prev := chain.Genesis
	for i := range rows {
		if rows[i].Seq >= k {
			rows[i].PrevHash = prev
			h, err := chain.Hash(prev, &rows[i])
			if err != nil {
				t.Fatal(err)
			}
			rows[i].Hash = h
		}
		prev = rows[i].Hash
	}
}

// The tamper trials of TestTlog_TamperTrials, 1,000 of them, on the rows in memory with the
// tree built by the writer's own chain.ExtendTree: the detection is the same, each trial costs
// microseconds.
func TestTlog_TamperTrialsInMemory(t *testing.T) {
	const n, every = 32, 8
	base := make([]chain.Event, 0, n)
	prev := chain.Genesis
	for k := int64(1); k <= n; k++ {
		in := chain.Intent{ID: fmt.Sprintf("i%d", k), Actor: fmt.Sprintf("seat-%d", k%5), Op: "kip_commit", Outcome: "ok"}
		e, err := chain.Seal(&in, k, "2026-12-06T22:00:00.000001+00:00", prev)
		if err != nil {
			t.Fatal(err)
		}
		base = append(base, e)
		prev = e.Hash
	}
	skey, vkey, err := tlog.GenerateKey(crand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	var kept []tlog.Checkpoint
	for size := every; size <= n; size += every {
		c, _ := sign(t, buildTree(t, base[:size]), skey)
		kept = append(kept, c)
	}
	honest := buildTree(t, base)
	rng := rand.New(rand.NewPCG(1, 2))
	kinds := []string{"field", "delete_tail", "insert", "rewrite_tail"}
	for trial := range 1000 {
		kind := kinds[trial%len(kinds)]
		k := int64(1 + rng.IntN(n))
		rows := append([]chain.Event(nil), base...)
		tree := honest
		want := k
		switch kind {
		case "field":
			rows[k-1].Actor = chain.Str("mallory")
		case "delete_tail":
			rows = rows[:k-1]
		case "insert":
			ins := chain.Event{Seq: k, TS: chain.Str("2026-01-01T00:00:00+00:00"), Actor: chain.Str("mallory"),
				Op: chain.Str("kip_commit"), Outcome: chain.Str("ok"), Detail: []byte("{}")}
			rows = append(rows[:k-1:k-1], append([]chain.Event{ins}, rows[k-1:]...)...)
			for i := k; i < int64(len(rows)); i++ {
				rows[i].Seq = i + 1
			}
		case "rewrite_tail":
			rows[k-1].Outcome = chain.Str("denied")
		}
		if kind != "field" {
			recompute(t, rows, k)
			tree = buildTree(t, rows)
		}
		if kind == "insert" || kind == "rewrite_tail" {
			want = (k + every - 1) / every * every
		}
		got, err := detect(t, tree, rows, skey, vkey, kept)
		if err != nil {
			t.Fatal(err)
		}
		if got != uint64(want) {
			t.Fatalf("trial %d %s at seq %d: detected at size %d, want %d", trial, kind, k, got, want)
		}
	}
}
