package main

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// clearConfigEnv empties every variable load reads (each key's, STASIMA_CONFIG and
// STASIMA_HTTP) so the machine's environment cannot leak in (t.Setenv restores them).
func clearConfigEnv(t *testing.T) {
	t.Helper()
	t.Setenv("STASIMA_CONFIG", "")
	t.Setenv("STASIMA_HTTP", "")
	for _, k := range configKeys {
		t.Setenv(configEnvVar(k.Key), "")
	}
}

func writeConf(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "stasima.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// validHTTP is a config every §8.4 rule accepts with transport = "http".
var validHTTP = map[string]string{
	"git_dir":             `"/srv/stasima/repo.git"`,
	"embed_backend":       `"stub"`,
	"embed_dim":           `768`,
	"approvers":           `["practitioner"]`,
	"airlock_floor_s":     `120`,
	"airlock_ceiling_s":   `7200`,
	"transport":           `"http"`,
	"http_host":           `"127.0.0.1"`,
	"http_port":           `8787`,
	"binding_mode":        `"strict"`,
	"http_public_url":     `"https://stasima.example.ts.net"`,
	"git_timeout":         `0`,
	"git_network_timeout": `300`,
}

// ruleBreakers are the §8.4 rules in the spec's order, each with the change that breaks it.
var ruleBreakers = []struct {
	id   string
	key  string // "" = delete the key named in val
	val  string
	want []string
}{
	{"O-config-10", "", "git_dir", []string{"git_dir is required"}},
	{"O-config-11", "embed_backend", `"ollama"`, []string{`"ollama"`, "stub", "local-server"}},
	{"O-config-12", "embed_backend", `"local-server"`, []string{"requires embed_url"}},
	{"O-config-13", "embed_dim", `0`, []string{"embed_dim", "got 0"}},
	{"O-config-14", "approvers", `[" ", ""]`, []string{"approver"}},
	{"O-config-15", "airlock_floor_s", `7200`, []string{"airlock_floor_s", "airlock_ceiling_s"}},
	{"O-config-16", "transport", `"grpc"`, []string{`"grpc"`, "stdio", "http"}},
	{"O-config-17", "http_port", `70000`, []string{"http_port", "70000"}},
	{"O-config-18", "http_host", `"0.0.0.0"`, []string{`"0.0.0.0"`, "loopback", "TLS proxy"}},
	{"O-config-19", "binding_mode", `"loose"`, []string{`"loose"`, "strict", "witness", "off"}},
	{"O-config-20", "http_public_url", `"http://stasima.example.ts.net"`, []string{"http://stasima.example.ts.net", `"http"`, "https"}},
	{"O-config-21", "git_timeout", `-1`, []string{"git_timeout", "-1"}},
	{"O-config-22", "git_network_timeout", `0`, []string{"git_network_timeout"}},
}

func render(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + " = " + m[k] + "\n")
	}
	return b.String()
}

// TestConfig_ValidationOrder is operations §8.4, one row per rule: the row for rule N breaks
// rule N and every rule after it, so the error proves both the rule and its place in the
// order (the first failure is the error). Each message names the field or value and a remedy.
func TestConfig_ValidationOrder(t *testing.T) {
	clearConfigEnv(t)
	if _, err := loadConfig(t.TempDir(), writeConf(t, render(validHTTP)), ""); err != nil {
		t.Fatalf("the valid base config: %v", err)
	}
	for i, tt := range ruleBreakers {
		t.Run(tt.id, func(t *testing.T) {
			m := map[string]string{}
			for k, v := range validHTTP {
				m[k] = v
			}
			// Break the later rules first so this rule's breaker wins where two share a key.
			for j := len(ruleBreakers) - 1; j >= i; j-- {
				b := ruleBreakers[j]
				if b.key == "" {
					delete(m, b.val)
				} else {
					m[b.key] = b.val
				}
			}
			_, err := loadConfig(t.TempDir(), writeConf(t, render(m)), "")
			if err == nil {
				t.Fatalf("%s: accepted\n%s", tt.id, render(m))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: error %q does not contain %q", tt.id, err, w)
				}
			}
		})
	}
}

