package app

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/names"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/gateway/internal/toolspec"
)

// vapRecord is T-vap_record-1…7; capstore runs the pipeline (rules 8–10).
func (a *App) vapRecord(ctx context.Context, args toolspec.Args, s Session) (any, error) {
	const op = "vap_record"
	seat := args.String("instance_id")
	if err := names.ValidateSeat(seat); err != nil { // D-33
		return nil, err
	}
	// T-vap_record-1.
	kind := args.String("kind")
	if kind != "confirmed" && kind != "reconstructed" {
		return nil, fault.E(op+".kind", fault.Denied, "kind %q is not a vantage kind: use confirmed or reconstructed", kind)
	}
	opID := args.String("op_id")
	if err := names.ValidateOpID(opID); err != nil {
		return nil, err
	}
	// T-vap_record-2: binds normalized when non-empty (T-vap_record-11: "" stays ""), and
	// validated as a path (D-10): a coordinate that leaves the tree binds nothing real.
	binds := args.String("binds")
	if binds != "" {
		binds = names.Normalize(binds)
		if err := names.ValidatePath(binds); err != nil {
			return nil, fault.Wrap(op+".binds", fault.Denied, err, "binds %q is not an entry path", binds)
		}
	}
	horizon := args.String("horizon")
	if a.cfg.MaxBodyBytes > 0 && len(horizon) > a.cfg.MaxBodyBytes {
		return nil, fault.E(op+".horizon", fault.ArgumentError,
			"horizon is %d bytes, over the cap of %d bytes (max_body_bytes)", len(horizon), a.cfg.MaxBodyBytes)
	}
	// T-vap_record-3/4: the caller's own vantages/ lane (I-40).
	ref, path := refs.Perspective(seat), "vantages/"+opID+".md"
	if err := names.ValidatePath(path); err != nil {
		return nil, err
	}
	if err := a.authz(ctx, s, seat, op, ref, path); err != nil {
		return nil, err
	}
	// T-vap_record-5.
	authoredVia, err := a.bindCheck(ctx, s, op, seat, ref, path)
	if err != nil {
		return nil, err
	}
	// T-vap_record-6: the dignity guard; an entry the index does not know passes.
	if kind == "confirmed" {
		authors, err := a.authorsOf(ctx, binds)
		if err != nil {
			return nil, err
		}
		if len(authors) > 0 && !slices.Contains(authors, seat) {
			err := fault.E(op+".dignity", fault.Denied,
				"a confirmed vantage is only for your own entry: %s is authored by %v, not %s; record kind=\"reconstructed\" instead",
				binds, authors, seat)
			return nil, a.deny(ctx, s, schema.AuditIntent{Actor: seat, Op: op, TargetPath: schema.S(path), OpID: schema.S(opID),
				Detail: schema.Detail("reason", "confirmed vantage on another's entry", "binds", binds, "authors", authors)}, err)
		}
	}
	// T-vap_record-7.
	cursor, err := a.cursor(ctx, seat)
	if err != nil {
		return nil, err
	}
	label := "confirmed"
	if kind == "reconstructed" {
		label = "reconstructed-by-" + seat + "-from-record"
	}
	cmd := schema.VapRecord{Actor: schema.Actor{Seat: seat, Session: s.ID}, OpID: opID, Binds: binds, Horizon: horizon,
		Vantage: label, Title: args.String("title"), AuthoredVia: authoredVia, CanonState: cursor}
	var res schema.VapRecordResult
	if err := a.be.Do(ctx, command(bus.Capstore, schema.CmdVapRecord, "vap_record/"+seat+"/"+opID, opID, s.ID, cmd), &res); err != nil {
		return nil, err
	}
	return vapRecordResult{Path: res.Path, Author: res.Author, Binds: res.Binds, Vantage: res.Vantage,
		CanonState: res.CanonState, OID: res.OID}, nil
}

type vapRecordResult struct {
	Path       string `json:"path"`
	Author     string `json:"author"`
	Binds      string `json:"binds"`
	Vantage    string `json:"vantage"`
	CanonState string `json:"canon_state"`
	OID        string `json:"oid"`
}

// vapFor is T-vap_for-1…4, answered by the indexer (S-51, S-54).
func (a *App) vapFor(ctx context.Context, args toolspec.Args, _ Session) (any, error) {
	req := schema.VantagesQuery{
		Entry: args.String("entry"), Author: args.String("author"), CanonState: args.String("canon_state"),
		Limit: args.Int("limit"), Offset: args.Int("offset"), Full: args.String("detail") == "full",
	}
	var res json.RawMessage
	err := a.be.Query(ctx, bus.Index, schema.QIndexVantagesFor, req, &res)
	return res, err
}

// vantagesOn is kip_get's with_vantages: every vantage binding entry (S-51), newest first.
func (a *App) vantagesOn(ctx context.Context, entry string) ([]vantage, error) {
	var ans struct {
		Vantages []vantage `json:"vantages"`
	}
	if err := a.be.Query(ctx, bus.Index, schema.QIndexVantagesFor, schema.VantagesQuery{Entry: entry, All: true}, &ans); err != nil {
		return nil, err
	}
	if ans.Vantages == nil {
		ans.Vantages = []vantage{}
	}
	return ans.Vantages, nil
}
