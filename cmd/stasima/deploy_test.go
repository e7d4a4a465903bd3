package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	composeschema "github.com/compose-spec/compose-go/v2/schema"
	"github.com/nats-io/nats-server/v2/server"
	"gopkg.in/yaml.v3"

	"github.com/stasima/stasima/pkg/bus"
)

var deployDir = filepath.Join("..", "..", "deploy")

// composeFile is the subset of deploy/compose.yaml the structural checks read.
type composeFile struct {
	Services map[string]struct {
		Image       string            `json:"image"`
		Command     []string          `json:"command"`
		Profiles    []string          `json:"profiles"`
		Volumes     []string          `json:"volumes"`
		Ports       []string          `json:"ports"`
		Environment map[string]string `json:"environment"`
		Healthcheck *struct {
			Test    []string `json:"test"`
			Disable bool     `json:"disable"`
		} `json:"healthcheck"`
		DependsOn map[string]struct {
			Condition string `json:"condition"`
		} `json:"depends_on"`
		Secrets []struct {
			Source string `json:"source"`
			Target string `json:"target"`
			UID    string `json:"uid"`
			GID    string `json:"gid"`
			Mode   *int   `json:"mode"`
		} `json:"secrets"`
		Networks map[string]struct {
			IPv4 string `json:"ipv4_address"`
		} `json:"networks"`
	} `json:"services"`
	Secrets map[string]struct {
		Environment string `json:"environment"`
	} `json:"secrets"`
	Volumes map[string]any `json:"volumes"`
}

