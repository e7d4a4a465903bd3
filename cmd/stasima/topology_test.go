package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/nats-io/nats.go"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/pgtest"
	"github.com/stasima/stasima/pkg/schema"
)

// stasimaBin builds the binary once per test run.
var stasimaBin = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "stasima-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "stasima")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func buildStasima(t *testing.T) string {
	t.Helper()
	bin, err := stasimaBin()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// natsServerBin builds nats-server from the nats-server/v2 module version the project embeds
// (pkg/go.mod), once per test run, so the topology and adversary tests, `stasima up` and the
// compose image (its minor version, TestDeploy_ComposeLeastPrivilege) run one server version.
var natsServerBin = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "nats-server-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "nats-server")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build nats-server: %v\n%s", err, out)
	}
	return bin, nil
})

// startNATSProcess runs the embedded version's nats-server as its own process with
// deploy/nats.conf (its users and permissions verbatim), moved to a free loopback port and a
// temporary store without its monitoring port. The passwords come from the environment
// exactly as in compose.
func startNATSProcess(t *testing.T, pw map[string]string) string {
	t.Helper()
	natsServer, err := natsServerBin()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(deployDir, "nats.conf"))
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	conf := string(b)
	for old, repl := range map[string]string{
		"port: 4222":             fmt.Sprintf("port: %d\nhost: 127.0.0.1", port),
		"store_dir: /data":       "store_dir: " + strconv.Quote(t.TempDir()),
		`http: "127.0.0.1:8222"`: "",
	} {
		if !strings.Contains(conf, old) {
			t.Fatalf("deploy/nats.conf lost %q", old)
		}
		conf = strings.Replace(conf, old, repl, 1)
	}
	path := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(natsServer, "-c", path)
	for c, p := range pw {
		cmd.Env = append(cmd.Env, "BUS_PASSWORD_"+strings.ToUpper(c)+"="+p)
	}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	deadline := time.Now().Add(15 * time.Second)
	for {
		nc, err := nats.Connect(url, nats.UserInfo("admin", pw["admin"]))
		if err == nil {
			nc.Close()
			return url
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server not ready: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond) // polling a port with a deadline
	}
}

// proc is one `stasima serve <svc>` process.
type proc struct {
	name, bin, dir, ops string
	args                []string
	log                 *os.File
	cmd                 *exec.Cmd
	exited              chan struct{}
	err                 error
}

func (p *proc) start(t *testing.T) {
	t.Helper()
	p.cmd = exec.Command(p.bin, p.args...)
	p.cmd.Dir = p.dir // nats_creds = "bus.creds" resolves to this component's file
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STASIMA_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) {
		p.err = c.Wait()
		close(done)
	}(p.cmd, p.exited)
	p.waitReady(t)
}

func (p *proc) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-p.exited:
			t.Fatalf("%s exited: %v\n%s", p.name, p.err, p.logs())
		default:
		}
		resp, err := http.Get("http://" + p.ops + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready: %v\n%s", p.name, err, p.logs())
		}
		time.Sleep(50 * time.Millisecond) // polling readiness with a deadline
	}
}

// kill9 is the crash: no OnStop hook runs.
func (p *proc) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
}

// stop is the graceful shutdown (SIGTERM: drain, then exit 0).
func (p *proc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Errorf("%s did not stop on SIGTERM", p.name)
	}
	if p.err != nil {
		t.Errorf("%s stopped with %v\n%s", p.name, p.err, p.logs())
	}
}

