package audit

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/logkey"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/pkg/tlog"
	"github.com/stasima/stasima/services/audit/internal/chain"
)

// logKey is the audit log's Ed25519 note key pair (pkg/tlog) and the latest checkpoint it
// signed. The key file holds the signer key and the verifier key, one per line, mode 0600.
type logKey struct {
	signer, verifier string

	mu     sync.Mutex
	latest schema.TlogCheckpoint
}

// loadLogKey reads the log key at path, or generates it when the file does not exist. A file
// that grants any permission to group or others is refused with the chmod that fixes it: the
// key is what makes a checkpoint the log's word.
func loadLogKey(path, origin string) (*logKey, error) {
	const op = "audit.log_key"
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		signer, verifier, err := tlog.GenerateKey(rand.Reader, origin)
		if err != nil {
			return nil, fault.Wrap(op, fault.BackendUnavailable, err, "generate the log key")
		}
		// O_EXCL: two processes starting together never overwrite each other's key.
		out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return loadLogKey(path, origin)
		}
		if err != nil {
			return nil, fault.Wrap(op, fault.BackendUnavailable, err, "create %s", path)
		}
		if _, err := io.WriteString(out, signer+"\n"+verifier+"\n"); err != nil {
			out.Close()
			return nil, fault.Wrap(op, fault.BackendUnavailable, err, "write %s", path)
		}
		if err := out.Sync(); err != nil {
			out.Close()
			return nil, fault.Wrap(op, fault.BackendUnavailable, err, "write %s", path)
		}
		if err := out.Close(); err != nil {
			return nil, fault.Wrap(op, fault.BackendUnavailable, err, "write %s", path)
		}
		return &logKey{signer: signer, verifier: verifier}, nil
	}
	if err != nil {
		return nil, fault.Wrap(op, fault.BackendUnavailable, err, "open %s", path)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fault.Wrap(op, fault.BackendUnavailable, err, "stat %s", path)
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return nil, fault.E(op, fault.Denied, "log key %s has mode %#o: group or others may read it, want 0600 — run: chmod 600 %s", path, m, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, fault.Wrap(op, fault.BackendUnavailable, err, "read %s", path)
	}
	lines := strings.Fields(string(b))
	if len(lines) != 2 {
		return nil, fault.E(op, fault.ValidationError, "log key %s: want the signer and verifier key lines, found %d lines", path, len(lines))
	}
	k := &logKey{signer: lines[0], verifier: lines[1]}
	// A key that cannot sign a checkpoint of its own origin is refused at start, not at the
	// first land.
	if _, err := tlog.Sign(tlog.Checkpoint{Origin: origin, Hash: tlog.Hasher.EmptyRoot()}, k.signer); err != nil {
		return nil, fault.Wrap(op, fault.ValidationError, err, "log key %s does not sign for origin %q", path, origin)
	}
	return k, nil
}

// Checkpoint signs a checkpoint over the whole tree as it stands and makes it the latest. It
// runs after every append batch that holds a land_merge row and at every anchor; a checkpoint
// never goes backwards, and a tree that has not grown is not signed again. The latest is kept
// in the checkpoint file beside the key, so a restart serves it without signing.
func (s *Service) Checkpoint(ctx context.Context) (schema.TlogCheckpoint, error) {
	if s.key == nil {
		return schema.TlogCheckpoint{}, fault.E("audit.checkpoint", fault.Denied, "no log key configured (audit LogKey)")
	}
	size, err := s.store.TreeSize(ctx)
	if err != nil {
		return schema.TlogCheckpoint{}, err
	}
	s.key.mu.Lock()
	defer s.key.mu.Unlock()
	if s.key.latest.Note != "" && size <= s.key.latest.Size {
		return s.key.latest, nil
	}
	return s.signLocked(ctx, size)
}

// signLocked signs the checkpoint of the tree of size, makes it the latest and persists it;
// s.key.mu is held.
func (s *Service) signLocked(ctx context.Context, size uint64) (schema.TlogCheckpoint, error) {
	root, err := chain.RootAt(ctx, s.store, size)
	if err != nil {
		return schema.TlogCheckpoint{}, err
	}
	msg, err := tlog.Sign(tlog.Checkpoint{Origin: s.cfg.Origin, Size: size, Hash: root}, s.key.signer)
	if err != nil {
		return schema.TlogCheckpoint{}, fault.Wrap("audit.checkpoint", fault.Internal, err, "sign")
	}
	s.key.latest = schema.TlogCheckpoint{Note: string(msg), Key: s.key.verifier, Size: size}
	if err := writeAtomic(s.checkpointFile(), msg, 0o644); err != nil {
		// The signature stands; a lost file only means the next start signs again.
		s.log.Warn("persist the latest checkpoint failed", "file", s.checkpointFile(), logkey.Err, err)
	}
	return s.key.latest, nil
}

