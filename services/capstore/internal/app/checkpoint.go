package app

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/stasima/stasima/pkg/commitmsg"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/pkg/tlog"
	"github.com/stasima/stasima/services/capstore/internal/gitstore"
)

// checkpointFile is the one file of the checkpoint tree: the signed note as served.
const checkpointFile = "checkpoint"

// maxCheckpointBytes bounds a checkpoint note: three body lines and a few signatures.
const maxCheckpointBytes = 16 << 10

// Checkpoint commits a signed audit checkpoint on refs/cap/audit-checkpoint, its parent the
// previous checkpoint, so the ref's history is every checkpoint committed. op_id
// checkpoint-<size>-<root12> makes a repeat a replay; a checkpoint of a smaller tree than the
// tip's is superseded (nothing written), and one of the tip's size with another root is
// refused: the log would be showing two histories. capstore does not hold the log's key; the
// note's signature is the audit service's word and verifiers check it.
func (a *App) Checkpoint(ctx context.Context, c schema.CheckpointCommit) (schema.CheckpointResult, error) {
	const op = "audit_checkpoint"
	cp, err := checkpointOf(c.Note)
	if err != nil {
		return schema.CheckpointResult{}, fault.Wrap(op, fault.ArgumentError, err, "not a signed checkpoint note")
	}
	root := hex.EncodeToString(cp.Hash)
	opID := fmt.Sprintf("checkpoint-%d-%s", cp.Size, root[:12])
	for attempt := 1; ; attempt++ {
		tip, ok, err := a.git.Resolve(refs.AuditCheckpoint)
		if err != nil {
			return schema.CheckpointResult{}, unavailable(op, err)
		}
		if ok {
			data, found, err := a.git.ReadBlob(tip, checkpointFile)
			if err != nil {
				return schema.CheckpointResult{}, unavailable(op, err)
			}
			if found {
				if prev, err := checkpointOf(string(data)); err == nil {
					switch {
					case prev.Size > cp.Size:
						return schema.CheckpointResult{Size: prev.Size, OID: tip, Superseded: true}, nil
					case prev.Size == cp.Size && hex.EncodeToString(prev.Hash) == root:
						return schema.CheckpointResult{Size: cp.Size, OID: tip, Replayed: true}, nil
					case prev.Size == cp.Size:
						return schema.CheckpointResult{}, fault.E(op, fault.Denied,
							"%s at %s holds size %d with root %x; refusing root %s of the same size (fork)", refs.AuditCheckpoint, tip, cp.Size, prev.Hash, root)
					}
				}
			}
		}
		res, err := a.git.Commit(ctx, gitstore.CommitRequest{
			Ref: refs.AuditCheckpoint, Parent: tip,
			Changes:    []gitstore.Change{{Path: checkpointFile, Data: []byte(c.Note)}},
			AuthorName: "system", AuthorEmail: "system@stasima.local",
			Message: commitmsg.Seat(fmt.Sprintf("audit checkpoint @ size %d", cp.Size), opID, "system"),
			OpID:    opID,
		})
		if fault.Is(err, fault.StaleRef) && attempt < maxAttempts {
			continue
		}
		if err != nil {
			return schema.CheckpointResult{}, err
		}
		return schema.CheckpointResult{Size: cp.Size, OID: res.OID, Replayed: res.Replayed}, nil
	}
}

// checkpointOf parses the body of a signed checkpoint note (tlog.ParseNote) of a bounded size.
func checkpointOf(note string) (tlog.Checkpoint, error) {
	if len(note) > maxCheckpointBytes {
		return tlog.Checkpoint{}, fmt.Errorf("note of %d bytes, at most %d", len(note), maxCheckpointBytes)
	}
	return tlog.ParseNote(note)
}
