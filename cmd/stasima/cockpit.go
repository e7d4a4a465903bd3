package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"runtime"

	"github.com/stasima/stasima/cmd/stasima/internal/cockpit"
	"github.com/stasima/stasima/pkg/busclient"
)

// defaultCockpitAddr is where `admin cockpit` listens unless --http says otherwise (loopback).
const defaultCockpitAddr = "127.0.0.1:8788"

// cmdCockpit is `stasima admin cockpit [--http ADDR] [--open]`: the practitioner's web page over
// the admin's bus connection, as every admin command reaches the deployment. It prints the
// start URL with its one-time token and serves until interrupted.
func cmdCockpit(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cockpit", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("http", defaultCockpitAddr, "loopback address to serve on")
	open := fs.Bool("open", false, "open the start URL in a browser")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		fmt.Fprintf(stderr, "usage: stasima admin cockpit [--http 127.0.0.1:8788] [--open]\n")
		return 2
	}
	ln, err := cockpit.Listen(*addr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer ln.Close()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	_, err = withBackend(ctx, cfg, func(c *busclient.Client) (any, error) {
		srv, err := cockpit.New(cockpit.Config{CanonRef: cfg.CanonRef, BusPrefix: cfg.BusPrefix, Approver: cfg.Approvers[0]}, c, log)
		if err != nil {
			return nil, err
		}
		u := srv.StartURL(ln.Addr())
		fmt.Fprintf(stdout, "Stasima cockpit: open %s\n(the token works once; Ctrl-C stops the cockpit)\n", u)
		if *open {
			openBrowser(u)
		}
		return nil, srv.Serve(ctx, ln)
	})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// openBrowser asks the desktop to open u; a failure only means the user copies the URL.
func openBrowser(u string) {
	name := "xdg-open"
	if runtime.GOOS == "darwin" {
		name = "open"
	}
	if cmd := exec.Command(name, u); cmd.Start() == nil {
		go cmd.Wait() //nolint:errcheck // the opener's exit status tells nothing we act on
	}
}
