package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/natstest"
	"github.com/stasima/stasima/pkg/pgtest"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/audit"
)

type rig struct {
	srv  *natstest.Server
	cfg  audit.Config
	subj bus.Subjects
}

func sqliteRig(t testing.TB) *rig {
	cfg := audit.DefaultConfig()
	cfg.DBPath = filepath.Join(t.TempDir(), "audit.sqlite")
	cfg.AckWait = time.Second
	cfg.RetryEvery = 100 * time.Millisecond
	return &rig{srv: natstest.Start(t), cfg: cfg, subj: bus.MustSubjects("")}
}

func pgRig(t testing.TB, dsn string) *rig {
	r := sqliteRig(t)
	r.cfg.DSN, r.cfg.DBPath = dsn, ""
	return r
}

func (r *rig) start(t testing.TB) (*audit.Service, *fxtest.App) {
	t.Helper()
	nc, err := nats.Connect(r.srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	var svc *audit.Service
	app := fxtest.New(t, fx.NopLogger,
		fx.Supply(slog.New(slog.NewTextHandler(io.Discard, nil)), nc, fx.Annotate(js, fx.As(new(jetstream.JetStream))), r.cfg),
		audit.Module, fx.Populate(&svc))
	app.RequireStart()
	return svc, app
}

func (r *rig) client(t testing.TB, barrier time.Duration) *busclient.Client {
	t.Helper()
	nc := r.srv.Connect(t)
	js, _ := jetstream.New(nc)
	c := busclient.New(nc, js, r.subj, bus.UserGateway, 30*time.Second).WithAuditBarrier(barrier, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	// The producer side ensures AUDIT too, as capstore does.
	if _, err := js.CreateOrUpdateStream(context.Background(), r.subj.AuditStreamConfig()); err != nil {
		t.Fatal(err)
	}
	return c
}

// publishOwned publishes intents in order, each under a producer that may write its op
// (bus.IntentOwners), as the components would.
func (r *rig) publishOwned(t testing.TB, in []schema.AuditIntent) {
	t.Helper()
	nc := r.srv.Connect(t)
	js, _ := jetstream.New(nc)
	producerOf := func(op string) string {
		if o := bus.IntentOwners[op]; len(o) > 0 {
			return o[0]
		}
		return bus.UserGateway
	}
	for i := 0; i < len(in); {
		p, j := producerOf(in[i].Op), i
		for j < len(in) && producerOf(in[j].Op) == p {
			j++
		}
		if err := busclient.New(nc, js, r.subj, p, 30*time.Second).PublishIntents(context.Background(), in[i:j]); err != nil {
			t.Fatal(err)
		}
		i = j
	}
}

func intents(from, n int) []schema.AuditIntent {
	out := make([]schema.AuditIntent, n)
	for i := range out {
		k := from + i
		out[i] = schema.AuditIntent{ID: fmt.Sprintf("test/%d", k), Actor: fmt.Sprintf("seat-%d", k%7), Op: "kip_commit",
			TargetRef: schema.S("refs/cap/perspectives/x"), TargetPath: schema.S(fmt.Sprintf("practice/%d.md", k)),
			OpID: schema.S(fmt.Sprintf("op-%d", k)), ResultOID: schema.S(fmt.Sprintf("%040d", k)), Outcome: "ok",
			Detail: schema.Detail("n", k), Session: "s-test"}
	}
	return out
}

func rows(t *testing.T, c *busclient.Client) []schema.AuditRow {
	t.Helper()
	got, err := busclient.AuditEvents(context.Background(), c, schema.AuditFilter{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// wantChain checks the log holds exactly the intents 0..n-1 once each, in publish order, with
// contiguous seqs and a valid chain (U-3, U-5, U-10).
func wantChain(t *testing.T, got []schema.AuditRow, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%d rows, want %d", len(got), n)
	}
	prev := "0000000000000000000000000000000000000000000000000000000000000000"
	for i, r := range got {
		if r.Seq != int64(i+1) || r.IntentID != fmt.Sprintf("test/%d", i) || r.PrevHash != prev {
			t.Fatalf("row %d: seq %d intent %s prev %s…, want seq %d intent test/%d prev %s…", i, r.Seq, r.IntentID, r.PrevHash[:8], i+1, i, prev[:8])
		}
		var d map[string]any
		if err := json.Unmarshal(r.Detail, &d); err != nil || d["session"] != "s-test" {
			t.Fatalf("row %d detail %s lacks the session tag (U-20)", i, r.Detail)
		}
		prev = r.Hash
	}
}

func backends(t *testing.T, fn func(t *testing.T, r *rig)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, sqliteRig(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, pgRig(t, pgtest.Schema(t))) })
}

// TestService_OneRowPerIntent: intents appended in stream order, once each, even when a
// producer publishes one twice past JetStream's de-duplication (U-3, U-5), and the barrier
// returns each producer its own rows (ARCH-6).
func TestService_OneRowPerIntent(t *testing.T) {
	backends(t, func(t *testing.T, r *rig) {
		r.start(t)
		c := r.client(t, 10*time.Second)
		ctx := context.Background()
		all := intents(0, 300)
		if err := c.PublishIntents(ctx, all); err != nil {
			t.Fatal(err)
		}
		// Republish 50 with fresh Nats-Msg-Ids: only the writer's intent-id check stops them.
		nc := r.srv.Connect(t)
		js, _ := jetstream.New(nc)
		for _, in := range all[:50] {
			env, _ := bus.NewEnvelope(in.ID, "audit.intent", "test", "", "", time.Now(), in)
			b, _ := json.Marshal(env)
			if _, err := js.Publish(ctx, r.subj.Intent(bus.UserGateway, in.Op), b, jetstream.WithMsgID(in.ID+"#again")); err != nil {
				t.Fatal(err)
			}
		}
		ids := make([]string, len(all))
		for i, in := range all {
			ids[i] = in.ID
		}
		var ans schema.AwaitAnswer
		if err := c.Query(ctx, bus.Audit, schema.QAuditAwait, schema.AwaitQuery{IDs: ids, TimeoutMS: 20000}, &ans); err != nil {
			t.Fatal(err)
		}
		if len(ans.Rows) != 300 || ans.Rows[299].IntentID != "test/299" {
			t.Fatalf("await answered %d rows", len(ans.Rows))
		}
		// The duplicates were behind the 300 in the stream: once the last of them is through,
		// nothing more may appear. Publish a sentinel and await it.
		sentinel := intents(300, 1)
		if err := c.PublishIntents(ctx, sentinel); err != nil {
			t.Fatal(err)
		}
		c.Await(ctx, []string{sentinel[0].ID})
		wantChain(t, rows(t, c), 301)
	})
}

// TestService_CrashMidBatch: the writer dies after committing a batch and before acking it; the
// restarted writer gets the batch again and appends nothing twice (U-5): no gap, no duplicate.
func TestService_CrashMidBatch(t *testing.T) {
	backends(t, func(t *testing.T, r *rig) {
		c := r.client(t, 0)
		ctx := context.Background()
		if err := c.PublishIntents(ctx, intents(0, 500)); err != nil {
			t.Fatal(err)
		}
		svc, app := r.start(t)
		crashed := make(chan struct{})
		var once sync.Once
		svc.SetAfterAppend(func(int) {
			once.Do(func() { svc.CloseConn(); close(crashed) })
		})
		<-crashed
		stopCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_ = app.Stop(stopCtx)
		cancel()
		r.start(t)
		c2 := r.client(t, 20*time.Second)
		awaitAppended(t, c2, "test/499")
		wantChain(t, rows(t, c2), 500)
	})
}

// TestService_PostgresOutage: with PostgreSQL cut off, the barrier answers at once (the intents
// are queued), intents wait in JetStream, and once the database is back the chain catches up
// in stream order.
func TestService_PostgresOutage(t *testing.T) {
	proxy, dsn := pgtest.NewProxy(t, pgtest.Schema(t))
	r := pgRig(t, dsn)
	r.start(t)
	c := r.client(t, 20*time.Second)
	ctx := context.Background()
	if err := c.PublishIntents(ctx, intents(0, 100)); err != nil {
		t.Fatal(err)
	}
	c.Await(ctx, []string{"test/99"})
	proxy.Cut()
	if err := c.PublishIntents(ctx, intents(100, 100)); err != nil {
		t.Fatal(err)
	}
	var ans schema.AwaitAnswer
	// The writer finds the store gone and reports itself degraded; the barrier then refuses
	// at once rather than waiting out its timeout.
	for {
		err := c.Query(ctx, bus.Audit, schema.QAuditAwait, schema.AwaitQuery{IDs: []string{"test/199"}, TimeoutMS: 200}, &ans)
		if err != nil && strings.Contains(err.Error(), "queued") {
			break
		}
		if err == nil {
			t.Fatal("an intent was appended while the database was cut off")
		}
	}
	proxy.Restore()
	awaitAppended(t, c, "test/199")
	wantChain(t, rows(t, c), 200)
}

// TestService_AwaitRecentFromMemory: a barrier on rows the writer appended lately is answered
// from memory, without a store round trip — so with the database cut off it still answers them
// (and only them) with their rows.
func TestService_AwaitRecentFromMemory(t *testing.T) {
	proxy, dsn := pgtest.NewProxy(t, pgtest.Schema(t))
	r := pgRig(t, dsn)
	r.start(t)
	c := r.client(t, 20*time.Second)
	ctx := context.Background()
	if err := c.PublishIntents(ctx, intents(0, 20)); err != nil {
		t.Fatal(err)
	}
	awaitAppended(t, c, "test/19")
	proxy.Cut()
	defer proxy.Restore()
	var ans schema.AwaitAnswer
	if err := c.Query(ctx, bus.Audit, schema.QAuditAwait, schema.AwaitQuery{IDs: []string{"test/3", "test/19"}, TimeoutMS: 2000}, &ans); err != nil {
		t.Fatalf("await of appended rows with the store cut off: %v", err)
	}
	if len(ans.Rows) != 2 || ans.Rows[0].IntentID != "test/3" || ans.Rows[1].IntentID != "test/19" || ans.Rows[1].Seq != 20 {
		t.Fatalf("await answered %+v", ans.Rows)
	}
	if err := c.Query(ctx, bus.Audit, schema.QAuditAwait, schema.AwaitQuery{IDs: []string{"test/20"}, TimeoutMS: 300}, &ans); err == nil {
		t.Fatal("an intent never published was answered")
	}
}

func TestModule_Validates(t *testing.T) {
	r := sqliteRig(t)
	nc := r.srv.Connect(t)
	js, _ := jetstream.New(nc)
	if err := fx.ValidateApp(fx.NopLogger, fx.Supply(slog.Default(), nc, fx.Annotate(js, fx.As(new(jetstream.JetStream))), r.cfg), audit.Module); err != nil {
		t.Fatal(err)
	}
}

// awaitAppended waits, on the barrier itself, until id is appended (bounded).
func awaitAppended(t *testing.T, c *busclient.Client, id string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var ans schema.AwaitAnswer
		err := c.Query(context.Background(), bus.Audit, schema.QAuditAwait, schema.AwaitQuery{IDs: []string{id}, TimeoutMS: 5000}, &ans)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("intent %s never appended: %v", id, err)
		}
	}
}

