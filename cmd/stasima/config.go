package main

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/hexseq"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/services/airlock"
	"github.com/stasima/stasima/services/audit"
	"github.com/stasima/stasima/services/capstore"
	"github.com/stasima/stasima/services/gateway"
	"github.com/stasima/stasima/services/indexer"
)

// fileConfig is the flat TOML file of operations §8 (the 0.1.5 fields are all accepted; those
// a later issue serves are read and kept).
type fileConfig struct {
	GitDir            string   `toml:"git_dir"`
	DeploymentName    string   `toml:"deployment_name"`
	Approvers         any      `toml:"approvers"`
	CanonRef          string   `toml:"canon_ref"`
	MapDB             string   `toml:"map_db"`
	AuditDB           string   `toml:"audit_db"`
	CommitterName     string   `toml:"committer_name"`
	CommitterEmail    string   `toml:"committer_email"`
	EmbedBackend      string   `toml:"embed_backend"`
	EmbedURL          string   `toml:"embed_url"`
	EmbedModel        string   `toml:"embed_model"`
	EmbedDim          any      `toml:"embed_dim"`
	EmbedDocPrefix    string   `toml:"embed_doc_prefix"`
	EmbedQueryPrefix  string   `toml:"embed_query_prefix"`
	OrientationBase   string   `toml:"orientation_base"`
	SeqOrigin         any      `toml:"seq_origin"`
	AirlockSecretPath string   `toml:"airlock_secret_path"`
	AirlockFloorS     any      `toml:"airlock_floor_s"`
	AirlockCeilingS   any      `toml:"airlock_ceiling_s"`
	HTTPPublicURL     string   `toml:"http_public_url"`
	Transport         string   `toml:"transport"`
	HTTPHost          string   `toml:"http_host"`
	HTTPPort          any      `toml:"http_port"`
	HTTPAllowedHosts  []string `toml:"http_allowed_hosts"`
	BindingMode       string   `toml:"binding_mode"`
	GitTimeout        any      `toml:"git_timeout"`
	GitNetworkTimeout any      `toml:"git_network_timeout"`
	SearchScoreFloor  any      `toml:"search_score_floor"`
	// Go-only fields (operations §8.3).
	NATSURL              string `toml:"nats_url"`
	NATSCreds            string `toml:"nats_creds"`
	NATSPort             any    `toml:"nats_port"`
	AuditDSN             string `toml:"audit_dsn"`
	IndexDSN             string `toml:"index_dsn"`
	AuthDSN              string `toml:"auth_dsn"`
	AuditBarrierTimeoutS any    `toml:"audit_barrier_timeout_s"`
	IndexBarrierTimeoutS any    `toml:"index_barrier_timeout_s"`
	RestSessionIdleS     any    `toml:"rest_session_idle_s"`
	EventsMaxAgeDays     any    `toml:"events_max_age_days"`
	BusPrefix            string `toml:"bus_prefix"`
	MaxBodyBytes         any    `toml:"max_body_bytes"`
	MCPMaxSessions       any    `toml:"mcp_max_sessions"`
	SearchMode           string `toml:"search_mode"`
	AirlockLandSecret    string `toml:"airlock_land_secret"`
	// The failure budget: this many wrong codes within the period lock every code check.
	AirlockFailureBudget  any `toml:"airlock_failure_budget"`
	AirlockFailurePeriodS any `toml:"airlock_failure_period_s"`
	AirlockLockS          any `toml:"airlock_lock_s"`
	// DataDir is the Go data dir (lock, bus record, embedded bus store); default: the parent
	// of git_dir, so `up` and `admin` given the same file meet.
	DataDir string `toml:"data_dir"`
	// The witness admin backup and admin mirror ask for a cosignature (stasima witness --key,
	// --state); empty witness_key means no witness.
	WitnessKey   string `toml:"witness_key"`
	WitnessState string `toml:"witness_state"`
}