// checkpointFile is where the latest signed checkpoint is kept: beside the log key, named
// after it (audit-log.key → audit-log.checkpoint).
func (s *Service) checkpointFile() string {
	return strings.TrimSuffix(s.cfg.LogKey, ".key") + ".checkpoint"
}

// loadCheckpoint makes the persisted checkpoint the latest when it still describes the log:
// signed by this key, over no more rows than the log holds, with the root the tree has at its
// size; a start signs nothing then (the next land or anchor does). Without one, the first
// checkpoint is signed over the log as opened. A persisted checkpoint the log no
// longer matches is reported loudly (rows were changed or removed, or the log was restored
// from an older backup) and a fresh one is signed over the log as it is: a witness or a
// verifier holding the old one sees the fork.
func (s *Service) loadCheckpoint(ctx context.Context) error {
	file := s.checkpointFile()
	b, err := readCheckpointFile(file)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		s.log.Warn("read the latest checkpoint failed; signing a new one", "file", file, logkey.Err, err)
	default:
		if cp, err := s.matchingCheckpoint(ctx, b); err != nil {
			s.log.Error("the audit log no longer matches its last signed checkpoint; signing a new one over the log as it is", "file", file, logkey.Err, err)
		} else {
			s.key.mu.Lock()
			s.key.latest = cp
			s.key.mu.Unlock()
			return nil
		}
	}
	_, err = s.Checkpoint(ctx)
	return err
}

// maxCheckpointFile bounds the persisted checkpoint read at start: three body lines and a
// signature line.
const maxCheckpointFile = 16 << 10

// readCheckpointFile reads the persisted checkpoint, refusing one over maxCheckpointFile
// bytes without reading it all; a missing file's error stays os.ErrNotExist.
func readCheckpointFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCheckpointFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxCheckpointFile {
		return nil, fmt.Errorf("%s is over %d bytes: not a checkpoint", path, maxCheckpointFile)
	}
	return b, nil
}

func (s *Service) matchingCheckpoint(ctx context.Context, b []byte) (schema.TlogCheckpoint, error) {
	c, _, err := tlog.Open(b, s.key.verifier)
	if err != nil {
		return schema.TlogCheckpoint{}, err
	}
	size, err := s.store.TreeSize(ctx)
	if err != nil {
		return schema.TlogCheckpoint{}, err
	}
	if c.Size > size {
		return schema.TlogCheckpoint{}, &tlog.MismatchError{Size: size + 1, Err: fmt.Errorf("the log holds %d rows, the checkpoint signed %d", size, c.Size)}
	}
	root, err := chain.RootAt(ctx, s.store, c.Size)
	if err != nil {
		return schema.TlogCheckpoint{}, err
	}
	if !bytes.Equal(root, c.Hash) {
		return schema.TlogCheckpoint{}, &tlog.MismatchError{Size: c.Size, Err: fmt.Errorf("root %x, the checkpoint signed %x", root, c.Hash)}
	}
	return schema.TlogCheckpoint{Note: string(b), Key: s.key.verifier, Size: c.Size}, nil
}

// writeAtomic writes data to a temporary file beside path and renames it into place, so a
// reader sees the old file or the new one, never a part.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// latestCheckpoint returns the latest signed checkpoint, signing the first one when there is
// none yet.
func (s *Service) latestCheckpoint(ctx context.Context) (schema.TlogCheckpoint, error) {
	if s.key != nil {
		s.key.mu.Lock()
		c := s.key.latest
		s.key.mu.Unlock()
		if c.Note != "" {
			return c, nil
		}
	}
	return s.Checkpoint(ctx)
}

// checkpointAfter signs a checkpoint when rows holds a land (a checkpoint at every land) and
// hands it to the publisher, which commits it to git.
func (s *Service) checkpointAfter(rows []chain.Event) {
	if s.key == nil {
		return
	}
	for _, r := range rows {
		if r.Op.Valid && r.Op.String == "land_merge" {
			cp, err := s.Checkpoint(context.Background())
			if err != nil {
				s.log.Warn("checkpoint after land failed", logkey.Err, err)
				return
			}
			select {
			case s.toGit <- cp.Note:
			default:
				// The publisher is behind: the next land or anchor commits a later checkpoint,
				// whose history covers this one's rows.
				s.log.Warn("checkpoint publisher behind; this checkpoint is not committed to git", "size", cp.Size)
			}
			return
		}
	}
}

