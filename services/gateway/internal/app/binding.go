package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/names"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
)

// Binding modes (identity.md I-2).
const (
	ModeStrict  = "strict"
	ModeWitness = "witness"
	ModeOff     = "off"
)

// Binding sources (identity.md I-1).
const (
	SourcePinned  = "pinned"
	SourcePort    = "port"
	SourceSession = "session"
)

// NormalizeMode is I-3's reading of a mode value: case-insensitive, "" is strict. ok is false
// for anything outside strict|witness|off.
func NormalizeMode(v string) (mode string, ok bool) {
	switch m := strings.ToLower(strings.TrimSpace(v)); m {
	case "":
		return ModeStrict, true
	case ModeStrict, ModeWitness, ModeOff:
		return m, true
	}
	return "", false
}

// SessionTag is identity.md I-30's audit tag of a session key: "s" and the first six hex
// digits of SHA-256 of the key, stable for the session. "" for no session.
func SessionTag(key string) string {
	if key == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(key))
	return "s" + hex.EncodeToString(sum[:3])
}

// identityTools are T-common-9's identity-claiming writes.
var identityTools = map[string]bool{
	"kip_commit": true, "propose": true, "propose_retract": true, "propose_close": true, "imp_send": true,
	"imp_mark_read": true, "vap_record": true, "canon_diff": true, "sup_reconcile": true,
}

// binder is the session-binding registry of identity.md §1: per gateway process, per session
// key (I-9). It is safe for concurrent sessions (I-19): one mutex guards every field below it.
type binder struct {
	mode   string
	pinned string
	port   string
	idle   time.Duration // REST session idle expiry (I-24); 0 never expires
	now    func() time.Time

	mu        sync.Mutex
	restored  string // the port-restored (or port-learned) name
	sessions  map[string]*sessionState
	lastSweep time.Time
}

type sessionState struct {
	name, source string
	seen         time.Time
}

func newBinder(cfg Config) *binder {
	mode, ok := NormalizeMode(cfg.BindingMode)
	if !ok {
		// gateway.Config.Validate refuses the value before the graph starts (I-3); a direct
		// caller of New gets the safe default.
		mode = ModeStrict
	}
	b := &binder{
		mode: mode, pinned: strings.TrimSpace(cfg.PinnedInstance), port: strings.TrimSpace(cfg.Port), // I-4
		idle: cfg.RESTSessionIdle, now: time.Now, sessions: map[string]*sessionState{},
	}
	if b.pinned != "" {
		b.port = "" // I-1: sources strongest first; a pinned gateway has no port source
	}
	return b
}

// verdict is the outcome of one check against the registry.
type verdict int

const (
	pass verdict = iota
	learned
	mismatch
)

// decision is what the registry decided for one claim, with what the rows need.
type decision struct {
	verdict verdict
	bound   string
	source  string
}

