// Package airlock is the Stasima airlock service (spec airlock.md): two-phase TOTP approval of a
// land through a relaying seat. It owns the TOTP secret file and is the only component that
// reads it (ARCH-3); it verifies codes for the approval relay (stage_approve, land_approve,
// stage_revert) and for the OAuth door (stasima.airlock.cmd.totp_verify, A-72).
//
// On the bus (spec README §2.2):
//   - commands stasima.airlock.cmd.{stage,land,revert,totp_verify,totp_provision} on the
//     COMMANDS stream, durable pull consumer airlock-commands; each is applied, its events
//     published, its reply sent on the Stasima-Reply inbox, and only then acked (ARCH-12);
//   - queries stasima.airlock.q.{state,staged,check_writable,totp_check}, core request/reply
//     in the queue group <prefix>-airlock; check_writable is the frozen gate the gateway
//     asks before propose, propose_retract and propose_close;
//   - events stasima.evt.airlock.{staged,reverted,landed} on EVENTS, each after its audit row
//     with a Nats-Msg-Id derived from that row's intent id.
//
// The airlock keeps no store of its own: the state of every proposal and the consume-once
// ledger are folded from the audit log, read through stasima.audit.q.events; its rows
// are audit intents whose ids derive from the command's envelope id ("<id>/<op>/<n>") and are
// awaited before the next decision (ARCH-6, A-11). A redelivered command is recognised by those
// ids and answered from its rows, never decided twice (ARCH-8). capstore prepares and lands the
// candidates (stasima.capstore.cmd.prepare_merge and .land); the airlock never touches git.
// Only one instance may run, and it serializes every decision through one mutex.
//
// Hardening (issue #5):
//   - brute force: a staged proposal takes at most MaxWrongLandCodes (5) wrong land codes,
//     counted from the totp_reject rows (purpose land, that proposal) after its airlock_stage
//     row, so the count is derived from the audit log like all airlock state; past it
//     every land code is refused (AirlockError naming the proposal and stage_revert, its own
//     totp_reject row {…, misses, reason:"too many wrong codes"}) until the proposal is
//     reverted and staged again;
//   - rate limit: stage, land and revert draw from a token bucket per client (the payloads'
//     optional "client", the gateway's session id), RelayBurst per RelayPeriod (10 a minute),
//     on the injected clock; a refusal is class RateLimited with an airlock_rate_limited row.
//     The buckets are in memory (a restart refills them): they only slow a relaying seat, the
//     lock-out above is the bound that survives;
//   - second factor: with airlock_land_secret configured, land codes verify against it alone;
//     totp_provision {land: true} writes it (0600, label <issuer>:practitioner-land);
//   - totp_provision {qr: true} adds the otpauth URI as a terminal QR (field qr, half blocks,
//     dark-terminal polarity) rendered with github.com/skip2/go-qrcode;
//   - a staged candidate that capstore says no longer binds the proposal (it changed since
//     staging) is refused as content-binding; the code is spent, revert and re-stage.
//
// The payload types of the airlock's commands, queries and events are declared in this package
// (payloads.go) until a later change moves them to pkg/schema with the same JSON.
//
// The core lives in internal/totp (RFC 6238 primitives, provisioning, diagnostics) and
// internal/approval (the state machine over small ports for the audit log and capstore).
package airlock