// Config is the resolved deployment configuration.
type Config struct {
	DataDir        string
	GitDir         string
	DeploymentName string
	CanonRef       string
	SeqOrigin      uint64
	CommitterName  string
	CommitterEmail string
	Orientation    string
	HTTPAddr       string
	NATSURL        string // external bus; "" = embedded
	NATSCreds      string // this component's bus credentials file (external bus only)
	NATSPort       int    // embedded bus port; 0 = chosen at start
	BusPrefix      string
	MaxBodyBytes   int
	MCPMaxSessions int // concurrent MCP sessions; the least recently active closed beyond it
	EventsMaxAge   time.Duration
	MapDB          string // index SQLite path (default <parent of git_dir>/map_index.sqlite)
	IndexBarrier   time.Duration
	AuditDB        string // SQLite path (default <data>/audit.sqlite)
	AuditDSN       string // postgres://… selects Postgres
	AuditBarrier   time.Duration
	Approvers      []string // sorted; the first is the console and airlock default
	AirlockSecret  string   // TOTP secret file (default <parent of git_dir>/totp.secret)
	AirlockLand    string   // optional second secret for land codes
	// WitnessKey is the witness's note signer key file; "" means no witness. WitnessState is
	// its state directory (default: witness-state beside the key).
	WitnessKey     string
	WitnessState   string
	AirlockFloor   time.Duration
	AirlockCeiling time.Duration
	// AirlockFailureBudget wrong codes (stage, land, door) within AirlockFailurePeriod lock
	// every code check for AirlockLock (default 20 per hour, 15 minutes).
	AirlockFailureBudget int
	AirlockFailurePeriod time.Duration
	AirlockLock          time.Duration

	// Search and embedding (operations §8.2/§8.3; consumed by the indexer).
	EmbedBackend     string // "stub" | "local-server"
	EmbedURL         string
	EmbedModel       string
	EmbedDim         int
	EmbedDocPrefix   string
	EmbedQueryPrefix string
	SearchScoreFloor *float64 // nil = the embedder's default
	SearchMode       string   // "hybrid" | "embedding"
	IndexDSN         string   // postgres://… selects the Postgres index

	// Identity and the door (identity.md; consumed by the gateway).
	Transport        string // "stdio" | "http"
	HTTPPublicURL    string // non-empty arms the OAuth door
	HTTPAllowedHosts []string
	BindingMode      string // "" (= strict) | strict | witness | off; STASIMA_BINDING overrides
	AuthDSN          string // "" = SQLite auth store beside the audit DB
	RestSessionIdle  time.Duration

	// Storage deadlines (O-deploy-8): 0 = auto.
	GitTimeout        time.Duration
	GitNetworkTimeout time.Duration

	// ConfigPath is the file the config came from ("" = defaults plus environment); backup
	// copies it (O-backup-2).
	ConfigPath string

	httpFlag bool // HTTPAddr came from --http (port 0 = chosen at start)
}

// loadConfig resolves and validates the configuration of a process that serves HTTP only
// when transport = "http" (`serve`, `admin`).
func loadConfig(dataDir, configPath, httpAddr string) (Config, error) {
	return load(dataDir, configPath, httpAddr, false)
}

// loadUpConfig is loadConfig for `stasima up`, which always serves HTTP: the http rules of
// §8.4 apply and the effective transport is http.
func loadUpConfig(dataDir, configPath, httpAddr string) (Config, error) {
	return load(dataDir, configPath, httpAddr, true)
}

