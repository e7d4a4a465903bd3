package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/audit/internal/chain"
	"github.com/stasima/stasima/services/audit/internal/sqlitestore"
)

// commands is the audit command table (stasima.audit.cmd.<verb>). Each command is replied,
// failed or not, then acked (ARCH-12), and is safe to redeliver: anchor replays an unchanged
// head, reconcile's rows carry deterministic intent ids, restore refuses a non-empty table.
func (s *Service) commands() bus.Handlers {
	return bus.Handlers{
		schema.CmdAuditAnchor: func(ctx context.Context, _ bus.Command) bus.Answer {
			return bus.AnswerOf(s.Anchor(ctx))
		},
		schema.CmdAuditReconcile: func(ctx context.Context, _ bus.Command) bus.Answer {
			return bus.AnswerOf(s.Reconcile(ctx))
		},
		schema.CmdAuditRestore: bus.Typed(func(ctx context.Context, _ bus.Command, c schema.Restore) (schema.RestoreResult, error) {
			return s.Restore(ctx, c.File)
		}),
	}
}

// Anchor is U-50: {count, head} taken while not appending, committed by capstore on
// refs/cap/audit-anchor. It writes no audit row (U-51).
func (s *Service) Anchor(ctx context.Context) (schema.AuditHead, error) {
	h, err := s.head(ctx)
	if err != nil {
		return schema.AuditHead{}, err
	}
	var res schema.AnchorResult
	err = s.client.Do(ctx, busclient.Command{Svc: bus.Capstore, Verb: schema.CmdAnchor,
		ID: fmt.Sprintf("anchor/%d/%s", h.Seq, h.Head), OpID: "anchor-" + h.Head[:12],
		Data: schema.Anchor{Actor: schema.Actor{Seat: "system"}, Seq: h.Seq, Head: h.Head}}, &res)
	if err != nil {
		return schema.AuditHead{}, err
	}
	if s.key != nil {
		// Every anchor also signs (when the log grew) and commits the latest checkpoint beside
		// the anchor, on refs/cap/audit-checkpoint.
		cp, err := s.Checkpoint(ctx)
		if err != nil {
			return schema.AuditHead{}, err
		}
		res, err := s.commitCheckpoint(ctx, cp.Note)
		if err != nil {
			return schema.AuditHead{}, err
		}
		// git holds a checkpoint of a larger tree than the log now has: rows were removed.
		if res.Superseded && res.Size > cp.Size {
			return schema.AuditHead{}, fault.E("audit.anchor", fault.Denied,
				"%s holds a checkpoint of %d rows, the log has %d: the log lost rows its checkpoints signed (fork)", refs.AuditCheckpoint, res.Size, cp.Size)
		}
	}
	return h, nil
}

// Reconcile is U-40: backfill a reconciled_commit row for every committed op_id the log lacks.
func (s *Service) Reconcile(ctx context.Context) (schema.ReconcileResult, error) {
	var ops schema.CommitOpsAnswer
	if err := s.client.Query(ctx, bus.Capstore, schema.QCommitOps, nil, &ops); err != nil {
		return schema.ReconcileResult{}, err
	}
	s.appendMu.Lock()
	defer s.appendMu.Unlock()
	known := map[string]bool{}
	for e, err := range s.store.Range(ctx, chain.MinSeq, chain.MaxSeq) {
		if err != nil {
			return schema.ReconcileResult{}, err
		}
		if e.OpID.Valid && e.OpID.String != "" {
			known[e.OpID.String] = true
		}
	}
	var intents []chain.Intent
	for _, c := range ops.Commits {
		if known[c.OpID] {
			continue
		}
		known[c.OpID] = true
		intents = append(intents, chain.Intent{
			ID: "reconcile/" + c.OID, Actor: c.Author, Op: "reconciled_commit",
			TargetRef: chain.Str(c.Ref), OpID: chain.Str(c.OpID), ResultOID: chain.Str(c.OID),
			Outcome: "ok", Detail: json.RawMessage(`{"reconciled":true}`),
		})
	}
	if len(intents) == 0 {
		return schema.ReconcileResult{}, nil
	}
	rows, err := s.store.AppendBatch(ctx, intents)
	if err != nil {
		return schema.ReconcileResult{}, err
	}
	for i, r := range rows {
		s.publishAppended(r, intents[i].ID)
	}
	return schema.ReconcileResult{Backfilled: len(rows)}, nil
}

// Restore is O-restore-2: copy a SQLite snapshot's rows verbatim into an empty table, then
// verify.
func (s *Service) Restore(ctx context.Context, file string) (schema.RestoreResult, error) {
	const op = "restore-audit"
	if _, err := os.Stat(file); err != nil {
		return schema.RestoreResult{}, fault.Wrap(op, fault.ArgumentError, err, "snapshot %s", file)
	}
	// Read a private copy: opening a SQLite log brings its schema up to date, and the
	// practitioner's snapshot must stay as it is.
	tmp, err := copyToTemp(file)
	if err != nil {
		return schema.RestoreResult{}, fault.Wrap(op, fault.ArgumentError, err, "snapshot %s", file)
	}
	defer os.Remove(tmp)
	snap, err := sqlitestore.Open(ctx, tmp)
	if err != nil {
		return schema.RestoreResult{}, fault.Wrap(op, fault.ArgumentError, err, "snapshot %s is not an audit SQLite file", file)
	}
	defer snap.Close()
	var rows []chain.Event
	for e, err := range snap.Range(ctx, chain.MinSeq, chain.MaxSeq) {
		if err != nil {
			return schema.RestoreResult{}, err
		}
		rows = append(rows, e)
	}
	s.appendMu.Lock()
	n, err := s.store.Count(ctx)
	if err == nil && n > 0 {
		err = fault.E(op, fault.Denied, "the audit table already holds %d rows; restore-audit imports into an empty table only", n)
	}
	if err == nil {
		err = s.store.Import(ctx, rows)
	}
	s.appendMu.Unlock()
	if err != nil {
		return schema.RestoreResult{}, err
	}
	if err := s.loadCursors(ctx); err != nil {
		return schema.RestoreResult{}, err
	}
	v, err := s.verify(ctx)
	if err != nil {
		return schema.RestoreResult{}, err
	}
	return schema.RestoreResult{Restored: int64(len(rows)), Verify: v}, nil
}

func copyToTemp(file string) (string, error) {
	in, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.CreateTemp("", "stasima-restore-*.sqlite")
	if err != nil {
		return "", err
	}
	defer out.Close()
	if _, err := io.Copy(out, in); err != nil {
		os.Remove(out.Name())
		return "", err
	}
	return out.Name(), nil
}
