package gitstore

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// Commit throughput: commits/s = 1e9 / (ns/op). "durable" is the ARCH-13
// configuration; "nosync" skips every fsync and shows what durability costs.
//
//	go test -run '^$' -bench Commit -benchtime 2s ./internal/gitstore/

func benchStore(b *testing.B, noSync bool) *Store {
	s, _, _ := newStore(b)
	s.fs.noSync = noSync
	return s
}

func entryChange(n int) Change {
	p := fmt.Sprintf("practice/%d.md", n)
	return Change{Path: p, Data: []byte("---\ntype: kno\ntitle: " + p + "\nstatus: active\n---\n\nbody\n")}
}

// BenchmarkCommit commits one small entry per op onto one ref, sequentially.
func BenchmarkCommit(b *testing.B) {
	for _, mode := range []struct {
		name   string
		noSync bool
	}{{"durable", false}, {"nosync", true}} {
		b.Run(mode.name, func(b *testing.B) {
			s := benchStore(b, mode.noSync)
			ctx := context.Background()
			tip := ""
			b.ReportAllocs()
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				res, err := s.Commit(ctx, seatRequest("refs/cap/perspectives/bench", tip, fmt.Sprintf("op-%d", n), entryChange(n)))
				if err != nil {
					b.Fatal(err)
				}
				tip = res.OID
			}
		})
	}
}

// BenchmarkCommitParallel commits from 16 goroutines, each on its own ref
// (ARCH-9: different refs write in parallel). ns/op is wall time per commit
// across all of them.
func BenchmarkCommitParallel(b *testing.B) {
	const refs = 16
	for _, mode := range []struct {
		name   string
		noSync bool
	}{{"durable", false}, {"nosync", true}} {
		b.Run(mode.name, func(b *testing.B) {
			s := benchStore(b, mode.noSync)
			ctx := context.Background()
			// RunParallel starts parallelism × GOMAXPROCS goroutines.
			b.SetParallelism((refs + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				id := next.Add(1)
				ref := fmt.Sprintf("refs/cap/perspectives/bench-%02d", id)
				tip := ""
				for n := 0; pb.Next(); n++ {
					res, err := s.Commit(ctx, seatRequest(ref, tip, fmt.Sprintf("op-%d-%d", id, n), entryChange(n)))
					if err != nil {
						b.Error(err)
						return
					}
					tip = res.OID
				}
			})
		})
	}
}

// BenchmarkCountCommitsCold counts a 2000-commit chain with an empty cache
// (C-pos-1 after a restart); warm counts are a map lookup (C-pos-4).
func BenchmarkCountCommitsCold(b *testing.B) {
	s := benchStore(b, true)
	ctx := context.Background()
	tip := ""
	for n := 0; n < 2000; n++ {
		res, err := s.Commit(ctx, seatRequest("refs/heads/main", tip, fmt.Sprintf("op-%d", n), entryChange(n%50)))
		if err != nil {
			b.Fatal(err)
		}
		tip = res.OID
	}
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		s.meta = make(map[plumbing.Hash]*commitMeta)
		if c, err := s.CountCommits(tip); err != nil || c != 2000 {
			b.Fatalf("CountCommits = %d, %v", c, err)
		}
	}
}
