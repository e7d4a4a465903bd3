package app

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/pkg/tlog"
)

// Each checkpoint is a commit on refs/cap/audit-checkpoint whose parent is the previous one; a
// repeat replays, a smaller tree is superseded without a write, the same size with another root
// is refused as a fork, and a text that is no signed checkpoint is an argument error.
func TestCheckpoint_History(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	skey, _, err := tlog.GenerateKey(rand.Reader, "test.local/audit")
	if err != nil {
		t.Fatal(err)
	}
	sign := func(size uint64, fill byte) string {
		h := make([]byte, 32)
		for i := range h {
			h[i] = fill
		}
		msg, err := tlog.Sign(tlog.Checkpoint{Origin: "test.local/audit", Size: size, Hash: h}, skey)
		if err != nil {
			t.Fatal(err)
		}
		return string(msg)
	}
	commit := func(note string) (schema.CheckpointResult, error) {
		return a.Checkpoint(ctx, schema.CheckpointCommit{Actor: schema.Actor{Seat: "system"}, Note: note})
	}
	var oids []string
	for i, size := range []uint64{0, 70, 71} {
		res, err := commit(sign(size, byte(i)))
		if err != nil || res.Replayed || res.Superseded || res.Size != size {
			t.Fatalf("checkpoint %d: %+v %v", size, res, err)
		}
		oids = append(oids, res.OID)
	}
	for i := 1; i < len(oids); i++ {
		info, err := a.git.CommitInfo(oids[i])
		if err != nil || len(info.Parents) != 1 || info.Parents[0] != oids[i-1] {
			t.Fatalf("checkpoint commit %d parents %v, want [%s]: %v", i, info.Parents, oids[i-1], err)
		}
		if !strings.Contains(info.Message, "op-id: checkpoint-") {
			t.Fatalf("message %q carries no op-id", info.Message)
		}
	}
	if data, ok, err := a.git.ReadBlob(oids[2], checkpointFile); err != nil || !ok || string(data) != sign(71, 2) {
		t.Fatalf("checkpoint file at the tip: %q %v %v", data, ok, err)
	}
	if res, err := commit(sign(71, 2)); err != nil || !res.Replayed || res.OID != oids[2] {
		t.Fatalf("repeat: %+v %v", res, err)
	}
	if res, err := commit(sign(70, 1)); err != nil || !res.Superseded || res.OID != oids[2] || res.Size != 71 {
		t.Fatalf("older checkpoint: %+v %v", res, err)
	}
	if _, err := commit(sign(71, 9)); !fault.Is(err, fault.Denied) || !strings.Contains(err.Error(), "fork") {
		t.Fatalf("same size, other root: %v", err)
	}
	if _, err := commit("stasima.local/audit\n3\nnot-base64\n"); !fault.Is(err, fault.ArgumentError) {
		t.Fatalf("unsigned text: %v", err)
	}
	if tip, _, _ := a.git.Resolve(refs.AuditCheckpoint); tip != oids[2] {
		t.Fatalf("tip moved to %s", tip)
	}
}
