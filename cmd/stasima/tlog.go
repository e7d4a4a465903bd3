package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/pkg/tlog"
	"github.com/stasima/stasima/services/audit"
)

// maxProofFile bounds a checkpoint, key, witness-state or proof file that verify-proof,
// witness and admin prove read: a proof file is one bus reply, and the bus carries at most
// 16 MB (deploy/nats.conf max_payload).
const maxProofFile = 16 << 20

// readProofFile reads the file at path, refusing one over maxProofFile bytes without reading
// it all; a missing file's error stays os.ErrNotExist.
func readProofFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxProofFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxProofFile {
		return nil, fmt.Errorf("%s is over %d bytes: not a checkpoint, key or proof file", path, maxProofFile)
	}
	return b, nil
}

// adminCheckpoint is `admin checkpoint`: the latest signed checkpoint and the log's verifier key.
func adminCheckpoint(ctx context.Context, c *busclient.Client, _ Config) (any, error) {
	var cp schema.TlogCheckpoint
	err := c.Query(ctx, bus.Audit, schema.QAuditCheckpoint, nil, &cp)
	return cp, err
}

// adminProve is `admin prove <seq> | --from <checkpoint-file>`: an inclusion or a consistency
// proof against the latest checkpoint, as a schema.TlogProof file. from is read before the
// backend starts; a bad seq is a usage error.
func adminProve(seqArg, from string) (adminFunc, error) {
	var q schema.TlogProveQuery
	if from != "" {
		b, err := readProofFile(from)
		if err != nil {
			return nil, err
		}
		q.From = checkpointNote(b)
	} else {
		seq, err := strconv.ParseInt(seqArg, 10, 64)
		if err != nil || seq < 1 {
			return nil, fmt.Errorf("%w: seq %q must be a row number >= 1", errUsage, seqArg)
		}
		q.Seq = seq
	}
	return func(ctx context.Context, c *busclient.Client) (any, error) {
		var p schema.TlogProof
		err := c.Query(ctx, bus.Audit, schema.QAuditProve, q, &p)
		return p, err
	}, nil
}

// checkpointNote returns the signed note in b: b itself, or the "checkpoint" member of the JSON
// `admin checkpoint` prints.
func checkpointNote(b []byte) string {
	var cp schema.TlogCheckpoint
	if json.Unmarshal(b, &cp) == nil && cp.Note != "" {
		return cp.Note
	}
	return string(b)
}

// cmdVerifyProof is `stasima verify-proof --key <verifier> <file>`: it checks, offline, a signed
// checkpoint (a note, or admin checkpoint's JSON), or a proof file of `admin prove` — an
// inclusion proof (the row's fields rehashed, its leaf, the path to the signed root) or a
// consistency proof (both checkpoints signed, the old tree a prefix of the new). It needs no
// deployment and no network. With --checkpoint, the proof's checkpoint must also be
// consistent with that trusted earlier checkpoint: same size means same root.
func cmdVerifyProof(file, key, trusted string, stdout io.Writer) error {
	if fi, err := os.Stat(key); err == nil && !fi.IsDir() {
		b, err := readProofFile(key)
		if err != nil {
			return err
		}
		key = strings.TrimSpace(string(b))
	}
	b, err := readProofFile(file)
	if err != nil {
		return err
	}
	out, err := verifyProof(b, key)
	if err != nil {
		return err
	}
	if trusted != "" {
		tb, err := readProofFile(trusted)
		if err != nil {
			return err
		}
		old, _, err := tlog.Open([]byte(checkpointNote(tb)), key)
		if err != nil {
			return fmt.Errorf("trusted %w", err)
		}
		if out.Size == old.Size && out.Root != fmt.Sprintf("%x", old.Hash) {
			return &tlog.MismatchError{Size: old.Size, Err: errors.New("same size as the trusted checkpoint, different root: fork detected")}
		}
		if out.Size < old.Size {
			return &tlog.MismatchError{Size: out.Size + 1, Err: fmt.Errorf("the log shrank below the trusted checkpoint's %d rows", old.Size)}
		}
	}
	enc, _ := json.MarshalIndent(out, "", "  ")
	fmt.Fprintf(stdout, "%s\n", enc)
	return nil
}

// verified is what verify-proof prints on success.
type verified struct {
	OK      bool   `json:"ok"`
	Kind    string `json:"kind"`
	Origin  string `json:"origin"`
	Size    uint64 `json:"size"`
	Root    string `json:"root"`
	Seq     int64  `json:"seq,omitempty"`
	OldSize uint64 `json:"old_size,omitempty"`
}

func verifyProof(b []byte, key string) (verified, error) {
	var p schema.TlogProof
	if json.Unmarshal(b, &p) != nil || p.Kind == "" {
		c, _, err := tlog.Open([]byte(checkpointNote(b)), key)
		if err != nil {
			return verified{}, err
		}
		return verified{OK: true, Kind: "checkpoint", Origin: c.Origin, Size: c.Size, Root: fmt.Sprintf("%x", c.Hash)}, nil
	}
	switch p.Kind {
	case schema.TlogInclusion:
		c, err := tlog.VerifyInclusion(p, key, audit.RowHash)
		if err != nil {
			return verified{}, err
		}
		return verified{OK: true, Kind: p.Kind, Origin: c.Origin, Size: c.Size, Root: fmt.Sprintf("%x", c.Hash), Seq: p.Row.Seq}, nil
	case schema.TlogConsistency:
		old, c, err := tlog.VerifyConsistency(p, key)
		if err != nil {
			return verified{}, err
		}
		return verified{OK: true, Kind: p.Kind, Origin: c.Origin, Size: c.Size, Root: fmt.Sprintf("%x", c.Hash), OldSize: old.Size}, nil
	}
	return verified{}, fmt.Errorf("proof kind %q: want %q or %q", p.Kind, schema.TlogInclusion, schema.TlogConsistency)
}
