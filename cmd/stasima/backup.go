package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/schema"
)

// progress prints one line per backup step on a terminal only (stdout stays one JSON object
// for scripts; the lines go to stderr).
type progress struct{ w io.Writer }

func newProgress(stdout, stderr io.Writer) progress {
	if f, ok := stdout.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return progress{stderr}
		}
	}
	return progress{io.Discard}
}

func (p progress) step(format string, args ...any) { fmt.Fprintf(p.w, "• "+format+"\n", args...) }

type backupResult struct {
	Dest        string   `json:"dest"`
	GitSyncOK   bool     `json:"git_sync_ok"`
	SyncedRefs  int      `json:"synced_refs"`
	AuditEvents int64    `json:"audit_events"`
	Copied      []string `json:"copied"`
	// The refs verify_sync found wrong, when any (O-backup-3).
	MissingOnRemote []string `json:"missing_on_remote,omitempty"`
	OIDMismatch     []string `json:"oid_mismatch,omitempty"`
	// The witness's cosignature, when one is configured (witness_key).
	*cosigned
}

// backupCheckpoint is the file of a backup holding the latest checkpoint with the witness's
// cosignature.
const backupCheckpoint = "audit-checkpoint"

// witnessCosign obtains the configured witness's cosignature on the deployment's latest
// checkpoint (nil without witness_key): the witness asks the deployment for the checkpoint and
// the consistency proof from the last one it cosigned, and refuses a fork.
func witnessCosign(ctx context.Context, c *busclient.Client, cfg Config, p progress) (*cosigned, []byte, error) {
	if cfg.WitnessKey == "" {
		return nil, nil, nil
	}
	w, err := openWitness(cfg.WitnessKey, "", cfg.WitnessState, "stasima-witness", p.w)
	if err != nil {
		return nil, nil, fmt.Errorf("witness: %w", err)
	}
	note, err := w.cosignFrom(ctx, busSource{c})
	if err != nil {
		return nil, nil, fmt.Errorf("witness %s: %w", w.signer.Name(), err)
	}
	cs, err := w.lastCosigned()
	if err != nil {
		return nil, nil, err
	}
	p.step("witness %s cosigned the checkpoint of %d rows", cs.Witness, cs.Size)
	return cs, note, nil
}

// adminBackup is O-backup-1…4: capstore pushes the mirror, the audit service writes its
// snapshot, the CLI copies the config file and the TOTP secret; each writes its own artifact
// into dest (O-backup-5). Repeatable and incremental.
func adminBackup(ctx context.Context, c *busclient.Client, cfg Config, dest string, p progress) (any, error) {
	dest, err := filepath.Abs(dest)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return nil, fmt.Errorf("backup destination: %w", err)
	}
	p.step("pushing every branch, perspective, proposal and state tag to %s", filepath.Join(dest, schema.BackupMirrorDir))
	var sync schema.SyncResult
	if err := c.Do(ctx, busclient.Command{Svc: bus.Capstore, Verb: schema.CmdBackupPush, ID: "backup/" + ulidString(),
		Data: schema.BackupPush{Actor: schema.Actor{Seat: "practitioner"}, Dest: dest, NetworkTimeoutS: cfg.GitNetworkTimeout.Seconds()}}, &sync); err != nil {
		return nil, err
	}
	p.step("mirror verified: %d refs in sync (git_sync_ok=%v)", sync.SyncedRefs, sync.GitSyncOK)
	p.step("snapshotting the audit log")
	var snap schema.SnapshotAnswer
	if err := c.Query(ctx, bus.Audit, schema.QAuditSnapshot, schema.SnapshotQuery{File: filepath.Join(dest, schema.BackupAuditFile)}, &snap); err != nil {
		return nil, err
	}
	p.step("audit snapshot: %d events", snap.Events)
	res := backupResult{Dest: dest, GitSyncOK: sync.GitSyncOK, SyncedRefs: sync.SyncedRefs, AuditEvents: snap.Events,
		Copied: []string{schema.BackupMirrorDir, schema.BackupAuditFile}}
	if !sync.GitSyncOK {
		res.MissingOnRemote, res.OIDMismatch = sync.MissingOnRemote, sync.OIDMismatch
	}
	for _, f := range []struct{ path, what string }{{cfg.ConfigPath, "config"}, {cfg.AirlockSecret, "TOTP secret"},
		{cfg.audit().LogKey, "audit log key"}} {
		if f.path == "" {
			continue
		}
		err := copyFile(f.path, filepath.Join(dest, filepath.Base(f.path)), 0o600)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// No secret provisioned yet, or it lives on another machine's volume (compose:
			// the secrets volume is airlock's alone).
			p.step("%s %s not present here; not copied", f.what, f.path)
		case err != nil:
			return nil, fmt.Errorf("copy %s: %w", f.what, err)
		default:
			res.Copied = append(res.Copied, filepath.Base(f.path))
			p.step("copied the %s", f.what)
		}
	}
	cs, cosignedNote, werr := witnessCosign(ctx, c, cfg, p)
	if cs != nil {
		res.cosigned = cs
		if err := writeFileAtomic(filepath.Join(dest, backupCheckpoint), cosignedNote, 0o644); err != nil {
			return nil, fmt.Errorf("write the cosigned checkpoint: %w", err)
		}
		res.Copied = append(res.Copied, backupCheckpoint)
	}
	if !res.GitSyncOK {
		return res, fmt.Errorf("backup to %s is not in sync: missing on the mirror %v, different %v", dest, sync.MissingOnRemote, sync.OIDMismatch)
	}
	if werr != nil {
		return res, werr
	}
	return res, nil
}

