package bus_test

import (
	"slices"
	"testing"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/schema"
)

// TestIntentProducer: the producer and op of <prefix>.audit.intent.<producer>.<op>; any other
// shape, the old one without a producer included, names none.
func TestIntentProducer(t *testing.T) {
	subj := bus.MustSubjects("stasima")
	for _, tt := range []struct {
		subject, producer, op string
		ok                    bool
	}{
		{subj.Intent(bus.UserGateway, "canon_pull"), "gateway", "canon_pull", true},
		{subj.Intent(bus.UserCapstore, "land_merge"), "capstore", "land_merge", true},
		{"stasima.audit.intent.land_merge", "", "", false},
		{"stasima.audit.intent.", "", "", false},
		{"stasima.audit.cmd.gateway.x", "", "", false},
		{"stasima.audit.intent.gateway.", "", "", false},
	} {
		p, op, ok := bus.IntentProducer(tt.subject)
		if p != tt.producer || op != tt.op || ok != tt.ok {
			t.Errorf("IntentProducer(%q) = %q %q %v, want %q %q %v", tt.subject, p, op, ok, tt.producer, tt.op, tt.ok)
		}
	}
}

// TestIntentAllowed: a listed op only from its owners, an unlisted op from any producer, and
// nothing from a component that produces no intents.
func TestIntentAllowed(t *testing.T) {
	for _, tt := range []struct {
		producer, op string
		want         bool
	}{
		{bus.UserCapstore, "land_merge", true},
		{bus.UserGateway, "land_merge", false},
		{bus.UserAirlock, "airlock_stage", true},
		{bus.UserGateway, "airlock_stage", false},
		{bus.UserCapstore, "totp_accept", false},
		{bus.UserGateway, "kip_commit", true},
		{bus.UserAdmin, "read_receipt", true},
		{bus.UserIndexer, "kip_commit", false},
		{"intruder", "kip_commit", false},
	} {
		if got := bus.IntentAllowed(tt.producer, tt.op); got != tt.want {
			t.Errorf("IntentAllowed(%s, %s) = %v, want %v", tt.producer, tt.op, got, tt.want)
		}
	}
}

// TestPermissions_LeastPrivilege: only admin is unrestricted; no service user may publish or
// subscribe everything, read another's inbox, ask totp_check or the audit snapshot, or purge a
// stream; every user subscribes its own inbox prefix.
func TestPermissions_LeastPrivilege(t *testing.T) {
	subj := bus.MustSubjects("stasima")
	for _, u := range bus.Users {
		p := subj.Permissions(u)
		if p.Unrestricted != (u == bus.UserAdmin) {
			t.Errorf("%s unrestricted = %v", u, p.Unrestricted)
		}
		if u == bus.UserAdmin {
			continue
		}
		if !slices.Contains(p.SubscribeAllow, subj.InboxPrefix(u)+".>") {
			t.Errorf("%s may not subscribe its own inbox: %v", u, p.SubscribeAllow)
		}
		for _, s := range append(slices.Clone(p.PublishAllow), p.SubscribeAllow...) {
			switch s {
			case ">", "_INBOX.>", "stasima.>", "$JS.API.>", "$JS.>", subj.Query(bus.Airlock, "totp_check"), subj.Query(bus.Audit, "snapshot"):
				t.Errorf("%s may use %s", u, s)
			}
		}
		// read_blobs, the bulk read of a reindex and of canon_diff, is the indexer's and the
		// gateway's alone (issue 15).
		rb := subj.Query(bus.Capstore, schema.QReadBlobs)
		if got := slices.Contains(p.PublishAllow, rb) ||
			(slices.Contains(p.PublishAllow, subj.Query(bus.Capstore, "*")) && !slices.Contains(p.PublishDeny, rb)); got != (u == bus.UserIndexer || u == bus.UserGateway) {
			t.Errorf("%s may ask read_blobs = %v", u, got)
		}
		for _, s := range p.SubscribeAllow {
			if s != subj.InboxPrefix(u)+".>" && len(s) > 7 && s[:7] == "_INBOX." {
				t.Errorf("%s may subscribe another inbox %s", u, s)
			}
		}
	}
}
