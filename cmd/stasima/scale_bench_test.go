package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/commitmsg"
)

// Shape of the scale deployment (issue 15): of every 100 entries, 2 are messages, 5 vantages
// and 1 an argot definition; every tenth row is threaded; the rest are kno entries. The "big"
// domain holds bigDomain entries (fewer on a small deployment: half of it).
const (
	bigDomain    = 1000
	scaleThreads = 200
	scaleTerms   = 100
)

var scaleSeats = []string{"Recto", "Verso", "Gnomon", "Scholiast", "practitioner"}

// scaleRepo writes a bare repository at dir whose canon (refs/heads/main, one bootstrap commit)
// holds n generated entries, through git fast-import (seconds for 100,000 files).
func scaleRepo(b *testing.B, dir string, n int) {
	b.Helper()
	if out, err := exec.Command("git", "init", "--bare", "-q", "-b", "main", dir).CombinedOutput(); err != nil {
		b.Fatalf("git init: %v %s", err, out)
	}
	cmd := exec.Command("git", "--git-dir", dir, "fast-import", "--quiet")
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(in, 1<<20)
	msg := commitmsg.Bootstrap()
	fmt.Fprintf(w, "commit refs/heads/main\nauthor practitioner <practitioner@stasima> 1700000000 +0000\n"+
		"committer practitioner <practitioner@stasima> 1700000000 +0000\ndata %d\n%s\n", len(msg), msg)
	big := min(bigDomain, n/2)
	for i := 0; i < n; i++ {
		path, text := scaleEntry(i, big)
		fmt.Fprintf(w, "M 100644 inline %s\ndata %d\n%s\n", path, len(text), text)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		b.Fatalf("git fast-import: %v", err)
	}
}

// scaleEntry is the path and text of generated entry i.
func scaleEntry(i, big int) (string, string) {
	seat := scaleSeats[i%len(scaleSeats)]
	env := []string{"origin_author: " + seat}
	var path string
	body := fmt.Sprintf("Body of entry %d: a short practice note, as agents write them.", i)
	switch k := i % 100; {
	case i < big:
		path = fmt.Sprintf("big/e%05d.md", i)
		env = append(env, "type: kno", fmt.Sprintf("title: Big %d", i), "status: active")
	case k < 2:
		path = fmt.Sprintf("imp/m%06d.md", i)
		env = append(env, "type: msg", "recipients: ["+scaleSeats[(i/100)%len(scaleSeats)]+"]", fmt.Sprintf("subject: note %d", i))
	case k < 7:
		path = fmt.Sprintf("vantages/v%06d.md", i)
		env = append(env, "type: vap", fmt.Sprintf("links: [big/e%05d.md]", i%max(1, big)), "canon_state: canon",
			fmt.Sprintf("vantage: view %d", i))
	case k < 8:
		path = fmt.Sprintf("d%03d/argot/term%02d.md", i%997, (i/100)%scaleTerms)
		env = append(env, "type: arg")
		body = fmt.Sprintf("Definition %d of a term.", i%7)
	default:
		path = fmt.Sprintf("d%03d/e%06d.md", i%97, i)
		env = append(env, "type: kno", fmt.Sprintf("title: Entry %d", i), "status: active")
	}
	if i%10 == 3 {
		env = append(env, fmt.Sprintf("thread: t%03d", i%scaleThreads))
	}
	return path, "---\n" + strings.Join(env, "\n") + "\n---\n\n" + body + "\n"
}

// scaleSizes are the deployment sizes (STASIMA_BENCH_SCALE, comma-separated; default 1000).
func scaleSizes(b *testing.B) []int {
	v := os.Getenv("STASIMA_BENCH_SCALE")
	if v == "" {
		v = "1000"
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 10 {
			b.Fatalf("STASIMA_BENCH_SCALE %q: want sizes of at least 10", v)
		}
		out = append(out, n)
	}
	return out
}