// adminMirror is O-mirror-1. The audit service writes the snapshot into stage (a directory
// capstore can read: the shared backup volume in compose), capstore commits it on
// refs/backup/audit and pushes.
func adminMirror(ctx context.Context, c *busclient.Client, cfg Config, url, stage string, p progress) (any, error) {
	stage, err := filepath.Abs(stage)
	if err != nil {
		return nil, err
	}
	file := filepath.Join(stage, "stasima-mirror-"+ulidString()+".sqlite")
	defer os.Remove(file)
	p.step("snapshotting the audit log")
	var snap schema.SnapshotAnswer
	if err := c.Query(ctx, bus.Audit, schema.QAuditSnapshot, schema.SnapshotQuery{File: file}, &snap); err != nil {
		return nil, err
	}
	p.step("pushing to %s with the snapshot (%d events) on %s", url, snap.Events, schema.BackupAuditRef)
	var sync schema.SyncResult
	if err := c.Do(ctx, busclient.Command{Svc: bus.Capstore, Verb: schema.CmdMirrorPush, ID: "mirror/" + ulidString(),
		Data: schema.MirrorPush{Actor: schema.Actor{Seat: "practitioner"}, URL: url, SnapshotFile: file, Events: snap.Events,
			NetworkTimeoutS: cfg.GitNetworkTimeout.Seconds()}}, &sync); err != nil {
		return nil, fmt.Errorf("mirror to %s: %w", url, err)
	}
	out := map[string]any{"remote": url, "git_sync_ok": sync.GitSyncOK, "synced_refs": sync.SyncedRefs, "audit_events": snap.Events,
		"note": "the TOTP secret was NOT pushed; on restore, re-provision it (stasima admin totp-provision) or carry it separately"}
	cs, _, werr := witnessCosign(ctx, c, cfg, p)
	if cs != nil {
		out["witness"], out["witness_cosigned_size"] = cs.Witness, cs.Size
	}
	if !sync.GitSyncOK {
		return out, fmt.Errorf("mirror %s is not in sync: missing %v, different %v", url, sync.MissingOnRemote, sync.OIDMismatch)
	}
	if werr != nil {
		return out, werr
	}
	return out, nil
}

// restoreLogKey copies the backup's audit log key (mode 0600) to dst unless a key is there
// already; placed reports a copy.
func restoreLogKey(from, dst string, p progress) (placed bool, err error) {
	src := filepath.Join(from, filepath.Base(dst))
	if _, err := os.Stat(src); err != nil {
		p.step("no audit log key in the backup: a new key will sign checkpoints from here on")
		return false, nil
	}
	if _, err := os.Stat(dst); err == nil {
		p.step("an audit log key is already at %s; kept", dst)
		return false, nil
	}
	if err := copyFile(src, dst, 0o600); err != nil {
		return false, fmt.Errorf("restore the audit log key: %w", err)
	}
	p.step("placed the audit log key")
	return true, nil
}