// load resolves defaults, the config file (path or STASIMA_CONFIG, O-config-1), each key's
// STASIMA_* variable (a superset of O-config-2's eight and O-config-5's STASIMA_BINDING), and
// the flags, in that order of increasing precedence; then validates (§8.4). Relative paths in the file
// resolve against the file's directory, so the file means the same deployment from any
// working directory. The data dir is --data, else STASIMA_DATA, else the file's data_dir,
// else (with a file) the parent of git_dir, else ./stasima-data.
func load(dataDir, configPath, httpAddr string, servesHTTP bool) (Config, error) {
	if configPath == "" {
		configPath = os.Getenv("STASIMA_CONFIG")
	}
	if httpAddr == "" {
		httpAddr = os.Getenv("STASIMA_HTTP") // the variable of --http
	}
	c := Config{
		ConfigPath:     configPath,
		CanonRef:       refs.DefaultCanon,
		SeqOrigin:      hexseq.DefaultOrigin,
		CommitterName:  "capstore",
		CommitterEmail: "capstore@stasima.local",
		Orientation:    "technical/orientation",
		HTTPAddr:       "127.0.0.1:8787",
		BusPrefix:      bus.DefaultPrefix,
		MaxBodyBytes:   1 << 20,
		MCPMaxSessions: 1024,
		EventsMaxAge:   30 * 24 * time.Hour,
		AuditBarrier:   10 * time.Second,
		IndexBarrier:   70 * time.Second,
		Approvers:      []string{"practitioner"},
		AirlockFloor:   120 * time.Second,
		AirlockCeiling: 7200 * time.Second,

		AirlockFailureBudget: airlock.DefaultConfig().FailureBudget,
		AirlockFailurePeriod: airlock.DefaultConfig().FailurePeriod,
		AirlockLock:          airlock.DefaultConfig().LockFor,

		EmbedBackend:      "stub",
		EmbedModel:        "nomic-embed-text",
		EmbedDim:          768,
		EmbedDocPrefix:    "search_document: ",
		EmbedQueryPrefix:  "search_query: ",
		SearchMode:        "hybrid",
		Transport:         "stdio",
		RestSessionIdle:   time.Hour,
		GitNetworkTimeout: 300 * time.Second,
	}
	host, port := "127.0.0.1", 8787
	var f fileConfig
	if configPath != "" {
		md, err := toml.DecodeFile(configPath, &f)
		if errors.Is(err, os.ErrNotExist) {
			return Config{}, fmt.Errorf("config file not found: %s", configPath)
		}
		if err != nil {
			return Config{}, fmt.Errorf("config %s: %w", configPath, err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			keys := make([]string, len(und))
			for i, k := range und {
				keys[i] = k.String()
			}
			sort.Strings(keys)
			return Config{}, fmt.Errorf("config %s: unknown keys (flat TOML; check spelling): %s", configPath, strings.Join(keys, ", "))
		}
		// nats_creds is left as written: it names the bus credentials of whichever component
		// reads the file, so one file shared by components in their own directories gives each
		// its own (compose mounts them at one absolute path).
		for _, p := range []*string{&f.GitDir, &f.MapDB, &f.AuditDB, &f.AirlockSecretPath, &f.AirlockLandSecret, &f.DataDir, &f.WitnessKey, &f.WitnessState} {
			*p = besideFile(configPath, *p)
		}
	}
	// Every key's STASIMA_* variable overrides the file (configEnvVar); its relative paths
	// stay relative to the working directory, as 0.1.5's eight variables were.
	if err := overlayEnv(&f); err != nil {
		return Config{}, err
	}
	if f.EmbedBackend == "" && os.Getenv(configEnvVar("embed_url")) != "" {
		f.EmbedBackend = "local-server" // O-config-2: the variable implies the backend
	}
	if dataDir == "" {
		dataDir = f.DataDir
	}
	{
		set := func(dst *string, v string) {
			if v != "" {
				*dst = v
			}
		}
		set(&c.GitDir, f.GitDir)
		set(&c.DeploymentName, f.DeploymentName)
		set(&c.CanonRef, f.CanonRef)
		set(&c.CommitterName, f.CommitterName)
		set(&c.CommitterEmail, f.CommitterEmail)
		set(&c.Orientation, f.OrientationBase)
		set(&c.NATSURL, f.NATSURL)
		set(&c.NATSCreds, f.NATSCreds)
		set(&c.BusPrefix, f.BusPrefix)
		if f.Approvers != nil {
			list, err := approverList(f.Approvers)
			if err != nil {
				return Config{}, err
			}
			c.Approvers = list
		}
		set(&c.AirlockSecret, f.AirlockSecretPath)
		set(&c.AirlockLand, f.AirlockLandSecret)
		set(&c.WitnessKey, f.WitnessKey)
		set(&c.WitnessState, f.WitnessState)
		if c.WitnessKey != "" && c.WitnessState == "" {
			c.WitnessState = filepath.Join(filepath.Dir(c.WitnessKey), "witness-state")
		}
		set(&c.AuditDB, f.AuditDB)
		set(&c.MapDB, f.MapDB)
		set(&c.AuditDSN, f.AuditDSN)
		set(&host, f.HTTPHost)
		ints := []struct {
			name string
			v    any
			dst  *int
		}{{"http_port", f.HTTPPort, &port}, {"max_body_bytes", f.MaxBodyBytes, &c.MaxBodyBytes}, {"nats_port", f.NATSPort, &c.NATSPort},
			{"mcp_max_sessions", f.MCPMaxSessions, &c.MCPMaxSessions},
			{"embed_dim", f.EmbedDim, &c.EmbedDim}, {"airlock_failure_budget", f.AirlockFailureBudget, &c.AirlockFailureBudget}}
		for _, it := range ints {
			if it.v == nil {
				continue
			}
			n, err := toInt(it.name, it.v)
			if err != nil {
				return Config{}, err
			}
			*it.dst = n
		}
		if f.SeqOrigin != nil {
			n, err := toInt("seq_origin", f.SeqOrigin)
			if err != nil {
				return Config{}, err
			}
			c.SeqOrigin = uint64(n)
		}
		c.HTTPAddr = net.JoinHostPort(host, strconv.Itoa(port))

		set(&c.EmbedBackend, f.EmbedBackend)
		set(&c.EmbedURL, f.EmbedURL)
		set(&c.EmbedModel, f.EmbedModel)
		set(&c.EmbedDocPrefix, f.EmbedDocPrefix)
		set(&c.EmbedQueryPrefix, f.EmbedQueryPrefix)
		if f.SearchScoreFloor != nil {
			x, err := toFloat("search_score_floor", f.SearchScoreFloor)
			if err != nil {
				return Config{}, err
			}
			c.SearchScoreFloor = &x
		}
		set(&c.SearchMode, f.SearchMode)
		set(&c.IndexDSN, f.IndexDSN)
		set(&c.Transport, f.Transport)
		set(&c.HTTPPublicURL, f.HTTPPublicURL)
		c.HTTPAllowedHosts = append(c.HTTPAllowedHosts, f.HTTPAllowedHosts...)
		set(&c.BindingMode, f.BindingMode)
		set(&c.AuthDSN, f.AuthDSN)
		// Durations: whole units (integer fields) or seconds as a number (O-config-3).
		for _, it := range []struct {
			name  string
			v     any
			dst   *time.Duration
			unit  time.Duration
			float bool
		}{
			{"airlock_floor_s", f.AirlockFloorS, &c.AirlockFloor, time.Second, false},
			{"airlock_ceiling_s", f.AirlockCeilingS, &c.AirlockCeiling, time.Second, false},
			{"airlock_failure_period_s", f.AirlockFailurePeriodS, &c.AirlockFailurePeriod, time.Second, false},
			{"airlock_lock_s", f.AirlockLockS, &c.AirlockLock, time.Second, false},
			{"index_barrier_timeout_s", f.IndexBarrierTimeoutS, &c.IndexBarrier, time.Second, false},
			{"audit_barrier_timeout_s", f.AuditBarrierTimeoutS, &c.AuditBarrier, time.Second, false},
			{"rest_session_idle_s", f.RestSessionIdleS, &c.RestSessionIdle, time.Second, false},
			{"events_max_age_days", f.EventsMaxAgeDays, &c.EventsMaxAge, 24 * time.Hour, false},
			{"git_timeout", f.GitTimeout, &c.GitTimeout, time.Second, true},
			{"git_network_timeout", f.GitNetworkTimeout, &c.GitNetworkTimeout, time.Second, true},
		} {
			if it.v == nil {
				continue
			}
			if it.float {
				x, err := toFloat(it.name, it.v)
				if err != nil {
					return Config{}, err
				}
				if d := x * float64(it.unit); d >= math.MaxInt64 || d <= math.MinInt64 {
					return Config{}, fmt.Errorf("%s is out of range, got %v", it.name, it.v)
				}
				*it.dst = time.Duration(x * float64(it.unit))
				continue
			}
			n, err := toInt(it.name, it.v)
			if err != nil {
				return Config{}, err
			}
			// A product past time.Duration's range would wrap, even to a small positive value.
			if n > math.MaxInt64/int(it.unit) || n < math.MinInt64/int(it.unit) {
				return Config{}, fmt.Errorf("%s is out of range, got %v", it.name, it.v)
			}
			*it.dst = time.Duration(n) * it.unit
		}
	}
	if httpAddr != "" {
		c.HTTPAddr, c.httpFlag = httpAddr, true
	}
	if servesHTTP {
		c.Transport = "http"
	}
	if dataDir == "" && configPath != "" && c.GitDir != "" {
		dataDir = parentDir(c.GitDir)
	}
	if dataDir == "" {
		dataDir = "stasima-data"
	}
	c.DataDir = dataDir
	if c.GitDir == "" && configPath == "" {
		// No file: defaults plus env, and Go's data dir holds the repository. A config file
		// must name git_dir (O-config-10).
		c.GitDir = filepath.Join(dataDir, "repo.git")
	}
	if c.MapDB == "" {
		c.MapDB = filepath.Join(parentDir(c.GitDir), "map_index.sqlite")
	}
	if c.AirlockSecret == "" {
		c.AirlockSecret = filepath.Join(parentDir(c.GitDir), "totp.secret")
	}
	if c.AuditDB == "" {
		// operations §8.2: next to the repository, the parent of git_dir after removing
		// trailing separators (D-26).
		c.AuditDB = filepath.Join(parentDir(c.GitDir), "audit.sqlite")
	}
	if err := c.validate(servesHTTP); err != nil {
		return Config{}, err
	}
	return c, nil
}

// besideFile resolves a path read from the config file at configPath: a relative one is
// relative to the file's directory, not to the working directory; "" stays "".
func besideFile(configPath, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(configPath), p)
}

