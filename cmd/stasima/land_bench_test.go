package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// landRig is a deployment whose canon holds `entries` bootstrapped entries.
func landRig(b *testing.B, entries int) (*node, string, *mcp.ClientSession) {
	b.Helper()
	seed := b.TempDir()
	for i := 0; i < entries; i++ {
		dir := filepath.Join(seed, "practice", fmt.Sprintf("d%02d", i%50))
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("e%05d.md", i)), []byte(fmt.Sprintf("# Entry %d\n\nBody of entry %d.\n", i, i)), 0o644)
	}
	data := b.TempDir()
	var out, errb discard
	if code := run([]string{"admin", "--data", data, "bootstrap", seed}, &out, &errb); code != 0 {
		b.Fatalf("bootstrap: %s", errb)
	}
	cfg, _ := loadConfig(data, "", "127.0.0.1:0")
	cfg.BindingMode = "off" // one session drives several seats: a trunk (identity.md I-20)
	n, err := startNode(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nodeOptions{gateway: true, record: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.stop(context.Background()) })
	c := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
	s, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: "http://" + n.gw.Addr() + "/mcp"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return n, data, s
}

type discard []byte

func (d *discard) Write(p []byte) (int, error) { *d = append(*d, p...); return len(p), nil }
func (d discard) String() string               { return string(d) }

func benchCall(b *testing.B, s *mcp.ClientSession, tool string, args map[string]any) string {
	b.Helper()
	res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil || res.IsError {
		b.Fatalf("%s: %v %v", tool, err, res.Content)
	}
	return res.Content[0].(*mcp.TextContent).Text
}

// stageProposal reconciles seat and proposes `entries` entries plus the log entry for seq.
func stageProposal(b *testing.B, s *mcp.ClientSession, seat, id, seq string, entries int) {
	benchCall(b, s, "canon_diff", map[string]any{"instance_id": seat})
	benchCall(b, s, "sup_reconcile", map[string]any{"instance_id": seat, "body": "ok"})
	for i := 0; i < entries; i++ {
		benchCall(b, s, "propose", map[string]any{"instance_id": seat, "proposal_id": id, "domain": "practice/new", "slug": fmt.Sprintf("%s-%03d", id, i),
			"body": "proposed entry", "op_id": fmt.Sprintf("%s-%d", id, i)})
	}
	benchCall(b, s, "propose", map[string]any{"instance_id": seat, "proposal_id": id, "domain": "meta/log", "slug": seq, "body": "land " + id,
		"op_id": id + "-log", "type": "log", "seq": seq})
}

// BenchmarkLand10k: preview + land (prepare, validate, CAS, tag, land_merge row, anchor) of a
// 50-entry proposal into a 10,000-entry canon, through the admin CLI on the running deployment.
func BenchmarkLand10k(b *testing.B) {
	_, data, s := landRig(b, 10000)
	var total time.Duration
	for i := 0; i < b.N; i++ {
		id, seq := fmt.Sprintf("p%d", i), fmt.Sprintf("%x", 0x3c+i)
		stageProposal(b, s, "Recto", id, seq, 50)
		var out, errb discard
		t0 := time.Now()
		if code := run([]string{"admin", "--data", data, "preview", id}, &out, &errb); code != 0 {
			b.Fatal(errb.String())
		}
		if code := run([]string{"admin", "--data", data, "land", id}, &out, &errb); code != 0 {
			b.Fatal(errb.String())
		}
		total += time.Since(t0)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/land")
}

// BenchmarkCanonDiff500: the size of the canon_diff a seat pulls across a 500-path land
// (pointers plus the one log narrative, never bodies), and the time of a seat's first pull of
// the whole 1,500-path canon.
func BenchmarkCanonDiff500(b *testing.B) {
	_, data, s := landRig(b, 1000)
	benchCall(b, s, "canon_diff", map[string]any{"instance_id": "Verso"})
	stageProposal(b, s, "Recto", "p-big", "3c", 499)
	var out, errb discard
	if code := run([]string{"admin", "--data", data, "land", "p-big"}, &out, &errb); code != 0 {
		b.Fatal(errb.String())
	}
	text := benchCall(b, s, "canon_diff", map[string]any{"instance_id": "Verso"})
	var d struct {
		ChangedCount int `json:"changed_count"`
	}
	json.Unmarshal([]byte(text), &d)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		benchCall(b, s, "canon_diff", map[string]any{"instance_id": fmt.Sprintf("Reader%d", i)})
	}
	b.StopTimer()
	b.ReportMetric(float64(len(text)), "bytes/500-path-pull")
	b.ReportMetric(float64(d.ChangedCount), "paths")
}
