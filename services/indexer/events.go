package indexer

import (
	"context"
	"encoding/json"
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

// command runs one index command and replies on its Stasima-Reply inbox, then acks (ARCH-12).
// Reindex is safe to redeliver: it rebuilds the same index from git.
func (s *Service) command(msg jetstream.Msg) {
	verb := msg.Subject()[strings.LastIndexByte(msg.Subject(), '.')+1:]
	tctx, handling := s.tel.Command(bus.Index, msg)
	var res any
	_, err := bus.DecodeEnvelope(msg.Data())
	if err == nil {
		switch verb {
		case CmdReindex:
			ctx, cancel := context.WithTimeout(tctx, s.cfg.AckWait)
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
	handling.Done(err)
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