// composeJSON reads compose.yaml (anchors and merge keys resolved) as JSON.
func composeJSON(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// TestDeploy_ComposeSchema validates deploy/compose.yaml against the Compose Specification's
// JSON schema, as embedded and applied by compose-go (the reference implementation's loader;
// no Docker engine here).
func TestDeploy_ComposeSchema(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(composeJSON(t), &doc); err != nil {
		t.Fatal(err)
	}
	if err := composeschema.Validate(doc); err != nil {
		t.Fatalf("deploy/compose.yaml violates the compose specification:\n%v", err)
	}
	// The schema is not vacuous: a misspelt key is refused.
	bad := map[string]any{"services": map[string]any{"x": map[string]any{"imagee": "y"}}}
	if composeschema.Validate(bad) == nil {
		t.Fatal("the schema accepted an unknown service key")
	}
}

// TestDeploy_ComposeTopology checks O-deploy-2 and ARCH-11 on the compose file: one container
// per `stasima serve` service (each command a real serve subcommand the binary accepts), the
// gateway on the host's loopback, the secrets volume in airlock only, the backup volume shared
// by capstore, audit, airlock and the CLI, the same read-only config everywhere, own bus
// credentials per component, healthchecks and health-gated depends_on.
func TestDeploy_ComposeTopology(t *testing.T) {
	var cf composeFile
	if err := json.Unmarshal(composeJSON(t), &cf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"nats", "postgres", "capstore", "audit", "airlock", "indexer", "gateway"} {
		if _, ok := cf.Services[want]; !ok {
			t.Errorf("service %s missing", want)
		}
	}
	for _, v := range []string{"nats", "postgres", "repo", "secrets", "backup"} {
		if _, ok := cf.Volumes[v]; !ok {
			t.Errorf("volume %s missing", v)
		}
	}
	served := map[string]bool{}
	busSecrets := map[string]string{} // secret source → component
	for name, s := range cf.Services {
		if s.Image != "stasima:local" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			mounts := map[string]string{} // target → source
			for _, v := range s.Volumes {
				parts := strings.Split(v, ":")
				mounts[parts[1]] = parts[0]
				if parts[1] == "/etc/stasima/stasima.toml" && (parts[0] != "./stasima.toml" || len(parts) < 3 || parts[2] != "ro") {
					t.Errorf("config mount %q: want ./stasima.toml read-only", v)
				}
			}
			if mounts["/etc/stasima/stasima.toml"] == "" || s.Environment["STASIMA_CONFIG"] != "/etc/stasima/stasima.toml" {
				t.Errorf("the shared config is not mounted and named: %v %v", s.Volumes, s.Environment)
			}
			component := name
			if name == "cli" {
				component = "admin"
				if len(s.Command) == 0 || s.Command[0] != "admin" || !slices.Contains(s.Profiles, "cli") {
					t.Errorf("cli: command %v profiles %v", s.Command, s.Profiles)
				}
			} else {
				// A real serve subcommand: the service list, and the binary's own argument
				// parsing accepts it (it gets as far as loading the config).
				if len(s.Command) < 2 || s.Command[0] != "serve" || s.Command[1] != name || !slices.Contains(services, name) {
					t.Fatalf("command %v: want serve %s", s.Command, name)
				}
				served[name] = true
				missing := filepath.Join(t.TempDir(), "none.toml")
				args := append(slices.Clone(s.Command), "--data", t.TempDir(), "--config", missing)
				var stderr bytes.Buffer
				if code := run(args, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), "config file not found") {
					t.Errorf("stasima %v: exit %d %s (want the config error, not a usage error)", args, code, stderr.String())
				}
				if s.Healthcheck == nil || !slices.Equal(s.Healthcheck.Test, []string{"CMD", "/usr/local/bin/stasima", "health"}) {
					t.Errorf("healthcheck %+v", s.Healthcheck)
				}
				if len(s.DependsOn) == 0 {
					t.Error("no depends_on")
				}
				for dep, d := range s.DependsOn {
					if d.Condition != "service_healthy" {
						t.Errorf("depends_on %s: condition %q", dep, d.Condition)
					}
				}
			}
			if len(s.Secrets) != 1 || s.Secrets[0].Target != "bus" {
				t.Fatalf("secrets %+v: want one bus credential at /run/secrets/bus", s.Secrets)
			}
			// busAuth refuses a credentials file open to group or others, and the image runs as
			// 65532: compose writes the secret 0444 root-owned unless told otherwise.
			if sec := s.Secrets[0]; sec.UID != "65532" || sec.GID != "65532" || sec.Mode == nil || *sec.Mode != 0o400 {
				t.Errorf("bus secret %+v: want uid and gid 65532 (the image's user) and mode 0400", sec)
			}
			src := s.Secrets[0].Source
			if other, dup := busSecrets[src]; dup {
				t.Errorf("bus secret %s shared with %s", src, other)
			}
			busSecrets[src] = component
			if env := cf.Secrets[src].Environment; env != "BUS_PASSWORD_"+strings.ToUpper(component) {
				t.Errorf("secret %s comes from %q, want BUS_PASSWORD_%s", src, env, strings.ToUpper(component))
			}
			if got, want := mounts["/var/lib/stasima-secrets"] == "secrets", name == "airlock"; got != want {
				t.Errorf("secrets volume mounted=%v, want %v (airlock only, ARCH-3)", got, want)
			}
			if got, want := mounts["/backup"] == "backup", slices.Contains([]string{"capstore", "audit", "airlock", "cli"}, name); got != want {
				t.Errorf("backup volume mounted=%v, want %v (O-backup-5)", got, want)
			}
			if got, want := mounts["/var/lib/stasima"] == "repo", name == "capstore"; got != want {
				t.Errorf("repo volume mounted=%v, want %v (ARCH-1)", got, want)
			}
		})
	}
	for _, svc := range services {
		if !served[svc] {
			t.Errorf("no container runs stasima serve %s", svc)
		}
	}
	gw := cf.Services["gateway"]
	if !slices.Equal(gw.Ports, []string{"127.0.0.1:8787:8787"}) {
		t.Errorf("gateway ports %v: want the host's loopback only", gw.Ports)
	}
	for name, s := range cf.Services {
		if name != "gateway" && len(s.Ports) > 0 {
			t.Errorf("%s publishes %v; only the gateway is published", name, s.Ports)
		}
	}
	if n := cf.Services["nats"]; !slices.Contains(n.Volumes, "nats:/data") || !slices.Contains(n.Volumes, "./nats.conf:/etc/nats/nats.conf:ro") {
		t.Errorf("nats volumes %v", n.Volumes)
	}
	for _, c := range components {
		if v := cf.Services["nats"].Environment["BUS_PASSWORD_"+strings.ToUpper(c)]; v == "" {
			t.Errorf("nats gets no password for %s", c)
		}
	}
	// The shared config agrees with the compose file: credentials at the secret's target, the
	// gateway bound to its fixed address and the published port.
	clearConfigEnv(t)
	cfg, err := loadConfig(t.TempDir(), filepath.Join(deployDir, "stasima.toml"), "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NATSCreds != "/run/secrets/bus" || cfg.HTTPAddr != gw.Networks["default"].IPv4+":8787" || cfg.AuditDSN == "" || cfg.IndexDSN == "" {
		t.Errorf("deploy/stasima.toml: creds %q http %q audit_dsn %q index_dsn %q", cfg.NATSCreds, cfg.HTTPAddr, cfg.AuditDSN, cfg.IndexDSN)
	}
	if !strings.HasPrefix(cfg.AirlockSecret, "/var/lib/stasima-secrets/") {
		t.Errorf("airlock_secret_path %q is not on the secrets volume", cfg.AirlockSecret)
	}
}

