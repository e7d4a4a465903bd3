package app

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/gateway/internal/toolspec"
)

// threadScry is T-thread_scry-1/2 (S-61, S-62).
func (a *App) threadScry(ctx context.Context, args toolspec.Args, _ Session) (any, error) {
	var res json.RawMessage
	tag := args.String("thread")
	if tag == "" {
		err := a.be.Query(ctx, bus.Index, schema.QIndexThreads, nil, &res)
		return res, err
	}
	err := a.be.Query(ctx, bus.Index, schema.QIndexThreadEntries,
		schema.ThreadQuery{Thread: tag, Limit: args.Int("limit"), Offset: args.Int("offset")}, &res)
	return res, err
}

// argScry is T-arg_scry-1/2 (S-70, S-71): a term is the last "/"-segment, ".md" removed.
func (a *App) argScry(ctx context.Context, args toolspec.Args, _ Session) (any, error) {
	var res json.RawMessage
	term := args.String("term")
	if term == "" {
		err := a.be.Query(ctx, bus.Index, schema.QIndexArgTerms, nil, &res)
		return res, err
	}
	term = strings.TrimSuffix(term[strings.LastIndexByte(term, '/')+1:], ".md")
	err := a.be.Query(ctx, bus.Index, schema.QIndexArgDefinitions, schema.TermQuery{Term: term}, &res)
	return res, err
}

// perfScry is capstore's storage ledger (D-23, T-perf_scry-1).
func (a *App) perfScry(ctx context.Context, _ toolspec.Args, _ Session) (any, error) {
	var res schema.PerfAnswer
	err := a.be.Query(ctx, bus.Capstore, schema.QPerf, nil, &res)
	return res, err
}
