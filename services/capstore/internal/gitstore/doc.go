// Package gitstore is the only code that writes git. It owns one bare repository
// (SHA-1 object format, CONV-4) through go-git and exposes it in plain strings:
// oids are 40-character lowercase hex, refs are full names, paths are tree paths.
// No go-git type crosses the package boundary.
//
// Invariants the package keeps:
//
//   - History is never rewritten (INV-1). Commit only appends a commit whose
//     parents are the ref's current tip (plus, for a merge, ExtraParents), and a ref
//     moves only by compare-and-swap from the tip the caller composed against
//     (C-commit-5); a mismatch is fault.StaleRef. Create-only writes refuse an
//     existing ref; SetRef re-creating a ref at the same oid is a no-op (C-log-7).
//   - Replays write nothing (C-commit-6): when the ref's current tip carries the
//     request's op-id trailer, Commit returns that tip with Replayed set, checked
//     before the CAS precondition. Only the tip is consulted.
//   - Trees follow C-commit-1: blobs are mode 100644, trees are the parent's tree
//     plus the change list applied in order, deleting an absent path is a no-op, and
//     a commit is written even when its tree equals the parent's.
//   - One in-flight write per ref (ARCH-9): writes to the same ref are serialized by
//     a per-ref lock; writes to different refs run in parallel. The ref itself is
//     moved with git's lockfile protocol (create "<ref>.lock" exclusively, verify the
//     old value, rename over the ref), so an out-of-band git writer and this package
//     exclude each other and readers never see a half-written ref.
//   - Nothing is reported before it is on disk (ARCH-13): every object file, the
//     ref, and the directory entries of new files and renames are fsynced before
//     Commit or SetRef returns, and objects are durable before the ref names them.
//   - go-git's filesystem storage is not safe for concurrent use (its object
//     storage keeps unsynchronized lazy state), so every call into it goes through
//     one short leaf lock; the slow part of a write, writing and fsyncing the object
//     files, happens outside that lock.
//
// Lock order: Store.countMu → Store.objMu; a per-ref lock → Store.objMu. objMu is a
// leaf and is never held across a filesystem sync.
package gitstore
