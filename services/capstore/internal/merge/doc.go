// Package merge is capstore's three-way merge of file trees: the engine
// behind preview, prepare and land (operations.md §2.1). It is pure — no
// I/O, no git objects — and deterministic: the same inputs give the same
// Result, slices sorted in byte order. gitstore reads the three trees, calls
// Merge, and writes the merged tree as the land candidate.
//
// Trees are maps from full '/'-separated file paths to contents; every file
// is a plain blob (mode 100644), and directories exist only as path
// prefixes.
//
// # Path merge (O-merge-3)
//
// For each path in the union of base, ours and theirs, with absence as a
// value of its own:
//
//   - ours and theirs agree → that (a change both made, or none);
//   - ours equals base → theirs (a deletion on theirs deletes);
//   - theirs equals base → ours;
//   - present in base, deleted on one side and modified on the other →
//     conflict "modify/delete" (ours modified) or "delete/modify" (ours
//     deleted);
//   - absent from base and added on both sides with different content →
//     content merge against an empty base, as git merge-tree does: that
//     conflicts ("add/add") unless one side added an empty file, in which
//     case the other side's content is taken;
//   - modified on both sides → content merge, "content" on conflict.
//
// A deletion that one side made and the other did not touch is a deletion,
// not a conflict: the canon-side caller refuses it (INV-3, O-merge-10) by
// looking at Result.Removes.
//
// A merged file where the merged tree also has a directory of the same name
// (the file's path plus '/' prefixes another path) is a conflict
// "file/directory" named by the file's path; as in git, the modified
// version of a modify/delete path counts as present. A file one side left
// alone and the other replaced by a directory is not a conflict: the file
// goes, the directory stays.
//
// No rename detection (D-28): a renamed path is a deletion plus an addition.
//
// # Content merge (O-merge-4)
//
// Lines is git's line-level diff3 (`git merge-file`): non-overlapping,
// non-adjacent hunks combine; identical changes combine; overlapping or
// adjacent different hunks conflict. Lines are compared byte for byte, so
// CRLF endings and a missing final newline are preserved exactly as git
// preserves them.
//
// A file is binary if it contains a NUL byte or is not valid UTF-8. When
// any of the three versions of a both-sides-changed file is binary there is
// no line merge: the path conflicts ("content", or "add/add"). This is
// stricter than git, which only looks for NUL in the first 8000 bytes: a
// conflict is always safe to hand to the practitioner, a line merge of bytes
// that are not text is not. A binary file changed on one side only merges
// like any other file.
//
// # Result (O-merge-5, -6, -7)
//
// A clean merge (no Conflicts) yields the merged Tree and its typed delta
// against ours (the canon side): Adds, Removes and Modifies, and their
// union Changed. A conflicted merge yields at least one Conflict per
// conflicted path, each with a git-phrased CONFLICT line, and the delta of
// theirs against base (the proposal's own changes since it branched), since
// there is no merged tree to compare.
package merge
