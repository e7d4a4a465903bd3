package hexseq

import (
	"math"
	"strings"
	"testing"

	"github.com/stasima/stasima/pkg/fault"
)

// CONV-2, D-1
func TestValid(t *testing.T) {
	tests := []struct {
		give string
		want bool
	}{
		{"3c", true}, {"3C", true}, {"0", true}, {"00ff", true}, {"abcdef0123456789", true},
		{"", false}, {"0x3c", false}, {"-1", false}, {"+1", false}, {"3_c", false}, {" 3c", false},
		{"3c ", false}, {"g", false}, {"3c\n", false}, {"٣", false}, {"\u212a", false},
	}
	for _, tt := range tests {
		if got := Valid(tt.give); got != tt.want {
			t.Errorf("Valid(%q) = %v, want %v", tt.give, got, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		give string
		want uint64
	}{
		{"3c", 0x3c}, {"3C", 0x3c}, {"0", 0}, {"ffffffffffffffff", math.MaxUint64}, {"0000000000000000003b", 0x3b},
	}
	for _, tt := range tests {
		got, err := Parse(tt.give)
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %d, %v; want %d", tt.give, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "0x1", "zz", "10000000000000000"} {
		_, err := Parse(bad)
		if !fault.Is(err, fault.ArgumentError) || !strings.Contains(err.Error(), `"`+bad+`"`) {
			t.Errorf("Parse(%q) err = %v, want ArgumentError naming the value", bad, err)
		}
	}
}

// C-log-2, C-log-4
func TestFormat(t *testing.T) {
	tests := []struct {
		give                uint64
		format, display, nx string
	}{
		{0x3b, "3b", "::3B", "3c"},
		{0x3c, "3c", "::3C", "3d"},
		{0, "0", "::0", "1"},
		{0xff, "ff", "::FF", "100"},
		{0xabcdef, "abcdef", "::ABCDEF", "abcdf0"},
	}
	for _, tt := range tests {
		if got := Format(tt.give); got != tt.format {
			t.Errorf("Format(%#x) = %q, want %q", tt.give, got, tt.format)
		}
		if got := Display(tt.give); got != tt.display {
			t.Errorf("Display(%#x) = %q, want %q", tt.give, got, tt.display)
		}
		if got := Next(tt.give); got != tt.nx {
			t.Errorf("Next(%#x) = %q, want %q", tt.give, got, tt.nx)
		}
	}
}

// C-log-3
func TestCanonSeq(t *testing.T) {
	tests := []struct {
		name string
		give []string
		want uint64
	}{
		{"no tags: origin", nil, DefaultOrigin},
		{"only non-hex: origin", []string{"v1", "release", "0x40"}, DefaultOrigin},
		{"max by value not text", []string{"3c", "3d", "100", "ff"}, 0x100},
		{"uppercase tag", []string{"3C", "3d"}, 0x3d},
		{"below origin still wins", []string{"1"}, 1},
		{"overflow ignored", []string{"3c", "10000000000000000"}, 0x3c},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CanonSeq(tt.give, DefaultOrigin); got != tt.want {
				t.Errorf("CanonSeq(%q) = %#x, want %#x", tt.give, got, tt.want)
			}
		})
	}
	if got := Display(CanonSeq(nil, DefaultOrigin) + 1); got != "::3C" {
		t.Errorf("first land displays %q, want ::3C", got) // C-log-3
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"3c", "0x3c", "FFFFFFFFFFFFFFFF", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			return
		}
		if !Valid(s) {
			t.Fatalf("Parse accepted non-hex %q", s)
		}
		if back, _ := Parse(Format(n)); back != n {
			t.Fatalf("Format(%d) = %q does not parse back", n, Format(n))
		}
		if strings.TrimLeft(strings.ToLower(s), "0") != strings.TrimLeft(Format(n), "0") {
			t.Fatalf("Format(Parse(%q)) = %q", s, Format(n))
		}
	})
}
