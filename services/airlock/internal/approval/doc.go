// Package approval is the airlock's two-phase approval state machine (spec airlock.md §2–§11):
// consuming TOTP codes once per purpose (A-6…A-11), the per-proposal state folded from the
// audit log with its lazy TTL (A-12…A-14), the freeze of staged proposals, stage
// (A-30…A-36), land (A-40…A-47), revert (A-50…A-52), the staged listing and the OAuth
// door's code verification.
//
// Invariants:
//   - All state lives in the audit log; the Service keeps nothing between calls, so a restart
//     or a rebuilt audit service changes no decision (A-12, ARCH-5).
//   - Every operation, reads that may append a TTL revert included, runs under one mutex and
//     awaits each row before its next decision, so consume-once and the fold are race-free
//     . Only one Service may run against one audit log.
//   - Server time, from the injected clock, is authoritative for every gate (INV-17, A-5).
//   - Codes are never logged, recorded or quoted in errors; only window numbers are (INV-16).
//   - Every method returns the events (airlock.staged, airlock.reverted, airlock.landed) of
//     the rows it appended, even when it also returns an error: a TTL revert observed on the
//     way to a refusal is still a fact to publish.
package approval
