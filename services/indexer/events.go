package indexer

import (
	"context"
	"encoding/json"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/logkey"
	"github.com/stasima/stasima/pkg/schema"
)

// commands is the index command table (stasima.index.cmd.<verb>): each is replied, failed or
// not, then acked (ARCH-12). Reindex is safe to redeliver: it rebuilds the same index from git.
func (s *Service) commands() bus.Handlers {
	return bus.Handlers{
		schema.CmdIndexReindex: func(ctx context.Context, _ bus.Command) bus.Answer {
			n, err := s.Reindex(ctx)
			if err != nil {
				s.log.Warn("reindex failed", logkey.Err, err)
			}
			return bus.AnswerOf(schema.ReindexResult{Reindexed: n}, err)
		},
	}
}

func decodeData(env bus.Envelope, v any) error {
	if err := json.Unmarshal(env.Data, v); err != nil {
		return fault.Wrap("index.event", fault.ArgumentError, err, "undecodable %s data", env.Type)
	}
	return nil
}
