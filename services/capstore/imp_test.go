package capstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/schema"
)

// TestService_ImpSendRedeliveryAfterCrash: capstore dies after writing a message and before
// its event, reply and ack; the restarted capstore replays the op_id at the tip, republishes the
// git.commit event once (so the message is indexed) and answers the requester (ARCH-8,
// ARCH-12, T-imp_send-6).
func TestService_ImpSendRedeliveryAfterCrash(t *testing.T) {
	r := newRig(t)
	svc1, app1, _ := r.start(t, time.Second)
	crashed := make(chan struct{})
	var once sync.Once
	svc1.SetAfterApply(func(string) {
		once.Do(func() {
			svc1.CloseConn()
			close(crashed)
		})
	})
	c := r.client(t, 30*time.Second)
	done := make(chan error, 1)
	var res schema.ImpSendResult
	go func() {
		done <- c.Do(context.Background(), busclient.Command{Svc: bus.Capstore, Verb: schema.CmdImpSend, ID: "imp_send/Recto/m-crash", OpID: "m-crash",
			Data: schema.ImpSend{Actor: schema.Actor{Seat: "Recto"}, OpID: "m-crash", Recipients: []string{"Verso"}, Subject: "s", Body: "b"}}, &res)
	}()
	<-crashed
	stopCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = app1.Stop(stopCtx)
	cancel()

	r.start(t, time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if res.Path != "messages/m-crash.md" || len(res.OID) != 40 || !res.Replayed {
		t.Fatalf("want the replayed original message, got %+v", res)
	}
	if n := revCount(t, r.gitDir, "refs/cap/perspectives/Recto"); n != "1" {
		t.Fatalf("perspective has %s commits, want exactly 1", n)
	}
	js, _ := jetstream.New(r.srv.Connect(t))
	st, err := js.Stream(context.Background(), r.subj.EventsStream())
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := st.Info(context.Background()); info.State.Msgs != 1 {
		t.Fatalf("EVENTS holds %d messages, want 1 git.commit", info.State.Msgs)
	}
}

// TestService_Perf: the perf query answers the ledger over the bus (D-23).
func TestService_Perf(t *testing.T) {
	r := newRig(t)
	r.start(t, 5*time.Second)
	c := r.client(t, 10*time.Second)
	var res schema.VapRecordResult
	if err := c.Do(context.Background(), busclient.Command{Svc: bus.Capstore, Verb: schema.CmdVapRecord, ID: "vap_record/Recto/v1", OpID: "v1",
		Data: schema.VapRecord{Actor: schema.Actor{Seat: "Recto"}, OpID: "v1", Binds: "a.md", Horizon: "h", Vantage: "confirmed"}}, &res); err != nil {
		t.Fatal(err)
	}
	var p schema.PerfAnswer
	if err := c.Query(context.Background(), bus.Capstore, schema.QPerf, nil, &p); err != nil {
		t.Fatal(err)
	}
	n := map[string]int64{}
	for _, v := range p.ByVerb {
		n[v.Verb] = v.N
	}
	if n["commit-tree"] != 1 || n["for-each-ref"] != 1 || p.GitCalls < 3 {
		t.Fatalf("ledger after one vap_record: %+v", p)
	}
}
