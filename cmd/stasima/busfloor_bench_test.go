package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/embednats"
)

// BenchmarkBusFloor_16Seats measures the CPU the bus alone costs per kip_commit: the message
// flow the spec fixes for one commit, on an embedded server configured as `stasima up` configures
// it (file storage, sync always: ARCH-13), with no service logic, git, SQLite or HTTP. Per commit:
// a cursor query, the command on COMMANDS (ARCH-12) with its reply and ack, the git.commit event
// and the audit intent, the audit writer's audit.appended event and ack, the indexer's ack, and
// the audit and index barrier queries (ARCH-6, ARCH-7). Its server-cpu-ms/commit is the floor
// under BenchmarkCommitCPU_16Seats's figure that only a different bus protocol could lower
// (issue 15). Two such protocols are measured beside it, as spec changes to weigh: the audit
// writer deriving a commit's row from the git.commit event instead of a separate intent on
// AUDIT, and that plus audit.appended sent as a core notification, not stored. b.N is the
// commit count.
func BenchmarkBusFloor_16Seats(b *testing.B) {
	for _, p := range []busFlow{{}, {auditFromEvent: true}, {auditFromEvent: true, appendedCore: true}} {
		b.Run(p.String(), func(b *testing.B) { benchBusFloor(b, p) })
	}
}

// busFlow is the bus protocol of one commit: the spec's (zero value) or a proposed change.
type busFlow struct {
	auditFromEvent bool // the audit writer consumes git.commit from EVENTS; no intent on AUDIT
	appendedCore   bool // audit.appended is a core publish outside EVENTS, not stored
}

func (f busFlow) String() string {
	switch {
	case f.auditFromEvent && f.appendedCore:
		return "audit-from-event+appended-core"
	case f.auditFromEvent:
		return "audit-from-event"
	}
	return "spec"
}

