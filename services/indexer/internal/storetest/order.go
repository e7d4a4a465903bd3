package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stasima/stasima/services/indexer/internal/rows"
)

// commitEvent is one generated perspective commit: its commit id and the rows it writes.
type commitEvent struct {
	ref, commit string
	rows        []rows.Row
}

// commitEvents generates n commits over a few seats and paths, some rewriting a path an
// earlier commit wrote (a new write: the row moves to the newest place, S-6).
func commitEvents(rng *rand.Rand, n int) []commitEvent {
	seats := []string{"Recto", "Verso", "Tertia"}
	paths := []string{"practice/tidal.md", "vantages/v1.md", "messages/m1.md", "notes/arrival.md", "practice/kiln.md"}
	out := make([]commitEvent, n)
	for i := range out {
		ref := RefOf(seats[rng.IntN(len(seats))])
		e := commitEvent{ref: ref, commit: fmt.Sprintf("c%03d", i)}
		for _, p := range rng.Perm(len(paths))[:1+rng.IntN(3)] {
			r := Row(ref, paths[p], "kno", "active", paths[p], fmt.Sprintf("written by %s", e.commit), "")
			r.Commit = e.commit
			e.rows = append(e.rows, r)
		}
		out[i] = e
	}
	return out
}

// orderOf is the index's rows in ins_seq order, each as ref, path and body.
func orderOf(t *testing.T, st Store) []string {
	t.Helper()
	all, err := st.All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(all))
	for i, r := range all {
		out[i] = r.Ref + " " + r.Path + " " + r.BodyText
	}
	return out
}

// testOrderIndependentOfDelivery is S-6 and S-32 as a property: one generated sequence of commit
// events, applied once each, one write per event, gives a row order (ins_seq); applying the same
// sequence as the bus may deliver it — cut into batches at random boundaries, earlier events
// redelivered at their own version at random points, and an event re-announced under a new
// stream sequence (a command replayed past the de-duplication window republishes its commit's
// event) before that seat's next commit — gives the same rows in the same order. Only a write
// of another commit gives a row a new ins_seq.
func testOrderIndependentOfDelivery(t *testing.T, b Backend) {
	ctx := context.Background()
	for trial := range 3 {
		seed := uint64(trial + 1)
		rng := rand.New(rand.NewPCG(seed, 14))
		events := commitEvents(rng, 24)

		ref := open(t, b)
		for i, e := range events {
			if _, err := ref.Upsert(ctx, int64(i+1), e.rows...); err != nil {
				t.Fatal(err)
			}
		}
		want := orderOf(t, ref)

		// The stream as delivered: every event at its own sequence, re-announced copies at
		// later ones. A copy goes out before its seat's next commit, as capstore serializes a
		// seat's commands.
		var stream []rows.Write
		pending := map[string]commitEvent{} // ref → an event whose re-announcement is due
		emit := func(e commitEvent) {
			stream = append(stream, rows.Write{Version: int64(len(stream) + 1), Rows: e.rows})
		}
		for _, e := range events {
			for _, r := range slices.Sorted(func(yield func(string) bool) {
				for r := range pending {
					if !yield(r) {
						return
					}
				}
			}) {
				if r == e.ref || rng.IntN(2) == 0 {
					emit(pending[r])
					delete(pending, r)
				}
			}
			emit(e)
			if rng.IntN(3) == 0 {
				pending[e.ref] = e
			}
		}
		for _, r := range slices.Sorted(func(yield func(string) bool) {
			for r := range pending {
				if !yield(r) {
					return
				}
			}
		}) {
			emit(pending[r])
		}

		got := open(t, b)
		for i := 0; i < len(stream); {
			n := 1 + rng.IntN(8)
			batch := stream[i:min(i+n, len(stream))]
			if _, err := got.UpsertBatch(ctx, batch...); err != nil {
				t.Fatal(err)
			}
			i += len(batch)
			if rng.IntN(3) == 0 { // a redelivery of events already applied, at their versions
				from := rng.IntN(i)
				if _, err := got.UpsertBatch(ctx, stream[from:min(from+1+rng.IntN(4), i)]...); err != nil {
					t.Fatal(err)
				}
			}
		}
		if have := orderOf(t, got); !slices.Equal(have, want) {
			t.Fatalf("seed %d: rows in ins_seq order differ from one write per event\n got %q\nwant %q", seed, have, want)
		}
	}
}
