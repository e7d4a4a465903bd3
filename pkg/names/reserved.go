package names

// Reserved are the actor names the system itself uses (C-names-3): practitioner for console and
// TOTP acts, system for automatic acts (TOTP rejections, TTL reverts, anchors), backup for
// mirror snapshots. The configured committer name (default capstore) is reserved too; it is
// configuration, so its holders add it.
var Reserved = []string{"practitioner", "system", "backup"}

// DefaultCommitter is the committer name when none is configured (C-names-3).
const DefaultCommitter = "capstore"
