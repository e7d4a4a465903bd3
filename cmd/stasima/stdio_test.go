package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/nats-io/nats.go"

	"github.com/stasima/stasima/pkg/busclient"
)

// TestMain lets the test binary stand in for the stasima binary: with STASIMA_TEST_MAIN=1 it
// runs the command line instead of the tests, so stdio tests spawn `stasima stdio` (and the
// `stasima up` it may start) without a separate build.
func TestMain(m *testing.M) {
	if os.Getenv("STASIMA_TEST_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	if addr := os.Getenv(commitClientEnv); addr != "" { // BenchmarkCommitCPU's client process
		os.Exit(commitClient(addr))
	}
	os.Exit(m.Run())
}

// stasimaCmd is the stasima command line, run by the test binary.
func stasimaCmd(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "STASIMA_TEST_MAIN=1"), env...)
	return cmd
}

// stdioSession drives `stasima stdio` with the SDK's command transport (I-52).
func stdioSession(t *testing.T, cmd *exec.Cmd) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "spawning-client", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := c.Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatalf("connect stdio: %v", err)
	}
	return s
}

// roundTrip lists the tools and calls one over the session, then closes stdin: the gateway
// exits on EOF by itself, not by the transport's SIGTERM (I-52).
func roundTrip(t *testing.T, s *mcp.ClientSession, cmd *exec.Cmd) {
	t.Helper()
	ctx := context.Background()
	tools, err := s.ListTools(ctx, nil)
	if err != nil || len(tools.Tools) < 20 {
		t.Fatalf("tools over stdio: %v %v", tools, err)
	}
	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "announce", Arguments: map[string]any{"instance_id": "Recto"}})
	if err != nil || res.IsError {
		t.Fatalf("announce over stdio: %+v %v", res, err)
	}
	var ann map[string]any
	if err := json.Unmarshal([]byte(res.Content[0].(*mcp.TextContent).Text), &ann); err != nil || ann["welcome"] != "Welcome to Stasima, Recto." {
		t.Fatalf("announce: %v %v", ann, err)
	}
	if err := s.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	if st := cmd.ProcessState; st == nil || !st.Exited() || st.ExitCode() != 0 {
		t.Fatalf("stdio gateway after EOF: %v", st)
	}
}

// TestStdio_RunningBackend: `stasima stdio` joins the running deployment of its data dir over
// the bus recorded there (D-22, O-deploy-1) and serves the same tools as /mcp.
func TestStdio_RunningBackend(t *testing.T) {
	n := testNode(t)
	cmd := stasimaCmd(t, nil, "stdio", "--data", n.cfg.DataDir)
	roundTrip(t, stdioSession(t, cmd), cmd)
}

// TestStdio_StartsBackend: with no backend running, `stasima stdio` starts `stasima up`
// detached (own process group, output in the data dir's log) and connects (O-deploy-1).
func TestStdio_StartsBackend(t *testing.T) {
	data := t.TempDir()
	cmd := stasimaCmd(t, []string{"STASIMA_HTTP=127.0.0.1:0"}, "stdio", "--data", data)
	t.Cleanup(func() { stopRecorded(t, data) })
	s := stdioSession(t, cmd)
	rec := readRecord(t, data)
	if rec.PID == os.Getpid() || rec.PID == 0 {
		t.Fatalf("bus record pid %d", rec.PID)
	}
	if pgid, err := syscall.Getpgid(rec.PID); err != nil || pgid != rec.PID {
		t.Fatalf("started backend's process group %d (%v), want its own %d", pgid, err, rec.PID)
	}
	roundTrip(t, s, cmd)
	// The backend outlives the client that started it.
	if err := syscall.Kill(rec.PID, 0); err != nil {
		t.Fatalf("the started backend died with its client: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(data, upLogFile)); err != nil || !strings.Contains(string(b), "Stasima is up") {
		t.Fatalf("up log: %v %s", err, b)
	}
}

func readRecord(t *testing.T, data string) busRecord {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(data, busFile))
	if err != nil {
		t.Fatal(err)
	}
	var rec busRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// stopRecorded stops the backend a test started and waits until it released the data dir.
func stopRecorded(t *testing.T, data string) {
	b, err := os.ReadFile(filepath.Join(data, busFile))
	if err != nil {
		return
	}
	var rec busRecord
	if json.Unmarshal(b, &rec) != nil || rec.PID == 0 || rec.PID == os.Getpid() {
		return
	}
	_ = syscall.Kill(rec.PID, syscall.SIGTERM)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if lock, free, err := acquireLock(data); err == nil && free {
			lock.Close()
			return
		}
		time.Sleep(50 * time.Millisecond) // polling the lock with a deadline; nothing to wait on
	}
	_ = syscall.Kill(rec.PID, syscall.SIGKILL)
	t.Errorf("backend %d did not stop", rec.PID)
}

