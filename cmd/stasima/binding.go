package main

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/schema"
)

// bindingTrailLen is O-binding-1's trail length.
const bindingTrailLen = 12

type bindingShowResult struct {
	Ports map[string]schema.PortBinding `json:"ports"`
	Trail []schema.AuditRow             `json:"trail"`
}

// bindingShow is O-binding-1: the port table (U-17) and the last session_binding and
// port_binding rows by seq.
func bindingShow(ctx context.Context, c *busclient.Client) (any, error) {
	var table map[string]schema.PortBinding
	if err := c.Query(ctx, bus.Audit, schema.QAuditPortBindings, nil, &table); err != nil {
		return nil, err
	}
	if table == nil {
		table = map[string]schema.PortBinding{}
	}
	trail := []schema.AuditRow{}
	for _, op := range []string{"session_binding", "port_binding"} {
		rows, err := busclient.AuditEvents(ctx, c, schema.AuditFilter{Op: &op, Desc: true}, bindingTrailLen)
		if err != nil {
			return nil, err
		}
		trail = append(trail, rows...)
	}
	sort.Slice(trail, func(i, j int) bool { return trail[i].Seq < trail[j].Seq })
	if len(trail) > bindingTrailLen {
		trail = trail[len(trail)-bindingTrailLen:]
	}
	return bindingShowResult{Ports: table, Trail: trail}, nil
}

type bindingClearResult struct {
	Cleared string  `json:"cleared"`
	Was     *string `json:"was"`
	Note    string  `json:"note"`
}

// bindingClear is O-binding-2: it appends a port_binding clear row (actor: the first sorted
// approver; a CLI row, so no session tag, U-20). History is kept; the port learns again on its
// next identity-claiming write once its gateway restarts without a restored name.
func bindingClear(ctx context.Context, c *busclient.Client, cfg Config, port string) (any, error) {
	var table map[string]schema.PortBinding
	if err := c.Query(ctx, bus.Audit, schema.QAuditPortBindings, nil, &table); err != nil {
		return nil, err
	}
	var was *string
	if pb, ok := table[port]; ok {
		was = pb.Instance
	}
	approvers := append([]string(nil), cfg.Approvers...)
	sort.Strings(approvers)
	actor := "practitioner"
	if len(approvers) > 0 {
		actor = approvers[0]
	}
	in := schema.AuditIntent{ID: "cli/binding-clear/" + ulidString(), Actor: actor, Op: "port_binding", Outcome: "ok",
		Detail: schema.Detail("port", port, "action", "clear", "was", was)}
	if err := c.PublishIntents(ctx, []schema.AuditIntent{in}); err != nil {
		return nil, err
	}
	// The row is the act: answer only once it is in the chain (ARCH-6).
	var ans schema.AwaitAnswer
	if err := c.Query(ctx, bus.Audit, schema.QAuditAwait, schema.AwaitQuery{IDs: []string{in.ID}, TimeoutMS: int((30 * time.Second).Milliseconds())}, &ans); err != nil {
		return nil, fmt.Errorf("the clear row for port %q was published but not confirmed appended: %w", port, err)
	}
	return bindingClearResult{Cleared: port, Was: was,
		Note: "Cleared. The history is kept; restart the gateway of this port (STASIMA_PORT=" + port +
			") and its next identity-claiming write learns the binding again."}, nil
}