// testBusPasswords are what the topology tests give deploy/nats.conf's environment.
func testBusPasswords() map[string]string {
	pw := map[string]string{}
	for _, c := range components {
		pw[c] = "test-" + c + "-" + randomSecret()
	}
	return pw
}

func setBusPasswordEnv(t *testing.T, pw map[string]string) {
	for c, p := range pw {
		t.Setenv("BUS_PASSWORD_"+strings.ToUpper(c), p)
	}
}

// TestDeploy_NATSConfMatchesEmbedded is ARCH-11/O-deploy-3 across both deployments:
// deploy/nats.conf defines exactly the embedded bus's users with the same publish permissions,
// JetStream on the file store with sync always (ARCH-13).
func TestDeploy_NATSConfMatchesEmbedded(t *testing.T) {
	pw := testBusPasswords()
	setBusPasswordEnv(t, pw)
	opts, err := server.ProcessConfigFile(filepath.Join(deployDir, "nats.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if !opts.JetStream || opts.StoreDir != "/data" || !opts.SyncAlways {
		t.Errorf("jetstream %v store %q sync always %v", opts.JetStream, opts.StoreDir, opts.SyncAlways)
	}
	subj, _ := bus.NewSubjects(bus.DefaultPrefix)
	want := componentUsers(subj, func(n string) string { return pw[n] })
	if len(opts.Users) != len(want) {
		t.Fatalf("nats.conf has %d users, the embedded bus %d", len(opts.Users), len(want))
	}
	got := map[string]*server.User{}
	for _, u := range opts.Users {
		got[u.Username] = u
	}
	for _, w := range want {
		u := got[w.Name]
		if u == nil {
			t.Errorf("user %s missing from nats.conf", w.Name)
			continue
		}
		if u.Password != w.Password {
			t.Errorf("user %s: password not from BUS_PASSWORD_%s", w.Name, strings.ToUpper(w.Name))
		}
		if len(w.DenyPublish) == 0 {
			if u.Permissions != nil {
				t.Errorf("user %s: permissions %+v, the embedded bus has none", w.Name, u.Permissions)
			}
			continue
		}
		if u.Permissions == nil || u.Permissions.Publish == nil || u.Permissions.Subscribe != nil || u.Permissions.Response != nil {
			t.Fatalf("user %s: permissions %+v", w.Name, u.Permissions)
		}
		p := u.Permissions.Publish
		gotDeny, wantDeny := slices.Sorted(slices.Values(p.Deny)), slices.Sorted(slices.Values(w.DenyPublish))
		if !slices.Equal(p.Allow, []string{">"}) || !slices.Equal(gotDeny, wantDeny) {
			t.Errorf("user %s: allow %v deny %v\nthe embedded bus: allow [>] deny %v", w.Name, p.Allow, gotDeny, wantDeny)
		}
	}
	// O-deploy-3's list is inside the gateway's denials.
	gw := got["gateway"].Permissions.Publish.Deny
	for _, s := range []string{"stasima.capstore.cmd.land", "stasima.capstore.cmd.prepare_merge", "stasima.capstore.cmd.bootstrap",
		"stasima.capstore.cmd.backup_push", "stasima.capstore.cmd.mirror_push", "stasima.audit.cmd.>", "stasima.index.cmd.>"} {
		if !slices.Contains(gw, s) {
			t.Errorf("gateway may publish %s", s)
		}
	}
}