func benchBusFloor(b *testing.B, flow busFlow) {
	const seats = 16
	ns, err := embednats.Start(embednats.Options{StoreDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer ns.Shutdown()
	subj := bus.MustSubjects("stasima")
	conn := func() (*nats.Conn, jetstream.JetStream) {
		nc, err := nats.Connect(ns.ClientURL())
		if err != nil {
			b.Fatal(err)
		}
		js, err := jetstream.New(nc)
		if err != nil {
			b.Fatal(err)
		}
		return nc, js
	}
	ctx := context.Background()
	gwNC, gwJS := conn()
	defer gwNC.Close()
	for _, cfg := range []jetstream.StreamConfig{subj.CommandsStreamConfig(), subj.EventsStreamConfig(0), subj.AuditStreamConfig()} {
		if _, err := gwJS.CreateOrUpdateStream(ctx, cfg); err != nil {
			b.Fatal(err)
		}
	}
	payload := func(kind string, i int64) []byte {
		return fmt.Appendf(nil, `{"v":1,"id":"%s-%d","type":"%s","at":"2026-12-07T00:00:00Z","producer":"bench","session":"","data":{"ref":"refs/cap/perspectives/bench-%02d","oid":"%040d","paths":["practice/e-%d.md"]}}`,
			kind, i, kind, i%seats, i, i)
	}
	// Queries answered at once: the floor of a core request/reply.
	svcNC, _ := conn()
	defer svcNC.Close()
	for _, q := range []string{"cursor", "audit_await", "index_await"} {
		if _, err := svcNC.QueueSubscribe(subj.Query("floor", q), subj.QueueGroup("floor"), func(m *nats.Msg) { _ = m.Respond([]byte(`{"ok":true,"result":{}}`)) }); err != nil {
			b.Fatal(err)
		}
	}
	consume := func(js jetstream.JetStream, stream, durable, filter string, handle func(m jetstream.Msg)) jetstream.ConsumeContext {
		c, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{Durable: durable, AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: filter})
		if err != nil {
			b.Fatal(err)
		}
		cc, err := c.Consume(handle)
		if err != nil {
			b.Fatal(err)
		}
		return cc
	}
	var seq atomic.Int64
	// capstore: publish the event and the intent, reply, then ack (ARCH-12's order).
	capNC, capJS := conn()
	defer capNC.Close()
	defer consume(capJS, subj.CommandsStream(), "capstore-commands", subj.Commands(bus.Capstore), func(m jetstream.Msg) {
		i := seq.Add(1)
		futures := []jetstream.PubAckFuture{}
		ev, err := capJS.PublishAsync(subj.Event("git.commit"), payload("git.commit", i), jetstream.WithMsgID(fmt.Sprint("e", i)))
		if err != nil {
			b.Error(err)
			return
		}
		futures = append(futures, ev)
		if !flow.auditFromEvent {
			in, err := capJS.PublishAsync(subj.Intent(bus.Capstore, "kip_commit"), payload("audit.intent", i), jetstream.WithMsgID(fmt.Sprint("i", i)))
			if err != nil {
				b.Error(err)
				return
			}
			futures = append(futures, in)
		}
		for _, f := range futures {
			<-f.Ok()
		}
		_ = capNC.Publish(m.Headers().Get("Stasima-Reply"), []byte(`{"ok":true,"result":{}}`))
		_ = m.Ack()
	}).Stop()
	// audit: append (not here), publish audit.appended, ack; from its intent, or from the
	// git.commit event on its own durable consumer of EVENTS.
	audNC, audJS := conn()
	defer audNC.Close()
	stream, durable, filter := subj.AuditStream(), "audit-writer", ""
	if flow.auditFromEvent {
		stream, durable, filter = subj.EventsStream(), "audit-from-events", subj.Event("git.commit")
	}
	defer consume(audJS, stream, durable, filter, func(m jetstream.Msg) {
		i := seq.Add(1)
		if flow.appendedCore { // any core subject outside EVENTS: delivered, never stored
			_ = audNC.Publish(subj.Progress(bus.Audit), payload("audit.appended", i))
		} else if f, err := audJS.PublishAsync(subj.Event("audit.appended"), payload("audit.appended", i), jetstream.WithMsgID(fmt.Sprint("a", i))); err == nil {
			<-f.Ok()
		}
		_ = m.Ack()
	}).Stop()
	// indexer: apply (not here), ack.
	idxNC, idxJS := conn()
	defer idxNC.Close()
	defer consume(idxJS, subj.EventsStream(), "indexer", subj.Event("git.commit"), func(m jetstream.Msg) { _ = m.Ack() }).Stop()

	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, seats)
	b.ResetTimer()
	bus0 := busCounts(b, ns)
	cpu0 := processCPU()
	for w := 0; w < seats; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			inbox := nats.NewInbox()
			replies, err := gwNC.SubscribeSync(inbox)
			if err != nil {
				errs <- err
				return
			}
			defer replies.Unsubscribe()
			for k := next.Add(1); k <= int64(b.N); k = next.Add(1) {
				if _, err := gwNC.Request(subj.Query("floor", "cursor"), nil, 10*time.Second); err != nil {
					errs <- err
					return
				}
				msg := nats.NewMsg(subj.Command(bus.Capstore, "kip_commit"))
				msg.Header.Set("Stasima-Reply", inbox)
				msg.Header.Set(nats.MsgIdHdr, fmt.Sprint("c", k))
				msg.Data = payload("kip_commit", k)
				if _, err := gwJS.PublishMsg(ctx, msg); err != nil {
					errs <- err
					return
				}
				if _, err := replies.NextMsg(10 * time.Second); err != nil {
					errs <- err
					return
				}
				for _, q := range []string{"audit_await", "index_await"} {
					if _, err := gwNC.Request(subj.Query("floor", q), nil, 10*time.Second); err != nil {
						errs <- err
						return
					}
				}
			}
		}(w)
	}
	wg.Wait()
	cpu := processCPU() - cpu0
	bus1 := busCounts(b, ns)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "server-cpu-ms/commit")
	b.ReportMetric(float64(bus1.in-bus0.in)/float64(b.N), "bus-msgs/commit")
	b.ReportMetric(float64(bus1.stored-bus0.stored)/float64(b.N), "stored-msgs/commit")
}
