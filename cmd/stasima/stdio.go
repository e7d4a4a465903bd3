package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/services/gateway"
)

// upLogFile receives the output of a `stasima up` that `stasima stdio` started.
const upLogFile = "stasima-up.log"

// stdioStartWait bounds the wait for a started backend to answer.
const stdioStartWait = 90 * time.Second

// cmdStdio is `stasima stdio` (identity.md I-52, D-22, O-deploy-1): one MCP gateway for the
// spawning client over stdin/stdout, joined to the running backend of the data dir over the
// bus — started detached with `stasima up` when none answers. stdout carries MCP frames only;
// every log line goes to stderr.
func cmdStdio(ctx context.Context, f commonFlags, stderr io.Writer) error {
	// The spawning client, taken first: a client that dies during start-up is still seen.
	parent := os.Getppid()
	cfg, err := loadConfig(f.data, f.config, "")
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go watchParent(ctx, cancel, parent, log)
	nc, err := stdioBackend(ctx, cfg, f, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	return gateway.ServeStdio(ctx, cfg.gateway(), log, nc, js, os.Stdin, os.Stdout)
}

// watchParent ends the gateway when the spawning client disappears (I-52: checked at least
// every 2 s), so a crashed client never leaves an orphan.
func watchParent(ctx context.Context, cancel context.CancelFunc, parent int, log *slog.Logger) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if os.Getppid() != parent {
				log.Info("parent process gone; stopping", "parent", parent)
				cancel()
				return
			}
		}
	}
}

// stdioBackend connects to the deployment's bus: the external one (nats_url), or the one a
// running `stasima up` recorded in the data dir, starting that process when none runs.
func stdioBackend(ctx context.Context, cfg Config, f commonFlags, log *slog.Logger) (*nats.Conn, error) {
	if cfg.NATSURL != "" {
		auth, err := busAuth(cfg.NATSCreds, bus.UserGateway)
		if err != nil {
			return nil, err
		}
		subj, err := bus.NewSubjects(cfg.BusPrefix)
		if err != nil {
			return nil, err
		}
		nc, err := nats.Connect(cfg.NATSURL, append(append(busOptions(subj, bus.UserGateway), auth...), nats.Name("stasima-stdio"), nats.MaxReconnects(-1))...)
		if err != nil {
			return nil, fmt.Errorf("connect bus %s: %w", cfg.NATSURL, err)
		}
		return nc, nil
	}
	nc, err := dialRecorded(cfg)
	if err == nil {
		return nc, nil
	}
	var exited chan error
	lock, free, lerr := acquireLock(cfg.DataDir)
	if lerr != nil {
		return nil, lerr
	}
	if free {
		// Nobody owns the data dir: start the backend (D-22: this process never opens git or
		// the audit DB itself). Release the probe first so the child can take the lock.
		lock.Close()
		if exited, err = spawnUp(cfg, f, log); err != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(stdioStartWait)
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	for {
		if nc, err = dialRecorded(cfg); err == nil {
			return nc, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no stasima backend answered for %s within %v (see %s): %w",
				cfg.DataDir, stdioStartWait, filepath.Join(cfg.DataDir, upLogFile), err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case werr := <-exited:
			return nil, fmt.Errorf("the stasima up started for %s exited (%v); see %s", cfg.DataDir, werr, filepath.Join(cfg.DataDir, upLogFile))
		case <-poll.C:
		}
	}
}

// dialRecorded connects to the bus recorded in <data>/bus-gateway.json with the gateway's own
// credentials (ARCH-11): the process an agent's client spawns never reads the admin's.
func dialRecorded(cfg Config) (*nats.Conn, error) {
	rec, err := readBusRecord(filepath.Join(cfg.DataDir, gatewayBusFile))
	if err != nil {
		return nil, err
	}
	subj, err := bus.NewSubjects(cfg.BusPrefix)
	if err != nil {
		return nil, err
	}
	opts := append(busOptions(subj, bus.UserGateway), nats.Name("stasima-stdio"), nats.Timeout(2*time.Second), nats.MaxReconnects(-1))
	if rec.User != "" {
		opts = append(opts, nats.UserInfo(rec.User, rec.Password))
	}
	nc, err := nats.Connect(rec.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect bus %s: %w", rec.URL, err)
	}
	return nc, nil
}

// spawnUp starts `stasima up` for the data dir detached: its own process group (a signal to
// the client's group does not reach it), stdin from /dev/null, output appended to a log file
// in the data dir. The returned channel yields once if it exits.
func spawnUp(cfg Config, f commonFlags, log *slog.Logger) (chan error, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	data, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	args := []string{"up", "--data", data}
	if f.config != "" {
		c, err := filepath.Abs(f.config)
		if err != nil {
			return nil, err
		}
		args = append(args, "--config", c)
	}
	out, err := os.OpenFile(filepath.Join(data, upLogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start stasima up: %w", err)
	}
	out.Close()
	log.Info("started stasima up", "pid", cmd.Process.Pid, "log", filepath.Join(data, upLogFile))
	exited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		if err == nil {
			err = errors.New("exit status 0")
		}
		exited <- err
	}()
	return exited, nil
}