// parentDir is the directory holding dir after removing trailing separators (D-26): where the
// files next to the repository live.
func parentDir(dir string) string {
	return filepath.Dir(strings.TrimRight(dir, string(filepath.Separator)))
}

// validate is operations §8.4: the rules in the spec's order, the first failure is the error,
// and every message names the field, the value and the remedy. servesHTTP is true when the
// process serves HTTP whatever the file says (`stasima up`); otherwise the http rules apply
// only with transport = "http". It completes http_allowed_hosts from http_public_url
// (O-config-20).
func (c *Config) validate(servesHTTP bool) error {
	if c.GitDir == "" { // O-config-10
		return errors.New("git_dir is required: set git_dir in the config file or STASIMA_GIT_DIR to the bare repository path")
	}
	if c.EmbedBackend != "stub" && c.EmbedBackend != "local-server" { // O-config-11
		return fmt.Errorf("embed_backend %q is not supported: use \"stub\" or \"local-server\"", c.EmbedBackend)
	}
	if c.EmbedBackend == "local-server" && c.EmbedURL == "" { // O-config-12
		return errors.New("embed_backend \"local-server\" requires embed_url: set embed_url (or STASIMA_EMBED_URL) to the OpenAI-compatible server, e.g. http://localhost:11434")
	}
	if c.EmbedDim <= 0 { // O-config-13
		return fmt.Errorf("embed_dim must be positive, got %d: set it to the model's dimension (768 for nomic-embed-text)", c.EmbedDim)
	}
	if len(c.Approvers) == 0 { // O-config-14
		return errors.New("at least one approver is required: set approvers = [\"practitioner\"] (or STASIMA_APPROVERS)")
	}
	if !(0 < c.AirlockFloor && c.AirlockFloor < c.AirlockCeiling) { // O-config-15
		return fmt.Errorf("airlock_floor_s (%v) and airlock_ceiling_s (%v) must satisfy 0 < airlock_floor_s < airlock_ceiling_s", c.AirlockFloor.Seconds(), c.AirlockCeiling.Seconds())
	}
	// The floor must outlive every code: a code seen at staging must be dead by the
	// earliest land.
	if c.AirlockFailureBudget < 1 || c.AirlockFailurePeriod <= 0 || c.AirlockLock <= 0 {
		return fmt.Errorf("airlock_failure_budget (%d), airlock_failure_period_s (%v) and airlock_lock_s (%v) must be positive (defaults 20, 3600, 900)",
			c.AirlockFailureBudget, c.AirlockFailurePeriod.Seconds(), c.AirlockLock.Seconds())
	}
	if c.AirlockFloor <= airlock.MinFloor {
		return fmt.Errorf("airlock_floor_s (%v) must exceed %v s, the longest a TOTP code is accepted, so that a code seen at staging is dead at the earliest land: raise it (default 120)",
			c.AirlockFloor.Seconds(), airlock.MinFloor.Seconds())
	}
	if c.Transport != "stdio" && c.Transport != "http" { // O-config-16
		return fmt.Errorf("transport %q is not supported: use \"stdio\" or \"http\"", c.Transport)
	}
	http := servesHTTP || c.Transport == "http"
	if http {
		h, p, err := net.SplitHostPort(c.HTTPAddr)
		if err != nil {
			return fmt.Errorf("http address %q: %w", c.HTTPAddr, err)
		}
		// O-config-17. Port 0 ("chosen at start") only comes from the --http flag.
		if n, err := strconv.Atoi(p); err != nil || n > 65535 || n < 1 && !(n == 0 && c.httpFlag) {
			return fmt.Errorf("http_port must be 1-65535, got %s", p)
		}
		if !gateway.BindAllowed(h) { // O-config-18
			return fmt.Errorf("http_host %q refused: bind loopback (127.0.0.1) or a Tailscale 100.64.0.0/10 address and expose it through a TLS proxy", h)
		}
	}
	switch c.BindingMode { // O-config-19
	case "", "strict", "witness", "off":
	default:
		return fmt.Errorf("binding_mode %q is not supported: use \"strict\" (the default), \"witness\" or \"off\"", c.BindingMode)
	}
	if c.HTTPPublicURL != "" { // O-config-20
		if !http {
			return fmt.Errorf("http_public_url %q needs transport = \"http\" (the OAuth door is served over HTTP only)", c.HTTPPublicURL)
		}
		u, err := url.Parse(c.HTTPPublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			return fmt.Errorf("http_public_url %q must be an http(s) URL with a host, e.g. https://stasima.example.ts.net", c.HTTPPublicURL)
		}
		switch h := u.Hostname(); {
		case u.Scheme == "https", h == "127.0.0.1", h == "::1", h == "localhost":
		default:
			return fmt.Errorf("http_public_url %q: scheme %q is allowed only for 127.0.0.1, ::1 or localhost; use https:// behind the TLS proxy", c.HTTPPublicURL, u.Scheme)
		}
		if !slices.Contains(c.HTTPAllowedHosts, u.Host) {
			c.HTTPAllowedHosts = append(c.HTTPAllowedHosts, u.Host)
		}
	}
	if c.GitTimeout < 0 { // O-config-21
		return fmt.Errorf("git_timeout must be >= 0 (0 = auto), got %v", c.GitTimeout.Seconds())
	}
	if c.GitNetworkTimeout <= 0 { // O-config-22
		return fmt.Errorf("git_network_timeout must be > 0 seconds, got %v: the default is 300", c.GitNetworkTimeout.Seconds())
	}
	// Go-only fields (§8.3), after the spec's order.
	if c.SearchMode != "hybrid" && c.SearchMode != "embedding" {
		return fmt.Errorf("search_mode %q is not supported: use \"hybrid\" or \"embedding\"", c.SearchMode)
	}
	if c.MaxBodyBytes <= 0 {
		return fmt.Errorf("max_body_bytes must be positive, got %d", c.MaxBodyBytes)
	}
	if c.MCPMaxSessions < 1 {
		return fmt.Errorf("mcp_max_sessions must be at least 1, got %d: it caps concurrent MCP sessions (default 1024)", c.MCPMaxSessions)
	}
	for _, it := range []struct {
		name string
		v    time.Duration
	}{{"audit_barrier_timeout_s", c.AuditBarrier}, {"index_barrier_timeout_s", c.IndexBarrier}, {"rest_session_idle_s", c.RestSessionIdle}, {"events_max_age_days", c.EventsMaxAge}} {
		if it.v <= 0 {
			return fmt.Errorf("%s must be positive, got %v", it.name, it.v)
		}
	}
	if _, err := bus.NewSubjects(c.BusPrefix); err != nil {
		return fmt.Errorf("bus_prefix: %w", err)
	}
	if c.NATSCreds != "" && c.NATSURL == "" {
		return fmt.Errorf("nats_creds %q needs nats_url: the embedded bus mints its own credentials", c.NATSCreds)
	}
	return nil
}

