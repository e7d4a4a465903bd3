package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/stasima/stasima/pkg/buildinfo"
	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/natstest"
	"github.com/stasima/stasima/pkg/schema"
)

// scrape GETs a /metrics endpoint and parses the Prometheus text format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// sample finds the series of family name whose labels include want; ok=false when absent.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) (*dto.Metric, bool) {
	f := fams[name]
	if f == nil {
		return nil, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		return m, true
	}
	return nil, false
}

func mustSample(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	m, ok := sample(fams, name, want)
	if !ok {
		t.Fatalf("no %s series with labels %v", name, want)
	}
	return m
}

func auditHead(t *testing.T, n *node) uint64 {
	t.Helper()
	js, err := jetstream.New(n.nc)
	if err != nil {
		t.Fatal(err)
	}
	c := busclient.New(n.nc, js, bus.MustSubjects(n.cfg.BusPrefix), "test", 10*time.Second)
	var h schema.AuditHead
	if err := c.Query(context.Background(), bus.Audit, schema.QAuditHead, nil, &h); err != nil {
		t.Fatal(err)
	}
	return uint64(h.Seq)
}

// Issue #8 item 6 (operations §5): the `up` node serves its metrics on the gateway's loopback
// listener — tool calls by tool and outcome, command handling per service and verb, consumer
// lag per durable consumer, git op timings from capstore's perf ledger (D-23) and the audit
// chain length (U-13).
func TestMetrics_UpNode(t *testing.T) {
	n := testNode(t)
	s := mcpSession(t, n)
	mustCall(t, s, "announce", map[string]any{"instance_id": "Recto"})
	mustCall(t, s, "kip_commit", map[string]any{
		"instance_id": "Recto", "domain": "practice", "slug": "measured", "body": "Counted.\n", "op_id": "op-m1",
	})
	if _, errText := call(t, s, "kip_get", map[string]any{"ref": "Recto", "path": "practice/absent.md"}); errText == "" {
		t.Fatal("kip_get of an absent path succeeded")
	}
	before := auditHead(t, n)
	fams := scrape(t, "http://"+n.gw.Addr()+"/metrics")
	after := auditHead(t, n)

	if v := mustSample(t, fams, "stasima_tool_calls_total", map[string]string{"tool": "kip_commit", "outcome": "ok"}).GetCounter().GetValue(); v != 1 {
		t.Errorf("kip_commit ok calls = %v, want 1", v)
	}
	if v := mustSample(t, fams, "stasima_tool_calls_total", map[string]string{"tool": "kip_get", "outcome": "PathNotFound"}).GetCounter().GetValue(); v != 1 {
		t.Errorf("kip_get PathNotFound calls = %v, want 1", v)
	}
	if c := mustSample(t, fams, "stasima_tool_call_duration_seconds", map[string]string{"tool": "kip_commit"}).GetHistogram().GetSampleCount(); c != 1 {
		t.Errorf("kip_commit duration samples = %d, want 1", c)
	}
	if v := mustSample(t, fams, "stasima_commands_total", map[string]string{"service": "capstore", "verb": "kip_commit", "outcome": "ok"}).GetCounter().GetValue(); v != 1 {
		t.Errorf("capstore kip_commit commands = %v, want 1", v)
	}
	chainLen := uint64(mustSample(t, fams, "stasima_audit_chain_length", nil).GetGauge().GetValue())
	if chainLen < before || chainLen > after || chainLen == 0 {
		t.Errorf("audit chain length %d, want the audit head (%d…%d)", chainLen, before, after)
	}
	for _, c := range []struct{ stream, consumer string }{
		{n.cfgStream("AUDIT"), "audit-writer"},
		{n.cfgStream("EVENTS"), "indexer-events"},
		{n.cfgStream("COMMANDS"), "capstore-commands"},
	} {
		labels := map[string]string{"stream": c.stream, "consumer": c.consumer}
		mustSample(t, fams, "stasima_consumer_pending_messages", labels)
		mustSample(t, fams, "stasima_consumer_ack_pending_messages", labels)
		if up := mustSample(t, fams, "stasima_consumer_info_up", labels).GetGauge().GetValue(); up != 1 {
			t.Errorf("consumer %s/%s info not read", c.stream, c.consumer)
		}
	}
	// The build: one version string for serverInfo.version and the build-info metric.
	version := buildinfo.Read().Version()
	if got := s.InitializeResult().ServerInfo.Version; got != version || got == "0.1.0" {
		t.Errorf("serverInfo.version %q, want the build's %q", got, version)
	}
	if v := mustSample(t, fams, "stasima_build_info", map[string]string{"version": version}).GetGauge().GetValue(); v != 1 {
		t.Errorf("stasima_build_info = %v, want 1", v)
	}
	// Queries answered, by service (the gateway's reads and barriers).
	mustSample(t, fams, "stasima_queries_total", map[string]string{"service": "capstore", "outcome": "ok"})
	mustSample(t, fams, "stasima_queries_total", map[string]string{"service": "audit", "query": "head", "outcome": "ok"})
	// The perf ledger's verbs, exposed as metered (kip_commit writes a commit tree).
	if c := mustSample(t, fams, "stasima_git_op_duration_seconds", map[string]string{"verb": "commit-tree"}).GetSummary().GetSampleCount(); c < 1 {
		t.Errorf("commit-tree ops = %d, want ≥ 1", c)
	}
}