// TestService_ReadReceiptsAndPorts: read receipts are rows (U-30) answered per reader by
// is_read (U-16); the port table folds port_binding rows, latest wins, clear empties (U-17).
func TestService_ReadReceiptsAndPorts(t *testing.T) {
	r := sqliteRig(t)
	r.start(t)
	c := r.client(t, 10*time.Second)
	ctx := context.Background()
	rows := []schema.AuditIntent{
		{ID: "rr/1", Actor: "Recto", Op: "read_receipt", TargetPath: schema.S("messages/m1.md"), Outcome: "ok"},
		{ID: "rr/2", Actor: "Recto", Op: "read_receipt", TargetPath: schema.S("messages/m1.md"), Outcome: "ok"}, // duplicates allowed
		{ID: "pb/1", Actor: "Recto", Op: "port_binding", Outcome: "ok", Detail: schema.Detail("port", "p1", "action", "learn", "mode", "strict")},
		{ID: "pb/2", Actor: "Verso", Op: "port_binding", Outcome: "ok", Detail: schema.Detail("port", "p2", "action", "learn", "mode", "strict")},
		{ID: "pb/3", Actor: "practitioner", Op: "port_binding", Outcome: "ok", Detail: schema.Detail("port", "p2", "action", "clear", "was", "Verso")},
		{ID: "pb/4", Actor: "Tertia", Op: "port_binding", Outcome: "ok", Detail: schema.Detail("action", "learn")}, // no port: skipped
	}
	if err := c.PublishIntents(ctx, rows); err != nil {
		t.Fatal(err)
	}
	c.Await(ctx, []string{"pb/4"})
	for _, tt := range []struct {
		actor, path string
		want        bool
	}{{"Recto", "messages/m1.md", true}, {"Verso", "messages/m1.md", false}, {"Recto", "messages/m2.md", false}} {
		var ans schema.IsReadAnswer
		if err := c.Query(ctx, bus.Audit, schema.QAuditIsRead, schema.IsReadQuery{Actor: tt.actor, Path: tt.path}, &ans); err != nil {
			t.Fatal(err)
		}
		if ans.Read != tt.want {
			t.Errorf("is_read(%s, %s) = %v, want %v", tt.actor, tt.path, ans.Read, tt.want)
		}
	}
	var ports map[string]schema.PortBinding
	if err := c.Query(ctx, bus.Audit, schema.QAuditPortBindings, nil, &ports); err != nil {
		t.Fatal(err)
	}
	if len(ports) != 2 || ports["p1"].Instance == nil || *ports["p1"].Instance != "Recto" || ports["p2"].Instance != nil {
		t.Fatalf("port table: %+v", ports)
	}
}

