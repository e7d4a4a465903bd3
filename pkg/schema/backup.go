package schema

// Backup and mirror (operations §7). Capstore pushes the repository (backup_push,
// mirror_push — commands the gateway may not publish, O-deploy-3); the audit
// service writes its own snapshot (snapshot query); the CLI copies the config and the secret.
const (
	CmdBackupPush   = "backup_push"
	CmdMirrorPush   = "mirror_push"
	QAuditSnapshot  = "snapshot"
	BackupMirrorDir = "stasima-mirror.git"
	BackupAuditFile = "audit.sqlite"
	// BackupAuditRef carries the audit snapshot to a mirror remote (C-refs-2: only by name).
	BackupAuditRef = "refs/backup/audit"
)

// BackupPush is O-backup-1: push the sync refspecs to Dest/stasima-mirror.git (created when
// missing) as remote "backup", then verify (O-backup-3).
type BackupPush struct {
	Actor
	Dest string `json:"dest"` // absolute directory
	// NetworkTimeoutS bounds the push (git_network_timeout, O-net-1); 0 = the command's own
	// deadline.
	NetworkTimeoutS float64 `json:"network_timeout_s,omitempty"`
}

// MirrorPush is O-mirror-1: commit the audit snapshot file as the single file audit.sqlite on
// refs/backup/audit, then push the sync refspecs and that ref to URL as remote "mirror".
type MirrorPush struct {
	Actor
	URL          string `json:"url"`
	SnapshotFile string `json:"snapshot_file"` // absolute path readable by capstore
	Events       int64  `json:"events"`        // rows in the snapshot (commit subject)
	// NetworkTimeoutS bounds the push (git_network_timeout, O-net-1).
	NetworkTimeoutS float64 `json:"network_timeout_s,omitempty"`
}

// SyncResult is a push and its verify_sync (O-backup-3).
type SyncResult struct {
	Remote          string   `json:"remote"`
	GitSyncOK       bool     `json:"git_sync_ok"`
	SyncedRefs      int      `json:"synced_refs"`
	MissingOnRemote []string `json:"missing_on_remote"`
	OIDMismatch     []string `json:"oid_mismatch"`
	AuditRefOID     string   `json:"audit_ref_oid,omitempty"` // mirror only
}

// SnapshotQuery asks the audit service for a consistent SQLite snapshot (O-backup-2).
type SnapshotQuery struct {
	File string `json:"file"` // absolute path; replaced atomically
}

// SnapshotAnswer is the snapshot written.
type SnapshotAnswer struct {
	File   string `json:"file"`
	Events int64  `json:"events"`
	Head   string `json:"head"`
}
