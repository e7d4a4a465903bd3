package audit_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/pkg/tlog"
	"github.com/stasima/stasima/services/audit"
)

func await(t *testing.T, c *busclient.Client, in []schema.AuditIntent) {
	t.Helper()
	ids := make([]string, len(in))
	for i := range in {
		ids[i] = in[i].ID
	}
	var ans schema.AwaitAnswer
	if err := c.Query(context.Background(), bus.Audit, schema.QAuditAwait, schema.AwaitQuery{IDs: ids, TimeoutMS: 20000}, &ans); err != nil {
		t.Fatal(err)
	}
}

// The service generates its log key (0600) on first start, signs a checkpoint at a land row
// and at an anchor-free query, and proves every row's inclusion and the consistency from an
// earlier checkpoint; the proofs verify with only the public key.
func TestService_Checkpoints(t *testing.T) {
	backends(t, func(t *testing.T, r *rig) {
		r.cfg.LogKey = filepath.Join(t.TempDir(), "audit-log.key")
		r.start(t)
		fi, err := os.Stat(r.cfg.LogKey)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("log key: %v, %v; want mode 0600", fi, err)
		}
		c := r.client(t, 10*time.Second)
		ctx := context.Background()
		var first schema.TlogCheckpoint
		if err := c.Query(ctx, bus.Audit, schema.QAuditCheckpoint, nil, &first); err != nil {
			t.Fatal(err)
		}
		if first.Size != 0 {
			t.Fatalf("first checkpoint size %d, want 0", first.Size)
		}
		in := intents(0, 20)
		if err := c.PublishIntents(ctx, in); err != nil {
			t.Fatal(err)
		}
		await(t, c, in)
		// No land yet: the checkpoint has not moved.
		var cp schema.TlogCheckpoint
		if err := c.Query(ctx, bus.Audit, schema.QAuditCheckpoint, nil, &cp); err != nil || cp.Size != 0 {
			t.Fatalf("checkpoint before a land: size %d, %v", cp.Size, err)
		}
		land := []schema.AuditIntent{{ID: "land/1", Actor: "practitioner", Op: "land_merge", Outcome: "ok",
			OpID: schema.S("land-000000000001"), Detail: schema.Detail("seq", 1)}}
		// A land row is capstore's alone (IntentOwners): publish it as capstore.
		capnc := r.srv.Connect(t)
		capjs, _ := jetstream.New(capnc)
		capc := busclient.New(capnc, capjs, r.subj, bus.UserCapstore, 30*time.Second)
		if err := capc.Start(); err != nil {
			t.Fatal(err)
		}
		if err := capc.PublishIntents(ctx, land); err != nil {
			t.Fatal(err)
		}
		await(t, c, land)
		if err := c.Query(ctx, bus.Audit, schema.QAuditCheckpoint, nil, &cp); err != nil || cp.Size != 21 {
			t.Fatalf("checkpoint after the land: size %d, %v; want 21", cp.Size, err)
		}
		c21, _, err := tlog.Open([]byte(cp.Note), cp.Key)
		if err != nil || c21.Size != 21 {
			t.Fatalf("open checkpoint: %+v, %v", c21, err)
		}
		for seq := int64(1); seq <= 21; seq++ {
			var p schema.TlogProof
			if err := c.Query(ctx, bus.Audit, schema.QAuditProve, schema.TlogProveQuery{Seq: seq}, &p); err != nil {
				t.Fatal(err)
			}
			if _, err := tlog.VerifyInclusion(p, cp.Key, audit.RowHash); err != nil {
				t.Fatalf("seq %d: %v", seq, err)
			}
			// A changed row fails, naming its size.
			p.Row.Actor = schema.S("mallory")
			var me *tlog.MismatchError
			if _, err := tlog.VerifyInclusion(p, cp.Key, audit.RowHash); !errors.As(err, &me) || me.Size != uint64(seq) {
				t.Fatalf("changed row %d: %v", seq, err)
			}
		}
		var p schema.TlogProof
		err = c.Query(ctx, bus.Audit, schema.QAuditProve, schema.TlogProveQuery{Seq: 22}, &p)
		if err == nil || !strings.Contains(err.Error(), "1..21") {
			t.Fatalf("seq beyond the checkpoint: %v", err)
		}
		// Consistency from the empty first checkpoint to the latest.
		if err := c.Query(ctx, bus.Audit, schema.QAuditProve, schema.TlogProveQuery{From: first.Note}, &p); err != nil {
			t.Fatal(err)
		}
		if old, cur, err := tlog.VerifyConsistency(p, cp.Key); err != nil || old.Size != 0 || cur.Size != 21 {
			t.Fatalf("consistency %d→%d: %v", old.Size, cur.Size, err)
		}
	})
}

// A log key others can read is refused at start, naming the file and the fix.
func TestService_LogKeyMode(t *testing.T) {
	r := sqliteRig(t)
	r.cfg.LogKey = filepath.Join(t.TempDir(), "audit-log.key")
	_, app := r.start(t)
	app.RequireStop()
	if err := os.Chmod(r.cfg.LogKey, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := startErr(t, r)
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("start with a 0644 key: %v", err)
	}
}

