package audit

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/logkey"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/pkg/telemetry"
	"github.com/stasima/stasima/services/audit/internal/chain"
)

// errStopping ends the spans of a batch the writer leaves unacknowledged when it stops.
var errStopping = fault.E("audit.writer", fault.BackendUnavailable, "the writer stopped before appending; the intents are redelivered")

// write is the one writer loop (U-3): fetch a batch in stream order, append it in one
// transaction, publish audit.appended, ack, wake the barrier waiters. While the store is
// unavailable it keeps the batch, extends its ack deadline and retries: intents wait in
// JetStream and the chain catches up in order.
func (s *Service) write(cons jetstream.Consumer) {
	defer close(s.done)
	// One consume callback feeds the loop in stream order; the loop takes what is waiting
	// (natural batching: a lone intent is appended at once, a burst in one transaction).
	in := make(chan jetstream.Msg, 2*s.cfg.BatchSize)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case in <- m:
		case <-s.stop: // unacked: redelivered to the next writer
		}
	}, jetstream.PullMaxMessages(s.cfg.BatchSize))
	if err != nil {
		s.log.Error("writer consume failed", logkey.Err, err)
		return
	}
	defer cc.Stop()
	for {
		var first jetstream.Msg
		select {
		case <-s.stop:
			return
		case first = <-in:
		}
		msgs := []jetstream.Msg{first}
	drain:
		for len(msgs) < s.cfg.BatchSize {
			select {
			case m := <-in:
				msgs = append(msgs, m)
			default:
				break drain
			}
		}
		var kept []jetstream.Msg
		var intents []chain.Intent
		var handling []*telemetry.Handling
		for _, msg := range msgs {
			_, h := s.m.tel.Consume(writerConsumer, msg)
			var it chain.Intent
			err := s.guard().Call("decode_intent", func() (err error) {
				it, err = decodeIntent(msg)
				return err
			})
			if err != nil {
				h.Done(err)
				s.guard().Refuse(msg, "undecodable intent", err)
				continue
			}
			kept = append(kept, msg)
			intents = append(intents, it)
			handling = append(handling, h)
		}
		if len(kept) == 0 {
			continue
		}
		s.holding(intents, true)
		rows, ok := s.appendWithRetry(intents, kept)
		if !ok {
			for _, h := range handling {
				h.Done(errStopping)
			}
			return // stopping: the batch is redelivered to the next writer
		}
		if hook := s.afterAppend.Load(); hook != nil {
			(*hook)(len(rows))
		}
		for i, row := range rows {
			s.publishAppended(row, intents[i].ID)
		}
		for i, msg := range kept {
			err := msg.Ack()
			if err != nil {
				s.log.Warn("ack failed", logkey.Err, err)
			}
			handling[i].Done(err)
		}
		s.noteAppended(rows)
		s.checkpointAfter(rows)
		s.wake(rows)
		s.holding(intents, false) // refused ones too: their waiters time out, as before
	}
}

// recentRows bounds the appended rows a barrier wait finds without the store.
const recentRows = 4096

// holding marks the writer's intents in hand (decoded, being appended) or releases them.
func (s *Service) holding(intents []chain.Intent, on bool) {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	for _, in := range intents {
		if on {
			s.inHand[in.ID] = true
		} else {
			delete(s.inHand, in.ID)
		}
	}
}

// appendWithRetry appends a batch, retrying while the store is unavailable. An invalid intent
// is terminated alone so it never blocks the ones behind it. ok=false means the service stops.
func (s *Service) appendWithRetry(intents []chain.Intent, msgs []jetstream.Msg) ([]chain.Event, bool) {
	for {
		rows, err := s.appendBatch(intents)
		if err == nil {
			s.setDegraded(false)
			return rows, true
		}
		if errors.Is(err, chain.ErrInvalidIntent) {
			return s.appendOneByOne(intents, msgs)
		}
		if !s.degradedNow() {
			s.log.Error("audit store unavailable; intents wait in the stream", "backend", s.backend(), logkey.Err, err)
		}
		s.setDegraded(true)
		for _, m := range msgs {
			_ = m.InProgress()
		}
		if s.pause() {
			return nil, false
		}
	}
}

func (s *Service) appendOneByOne(intents []chain.Intent, msgs []jetstream.Msg) ([]chain.Event, bool) {
	var rows []chain.Event
	for i := range intents {
		r, ok := s.appendWithRetrySingle(intents[i], msgs[i])
		if !ok {
			return nil, false
		}
		rows = append(rows, r...)
	}
	return rows, true
}

func (s *Service) appendWithRetrySingle(in chain.Intent, msg jetstream.Msg) ([]chain.Event, bool) {
	rows, err := s.appendBatch([]chain.Intent{in})
	if errors.Is(err, chain.ErrInvalidIntent) {
		s.guard().Refuse(msg, "invalid intent", err)
		return nil, true
	}
	if err != nil {
		return s.appendWithRetry([]chain.Intent{in}, []jetstream.Msg{msg})
	}
	return rows, true
}