// TestStdio_ParentGone: a stdio gateway whose spawning client dies without closing stdin exits
// by itself (I-52: the parent is checked at least every 2 s), so no orphan is left.
func TestStdio_ParentGone(t *testing.T) {
	n := testNode(t)
	gwIn, gwInW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer gwInW.Close() // held open: the gateway never sees EOF
	ctl, ctlW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "stdio.log")
	// The shell (the "client") starts the gateway on fd 3, prints its pid, and exits when the
	// test closes its stdin.
	cmd := exec.Command("sh", "-c", `"$0" stdio --data "$1" <&3 >/dev/null 2>>"$2" & echo $!; read x || true`, os.Args[0], n.cfg.DataDir, logPath)
	cmd.Env = append(os.Environ(), "STASIMA_TEST_MAIN=1")
	cmd.Stdin, cmd.ExtraFiles = ctl, []*os.File{gwIn}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctl.Close()
	gwIn.Close()
	var pid int
	if _, err := fmt.Fscan(out, &pid); err != nil || pid <= 0 {
		t.Fatalf("gateway pid: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, _ := os.ReadFile(logPath); strings.Contains(string(b), "stdio gateway serving") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stdio gateway did not start")
		}
		time.Sleep(20 * time.Millisecond) // polling its log with a deadline
	}
	ctlW.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("client shell: %v", err)
	}
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("stdio gateway %d outlived its parent", pid)
		}
		time.Sleep(50 * time.Millisecond) // polling the process table with a deadline
	}
	if b, _ := os.ReadFile(logPath); !strings.Contains(string(b), "parent process gone") {
		t.Fatalf("the gateway stopped for another reason:\n%s", b)
	}
}

// alive reports whether pid runs (a zombie awaiting its reaper counts as gone).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// TestStdio_GatewayRecordAlone is ARCH-11 for the process an agent's client spawns: `up`
// records the admin's bus credentials in bus.json and the gateway's alone in bus-gateway.json,
// both readable by the owner only; stdio dials with the gateway's, and a record that group or
// others may read is refused with the fix in the message.
func TestStdio_GatewayRecordAlone(t *testing.T) {
	n := testNode(t)
	admin, err := readBusRecord(filepath.Join(n.cfg.DataDir, busFile))
	if err != nil {
		t.Fatal(err)
	}
	gw, err := readBusRecord(filepath.Join(n.cfg.DataDir, gatewayBusFile))
	if err != nil {
		t.Fatal(err)
	}
	if admin.User != "admin" || gw.User != "gateway" || gw.Password == "" || gw.Password == admin.Password || gw.URL != admin.URL {
		t.Fatalf("records: bus.json user %q, bus-gateway.json user %q (url %s vs %s)", admin.User, gw.User, gw.URL, admin.URL)
	}
	raw, _ := os.ReadFile(filepath.Join(n.cfg.DataDir, gatewayBusFile))
	if strings.Contains(string(raw), admin.Password) {
		t.Fatal("bus-gateway.json holds the admin's password")
	}
	for _, f := range []string{busFile, gatewayBusFile} {
		if st, err := os.Stat(filepath.Join(n.cfg.DataDir, f)); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode: %v %v", f, st, err)
		}
	}
	nc, err := dialRecorded(n.cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The stdio connection is the gateway's: the server refuses it the human gate.
	violation := make(chan error, 1)
	nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case violation <- err:
		default:
		}
	})
	if err := nc.Publish("stasima.capstore.cmd.land", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	select {
	case err := <-violation:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Fatalf("publish land over the stdio connection: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stdio connection published a land without a permissions violation")
	}
	nc.Close()

	path := filepath.Join(n.cfg.DataDir, gatewayBusFile)
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := dialRecorded(n.cfg); err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Fatalf("a group-readable gateway record: %v", err)
	}
	if err := os.Chmod(filepath.Join(n.cfg.DataDir, busFile), 0o604); err != nil {
		t.Fatal(err)
	}
	_, err = withBackend(context.Background(), n.cfg, func(*busclient.Client) (any, error) { return nil, nil })
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable admin record: %v", err)
	}
}
