package gateway

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/stasima/stasima/services/gateway/internal/app"
	"github.com/stasima/stasima/services/gateway/internal/door"
	"github.com/stasima/stasima/services/gateway/internal/harden"
	"github.com/stasima/stasima/services/gateway/internal/mcpserver"
	"github.com/stasima/stasima/services/gateway/internal/rest"
)

// DoorConfig is the OAuth door's part of the gateway configuration (identity.md §5, §6).
type DoorConfig struct {
	// Transport is "http" or "stdio" (the config's transport); the door needs http (O-config-20).
	Transport string
	// PublicURL arms the door; blank keeps /mcp open on loopback (I-60's regression guard).
	PublicURL string
	// AllowedHosts are extra Host values (http_allowed_hosts, D-7).
	AllowedHosts []string
	// AuthDSN selects a Postgres auth store; "" keeps the SQLite file AuthDB.
	AuthDSN string
	AuthDB  string
}

// validateDoor is O-config-20: an http(s) URL with a host, https unless the host is loopback,
// only with transport http.
func (c Config) validateDoor() error {
	if c.Door.PublicURL == "" {
		return nil
	}
	if c.Door.Transport != "" && c.Door.Transport != "http" {
		return fmt.Errorf("gateway: http_public_url %q needs transport = \"http\", not %q", c.Door.PublicURL, c.Door.Transport)
	}
	u, err := url.Parse(c.Door.PublicURL)
	if err != nil || u.Hostname() == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("gateway: http_public_url %q must be an http(s) URL with a host", c.Door.PublicURL)
	}
	if h := u.Hostname(); u.Scheme == "http" && h != "127.0.0.1" && h != "::1" && h != "localhost" {
		return fmt.Errorf("gateway: http_public_url %q must use https (http only for 127.0.0.1, ::1, localhost)", c.Door.PublicURL)
	}
	if c.Door.AuthDSN == "" && c.Door.AuthDB == "" {
		return fmt.Errorf("gateway: the oauth door needs auth_dsn or an auth store path")
	}
	return nil
}

// allowedHosts is http_allowed_hosts lowercased with the public URL's host appended when
// absent (O-config-20).
func (c Config) allowedHosts() []string {
	var out []string
	seen := map[string]bool{}
	add := func(h string) {
		h = strings.ToLower(strings.TrimSpace(h))
		if h != "" && !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	for _, h := range c.Door.AllowedHosts {
		add(h)
	}
	if u, err := url.Parse(c.Door.PublicURL); err == nil && c.Door.PublicURL != "" {
		if h := u.Hostname(); !seen[strings.ToLower(h)] && !seen[strings.ToLower(u.Host)] {
			add(h)
		}
	}
	return out
}

// routes composes the HTTP surface: /mcp and the REST mirror, the door's endpoints and bearer
// gate when armed, all behind the perimeter (identity.md §4–§6). d is nil when unarmed.
func routes(cfg Config, a *app.App, be door.Backend, nc *nats.Conn, log *slog.Logger, reqCap int64) (http.Handler, *door.Door, error) {
	mcpH := mcpserver.Handler(mcpserver.New(a, log, cfg.MaxMCPSessions), reqCap, cfg.RESTSessionIdle)
	bind, _, _ := net.SplitHostPort(cfg.HTTPAddr)
	hc := harden.Config{BindHost: bind, AllowedHosts: cfg.allowedHosts(), AppBodyCap: reqCap}
	mux := http.NewServeMux()
	if cfg.Door.PublicURL == "" {
		mux.Handle("/mcp", mcpH)
		rest.Mount(mux, a, log, reqCap)
		return harden.New(hc, mux), nil, nil
	}
	path := cfg.Door.AuthDB
	if path != "" && !filepath.IsAbs(path) {
		path, _ = filepath.Abs(path)
	}
	d, err := door.New(door.Config{PublicURL: cfg.Door.PublicURL, DSN: cfg.Door.AuthDSN, Path: path, BusPrefix: cfg.BusPrefix}, be, nc, log)
	if err != nil {
		return nil, nil, err
	}
	api := http.NewServeMux()
	rest.Mount(api, a, log, reqCap)
	mux.Handle("/mcp", d.Protect(mcpH))
	mux.Handle("/api/v1/", d.Protect(api)) // I-53
	mux.Handle("/", api)                   // health
	d.Mount(mux)
	hc.Armed = true
	hc.HSTS = strings.HasPrefix(cfg.Door.PublicURL, "https://")
	return harden.New(hc, mux), d, nil
}
