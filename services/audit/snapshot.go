package audit

import (
	"context"
	"os"
	"path/filepath"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/audit/internal/chain"
	"github.com/stasima/stasima/services/audit/internal/sqlitestore"
)

// Snapshot is O-backup-2: the whole audit log copied verbatim (seq, ts, every hashed field,
// prev_hash and hash) into a new SQLite file in the 0.1.5 schema (D-20), whatever the live
// store. Rows never change once appended (U-2), so the rows up to the tail read first are one
// consistent cut while the writer keeps appending. The file is built in a private directory
// beside its destination and renamed into place, so a reader never sees half a snapshot.
func (s *Service) Snapshot(ctx context.Context, file string) (schema.SnapshotAnswer, error) {
	const op = "audit.snapshot"
	if !filepath.IsAbs(file) {
		return schema.SnapshotAnswer{}, fault.E(op, fault.ArgumentError, "snapshot path %q must be absolute", file)
	}
	tail, err := s.store.Tail(ctx)
	if err != nil {
		return schema.SnapshotAnswer{}, err
	}
	var rows []chain.Event
	for e, err := range s.store.Range(ctx, chain.MinSeq, tail.Seq) {
		if err != nil {
			return schema.SnapshotAnswer{}, err
		}
		rows = append(rows, e)
	}
	if int64(len(rows)) != tail.Seq {
		return schema.SnapshotAnswer{}, fault.E(op, fault.Internal, "audit log has %d rows up to seq %d", len(rows), tail.Seq)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return schema.SnapshotAnswer{}, fault.Wrap(op, fault.BackendUnavailable, err, "snapshot directory")
	}
	// The snapshot is built in a new private directory beside file (os.MkdirTemp: a random
	// name created exclusively, mode 0700), so SQLite's database and side files land at names
	// nobody could plant a file or symlink at beforehand, on file's filesystem for the rename.
	work, err := os.MkdirTemp(filepath.Dir(file), "."+filepath.Base(file)+".tmp-*")
	if err != nil {
		return schema.SnapshotAnswer{}, fault.Wrap(op, fault.BackendUnavailable, err, "snapshot directory")
	}
	defer os.RemoveAll(work)
	tmp := filepath.Join(work, "audit.sqlite")
	snap, err := sqlitestore.Open(ctx, tmp)
	if err != nil {
		return schema.SnapshotAnswer{}, err
	}
	err = snap.Import(ctx, rows)
	if cerr := snap.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return schema.SnapshotAnswer{}, err
	}
	if err := os.Rename(tmp, file); err != nil {
		return schema.SnapshotAnswer{}, fault.Wrap(op, fault.BackendUnavailable, err, "place snapshot %s", file)
	}
	return schema.SnapshotAnswer{File: file, Events: tail.Seq, Head: tail.Hash}, nil
}
