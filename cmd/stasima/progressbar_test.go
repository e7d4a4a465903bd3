package main

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/schema"
)

// TestUp_ReindexProgress: a full reindex (S-34) reports its progress on the bus as the CLI's
// bar subscribes to it — the derive phase per ref, then embed and write, the last report
// naming every row written.
func TestUp_ReindexProgress(t *testing.T) {
	n := testNode(t)
	for _, seat := range []string{"Recto", "Verso"} {
		s := mcpSession(t, n)
		mustCall(t, s, "kip_commit", map[string]any{"instance_id": seat, "domain": "practice", "slug": "p", "body": "b " + seat, "op_id": "o-" + seat})
	}
	js, _ := jetstream.New(n.nc)
	c := busclient.New(n.nc, js, bus.MustSubjects(n.cfg.BusPrefix), "test", 30*time.Second)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	var mu sync.Mutex
	var got []schema.Progress
	stop, err := c.Progress(bus.Index, func(p schema.Progress) { mu.Lock(); got = append(got, p); mu.Unlock() })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	var res struct {
		Reindexed int `json:"reindexed"`
	}
	var raw json.RawMessage
	if err := c.Do(context.Background(), busclient.Command{Svc: bus.Index, Verb: "reindex", Data: struct{}{}}, &raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &res); err != nil || res.Reindexed != 2 {
		t.Fatalf("reindex: %s %v", raw, err)
	}
	// Core NATS delivers in order on one connection; the last report may trail the reply.
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		k := len(got)
		last := schema.Progress{}
		if k > 0 {
			last = got[k-1]
		}
		mu.Unlock()
		if last.Phase == "write" && last.Done == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("progress reports: %+v", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	var phases []string
	for _, p := range got {
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
		if p.Job != "reindex" || p.Total > 0 && p.Done > p.Total {
			t.Errorf("report %+v", p)
		}
	}
	if len(phases) != 3 || phases[0] != "derive" || phases[1] != "embed" || phases[2] != "write" {
		t.Fatalf("phases %v in %+v", phases, got)
	}
	if d := got[0]; d.Phase != "derive" || d.Total != 2 { // two perspectives, no canon yet
		t.Fatalf("first report %+v", d)
	}
}

func TestBarLine(t *testing.T) {
	for _, tt := range []struct {
		p    schema.Progress
		want string
	}{
		{schema.Progress{Phase: "derive", Done: 0, Total: 4}, "derive  [..............................] 0/4"},
		{schema.Progress{Phase: "derive", Done: 2, Total: 4}, "derive  [###############...............] 2/4"},
		{schema.Progress{Phase: "write", Done: 9, Total: 9}, "write   [##############################] 9/9"},
		{schema.Progress{Phase: "embed", Done: 3}, "embed   3"},
	} {
		if got := barLine(tt.p); got != tt.want {
			t.Errorf("barLine(%+v) = %q, want %q", tt.p, got, tt.want)
		}
	}
}
