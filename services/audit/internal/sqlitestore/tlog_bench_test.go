package sqlitestore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stasima/stasima/pkg/tlog"
	"github.com/stasima/stasima/services/audit/internal/chain"
)

// treeOf1M is a store whose merkle_nodes hold the tree of 1,000,000 leaves, written by the
// writer's own chain.ExtendTree (the rows themselves are not needed by proofs).
func treeOf1M(b *testing.B) *Store {
	b.Helper()
	const n, page = 1_000_000, 100_000
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "audit.sqlite"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	var size uint64
	for size < n {
		rows := make([]chain.Event, page)
		for i := range rows {
			h := sha256.Sum256([]byte{byte(size), byte(size >> 8), byte(size >> 16), byte(i), byte(i >> 8), byte(i >> 16)})
			rows[i] = chain.Event{Seq: int64(size) + int64(i) + 1, Hash: hex.EncodeToString(h[:])}
		}
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		if size, err = chain.ExtendTree(ctx, txTree{tx}, size, rows); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

func reportQuantiles(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	q := func(p float64) float64 { return float64(d[int(p*float64(len(d)-1))]) / 1e6 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.95), "p95-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}

// BenchmarkTlog covers the transparency log at 1,000,000 rows: an inclusion proof of a random
// row, a consistency proof between two random sizes, and the checkpoint a land adds (tree
// size, root, Ed25519 signature, the file it is kept in).
func BenchmarkTlog(b *testing.B) {
	s := treeOf1M(b)
	ctx := context.Background()
	const n = 1_000_000
	rng := mrand.New(mrand.NewPCG(1, 1))
	b.Run("inclusion-1M", func(b *testing.B) {
		var d []time.Duration
		for b.Loop() {
			t0 := time.Now()
			if _, err := chain.InclusionProof(ctx, s, rng.Uint64N(n), n); err != nil {
				b.Fatal(err)
			}
			d = append(d, time.Since(t0))
		}
		reportQuantiles(b, d)
	})
	b.Run("consistency-1M", func(b *testing.B) {
		var d []time.Duration
		for b.Loop() {
			x, y := 1+rng.Uint64N(n), 1+rng.Uint64N(n)
			t0 := time.Now()
			if _, err := chain.ConsistencyProof(ctx, s, min(x, y), max(x, y)); err != nil {
				b.Fatal(err)
			}
			d = append(d, time.Since(t0))
		}
		reportQuantiles(b, d)
	})
	skey, _, err := tlog.GenerateKey(rand.Reader, "stasima.bench/audit")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	b.Run("checkpoint-1M", func(b *testing.B) {
		var d []time.Duration
		for b.Loop() {
			t0 := time.Now()
			size, err := s.TreeSize(ctx)
			if err != nil {
				b.Fatal(err)
			}
			root, err := chain.RootAt(ctx, s, size)
			if err != nil {
				b.Fatal(err)
			}
			msg, err := tlog.Sign(tlog.Checkpoint{Origin: "stasima.bench/audit", Size: size, Hash: root}, skey)
			if err != nil {
				b.Fatal(err)
			}
			// The audit service then keeps it beside the key: a temporary file renamed into
			// place (its git commit is asynchronous, off the land's path).
			f, err := os.CreateTemp(dir, ".audit-log.checkpoint.tmp-*")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.Write(msg); err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
			if err := os.Rename(f.Name(), filepath.Join(dir, "audit-log.checkpoint")); err != nil {
				b.Fatal(err)
			}
			d = append(d, time.Since(t0))
		}
		reportQuantiles(b, d)
	})
}
