package app

import (
	"fmt"
	"testing"
)

// TestFrontier is S-43: superseded messages and read ones do not count; from is sorted and
// distinct; read state keys on the path only (S-44).
func TestFrontier(t *testing.T) {
	msgs := []message{
		{Path: "messages/a.md", From: "Verso", SupersededBy: "messages/b.md"},
		{Path: "messages/b.md", From: "Verso"},
		{Path: "messages/c.md", From: "Recto"},
		{Path: "messages/d.md", From: "Verso"},
		{Path: "messages/e.md", From: "Tertia"},
	}
	tests := []struct {
		name string
		read map[string]bool
		want string
	}{
		{"nothing read", nil, "{4 [Recto Tertia Verso]}"},
		{"read drops", map[string]bool{"messages/e.md": true, "messages/b.md": true}, "{2 [Recto Verso]}"},
		{"reading the dead changes nothing", map[string]bool{"messages/a.md": true}, "{4 [Recto Tertia Verso]}"},
		{"all read", map[string]bool{"messages/b.md": true, "messages/c.md": true, "messages/d.md": true, "messages/e.md": true}, "{0 []}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fmt.Sprint(frontier(msgs, tt.read)); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	if f := frontier(nil, nil); f.From == nil || f.Unread != 0 {
		t.Fatalf("empty inbox: from must be [] not null: %#v", f)
	}
}
