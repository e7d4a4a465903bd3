package capstore

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/capstore/internal/gitstore"
)

// backupPush is O-backup-1/O-backup-3: capstore's artifact of a backup (O-backup-5) is the
// mirror repository in the destination, pushed without force or prune and verified.
func (s *Service) backupPush(ctx context.Context, env bus.Envelope) (schema.SyncResult, error) {
	const op = "backup_push"
	var c schema.BackupPush
	if err := json.Unmarshal(env.Data, &c); err != nil {
		return schema.SyncResult{}, fault.Wrap(op, fault.ArgumentError, err, "undecodable backup_push command")
	}
	if !filepath.IsAbs(c.Dest) {
		return schema.SyncResult{}, fault.E(op, fault.ArgumentError, "backup destination %q must be an absolute path", c.Dest)
	}
	mirror, err := gitstore.PrepareBackupDest(c.Dest, schema.BackupMirrorDir)
	if err != nil {
		return schema.SyncResult{}, err
	}
	pctx, cancel := networkDeadline(ctx, c.NetworkTimeoutS)
	defer cancel()
	rep, err := s.git.Push(pctx, "backup", mirror, nil)
	if err != nil {
		return schema.SyncResult{}, remoteRefusal(op, mirror, err)
	}
	return syncResult(mirror, rep), nil
}

// mirrorPush is O-mirror-1: the audit snapshot becomes the single file audit.sqlite of a new
// commit on refs/backup/audit (parent = its previous tip), then the sync refspecs and that ref
// go to the url as remote "mirror". The TOTP secret never travels.
func (s *Service) mirrorPush(ctx context.Context, env bus.Envelope) (schema.SyncResult, error) {
	const op = "mirror_push"
	var c schema.MirrorPush
	if err := json.Unmarshal(env.Data, &c); err != nil {
		return schema.SyncResult{}, fault.Wrap(op, fault.ArgumentError, err, "undecodable mirror_push command")
	}
	if c.URL == "" {
		return schema.SyncResult{}, fault.E(op, fault.ArgumentError, "mirror needs a remote url")
	}
	data, err := os.ReadFile(c.SnapshotFile)
	if err != nil {
		return schema.SyncResult{}, fault.Wrap(op, fault.ArgumentError, err, "audit snapshot %s", c.SnapshotFile)
	}
	parent, _, err := s.git.Resolve(schema.BackupAuditRef)
	if err != nil {
		return schema.SyncResult{}, err
	}
	commit, err := s.git.Commit(ctx, gitstore.CommitRequest{
		Ref: schema.BackupAuditRef, Parent: parent,
		Changes:    []gitstore.Change{{Path: schema.BackupAuditFile, Data: data}},
		AuthorName: "backup", AuthorEmail: "backup@stasima.local",
		Message: fmt.Sprintf("audit snapshot (%d events)", c.Events),
	})
	if err != nil {
		return schema.SyncResult{}, err
	}
	pctx, cancel := networkDeadline(ctx, c.NetworkTimeoutS)
	defer cancel()
	rep, err := s.git.Push(pctx, "mirror", c.URL, []string{schema.BackupAuditRef + ":" + schema.BackupAuditRef})
	if err != nil {
		return schema.SyncResult{}, remoteRefusal(op, c.URL, err)
	}
	res := syncResult(c.URL, rep)
	res.AuditRefOID = commit.OID
	return res, nil
}

func syncResult(remote string, rep gitstore.SyncReport) schema.SyncResult {
	return schema.SyncResult{Remote: remote, GitSyncOK: rep.OK(), SyncedRefs: rep.Synced,
		MissingOnRemote: rep.MissingOnRemote, OIDMismatch: rep.OIDMismatch}
}

// remoteRefusal reports a failed push to the practitioner at once: redelivery is for
// capstore's own transient failures, and a remote that refused or did not answer is neither
// (the message keeps the url and, on a timeout, says the push did NOT complete).
func remoteRefusal(op, url string, err error) error {
	class := fault.ClassOf(err)
	if class == fault.BackendUnavailable || class == fault.Internal {
		class = fault.Denied
	}
	return fault.Wrap(op, class, err, "push to %s failed", url)
}

// networkDeadline is O-net-1: network operations use git_network_timeout (local ones never
// do); the command's own deadline still applies.
func networkDeadline(ctx context.Context, seconds float64) (context.Context, context.CancelFunc) {
	if seconds <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, time.Duration(seconds*float64(time.Second)))
}
