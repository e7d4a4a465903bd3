package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/natstest"
	"go.uber.org/fx"
)

func admin(t *testing.T, args ...string) (int, map[string]any, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"admin"}, args...), &out, &errb)
	var res map[string]any
	if code == 0 {
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("stdout is not JSON: %v\n%s", err, out.String())
		}
	}
	return code, res, errb.String()
}

func writeSeed(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"technical/orientation/welcome.md": "# Welcome home\r\nBe kind.\r\n",
		"meta/charter.md":                  "---\ntype: kno\ntitle: Charter\nstatus: active\n---\n\nWe write.\n",
		"practice/no-silent-loss.md":       "Nothing is lost.\n",
		"assets/logo.png":                  "not markdown",
	}
	for p, text := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestAdmin_OfflineBootstrapAndStatus: with nothing running, admin runs the backend in-process
// under the lock (O-cli-3); bootstrap seeds canon once (O-bootstrap-*); status reports it.
func TestAdmin_OfflineBootstrapAndStatus(t *testing.T) {
	data := t.TempDir()
	seed := writeSeed(t)
	code, res, stderr := admin(t, "--data", data, "bootstrap", seed)
	if code != 0 {
		t.Fatalf("bootstrap exit %d: %s", code, stderr)
	}
	oid, _ := res["bootstrapped"].(string)
	entries, _ := json.Marshal(res["entries"])
	if len(oid) != 40 || string(entries) != `["meta/charter.md","practice/no-silent-loss.md","technical/orientation/welcome.md"]` {
		t.Fatalf("bootstrap: %v", res)
	}
	// The answer counts the entries the rebuilt index holds, after the index barrier
	// (O-bootstrap-6): the three .md files (the png is no entry).
	if res["indexed"] != float64(3) {
		t.Fatalf("bootstrap indexed %v, want 3", res["indexed"])
	}
	code, _, stderr = admin(t, "--data", data, "bootstrap", seed)
	if code != 1 || !strings.Contains(stderr, "canon already exists") {
		t.Fatalf("second bootstrap: exit %d %q", code, stderr)
	}
	code, st, stderr := admin(t, "--data", data, "status")
	if code != 0 || st["canon_head"] != oid || st["canon_seq"] != "::3B" {
		t.Fatalf("status: exit %d %v %s", code, st, stderr)
	}
	if code, _, _ := admin(t, "--data", data, "frobnicate"); code != 2 {
		t.Fatalf("unknown command exit %d, want 2", code)
	}
}

