package audit

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/logkey"
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
// never goes backwards.
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
	root, err := chain.RootAt(ctx, s.store, size)
	if err != nil {
		return schema.TlogCheckpoint{}, err
	}
	msg, err := tlog.Sign(tlog.Checkpoint{Origin: s.cfg.Origin, Size: size, Hash: root}, s.key.signer)
	if err != nil {
		return schema.TlogCheckpoint{}, fault.Wrap("audit.checkpoint", fault.Internal, err, "sign")
	}
	s.key.latest = schema.TlogCheckpoint{Note: string(msg), Key: s.key.verifier, Size: size}
	return s.key.latest, nil
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

// checkpointAfter signs a checkpoint when rows holds a land (a checkpoint at every land).
func (s *Service) checkpointAfter(rows []chain.Event) {
	if s.key == nil {
		return
	}
	for _, r := range rows {
		if r.Op.Valid && r.Op.String == "land_merge" {
			if _, err := s.Checkpoint(context.Background()); err != nil {
				s.log.Warn("checkpoint after land failed", logkey.Err, err)
			}
			return
		}
	}
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