// cfgStream names one of the node's streams.
func (n *node) cfgStream(base string) string {
	s := bus.MustSubjects(n.cfg.BusPrefix)
	switch base {
	case "AUDIT":
		return s.AuditStream()
	case "EVENTS":
		return s.EventsStream()
	}
	return s.CommandsStream()
}

// Metrics are the operator's, not the agents' perimeter: a request that names another host or
// comes through a proxy is refused.
func TestMetrics_LoopbackOnly(t *testing.T) {
	n := testNode(t)
	tests := []struct {
		name   string
		host   string
		header string
		want   int
	}{
		{"loopback", "", "", http.StatusOK},
		{"foreign host", "stasima.example", "", http.StatusForbidden},
		{"forwarded", "", "X-Forwarded-For", http.StatusForbidden},
	}
	for _, path := range []string{"/metrics", "/debug/pprof/cmdline", "/debug/pprof/"} {
		for _, tt := range tests {
			t.Run(path+" "+tt.name, func(t *testing.T) { loopbackCase(t, "http://"+n.gw.Addr()+path, tt.host, tt.header, tt.want) })
		}
	}
}

// loopbackCase GETs url naming host (when given) with header set to a foreign address (when
// given) and checks the status.
func loopbackCase(t *testing.T, url, host, header string, want int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if host != "" {
		req.Host = host
	}
	if header != "" {
		req.Header.Set(header, "203.0.113.9")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("GET %s: status %d, want %d", url, resp.StatusCode, want)
	}
}

// A `stasima serve` process answers /metrics on its ops listener from its own registry: the
// audit service alone exposes its chain length and its two consumers' lag (issue #8 item 6).
func TestMetrics_ServeOps(t *testing.T) {
	ns := natstest.Start(t)
	cfg, err := loadConfig(t.TempDir(), "", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.NATSURL = ns.ClientURL()
	n, err := serveOne(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), "audit", serveOptions{ops: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.stop(context.Background()) })
	fams := scrape(t, "http://"+n.ops.Addr()+"/metrics")
	if v := mustSample(t, fams, "stasima_audit_chain_length", nil).GetGauge().GetValue(); v != 0 {
		t.Errorf("chain length of a fresh store = %v", v)
	}
	for _, c := range []struct{ stream, consumer string }{
		{n.cfgStream("AUDIT"), "audit-writer"}, {n.cfgStream("COMMANDS"), "audit-commands"},
	} {
		if up := mustSample(t, fams, "stasima_consumer_info_up", map[string]string{"stream": c.stream, "consumer": c.consumer}).GetGauge().GetValue(); up != 1 {
			t.Errorf("consumer %s/%s info not read", c.stream, c.consumer)
		}
	}
	if _, ok := sample(fams, "stasima_git_op_duration_seconds", nil); ok {
		t.Error("the audit process exposes capstore's git timings")
	}
	mustSample(t, fams, "go_goroutines", nil)
	// The ops listener serves the runtime profiles to loopback requests only.
	loopbackCase(t, "http://"+n.ops.Addr()+"/debug/pprof/cmdline", "", "", http.StatusOK)
	loopbackCase(t, "http://"+n.ops.Addr()+"/debug/pprof/goroutine?debug=1", "", "", http.StatusOK)
	loopbackCase(t, "http://"+n.ops.Addr()+"/debug/pprof/cmdline", "", "X-Forwarded-For", http.StatusForbidden)
}
