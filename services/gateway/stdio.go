package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/logkey"
	"github.com/stasima/stasima/services/gateway/internal/app"
	"github.com/stasima/stasima/services/gateway/internal/mcpserver"
)

// ServeStdio runs one gateway — the same tool App as /mcp — for one client over r and w
// (identity.md I-52, D-22): the process has exactly one MCP session (I-6). It connects to the
// backend only through the bus (it never opens git or the audit DB) and returns when the client
// closes r (EOF) or ctx ends. Nothing but MCP frames is written to w; logs go to log.
func ServeStdio(ctx context.Context, cfg Config, log *slog.Logger, nc *nats.Conn, js jetstream.JetStream, r io.ReadCloser, w io.WriteCloser) error {
	if _, ok := app.NormalizeMode(cfg.BindingMode); !ok { // I-3
		return fmt.Errorf("gateway: binding mode %q: must be one of strict|witness|off", cfg.BindingMode)
	}
	subj, err := bus.NewSubjects(cfg.BusPrefix)
	if err != nil {
		return err
	}
	log = log.With(logkey.Svc, bus.Gateway, "transport", "stdio")
	client := busclient.New(nc, js, subj, bus.Gateway, cfg.ToolTimeout).WithAuditBarrier(cfg.AuditBarrier, log).WithIndexBarrier(cfg.IndexBarrier)
	if err := client.Start(); err != nil {
		return err
	}
	defer client.Stop()
	a := app.New(client, cfg.appConfig(), log)
	if err := a.StartBinding(ctx); err != nil {
		return err
	}
	log.Info("stdio gateway serving")
	err = mcpserver.New(a, log, 0).Run(ctx, &mcp.IOTransport{Reader: r, Writer: w})
	if ctx.Err() != nil {
		return nil
	}
	return err
}