// approverList is O-config-2: a list, or a comma-separated string; items trimmed, empties
// dropped; sorted so the first is the default approver.
func approverList(v any) ([]string, error) {
	var items []string
	switch x := v.(type) {
	case string:
		items = strings.Split(x, ",")
	case []any:
		for _, it := range x {
			s, ok := it.(string)
			if !ok {
				return nil, fmt.Errorf("approvers must be strings, got %v", it)
			}
			items = append(items, s)
		}
	default:
		return nil, fmt.Errorf("approvers must be a list or a comma-separated string, got %v", v)
	}
	var out []string
	for _, it := range items {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	sort.Strings(out) // empty is refused by validate (O-config-14), in its place in the order
	return out, nil
}

func toInt(name string, v any) (int, error) {
	switch x := v.(type) {
	case int64:
		return int(x), nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 0, 64)
		if err == nil {
			return int(n), nil
		}
	}
	return 0, fmt.Errorf("%s must be an integer, got %v", name, v)
}

// toFloat converts a number field (O-config-3): finite only, so NaN and ±Inf (TOML's nan and
// inf, or strconv's spellings in a variable) are refused like any other non-number.
func toFloat(name string, v any) (float64, error) {
	f, ok := math.NaN(), false
	switch x := v.(type) {
	case int64:
		f, ok = float64(x), true
	case float64:
		f, ok = x, true
	case string:
		var err error
		f, err = strconv.ParseFloat(strings.TrimSpace(x), 64)
		ok = err == nil
	}
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%s must be a number, got %v", name, v)
	}
	return f, nil
}

