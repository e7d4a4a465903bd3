package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stasima/stasima/services/gateway"
)

// defaultOpsAddr is where a `serve` process answers /healthz, /readyz, /metrics and
// /debug/pprof/. Each
// container has its own loopback, so every service uses the same default; the compose
// healthcheck runs `stasima health` inside the container.
const defaultOpsAddr = "127.0.0.1:9464"

// opsServer is one process's operations endpoint.
type opsServer struct {
	srv     *http.Server
	ln      net.Listener
	started atomic.Bool // the fx graph started (its OnStart hooks ran)
	done    chan struct{}
}

// startOps listens on addr and serves in a goroutine owned by the returned server; close
// stops it. /healthz is liveness (the process answers), /readyz readiness (the services
// started and the bus connection is up).
func startOps(addr string, nc *nats.Conn, metrics http.Handler, log *slog.Logger) (*opsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ops listener %s: %w", addr, err)
	}
	o := &opsServer{ln: ln, done: make(chan struct{})}
	mux := http.NewServeMux()
	ready := func(w http.ResponseWriter, _ *http.Request) {
		switch {
		case !o.started.Load():
			http.Error(w, "starting", http.StatusServiceUnavailable)
		case !nc.IsConnected():
			http.Error(w, "bus "+nc.Status().String(), http.StatusServiceUnavailable)
		default:
			io.WriteString(w, "ok\n")
		}
	}
	mux.HandleFunc("GET /healthz", ready)
	mux.HandleFunc("GET /readyz", ready)
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	// The Go runtime profiles, loopback requests only (issue 15: operators profile a node).
	mux.Handle(gateway.ProfilePath, gateway.Profiler())
	o.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(o.done)
		if err := o.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("ops listener stopped", "err", err)
		}
	}()
	return o, nil
}

// Addr is the bound address.
func (o *opsServer) Addr() string { return o.ln.Addr().String() }

func (o *opsServer) close(ctx context.Context) {
	_ = o.srv.Shutdown(ctx)
	<-o.done
}

// cmdHealth probes a serve process's /healthz (the compose healthcheck: the image has no
// shell or curl). Exit 0 when healthy.
func cmdHealth(ctx context.Context, addr string, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("unhealthy: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("unhealthy: %s %s", resp.Status, b)
	}
	fmt.Fprint(stdout, string(b))
	return nil
}
