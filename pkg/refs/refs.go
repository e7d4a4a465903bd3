// Package refs owns the git ref layout of content-model.md §1: the fixed prefixes, the builders
// that turn a seat, proposal id or seq into its ref, the alias resolution of read tools
// (C-refs-3) and the sync refspecs (C-refs-2). It composes and splits strings only; names are
// validated by package names before they reach a builder.
package refs

import "strings"

// The ref layout of content-model.md §1 (C-refs-1: the prefixes are fixed).
const (
	PerspectivePrefix = "refs/cap/perspectives/"    // one append-only branch per seat
	ProposalPrefix    = "refs/cap/proposals/"       // proposal staging branches
	StateTagPrefix    = "refs/tags/state/"          // one lightweight tag per land
	AuditAnchor       = "refs/cap/audit-anchor"     // audit chain checkpoints
	AuditCheckpoint   = "refs/cap/audit-checkpoint" // signed Merkle checkpoints of the audit log
	BackupAudit       = "refs/backup/audit"         // audit snapshots; travels only when named (mirror)
	DefaultCanon      = "refs/heads/main"           // canon_ref unless configured
)

// Perspective returns the perspective ref of seat.
func Perspective(seat string) string { return PerspectivePrefix + seat }

// Proposal returns the staging ref of proposal id.
func Proposal(id string) string { return ProposalPrefix + id }

// StateTag returns the state tag ref of a land's seq (lowercase hex, hexseq.Format).
func StateTag(seq string) string { return StateTagPrefix + seq }

// Resolve maps a read tool's ref argument to a full ref (C-refs-3): "canon" and "main" are
// canonRef, a value starting with "refs/" is used as is, anything else is a seat name. A seat
// literally named "canon" or "main" is therefore addressable only by its full ref.
func Resolve(canonRef, value string) string {
	switch {
	case value == "canon" || value == "main":
		return canonRef
	case strings.HasPrefix(value, "refs/"):
		return value
	}
	return Perspective(value)
}

// SeatOf returns the seat name of a perspective ref (C-refs-1) and whether ref is one.
func SeatOf(ref string) (string, bool) { return after(ref, PerspectivePrefix) }

// ProposalOf returns the proposal id of a proposal ref (C-refs-1) and whether ref is one.
func ProposalOf(ref string) (string, bool) { return after(ref, ProposalPrefix) }

func after(ref, prefix string) (string, bool) {
	name, ok := strings.CutPrefix(ref, prefix)
	if !ok || name == "" {
		return "", false
	}
	return name, true
}

// SyncRefSpecs returns the refspecs every sync fetches and pushes (C-refs-2): branches, all of
// refs/cap (perspectives, proposals, the audit anchor) and the state tags. git's defaults would
// drop the latter two; BackupAudit is deliberately absent. The slice is fresh on every call.
func SyncRefSpecs() []string {
	return []string{
		"refs/heads/*:refs/heads/*",
		"refs/cap/*:refs/cap/*",
		"refs/tags/state/*:refs/tags/state/*",
	}
}
