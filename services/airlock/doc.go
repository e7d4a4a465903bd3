// Package airlock is the Stasima airlock service (spec airlock.md): two-phase TOTP approval of a
// land through a relaying seat. It owns the TOTP secret file and is the only component that
// reads it (ARCH-3); it verifies codes for the approval relay (stage_approve, land_approve,
// stage_revert) and for the OAuth door (stasima.airlock.cmd.totp_verify, A-72).
//
// The airlock keeps no store of its own: the state of every proposal and the consume-once
// ledger are folded from the audit log, which the audit service owns, so a restart loses
// nothing. Only one instance may run, and it serializes every decision through one mutex
//
//
// The core lives in internal/totp (RFC 6238 primitives, provisioning, diagnostics) and
// internal/approval (the state machine over small ports for the audit log and capstore).
package airlock
