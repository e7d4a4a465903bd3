package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/spf13/cobra"
)

// serveHelp says what each service of `stasima serve` is (O-deploy-1).
var serveHelp = map[string]string{
	"capstore": "the git-backed store: commits, proposals, land (owns the repository alone)",
	"audit":    "the hash-chained audit log and its anchor",
	"airlock":  "the TOTP airlock that stages and lands proposals",
	"indexer":  "the map index and search",
	"gateway":  "the MCP and REST gateway (transport = \"http\")",
}

func newServeCmd() *cobra.Command {
	var f commonFlags
	var ops string
	cmd := &cobra.Command{
		Use:   "serve <service>",
		Short: "Run one service against an external bus (the compose deployment)",
		Long: `Run one service against the external bus the config file names (nats_url, nats_creds),
until interrupted; JSON logs on stderr. Services cannot tell this from ` + "`stasima up`" + `.`,
		Example: "  stasima serve capstore --config /etc/stasima/stasima.toml --ops 0.0.0.0:9464",
		Args:    cobra.ArbitraryArgs,
		RunE:    groupRun,
	}
	f.bind(cmd.PersistentFlags(), "HTTP bind address host:port (gateway)")
	cmd.PersistentFlags().StringVar(&ops, "ops", defaultOpsAddr, `address of /healthz, /readyz and /metrics ("" = off)`)
	for _, svc := range services {
		cmd.AddCommand(&cobra.Command{
			Use:   svc,
			Short: "Serve " + serveHelp[svc],
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return refuse(cmdServe(cmd.Context(), svc, f, ops, cmd.ErrOrStderr()))
			},
		})
	}
	return cmd
}

func cmdServe(ctx context.Context, svc string, f commonFlags, ops string, stderr io.Writer) error {
	cfg, err := loadConfig(f.data, f.config, f.http)
	if err != nil {
		return err
	}
	// JSON logs under serve: one object a line for the container runtime's collector.
	// Each service derives its own "svc" attribute.
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	n, err := serveOne(ctx, cfg, log, svc, serveOptions{ops: ops})
	if err != nil {
		return err
	}
	<-ctx.Done()
	// Graceful: the fx OnStop hooks drain the consumers (in-flight commands finish and ack)
	// and shut the HTTP server down; then the connection flushes.
	log.Info("stopping")
	err = n.stop(context.Background())
	log.Info("stopped")
	return err
}
