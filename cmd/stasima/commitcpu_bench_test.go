package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// commitClientEnv names the gateway a re-executed test binary drives as the commit client of
// BenchmarkCommitCPU (see TestMain); its value is host:port.
const commitClientEnv = "STASIMA_BENCH_COMMIT_CLIENT"

// BenchmarkCommitCPU_16Seats measures the server's CPU per acknowledged kip_commit (issue 15):
// an in-process `up` graph (embedded NATS, every service, default configuration, so the index
// barrier too), driven over MCP by 16 seats in a separate process. The server figure is this
// process's getrusage between the client's start and end signals; the client reports its own
// CPU separately, so neither figure carries the other. b.N is the commit count.
func BenchmarkCommitCPU_16Seats(b *testing.B) { benchCommitCPU(b, 16, "kip_commit") }

// BenchmarkMCPFloor_16Seats is BenchmarkCommitCPU_16Seats calling whoami, which reads nothing
// over the bus: the server's CPU for the MCP request and answer alone, the floor under every
// tool call's figure (issue 15).
func BenchmarkMCPFloor_16Seats(b *testing.B) { benchCommitCPU(b, 16, "whoami") }

func benchCommitCPU(b *testing.B, seats int, tool string) {
	cfg, err := loadConfig(b.TempDir(), "", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	n, err := startNode(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nodeOptions{gateway: true, record: true})
	if err != nil {
		b.Fatal(err)
	}
	defer n.stop(context.Background())

	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), commitClientEnv+"="+n.gw.Addr(),
		"STASIMA_BENCH_SEATS="+strconv.Itoa(seats), "STASIMA_BENCH_COMMITS="+strconv.Itoa(b.N), "STASIMA_BENCH_TOOL="+tool)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Wait()
	out := bufio.NewScanner(stdout)
	if !out.Scan() || out.Text() != "ready" {
		b.Fatalf("commit client: want ready, got %q (%v)", out.Text(), out.Err())
	}
	// Settle: the sessions' connects are done; measure only the commits.
	time.Sleep(200 * time.Millisecond)
	b.ResetTimer()
	bus0 := busCounts(b, n.ns)
	cpu0 := processCPU()
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		b.Fatal(err)
	}
	if !out.Scan() {
		b.Fatalf("commit client: no result (%v)", out.Err())
	}
	server := processCPU() - cpu0
	bus1 := busCounts(b, n.ns)
	b.StopTimer()
	var clientUS, elapsedUS, p50US, p99US int64
	var failed int
	if _, err := fmt.Sscanf(out.Text(), "done %d %d %d %d %d", &clientUS, &elapsedUS, &p50US, &p99US, &failed); err != nil {
		b.Fatalf("commit client: %q: %v", out.Text(), err)
	}
	if failed > 0 {
		b.Fatalf("commit client: %d commits failed", failed)
	}
	stdin.Close()
	b.ReportMetric(float64(server.Microseconds())/1000/float64(b.N), "server-cpu-ms/commit")
	b.ReportMetric(float64(clientUS)/1000/float64(b.N), "client-cpu-ms/commit")
	b.ReportMetric(float64(b.N)/(float64(elapsedUS)/1e6), "commits/s")
	b.ReportMetric(float64(p50US)/1000, "p50-ms")
	b.ReportMetric(float64(p99US)/1000, "p99-ms")
	// What the bus carried per commit: every message the server routed in (publishes, requests,
	// replies, acks) and the messages JetStream stored, each written and synced (ARCH-13).
	b.ReportMetric(float64(bus1.in-bus0.in)/float64(b.N), "bus-msgs/commit")
	b.ReportMetric(float64(bus1.stored-bus0.stored)/float64(b.N), "stored-msgs/commit")
}

// busTotals is the embedded server's count of inbound messages and of messages its streams ever
// stored (last sequence, which acked work-queue messages leave behind).
type busTotals struct{ in, stored uint64 }

func busCounts(b *testing.B, ns *server.Server) busTotals {
	v, err := ns.Varz(nil)
	if err != nil {
		b.Fatal(err)
	}
	t := busTotals{in: uint64(v.InMsgs)}
	js, err := ns.Jsz(&server.JSzOptions{Streams: true})
	if err != nil {
		b.Fatal(err)
	}
	for _, a := range js.AccountDetails {
		for _, st := range a.Streams {
			t.stored += st.State.LastSeq
		}
	}
	return t
}

// commitClient is the client process of BenchmarkCommitCPU: it opens one MCP session per seat,
// says "ready", waits for "go" on stdin, runs the calls of STASIMA_BENCH_TOOL (kip_commit: each
// seat writing its own perspective) and prints "done <cpu µs> <elapsed µs> <p50 µs> <p99 µs> <failures>".
func commitClient(addr string) int {
	seats, _ := strconv.Atoi(os.Getenv("STASIMA_BENCH_SEATS"))
	total, _ := strconv.Atoi(os.Getenv("STASIMA_BENCH_COMMITS"))
	tool := os.Getenv("STASIMA_BENCH_TOOL")
	if seats < 1 || total < 1 {
		fmt.Fprintln(os.Stderr, "commit client: STASIMA_BENCH_SEATS and STASIMA_BENCH_COMMITS must be positive")
		return 2
	}
	sessions, err := openSessions(addr, seats)
	if err != nil {
		fmt.Fprintln(os.Stderr, "commit client:", err)
		return 1
	}
	defer closeSessions(sessions)
	args := func(seat string, _ int64) map[string]any { return map[string]any{"instance_id": seat} }
	if tool == "kip_commit" {
		args = commitArgs("cpu")
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() || strings.TrimSpace(in.Text()) != "go" {
		return 1
	}
	cpu0 := processCPU()
	start := time.Now()
	lat, failed := driveSeats(sessions, int64(total), tool, args)
	for _, err := range failed {
		fmt.Fprintln(os.Stderr, err)
	}
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	var p50, p99 time.Duration
	if len(all) > 0 {
		p50, p99 = all[len(all)/2], all[len(all)*99/100]
	}
	fmt.Printf("done %d %d %d %d %d\n", cpu.Microseconds(), elapsed.Microseconds(), p50.Microseconds(), p99.Microseconds(), len(failed))
	return 0
}