func (c Config) capstore() capstore.Config {
	cc := capstore.DefaultConfig()
	cc.GitDir = c.GitDir
	cc.CanonRef = c.CanonRef
	cc.SeqOrigin = c.SeqOrigin
	cc.CommitterName = c.CommitterName
	cc.CommitterEmail = c.CommitterEmail
	cc.MaxBodyBytes = c.MaxBodyBytes
	cc.BusPrefix = c.BusPrefix
	cc.EventsMaxAge = c.EventsMaxAge
	cc.Approvers = c.Approvers
	return cc
}

func (c Config) audit() audit.Config {
	ac := audit.DefaultConfig()
	ac.DSN = c.AuditDSN
	ac.DBPath = c.AuditDB
	// The checkpoint key lives beside the audit log (the data dir), never in git.
	ac.LogKey = filepath.Join(filepath.Dir(c.AuditDB), "audit-log.key")
	ac.BusPrefix = c.BusPrefix
	ac.CanonRef = c.CanonRef
	return ac
}

func (c Config) airlock() airlock.Config {
	ac := airlock.DefaultConfig()
	ac.SecretPath = c.AirlockSecret
	ac.LandSecretPath = c.AirlockLand
	ac.Floor, ac.Ceiling = c.AirlockFloor, c.AirlockCeiling
	ac.FailureBudget, ac.FailurePeriod, ac.LockFor = c.AirlockFailureBudget, c.AirlockFailurePeriod, c.AirlockLock
	ac.Approvers = c.Approvers
	ac.CanonRef = c.CanonRef
	ac.BusPrefix = c.BusPrefix
	ac.EventsMaxAge = c.EventsMaxAge
	if c.DeploymentName != "" {
		ac.Issuer = c.DeploymentName
	}
	return ac
}