// TestService_EventsPages: events answers one bounded page with a cursor (U-14): the default
// page, a limit clamped to the hard maximum, newest-first pages, detail-key filters, and a
// negative limit refused by name; AuditEvents reads the pages back into the whole log.
func TestService_EventsPages(t *testing.T) {
	r := sqliteRig(t)
	r.start(t)
	c := r.client(t, 10*time.Second)
	ctx := context.Background()
	const n = schema.AuditPageMax + 50
	in := intents(0, n)
	in[7].Op, in[7].Detail = "totp_reject", schema.Detail("purpose", "stage", "object", "p1", "reason", "invalid")
	in[9].Op, in[9].Detail = "totp_accept", schema.Detail("window", 42, "purpose", "land", "object", "p1")
	r.publishOwned(t, in)
	awaitAppended(t, c, in[n-1].ID)

	page := func(f schema.AuditFilter) schema.AuditRows {
		t.Helper()
		var ans schema.AuditRows
		if err := c.Query(ctx, bus.Audit, schema.QAuditEvents, f, &ans); err != nil {
			t.Fatal(err)
		}
		return ans
	}
	w := int64(42)
	obj, purpose := "p1", "stage"
	tests := []struct {
		name      string
		give      schema.AuditFilter
		wantLen   int
		wantFirst int64
		wantNext  int64
	}{
		{"default page", schema.AuditFilter{}, schema.AuditPageDefault, 1, schema.AuditPageDefault},
		{"last page has no cursor", schema.AuditFilter{AfterSeq: schema.AuditPageMax}, 50, schema.AuditPageMax + 1, 0},
		{"newest first", schema.AuditFilter{Desc: true, Limit: 3}, 3, n, n - 2},
		{"by window", schema.AuditFilter{Window: &w}, 1, 10, 0},
		{"by object and purpose", schema.AuditFilter{Object: &obj, Purpose: &purpose}, 1, 8, 0},
	}
	for _, tt := range tests {
		got := page(tt.give)
		if len(got.Rows) != tt.wantLen || got.Rows[0].Seq != tt.wantFirst || got.Next != tt.wantNext {
			t.Errorf("%s: %d rows from seq %d, next %d; want %d from %d, next %d",
				tt.name, len(got.Rows), got.Rows[0].Seq, got.Next, tt.wantLen, tt.wantFirst, tt.wantNext)
		}
	}
	// A limit above the maximum is clamped, and the page's bytes bound it further.
	big := page(schema.AuditFilter{Limit: 5 * n})
	if k := len(big.Rows); k == 0 || k > schema.AuditPageMax || big.Next != big.Rows[k-1].Seq {
		t.Errorf("limit %d: %d rows, next %d; want at most %d and the last seq as cursor", 5*n, k, big.Next, schema.AuditPageMax)
	}
	var ans schema.AuditRows
	err := c.Query(ctx, bus.Audit, schema.QAuditEvents, schema.AuditFilter{Limit: -1}, &ans)
	if err == nil || !strings.Contains(err.Error(), "limit -1 is negative") {
		t.Errorf("limit -1: %v, want a refusal naming the limit", err)
	}
	all, err := busclient.AuditEvents(ctx, c, schema.AuditFilter{}, 0)
	if err != nil || len(all) != n || all[n-1].Seq != n {
		t.Fatalf("AuditEvents: %d rows, %v; want %d", len(all), err, n)
	}
	newest, err := busclient.AuditEvents(ctx, c, schema.AuditFilter{Desc: true}, 600)
	if err != nil || len(newest) != 600 || newest[0].Seq != n || newest[599].Seq != n-599 {
		t.Fatalf("AuditEvents newest 600: %d rows, %v", len(newest), err)
	}
}

