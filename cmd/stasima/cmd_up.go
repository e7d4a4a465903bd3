package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// commonFlags are the flags every process command shares: where the deployment lives.
type commonFlags struct {
	data, config, http string
}

// bind declares --data and --config (and --http when httpUsage is set) on fs.
func (f *commonFlags) bind(fs *pflag.FlagSet, httpUsage string) {
	fs.StringVar(&f.data, "data", "", "data directory (default ./stasima-data; env STASIMA_DATA)")
	fs.StringVar(&f.config, "config", "", "config file, flat TOML (env STASIMA_CONFIG; keys: stasima config --help)")
	if httpUsage != "" {
		fs.StringVar(&f.http, "http", "", httpUsage)
	}
}

func newUpCmd() *cobra.Command {
	var f commonFlags
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run every service in one process on an embedded NATS JetStream server",
		Long: `Run every service in one process on an embedded NATS JetStream server, serving MCP
(streamable HTTP) and the REST mirror on --http, until interrupted (Ctrl-C, SIGTERM).`,
		Example: "  stasima up --data ./stasima-data --http 127.0.0.1:8787",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return refuse(cmdUp(cmd.Context(), f, cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	}
	f.bind(cmd.Flags(), "HTTP bind address host:port (default 127.0.0.1:8787; port 0 = chosen at start)")
	return cmd
}

func cmdUp(ctx context.Context, f commonFlags, stdout, stderr io.Writer) error {
	cfg, err := loadUpConfig(f.data, f.config, f.http)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	n, err := startNode(ctx, cfg, log, nodeOptions{gateway: true, record: true})
	if err != nil {
		return err
	}
	url := "http://" + n.gw.Addr() + "/mcp"
	if cfg.HTTPPublicURL != "" {
		// The OAuth door is armed (identity.md §5): clients come in through the public URL
		// (the Host allowlist refuses the bare loopback address), with OAuth.
		url = strings.TrimRight(cfg.HTTPPublicURL, "/") + "/mcp"
	}
	fmt.Fprintf(stdout, `Stasima is up.
  MCP (streamable HTTP): %s
  REST mirror:           http://%s/api/v1/tools
  data dir:              %s
  bus:                   %s

Connect an MCP client, e.g.:
  claude mcp add --transport http stasima %s
or in a client's JSON config: {"mcpServers": {"stasima": {"type": "http", "url": "%s"}}}
Ctrl-C stops.
`, url, n.gw.Addr(), cfg.DataDir, n.nc.ConnectedUrl(), url, url)
	<-ctx.Done()
	log.Info("stopping")
	return n.stop(context.Background())
}
