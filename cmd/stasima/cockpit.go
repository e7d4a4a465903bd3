package main

import (
	"context"
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
func cmdCockpit(ctx context.Context, cfg Config, addr string, open bool, stdout, stderr io.Writer) error {
	ln, err := cockpit.Listen(addr)
	if err != nil {
		return err
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
		if open {
			openBrowser(u)
		}
		return nil, srv.Serve(ctx, ln)
	})
	return err
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