// TestService_RefusesForgedIntents is ARCH-2/ARCH-11 at the writer: an intent whose subject's
// producer may not write its op (the gateway's airlock_stage, land_merge or totp_accept), whose
// body names another op than its subject, or on the old subject shape with no producer is
// terminated, not appended; the intents around them are appended.
func TestService_RefusesForgedIntents(t *testing.T) {
	r := sqliteRig(t)
	r.start(t)
	c := r.client(t, 10*time.Second)
	ctx := context.Background()
	nc := r.srv.Connect(t)
	js, _ := jetstream.New(nc)
	publish := func(subject string, in schema.AuditIntent) {
		t.Helper()
		env, _ := bus.NewEnvelope(in.ID, "audit.intent", bus.UserGateway, "", "", time.Now(), in)
		b, _ := json.Marshal(env)
		if _, err := js.Publish(ctx, subject, b, jetstream.WithMsgID(in.ID)); err != nil {
			t.Fatal(err)
		}
	}
	row := func(id, op string) schema.AuditIntent {
		return schema.AuditIntent{ID: id, Actor: "practitioner", Op: op, Outcome: "ok", Detail: schema.Detail()}
	}
	if err := c.PublishIntents(ctx, []schema.AuditIntent{row("ok/1", "canon_pull")}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ name, subject, op string }{
		{"gateway airlock_stage", r.subj.Intent(bus.UserGateway, "airlock_stage"), "airlock_stage"},
		{"gateway land_merge", r.subj.Intent(bus.UserGateway, "land_merge"), "land_merge"},
		{"gateway totp_accept", r.subj.Intent(bus.UserGateway, "totp_accept"), "totp_accept"},
		{"body op differs from subject", r.subj.Intent(bus.UserGateway, "canon_pull"), "land_merge"},
		{"unknown producer", r.subj.Intent("intruder", "canon_pull"), "canon_pull"},
		{"old subject shape", "stasima.audit.intent.land_merge", "land_merge"},
	} {
		publish(f.subject, row("forged/"+f.name, f.op))
	}
	if err := c.PublishIntents(ctx, []schema.AuditIntent{row("ok/2", "canon_pull")}); err != nil {
		t.Fatal(err)
	}
	c.Await(ctx, []string{"ok/2"})
	got := rows(t, c)
	if len(got) != 2 || got[0].IntentID != "ok/1" || got[1].IntentID != "ok/2" {
		ids := []string{}
		for _, g := range got {
			ids = append(ids, g.IntentID)
		}
		t.Fatalf("rows %v, want only ok/1 and ok/2", ids)
	}
}

