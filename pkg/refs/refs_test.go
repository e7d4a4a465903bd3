package refs

import (
	"reflect"
	"strings"
	"testing"
)

// C-refs-1
func TestBuilders(t *testing.T) {
	tests := []struct{ got, want string }{
		{Perspective("seat-3"), "refs/cap/perspectives/seat-3"},
		{Perspective("team/alice"), "refs/cap/perspectives/team/alice"},
		{Proposal("kip-1"), "refs/cap/proposals/kip-1"},
		{StateTag("3c"), "refs/tags/state/3c"},
		{AuditAnchor, "refs/cap/audit-anchor"},
		{BackupAudit, "refs/backup/audit"},
		{DefaultCanon, "refs/heads/main"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// C-refs-3
func TestResolve(t *testing.T) {
	tests := []struct{ canon, give, want string }{
		{DefaultCanon, "canon", "refs/heads/main"},
		{DefaultCanon, "main", "refs/heads/main"},
		{"refs/heads/trunk", "main", "refs/heads/trunk"},
		{"refs/heads/trunk", "canon", "refs/heads/trunk"},
		{DefaultCanon, "refs/cap/proposals/p", "refs/cap/proposals/p"},
		{DefaultCanon, "refs/heads/main", "refs/heads/main"},
		{DefaultCanon, "seat-3", "refs/cap/perspectives/seat-3"},
		{DefaultCanon, "Canon", "refs/cap/perspectives/Canon"},
		{DefaultCanon, "heads/main", "refs/cap/perspectives/heads/main"},
		{DefaultCanon, "", "refs/cap/perspectives/"},
	}
	for _, tt := range tests {
		if got := Resolve(tt.canon, tt.give); got != tt.want {
			t.Errorf("Resolve(%q, %q) = %q, want %q", tt.canon, tt.give, got, tt.want)
		}
	}
}

// C-refs-1
func TestSeatOf_ProposalOf(t *testing.T) {
	tests := []struct {
		give       string
		seat, prop string
	}{
		{"refs/cap/perspectives/seat-3", "seat-3", ""},
		{"refs/cap/perspectives/a/b", "a/b", ""},
		{"refs/cap/proposals/kip-1", "", "kip-1"},
		{"refs/cap/perspectives/", "", ""},
		{"refs/heads/main", "", ""},
		{"refs/cap/audit-anchor", "", ""},
	}
	for _, tt := range tests {
		seat, ok := SeatOf(tt.give)
		if seat != tt.seat || ok != (tt.seat != "") {
			t.Errorf("SeatOf(%q) = %q, %v", tt.give, seat, ok)
		}
		prop, ok := ProposalOf(tt.give)
		if prop != tt.prop || ok != (tt.prop != "") {
			t.Errorf("ProposalOf(%q) = %q, %v", tt.give, prop, ok)
		}
	}
}

// C-refs-2
func TestSyncRefSpecs(t *testing.T) {
	want := []string{"refs/heads/*:refs/heads/*", "refs/cap/*:refs/cap/*", "refs/tags/state/*:refs/tags/state/*"}
	got := SyncRefSpecs()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("SyncRefSpecs = %q, want %q", got, want)
	}
	got[0] = "mutated"
	if SyncRefSpecs()[0] != want[0] {
		t.Fatal("SyncRefSpecs shares its slice")
	}
	for _, s := range got {
		if strings.Contains(s, "backup") {
			t.Errorf("refspec %q carries refs/backup/audit", s)
		}
	}
}

func FuzzRefs(f *testing.F) {
	for _, s := range []string{"seat-3", "canon", "main", "refs/x", "a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got, ok := SeatOf(Perspective(name)); ok != (name != "") || (ok && got != name) {
			t.Fatalf("SeatOf(Perspective(%q)) = %q, %v", name, got, ok)
		}
		if got, ok := ProposalOf(Proposal(name)); ok != (name != "") || (ok && got != name) {
			t.Fatalf("ProposalOf(Proposal(%q)) = %q, %v", name, got, ok)
		}
		r := Resolve(DefaultCanon, name)
		if !strings.HasPrefix(r, "refs/") {
			t.Fatalf("Resolve(%q) = %q is not a full ref", name, r)
		}
		if seat, ok := SeatOf(r); ok && seat != name && !strings.HasPrefix(name, "refs/") {
			t.Fatalf("Resolve(%q) = %q names seat %q", name, r, seat)
		}
	})
}
