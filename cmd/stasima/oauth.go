package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/schema"
)

// oauthCommand is `stasima admin oauth pending | approve <txn> --confirm <name>` (O-oauth-1):
// the console channel of the OAuth door, over the gateway's admin-only subjects (I-66). It
// needs the running gateway: pending approvals live in the door a browser is polling.
func oauthCommand(args []string, stderr io.Writer) (func(context.Context, *busclient.Client) (any, error), bool) {
	usage := func() (func(context.Context, *busclient.Client) (any, error), bool) {
		fmt.Fprintf(stderr, "usage: stasima admin oauth pending | approve <txn> --confirm <client name>\n")
		return nil, false
	}
	if len(args) == 0 {
		return usage()
	}
	switch args[0] {
	case "pending":
		if len(args) != 1 {
			return usage()
		}
		return func(ctx context.Context, c *busclient.Client) (any, error) {
			var res schema.OAuthPending
			return res, gatewayErr(c.Query(ctx, bus.Gateway, schema.QOAuthPending, nil, &res))
		}, true
	case "approve":
		fs := flag.NewFlagSet("oauth approve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		confirm := fs.String("confirm", "", "the client's name as `oauth pending` shows it")
		// The txn may come before or after the flag.
		rest := args[1:]
		var txn string
		if len(rest) > 0 && len(rest[0]) > 0 && rest[0][0] != '-' {
			txn, rest = rest[0], rest[1:]
		}
		if err := fs.Parse(rest); err != nil {
			return usage()
		}
		if txn == "" && fs.NArg() == 1 {
			txn = fs.Arg(0)
		} else if fs.NArg() != 0 {
			return usage()
		}
		if txn == "" || *confirm == "" {
			return usage()
		}
		return func(ctx context.Context, c *busclient.Client) (any, error) {
			var res schema.OAuthGranted
			err := c.Call(ctx, bus.Gateway, schema.CmdOAuthConsoleGrant, schema.OAuthConsoleGrant{Txn: txn, Confirm: *confirm}, &res)
			return res, gatewayErr(err)
		}, true
	}
	return usage()
}

// gatewayErr explains a silent bus: only a running gateway with the door armed answers.
func gatewayErr(err error) error {
	if fault.Is(err, fault.BackendUnavailable) {
		return fmt.Errorf("%w (is `stasima up` running with http_public_url set? the OAuth door lives in the gateway)", err)
	}
	return err
}
