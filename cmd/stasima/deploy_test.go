package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	composeschema "github.com/compose-spec/compose-go/v2/schema"
	"github.com/nats-io/nats-server/v2/server"
	"gopkg.in/yaml.v3"

	"github.com/stasima/stasima/pkg/bus"
)

var deployDir = filepath.Join("..", "..", "deploy")

// composeFile is the subset of deploy/compose.yaml the structural checks read.
type composeFile struct {
	Services map[string]struct {
		Image           string            `json:"image"`
		StopGracePeriod string            `json:"stop_grace_period"`
		Command         []string          `json:"command"`
		Profiles        []string          `json:"profiles"`
		Volumes         []string          `json:"volumes"`
		Ports           []string          `json:"ports"`
		Environment     map[string]string `json:"environment"`
		Healthcheck     *struct {
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

// TestDeploy_ComposeLeastPrivilege checks the compose file's trust boundary (ARCH-11,
// O-deploy-2, O-deploy-3): PostgreSQL with password authentication and a role and database per
// service, each container with its own DSN alone (audit, the indexer, the gateway's OAuth store),
// the nats image on the embedded server's minor version, and a stop grace period above the
// barrier timeouts.
func TestDeploy_ComposeLeastPrivilege(t *testing.T) {
	var cf composeFile
	if err := json.Unmarshal(composeJSON(t), &cf); err != nil {
		t.Fatal(err)
	}
	pg := cf.Services["postgres"]
	if _, trust := pg.Environment["POSTGRES_HOST_AUTH_METHOD"]; trust || pg.Environment["POSTGRES_PASSWORD"] != "${PG_PASSWORD_ADMIN:?run deploy/init.sh first}" {
		t.Errorf("postgres environment %v: want a superuser password from PG_PASSWORD_ADMIN and no host auth method", pg.Environment)
	}
	if !slices.Contains(pg.Volumes, "./postgres-roles.sh:/docker-entrypoint-initdb.d/roles.sh:ro") {
		t.Errorf("postgres volumes %v: the roles script is not mounted", pg.Volumes)
	}
	roles, err := os.ReadFile(filepath.Join(deployDir, "postgres-roles.sh"))
	if err != nil {
		t.Fatal(err)
	}
	// The shared config's DSNs name a database each and carry no credentials; each container
	// gets its own role's PGUSER and PGPASSWORD alone (libpq's variables, read by pgx).
	clearConfigEnv(t)
	cfg, err := loadConfig(t.TempDir(), filepath.Join(deployDir, "stasima.toml"), "")
	if err != nil {
		t.Fatal(err)
	}
	for role, dsn := range map[string]string{"audit": cfg.AuditDSN, "indexer": cfg.IndexDSN, "gateway": cfg.AuthDSN} {
		if dsn != "postgres://postgres:5432/"+role+"?sslmode=disable" {
			t.Errorf("%s DSN %q: want database %s on postgres without credentials", role, dsn, role)
		}
	}
	own := map[string]string{"audit": "audit", "indexer": "indexer", "gateway": "gateway"}
	for name, s := range cf.Services {
		if s.Image != "stasima:local" {
			continue
		}
		if s.Environment["STASIMA_CONFIG"] != "/etc/stasima/stasima.toml" {
			t.Errorf("%s: environment %v lost the shared config", name, s.Environment)
		}
		for k, v := range s.Environment {
			if strings.HasPrefix(k, "PG") && own[name] == "" || strings.Contains(v, "PG_PASSWORD_") && v != "${PG_PASSWORD_"+strings.ToUpper(own[name])+":?run deploy/init.sh first}" {
				t.Errorf("%s holds %s=%s, a database credential not its own", name, k, v)
			}
		}
		if role, ok := own[name]; ok {
			if s.Environment["PGUSER"] != role || s.Environment["PGPASSWORD"] != "${PG_PASSWORD_"+strings.ToUpper(role)+":?run deploy/init.sh first}" {
				t.Errorf("%s: PGUSER %q PGPASSWORD %q, want its own role %s", name, s.Environment["PGUSER"], s.Environment["PGPASSWORD"], role)
			}
			if pg.Environment["PG_PASSWORD_"+strings.ToUpper(role)] == "" || !strings.Contains(string(roles), role+") pw=\"$PG_PASSWORD_"+strings.ToUpper(role)+"\"") {
				t.Errorf("the %s role is not created with PG_PASSWORD_%s", role, strings.ToUpper(role))
			}
			if _, ok := s.DependsOn["postgres"]; !ok {
				t.Errorf("%s does not wait for postgres", name)
			}
		}
		grace, err := time.ParseDuration(s.StopGracePeriod)
		if def := defaultConfigForTest(t); err != nil || grace <= def.IndexBarrier || grace <= def.AuditBarrier {
			t.Errorf("%s: stop_grace_period %q (%v), want above the barrier timeouts (%v, %v)", name, s.StopGracePeriod, err, def.IndexBarrier, def.AuditBarrier)
		}
	}
	// The nats image runs the embedded server's minor version: tests, `up` and compose agree.
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("no build info")
	}
	var embedded string
	for _, d := range bi.Deps {
		if d.Path == "github.com/nats-io/nats-server/v2" {
			embedded = d.Version
		}
	}
	parts := strings.SplitN(strings.TrimPrefix(embedded, "v"), ".", 3)
	if len(parts) < 2 || cf.Services["nats"].Image != "nats:"+parts[0]+"."+parts[1]+"-alpine" {
		t.Errorf("nats image %q, the embedded server is %q", cf.Services["nats"].Image, embedded)
	}
}

// defaultConfigForTest is the configuration every container starts from (its barriers).
func defaultConfigForTest(t *testing.T) Config {
	t.Helper()
	clearConfigEnv(t)
	cfg, err := loadConfig(t.TempDir(), filepath.Join(deployDir, "stasima.toml"), "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestDeploy_InitPasswordsParse runs deploy/init.sh for fresh deployments and loads
// deploy/nats.conf with each set, then a few hundred more sets of init.sh's shape (a letter and
// 48 hex digits) including the ones that broke the old all-hex passwords (1e730a…, all digits):
// every password reaches the server as the string written (a hex password used to parse as a
// number and the server refused the file), and a second run of init.sh keeps the values.
func TestDeploy_InitPasswordsParse(t *testing.T) {
	const runs, synthetic = 5, 400
	dir := t.TempDir()
	script, err := os.ReadFile(filepath.Join(deployDir, "init.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "init.sh"), script, 0o700); err != nil {
		t.Fatal(err)
	}
	loop := fmt.Sprintf(`for i in $(seq %d); do rm -f .env; sh ./init.sh 2>/dev/null; cat .env; echo ---; done`, runs)
	cmd := exec.Command("sh", "-c", loop)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	sets := strings.Split(strings.TrimSuffix(string(out), "---\n"), "---\n")
	if len(sets) != runs {
		t.Fatalf("%d password sets, want %d", len(sets), runs)
	}
	shape := regexp.MustCompile(`^s[0-9a-f]{48}$`)
	for i, set := range sets {
		for _, line := range strings.Split(strings.TrimSpace(set), "\n") {
			if _, v, _ := strings.Cut(line, "="); !shape.MatchString(v) {
				t.Fatalf("run %d wrote %q, not a letter and 48 hex digits", i, line)
			}
		}
	}
	tricky := []string{"1e730a", "0000000000", "123456789", "0x1f", "1e9", "7fffffff"}
	for i := 0; i < synthetic; i++ {
		var b strings.Builder
		for _, k := range []string{"CAPSTORE", "AUDIT", "AIRLOCK", "INDEXER", "GATEWAY", "ADMIN"} {
			hex := fmt.Sprintf("%x", []byte(randomSecret())[:24])
			if i < len(tricky) {
				hex = tricky[i] + hex[len(tricky[i]):]
			}
			fmt.Fprintf(&b, "BUS_PASSWORD_%s=s%s\n", k, hex)
		}
		for _, k := range []string{"ADMIN", "AUDIT", "INDEXER", "GATEWAY"} {
			fmt.Fprintf(&b, "PG_PASSWORD_%s=s%x\n", k, []byte(randomSecret())[:24])
		}
		sets = append(sets, b.String())
	}
	for _, c := range components {
		t.Setenv("BUS_PASSWORD_"+strings.ToUpper(c), "")
	}
	seen := map[string]bool{}
	for i, set := range sets {
		env := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(set), "\n") {
			k, v, _ := strings.Cut(line, "=")
			env[k] = v
		}
		if len(env) != 10 {
			t.Fatalf("run %d wrote %d values: %q", i, len(env), set)
		}
		for k, v := range env {
			if seen[v] {
				t.Fatalf("run %d repeats a password (%s)", i, k)
			}
			seen[v] = true
			os.Setenv(k, v)
		}
		opts, err := server.ProcessConfigFile(filepath.Join(deployDir, "nats.conf"))
		if err != nil {
			t.Fatalf("run %d: nats-server refuses deploy/nats.conf with init.sh's passwords: %v\n%s", i, err, set)
		}
		for _, u := range opts.Users {
			if want := env["BUS_PASSWORD_"+strings.ToUpper(u.Username)]; u.Password != want {
				t.Fatalf("run %d: user %s has password %q, init.sh wrote %q", i, u.Username, u.Password, want)
			}
		}
	}
	// A second run over an existing file keeps every value.
	before, _ := os.ReadFile(filepath.Join(dir, ".env"))
	if err := exec.Command("sh", filepath.Join(dir, "init.sh")).Run(); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, ".env"))
	if string(before) != string(after) {
		t.Fatalf("init.sh rewrote an existing .env:\n%s\n---\n%s", before, after)
	}
	if st, err := os.Stat(filepath.Join(dir, ".env")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf(".env mode %v %v", st, err)
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

// updateDeploy rewrites the generated deploy files (deploy/nats.conf) from pkg/bus's table:
// go test -run TestDeploy_NATSConf -update.
var updateDeploy = flag.Bool("update", false, "rewrite deploy/nats.conf from pkg/bus's least-privilege table")

// natsConfHead is deploy/nats.conf above its users.
const natsConfHead = `# NATS JetStream for the compose deployment (operations O-deploy-2, O-deploy-3, ARCH-11, ARCH-13).
# GENERATED from pkg/bus's least-privilege table (bus.Subjects.Permissions) by
#   go test ./cmd/stasima -run TestDeploy_NATSConf -update
# do not edit by hand; the embedded bus of ` + "`stasima up`" + ` gets the same users and permissions.
# One user per component; each password comes from the nats container's environment
# (deploy/.env, written by deploy/init.sh) and reaches the component as its own compose secret at
# /run/secrets/bus (nats_creds). Each service user may publish and subscribe only what its
# component uses; admin alone is unrestricted.
port: 4222
server_name: stasima-nats
max_payload: 16MB
# Monitoring on the container's loopback only, for the compose healthcheck.
http: "127.0.0.1:8222"

# sync_interval always: an acknowledged message is on disk (ARCH-13); a clustered deployment
# runs its streams with 3 replicas instead.
jetstream {
  store_dir: /data
  max_memory_store: 256MB
  sync_interval: always
}

authorization {
  users: [
`

// renderNATSConf is deploy/nats.conf for the default prefix: the head, then every component's
// user with its allow lists from pkg/bus.
func renderNATSConf() string {
	subj := bus.MustSubjects(bus.DefaultPrefix)
	var b strings.Builder
	b.WriteString(natsConfHead)
	list := func(indent, key string, subjects []string) {
		if len(subjects) == 0 && key == "deny" {
			return
		}
		fmt.Fprintf(&b, "%s%s: [\n", indent, key)
		for _, s := range subjects {
			fmt.Fprintf(&b, "%s  %q\n", indent, s)
		}
		fmt.Fprintf(&b, "%s]\n", indent)
	}
	for _, u := range componentUsers(subj, func(string) string { return "" }) {
		env := "$BUS_PASSWORD_" + strings.ToUpper(u.Name)
		if u.Unrestricted {
			fmt.Fprintf(&b, "    # %s: unrestricted (the operator's CLI).\n    {user: %s, password: %s}\n", u.Name, u.Name, env)
			continue
		}
		fmt.Fprintf(&b, "    {\n      user: %s\n      password: %s\n      permissions: {\n", u.Name, env)
		b.WriteString("        publish: {\n")
		list("          ", "allow", u.PublishAllow)
		list("          ", "deny", u.PublishDeny)
		b.WriteString("        }\n        subscribe: {\n")
		list("          ", "allow", u.SubscribeAllow)
		list("          ", "deny", u.SubscribeDeny)
		b.WriteString("        }\n")
		if u.AllowResponses {
			b.WriteString("        allow_responses: true\n")
		}
		b.WriteString("      }\n    }\n")
	}
	b.WriteString("  ]\n}\n")
	return b.String()
}

// TestDeploy_NATSConfGenerated holds deploy/nats.conf equal to what pkg/bus's table generates
// (ARCH-11): change the table, then regenerate with -update.
func TestDeploy_NATSConfGenerated(t *testing.T) {
	path := filepath.Join(deployDir, "nats.conf")
	want := renderNATSConf()
	if *updateDeploy {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("deploy/nats.conf is not what pkg/bus's table generates; run\n  go test ./cmd/stasima -run TestDeploy_NATSConfGenerated -update\n--- got\n%s\n--- want\n%s", got, want)
	}
}

// TestDeploy_NATSConfMatchesEmbedded is ARCH-11/O-deploy-3 across both deployments, as the
// server reads them: deploy/nats.conf defines exactly the embedded bus's users with the same
// permissions, no service user may publish or subscribe ">", JetStream on the file store with
// sync always (ARCH-13).
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
	sorted := func(s []string) []string { return slices.Sorted(slices.Values(s)) }
	for _, w := range want {
		u := got[w.Name]
		if u == nil {
			t.Errorf("user %s missing from nats.conf", w.Name)
			continue
		}
		if u.Password != w.Password {
			t.Errorf("user %s: password not from BUS_PASSWORD_%s", w.Name, strings.ToUpper(w.Name))
		}
		if w.Unrestricted {
			if u.Permissions != nil {
				t.Errorf("user %s: permissions %+v, the embedded bus has none", w.Name, u.Permissions)
			}
			continue
		}
		p := u.Permissions
		if p == nil || p.Publish == nil || p.Subscribe == nil {
			t.Fatalf("user %s: permissions %+v", w.Name, p)
		}
		for _, c := range []struct {
			what      string
			got, want []string
		}{
			{"publish allow", p.Publish.Allow, w.PublishAllow}, {"publish deny", p.Publish.Deny, w.PublishDeny},
			{"subscribe allow", p.Subscribe.Allow, w.SubscribeAllow}, {"subscribe deny", p.Subscribe.Deny, w.SubscribeDeny},
		} {
			if !slices.Equal(sorted(c.got), sorted(c.want)) {
				t.Errorf("user %s %s:\n nats.conf %v\n embedded  %v", w.Name, c.what, c.got, c.want)
			}
		}
		if (p.Response != nil) != w.AllowResponses {
			t.Errorf("user %s: allow_responses %v, the embedded bus %v", w.Name, p.Response != nil, w.AllowResponses)
		}
		if slices.Contains(p.Publish.Allow, ">") || slices.Contains(p.Subscribe.Allow, ">") {
			t.Errorf("user %s may use every subject", w.Name)
		}
	}
}
