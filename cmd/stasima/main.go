// Command stasima is Stasima's one binary: `up` runs every service in one process on an embedded
// NATS JetStream server; `serve <service>` runs one service against an external bus; `admin …`
// is the practitioner's CLI.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const usage = `usage:
  stasima up [--data DIR] [--http HOST:PORT] [--config FILE]
  stasima serve <capstore|audit|airlock|indexer|gateway> [--data DIR] [--config FILE] [--ops HOST:PORT]
  stasima health [--addr HOST:PORT]     probe a serve process's /healthz (default 127.0.0.1:9464)
  stasima stdio [--data DIR] [--config FILE]   one MCP gateway on stdin/stdout (starts up when none runs)
  stasima admin [--data DIR | --config FILE] <command> ...
      commands: status, bootstrap <dir>, preview <id>, land <id> [--by X], proposals, close <id> <reason>,
                verify, anchor, reconcile, restore-audit <file>, reindex,
                backup <dest>, mirror [--stage DIR] <url>, restore <backup-dir>, inbox [--all] [--read PATH],
                totp-provision [--force] [--qr] [--land], totp-check <code>, watch [--json], binding [--clear PORT],
                cockpit [--http 127.0.0.1:8788] [--open],
                oauth pending, oauth approve <txn> --confirm <client name>,
                checkpoint, prove <seq>, prove --from <checkpoint-file>
  stasima verify-proof --key <verifier> [--checkpoint FILE] <file>   check a checkpoint or proof offline
  stasima witness --key FILE --log-key <verifier> --state DIR [--proof FILE] <checkpoint-file>
environment: STASIMA_DATA, STASIMA_CONFIG; file overrides (operations §8.1): STASIMA_GIT_DIR,
  STASIMA_APPROVERS, STASIMA_CANON_REF, STASIMA_MAP_DB, STASIMA_AUDIT_DB, STASIMA_EMBED_URL,
  STASIMA_EMBED_MODEL, STASIMA_EMBED_DIM, STASIMA_BINDING; session binding of a gateway
  (identity.md I-1): STASIMA_INSTANCE (pinned seat) or STASIMA_PORT (port-durable token)
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks a usage error (exit 2, O-cli-2).
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "up":
		err = cmdUp(ctx, args[1:], stdout, stderr)
	case "serve":
		err = cmdServe(ctx, args[1:], stderr)
	case "admin":
		return cmdAdmin(ctx, args[1:], stdout, stderr)
	case "stdio":
		err = cmdStdio(ctx, args[1:], stderr)
	case "health":
		err = cmdHealth(ctx, args[1:], stdout)
	case "verify-proof":
		err = cmdVerifyProof(args[1:], stdout)
	case "witness":
		err = cmdWitness(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		err = fmt.Errorf("%w: unknown command %q", errUsage, args[0])
	}
	if errors.Is(err, errUsage) {
		fmt.Fprintf(stderr, "%v\n%s", err, usage)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "stasima:", err)
		return 1
	}
	return 0
}

type commonFlags struct {
	data, config, http string
}

func parseFlags(name string, args []string, withHTTP bool) (commonFlags, []string, error) {
	var f commonFlags
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.data, "data", "", "data directory (default ./stasima-data)")
	fs.StringVar(&f.config, "config", "", "config file (flat TOML)")
	if withHTTP {
		fs.StringVar(&f.http, "http", "", "HTTP bind address host:port")
	}
	if err := fs.Parse(args); err != nil {
		return f, nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return f, fs.Args(), nil
}

func cmdUp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, rest, err := parseFlags("up", args, true)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%w: unexpected arguments %v", errUsage, rest)
	}
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

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: serve needs a service name", errUsage)
	}
	svc := args[0]
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var f commonFlags
	fs.StringVar(&f.data, "data", "", "data directory (default ./stasima-data)")
	fs.StringVar(&f.config, "config", "", "config file (flat TOML)")
	fs.StringVar(&f.http, "http", "", "HTTP bind address host:port (gateway)")
	ops := fs.String("ops", defaultOpsAddr, "address of /healthz, /readyz and /metrics (\"\" = off)")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %v", errUsage, fs.Args())
	}
	cfg, err := loadConfig(f.data, f.config, f.http)
	if err != nil {
		return err
	}
	// JSON logs under serve: one object a line for the container runtime's collector.
	// Each service derives its own "svc" attribute.
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	n, err := serveOne(ctx, cfg, log, svc, serveOptions{ops: *ops})
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