// TestService_LatestNoDetail: latest with no_detail answers the row with a null detail — the
// canon cursor reads result_oid alone, and a whole-canon pull's detail names every path (issue
// 15) — and without it the whole row; events refuses no_detail by name.
func TestService_LatestNoDetail(t *testing.T) {
	r := sqliteRig(t)
	r.start(t)
	c := r.client(t, 10*time.Second)
	ctx := context.Background()
	in := []schema.AuditIntent{{ID: "pull/1", Actor: "Recto", Op: "canon_pull", TargetRef: schema.S("refs/heads/main"),
		ResultOID: schema.S("abc123"), Outcome: "ok", Detail: schema.Detail("from", nil, "changed", []string{"a.md", "b.md"})}}
	if err := c.PublishIntents(ctx, in); err != nil {
		t.Fatal(err)
	}
	awaitAppended(t, c, "pull/1")
	op, actor := "canon_pull", "Recto"
	for _, noDetail := range []bool{true, false} {
		var ans schema.AuditLatest
		if err := c.Query(ctx, bus.Audit, schema.QAuditLatest, schema.AuditFilter{Op: &op, Actor: &actor, NoDetail: noDetail}, &ans); err != nil {
			t.Fatal(err)
		}
		if ans.Row == nil || ans.Row.ResultOID == nil || *ans.Row.ResultOID != "abc123" {
			t.Fatalf("no_detail=%v: latest = %+v", noDetail, ans.Row)
		}
		if got := string(ans.Row.Detail); (got == "" || got == "null") != noDetail || (!noDetail && !strings.Contains(got, "b.md")) {
			t.Errorf("no_detail=%v: detail %q", noDetail, got)
		}
	}
	var rows schema.AuditRows
	err := c.Query(ctx, bus.Audit, schema.QAuditEvents, schema.AuditFilter{NoDetail: true}, &rows)
	if fault.ClassOf(err) != fault.ArgumentError {
		t.Errorf("events(no_detail) err = %v, want ArgumentError", err)
	}
}