func (p *proc) logs() string {
	b, _ := os.ReadFile(p.log.Name())
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

// topology is the compose deployment without Docker.
type topology struct {
	bin, conf, url, http string
	pw                   map[string]string
	dirs                 map[string]string
	procs                map[string]*proc
	gitDir               string
}

func startTopology(t *testing.T) *topology {
	t.Helper()
	tp := &topology{bin: buildStasima(t), pw: testBusPasswords(), dirs: map[string]string{}, procs: map[string]*proc{}}
	tp.url = startNATSProcess(t, tp.pw)
	root := t.TempDir()
	tp.gitDir = filepath.Join(root, "repo.git")
	httpPort := freePort(t)
	tp.http = fmt.Sprintf("127.0.0.1:%d", httpPort)
	conf := fmt.Sprintf(`git_dir = %q
nats_url = %q
nats_creds = "bus.creds"
audit_dsn = %q
index_dsn = %q
map_db = %q
airlock_secret_path = %q
transport = "http"
http_host = "127.0.0.1"
http_port = %d
audit_barrier_timeout_s = 3
index_barrier_timeout_s = 3
`, tp.gitDir, tp.url, pgtest.Schema(t), pgtest.Schema(t), filepath.Join(root, "map_index.sqlite"), filepath.Join(root, "secrets", "totp.secret"), httpPort)
	tp.conf = filepath.Join(root, "stasima.toml")
	if err := os.WriteFile(tp.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range components {
		d := filepath.Join(root, c)
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		// The password alone: the user is the component's name (busAuth).
		if err := os.WriteFile(filepath.Join(d, "bus.creds"), []byte(tp.pw[c]+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		tp.dirs[c] = d
	}
	// The compose start order (depends_on): capstore, audit, airlock, indexer, then gateway.
	for _, svc := range services {
		ops := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		lf, err := os.Create(filepath.Join(root, svc+".log"))
		if err != nil {
			t.Fatal(err)
		}
		p := &proc{name: svc, bin: tp.bin, dir: tp.dirs[svc], ops: ops, log: lf,
			args: []string{"serve", svc, "--data", filepath.Join(root, "data"), "--config", tp.conf, "--ops", ops}}
		p.start(t)
		tp.procs[svc] = p
		t.Cleanup(func() {
			select {
			case <-p.exited:
			default:
				_ = p.cmd.Process.Kill()
				<-p.exited
			}
			lf.Close()
		})
	}
	return tp
}

// admin runs `stasima admin` as the admin component.
func (tp *topology) admin(t *testing.T, args ...string) map[string]any {
	t.Helper()
	cmd := exec.Command(tp.bin, append([]string{"admin", "--config", tp.conf}, args...)...)
	cmd.Dir = tp.dirs["admin"]
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("admin %v: %v\n%s", args, err, stderr.String())
	}
	var out map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("admin %v: %v\n%s", args, err, stdout.String())
	}
	return out
}

func (tp *topology) mcp(t *testing.T) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "topology-test", Version: "1"}, nil)
	s, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: "http://" + tp.http + "/mcp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// envelopes is the index's rows for a ref, as JSON (the index oracle).
