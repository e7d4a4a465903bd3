package app

import (
	"context"
	"maps"
	"slices"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/names"
	"github.com/stasima/stasima/pkg/pytext"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/gateway/internal/toolspec"
)

// practitioner is the practitioner's seat (T-common-20, O-inbox-1).
const practitioner = "practitioner"

// impSend is T-imp_send-1…5; capstore runs the pipeline (rules 6–8).
func (a *App) impSend(ctx context.Context, args toolspec.Args, s Session) (any, error) {
	const op = "imp_send"
	// T-imp_send-1: the identity twin.
	id, sender := args.String("instance_id"), args.String("sender")
	who := id
	if who == "" {
		who = sender
	}
	if who == "" || id != "" && sender != "" && id != sender {
		return nil, fault.E(op+".identity", fault.Denied,
			"Exactly one of instance_id (canonical) and sender (deprecated twin) names the sender; got instance_id=%q, sender=%q", id, sender)
	}
	// D-33: the claimed name is validated before binding.
	if err := names.ValidateSeat(who); err != nil {
		return nil, err
	}
	opID := args.String("op_id")
	if err := names.ValidateOpID(opID); err != nil {
		return nil, err
	}
	ref, path := refs.Perspective(who), "messages/"+opID+".md"
	if err := names.ValidatePath(path); err != nil {
		return nil, err
	}
	// T-imp_send-2: the imp_send lane is the sender's own messages/ (I-40).
	if err := a.authz(ctx, s, who, op, ref, path); err != nil {
		return nil, err
	}
	body := args.String("body")
	if a.cfg.MaxBodyBytes > 0 && len(body) > a.cfg.MaxBodyBytes {
		return nil, fault.E(op+".body", fault.ArgumentError,
			"body is %d bytes, over the cap of %d bytes (max_body_bytes)", len(body), a.cfg.MaxBodyBytes)
	}
	// T-imp_send-3.
	authoredVia, err := a.bindCheck(ctx, s, op, who, ref, path)
	if err != nil {
		return nil, err
	}
	// T-imp_send-4.
	thread := args.String("thread")
	if thread != "" && !threadForm(thread) {
		return nil, fault.E(op+".thread", fault.Denied,
			"thread %q is not ref-safe: 1-64 characters of a-z, 0-9 and '-', not starting with '-'", thread)
	}
	// T-imp_send-5: supersedes normalized (C-path-4) and validated as paths (D-10).
	var supersedes []string
	for _, p := range args.Strings("supersedes") {
		p = names.Normalize(p)
		if err := names.ValidatePath(p); err != nil {
			return nil, fault.Wrap(op+".supersedes", fault.Denied, err, "supersedes %q is not a message path", p)
		}
		supersedes = append(supersedes, p)
	}
	cursor, err := a.cursor(ctx, who)
	if err != nil {
		return nil, err
	}
	cmd := schema.ImpSend{
		Actor: schema.Actor{Seat: who, Session: s.ID}, OpID: opID,
		Recipients: nonNilStrings(args.Strings("recipients")), Subject: pytext.Flatten(args.String("subject")), Body: body,
		Coordinates: nonNilStrings(args.Strings("coordinates")), Supersedes: supersedes, Thread: thread,
		AuthoredVia: authoredVia, CanonState: cursor,
	}
	var res schema.ImpSendResult
	if err := a.be.Do(ctx, command(bus.Capstore, schema.CmdImpSend, "imp_send/"+who+"/"+opID, opID, s.ID, cmd), &res); err != nil {
		return nil, err
	}
	return impSendResult{Path: res.Path, From: res.From, Recipients: res.Recipients, OID: res.OID}, nil
}

type impSendResult struct {
	Path       string   `json:"path"`
	From       string   `json:"from"`
	Recipients []string `json:"recipients"`
	OID        string   `json:"oid"`
}

// inboxes asks the indexer for the flat inboxes of seats (S-40/S-41), tombstones resolved.
func (a *App) inboxes(ctx context.Context, seats []string) (map[string][]schema.InboxMessage, error) {
	var ans schema.InboxAnswer
	if err := a.be.Query(ctx, bus.Index, schema.QIndexInbox, schema.InboxQuery{Seats: seats}, &ans); err != nil {
		return nil, err
	}
	return ans.Inboxes, nil
}

// receipts returns, per reader, the set of message paths with a read_receipt (U-16, S-44); an
// empty seat means every reader.
func (a *App) receipts(ctx context.Context, seat string) (map[string]map[string]bool, error) {
	op := "read_receipt"
	f := schema.AuditFilter{Op: &op}
	if seat != "" {
		f.Actor = &seat
	}
	rows, err := busclient.AuditEvents(ctx, a.be, f, 0)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]bool{}
	for _, r := range rows {
		if r.Actor == nil || r.TargetPath == nil {
			continue
		}
		if out[*r.Actor] == nil {
			out[*r.Actor] = map[string]bool{}
		}
		out[*r.Actor][*r.TargetPath] = true
	}
	return out, nil
}

