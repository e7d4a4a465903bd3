package gitstore

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/stasima/stasima/pkg/fault"
)

// ARCH-9 under -race: 16 writers on 16 refs in parallel, 4 writers racing on one
// shared ref with distinct op_ids (retrying StaleRef from a fresh tip), and
// readers throughout. Every commit exists and reads back, none is lost or
// duplicated, and git fsck is clean.
func TestStore_ConcurrentWriters(t *testing.T) {
	const (
		seats        = 16
		perSeat      = 50
		racers       = 4
		perRacer     = 25
		sharedRef    = "refs/cap/perspectives/shared"
		seatRefFmt   = "refs/cap/perspectives/seat-%02d"
		seatPathFmt  = "practice/%02d/%03d.md"
		sharedOpFmt  = "shared-%d-%03d"
		sharedPathFm = "shared/%d-%03d.md"
	)
	s, dir, _ := newStore(t)
	ctx := context.Background()

	var writers sync.WaitGroup
	errs := make(chan error, seats+racers+2)
	for i := 0; i < seats; i++ {
		writers.Add(1)
		go func() {
			defer writers.Done()
			ref := fmt.Sprintf(seatRefFmt, i)
			tip := ""
			for n := 0; n < perSeat; n++ {
				p := fmt.Sprintf(seatPathFmt, i, n)
				res, err := s.Commit(ctx, seatRequest(ref, tip, fmt.Sprintf("seat-%d-%d", i, n), put(p, "body "+p)))
				if err != nil {
					errs <- err
					return
				}
				tip = res.OID
			}
		}()
	}
	staleRetries := make([]int, racers)
	for g := 0; g < racers; g++ {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for k := 0; k < perRacer; k++ {
				p := fmt.Sprintf(sharedPathFm, g, k)
				for {
					tip, _, err := s.Resolve(sharedRef)
					if err != nil {
						errs <- err
						return
					}
					_, err = s.Commit(ctx, seatRequest(sharedRef, tip, fmt.Sprintf(sharedOpFmt, g, k), put(p, "body "+p)))
					if fault.Is(err, fault.StaleRef) {
						staleRetries[g]++
						continue
					}
					if err != nil {
						errs <- err
						return
					}
					break
				}
			}
		}()
	}

	// Readers run until the writers finish: go-git is entered concurrently from
	// every side.
	done := make(chan struct{})
	var readers sync.WaitGroup
	for r := 0; r < 2; r++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				refs, err := s.ListRefs("refs/cap/perspectives/")
				if err != nil {
					errs <- err
					return
				}
				for _, ref := range refs {
					if _, err := s.ListPaths(ref.OID); err != nil {
						errs <- err
						return
					}
					if _, err := s.CountCommits(ref.OID); err != nil {
						errs <- err
						return
					}
					if _, _, _, err := s.TipOpID(ref.Name); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	writers.Wait()
	close(done)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// chain walks the first-parent chain from ref's tip.
	chain := func(ref string) []CommitInfo {
		var out []CommitInfo
		oid := mustResolve(t, s, ref)
		for oid != "" {
			c, err := s.CommitInfo(oid)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, c)
			oid = ""
			if len(c.Parents) > 0 {
				oid = c.Parents[0]
			}
		}
		return out
	}
	for i := 0; i < seats; i++ {
		ref := fmt.Sprintf(seatRefFmt, i)
		cs := chain(ref)
		if len(cs) != perSeat {
			t.Fatalf("%s has %d commits, want %d", ref, len(cs), perSeat)
		}
		for j, c := range cs {
			n := perSeat - 1 - j
			if got, want := opIDOf(c.Message), fmt.Sprintf("seat-%d-%d", i, n); got != want {
				t.Errorf("%s commit %d has op-id %q, want %q", ref, j, got, want)
			}
			p := fmt.Sprintf(seatPathFmt, i, n)
			if b, ok, err := s.ReadBlob(c.OID, p); err != nil || !ok || string(b) != "body "+p {
				t.Errorf("ReadBlob(%s, %s) = %q, %v, %v", c.OID, p, b, ok, err)
			}
		}
		if paths, err := s.ListPaths(cs[0].OID); err != nil || len(paths) != perSeat {
			t.Errorf("%s tip lists %d paths, %v", ref, len(paths), err)
		}
	}

	cs := chain(sharedRef)
	var got, want []string
	for _, c := range cs {
		got = append(got, opIDOf(c.Message))
	}
	for g := 0; g < racers; g++ {
		for k := 0; k < perRacer; k++ {
			want = append(want, fmt.Sprintf(sharedOpFmt, g, k))
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("shared ref op-ids = %v\nwant each of %v exactly once", got, want)
	}
	paths, err := s.ListPaths(cs[0].OID)
	if err != nil || len(paths) != racers*perRacer {
		t.Errorf("shared tip lists %d paths, %v; want %d", len(paths), err, racers*perRacer)
	}
	if n, err := s.CountCommits(cs[0].OID); err != nil || n != racers*perRacer {
		t.Errorf("CountCommits(shared) = %d, %v", n, err)
	}
	t.Logf("StaleRef retries per racer: %v", staleRetries)
	fsck(t, s, dir)
}
