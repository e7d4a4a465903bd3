package main

import (
	"context"

	"github.com/oklog/ulid/v2"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/schema"
)

// inboxSeat is the practitioner's seat (O-inbox-1, T-common-20).
const inboxSeat = "practitioner"

// inboxNote tells the practitioner how to read a message and mark it handled (O-inbox-2).
const inboxNote = "Read a message with kip_get(ref=<its ref>, path=<path>); mark it handled with " +
	"`stasima admin inbox --read <path>`. --all lists read messages too."

type inboxItem struct {
	Path        string   `json:"path"`
	From        string   `json:"from"`
	Subject     string   `json:"subject"`
	Coordinates []string `json:"coordinates"`
}

// inboxRead is O-inbox-1: one read_receipt by the practitioner, the path verbatim (U-30).
func inboxRead(ctx context.Context, c *busclient.Client, path string) (any, error) {
	in := schema.AuditIntent{ID: "cli/" + ulid.Make().String(), Actor: inboxSeat, Op: "read_receipt",
		TargetPath: &path, Outcome: "ok", Detail: schema.Detail()}
	if err := c.PublishIntents(ctx, []schema.AuditIntent{in}); err != nil {
		return nil, fault.Wrap("inbox.read", fault.BackendUnavailable, err, "read receipt for %s did NOT complete", path)
	}
	c.Await(ctx, []string{in.ID})
	return map[string]string{"marked_read": path}, nil
}

// inboxList is O-inbox-2 over the flat inbox of the practitioner (S-40).
func inboxList(ctx context.Context, c *busclient.Client, all bool) (any, error) {
	var ans struct {
		Inboxes map[string][]inboxItem `json:"inboxes"`
	}
	if err := c.Query(ctx, bus.Index, schema.QIndexInbox, schema.InboxQuery{Seats: []string{inboxSeat}}, &ans); err != nil {
		return nil, err
	}
	items := ans.Inboxes[inboxSeat]
	if items == nil {
		items = []inboxItem{}
	}
	if all {
		return struct {
			All  []inboxItem `json:"all"`
			Note string      `json:"note"`
		}{items, inboxNote}, nil
	}
	op, actor := "read_receipt", inboxSeat
	rows, err := busclient.AuditEvents(ctx, c, schema.AuditFilter{Op: &op, Actor: &actor}, 0)
	if err != nil {
		return nil, err
	}
	read := map[string]bool{}
	for _, r := range rows {
		if r.TargetPath != nil {
			read[*r.TargetPath] = true
		}
	}
	unread := []inboxItem{}
	for _, m := range items {
		if !read[m.Path] {
			unread = append(unread, m)
		}
	}
	return struct {
		Unread []inboxItem `json:"unread"`
		Note   string      `json:"note"`
	}{unread, inboxNote}, nil
}

// practitionerUnread is status's practitioner_unread (O-status-1, T-common-20): the
// practitioner's flat inbox minus what the practitioner has read.
func practitionerUnread(ctx context.Context, c *busclient.Client) (int, error) {
	res, err := inboxList(ctx, c, false)
	if err != nil {
		return 0, err
	}
	return len(res.(struct {
		Unread []inboxItem `json:"unread"`
		Note   string      `json:"note"`
	}).Unread), nil
}