// impCheck is S-40…S-42: the flat inbox, tombstones over the whole inbox, then unread filtering.
func (a *App) impCheck(ctx context.Context, args toolspec.Args, _ Session) (any, error) {
	seat := args.String("instance_id")
	in, err := a.inboxes(ctx, []string{seat})
	if err != nil {
		return nil, err
	}
	msgs := in[seat]
	if args.Bool("unread_only") {
		read, err := a.receipts(ctx, seat)
		if err != nil {
			return nil, err
		}
		msgs = slices.DeleteFunc(msgs, func(m schema.InboxMessage) bool { return read[seat][m.Path] })
	}
	if msgs == nil {
		msgs = []schema.InboxMessage{}
	}
	return impCheckResult{Messages: msgs}, nil
}

// impCheckResult is imp_check's answer (T-imp_check).
type impCheckResult struct {
	Messages []schema.InboxMessage `json:"messages"`
}

// flagsOf asks the indexer for the frontier (S-43) of each seat, passing the paths each has read
// receipts for: the index counts the inbox by sender and subtracts the dead and read paths, so
// the answer's cost does not grow with the inbox (issue 15).
func (a *App) flagsOf(ctx context.Context, seats []string, read map[string]map[string]bool) (map[string]schema.Flags, error) {
	paths := make(map[string][]string, len(seats))
	for _, seat := range seats {
		paths[seat] = readPaths(read[seat])
	}
	var ans schema.FlagsAnswer
	if err := a.be.Query(ctx, bus.Index, schema.QIndexFlags, schema.FlagsQuery{Seats: seats, Read: paths}, &ans); err != nil {
		return nil, err
	}
	out := make(map[string]schema.Flags, len(seats))
	for _, seat := range seats {
		f := ans.Flags[seat]
		if f.From == nil {
			f.From = []string{}
		}
		out[seat] = f
	}
	return out, nil
}

// impFlags is T-imp_flags-1/2. The roster form lists perspectives exactly once
// (T-perf_scry-2) and asks the index and audit once each, whatever the roster size.
func (a *App) impFlags(ctx context.Context, args toolspec.Args, _ Session) (any, error) {
	if seat := args.String("instance_id"); seat != "" {
		read, err := a.receipts(ctx, seat)
		if err != nil {
			return nil, err
		}
		out, err := a.flagsOf(ctx, []string{seat}, read)
		if err != nil {
			return nil, err
		}
		return out[seat], nil
	}
	ps, err := a.perspectives(ctx)
	if err != nil {
		return nil, err
	}
	seats := make([]string, 0, len(ps))
	for _, p := range ps {
		if name, ok := refs.SeatOf(p.Name); ok {
			seats = append(seats, name)
		}
	}
	slices.Sort(seats)
	read, err := a.receipts(ctx, "")
	if err != nil {
		return nil, err
	}
	out, err := a.flagsOf(ctx, seats, read)
	if err != nil {
		return nil, err
	}
	return struct {
		Seats  map[string]schema.Flags `json:"seats"`
		Roster int                     `json:"roster"`
	}{out, len(seats)}, nil
}

// impMarkRead is T-imp_mark_read-1/2: a read_receipt row, message_path verbatim.
func (a *App) impMarkRead(ctx context.Context, args toolspec.Args, s Session) (any, error) {
	const op = "imp_mark_read"
	seat := args.String("instance_id")
	if err := names.ValidateSeat(seat); err != nil { // D-33
		return nil, err
	}
	p := args.String("message_path")
	if _, err := a.bindCheck(ctx, s, op, seat, "", p); err != nil {
		return nil, err
	}
	if err := a.appendRead(ctx, s.ID, seat, p); err != nil {
		return nil, err
	}
	return map[string]string{"marked_read": p}, nil
}

// appendRead is U-30: append and await one read_receipt row.
func (a *App) appendRead(ctx context.Context, session, seat, path string) error {
	in := schema.AuditIntent{ID: "gw/" + newID(), Actor: seat, Op: "read_receipt", TargetPath: &path,
		Outcome: "ok", Detail: schema.Detail(), Session: session}
	if err := a.be.PublishIntents(ctx, []schema.AuditIntent{in}); err != nil {
		return fault.Wrap("imp_mark_read", fault.BackendUnavailable, err, "read receipt for %s did NOT complete", path)
	}
	a.be.Await(ctx, []string{in.ID})
	return nil
}

// attention is T-common-20/S-45: the practitioner's flat inbox (not the frontier) minus the
// messages the practitioner has read, counted by the index without reading the messages (issue
// 15). The index is a cache: when it cannot answer, 0.
func (a *App) attention(ctx context.Context) int {
	read, err := a.receipts(ctx, practitioner)
	if err != nil {
		a.log.Warn("practitioner attention unavailable", "err", err)
		return 0
	}
	var ans schema.AttentionAnswer
	if err := a.be.Query(ctx, bus.Index, schema.QIndexAttention, schema.AttentionQuery{Seat: practitioner, Read: readPaths(read[practitioner])}, &ans); err != nil {
		a.log.Warn("practitioner attention unavailable", "err", err)
		return 0
	}
	return ans.Unread
}

// readPaths is one seat's read receipts (a set from receipts) as the sorted, non-nil list the
// index's flags and attention queries take.
func readPaths(set map[string]bool) []string {
	return nonNilStrings(slices.Sorted(maps.Keys(set)))
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