// startErr starts the service and returns the start error instead of failing.
func startErr(t *testing.T, r *rig) (*fxtest.App, error) {
	t.Helper()
	nc := r.srv.Connect(t)
	js, _ := jetstream.New(nc)
	app := fxtest.New(t, fx.NopLogger,
		fx.Supply(slog.New(slog.NewTextHandler(io.Discard, nil)), nc, fx.Annotate(js, fx.As(new(jetstream.JetStream))), r.cfg),
		audit.Module, fx.Invoke(func(*audit.Service) {}))
	err := app.Start(context.Background())
	if err == nil {
		app.RequireStop()
	}
	return app, err
}

// The latest checkpoint is kept beside the key and survives a restart: a start over a log
// that still matches it serves it without signing (rows appended since wait for the next
// land or anchor), and a persisted checkpoint the log no longer matches is replaced by one
// signed over the log as it is.
func TestService_CheckpointPersisted(t *testing.T) {
	r := sqliteRig(t)
	r.cfg.LogKey = filepath.Join(t.TempDir(), "audit-log.key")
	file := strings.TrimSuffix(r.cfg.LogKey, ".key") + ".checkpoint"
	_, app := r.start(t)
	c := r.client(t, 10*time.Second)
	ctx := context.Background()
	in := intents(0, 5)
	if err := c.PublishIntents(ctx, in); err != nil {
		t.Fatal(err)
	}
	await(t, c, in)
	r.publishOwned(t, []schema.AuditIntent{{ID: "land/1", Actor: "practitioner", Op: "land_merge", Outcome: "ok",
		OpID: schema.S("land-000000000001"), Detail: schema.Detail("seq", 1)}})
	await(t, c, []schema.AuditIntent{{ID: "land/1"}})
	var cp schema.TlogCheckpoint
	if err := c.Query(ctx, bus.Audit, schema.QAuditCheckpoint, nil, &cp); err != nil || cp.Size != 6 {
		t.Fatalf("checkpoint after the land: %+v %v", cp, err)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != cp.Note {
		t.Fatalf("persisted checkpoint %q, %v; want the latest", b, err)
	}
	more := intents(5, 3)
	if err := c.PublishIntents(ctx, more); err != nil {
		t.Fatal(err)
	}
	await(t, c, more)
	before, _ := os.Stat(file)
	app.RequireStop()

	_, app = r.start(t)
	var again schema.TlogCheckpoint
	if err := c.Query(ctx, bus.Audit, schema.QAuditCheckpoint, nil, &again); err != nil || again.Note != cp.Note {
		t.Fatalf("after a restart over 9 rows: %+v %v; want the persisted checkpoint of 6", again, err)
	}
	if after, err := os.Stat(file); err != nil || !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Fatalf("the checkpoint file was rewritten at start: %v", err)
	}
	app.RequireStop()

	// A checkpoint of size 6 with another root, signed with the log's own key (an intruder
	// with the key and the file): the log does not match it, so a start signs the real one.
	kb, err := os.ReadFile(r.cfg.LogKey)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := tlog.Sign(tlog.Checkpoint{Origin: r.cfg.Origin, Size: 6, Hash: make([]byte, 32)}, strings.Fields(string(kb))[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, forged, 0o644); err != nil {
		t.Fatal(err)
	}
	r.start(t)
	var fresh schema.TlogCheckpoint
	if err := c.Query(ctx, bus.Audit, schema.QAuditCheckpoint, nil, &fresh); err != nil || fresh.Size != 9 || fresh.Note == string(forged) {
		t.Fatalf("after a forged persisted checkpoint: %+v %v; want a fresh one over 9 rows", fresh, err)
	}
	if b, _ := os.ReadFile(file); string(b) != fresh.Note {
		t.Fatalf("persisted %q, want the fresh checkpoint", b)
	}
}

// A persisted checkpoint that is hostile — garbage, oversized, signed by another key, or
// claiming more rows than the log holds (signed with the log's own key) — never stops a start:
// it is reported and a fresh checkpoint is signed over the log as it is.
func TestService_CheckpointFileRefusals(t *testing.T) {
	r := sqliteRig(t)
	r.cfg.LogKey = filepath.Join(t.TempDir(), "audit-log.key")
	file := strings.TrimSuffix(r.cfg.LogKey, ".key") + ".checkpoint"
	_, app := r.start(t)
	app.RequireStop()
	kb, err := os.ReadFile(r.cfg.LogKey)
	if err != nil {
		t.Fatal(err)
	}
	signed := func(skey string, size uint64) string {
		msg, err := tlog.Sign(tlog.Checkpoint{Origin: r.cfg.Origin, Size: size, Hash: make([]byte, 32)}, skey)
		if err != nil {
			t.Fatal(err)
		}
		return string(msg)
	}
	otherS, _, _ := tlog.GenerateKey(rand.Reader, r.cfg.Origin)
	tests := []struct{ name, give string }{
		{"garbage", "\xff\x00not a checkpoint"},
		{"oversized", strings.Repeat("x", 1<<20)},
		{"other_key", signed(otherS, 0)},
		{"beyond_the_log", signed(strings.Fields(string(kb))[0], math.MaxUint64)},
	}
	c := r.client(t, 10*time.Second)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(file, []byte(tt.give), 0o644); err != nil {
				t.Fatal(err)
			}
			_, app := r.start(t)
			defer app.RequireStop()
			var cp schema.TlogCheckpoint
			if err := c.Query(context.Background(), bus.Audit, schema.QAuditCheckpoint, nil, &cp); err != nil || cp.Size != 0 || cp.Note == tt.give {
				t.Fatalf("checkpoint %+v %v; want a fresh one over the empty log", cp, err)
			}
			if b, _ := os.ReadFile(file); string(b) != cp.Note {
				t.Fatalf("persisted %.80q, want the fresh checkpoint", b)
			}
		})
	}
}