// TestAdmin_ReachesRunningDeployment: with `up` running on the data dir, admin uses the bus
// address recorded there, and the agent surface sees the seeded canon (orientation slot wrapped,
// O-bootstrap-4, OR-6).
func TestAdmin_ReachesRunningDeployment(t *testing.T) {
	data := t.TempDir()
	cfg, err := loadConfig(data, "", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n, err := startNode(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nodeOptions{gateway: true, record: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.stop(context.Background()) })
	if code, _, stderr := admin(t, "--data", data, "bootstrap", writeSeed(t)); code != 0 {
		t.Fatalf("bootstrap: %s", stderr)
	}
	s := mcpSession(t, n)
	ann := mustCall(t, s, "announce", map[string]any{"instance_id": "Recto"})
	if !strings.Contains(ann["orientation"].(string), "## Welcome\n\n# Welcome home\nBe kind.") {
		t.Fatalf("orientation lacks the seeded welcome slot:\n%s", ann["orientation"])
	}
	if !strings.Contains(ann["orientation"].(string), "_(This deployment has not authored its 'syntax' orientation yet.)_") {
		t.Fatalf("orientation lacks the placeholder")
	}
	get := mustCall(t, s, "kip_get", map[string]any{"ref": "canon", "path": "technical/orientation/welcome"})
	if !strings.HasPrefix(get["text"].(string), "---\ntype: ori\ntitle: Welcome home\nstatus: active\n---\n\n") {
		t.Fatalf("wrapped seed: %q", get["text"])
	}
	cs := mustCall(t, s, "canon_state", nil)
	if cs["canon_tip"] != ann["canon_head"] || len(cs["entries"].([]any)) != 3 {
		t.Fatalf("canon_state: %v", cs)
	}
	if code, st, _ := admin(t, "--data", data, "status"); code != 0 || st["canon_head"] != cs["canon_tip"] {
		t.Fatalf("status through the running deployment: %v", st)
	}
}

// TestUp_RestartKeepsData: a restart keeps all data; one owner per data dir.
func TestUp_RestartKeepsData(t *testing.T) {
	data := t.TempDir()
	cfg, err := loadConfig(data, "", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := startNode(context.Background(), cfg, log, nodeOptions{gateway: true, record: true})
	if err != nil {
		t.Fatal(err)
	}
	s := mcpSession(t, n)
	c := mustCall(t, s, "kip_commit", map[string]any{"instance_id": "Recto", "domain": "practice", "slug": "keep", "body": "kept", "op_id": "k1"})
	s.Close()
	if err := n.stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(data, busFile)); !os.IsNotExist(err) {
		t.Fatalf("bus record left behind after a clean stop: %v", err)
	}
	n2, err := startNode(context.Background(), cfg, log, nodeOptions{gateway: true, record: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n2.stop(context.Background()) })
	get := mustCall(t, mcpSession(t, n2), "kip_get", map[string]any{"ref": "Recto", "path": "practice/keep"})
	if !strings.HasSuffix(get["text"].(string), "\n\nkept\n") {
		t.Fatalf("after restart: %v", get)
	}
	ann := mustCall(t, mcpSession(t, n2), "announce", map[string]any{"instance_id": "Recto"})
	if ann["your_perspective_tip"] != c["oid"] {
		t.Fatalf("tip after restart %v, want %v", ann["your_perspective_tip"], c["oid"])
	}
	// A second process on the same data dir is refused while the first holds it.
	if _, err := startNode(context.Background(), cfg, log, nodeOptions{}); err == nil || !strings.Contains(err.Error(), "another stasima process") {
		t.Fatalf("second owner: %v", err)
	}
	// The bus record is private.
	if st, err := os.Stat(filepath.Join(data, busFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("bus record mode: %v %v", st, err)
	}
}

// TestUp_GraphValidates runs fx.ValidateApp over the up graph.
func TestUp_GraphValidates(t *testing.T) {
	cfg, err := loadConfig(t.TempDir(), "", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nc := natstest.Start(t).Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	c := busConn{nc, js}
	conns := map[string]busConn{"admin": c, "capstore": c, "audit": c, "airlock": c, "indexer": c, "gateway": c}
	if err := fx.ValidateApp(upGraph(cfg, slog.Default(), conns, true)...); err != nil {
		t.Fatal(err)
	}
}

// TestUp_GatewayCannotLand is ARCH-11 / O-deploy-3 on the embedded bus: the gateway's
// credentials may publish a kip_commit command but not a land, a bootstrap or any audit
// command; the admin's may.
func TestUp_GatewayCannotLand(t *testing.T) {
	n := testNode(t)
	subj := bus.MustSubjects(n.cfg.BusPrefix)
	gw := n.creds["gateway"]
	errs := make(chan error, 8)
	nc, err := nats.Connect(n.ns.ClientURL(), nats.UserInfo(gw.Name, gw.Password),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, subject := range []string{subj.Command(bus.Capstore, "land"), subj.Command(bus.Capstore, "bootstrap"), subj.Command(bus.Audit, "reconcile")} {
		if err := nc.Publish(subject, []byte("{}")); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errs:
			if !strings.Contains(err.Error(), "Permissions Violation") || !strings.Contains(err.Error(), subject) {
				t.Fatalf("publish %s: %v", subject, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the gateway published %s unrefused", subject)
		}
	}
	if err := nc.Publish(subj.Command(bus.Capstore, "kip_commit"), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		t.Fatalf("kip_commit refused to the gateway: %v", err)
	default:
	}
	// Without credentials nothing connects.
	if c, err := nats.Connect(n.ns.ClientURL()); err == nil {
		c.Close()
		t.Fatal("the embedded bus accepted an anonymous client")
	}
}

// dirEntries lists the names under dir, recursively, relative to it.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAdmin_NoSilentDeployment: an admin command other than bootstrap never creates a
// deployment: with no deployment where the config points, it refuses with "no deployment at"
// and the fix, and leaves no file behind, neither in the working directory nor beside the
// config. Bootstrap through the file from one directory, and status through the same file from
// another, meet (relative paths resolve against the file's directory, its data dir is git_dir's
// parent).
func TestAdmin_NoSilentDeployment(t *testing.T) {
	clearConfigEnv(t)
	work := t.TempDir()
	t.Chdir(work)
	confDir := t.TempDir()
	conf := filepath.Join(confDir, "stasima.toml")
	if err := os.WriteFile(conf, []byte("git_dir = \"stasima.git\"\ndeployment_name = \"Elsewhere\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"status"}, {"--config", conf, "status"}, {"--config", conf, "oauth", "pending"}, {"--config", conf, "verify"}} {
		code, _, stderr := admin(t, args...)
		if code != 1 || !strings.Contains(stderr, "no deployment at") || !strings.Contains(stderr, "bootstrap") {
			t.Errorf("admin %v: exit %d %q", args, code, stderr)
		}
	}
	if got := dirEntries(t, work); len(got) != 0 {
		t.Fatalf("the working directory gained %v", got)
	}
	if got := dirEntries(t, confDir); !slices.Equal(got, []string{"stasima.toml"}) {
		t.Fatalf("the config's directory gained %v", got)
	}

	if code, res, stderr := admin(t, "--config", conf, "bootstrap", writeSeed(t)); code != 0 || res["indexed"] != float64(3) {
		t.Fatalf("bootstrap through the file: %d %v %s", code, res, stderr)
	}
	t.Chdir(t.TempDir())
	code, st, stderr := admin(t, "--config", conf, "status")
	if code != 0 || st["canon_head"] == nil || st["canon_seq"] != "::3B" {
		t.Fatalf("status through the file from another directory: %d %v %s", code, st, stderr)
	}
	if _, err := os.Stat(filepath.Join(confDir, "stasima.git")); err != nil {
		t.Fatalf("the repository is not beside the file: %v", err)
	}
	if got := dirEntries(t, work); len(got) != 0 {
		t.Fatalf("the first working directory gained %v", got)
	}
}
