package telemetry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/natstest"
	"github.com/stasima/stasima/pkg/telemetry"
)

func gather(t *testing.T, tel *telemetry.Telemetry) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := tel.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

func series(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	t.Helper()
next:
	for _, m := range fams[name].GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		return m
	}
	t.Fatalf("no %s series %v", name, labels)
	return nil
}

// The outcome label is "ok" or the fault class (T-common-6); an error without one is Internal.
func TestOutcome(t *testing.T) {
	tests := []struct {
		name string
		give error
		want string
	}{
		{"nil", nil, "ok"},
		{"class", fault.E("kip_get", fault.PathNotFound, "no path"), "PathNotFound"},
		{"wrapped class", errors.Join(errors.New("x"), fault.E("land", fault.StaleRef, "moved")), "StaleRef"},
		{"plain", errors.New("boom"), "Internal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := telemetry.Outcome(tt.give); got != tt.want {
				t.Fatalf("Outcome(%v) = %q, want %q", tt.give, got, tt.want)
			}
		})
	}
}

// A nil *Telemetry records nothing and never panics (services take it as optional).
func TestNilTelemetry(t *testing.T) {
	var tel *telemetry.Telemetry
	_, done := tel.Tool(context.Background(), "kip_commit")
	done(nil)
	tel.WatchConsumer(nil, "S", "c")
	tel.Panic("gateway", "rest")
	if err := tel.Timings("git_op", "h", func(func(string, int64, time.Duration, time.Duration)) {}); err != nil {
		t.Fatal(err)
	}
}

// Tool calls, git op timings from an outside ledger, and a sampled gauge.
func TestToolsTimingsAndSamples(t *testing.T) {
	tel := telemetry.New(telemetry.Options{})
	for _, err := range []error{nil, nil, fault.E("kip_commit", fault.StaleRef, "moved")} {
		_, done := tel.Tool(context.Background(), "kip_commit")
		done(err)
	}
	if err := tel.Timings("git_op", "storage ops", func(each func(string, int64, time.Duration, time.Duration)) {
		each("commit-tree", 3, 30*time.Millisecond, 20*time.Millisecond)
	}); err != nil {
		t.Fatal(err)
	}
	ok := false
	if err := tel.Sample("audit_chain_length", "rows", func(context.Context) (float64, bool) { return 7, ok }); err != nil {
		t.Fatal(err)
	}
	fams := gather(t, tel)
	if _, present := fams["stasima_audit_chain_length"]; present {
		t.Error("a sample that could not be read is exposed")
	}
	if v := series(t, fams, "stasima_tool_calls_total", map[string]string{"tool": "kip_commit", "outcome": "ok"}).GetCounter().GetValue(); v != 2 {
		t.Errorf("ok calls %v, want 2", v)
	}
	if v := series(t, fams, "stasima_tool_calls_total", map[string]string{"tool": "kip_commit", "outcome": "StaleRef"}).GetCounter().GetValue(); v != 1 {
		t.Errorf("StaleRef calls %v, want 1", v)
	}
	sum := series(t, fams, "stasima_git_op_duration_seconds", map[string]string{"verb": "commit-tree"}).GetSummary()
	if sum.GetSampleCount() != 3 || sum.GetSampleSum() != 0.03 {
		t.Errorf("commit-tree summary count %d sum %v, want 3 and 0.03", sum.GetSampleCount(), sum.GetSampleSum())
	}
	if v := series(t, fams, "stasima_git_op_max_duration_seconds", map[string]string{"verb": "commit-tree"}).GetGauge().GetValue(); v != 0.02 {
		t.Errorf("commit-tree max %v, want 0.02", v)
	}
	tel.Panic("gateway", "map_search")
	if v := series(t, gather(t, tel), "stasima_handler_panics_total", map[string]string{"service": "gateway", "handler": "map_search"}).GetCounter().GetValue(); v != 1 {
		t.Errorf("recovered panics %v, want 1", v)
	}
	ok = true
	if v := series(t, gather(t, tel), "stasima_audit_chain_length", nil).GetGauge().GetValue(); v != 7 {
		t.Errorf("chain length %v, want 7", v)
	}
}

// Consumer lag is the bus's own count, read on scrape from a real JetStream consumer.
func TestConsumerLag(t *testing.T) {
	ns := natstest.Start(t)
	nc := ns.Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "LAG", Subjects: []string{"lag.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, "LAG", jetstream.ConsumerConfig{Durable: "lagger", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := js.Publish(ctx, "lag.x", []byte("m")); err != nil {
			t.Fatal(err)
		}
	}
	tel := telemetry.New(telemetry.Options{})
	tel.WatchConsumer(js, "LAG", "lagger")
	tel.WatchConsumer(js, "LAG", "missing")
	fams := gather(t, tel)
	lag := map[string]string{"stream": "LAG", "consumer": "lagger"}
	if v := series(t, fams, "stasima_consumer_pending_messages", lag).GetGauge().GetValue(); v != 3 {
		t.Errorf("pending %v, want 3", v)
	}
	if v := series(t, fams, "stasima_consumer_ack_pending_messages", lag).GetGauge().GetValue(); v != 0 {
		t.Errorf("ack pending %v, want 0", v)
	}
	if v := series(t, fams, "stasima_consumer_info_up", map[string]string{"consumer": "missing"}).GetGauge().GetValue(); v != 0 {
		t.Errorf("a consumer the bus does not know reads as up (%v)", v)
	}
}
