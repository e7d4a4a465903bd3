package door

import (
	"context"
	"time"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/schema"
)

const consoleWait = 10 * time.Second

// consoleQueries answers the console's admin-only subjects (I-66, O-oauth-1):
// stasima.gateway.q.oauth_pending, pending approvals oldest first, and
// stasima.gateway.cmd.oauth_console_grant.
func (d *Door) consoleQueries() bus.Queries {
	return bus.Queries{
		schema.QOAuthPending: func(ctx context.Context, _ bus.Request) (any, error) { return d.Pending(ctx) },
		schema.CmdOAuthConsoleGrant: bus.Query(func(ctx context.Context, req schema.OAuthConsoleGrant) (schema.OAuthGranted, error) {
			return d.ConsoleGrant(ctx, req.Txn, req.Confirm)
		}),
	}
}

// Pending lists the pending approvals (O-oauth-1).
func (d *Door) Pending(ctx context.Context) (schema.OAuthPending, error) {
	out := schema.OAuthPending{Pending: []schema.OAuthPendingTxn{}}
	st, err := d.st()
	if err != nil {
		return out, fault.Wrap("gateway.oauth_pending", fault.BackendUnavailable, err, "the oauth store is closed")
	}
	now := d.now()
	ts, err := st.Pending(ctx, now.Add(-TxnTTL))
	if err != nil {
		return out, err
	}
	for _, t := range ts {
		name := ""
		if c, err := st.Client(ctx, t.ClientID); err != nil {
			return out, err
		} else if c != nil {
			name = c.Name
		}
		out.Pending = append(out.Pending, schema.OAuthPendingTxn{Txn: t.ID, ClientID: t.ClientID, ClientName: name,
			AgeS: int64(now.Sub(t.Created) / time.Second)})
	}
	return out, nil
}

// ConsoleGrant approves txn from the console when confirm names its client (the client's name,
// or its id when unnamed); otherwise nothing is approved (O-oauth-1). The grant appends
// oauth_approve {client_id, channel:"console"} (I-66).
func (d *Door) ConsoleGrant(ctx context.Context, txn, confirm string) (schema.OAuthGranted, error) {
	const op = "gateway.oauth_console_grant"
	st, err := d.st()
	if err != nil {
		return schema.OAuthGranted{}, fault.Wrap(op, fault.BackendUnavailable, err, "the oauth store is closed")
	}
	t, err := d.pending(ctx, st, txn)
	if err != nil {
		return schema.OAuthGranted{}, err
	}
	if t == nil {
		return schema.OAuthGranted{}, fault.E(op, fault.ArgumentError, "no pending approval %q (expired or unknown; see oauth pending)", txn)
	}
	c, err := st.Client(ctx, t.ClientID)
	if err != nil {
		return schema.OAuthGranted{}, err
	}
	if c == nil {
		c = &Client{ID: t.ClientID}
	}
	want := c.Name
	if want == "" {
		want = c.ID
	}
	if confirm != want {
		return schema.OAuthGranted{}, fault.E(op, fault.ArgumentError,
			"--confirm %q does not match the client's name %q: nothing approved", confirm, want)
	}
	res := schema.OAuthGranted{Approved: t.ID, ClientID: c.ID, ClientName: c.Name, Channel: "console"}
	if t.Redirect != "" {
		return res, nil
	}
	_, fresh, err := d.grant(ctx, st, t)
	if err != nil {
		return schema.OAuthGranted{}, err
	}
	if fresh {
		d.audit(ctx, schema.AuditIntent{Actor: "practitioner", Op: "oauth_approve",
			Detail: schema.Detail("client_id", c.ID, "channel", "console")})
		d.log.Info("oauth door approved", "client_id", c.ID, "channel", "console")
	}
	return res, nil
}