// appendBatch appends intents in one transaction under the append lock. A panic in the store
// is an error like an outage: the batch is kept and retried, the process lives on.
func (s *Service) appendBatch(intents []chain.Intent) (rows []chain.Event, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.appendMu.Lock()
	defer s.appendMu.Unlock()
	err = s.guard().Call("append", func() (err error) {
		rows, err = s.store.AppendBatch(ctx, intents)
		return err
	})
	return rows, err
}

// guard is the writer's panic recovery and term policy (the bus kit's).
func (s *Service) guard() bus.Guard { return bus.Guard{Service: bus.Audit, Log: s.log, Tel: s.m.tel} }

// pause waits RetryEvery; true when the service is stopping.
func (s *Service) pause() bool {
	t := time.NewTimer(s.cfg.RetryEvery)
	defer t.Stop()
	select {
	case <-s.stop:
		return true
	case <-t.C:
		return false
	}
}

func decodeIntent(msg jetstream.Msg) (chain.Intent, error) {
	env, err := bus.DecodeEnvelope(msg.Data())
	if err != nil {
		return chain.Intent{}, err
	}
	var in chain.Intent
	if err := json.Unmarshal(env.Data, &in); err != nil {
		return chain.Intent{}, fault.Wrap("audit.intent", fault.ArgumentError, err, "undecodable intent data")
	}
	if in.ID == "" {
		in.ID = env.ID
	}
	if err := checkProducer(msg.Subject(), in.Op); err != nil {
		return chain.Intent{}, err
	}
	if md, err := msg.Metadata(); err == nil {
		in.StreamSeq = md.Sequence.Stream
	}
	in.IntentAt = env.At
	return in, nil
}

// checkProducer refuses an intent whose op its subject's producer may not write (bus.IntentOwners),
// whose body names another op than its subject, or whose subject names no producer — the old
// <prefix>.audit.intent.<op> shape included: such intents left in the AUDIT stream by an older
// version are terminated with one error line each, counted with the other refused intents, not
// appended (ARCH-2, ARCH-11).
func checkProducer(subject, op string) error {
	producer, subjOp, ok := bus.IntentProducer(subject)
	switch {
	case !ok:
		return fault.E("audit.intent", fault.Denied, "intent subject %s names no producer (want <prefix>.audit.intent.<producer>.<op>); refused", subject)
	case subjOp != op:
		return fault.E("audit.intent", fault.Denied, "intent on %s carries op %q; refused", subject, op)
	case !bus.IntentAllowed(producer, op):
		return fault.E("audit.intent", fault.Denied, "%s may not write %s rows (owners %v); refused", producer, op, bus.IntentOwners[op])
	}
	return nil
}

func (s *Service) publishAppended(e chain.Event, intentID string) {
	data := schema.AuditAppended{Seq: e.Seq, Op: nullable(e.Op), Actor: nullable(e.Actor), Outcome: nullable(e.Outcome), Hash: e.Hash, IntentID: intentID}
	env, err := bus.NewEnvelope("audit.appended/"+intentID, schema.EvtAuditAdded, bus.Audit, "", "", time.Now(), data)
	if err != nil {
		return
	}
	b, _ := json.Marshal(env)
	if _, err := s.js.PublishAsync(s.subj.Event(schema.EvtAuditAdded), b, jetstream.WithMsgID(env.ID)); err != nil {
		s.log.Warn("audit.appended publish failed", logkey.Err, err)
	}
}

func (s *Service) setDegraded(v bool) {
	s.waitMu.Lock()
	s.degraded = v
	s.waitMu.Unlock()
}

func (s *Service) degradedNow() bool {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	return s.degraded
}

// wake answers the barrier waiters of the appended rows.
func (s *Service) wake(rows []chain.Event) {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	for _, r := range rows {
		for _, ch := range s.waiters[r.IntentID] {
			ch <- r
		}
		delete(s.waiters, r.IntentID)
		delete(s.inHand, r.IntentID)
		if _, ok := s.recent[r.IntentID]; ok || r.IntentID == "" {
			continue
		}
		if len(s.recentIDs) < recentRows {
			s.recentIDs = append(s.recentIDs, r.IntentID)
		} else {
			delete(s.recent, s.recentIDs[s.recentAt])
			s.recentIDs[s.recentAt] = r.IntentID
			s.recentAt = (s.recentAt + 1) % recentRows
		}
		s.recent[r.IntentID] = r
	}
}

// nullable is a column's text as an event field: nil for NULL.
func nullable(t chain.Text) *string {
	if !t.Valid {
		return nil
	}
	return &t.String
}