// view is the binding as whoami reports it (I-17), without learning or seeding anything.
func (b *binder) view(key string) (bound, source string) {
	if b.pinned != "" {
		return b.pinned, SourcePinned
	}
	if b.mode == ModeOff {
		return "", ""
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if st := b.live(key); st != nil {
		return st.name, st.source
	}
	if b.restored != "" {
		return b.restored, SourcePort
	}
	return "", ""
}

// decide is I-11…I-14 for a claim on the session key (mode is not off). A learn is recorded
// before the lock is released, so two concurrent first writes on one session cannot both learn.
func (b *binder) decide(key, claimed string) decision {
	if b.pinned != "" {
		if claimed == b.pinned {
			return decision{verdict: pass, bound: b.pinned, source: SourcePinned}
		}
		return decision{verdict: mismatch, bound: b.pinned, source: SourcePinned}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.live(key)
	if st == nil && b.restored != "" {
		// I-14: a session with no learned name is seeded from the port-restored name.
		st = &sessionState{name: b.restored, source: SourcePort}
		b.keep(key, st)
	}
	if st == nil {
		// I-12: learn.
		source := SourceSession
		if b.port != "" {
			source = SourcePort
			b.restored = claimed
		}
		b.keep(key, &sessionState{name: claimed, source: source})
		return decision{verdict: learned, bound: claimed, source: source}
	}
	if claimed == st.name { // I-13: exact, case-sensitive
		return decision{verdict: pass, bound: st.name, source: st.source}
	}
	return decision{verdict: mismatch, bound: st.name, source: st.source}
}

// live returns the session's state, discarding it when a REST session has been idle too long
// (I-24, I-8); it marks the session seen. Callers hold mu.
func (b *binder) live(key string) *sessionState {
	if key == "" {
		return nil
	}
	now := b.now()
	b.sweep(now)
	st := b.sessions[key]
	if st == nil {
		return nil
	}
	if b.expired(key, st, now) {
		delete(b.sessions, key)
		return nil
	}
	st.seen = now
	return st
}

func (b *binder) keep(key string, st *sessionState) {
	if key == "" {
		return // a ported or pinned REST call without a session header has no state of its own
	}
	st.seen = b.now()
	b.sessions[key] = st
}

func (b *binder) expired(key string, st *sessionState, now time.Time) bool {
	return b.idle > 0 && strings.HasPrefix(key, "rest:") && now.Sub(st.seen) > b.idle
}

// sweep drops idle REST sessions at most once per idle period, so abandoned tokens do not
// accumulate. Callers hold mu.
func (b *binder) sweep(now time.Time) {
	if b.idle <= 0 || now.Sub(b.lastSweep) < b.idle {
		return
	}
	b.lastSweep = now
	for k, st := range b.sessions {
		if b.expired(k, st, now) {
			delete(b.sessions, k)
		}
	}
}

// end discards a session's state when its transport session ends (I-8).
func (b *binder) end(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.sessions, key)
}

// restore remembers the port-restored name (I-14).
func (b *binder) restore(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.restored = name
}

// rekey replaces the port name from (restored and every session seeded or learned from the
// port) with to; to == "" re-arms learning.
func (b *binder) rekey(from, to string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.restored == from {
		b.restored = to
	}
	for k, st := range b.sessions {
		if st.source == SourcePort && st.name == from {
			delete(b.sessions, k)
		}
	}
}

// portSeat reads this gateway's port from the port table (U-17): the seat, "" when cleared or
// never learned; ok is false when the table cannot be read.
func (a *App) portSeat(ctx context.Context) (string, bool) {
	var table map[string]schema.PortBinding
	if err := a.be.Query(ctx, bus.Audit, schema.QAuditPortBindings, nil, &table); err != nil {
		a.log.Warn("port table unreadable; keeping the port binding", "port", a.bind.port, "err", err)
		return "", false
	}
	if pb, ok := table[a.bind.port]; ok && pb.Instance != nil {
		return *pb.Instance, true
	}
	return "", true
}

// EndSession discards the binding state of a transport session that ended (client DELETE,
// transport close; I-8).
func (a *App) EndSession(key string) { a.bind.end(key) }

// StartBinding writes the spawn-time rows of identity.md: the pinned declaration (I-18, every
// start, even in mode off) or the port restore (I-14). These rows are written outside any tool
// call and carry no session tag (U-20). A ported gateway that cannot read its port table does
// not start: it would otherwise learn a second name for its port.
func (a *App) StartBinding(ctx context.Context) error {
	b := a.bind
	var in schema.AuditIntent
	switch {
	case b.pinned != "":
		in = schema.AuditIntent{Actor: b.pinned, Op: "session_binding", Outcome: "ok",
			Detail: schema.Detail("mode", b.mode, "source", SourcePinned)}
	case b.port != "" && b.mode != ModeOff:
		var table map[string]schema.PortBinding
		if err := a.be.Query(ctx, bus.Audit, schema.QAuditPortBindings, nil, &table); err != nil {
			return fmt.Errorf("gateway: port %q: read the port table: %w", b.port, err)
		}
		pb, ok := table[b.port]
		if !ok || pb.Instance == nil || *pb.Instance == "" {
			return nil
		}
		b.restore(*pb.Instance)
		in = schema.AuditIntent{Actor: *pb.Instance, Op: "session_binding", Outcome: "ok",
			Detail: schema.Detail("mode", b.mode, "source", SourcePort, "port", b.port, "restored", true)}
		a.log.Info("port binding restored", "port", b.port, "seat", *pb.Instance)
	default:
		return nil
	}
	in.ID = "gw/bind/" + newID()
	if err := a.be.PublishIntents(ctx, []schema.AuditIntent{in}); err != nil {
		return fmt.Errorf("gateway: session_binding row: %w", err)
	}
	a.be.Await(ctx, []string{in.ID})
	return nil
}

// claimable refuses a claim of a reserved actor name (C-names-3: practitioner, system, backup,
// the committer) or of a configured approver on the agent surface, compared under case folding
// so no look-alike casing passes either; only a gateway pinned to exactly that name (the
// practitioner's own server definition, STASIMA_INSTANCE) may act as it (D-39). 0.1.5 bound
// these names on first use, so any session could read the practitioner's messages away, send
// in its name and close any proposal as an approver.
func (a *App) claimable(op, seat string) error {
	if seat == a.bind.pinned && seat != "" {
		return nil
	}
	committer := a.cfg.Committer
	if committer == "" {
		committer = names.DefaultCommitter
	}
	for _, group := range []struct {
		what  string
		names []string
	}{{"a reserved actor name", append(slices.Clone(names.Reserved), committer)}, {"a configured approver", a.cfg.Approvers}} {
		for _, r := range group.names {
			if names.FoldEqual(seat, r) {
				return fault.E(op+".identity", fault.Denied,
					"%s may not claim %q: it is %s (C-names-3, D-39), which acts through the console (stasima admin), "+
						"not the agent surface; claim your own seat name, or run a gateway pinned to it with STASIMA_INSTANCE=%s",
					op, seat, group.what, r)
			}
		}
	}
	return nil
}

// restGate is I-24's first rule for the REST mirror: with binding active and the gateway
// neither pinned nor ported, an identity-claiming call must carry a Stasima-Session header,
// checked before any other rule. Reads never need it.
func (a *App) restGate(tool string, s Session) error {
	b := a.bind
	if s.Transport != "rest" || s.Key != "" || !identityTools[tool] || b.mode == ModeOff || b.pinned != "" || b.port != "" {
		return nil
	}
	return fault.E(tool+".binding", fault.Denied,
		"%s claims an identity over REST without a Stasima-Session header: send \"Stasima-Session: <opaque token>\" "+
			"(one token per conversation) so the session binding (mode %s) can hold it; reads need no header", tool, b.mode)
}

// bindCheck is the session-binding check of identity.md §1.3 for one identity-claiming write:
// the tool's binding op, the seat the call claims, and the ref and path it targets ("" when the
// tool names none). It returns the envelope's authored_via value in witness mode ("" otherwise),
// or the refusal. Every identity-claiming tool calls it after its argument checks and before any
// write (T-common-9); learning is a side effect that stays when the tool refuses later (I-12).
func (a *App) bindCheck(ctx context.Context, s Session, op, seat, ref, path string) (authoredVia string, err error) {
	if err := a.claimable(op, seat); err != nil { // D-39, in every binding mode
		return "", err
	}
	b := a.bind
	if b.mode == ModeOff { // I-10
		return "", nil
	}
	if err := names.ValidateSeat(seat); err != nil { // D-33: never learn an invalid name
		return "", err
	}
	d := b.decide(s.Key, seat)
	if d.verdict == mismatch && d.source == SourcePort {
		// I-23: a port cleared from the console (or rebound by another gateway of the same
		// port) rekeys this running gateway too; the port table is read only on this rare path.
		if cur, ok := a.portSeat(ctx); ok && cur != d.bound {
			b.rekey(d.bound, cur)
			d = b.decide(s.Key, seat)
		}
	}
	switch d.verdict {
	case pass:
		return "", nil
	case learned:
		var rows []schema.AuditIntent
		if d.source == SourcePort {
			rows = append(rows, schema.AuditIntent{Actor: seat, Op: "port_binding", Outcome: "ok",
				Detail: schema.Detail("port", b.port, "action", "learn", "mode", b.mode)})
			a.log.Info("port binding learned", "port", b.port, "seat", seat)
		}
		detail := schema.Detail("mode", b.mode, "source", d.source, "learned", true)
		if d.source == SourcePort {
			detail = schema.Detail("mode", b.mode, "source", d.source, "learned", true, "port", b.port)
		}
		rows = append(rows, schema.AuditIntent{Actor: seat, Op: "session_binding", Outcome: "ok", Detail: detail})
		a.publish(ctx, s, rows)
		return "", nil
	}
	if b.mode == ModeWitness { // I-16: always a row, even for ops that write no envelope
		a.publish(ctx, s, []schema.AuditIntent{{Actor: seat, Op: op, TargetRef: schema.S(ref), TargetPath: schema.S(path),
			Outcome: "witness", Detail: schema.Detail("bound", d.bound)}})
		return d.bound, nil
	}
	// I-15.
	how := "learned (sticky) as"
	if d.source == SourcePinned {
		how = "pinned to"
	}
	remedy := "ask the practitioner to downgrade this server definition to witness (STASIMA_BINDING=witness)"
	if b.port != "" {
		remedy += " or to clear its port from the console (stasima admin binding --clear " + b.port + ")"
	} else {
		remedy += " or, for a port-durable binding, to clear its port from the console (stasima admin binding --clear <port>)"
	}
	err = fault.E(op+".binding", fault.Denied,
		"session-binding mismatch: this session is %s '%s' (strict) and refuses a write claiming '%s'. "+
			"Write as '%s' from that seat's own connection, or %s. "+
			"The binding is server-owned: there is no in-call override, and no tool parameter changes it.",
		how, d.bound, seat, seat, remedy)
	return "", a.deny(ctx, s, schema.AuditIntent{Actor: seat, Op: op, TargetRef: schema.S(ref), TargetPath: schema.S(path),
		Detail: schema.Detail("reason", "session-binding mismatch", "bound", d.bound)}, err)
}

// publish appends rows of a tool call, tagged with its session (I-30), and waits for them on
// the audit barrier (ARCH-6). A row that cannot be published is logged, never fatal to the call.
func (a *App) publish(ctx context.Context, s Session, rows []schema.AuditIntent) {
	ids := make([]string, len(rows))
	for i := range rows {
		rows[i].ID = "gw/" + newID()
		rows[i].Session = s.ID
		ids[i] = rows[i].ID
	}
	if err := a.be.PublishIntents(ctx, rows); err != nil {
		a.log.Error("audit intent publish failed", "op", rows[0].Op, "err", err)
		return
	}
	a.be.Await(ctx, ids)
}

// bindingBlock is whoami's session_binding (I-17).
func (a *App) bindingBlock(seat string, s Session) sessionBinding {
	b := a.bind
	bound, source := b.view(s.Key)
	blk := sessionBinding{Mode: b.mode, BoundInstance: nullable(bound), Source: nullable(source)}
	if bound != "" {
		m := seat == bound
		blk.Match = &m
	}
	if b.port != "" {
		blk.Port = nullable(b.port)
	}
	return blk
}

// authz is the lane policy of identity.md I-40 for a write by identity: op is the lane op the
// caller passes (I-41). A denial appends row A1 and fails Denied.
func (a *App) authz(ctx context.Context, s Session, identity, op, ref, path string) error {
	msg := lane(a.cfg.CanonRef, identity, op, ref, path)
	if msg == "" {
		return nil
	}
	err := fault.E(op+".authz", fault.Denied, "%s", msg)
	return a.deny(ctx, s, schema.AuditIntent{Actor: identity, Op: op, TargetRef: schema.S(ref), TargetPath: schema.S(path),
		Detail: schema.Detail("msg", err.Error())}, err)
}

// lane is I-40's decision: "" allows, otherwise the refusal's message.
func lane(canonRef, identity, op, ref, path string) string {
	switch {
	case op != "kip_commit" && op != "propose" && op != "imp_send" && op != "vap_record":
		return "" // reads are open on every layer
	case ref == canonRef:
		return fmt.Sprintf("%s may not write %s directly: canon is human-gated — propose the change (propose), the practitioner lands it", op, ref)
	case op == "kip_commit" && strings.HasPrefix(path, "messages/"):
		return fmt.Sprintf("kip_commit may not write %s on %s: messages are sent with imp_send", path, ref)
	case op == "kip_commit" && strings.HasPrefix(path, "vantages/"):
		return fmt.Sprintf("kip_commit may not write %s on %s: vantages are recorded with vap_record (or folded with kip_commit horizon=)", path, ref)
	case strings.HasPrefix(ref, refs.PerspectivePrefix) && ref != refs.Perspective(identity):
		return fmt.Sprintf("%s may not write %s as %s: a seat writes only its own perspective (%s)", op, ref, identity, refs.Perspective(identity))
	}
	return ""
}
