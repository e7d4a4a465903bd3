package capstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/hexseq"
	"github.com/stasima/stasima/pkg/schema"
)

// land is the landing routine (operations §2.2), run for the console and for the airlock:
// the git half (prepare, bind, validate, CAS canon, tag), then the land_merge row — published
// and awaited, so the anchor that follows includes it — then git.land, then the anchor
// (U-50/O-land-8), written here from the audit head rather than by a command round trip.
// A redelivered land finds canon already at its merge and resumes from the row (O-land-10).
func (s *Service) land(ctx context.Context, env bus.Envelope) (any, error) {
	var c schema.Land
	if err := json.Unmarshal(env.Data, &c); err != nil {
		return nil, fault.Wrap("land", fault.ArgumentError, err, "undecodable land command")
	}
	if c.ApprovedBy == "" && len(s.cfg.Approvers) > 0 {
		c.ApprovedBy = s.cfg.Approvers[0]
	}
	done, rows, err := s.app.ResumeOrLand(ctx, c)
	if err != nil {
		return nil, err
	}
	for i := range rows {
		rows[i].ID = fmt.Sprintf("land/%s/%d", done.OID, i)
	}
	landEv := event{id: schema.EvtGitLand + "/" + done.OID, typ: schema.EvtGitLand, opID: "land-" + done.OID[:12],
		data: schema.GitLanded{Ref: s.cfg.CanonRef, OID: done.OID, Parent: done.Parent, ProposalRef: done.ProposalRef, Seq: done.Seq,
			ApprovedBy: c.ApprovedBy, Evidence: c.Evidence}}
	tagEv := event{id: schema.EvtGitTag + "/" + done.Seq, typ: schema.EvtGitTag, data: schema.GitTagged{Name: "refs/tags/state/" + done.Seq, OID: done.OID}}
	landSeq, err := s.publishAll(ctx, []event{landEv, tagEv}, rows)
	if err != nil {
		return nil, fault.Wrap("land", fault.BackendUnavailable, err, "land of %s moved canon but its events did NOT complete", done.OID)
	}
	ids := make([]string, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	var aw schema.AwaitAnswer
	if err := s.client.Query(ctx, bus.Audit, schema.QAuditAwait, schema.AwaitQuery{IDs: ids, TimeoutMS: 10000}, &aw); err != nil {
		return nil, fault.Wrap("land", fault.BackendUnavailable, err, "canon landed at %s; its land_merge row is queued; anchor did NOT complete (run stasima admin anchor)", done.OID)
	}
	// O-land-7: the index applies git.land before the land reports (best effort: the land
	// stands either way; git is truth).
	if err := s.client.Query(ctx, bus.Index, schema.QIndexAwait, schema.IndexAwaitQuery{StreamSeq: landSeq, TimeoutMS: 60000}, nil); err != nil {
		s.log.Warn("land reported before the index applied it", "oid", done.OID, "err", err)
	}
	var head schema.AuditHead
	if err := s.client.Query(ctx, bus.Audit, schema.QAuditHead, nil, &head); err != nil {
		return nil, err
	}
	anc, err := s.app.Anchor(ctx, schema.Anchor{Actor: schema.Actor{Seat: "system"}, Seq: head.Seq, Head: head.Head})
	if err != nil {
		return nil, err
	}
	if _, err := s.publishAll(ctx, []event{anchorEvent(anc, head.Head)}, nil); err != nil {
		s.log.Warn("anchor event publish failed", "err", err)
	}
	n, _ := hexseq.Parse(done.Seq)
	return schema.LandResult{Landed: done.OID, Seq: done.Seq, Display: hexseq.Display(n), Anchor: head}, nil
}

// anchorEvent is the git.anchor event of an anchor commit; its op id names the audit head the
// anchor was asked for, so a redelivered anchor command publishes the same event.
func anchorEvent(res schema.AnchorResult, head string) event {
	return event{id: schema.EvtGitAnchor + "/" + res.OID, typ: schema.EvtGitAnchor, opID: "anchor-" + head[:min(12, len(head))],
		data: schema.GitAnchored{OID: res.OID, Seq: res.Seq, Head: res.Head}}
}
