package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/airlock"
)

// totpNow computes the RFC 6238 code (SHA-1, 6 digits, 30 s) of a base32 secret file, as an
// authenticator app would.
func totpNow(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ToUpper(strings.TrimSpace(string(b)))
	if m := len(s) % 8; m != 0 {
		s += strings.Repeat("=", 8-m)
	}
	key, err := base32.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(time.Now().Unix()/30))
	h := hmac.New(sha1.New, key)
	h.Write(msg[:])
	sum := h.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", v%1000000)
}

// TestUp_AirlockStageFreezes: the approval relay over MCP on the up graph — provision the
// secret (0600), stage with a code, the proposal is frozen for seat writes (C-prop-5,
// T-propose-5), revert is free and thaws it. The full two-code land, with its review
// floor, runs in services/airlock against an injected clock.
func TestUp_AirlockStageFreezes(t *testing.T) {
	n, data := bootNode(t)
	s := mcpSession(t, n)
	reconcile(t, s, "Recto")
	mustCall(t, s, "propose", map[string]any{"instance_id": "Recto", "proposal_id": "p-air", "domain": "practice", "slug": "air", "body": "air", "op_id": "pa-1"})
	if _, e := proposeLog(t, s, "Recto", "p-air", "3c", "through the airlock"); e != "" {
		t.Fatal(e)
	}
	code, prov, stderr := admin(t, "--data", data, "totp-provision")
	if code != 0 || !strings.HasPrefix(prov["otpauth_uri"].(string), "otpauth://totp/") {
		t.Fatalf("totp-provision: %d %v %s", code, prov, stderr)
	}
	if st, err := os.Stat(n.cfg.AirlockSecret); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret mode: %v %v", st, err)
	}
	if code, _, stderr := admin(t, "--data", data, "totp-provision"); code != 1 || !strings.Contains(stderr, "force") {
		t.Fatalf("second provision without --force: %d %s", code, stderr)
	}
	if _, e := call(t, s, "stage_approve", map[string]any{"proposal_id": "p-air", "code": "000000"}); e == "" {
		t.Fatal("a wrong code staged")
	}
	// The watcher subscribes as the CLI does, before the stage.
	js, _ := jetstream.New(n.nc)
	wc := busclient.New(n.nc, js, bus.MustSubjects(n.cfg.BusPrefix), "test", 10*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lines := make(chan string, 8)
	stop, err := wc.Follow(ctx, []string{"stasima.evt.airlock.>"}, func(env bus.Envelope) { lines <- watchLine(ctx, wc, env) })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	st := mustCall(t, s, "stage_approve", map[string]any{"proposal_id": "p-air", "code": totpNow(t, n.cfg.AirlockSecret)})
	select {
	case l := <-lines:
		if !strings.HasPrefix(l, "staged   p-air  "+st["staged_oid"].(string)[:8]) || !strings.Contains(l, "practice/air.md") || !strings.Contains(l, "> through the airlock") {
			t.Fatalf("watch line:\n%s", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the watcher saw no staged event")
	}
	if len(st["staged_oid"].(string)) != 40 || st["log_seq"] != "3c" {
		t.Fatalf("stage_approve: %v", st)
	}
	// admin status lists the staged proposal with the airlock's times (O-status-1, A-60).
	code, status, stderr := admin(t, "--data", data, "status")
	if code != 0 {
		t.Fatalf("status: %d %s", code, stderr)
	}
	staged, _ := status["staged"].([]any)
	if len(staged) != 1 {
		t.Fatalf("status staged: %v", status["staged"])
	}
	item := staged[0].(map[string]any)
	if item["proposal_id"] != "p-air" || item["staged_oid"] != st["staged_oid"] || item["staged_at"] != st["staged_at"] ||
		item["lands_after"] != st["lands_after"] || item["expires_at"] != st["expires_at"] {
		t.Fatalf("status staged item %v, stage_approve %v", item, st)
	}
	if _, e := call(t, s, "propose", map[string]any{"instance_id": "Recto", "proposal_id": "p-air", "domain": "practice", "slug": "late", "body": "x", "op_id": "pa-2"}); !strings.Contains(e, "frozen for review") || !strings.Contains(e, "p-air") {
		t.Fatalf("propose on a staged proposal: %q", e)
	}
	if _, e := call(t, s, "propose_retract", map[string]any{"instance_id": "Recto", "proposal_id": "p-air", "path": "practice/air.md", "op_id": "pa-r"}); !strings.Contains(e, "frozen for review") {
		t.Fatalf("retract on a staged proposal: %q", e)
	}
	rv := mustCall(t, s, "stage_revert", map[string]any{"proposal_id": "p-air"})
	if rv["state"] != "open" {
		t.Fatalf("stage_revert: %v", rv)
	}
	mustCall(t, s, "propose", map[string]any{"instance_id": "Recto", "proposal_id": "p-air", "domain": "practice", "slug": "late", "body": "x", "op_id": "pa-2"})
	for _, op := range []string{"totp_accept", "airlock_stage", "airlock_revert"} {
		if rows := auditRows(t, n, op); len(rows) != 1 {
			t.Errorf("%s rows: %d", op, len(rows))
		}
	}
	for _, r := range auditRows(t, n, "") {
		if strings.Contains(string(r.Detail), totpNow(t, n.cfg.AirlockSecret)) {
			t.Fatalf("a code reached the audit log: %s", r.Detail)
		}
	}
}

// TestUp_AirlockRelayLimitByAddress: the gateway passes the client's address with the relay
// commands, so the airlock's rate limit holds across sessions: ten wrong stage codes from one
// MCP session empty the bucket of its address, and a fresh session from the same address is
// refused (RateLimited, naming the address) before its code is looked at; stage_revert is
// never limited.
func TestUp_AirlockRelayLimitByAddress(t *testing.T) {
	n, data := bootNode(t)
	s := mcpSession(t, n)
	reconcile(t, s, "Recto")
	pids := []string{"p-ra", "p-rb", "p-rc"} // under the per-proposal cap of 5 wrong stage codes
	for _, pid := range pids {
		mustCall(t, s, "propose", map[string]any{"instance_id": "Recto", "proposal_id": pid, "domain": "practice", "slug": pid,
			"body": pid, "op_id": pid + "-1"})
		if _, e := proposeLog(t, s, "Recto", pid, "3c", "limit "+pid); e != "" {
			t.Fatal(e)
		}
	}
	if code, _, stderr := admin(t, "--data", data, "totp-provision"); code != 0 {
		t.Fatalf("totp-provision: %d %s", code, stderr)
	}
	good := totpNow(t, n.cfg.AirlockSecret)
	wrong := fmt.Sprintf("%06d", (mustAtoi(t, good)+500000)%1000000)
	for i := range 10 {
		if _, e := call(t, s, "stage_approve", map[string]any{"proposal_id": pids[i%3], "code": wrong}); !strings.Contains(e, "invalid code") {
			t.Fatalf("wrong code %d: %q", i, e)
		}
	}
	fresh := mcpSession(t, n)
	_, e := call(t, fresh, "stage_approve", map[string]any{"proposal_id": "p-ra", "code": good})
	if !strings.Contains(e, "rate limit exceeded") || !strings.Contains(e, "127.0.0.1") {
		t.Fatalf("a fresh session from the same address: %q, want the rate limit naming 127.0.0.1", e)
	}
	for range 12 {
		if _, e := call(t, fresh, "stage_revert", map[string]any{"proposal_id": "p-ra"}); !strings.Contains(e, "not staged") {
			t.Fatalf("stage_revert: %q, want not staged (never rate limited)", e)
		}
	}

	// admin status shows the failure budget's lock while its airlock_locked row (written here as
	// the airlock, its only producer) holds, and
	// not once an airlock_unlocked row follows it; admin watch renders both events.
	js, _ := jetstream.New(n.nc)
	c := busclient.New(n.nc, js, bus.MustSubjects(n.cfg.BusPrefix), bus.UserAirlock, 10*time.Second).
		WithAuditBarrier(10*time.Second, slog.New(slog.DiscardHandler))
	until := float64(time.Now().Add(10*time.Minute).Unix()) + 0.5
	lockedAt := time.Unix(int64(until), 0).UTC().Format(time.RFC3339)
	for i, in := range []schema.AuditIntent{
		{ID: "test/lock", Actor: "system", Op: airlock.OpLocked, Outcome: "ok", Detail: schema.Detail("until", until, "failures", 20, "period_s", 3600)},
		{ID: "test/unlock", Actor: "system", Op: airlock.OpUnlocked, Outcome: "ok", Detail: schema.Detail("until", until)},
	} {
		if err := c.PublishIntents(context.Background(), []schema.AuditIntent{in}); err != nil {
			t.Fatal(err)
		}
		c.Await(context.Background(), []string{in.ID})
		code, st, stderr := admin(t, "--data", data, "status")
		want := []any{lockedAt, nil}[i]
		if code != 0 || st["airlock_locked_until"] != want {
			t.Fatalf("status after %s: %d %v %s; want airlock_locked_until %v", in.Op, code, st["airlock_locked_until"], stderr, want)
		}
	}
	for typ, want := range map[string]string{airlock.EvtLocked: "LOCKED   the airlock refuses every code until " + lockedAt,
		airlock.EvtUnlocked: "unlocked the airlock's failure-budget lock ended at " + lockedAt} {
		env := bus.Envelope{Type: typ, Data: []byte(fmt.Sprintf(`{"until":%v,"failures":20}`, until))}
		if l := watchLine(context.Background(), c, env); !strings.HasPrefix(l, want) {
			t.Errorf("watch line %q, want prefix %q", l, want)
		}
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil {
		t.Fatal(err)
	}
	return n
}