func (c Config) indexer() indexer.Config {
	ic := indexer.DefaultConfig()
	ic.DBPath = c.MapDB
	ic.BusPrefix = c.BusPrefix
	ic.CanonRef = c.CanonRef
	ic.IndexDSN = c.IndexDSN
	ic.SearchMode = c.SearchMode
	ic.ScoreFloor = c.SearchScoreFloor
	ic.EmbedBackend, ic.EmbedURL, ic.EmbedModel, ic.EmbedDim = c.EmbedBackend, c.EmbedURL, c.EmbedModel, c.EmbedDim
	ic.EmbedDocPrefix, ic.EmbedQueryPrefix = c.EmbedDocPrefix, c.EmbedQueryPrefix
	return ic
}

func (c Config) gateway() gateway.Config {
	gc := gateway.DefaultConfig()
	gc.HTTPAddr = c.HTTPAddr
	gc.DeploymentName = c.DeploymentName
	gc.CanonRef = c.CanonRef
	gc.OrientationBase = c.Orientation
	gc.BusPrefix = c.BusPrefix
	gc.MaxBodyBytes = c.MaxBodyBytes
	gc.MaxMCPSessions = c.MCPMaxSessions
	gc.AuditBarrier = c.AuditBarrier
	gc.Approvers = c.Approvers
	gc.Committer = c.CommitterName
	gc.IndexBarrier = c.IndexBarrier
	gc.BindingMode = c.BindingMode
	gc.RESTSessionIdle = c.RestSessionIdle
	// identity.md I-1: the binding sources are the gateway process's environment (the server
	// definition), never the config file; blank means unset (I-4).
	gc.PinnedInstance = strings.TrimSpace(os.Getenv("STASIMA_INSTANCE"))
	gc.Port = strings.TrimSpace(os.Getenv("STASIMA_PORT"))
	// identity.md §5: the door's store sits beside the audit DB unless auth_dsn names Postgres.
	gc.Door = gateway.DoorConfig{Transport: c.Transport, PublicURL: c.HTTPPublicURL, AllowedHosts: c.HTTPAllowedHosts,
		AuthDSN: c.AuthDSN, AuthDB: filepath.Join(filepath.Dir(c.AuditDB), "auth.sqlite")}
	return gc
}
