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
	// allow lists (ARCH-11: the agent-facing gateway cannot request a land).
	Users []User
}

// User is one component's bus credentials and permissions.
type User struct {
	Name, Password string
	// Unrestricted: no permissions (admin). Otherwise the user may publish and subscribe only
	// what the allow lists name, minus the deny lists (wildcards allowed).
	Unrestricted                  bool
	PublishAllow, PublishDeny     []string
	SubscribeAllow, SubscribeDeny []string
	// AllowResponses lets the user answer each request it receives once on its reply subject.
	AllowResponses bool
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
		opts.Users = append(opts.Users, u.server())
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

// server is u as the server's user: an empty allow list allows nothing.
func (u User) server() *server.User {
	su := &server.User{Username: u.Name, Password: u.Password}
	if u.Unrestricted {
		return su
	}
	su.Permissions = &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: nonNil(u.PublishAllow), Deny: u.PublishDeny},
		Subscribe: &server.SubjectPermission{Allow: nonNil(u.SubscribeAllow), Deny: u.SubscribeDeny},
	}
	if u.AllowResponses {
		su.Permissions.Response = &server.ResponsePermission{MaxMsgs: server.DEFAULT_ALLOW_RESPONSE_MAX_MSGS, Expires: server.DEFAULT_ALLOW_RESPONSE_EXPIRATION}
	}
	return su
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
