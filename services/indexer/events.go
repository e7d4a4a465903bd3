package indexer

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/logkey"
)

// CmdReindex is the full rebuild command (stasima.index.cmd.reindex, S-34).
const CmdReindex = "reindex"

// ReindexResult is the reply of the reindex command.
type ReindexResult struct {
	Reindexed int `json:"reindexed"`
}

// event applies one git event in stream order, then acks and advances the watermark. An event
// at or below the watermark was applied already and is only acked (S-32). A failure to reach
// capstore or the store is retried after RetryEvery (the consumer holds the next events back);
// an undecodable event is terminated, never retried forever.
func (s *Service) event(msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		s.log.Error("event without metadata", logkey.Subject, msg.Subject(), logkey.Err, err)
		_ = msg.TermWithReason("no metadata")
		return
	}
	seq := md.Sequence.Stream
	if seq <= s.mark.get() {
		_ = msg.Ack()
		return
	}
	env, err := bus.DecodeEnvelope(msg.Data())
	if err != nil {
		s.log.Error("event undecodable", logkey.Subject, msg.Subject(), logkey.Err, err)
		_ = msg.TermWithReason("undecodable envelope")
		s.mark.advance(seq)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.AckWait)
	defer cancel()
	n, err := s.apply(ctx, seq, env)
	switch {
	case errors.Is(err, errUnknownEvent):
		// Another git event (git.tag, …): nothing to index.
	case fault.ClassOf(err) == fault.ArgumentError:
		s.log.Error("event refused", logkey.Subject, msg.Subject(), "stream_seq", seq, logkey.Err, err)
		_ = msg.TermWithReason("invalid event")
		s.mark.advance(seq)
		return
	case err != nil:
		s.log.Warn("event not applied; retrying", logkey.Subject, msg.Subject(), "stream_seq", seq, logkey.Err, err)
		_ = msg.NakWithDelay(s.cfg.RetryEvery)
		return
	default:
		s.log.Debug("event applied", logkey.Subject, msg.Subject(), "stream_seq", seq, "rows", n)
	}
	if err := msg.Ack(); err != nil {
		s.log.Warn("ack failed", logkey.Err, err)
	}
	s.mark.advance(seq)
}

// command runs one index command and replies on its Stasima-Reply inbox, then acks (ARCH-12).
// Reindex is safe to redeliver: it rebuilds the same index from git.
func (s *Service) command(msg jetstream.Msg) {
	verb := msg.Subject()[strings.LastIndexByte(msg.Subject(), '.')+1:]
	var res any
	_, err := bus.DecodeEnvelope(msg.Data())
	if err == nil {
		switch verb {
		case CmdReindex:
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.AckWait)
			var n int
			n, err = s.Reindex(ctx)
			cancel()
			res = ReindexResult{Reindexed: n}
		default:
			err = fault.E("index.cmd", fault.ArgumentError, "unknown index command %q", verb)
		}
	}
	if err != nil {
		s.log.Warn("command failed", logkey.Subject, msg.Subject(), logkey.Err, err)
	}
	if err := bus.Finish(s.nc, msg, bus.CommandReply(res, err, nil, 0)); err != nil {
		s.log.Warn("reply or ack failed", logkey.Err, err)
	}
}

func decodeData(env bus.Envelope, v any) error {
	if err := json.Unmarshal(env.Data, v); err != nil {
		return fault.Wrap("index.event", fault.ArgumentError, err, "undecodable %s data", env.Type)
	}
	return nil
}
