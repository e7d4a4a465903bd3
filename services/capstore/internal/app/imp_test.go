package app

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/capstore/internal/gitstore"
)

func newTestApp(t *testing.T) *App {
	t.Helper()
	g, err := gitstore.Open(gitstore.Config{Dir: t.TempDir(), Now: func() time.Time { return time.Unix(1700000000, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return New(g, Config{CanonRef: refs.DefaultCanon, MaxBodyBytes: 1 << 10}, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func blob(t *testing.T, a *App, seat, path string) string {
	t.Helper()
	tip, _, err := a.git.Resolve(refs.Perspective(seat))
	if err != nil {
		t.Fatal(err)
	}
	b, ok, err := a.git.ReadBlob(tip, path)
	if err != nil || !ok {
		t.Fatalf("%s on %s: %v %v", path, seat, ok, err)
	}
	return string(b)
}

// TestImpSend is C-env-3 (imp_send order), T-imp_send-6/8 and D-31.
func TestImpSend(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	c := schema.ImpSend{Actor: schema.Actor{Seat: "Recto", Session: "mcp:1"}, OpID: "m1", Recipients: []string{"Verso"},
		Subject: "hi", Body: "Body.", Supersedes: []string{"messages/m0.md"}, Thread: "t-1", AuthoredVia: "witness", CanonState: "abc"}
	res, ev, rows, err := a.ImpSend(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != "messages/m1.md" || res.From != "Recto" || res.Replayed || ev == nil || ev.Paths[0] != "messages/m1.md" {
		t.Fatalf("imp_send: %+v %+v", res, ev)
	}
	want := "---\ntype: msg\nsubject: hi\nstatus: active\nrecipients: [Verso]\ncoordinates: []\nauthored_via: witness\nthread: t-1\n" +
		"supersedes: [messages/m0.md]\ncanon_state: abc\ninstance_depth: 1\n---\n"
	if got := blob(t, a, "Recto", "messages/m1.md"); !strings.HasPrefix(got, want) {
		t.Fatalf("envelope:\n%s\nwant prefix\n%s", got, want)
	}
	if len(rows) != 1 || rows[0].Op != "imp_send" || *rows[0].TargetRef != "refs/cap/perspectives/Recto" || rows[0].Session != "mcp:1" ||
		string(rows[0].Detail) != `{"recipients":["Verso"]}` {
		t.Fatalf("row: %+v", rows)
	}

	// A redelivered or retried send replays at the tip: same oid, flagged for the service only.
	again, _, rows, err := a.ImpSend(ctx, c)
	if err != nil || !again.Replayed || again.OID != res.OID || len(rows) != 1 {
		t.Fatalf("replay: %+v %v", again, err)
	}
	// D-31: the tip's op_id naming another act is refused, not replayed.
	if _, _, _, err := a.VapRecord(ctx, schema.VapRecord{Actor: schema.Actor{Seat: "Recto"}, OpID: "m1", Binds: "x.md", Horizon: "h", Vantage: "confirmed"}); !fault.Is(err, fault.Denied) ||
		!strings.Contains(err.Error(), "new op_id") {
		t.Fatalf("another act under the tip's op_id: %v", err)
	}
	// Oversize body (capstore's own cap) and a name fork are refused.
	if _, _, _, err := a.ImpSend(ctx, schema.ImpSend{Actor: schema.Actor{Seat: "Recto"}, OpID: "m2", Body: strings.Repeat("x", 2<<10)}); !fault.Is(err, fault.ArgumentError) {
		t.Fatalf("oversize: %v", err)
	}
	_, _, rows, err = a.ImpSend(ctx, schema.ImpSend{Actor: schema.Actor{Seat: "recto"}, OpID: "m3", Body: "b"})
	if !fault.Is(err, fault.Denied) || !strings.Contains(err.Error(), "case") || len(rows) != 1 || rows[0].Op != "name_collision" {
		t.Fatalf("name fork (T-common-16a): %v %+v", err, rows)
	}
}

// TestVapRecord is C-env-3 (vap_record order), T-vap_record-8/10/11.
func TestVapRecord(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	res, ev, rows, err := a.VapRecord(ctx, schema.VapRecord{Actor: schema.Actor{Seat: "Verso"}, OpID: "v1", Binds: "practice/a.md",
		Horizon: "Seen.", Vantage: "reconstructed-by-Verso-from-record", CanonState: "c0"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != "vantages/v1.md" || res.Binds != "practice/a.md" || ev == nil {
		t.Fatalf("vap_record: %+v", res)
	}
	want := "---\ntype: vap\ntitle: vantage on practice/a.md\nstatus: active\nvantage: reconstructed-by-Verso-from-record\n" +
		"canon_state: c0\ncoordinates: [practice/a.md]\ninstance_depth: 1\n---\n"
	if got := blob(t, a, "Verso", "vantages/v1.md"); !strings.HasPrefix(got, want) {
		t.Fatalf("envelope:\n%s", got)
	}
	if string(rows[0].Detail) != `{"binds":"practice/a.md","vantage":"reconstructed-by-Verso-from-record","canon_state":"c0"}` {
		t.Fatalf("row detail: %s", rows[0].Detail)
	}
	// Empty binds: coordinates [] and the default title "vantage on " (T-vap_record-11); depth +1.
	if _, _, _, err := a.VapRecord(ctx, schema.VapRecord{Actor: schema.Actor{Seat: "Verso"}, OpID: "v2", Horizon: "h", Vantage: "confirmed"}); err != nil {
		t.Fatal(err)
	}
	if got := blob(t, a, "Verso", "vantages/v2.md"); !strings.Contains(got, "title: vantage on \n") || !strings.Contains(got, "coordinates: []\ninstance_depth: 2\n") {
		t.Fatalf("empty binds:\n%s", got)
	}
}

// TestLedger is D-23 and T-perf_scry-1: every port call is metered under its git verb; the
// snapshot orders verbs by total time and totals them.
func TestLedger(t *testing.T) {
	a := newTestApp(t)
	if p, _ := a.Perf(); p.GitCalls != 0 || len(p.ByVerb) != 0 {
		t.Fatalf("fresh ledger: %+v", p)
	}
	if _, err := a.git.ListRefs(refs.PerspectivePrefix); err != nil {
		t.Fatal(err)
	}
	_, _, _ = a.git.Resolve("refs/heads/main")
	_, _, _ = a.git.Resolve("refs/heads/other")
	p, _ := a.Perf()
	n := map[string]int64{}
	for _, v := range p.ByVerb {
		n[v.Verb] = v.N
	}
	if p.GitCalls != 3 || n["for-each-ref"] != 1 || n["rev-parse"] != 2 {
		t.Fatalf("ledger: %+v", p)
	}

	l := newLedger()
	l.record("cat-file", 1500*time.Microsecond)
	l.record("cat-file", 500*time.Microsecond)
	l.record("log", 3*time.Millisecond)
	l.record("diff", 0)
	s := l.Snapshot()
	b, _ := s.ByVerb.MarshalJSON()
	want := `{"log":{"n":1,"ms":3,"avg_ms":3,"max_ms":3},"cat-file":{"n":2,"ms":2,"avg_ms":1,"max_ms":1.5},"diff":{"n":1,"ms":0,"avg_ms":0,"max_ms":0}}`
	if string(b) != want || s.GitCalls != 4 || s.GitMS != 5 {
		t.Fatalf("snapshot %+v\n%s\nwant %s", s, b, want)
	}
	var back schema.PerfVerbs
	if err := back.UnmarshalJSON(b); err != nil || len(back) != 3 || back[1].Verb != "cat-file" || back[1].MaxMS != 1.5 {
		t.Fatalf("round trip: %+v %v", back, err)
	}
}
