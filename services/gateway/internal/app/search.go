package app

import (
	"context"
	"encoding/json"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/gateway/internal/toolspec"
)

// mapSearch relays map_search to the indexer (S-10…S-15): attributed pointers, live-only by
// default, messages and vantages never included (INV-10).
func (a *App) mapSearch(ctx context.Context, args toolspec.Args, _ Session) (any, error) {
	limit := args.Int("limit")
	req := schema.SearchQuery{
		InstanceID: args.String("instance_id"), Query: args.String("query"), Scope: args.String("scope"),
		Type: args.String("type"), Limit: &limit,
		IncludeSuperseded: args.Bool("include_superseded"), IncludeWeak: args.Bool("include_weak"),
	}
	var res json.RawMessage
	err := a.be.Query(ctx, bus.Index, schema.QIndexSearch, req, &res)
	return res, err
}

// authorsOf is S-50 through the indexer.
func (a *App) authorsOf(ctx context.Context, path string) ([]string, error) {
	var ans schema.AuthorsAnswer
	err := a.be.Query(ctx, bus.Index, schema.QIndexAuthorsOf, schema.PathQuery{Path: path}, &ans)
	return ans.Authors, err
}

// authorsOfBody is S-52 through the indexer.
func (a *App) authorsOfBody(ctx context.Context, body string) ([]schema.AuthorPath, error) {
	var ans schema.BodyAuthorsAnswer
	err := a.be.Query(ctx, bus.Index, schema.QIndexAuthorsOfBody, schema.BodyQuery{Body: body}, &ans)
	return ans.Authors, err
}