// BenchmarkScale is issue 15's scale benchmark: for each size, a generated repository indexed by
// `admin reindex`'s command, then the latency of every read that once scanned the whole map,
// kip_get and list_entries of a 1,000-entry domain, propose, and kip_commit throughput at 16
// seats, one sub-benchmark (one line) per figure.
func BenchmarkScale(b *testing.B) {
	for _, n := range scaleSizes(b) {
		b.Run(strconv.Itoa(n), func(b *testing.B) { benchScale(b, n) })
	}
}

func benchScale(b *testing.B, n int) {
	data := b.TempDir()
	t0 := time.Now()
	scaleRepo(b, filepath.Join(data, "repo.git"), n)
	built := time.Since(t0)
	cfg, err := loadConfig(data, "", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	cfg.BindingMode = "off" // one session drives several seats: a trunk (identity.md I-20)
	nd, err := startNode(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nodeOptions{gateway: true, record: true})
	if err != nil {
		b.Fatal(err)
	}
	defer nd.stop(context.Background())
	js, err := jetstream.New(nd.nc)
	if err != nil {
		b.Fatal(err)
	}
	c := busclient.New(nd.nc, js, bus.MustSubjects(nd.cfg.BusPrefix), "bench", time.Hour)
	if err := c.Start(); err != nil {
		b.Fatal(err)
	}
	defer c.Stop()
	t1 := time.Now()
	if err := c.Do(context.Background(), busclient.Command{Svc: bus.Index, Verb: "reindex", Data: struct{}{}}, nil); err != nil {
		b.Fatalf("reindex: %v", err)
	}
	b.Run("build", func(b *testing.B) {
		b.ReportMetric(built.Seconds(), "s/repo")
		b.ReportMetric(time.Since(t1).Seconds(), "s/reindex")
	})
	sessions, err := openSessions(nd.gw.Addr(), 16)
	if err != nil {
		b.Fatal(err)
	}
	defer closeSessions(sessions)
	s := sessions[0]
	big := min(bigDomain, n/2)
	// Perspectives for the roster (imp_flags) and announce's seat.
	for i, seat := range scaleSeats {
		if seat == "practitioner" { // a reserved actor: it acts through the console (C-names-3)
			continue
		}
		scaleCall(b, s, "kip_commit", map[string]any{"instance_id": seat, "domain": "practice", "slug": "hello",
			"body": "hello " + seat, "op_id": fmt.Sprintf("hello-%d", i)})
	}
	reads := []struct {
		name string
		tool string
		args func(i int) map[string]any
	}{
		{"announce", "announce", func(int) map[string]any { return map[string]any{"instance_id": "Recto"} }},
		{"canon_state", "canon_state", func(int) map[string]any { return nil }},
		{"imp_check", "imp_check", func(int) map[string]any { return map[string]any{"instance_id": "Verso"} }},
		{"imp_flags", "imp_flags", func(int) map[string]any { return map[string]any{} }},
		{"imp_flags_seat", "imp_flags", func(int) map[string]any { return map[string]any{"instance_id": "Verso"} }},
		{"thread_scry", "thread_scry", func(int) map[string]any { return map[string]any{} }},
		{"thread_scry_tag", "thread_scry", func(i int) map[string]any {
			return map[string]any{"thread": fmt.Sprintf("t%03d", (i*10+3)%scaleThreads)}
		}},
		{"arg_scry", "arg_scry", func(int) map[string]any { return map[string]any{} }},
		{"arg_scry_term", "arg_scry", func(i int) map[string]any { return map[string]any{"term": fmt.Sprintf("term%02d", i%scaleTerms)} }},
		{"vap_for", "vap_for", func(i int) map[string]any { return map[string]any{"entry": fmt.Sprintf("big/e%05d.md", i%big)} }},
		{"kip_get", "kip_get", func(i int) map[string]any {
			return map[string]any{"ref": "canon", "path": fmt.Sprintf("big/e%05d.md", i%big)}
		}},
		{"list_entries_domain", "list_entries", func(int) map[string]any { return map[string]any{"ref": "canon", "path": "big"} }},
	}
	const samples = 100 // p95 is then the 95th of 100 calls, not decided by two
	for _, r := range reads {
		b.Run(r.name, func(b *testing.B) {
			scaleCall(b, s, r.tool, r.args(0)) // warm
			defer scaleProfile(b, n, r.name)()
			lat := make([]time.Duration, 0, samples)
			for i := 0; i < samples; i++ {
				t := time.Now()
				scaleCall(b, s, r.tool, r.args(i))
				lat = append(lat, time.Since(t))
			}
			reportPercentiles(b, lat)
		})
	}
	// canon_state over the REST mirror, read to its last byte and not decoded: the server's own
	// time for the 100k-path answer, apart from the MCP SDK's encoding and the client's decode.
	b.Run("canon_state_rest", func(b *testing.B) {
		url := "http://" + nd.gw.Addr() + "/api/v1/tools/canon_state"
		restCall := func() {
			resp, err := http.Post(url, "application/json", strings.NewReader("{}"))
			if err != nil {
				b.Fatal(err)
			}
			got, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || got == 0 {
				b.Fatalf("canon_state over REST: %s, %d bytes", resp.Status, got)
			}
		}
		restCall() // warm
		defer scaleProfile(b, n, "canon_state_rest")()
		lat := make([]time.Duration, 0, samples)
		for i := 0; i < samples; i++ {
			t := time.Now()
			restCall()
			lat = append(lat, time.Since(t))
		}
		reportPercentiles(b, lat)
	})
	// Propose needs the seat reconciled with canon (T-propose-7): pull once, then reconcile.
	scaleCall(b, s, "canon_diff", map[string]any{"instance_id": "Gnomon"})
	scaleCall(b, s, "sup_reconcile", map[string]any{"instance_id": "Gnomon", "body": "read it"})
	b.Run("propose", func(b *testing.B) {
		defer scaleProfile(b, n, "propose")()
		lat := make([]time.Duration, 0, samples)
		for i := 0; i < samples; i++ {
			t := time.Now()
			scaleCall(b, s, "propose", map[string]any{"instance_id": "Gnomon", "proposal_id": fmt.Sprintf("p-%d", i),
				"domain": "proposals", "slug": fmt.Sprintf("p%d", i), "body": fmt.Sprintf("Proposed note %d.", i), "op_id": fmt.Sprintf("prop-%d", i)})
			lat = append(lat, time.Since(t))
		}
		reportPercentiles(b, lat)
	})
	b.Run("kip_commit_16seats", func(b *testing.B) {
		const total = 2400 // seconds of commits: a throughput ratio between two runs, not their noise
		defer scaleProfile(b, n, "kip_commit_16seats")()
		cpu0 := processCPU()
		start := time.Now()
		lat, failed := driveSeats(sessions, total, "kip_commit", commitArgs("c"))
		for _, err := range failed {
			b.Error(err)
		}
		reportLatency(b, time.Since(start), lat)
		b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/1000/total, "cpu-ms/commit")
	})
}