// adminRestore is O-restore-1 for the single binary: it rebuilds a deployment from a backup
// folder into the configured (empty) places — the mirror becomes git_dir, the audit snapshot
// the audit log (copied for SQLite, imported for PostgreSQL, O-restore-2), the secret goes to
// airlock_secret_path — then reindexes and verifies. It runs offline under the deployment
// lock and refuses to overwrite anything.
func adminRestore(ctx context.Context, cfg Config, from string, p progress) (any, error) {
	from, err := filepath.Abs(from)
	if err != nil {
		return nil, err
	}
	mirror := filepath.Join(from, schema.BackupMirrorDir)
	if _, err := os.Stat(filepath.Join(mirror, "objects")); err != nil {
		return nil, fmt.Errorf("%s holds no %s: not a stasima backup", from, schema.BackupMirrorDir)
	}
	snapshot := filepath.Join(from, schema.BackupAuditFile)
	if _, err := os.Stat(snapshot); err != nil {
		return nil, fmt.Errorf("%s holds no %s: not a stasima backup", from, schema.BackupAuditFile)
	}
	if _, err := os.Stat(cfg.GitDir); err == nil {
		return nil, fmt.Errorf("git_dir %s exists; restore writes only into an empty place (move it away first)", cfg.GitDir)
	}
	lock, free, err := acquireLock(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if !free {
		return nil, fmt.Errorf("a stasima process serves %s; stop it before restoring", cfg.DataDir)
	}
	p.step("copying the mirror into %s", cfg.GitDir)
	err = copyTree(mirror, cfg.GitDir)
	if err == nil && cfg.AuditDSN == "" {
		if _, serr := os.Stat(cfg.AuditDB); serr == nil {
			err = fmt.Errorf("audit_db %s exists; restore writes only into an empty place", cfg.AuditDB)
		} else {
			p.step("placing the audit log at %s", cfg.AuditDB)
			err = copyFile(snapshot, cfg.AuditDB, 0o600)
		}
	}
	restored := []string{schema.BackupMirrorDir, schema.BackupAuditFile}
	if err == nil {
		secret := filepath.Join(from, filepath.Base(cfg.AirlockSecret))
		if _, serr := os.Stat(secret); serr == nil {
			if _, serr := os.Stat(cfg.AirlockSecret); serr == nil {
				p.step("a TOTP secret is already at %s; kept", cfg.AirlockSecret)
			} else if err = copyFile(secret, cfg.AirlockSecret, 0o600); err == nil {
				restored = append(restored, filepath.Base(cfg.AirlockSecret))
				p.step("placed the TOTP secret")
			}
		} else {
			p.step("no TOTP secret in the backup: run totp-provision")
		}
	}
	if err == nil {
		// The log key goes back before the audit service starts, which would otherwise
		// generate a new one: checkpoints after the restore are signed by the key that signed
		// those before it, so verifiers and witnesses holding its public key carry on.
		var placed bool
		if placed, err = restoreLogKey(from, cfg.audit().LogKey, p); placed {
			restored = append(restored, filepath.Base(cfg.audit().LogKey))
		}
	}
	lock.Close()
	if err != nil {
		return nil, err
	}
	out := map[string]any{"restored_from": from, "restored": restored}
	// Offline: the backend runs in this process over the restored stores (O-cli-3).
	_, err = withBackend(ctx, cfg, func(c *busclient.Client) (any, error) {
		if cfg.AuditDSN != "" {
			p.step("importing the audit log into PostgreSQL")
			var r schema.RestoreResult
			if err := c.Do(ctx, busclient.Command{Svc: bus.Audit, Verb: schema.CmdAuditRestore,
				Data: schema.Restore{Actor: schema.Actor{Seat: "practitioner"}, File: snapshot}}, &r); err != nil {
				return nil, err
			}
		}
		p.step("rebuilding the map index")
		var ri schema.ReindexResult
		if err := c.Do(ctx, busclient.Command{Svc: bus.Index, Verb: schema.CmdIndexReindex, Data: struct{}{}}, &ri); err != nil {
			return nil, err
		}
		out["reindexed"] = ri.Reindexed
		p.step("verifying the chain and the anchor")
		var v schema.VerifyAnswer
		if err := c.Query(ctx, bus.Audit, schema.QAuditVerify, nil, &v); err != nil {
			return nil, err
		}
		out["verify"] = v
		if !v.OK || v.AuditVsAnchor != nil && !*v.AuditVsAnchor {
			return nil, fmt.Errorf("restored, but verify failed: chain ok=%v, anchor=%v", v.OK, v.AuditVsAnchor)
		}
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// copyFile copies src to dst (created with mode, replaced atomically through an O_EXCL
// temporary file, writeAtomic).
func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	return writeAtomic(dst, mode, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

// copyTree copies a directory (a bare repository: a copy is a clone with every ref).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if strings.HasSuffix(p, ".lock") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return copyFile(p, target, info.Mode().Perm())
	})
}
