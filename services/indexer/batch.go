package indexer

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/logkey"
	"github.com/stasima/stasima/pkg/telemetry"
)

// eventBatch is the most git events applied together: the events consumer's MaxAckPending and
// pull batch, so whatever arrived while one batch was applied is the next one.
const eventBatch = 128

// deriveWorkers bounds the events of one batch derived at once (their capstore reads overlap).
const deriveWorkers = 8

// enqueue is the events consumer's handler: it hands each delivered event, in delivery order,
// to the applier. Once the service stops, events are left unacknowledged for the next run.
func (s *Service) enqueue(msg jetstream.Msg) {
	select {
	case <-s.quit:
		return
	default:
	}
	select {
	case s.inbox <- msg:
	case <-s.quit:
	}
}

// applier is the one goroutine that applies events (ARCH-4): it takes the events waiting (at
// least one, at most eventBatch) and applies them as one batch, until the service stops.
func (s *Service) applier() {
	defer close(s.applied)
	for {
		var batch []jetstream.Msg
		select {
		case m := <-s.inbox:
			batch = append(batch, m)
		case <-s.quit:
			return
		}
	fill:
		for len(batch) < eventBatch {
			select {
			case m := <-s.inbox:
				batch = append(batch, m)
			default:
				break fill
			}
		}
		// A panic applying the batch is retried like a failure: the events applied before it
		// are at or below the watermark and only acknowledged again (S-32); the process lives.
		for s.guard().Call("apply", func() error { s.handle(batch); return nil }) != nil {
			for _, m := range batch {
				_ = m.InProgress()
			}
			select {
			case <-time.After(s.cfg.RetryEvery):
			case <-s.quit:
				return
			}
		}
	}
}

// handle applies msgs, consecutive events in stream order. When an event cannot be applied
// for now (capstore or the store unavailable), the events before it stay applied and it and
// the later ones are retried after RetryEvery, in order, until they apply or the service stops
// (then they are redelivered to the next run from the consumer's ack floor).
func (s *Service) handle(msgs []jetstream.Msg) {
	for len(msgs) > 0 {
		n := s.applyBatch(msgs)
		if msgs = msgs[n:]; len(msgs) == 0 {
			return
		}
		for _, m := range msgs {
			_ = m.InProgress() // held back, not lost: no redelivery while retrying
		}
		select {
		case <-time.After(s.cfg.RetryEvery):
		case <-s.quit:
			return
		}
	}
}

// pending is one delivered event of a batch.
type pending struct {
	msg      jetstream.Msg
	handling *telemetry.Handling
	ctx      context.Context
	seq      uint64
	env      bus.Envelope
	// skip: nothing to apply (applied already, not indexed, or terminated with reason term).
	skip bool
	term string
	// why is the error of a terminated event, logged once when it is terminated.
	why  error
	unit eventRows
	err  error
}

// applyBatch applies msgs in stream order and returns how many of them, from the front, are
// done: their rows written in one store transaction (a bootstrap's full reindex is one of its
// own), then each acknowledged and the watermark advanced to the last. An event at or below
// the watermark was applied already and is only acknowledged (S-32); an undecodable or invalid
// event is terminated, never retried. The events are derived concurrently (their capstore
// reads overlap) and written in order; when one cannot be applied for now, the events before
// it are written and acknowledged and the count stops at it.
func (s *Service) applyBatch(msgs []jetstream.Msg) int {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.AckWait)
	defer cancel()
	ps := make([]*pending, len(msgs))
	last := s.mark.get()
	for i, msg := range msgs {
		p := &pending{msg: msg}
		ps[i] = p
		var tctx context.Context
		tctx, p.handling = s.tel.Consume(EventsConsumer, msg)
		var pcancel context.CancelFunc
		p.ctx, pcancel = context.WithTimeout(tctx, s.cfg.AckWait)
		defer pcancel()
		md, err := msg.Metadata()
		if err != nil {
			p.skip, p.term, p.why = true, "no metadata", err
			continue
		}
		p.seq = md.Sequence.Stream
		if p.seq <= last { // applied already, or a redelivered copy of an event of this batch
			p.skip = true
			continue
		}
		last = p.seq
		if p.env, err = bus.DecodeEnvelope(msg.Data()); err != nil {
			p.skip, p.term, p.why = true, "undecodable envelope", err
		}
	}
	parallel(len(ps), deriveWorkers, func(i int) {
		if p := ps[i]; !p.skip {
			// A panic deriving one event is an Internal error: the event is retried in place
			// like any failure, the process lives on.
			p.err = s.guard().Call("derive", func() (err error) {
				p.unit, err = s.derive(p.ctx, p.seq, p.env)
				return err
			})
		}
	})

	w := s.newBatchWriter()
	done := 0 // ps[:done] are acknowledged
	// commit writes the rows gathered so far, then acknowledges ps[done:upTo].
	commit := func(upTo int) error {
		if _, err := w.flush(ctx); err != nil {
			return err
		}
		for _, p := range ps[done:upTo] {
			s.finish(p)
		}
		done = upTo
		return nil
	}
	// fail ends the batch at ps[at], not applied for now (err): it and the rest are retried.
	fail := func(at int, err error) int {
		p := ps[at]
		s.log.Warn("event not applied; retrying", logkey.Subject, p.msg.Subject(), "stream_seq", p.seq, logkey.Err, err)
		for _, q := range ps[at:] {
			q.handling.Done(err)
		}
		return at
	}
	// stop ends the batch at ps[at], which failed with err, committing what comes before it.
	stop := func(at int, err error) int {
		if cerr := commit(at); cerr != nil {
			return fail(done, cerr)
		}
		return fail(at, err)
	}
	for i, p := range ps {
		switch {
		case p.skip:
			continue
		case errors.Is(p.err, errUnknownEvent):
			p.skip, p.err = true, nil // another git event (git.tag, …): nothing to index
			continue
		case fault.ClassOf(p.err) == fault.ArgumentError:
			p.skip, p.term, p.why = true, "invalid event", p.err
			continue
		case p.err != nil:
			return stop(i, p.err)
		}
		if p.unit.kind == unitBootstrap {
			// The rebuild is a transaction of its own: what comes before it is written first.
			if err := commit(i); err != nil {
				return fail(done, err)
			}
		}
		if _, err := w.add(p.ctx, p.unit); err != nil {
			return stop(i, err)
		}
	}
	if err := commit(len(ps)); err != nil {
		return fail(done, err)
	}
	return len(ps)
}

// finish acknowledges (or terminates) one done event, ends its handling and advances the
// watermark to it.
func (s *Service) finish(p *pending) {
	var err error
	if p.term != "" {
		s.guard().Refuse(p.msg, p.term, p.why)
	} else {
		err = p.msg.Ack()
		if !p.skip {
			s.log.Debug("event applied", logkey.Subject, p.msg.Subject(), "stream_seq", p.seq, "kind", p.unit.kind)
		}
	}
	if err != nil {
		s.log.Warn("ack failed", logkey.Err, err)
	}
	p.handling.Done(p.err)
	s.mark.advance(p.seq)
}

// guard is the applier's panic recovery and term policy (the bus kit's).
func (s *Service) guard() bus.Guard { return bus.Guard{Service: bus.Index, Log: s.log, Tel: s.tel} }

// parallel runs fn(0) … fn(n-1) on at most workers goroutines and waits for them.
func parallel(n, workers int, fn func(i int)) {
	if n <= 1 || workers <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(n, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}