// A hostile log key file stops the start with an error naming it, never a panic: one line,
// two lines that are no keys, an oversized file, and a key of another origin.
func TestService_LogKeyRefusals(t *testing.T) {
	r := sqliteRig(t)
	r.cfg.LogKey = filepath.Join(t.TempDir(), "audit-log.key")
	otherS, otherV, _ := tlog.GenerateKey(rand.Reader, "other.example/log")
	tests := []struct{ name, give, want string }{
		{"one_line", "PRIVATE+KEY+x\n", "want the signer and verifier key lines"},
		{"not_keys", "a\nb\n", "does not sign for origin"},
		{"oversized", strings.Repeat("x", 1<<20), "want the signer and verifier key lines"},
		{"other_origin", otherS + "\n" + otherV + "\n", "does not sign for origin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(r.cfg.LogKey, []byte(tt.give), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := startErr(t, r); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("start: %v; want %q", err, tt.want)
			}
		})
	}
}

// Hostile prove and consistency queries are argument errors and the service answers the next
// query: no from, from with a seq, a from that is no note, one another key signed, one
// claiming more rows than the latest checkpoint, and seqs out of range.
func TestService_ProveRefusals(t *testing.T) {
	r := sqliteRig(t)
	r.cfg.LogKey = filepath.Join(t.TempDir(), "audit-log.key")
	r.start(t)
	c := r.client(t, 10*time.Second)
	ctx := context.Background()
	var cp schema.TlogCheckpoint
	if err := c.Query(ctx, bus.Audit, schema.QAuditCheckpoint, nil, &cp); err != nil {
		t.Fatal(err)
	}
	kb, err := os.ReadFile(r.cfg.LogKey)
	if err != nil {
		t.Fatal(err)
	}
	otherS, _, _ := tlog.GenerateKey(rand.Reader, r.cfg.Origin)
	signed := func(skey string, size uint64) string {
		msg, err := tlog.Sign(tlog.Checkpoint{Origin: r.cfg.Origin, Size: size, Hash: make([]byte, 32)}, skey)
		if err != nil {
			t.Fatal(err)
		}
		return string(msg)
	}
	tests := []struct {
		name  string
		query string
		give  schema.TlogProveQuery
	}{
		{"consistency_no_from", schema.QAuditConsistency, schema.TlogProveQuery{}},
		{"consistency_with_seq", schema.QAuditConsistency, schema.TlogProveQuery{From: cp.Note, Seq: 1}},
		{"from_not_a_note", schema.QAuditConsistency, schema.TlogProveQuery{From: "\xff\x00garbage"}},
		{"from_other_key", schema.QAuditConsistency, schema.TlogProveQuery{From: signed(otherS, 0)}},
		{"from_beyond", schema.QAuditConsistency, schema.TlogProveQuery{From: signed(strings.Fields(string(kb))[0], math.MaxUint64)}},
		{"prove_from_beyond", schema.QAuditProve, schema.TlogProveQuery{From: signed(strings.Fields(string(kb))[0], math.MaxUint64)}},
		{"seq_zero", schema.QAuditProve, schema.TlogProveQuery{}},
		{"seq_negative", schema.QAuditProve, schema.TlogProveQuery{Seq: math.MinInt64}},
		{"seq_huge", schema.QAuditProve, schema.TlogProveQuery{Seq: math.MaxInt64}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p schema.TlogProof
			if err := c.Query(ctx, bus.Audit, tt.query, tt.give, &p); !fault.Is(err, fault.ArgumentError) {
				t.Fatalf("%s %+v: %v, want an argument error", tt.query, tt.give, err)
			}
		})
	}
	var p schema.TlogProof
	if err := c.Query(ctx, bus.Audit, schema.QAuditConsistency, schema.TlogProveQuery{From: cp.Note}, &p); err != nil {
		t.Fatalf("a good consistency query after the refusals: %v", err)
	}
}