// TestConfig_RulesAlone checks each rule's edge on its own: the boundary values and the
// http-only rules, which apply with transport = "http" or under `stasima up`.
func TestConfig_RulesAlone(t *testing.T) {
	clearConfigEnv(t)
	tests := []struct {
		name string
		give string
		up   bool   // load as `stasima up` (always serves HTTP)
		flag string // --http
		want string // "" = valid
	}{
		{"local-server with url is valid", "embed_backend = \"local-server\"\nembed_url = \"http://localhost:11434\"", false, "", ""},
		{"floor equal ceiling", "airlock_floor_s = 60\nairlock_ceiling_s = 60", false, "", "airlock_ceiling_s"},
		{"negative floor", "airlock_floor_s = -1", false, "", "airlock_floor_s"},
		{"floor 30 below the code lifetime (A-61)", "airlock_floor_s = 30", false, "", "airlock_floor_s (30) must exceed 90 s"},
		{"floor 90 equals the code lifetime (A-61)", "airlock_floor_s = 90", false, "", "airlock_floor_s (90) must exceed 90 s"},
		{"floor 91 is valid (A-61)", "airlock_floor_s = 91", false, "", ""},
		{"port 0 in the file", "transport = \"http\"\nhttp_port = 0", false, "", "http_port"},
		{"port 0 from --http is chosen at start", "transport = \"http\"", false, "127.0.0.1:0", ""},
		{"stdio ignores the http host", "http_host = \"0.0.0.0\"", false, "", ""},
		{"up serves http whatever transport says", "transport = \"stdio\"\nhttp_host = \"0.0.0.0\"", true, "", "0.0.0.0"},
		{"LAN address refused", "transport = \"http\"\nhttp_host = \"192.168.1.5\"", false, "", "192.168.1.5"},
		{"hostname refused", "transport = \"http\"\nhttp_host = \"example.com\"", false, "", "example.com"},
		{"localhost allowed", "transport = \"http\"\nhttp_host = \"localhost\"", false, "", ""},
		{"tailscale allowed", "transport = \"http\"\nhttp_host = \"100.101.102.103\"", false, "", ""},
		{"ipv6 loopback allowed", "transport = \"http\"\nhttp_host = \"::1\"", false, "", ""},
		{"binding empty is strict", "binding_mode = \"\"", false, "", ""},
		{"public url needs http transport", "http_public_url = \"https://a.example\"", false, "", "transport"},
		{"public url under up", "http_public_url = \"https://a.example\"", true, "", ""},
		{"public url without host", "transport = \"http\"\nhttp_public_url = \"https://\"", false, "", "https://"},
		{"public url ftp", "transport = \"http\"\nhttp_public_url = \"ftp://a.example\"", false, "", "ftp://a.example"},
		{"public url http on loopback", "transport = \"http\"\nhttp_public_url = \"http://127.0.0.1:8787\"", false, "", ""},
		{"public url http on localhost", "transport = \"http\"\nhttp_public_url = \"http://localhost:8787\"", false, "", ""},
		{"git_timeout fractional", "git_timeout = 2.5", false, "", ""},
		{"git_network_timeout negative", "git_network_timeout = -5", false, "", "git_network_timeout"},
		{"search_mode unknown", "search_mode = \"fuzzy\"", false, "", "search_mode"},
		{"bus prefix with a dot", "bus_prefix = \"a.b\"", false, "", "bus_prefix"},
		{"creds without url", "nats_creds = \"/run/secrets/bus\"", false, "", "nats_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf := writeConf(t, "git_dir = \"/srv/repo.git\"\n"+tt.give+"\n")
			load := loadConfig
			if tt.up {
				load = loadUpConfig
			}
			_, err := load(t.TempDir(), conf, tt.flag)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("accepted, want an error containing %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// TestConfig_Loading is O-config-1…5.
func TestConfig_Loading(t *testing.T) {
	t.Run("missing file", func(t *testing.T) { // O-config-1
		clearConfigEnv(t)
		p := filepath.Join(t.TempDir(), "nope.toml")
		_, err := loadConfig(t.TempDir(), p, "")
		if err == nil || err.Error() != "config file not found: "+p {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("path from STASIMA_CONFIG", func(t *testing.T) { // O-config-1
		clearConfigEnv(t)
		t.Setenv("STASIMA_CONFIG", writeConf(t, "git_dir = \"/srv/x.git\"\ndeployment_name = \"From Env\"\n"))
		c, err := loadConfig(t.TempDir(), "", "")
		if err != nil || c.DeploymentName != "From Env" {
			t.Fatalf("%+v %v", c, err)
		}
	})
	t.Run("no file: defaults plus env", func(t *testing.T) { // O-config-1, §8.2/§8.3 defaults
		clearConfigEnv(t)
		data := t.TempDir()
		c, err := loadConfig(data, "", "")
		if err != nil {
			t.Fatal(err)
		}
		want := Config{DataDir: data, GitDir: filepath.Join(data, "repo.git"), CanonRef: "refs/heads/main", SeqOrigin: 0x3b,
			CommitterName: "capstore", CommitterEmail: "capstore@stasima.local", Orientation: "technical/orientation",
			HTTPAddr: "127.0.0.1:8787", BusPrefix: "stasima", MaxBodyBytes: 1048576, MCPMaxSessions: 1024, EventsMaxAge: 30 * 24 * time.Hour,
			MapDB: filepath.Join(data, "map_index.sqlite"), IndexBarrier: 70 * time.Second, AuditDB: filepath.Join(data, "audit.sqlite"),
			AuditBarrier: 10 * time.Second, Approvers: []string{"practitioner"}, AirlockSecret: filepath.Join(data, "totp.secret"),
			AirlockFloor: 120 * time.Second, AirlockCeiling: 7200 * time.Second,
			AirlockFailureBudget: 20, AirlockFailurePeriod: time.Hour, AirlockLock: 15 * time.Minute, EmbedBackend: "stub", EmbedModel: "nomic-embed-text",
			EmbedDim: 768, EmbedDocPrefix: "search_document: ", EmbedQueryPrefix: "search_query: ", SearchMode: "hybrid",
			Transport: "stdio", RestSessionIdle: time.Hour, GitNetworkTimeout: 300 * time.Second}
		if !configEqual(c, want) {
			t.Fatalf("defaults:\n got %+v\nwant %+v", c, want)
		}
	})
	t.Run("derived paths strip trailing separators", func(t *testing.T) { // D-26
		clearConfigEnv(t)
		c, err := loadConfig(t.TempDir(), writeConf(t, "git_dir = \"/srv/dep/repo.git///\"\n"), "")
		if err != nil || c.AuditDB != "/srv/dep/audit.sqlite" || c.MapDB != "/srv/dep/map_index.sqlite" || c.AirlockSecret != "/srv/dep/totp.secret" {
			t.Fatalf("%+v %v", c, err)
		}
	})
	t.Run("the eight env overrides", func(t *testing.T) { // O-config-2
		clearConfigEnv(t)
		conf := writeConf(t, `git_dir = "/file/repo.git"
approvers = ["file"]
canon_ref = "refs/heads/file"
map_db = "/file/map.sqlite"
audit_db = "/file/audit.sqlite"
embed_model = "file-model"
embed_dim = 10
`)
		t.Setenv("STASIMA_GIT_DIR", "/env/repo.git")
		t.Setenv("STASIMA_APPROVERS", " zed , ,amy ")
		t.Setenv("STASIMA_CANON_REF", "refs/heads/env")
		t.Setenv("STASIMA_MAP_DB", "/env/map.sqlite")
		t.Setenv("STASIMA_AUDIT_DB", "/env/audit.sqlite")
		t.Setenv("STASIMA_EMBED_URL", "http://embed:11434")
		t.Setenv("STASIMA_EMBED_MODEL", "env-model")
		t.Setenv("STASIMA_EMBED_DIM", "384")
		c, err := loadConfig(t.TempDir(), conf, "")
		if err != nil {
			t.Fatal(err)
		}
		got := []any{c.GitDir, c.Approvers, c.CanonRef, c.MapDB, c.AuditDB, c.EmbedURL, c.EmbedBackend, c.EmbedModel, c.EmbedDim}
		want := []any{"/env/repo.git", []string{"amy", "zed"}, "refs/heads/env", "/env/map.sqlite", "/env/audit.sqlite", "http://embed:11434", "local-server", "env-model", 384}
		for i := range want {
			if !equalAny(got[i], want[i]) {
				t.Errorf("field %d: got %v want %v", i, got[i], want[i])
			}
		}
	})
	t.Run("embed url keeps the file's backend", func(t *testing.T) { // O-config-2
		clearConfigEnv(t)
		t.Setenv("STASIMA_EMBED_URL", "http://embed:11434")
		c, err := loadConfig(t.TempDir(), writeConf(t, "git_dir = \"/r.git\"\nembed_backend = \"stub\"\n"), "")
		if err != nil || c.EmbedBackend != "stub" {
			t.Fatalf("%+v %v", c.EmbedBackend, err)
		}
	})
	t.Run("every key's variable overrides the file", func(t *testing.T) { // O-config-2, extended to every key
		clearConfigEnv(t)
		for k, v := range map[string]string{"STASIMA_NATS_URL": "nats://env:4222", "STASIMA_AUDIT_DSN": "postgres://env", "STASIMA_DEPLOYMENT_NAME": "env",
			"STASIMA_HTTP_PORT": "9999", "STASIMA_TRANSPORT": "http", "STASIMA_HTTP_ALLOWED_HOSTS": " a.example, ,b.example ",
			"STASIMA_EMBED_DOC_PREFIX": "doc: ", "STASIMA_AIRLOCK_FLOOR_S": "300", "STASIMA_GIT_TIMEOUT": "2.5",
			"STASIMA_SEQ_ORIGIN": "0x40", "STASIMA_BINDING": " Witness "} {
			t.Setenv(k, v)
		}
		c, err := loadConfig(t.TempDir(), writeConf(t, "git_dir = \"/r.git\"\ndeployment_name = \"file\"\nhttp_port = 8000\nairlock_floor_s = 200\n"), "")
		if err != nil {
			t.Fatal(err)
		}
		if c.NATSURL != "nats://env:4222" || c.AuditDSN != "postgres://env" || c.DeploymentName != "env" || c.HTTPAddr != "127.0.0.1:9999" ||
			c.Transport != "http" || !slices.Equal(c.HTTPAllowedHosts, []string{"a.example", "b.example"}) || c.EmbedDocPrefix != "doc: " ||
			c.AirlockFloor != 300*time.Second || c.GitTimeout != 2500*time.Millisecond || c.SeqOrigin != 0x40 || c.BindingMode != "witness" {
			t.Fatalf("%+v", c)
		}
	})
	t.Run("every field has a variable", func(t *testing.T) { // O-config-2, extended to every key
		clearConfigEnv(t)
		ft := reflect.TypeFor[fileConfig]()
		for i := range ft.NumField() {
			key := ft.Field(i).Tag.Get("toml")
			t.Setenv(configEnvVar(key), "7")
			var f fileConfig
			if err := overlayEnv(&f); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			if reflect.ValueOf(f).Field(i).IsZero() {
				t.Errorf("%s=7 left %s unset", configEnvVar(key), key)
			}
			t.Setenv(configEnvVar(key), "")
		}
	})
	t.Run("a variable's bad integer names the key", func(t *testing.T) { // O-config-3
		clearConfigEnv(t)
		t.Setenv("STASIMA_MCP_MAX_SESSIONS", "lots")
		if _, err := loadConfig(t.TempDir(), "", ""); err == nil || !strings.Contains(err.Error(), "mcp_max_sessions must be an integer, got lots") {
			t.Fatalf("got %v", err)
		}
	})
	for _, tt := range []struct{ env, val, want string }{ // hostile variables are refused, naming the key
		{"STASIMA_MAX_BODY_BYTES", "99999999999999999999", "max_body_bytes must be an integer"},
		{"STASIMA_MAX_BODY_BYTES", "-1", "max_body_bytes"},
		{"STASIMA_EVENTS_MAX_AGE_DAYS", "9223372036854775807", "events_max_age_days"},
		{"STASIMA_EVENTS_MAX_AGE_DAYS", "213504", "events_max_age_days is out of range"}, // would wrap to 25 minutes
		{"STASIMA_AIRLOCK_CEILING_S", "9223372036854775807", "airlock_ceiling_s"},
		{"STASIMA_REST_SESSION_IDLE_S", "-5", "rest_session_idle_s"},
		{"STASIMA_GIT_TIMEOUT", "NaN", "git_timeout"},
		{"STASIMA_GIT_TIMEOUT", "Inf", "git_timeout"},
		{"STASIMA_GIT_NETWORK_TIMEOUT", "1e300", "git_network_timeout"},
		{"STASIMA_GIT_NETWORK_TIMEOUT", "-Inf", "git_network_timeout"},
		{"STASIMA_SEARCH_SCORE_FLOOR", "NaN", "search_score_floor"},
		{"STASIMA_DEPLOYMENT_NAME", "bad\xffname", "STASIMA_DEPLOYMENT_NAME"},
		{"STASIMA_APPROVERS", "\xfe", "STASIMA_APPROVERS"},
	} {
		t.Run("variable "+tt.env+"="+tt.val, func(t *testing.T) {
			clearConfigEnv(t)
			t.Setenv(tt.env, tt.val)
			if _, err := loadConfig(t.TempDir(), "", ""); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error naming %q", err, tt.want)
			}
		})
	}
	t.Run("blank variables are not set", func(t *testing.T) { // O-config-2: non-empty values only
		clearConfigEnv(t)
		t.Setenv("STASIMA_DEPLOYMENT_NAME", "  ")
		t.Setenv("STASIMA_HTTP_PORT", "")
		c, err := loadConfig(t.TempDir(), writeConf(t, "git_dir = \"/r.git\"\ndeployment_name = \"file\"\n"), "")
		if err != nil || c.DeploymentName != "file" || c.HTTPAddr != "127.0.0.1:8787" {
			t.Fatalf("%+v %v", c, err)
		}
	})
	t.Run("STASIMA_HTTP is --http", func(t *testing.T) {
		clearConfigEnv(t)
		t.Setenv("STASIMA_HTTP", "127.0.0.1:0")
		c, err := loadUpConfig(t.TempDir(), "", "")
		if err != nil || c.HTTPAddr != "127.0.0.1:0" {
			t.Fatalf("%+v %v", c, err)
		}
		if c, err = loadUpConfig(t.TempDir(), "", "127.0.0.1:9"); err != nil || c.HTTPAddr != "127.0.0.1:9" {
			t.Fatalf("the flag must win: %+v %v", c, err)
		}
	})
	t.Run("unknown variables are named", func(t *testing.T) { // O-config-4's rule for the environment
		got := unknownEnv([]string{"STASIMA_GIT_DIR=/x", "STASIMA_GITDIR=/x", "STASIMA_INSTANCE=a", "STASIMA_TEST_PG_DSN=x", "HOME=/", "STASIMA_BINDING_MODE=off", "STASIMA_DATA=d"})
		if !slices.Equal(got, []string{"STASIMA_BINDING_MODE", "STASIMA_GITDIR"}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("string approvers split", func(t *testing.T) { // O-config-2
		clearConfigEnv(t)
		c, err := loadConfig(t.TempDir(), writeConf(t, "git_dir = \"/r.git\"\napprovers = \"b, a,,c \"\n"), "")
		if err != nil || !slices.Equal(c.Approvers, []string{"a", "b", "c"}) {
			t.Fatalf("%v %v", c.Approvers, err)
		}
	})
	t.Run("empty env approvers refused in order", func(t *testing.T) { // O-config-2 then O-config-14
		clearConfigEnv(t)
		t.Setenv("STASIMA_APPROVERS", " , ")
		if _, err := loadConfig(t.TempDir(), "", ""); err == nil || !strings.Contains(err.Error(), "approver") {
			t.Fatalf("got %v", err)
		}
	})
	tests := []struct {
		name string
		give string
		want string
	}{ // O-config-3
		{"integer field", "embed_dim = \"many\"", "embed_dim must be an integer, got many"},
		{"port not integer", "http_port = \"80a\"", "http_port must be an integer, got 80a"},
		{"floor not integer", "airlock_floor_s = \"soon\"", "airlock_floor_s must be an integer, got soon"},
		{"seq origin not integer", "seq_origin = \"x\"", "seq_origin must be an integer, got x"},
		{"number field", "git_timeout = \"fast\"", "git_timeout must be a number, got fast"},
		{"network number field", "git_network_timeout = \"slow\"", "git_network_timeout must be a number, got slow"},
		{"score floor", "search_score_floor = \"high\"", "search_score_floor must be a number, got high"},
		{"score floor nan", "search_score_floor = nan", "search_score_floor must be a number, got NaN"},
		{"timeout inf", "git_timeout = inf", "git_timeout must be a number, got +Inf"},
		{"duration past its range", "airlock_lock_s = 9223372037", "airlock_lock_s is out of range, got 9223372037"},
		{"session cap not integer", "mcp_max_sessions = \"lots\"", "mcp_max_sessions must be an integer, got lots"},
		{"session cap zero", "mcp_max_sessions = 0", "mcp_max_sessions must be at least 1, got 0"},
		{"session cap negative", "mcp_max_sessions = -5", "mcp_max_sessions must be at least 1, got -5"},
		{"failure budget zero", "airlock_failure_budget = 0", "airlock_failure_budget (0)"},
		{"failure budget negative", "airlock_failure_budget = -20", "must be positive"},
		{"lock zero", "airlock_lock_s = 0", "must be positive"},
		{"failure period negative", "airlock_failure_period_s = -1", "must be positive"},
		{"floor below code lifetime", "airlock_floor_s = 90", "airlock_floor_s"},
		{"unknown keys sorted", "zeta = 1\nalpha = 2", "unknown keys (flat TOML; check spelling): alpha, zeta"}, // O-config-4
		{"table is unknown", "[server]\nport = 1", "server"},                                                    // O-config-4
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearConfigEnv(t)
			_, err := loadConfig(t.TempDir(), writeConf(t, "git_dir = \"/r.git\"\n"+tt.give+"\n"), "")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
	t.Run("hex and numeric strings", func(t *testing.T) { // O-config-3
		clearConfigEnv(t)
		c, err := loadConfig(t.TempDir(), writeConf(t, "git_dir = \"/r.git\"\nseq_origin = 0x3b\nembed_dim = \"384\"\ngit_timeout = 3\nsearch_score_floor = 0.25\n"), "")
		if err != nil || c.SeqOrigin != 0x3b || c.EmbedDim != 384 || c.GitTimeout != 3*time.Second || c.SearchScoreFloor == nil || *c.SearchScoreFloor != 0.25 {
			t.Fatalf("%+v %v", c, err)
		}
	})
	t.Run("STASIMA_BINDING overrides binding_mode", func(t *testing.T) { // O-config-5
		clearConfigEnv(t)
		t.Setenv("STASIMA_BINDING", "Witness") // I-3: case-insensitive
		c, err := loadConfig(t.TempDir(), writeConf(t, "git_dir = \"/r.git\"\nbinding_mode = \"off\"\n"), "")
		if err != nil || c.BindingMode != "witness" {
			t.Fatalf("%v %v", c.BindingMode, err)
		}
		t.Setenv("STASIMA_BINDING", "sloppy")
		if _, err := loadConfig(t.TempDir(), "", ""); err == nil || !strings.Contains(err.Error(), "sloppy") {
			t.Fatalf("STASIMA_BINDING is validated as binding_mode: %v", err)
		}
	})
	t.Run("public url host joins the allowed hosts", func(t *testing.T) { // O-config-20
		clearConfigEnv(t)
		c, err := loadConfig(t.TempDir(), writeConf(t, "git_dir = \"/r.git\"\ntransport = \"http\"\nhttp_allowed_hosts = [\"a.example\"]\nhttp_public_url = \"https://b.example:8443/x\"\n"), "")
		if err != nil || !slices.Equal(c.HTTPAllowedHosts, []string{"a.example", "b.example:8443"}) {
			t.Fatalf("%v %v", c.HTTPAllowedHosts, err)
		}
		c, err = loadConfig(t.TempDir(), writeConf(t, "git_dir = \"/r.git\"\ntransport = \"http\"\nhttp_allowed_hosts = [\"b.example\"]\nhttp_public_url = \"https://b.example\"\n"), "")
		if err != nil || !slices.Equal(c.HTTPAllowedHosts, []string{"b.example"}) {
			t.Fatalf("not appended twice: %v %v", c.HTTPAllowedHosts, err)
		}
	})
	t.Run("the deploy config is valid", func(t *testing.T) {
		clearConfigEnv(t)
		c, err := loadConfig(t.TempDir(), filepath.Join("..", "..", "deploy", "stasima.toml"), "")
		if err != nil || c.NATSURL == "" || c.Transport != "http" {
			t.Fatalf("%+v %v", c, err)
		}
	})
}

func configEqual(a, b Config) bool { return reflect.DeepEqual(a, b) }

func equalAny(a, b any) bool { return reflect.DeepEqual(a, b) }

// TestLoadConfig_RelativePathsBesideFile: relative paths in a config file resolve against the
// file's directory whatever the working directory, and the file implies its data dir (data_dir,
// else the parent of git_dir), so `up` and `admin` given the same file meet.
func TestLoadConfig_RelativePathsBesideFile(t *testing.T) {
	clearConfigEnv(t)
	t.Chdir(t.TempDir())
	tests := []struct {
		name string
		give string
		want Config
	}{
		{"paths beside the file", "git_dir = \"stasima.git\"\nmap_db = \"idx/map.sqlite\"\naudit_db = \"../elsewhere/audit.sqlite\"\nairlock_secret_path = \"totp.secret\"\n",
			Config{GitDir: "stasima.git", MapDB: "idx/map.sqlite", AuditDB: "../elsewhere/audit.sqlite", AirlockSecret: "totp.secret", DataDir: "."}},
		{"defaults next to git_dir", "git_dir = \"dep/stasima.git/\"\n",
			Config{GitDir: "dep/stasima.git/", MapDB: "dep/map_index.sqlite", AuditDB: "dep/audit.sqlite", AirlockSecret: "dep/totp.secret", DataDir: "dep"}},
		{"data_dir named", "git_dir = \"stasima.git\"\ndata_dir = \"run\"\n",
			Config{GitDir: "stasima.git", MapDB: "map_index.sqlite", AuditDB: "audit.sqlite", AirlockSecret: "totp.secret", DataDir: "run"}},
		{"absolute paths kept", "git_dir = \"/srv/dep/repo.git\"\n",
			Config{GitDir: "/srv/dep/repo.git", MapDB: "/srv/dep/map_index.sqlite", AuditDB: "/srv/dep/audit.sqlite", AirlockSecret: "/srv/dep/totp.secret", DataDir: "/srv/dep"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf := writeConf(t, tt.give)
			dir := filepath.Dir(conf)
			at := func(p string) string {
				if filepath.IsAbs(p) {
					return p
				}
				return filepath.Join(dir, p)
			}
			c, err := loadConfig("", conf, "")
			if err != nil {
				t.Fatal(err)
			}
			got := [5]string{c.GitDir, c.MapDB, c.AuditDB, c.AirlockSecret, c.DataDir}
			want := [5]string{at(tt.want.GitDir), at(tt.want.MapDB), at(tt.want.AuditDB), at(tt.want.AirlockSecret), at(tt.want.DataDir)}
			if got != want {
				t.Errorf("git_dir, map_db, audit_db, secret, data dir\n got %q\nwant %q", got, want)
			}
		})
	}
	t.Run("flag and env still name the data dir", func(t *testing.T) {
		conf := writeConf(t, "git_dir = \"stasima.git\"\ndata_dir = \"run\"\n")
		if c, _ := loadConfig("flagdir", conf, ""); c.DataDir != "flagdir" {
			t.Errorf("--data: data dir %q", c.DataDir)
		}
		t.Setenv("STASIMA_DATA", "envdir")
		if c, _ := loadConfig("", conf, ""); c.DataDir != "envdir" {
			t.Errorf("STASIMA_DATA: data dir %q", c.DataDir)
		}
	})
}
