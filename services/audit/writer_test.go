package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stasima/stasima/pkg/bus"
)

// TestWriter_undecodableIntentTerminated: an intent that does not decode is terminated once
// (the bus kit's term policy) and never blocks the intents behind it; the AUDIT work queue ends
// empty and the chain holds the good intent alone (U-3).
func TestWriter_undecodableIntentTerminated(t *testing.T) {
	r := sqliteRig(t)
	r.start(t)
	c := r.client(t, 10*time.Second)
	ctx := context.Background()
	nc := r.srv.Connect(t)
	js, _ := jetstream.New(nc)
	if _, err := js.Publish(ctx, r.subj.Intent(bus.UserGateway, "kip_commit"), []byte("{not an envelope")); err != nil {
		t.Fatal(err)
	}
	good := intents(0, 1)
	if err := c.PublishIntents(ctx, good); err != nil {
		t.Fatal(err)
	}
	c.Await(ctx, []string{good[0].ID})
	wantChain(t, rows(t, c), 1)
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := js.Stream(ctx, r.subj.AuditStream())
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("AUDIT still holds %d intents", info.State.Msgs)
		}
		time.Sleep(10 * time.Millisecond) // polling the stream with a deadline
	}
}
