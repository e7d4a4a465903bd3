package gitstore

import (
	"context"
	"fmt"
	"testing"
)

// PrepareCandidate on a 10,000-entry canon and a 50-entry proposal that
// branched before another land (so the base is not canon's tip): the work is
// two tree diffs that descend only into changed subtrees, 50-odd blob reads,
// a rewrite of the touched directories (one of them 7,000 entries wide) and
// one durable pack. "cold" reopens the store before each op (empty caches,
// counting the generation walk); Open and Close are not timed.
//
//	go test -run '^$' -bench PrepareCandidate10k ./internal/gitstore/
func BenchmarkPrepareCandidate10k(b *testing.B) {
	for _, mode := range []struct {
		name         string
		noSync, cold bool
	}{{"durable", false, false}, {"nosync", true, false}, {"cold", false, true}} {
		b.Run(mode.name, func(b *testing.B) {
			s, dir, clk := newStore(b)
			ours, theirs := prepareFixture10k(b, s)
			s.fs.noSync = mode.noSync
			ctx := context.Background()
			req := candidateRequest(ours, theirs)
			b.ReportAllocs()
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				if mode.cold {
					b.StopTimer()
					if err := s.Close(); err != nil {
						b.Fatal(err)
					}
					s = openStore(b, dir, clk)
					b.StartTimer()
				}
				_, p, err := s.PrepareCandidate(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				if len(p.Adds) != 50 {
					b.Fatalf("adds = %d", len(p.Adds))
				}
			}
		})
	}
}

// prepareFixture10k builds canon (a 10,000-entry bootstrap in four domains,
// then a land of 5 entries) and a 50-entry proposal in 10 commits, opened
// before that land.
func prepareFixture10k(b *testing.B, s *Store) (ours, theirs string) {
	b.Helper()
	noSync := s.fs.noSync
	s.fs.noSync = true // building the fixture need not be durable
	defer func() { s.fs.noSync = noSync }()
	domains := []struct {
		name string
		n    int
	}{{"practice", 7000}, {"theory", 2000}, {"people", 900}, {"meta/log", 100}}
	var boot []Change
	for _, d := range domains {
		for i := 0; i < d.n; i++ {
			boot = append(boot, entry(fmt.Sprintf("%s/%05d.md", d.name, i)))
		}
	}
	c0 := mustCommit(b, s, seatRequest(canonRef, "", "boot", boot...)).OID

	const prop = "refs/cap/proposals/bench"
	tip := branch(b, s, prop, c0, entry("practice/p-000.md"))
	for i := 1; i < 50; i++ {
		dom := []string{"practice", "theory", "people"}[i%3]
		if i == 49 {
			dom = "meta/log"
		}
		tip = mustCommit(b, s, seatRequest(prop, tip, fmt.Sprintf("p-%d", i), entry(fmt.Sprintf("%s/p-%03d.md", dom, i)))).OID
	}

	other := branch(b, s, "refs/cap/proposals/other", c0,
		entry("practice/o-1.md"), entry("practice/o-2.md"), entry("theory/o-3.md"), entry("people/o-4.md"), entry("meta/log/o-5.md"))
	cand, _, err := s.PrepareCandidate(context.Background(), candidateRequest(c0, other))
	if err != nil {
		b.Fatal(err)
	}
	if err := s.SetRef(context.Background(), canonRef, cand, c0); err != nil {
		b.Fatal(err)
	}
	return cand, tip
}

func entry(p string) Change {
	return Change{Path: p, Data: []byte("---\ntype: kno\ntitle: " + p + "\nstatus: active\n---\n\nbody of " + p + "\n")}
}
