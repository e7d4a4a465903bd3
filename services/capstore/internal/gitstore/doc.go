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
//     before the CAS precondition. Only the tip is consulted. The trailer is read
//     by pkg/commitmsg, the reader capstore's tools use too, so the replay check
//     and the tools never disagree about a message (D-40).
//   - Trees follow C-commit-1: blobs are mode 100644, trees are the parent's tree
//     plus the change list applied in order, deleting an absent path is a no-op, and
//     a commit is written even when its tree equals the parent's.
//   - One in-flight write per ref (ARCH-9): writes to the same ref are serialized by
//     a per-ref lock; writes to different refs run in parallel up to the group
//     commit below.
//   - Group commit (batch.go). A write builds its objects, then submits its ref
//     update to the committer. The caller that finds no batch in flight writes
//     one holding every update queued meanwhile (no timer: a lone writer is never
//     delayed) and hands the role on. A batch writes all its new objects as ONE
//     pack with its index (objects are never written loose), then moves all its
//     refs with ONE packed-refs rewrite. A ref whose CAS fails under the locks is
//     refused alone; its objects stay in the pack, unreferenced (D-19).
//   - git's lockfile protocol, so an out-of-band git writer and this package
//     exclude each other and fail cleanly: a batch takes "<ref>.lock" for each of
//     its refs (a hard link of the file gitstore-lock-inode: exclusive like git's
//     O_EXCL create, without allocating an inode), then "packed-refs.lock"
//     (waiting for another holder up to a second, like git); under both it checks
//     each ref's current value, loose file first (as git reads it) then
//     packed-refs, writes packed-refs.lock, fsyncs it and renames it over
//     packed-refs. A moved ref's loose file is removed afterwards (its directory
//     fsynced) so that it cannot shadow the packed value. Readers never see a
//     half-written file: packs, indexes and packed-refs appear by rename.
//   - Nothing is reported before it is on disk (ARCH-13): the pack and its index
//     are fsynced, renamed into objects/pack (the index last: git discovers packs
//     by their index) and the directory fsynced before packed-refs moves; then
//     packed-refs is fsynced, renamed and the repository directory fsynced; only
//     then does Commit or SetRef return.
//   - Reads see a pack as soon as it is written: the object database registers
//     it before the batch's refs move, and rescans objects/pack when an object
//     is missing (a pack git wrote). Parsed packed-refs is cached and re-read
//     only when the file's identity (device, inode, size, mtime) changes.
//   - Packs stay few (consolidate.go): above 32 packs a background goroutine
//     merges them geometrically (like git repack --geometric=2), copying whole
//     objects verbatim (CRC-checked). The merged pack is durable and registered
//     before the merged ones are unregistered and deleted, all under the object
//     database lock, so an object is readable throughout. Nothing is pruned.
//   - go-git's pack readers are not safe for concurrent use, so the pack set
//     and every read from a pack go through one short leaf lock (objectDB.mu);
//     objects come out fully read and are decoded outside it. Writing and
//     fsyncing happen outside every lock but the caller's per-ref lock.
//
// Merge plumbing (graph.go, treediff.go, candidate.go) serves preview,
// prepare and land (operations.md §2.1): MergeBase and IsAncestor walk the
// commit graph by generation number and FirstParentChain follows first
// parents, all through the commit meta cache of CountCommits (C-pos-4);
// ChangedPaths and CanonPositions compare trees by subtree hash and descend
// only where they differ; PreviewMerge feeds the pure engine of package merge
// the paths either side changed since the base; PrepareCandidate writes the
// merged commit as an objects-only update of the group committer: durable,
// in a pack, referenced by nothing until a land moves canon to it with SetRef
// (D-19: nothing is pruned).
//
// Lock order: a per-ref lock → committer.mu; a per-ref lock → objectDB.mu;
// Store.countMu (held by commit counts and graph walks) → objectDB.mu;
// Store.bgMu → objectDB.mu. committer.mu and objectDB.mu are leaves and never
// held across I/O that syncs; the batch writer holds no mutex while it
// writes, only the files' locks.
package gitstore