// scaleProfile starts a CPU profile of the figure name when STASIMA_BENCH_PROFILE names a
// directory (<dir>/<size>-<name>.prof; not together with go test -cpuprofile) and returns its
// stop: the profile of one figure, not of the whole run with its build.
func scaleProfile(b *testing.B, n int, name string) func() {
	dir := os.Getenv("STASIMA_BENCH_PROFILE")
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%d-%s.prof", n, name)))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// reportPercentiles reports p50, p95 and p99 of lat in milliseconds.
func reportPercentiles(b *testing.B, lat []time.Duration) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	ms := func(q int) float64 { return float64(lat[min(len(lat)-1, len(lat)*q/100)].Microseconds()) / 1000 }
	b.ReportMetric(ms(50), "p50-ms")
	b.ReportMetric(ms(95), "p95-ms")
	b.ReportMetric(ms(99), "p99-ms")
}

// scaleCall calls tool and fails b with the tool's error text.
func scaleCall(b *testing.B, s *mcp.ClientSession, tool string, args map[string]any) {
	b.Helper()
	res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		b.Fatalf("%s: %v", tool, err)
	}
	if res.IsError {
		text := ""
		for _, c := range res.Content {
			if t, ok := c.(*mcp.TextContent); ok {
				text += t.Text
			}
		}
		b.Fatalf("%s: %s", tool, text)
	}
}
