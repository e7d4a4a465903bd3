package busclient

import (
	"context"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/schema"
)

// Querier is the query half of a Client, as the gateway and the CLI hold it.
type Querier interface {
	Query(ctx context.Context, svc, name string, req, result any) error
}

var _ Querier = (*Client)(nil)

// AuditEvents reads the rows matching f from stasima.audit.q.events page by page, from
// f.AfterSeq up (or, with f.Desc, from f.BeforeSeq down), and stops after max rows when max is
// positive. Every page stays under the bus's payload limit, so the whole answer may not: pass
// max where only the newest or first few rows matter.
func AuditEvents(ctx context.Context, q Querier, f schema.AuditFilter, max int) ([]schema.AuditRow, error) {
	var out []schema.AuditRow
	for {
		if max > 0 {
			f.Limit = min(max-len(out), schema.AuditPageMax)
		}
		var page schema.AuditRows
		if err := q.Query(ctx, bus.Audit, schema.QAuditEvents, f, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Rows...)
		if page.Next == 0 || (max > 0 && len(out) >= max) {
			return out, nil
		}
		if f.Desc {
			f.BeforeSeq = page.Next
		} else {
			f.AfterSeq = page.Next
		}
	}
}
