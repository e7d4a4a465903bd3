// Package embednats starts the embedded NATS JetStream server of `stasima up` and of the test
// kit: loopback only, a port chosen at start unless configured, JetStream on local disk with
// sync_interval always (ARCH-13: an acknowledged message survives power loss).
package embednats

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configures the embedded server.
type Options struct {
	Host     string // default 127.0.0.1
	Port     int    // 0 or -1: chosen at start
	StoreDir string // JetStream store directory (required)
	Logs     bool   // route server logs to stderr (off by default)
	// Users, when set, turns authentication on: one user per component, each with its own
	// publish denials (ARCH-11: the agent-facing gateway cannot request a land).
	Users []User
}

// User is one component's bus credentials.
type User struct {
	Name, Password string
	// DenyPublish lists subjects (wildcards allowed) the user may not publish.
	DenyPublish []string
}

// Start runs the server and waits until it accepts connections.
func Start(o Options) (*server.Server, error) {
	if o.StoreDir == "" {
		return nil, fmt.Errorf("embedded nats: store dir is required")
	}
	host := o.Host
	if host == "" {
		host = "127.0.0.1"
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("embedded nats: host %q is not loopback", host)
	}
	port := o.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName:            "stasima-embedded",
		Host:                  host,
		Port:                  port,
		JetStream:             true,
		StoreDir:              o.StoreDir,
		SyncAlways:            true,
		NoSigs:                true,
		NoLog:                 !o.Logs,
		MaxPayload:            16 << 20,
		JetStreamMaxMemory:    256 << 20,
		DisableShortFirstPing: true,
	}
	for _, u := range o.Users {
		su := &server.User{Username: u.Name, Password: u.Password}
		if len(u.DenyPublish) > 0 {
			su.Permissions = &server.Permissions{Publish: &server.SubjectPermission{Allow: []string{">"}, Deny: u.DenyPublish}}
		}
		opts.Users = append(opts.Users, su)
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	if o.Logs {
		ns.ConfigureLogger()
	}
	go ns.Start()
	if !ns.ReadyForConnections(15 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded nats: not ready on %s", net.JoinHostPort(host, strconv.Itoa(port)))
	}
	return ns, nil
}