// publishCheckpoints commits the checkpoints of lands to git, in order, off the writer's path:
// a land's rows are answered without waiting on capstore. It returns when toGit is closed and
// drained, or when ctx ends.
func (s *Service) publishCheckpoints(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	for {
		select {
		case <-ctx.Done():
			return
		case note, ok := <-s.toGit:
			if !ok {
				return // stopped, and every queued checkpoint handled
			}
			res, err := s.commitCheckpoint(ctx, note)
			if err != nil && ctx.Err() == nil {
				s.log.Warn("commit checkpoint to git failed", "ref", refs.AuditCheckpoint, logkey.Err, err)
			}
			if err == nil && res.Superseded {
				s.log.Info("a later checkpoint is already in git", "ref", refs.AuditCheckpoint, "size", res.Size)
			}
		}
	}
}

// commitCheckpoint has capstore commit a signed checkpoint on refs/cap/audit-checkpoint, the
// one git writer; op_id checkpoint-<size>-<root12> makes a repeat a replay.
func (s *Service) commitCheckpoint(ctx context.Context, note string) (schema.CheckpointResult, error) {
	c, err := tlog.ParseNote(note)
	if err != nil {
		return schema.CheckpointResult{}, fault.Wrap("audit.checkpoint", fault.Internal, err, "own checkpoint")
	}
	tag := fmt.Sprintf("%d-%x", c.Size, c.Hash[:6])
	var res schema.CheckpointResult
	err = s.client.Do(ctx, busclient.Command{Svc: bus.Capstore, Verb: schema.CmdCheckpoint,
		ID: "checkpoint/" + tag, OpID: "checkpoint-" + tag,
		Data: schema.CheckpointCommit{Actor: schema.Actor{Seat: "system"}, Note: note}}, &res)
	return res, err
}

// Prove answers stasima.audit.q.prove: an inclusion proof of row q.Seq, or with q.From a
// consistency proof from that earlier checkpoint, both against the latest checkpoint.
func (s *Service) Prove(ctx context.Context, q schema.TlogProveQuery) (schema.TlogProof, error) {
	const op = "audit.prove"
	cp, err := s.latestCheckpoint(ctx)
	if err != nil {
		return schema.TlogProof{}, err
	}
	if q.From != "" {
		old, _, err := tlog.Open([]byte(q.From), cp.Key)
		if err != nil {
			return schema.TlogProof{}, fault.Wrap(op, fault.ArgumentError, err, "from checkpoint")
		}
		if old.Size > cp.Size {
			return schema.TlogProof{}, fault.E(op, fault.ArgumentError, "from checkpoint size %d is beyond the latest checkpoint's %d", old.Size, cp.Size)
		}
		p, err := chain.ConsistencyProof(ctx, s.store, old.Size, cp.Size)
		if err != nil {
			return schema.TlogProof{}, err
		}
		return schema.TlogProof{Kind: schema.TlogConsistency, Checkpoint: cp.Note, OldCheckpoint: q.From, Proof: tlog.Encode(p)}, nil
	}
	if q.Seq < 1 || uint64(q.Seq) > cp.Size {
		return schema.TlogProof{}, fault.E(op, fault.ArgumentError, "seq %d is not in the latest checkpoint's rows 1..%d", q.Seq, cp.Size)
	}
	rows, err := s.store.Events(ctx, chain.Filter{AfterSeq: q.Seq - 1, BeforeSeq: q.Seq + 1, Limit: 1})
	if err != nil {
		return schema.TlogProof{}, err
	}
	if len(rows) != 1 {
		return schema.TlogProof{}, fault.E(op, fault.ArgumentError, "seq %d: no such row", q.Seq)
	}
	p, err := chain.InclusionProof(ctx, s.store, uint64(q.Seq-1), cp.Size)
	if err != nil {
		return schema.TlogProof{}, err
	}
	row := wireRow(rows[0])
	return schema.TlogProof{Kind: schema.TlogInclusion, Checkpoint: cp.Note, Row: &row,
		LeafHash: fmt.Sprintf("%x", tlog.LeafHash(row.Hash)), Proof: tlog.Encode(p)}, nil
}

// RowHash recomputes an audit row's chain hash from its fields and stored prev_hash (U-7, U-8),
// for verifiers of inclusion proofs.
func RowHash(r schema.AuditRow) (string, error) {
	t := func(p *string) chain.Text {
		if p == nil {
			return chain.Text{}
		}
		return chain.Str(*p)
	}
	e := chain.Event{Seq: r.Seq, TS: t(r.TS), Actor: t(r.Actor), Op: t(r.Op), TargetRef: t(r.TargetRef),
		TargetPath: t(r.TargetPath), OpID: t(r.OpID), ResultOID: t(r.ResultOID), Outcome: t(r.Outcome),
		Detail: r.Detail, PrevHash: r.PrevHash}
	return chain.Hash(r.PrevHash, &e)
}
