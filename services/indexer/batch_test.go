package indexer

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/indexer/internal/fixture"
)

// S-32, S-33, S-36, ARCH-4: events that arrived while the indexer was down are applied in
// stream order once it starts, batched — perspective commits, a bootstrap among them, a commit
// after it, events it ignores or refuses, a land — to the rows of a full reindex. An indexer
// killed after writing a batch but before acknowledging it restarts at the consumer's ack floor
// and catches up without a duplicate and without rewriting a row.
func TestService_CatchesUpAfterRestart(t *testing.T) {
	r := start(t)
	ctx := context.Background()
	want := derived(t, r.d)
	r.stopIndexer()

	commit := func(ref string) uint64 {
		seat, _ := refs.SeatOf(ref)
		seq, _ := r.publish(t, schema.EvtGitCommit, schema.GitCommitted{
			Ref: ref, OID: tip(t, r.d, ref), Author: seat, Subject: "write", Paths: mdPaths(t, r.d, ref)})
		return seq
	}
	seats := r.d.IndexedRefs(t)[1:]
	for _, ref := range seats {
		commit(ref)
	}
	bootstrapSeq, bootstrapEnv := r.publish(t, schema.EvtGitBootstrap, schema.GitBootstrapped{OID: tip(t, r.d, fixture.CanonRef),
		Paths: mdPaths(t, r.d, fixture.CanonRef)})
	afterBootstrap := commit(seats[0]) // replaces the rebuilt rows of one seat
	r.publish(t, "git.tag", map[string]string{"tag": "v1"})
	if _, err := r.js.Publish(ctx, r.subj.Event(schema.EvtGitCommit), []byte("{undecodable")); err != nil {
		t.Fatal(err)
	}
	r.publish(t, schema.EvtGitCommit, "not a commit") // refused: ArgumentError
	// A land whose data is not schema.GitLanded (a number for the oid, garbage bytes) is refused
	// the same way; the indexer goes on to the next event.
	r.publish(t, schema.EvtGitLand, map[string]any{"ref": fixture.CanonRef, "oid": 42, "seq": 1})
	if _, err := r.js.Publish(ctx, r.subj.Event(schema.EvtGitLand), []byte("\x00garbage")); err != nil {
		t.Fatal(err)
	}
	last, _ := r.publish(t, schema.EvtGitLand, schema.GitLanded{Ref: fixture.CanonRef, OID: tip(t, r.d, fixture.CanonRef)})

	r.startIndexer(t)
	r.await(t, last)
	diffRows(t, byKey(r.indexed(t)), byKey(want))
	before, err := r.svc.store.All(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Killed after the write, before the acks: the durable's ack floor is still before them.
	for _, from := range []uint64{afterBootstrap} {
		r.stopIndexer()
		stream := r.subj.EventsStream()
		if err := r.js.DeleteConsumer(ctx, stream, EventsConsumer); err != nil {
			t.Fatal(err)
		}
		if _, err := r.js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
			Durable: EventsConsumer, FilterSubject: r.subj.Event("git.>"), AckPolicy: jetstream.AckExplicitPolicy,
			DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from,
		}); err != nil {
			t.Fatal(err)
		}
		r.startIndexer(t)
		r.await(t, last)
		after, err := r.svc.store.All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(after, before) {
			t.Errorf("events redelivered from stream seq %d changed the index:\n got %d rows %+v\nwant %d rows %+v", from, len(after), after, len(before), before)
		}
	}
	// The bootstrap alone redelivered (its ack lost) after the later commit was applied must
	// not rebuild over that commit's rows, renumbering them (S-6: a row keeps its ins_seq until
	// a write replaces it).
	if n, err := r.svc.apply(ctx, bootstrapSeq, bootstrapEnv); err != nil || n != 0 {
		t.Fatalf("redelivered bootstrap wrote %d rows, %v", n, err)
	}
	if after, _ := r.svc.store.All(ctx); !reflect.DeepEqual(after, before) {
		t.Errorf("a redelivered bootstrap changed the index:\n got %+v\nwant %+v", after, before)
	}
}

// S-35, S-36: a land compares canon with the index as the batch's earlier lands leave it, so
// a second land of the same commit in one batch writes nothing.
func TestBatchWriter_LandsSeeEarlierLands(t *testing.T) {
	r := start(t)
	ctx := context.Background()
	env, err := bus.NewEnvelope("land-1", schema.EvtGitLand, bus.Capstore, "", "", time.Now(),
		map[string]any{"ref": fixture.CanonRef, "oid": tip(t, r.d, fixture.CanonRef)})
	if err != nil {
		t.Fatal(err)
	}
	w := r.svc.newBatchWriter()
	var got []int
	for _, seq := range []uint64{1 << 30, 1<<30 + 1} {
		d, err := r.svc.derive(ctx, seq, env)
		if err != nil {
			t.Fatal(err)
		}
		n, err := w.add(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	if canon := len(mdPaths(t, r.d, fixture.CanonRef)); got[0] != canon || got[1] != 0 {
		t.Fatalf("lands wrote %v rows, want [%d 0]", got, canon)
	}
}
