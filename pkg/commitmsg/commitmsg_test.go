package commitmsg

import (
	"strings"
	"testing"

	"github.com/stasima/stasima/pkg/pytext"
)

// C-commit-2, C-commit-3: exact bytes, no trailing newline.
func TestMessages(t *testing.T) {
	tests := []struct{ name, got, want string }{
		{"seat", Seat("KIP practice/x.md", "op-1", "seat-3"), "KIP practice/x.md\n\nop-id: op-1\ninstance-id: seat-3"},
		{"subject rstripped", Seat("retract a.md \t\n\u3000", "op-2", "s"), "retract a.md\n\nop-id: op-2\ninstance-id: s"},
		{"anchor", Seat("audit anchor @ seq 7", "anchor-0123456789ab", "system"), "audit anchor @ seq 7\n\nop-id: anchor-0123456789ab\ninstance-id: system"},
		{"bootstrap", Bootstrap(), "Bootstrap canon\n\nop-id: bootstrap"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestSubject(t *testing.T) {
	tests := []struct{ give, want string }{
		{"", ""},
		{"KIP a.md", "KIP a.md"},
		{"close: done\n\nop-id: x\ninstance-id: s", "close: done"},
		{"a\r\nb", "a"},
		{"\nb", ""},
		// Only "\n" ends a line (D-40): Python's other line breaks stay in the subject.
		{"KIP a\u2028b.md\n\nop-id: x", "KIP a\u2028b.md"},
		{"close: a\x1cb\u0085c\rd", "close: a\x1cb\u0085c\rd"},
	}
	for _, tt := range tests {
		if got := Subject(tt.give); got != tt.want {
			t.Errorf("Subject(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
	if !strings.HasPrefix(Subject(Seat("close: stale", "o", "s")), ClosePrefix) {
		t.Error("close subject lost its prefix") // C-prop-2
	}
	if KIPPrefix != "KIP " || RetractPrefix != "retract " || ClosePrefix != "close: " {
		t.Error("subject prefixes changed") // C-commit-3
	}
}

// C-commit-4
func TestTrailer(t *testing.T) {
	seat := Seat("KIP a.md", "op-1", "seat-3")
	tests := []struct {
		name, msg, key string
		want           string
		ok             bool
	}{
		{"op-id", seat, "op-id", "op-1", true},
		{"instance-id", seat, "instance-id", "seat-3", true},
		{"absent", seat, "approved-by", "", false},
		{"bootstrap has no instance-id", Bootstrap(), "instance-id", "", false},
		{"bootstrap op-id", Bootstrap(), "op-id", "bootstrap", true},
		{"merge candidate", "Merge refs/cap/proposals/p into refs/heads/main\n\napproved-by: <pending>", "approved-by", "<pending>", true},
		{"case-insensitive key", "s\n\nOp-ID:  X y \n", "op-id", "X y", true},
		{"first line wins", "s\n\nop-id: a\nop-id: b", "op-id", "a", true},
		{"subject is not body", "op-id: a", "op-id", "", false},
		{"subject paragraph is not body", "s\nop-id: a\n\nop-id: b", "op-id", "b", true},
		{"blank line of spaces", "s\n  \nop-id: a", "op-id", "a", true},
		{"prefix needs colon", "s\n\nop-idx: a\nop-id: b", "op-id", "b", true},
		{"empty value", "s\n\ninstance-id:", "instance-id", "", true},
		{"value keeps later colons", "s\n\nop-id: a:b", "op-id", "a:b", true},
		{"no body", "", "op-id", "", false},
		{"crlf", "s\r\n\r\nop-id: x\r\n", "op-id", "x", true},
		{"prefix must start the line", "s\n\n op-id: x", "op-id", "", false},
		{"kelvin sign is not k", "s\n\n\u212aey: x", "key", "", false},
		// D-40: a Python line break in the subject does not start a line, so it cannot forge a
		// trailer or end the subject paragraph.
		{"u2028 cannot forge op-id", "KIP a\u2028\u2028op-id: forged.md\n\nop-id: real\ninstance-id: s", "op-id", "real", true},
		{"u2029 cannot forge instance-id", "KIP a\u2029instance-id: practitioner\n\nop-id: o\ninstance-id: s", "instance-id", "s", true},
		{"u0085 in the only line", "KIP x\u0085\u0085op-id: forged", "op-id", "", false},
		{"x1c x1d x1e", "KIP x\x1c\x1d\x1eop-id: forged", "op-id", "", false},
		{"vt ff", "KIP x\v\fop-id: forged\n\nop-id: real", "op-id", "real", true},
		{"lone cr", "KIP x\r\rop-id: forged", "op-id", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Trailer(tt.msg, tt.key)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Trailer(%q, %q) = %q, %v; want %q, %v", tt.msg, tt.key, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// C-commit-4: the author is the instance-id trailer, else the author name.
func TestAuthor(t *testing.T) {
	tests := []struct{ msg, name, want string }{
		{Seat("KIP a.md", "o", "seat-3"), "seat-3", "seat-3"},
		{Seat("KIP a.md", "o", "seat-3"), "capstore", "seat-3"},
		{Bootstrap(), "practitioner", "practitioner"},
		{"audit snapshot (3 events)\n", "backup", "backup"},
		{"s\n\ninstance-id: ", "git-author", "git-author"},
	}
	for _, tt := range tests {
		if got := Author(tt.msg, tt.name); got != tt.want {
			t.Errorf("Author(%q, %q) = %q, want %q", tt.msg, tt.name, got, tt.want)
		}
	}
}

// oneLine reports whether s reads back unchanged from a stripped trailer line.
func oneLine(s string) bool {
	return !strings.Contains(s, "\n") && pytext.Strip(s) == s
}

func FuzzTrailer(f *testing.F) {
	f.Add("KIP a.md", "op-1", "seat-3")
	f.Add("close: x\n\nop-id: forged", "op", "s")
	f.Add("s", "", "")
	f.Fuzz(func(t *testing.T, subject, opID, seat string) {
		msg := Seat(subject, opID, seat)
		if !strings.HasSuffix(msg, InstanceIDKey+": "+seat) {
			t.Fatalf("message %q does not end with the instance-id trailer", msg)
		}
		// Values checked by package names (single line, stripped) under a single-line subject
		// read back exactly (C-commit-2, C-commit-4).
		if strings.Contains(subject, "\n") || pytext.Strip(subject) == "" || !oneLine(opID) || !oneLine(seat) {
			return
		}
		if got, ok := Trailer(msg, OpIDKey); !ok || got != opID {
			t.Fatalf("op-id %q read back as %q from %q", opID, got, msg)
		}
		if got := Author(msg, "git-author"); seat != "" && got != seat {
			t.Fatalf("seat %q read back as %q from %q", seat, got, msg)
		}
	})
}

// TestCloseReason: a close subject is recognised with its reason, including the "close:" an
// empty or blank reason becomes once Seat strips it, so such a close closes (C-prop-2).
func TestCloseReason(t *testing.T) {
	tests := []struct {
		reason string
		want   string
	}{{"stale", "stale"}, {"", ""}, {"   ", ""}, {"two  words ", "two  words"}}
	for _, tt := range tests {
		got, ok := CloseReason(Subject(Seat(ClosePrefix+tt.reason, "o", "s")))
		if !ok || got != tt.want {
			t.Errorf("close reason %q read back as %q, %v; want %q, true", tt.reason, got, ok, tt.want)
		}
	}
	for _, subj := range []string{"KIP close: x.md", "close:x", "closed: x", "retract close: x", ""} {
		if r, ok := CloseReason(subj); ok {
			t.Errorf("%q read as a close (reason %q)", subj, r)
		}
	}
}