func envelopes(t *testing.T, nc *nats.Conn, ref string) (string, int) {
	t.Helper()
	b, _ := json.Marshal(schema.RefQuery{Ref: ref})
	m, err := nc.Request(bus.MustSubjects(bus.DefaultPrefix).Query(bus.Index, schema.QIndexEnvelopesFor), b, 10*time.Second)
	if err != nil {
		t.Fatalf("envelopes_for %s: %v", ref, err)
	}
	var rep struct {
		OK     bool                       `json:"ok"`
		Result map[string]json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(m.Data, &rep); err != nil || !rep.OK {
		t.Fatalf("envelopes_for %s: %v %s", ref, err, m.Data)
	}
	return string(m.Data), len(rep.Result)
}

// TestTopology_FiveProcesses is the compose deployment without Docker (O-deploy-1/2,
// ARCH-10, ARCH-11): a separate nats-server process with deploy/nats.conf's users and
// permissions, the five `stasima serve` processes (audit and index on PostgreSQL), an MCP
// session through the gateway; the gateway's bus user is refused the human gate; then
// capstore, audit and the indexer are killed with SIGKILL in turn while 8 seats commit —
// afterwards no commit is lost or duplicated, the chain verifies, and the index equals a full
// reindex. Finally every process stops gracefully on SIGTERM.
func TestTopology_FiveProcesses(t *testing.T) {
	tp := startTopology(t)

	// An MCP session through the gateway process.
	s := tp.mcp(t)
	out := mustCall(t, s, "kip_commit", map[string]any{"instance_id": "probe", "domain": "practice", "slug": "hello",
		"body": "over five processes", "op_id": "probe-1"})
	got := mustCall(t, s, "kip_get", map[string]any{"ref": "probe", "path": out["path"]})
	if !strings.Contains(fmt.Sprint(got), "over five processes") {
		t.Fatalf("kip_get: %v", got)
	}

	// ARCH-11/O-deploy-3: the gateway's bus credentials cannot reach the human gate; the
	// server refuses the publish itself.
	violations := make(chan string, 16)
	gw, err := nats.Connect(tp.url, nats.UserInfo("gateway", tp.pw["gateway"]),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violations <- err.Error() }))
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	for _, subj := range []string{"stasima.capstore.cmd.land", "stasima.capstore.cmd.prepare_merge", "stasima.capstore.cmd.bootstrap",
		"stasima.capstore.cmd.backup_push", "stasima.capstore.cmd.mirror_push", "stasima.audit.cmd.reconcile", "stasima.index.cmd.reindex"} {
		if err := gw.Publish(subj, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		_ = gw.Flush()
		select {
		case v := <-violations:
			if !strings.Contains(v, "Permissions Violation") || !strings.Contains(v, subj) {
				t.Errorf("publish %s as gateway: %s", subj, v)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("the gateway's user published %s without a permissions violation", subj)
		}
	}

	// 8 seats commit while capstore, audit and the indexer are killed in turn. A call that
	// does not answer in time is retried with the same op_id (ARCH-12): the retry gets the
	// original result, never a second commit.
	const seats, per = 8, 12
	var done atomic.Int64
	var mu sync.Mutex
	oids := map[string]string{} // op_id → oid
	var wg sync.WaitGroup
	stopAt := time.Now().Add(3 * time.Minute)
	errs := make(chan error, seats)
	sessions := []*mcp.ClientSession{s}
	for i := 0; i < seats; i++ {
		sess := tp.mcp(t)
		sessions = append(sessions, sess)
		seat := fmt.Sprintf("seat-%d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < per; j++ {
				op := fmt.Sprintf("%s-op-%02d", seat, j)
				args := map[string]any{"instance_id": seat, "domain": "practice", "slug": fmt.Sprintf("e-%02d", j),
					"body": fmt.Sprintf("entry %d of %s", j, seat), "op_id": op}
				for {
					if time.Now().After(stopAt) {
						errs <- fmt.Errorf("%s: gave up", op)
						return
					}
					ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
					res, err := sess.CallTool(ctx, &mcp.CallToolParams{Name: "kip_commit", Arguments: args})
					cancel()
					if errors.Is(err, context.DeadlineExceeded) || err == nil && res.IsError && strings.Contains(res.Content[0].(*mcp.TextContent).Text, "did NOT complete") {
						continue // the bus or a service is restarting: same op_id again
					}
					if err != nil {
						errs <- fmt.Errorf("%s: %v", op, err)
						return
					}
					if res.IsError {
						errs <- fmt.Errorf("%s: %s", op, res.Content[0].(*mcp.TextContent).Text)
						return
					}
					var r map[string]any
					_ = json.Unmarshal([]byte(res.Content[0].(*mcp.TextContent).Text), &r)
					mu.Lock()
					oids[op] = fmt.Sprint(r["oid"])
					mu.Unlock()
					done.Add(1)
					break
				}
			}
		}()
	}
	waitProgress := func(n int64) {
		deadline := time.Now().Add(40 * time.Second)
		for done.Load() < n {
			if time.Now().After(deadline) {
				for _, svc := range services {
					t.Logf("%s:\n%s", svc, tp.procs[svc].logs())
				}
				t.Fatalf("seats stuck at %d commits (want %d)", done.Load(), n)
			}
			time.Sleep(20 * time.Millisecond) // polling the seats' progress with a deadline
		}
	}
	for k, svc := range []string{"capstore", "audit", "indexer"} {
		waitProgress(int64((k + 1) * seats * per / 4))
		p := tp.procs[svc]
		p.kill9(t)
		t.Logf("killed %s at %d commits", svc, done.Load())
		p.start(t)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		for _, svc := range services {
			t.Logf("%s:\n%s", svc, tp.procs[svc].logs())
		}
		t.FailNow()
	}

	// No commit lost or duplicated: each perspective holds exactly its seat's commits, each
	// op_id once, and they are the oids the tools returned.
	for i := 0; i < seats; i++ {
		seat := fmt.Sprintf("seat-%d", i)
		ref := "refs/cap/perspectives/" + seat
		revs, err := exec.Command("git", "--git-dir", tp.gitDir, "rev-list", ref).Output()
		if err != nil {
			t.Fatal(err)
		}
		list := strings.Fields(string(revs))
		if len(list) != per {
			t.Errorf("%s: %d commits, want %d", seat, len(list), per)
		}
		msgs, _ := exec.Command("git", "--git-dir", tp.gitDir, "log", "--format=%(trailers:key=op-id,valueonly)", ref).Output()
		ops := strings.Fields(string(msgs))
		slices.Sort(ops)
		if len(slices.Compact(ops)) != per {
			t.Errorf("%s: op-id trailers %v", seat, ops)
		}
		for j := 0; j < per; j++ {
			if oid := oids[fmt.Sprintf("%s-op-%02d", seat, j)]; !slices.Contains(list, oid) {
				t.Errorf("%s op %d: returned oid %s is not on the perspective", seat, j, oid)
			}
		}
	}

	// The chain verifies after the audit writer's crash (U-10).
	if v := tp.admin(t, "verify"); v["audit_verify_ok"] != true {
		t.Errorf("verify: %v", v)
	}

	// The index caught up with every commit, and equals a full reindex (S-34).
	adm, err := nats.Connect(tp.url, nats.UserInfo("admin", tp.pw["admin"]))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	before := map[string]string{}
	for i := 0; i < seats; i++ {
		ref := fmt.Sprintf("refs/cap/perspectives/seat-%d", i)
		deadline := time.Now().Add(30 * time.Second)
		for {
			body, n := envelopes(t, adm, ref)
			if n == per {
				before[ref] = body
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("index holds %d rows for %s, want %d\n%s", n, ref, per, tp.procs["indexer"].logs())
			}
			time.Sleep(50 * time.Millisecond) // polling the index with a deadline
		}
	}
	search := func() string {
		r := mustCall(t, s, "map_search", map[string]any{"instance_id": "probe", "query": "entry 5 of seat-3", "limit": 100})
		// A rebuild renumbers ins_seq, the tie-break of equal scores (search.md §1).
		sortTies(r["results"].([]any))
		b, _ := json.Marshal(r)
		return string(b)
	}
	searchBefore := search()
	if !strings.Contains(searchBefore, "seat-3") {
		t.Fatalf("map_search finds nothing of seat-3: %s", searchBefore)
	}
	tp.admin(t, "reindex")
	for ref, want := range before {
		if got, _ := envelopes(t, adm, ref); got != want {
			t.Errorf("index of %s differs from a full reindex:\n got %s\nwant %s", ref, got, want)
		}
	}
	if got := search(); got != searchBefore {
		t.Errorf("map_search differs after a full reindex:\n got %s\nwant %s", got, searchBefore)
	}

	// Graceful shutdown: the clients leave, then the gateway stops first and the rest after
	// it; each drains and exits 0.
	for _, sess := range sessions {
		sess.Close()
	}
	for _, svc := range []string{"gateway", "indexer", "airlock", "audit", "capstore"} {
		tp.procs[svc].stop(t)
	}
}

// sortTies orders map_search hits by score, then ref and path, so equal scores compare as sets.
func sortTies(hits []any) {
	slices.SortStableFunc(hits, func(a, b any) int {
		x, y := a.(map[string]any), b.(map[string]any)
		if c := -cmpFloat(x["score"].(float64), y["score"].(float64)); c != 0 {
			return c
		}
		return strings.Compare(fmt.Sprint(x["ref"], x["path"]), fmt.Sprint(y["ref"], y["path"]))
	})
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
