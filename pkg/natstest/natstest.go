// Package natstest is the test kit for a real embedded NATS JetStream server: random loopback
// port, store in t.TempDir(), no logs, no signals, shut down in t.Cleanup.
package natstest

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/stasima/stasima/pkg/embednats"
)

// Server is a running embedded JetStream server.
type Server struct {
	*server.Server
	StoreDir string
}

// Start starts a server for the test.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartDir(t, t.TempDir())
}

// StartDir starts a server on a given store dir (to restart over the same data).
func StartDir(t testing.TB, dir string) *Server {
	t.Helper()
	ns, err := embednats.Start(embednats.Options{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return &Server{Server: ns, StoreDir: dir}
}

// Connect opens a client connection closed at cleanup.
func (s *Server) Connect(t testing.TB) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}
