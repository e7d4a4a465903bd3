package cockpit

import (
	"context"
	"net/http"
	"sort"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
)

// seatRow is one seat on the seats page.
type seatRow struct {
	Seat string
	// Tip is the perspective's tip commit, nil for a seat with no perspective (the
	// practitioner, or a port bound to a seat that has not written yet).
	Tip   *schema.RefTip
	Age   string
	Ports []string // ports bound to the seat now (U-17)
	// Unread is the seat's frontier (S-43): messages neither superseded nor read; From names
	// their senders.
	Unread int
	From   []string
}

// seats lists the perspectives (C-refs-1) with their last write, the ports bound to each seat
// (U-17) and each seat's unread count (S-43, as imp_flags' roster form counts it), and the
// practitioner's. Four queries, whatever the roster size.
func (s *Server) seats(w http.ResponseWriter, r *http.Request) {
	rows, err := s.seatRows(r.Context())
	if err != nil {
		s.fail(w, r, "Seats", err)
		return
	}
	s.render(w, r, http.StatusOK, "seats.html", page{Title: "Seats", Nav: "seats", Data: rows})
}

func (s *Server) seatRows(ctx context.Context) ([]seatRow, error) {
	var tips schema.RefTips
	if err := s.bus.Query(ctx, bus.Capstore, schema.QRefTips, schema.ListRefsQuery{Prefix: refs.PerspectivePrefix}, &tips); err != nil {
		return nil, err
	}
	var ports map[string]schema.PortBinding
	if err := s.bus.Query(ctx, bus.Audit, schema.QAuditPortBindings, nil, &ports); err != nil {
		return nil, err
	}
	bySeat := map[string]*seatRow{}
	add := func(seat string) *seatRow {
		if bySeat[seat] == nil {
			bySeat[seat] = &seatRow{Seat: seat, Ports: []string{}, From: []string{}}
		}
		return bySeat[seat]
	}
	now := s.now().Unix()
	for _, t := range tips.Tips {
		seat, ok := refs.SeatOf(t.Name)
		if !ok {
			continue
		}
		row := add(seat)
		row.Tip, row.Age = &t, ago(now, t.Time)
	}
	for port, pb := range ports {
		if pb.Instance != nil && *pb.Instance != "" {
			row := add(*pb.Instance)
			row.Ports = append(row.Ports, port)
		}
	}
	add(practitioner)
	names := make([]string, 0, len(bySeat))
	for seat, row := range bySeat {
		names = append(names, seat)
		sort.Strings(row.Ports)
	}
	sort.Strings(names)
	receipts, err := busclient.AuditEvents(ctx, s.bus, schema.AuditFilter{Op: schema.S("read_receipt")}, 0)
	if err != nil {
		return nil, err
	}
	q := schema.FlagsQuery{Seats: names, Read: map[string][]string{}}
	for _, rr := range receipts {
		if rr.Actor != nil && rr.TargetPath != nil {
			q.Read[*rr.Actor] = append(q.Read[*rr.Actor], *rr.TargetPath)
		}
	}
	var flags schema.FlagsAnswer
	if err := s.bus.Query(ctx, bus.Index, schema.QIndexFlags, q, &flags); err != nil {
		return nil, err
	}
	out := make([]seatRow, 0, len(names))
	for _, seat := range names {
		row := bySeat[seat]
		row.Unread, row.From = flags.Flags[seat].Unread, flags.Flags[seat].From
		if row.From == nil {
			row.From = []string{}
		}
		out = append(out, *row)
	}
	return out, nil
}
