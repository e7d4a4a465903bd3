package pytext

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// CONV-1: the whitespace set is Unicode White_Space plus U+001C–U+001F.
func TestIsSpace(t *testing.T) {
	tests := []struct {
		give rune
		want bool
	}{
		{' ', true}, {'\t', true}, {'\n', true}, {'\v', true}, {'\f', true}, {'\r', true},
		{0x1c, true}, {0x1d, true}, {0x1e, true}, {0x1f, true},
		{0x85, true}, {0xa0, true}, {0x1680, true}, {0x2000, true}, {0x200a, true},
		{0x2028, true}, {0x2029, true}, {0x202f, true}, {0x205f, true}, {0x3000, true},
		{0x1b, false}, {0x200b, false}, {0x180e, false}, {0xfeff, false}, {'a', false}, {0, false},
		{utf8.RuneError, false},
	}
	for _, tt := range tests {
		if got := IsSpace(tt.give); got != tt.want {
			t.Errorf("IsSpace(%U) = %v, want %v", tt.give, got, tt.want)
		}
	}
}

// CONV-1: strip/lstrip/rstrip without arguments remove Python whitespace.
func TestStrip(t *testing.T) {
	tests := []struct {
		give, strip, lstrip, rstrip string
	}{
		{"", "", "", ""},
		{"  a b  ", "a b", "a b  ", "  a b"},
		{"\x1c\x1fa\u3000\u2029", "a", "a\u3000\u2029", "\x1c\x1fa"},
		{"\u200ba\u200b", "\u200ba\u200b", "\u200ba\u200b", "\u200ba\u200b"},
		{" \xff ", "\xff", "\xff ", " \xff"},
		{"\n\r\t", "", "", ""},
	}
	for _, tt := range tests {
		if got := Strip(tt.give); got != tt.strip {
			t.Errorf("Strip(%q) = %q, want %q", tt.give, got, tt.strip)
		}
		if got := LStrip(tt.give); got != tt.lstrip {
			t.Errorf("LStrip(%q) = %q, want %q", tt.give, got, tt.lstrip)
		}
		if got := RStrip(tt.give); got != tt.rstrip {
			t.Errorf("RStrip(%q) = %q, want %q", tt.give, got, tt.rstrip)
		}
	}
}

// CONV-1: Python line breaks; expectations are CPython's str.splitlines().
func TestSplitLines(t *testing.T) {
	tests := []struct {
		give string
		want []string
	}{
		{"", nil},
		{"a", []string{"a"}},
		{"a\n", []string{"a"}},
		{"\n", []string{""}},
		{"\n\n", []string{"", ""}},
		{"a\n\nb", []string{"a", "", "b"}},
		{"a\r\nb", []string{"a", "b"}},
		{"a\n\rb", []string{"a", "", "b"}},
		{"a\r\r\nb", []string{"a", "", "b"}},
		{"a\rb\vc\fd\x1ce\x1df\x1eg\u0085h\u2028i\u2029j", []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}},
		{"a\x1fb\tc", []string{"a\x1fb\tc"}}, // U+001F and tab are whitespace, not breaks
		{"a\r", []string{"a"}},
		{"\xff\n\x85", []string{"\xff", "\x85"}}, // a lone 0x85 byte is invalid UTF-8, not NEL
	}
	for _, tt := range tests {
		if got := SplitLines(tt.give); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SplitLines(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}

// C-entry-4: flatten joins the lines with one space.
func TestFlatten(t *testing.T) {
	tests := []struct {
		give, want string
	}{
		{"", ""},
		{"abc", "abc"},
		{"a\n\nb", "a  b"},
		{"a\n", "a"},
		{"\n", ""},
		{"x\nstatus: superseded", "x status: superseded"},
		{"a\r\nb\u2028c", "a b c"},
		{" a \n", " a "},
	}
	for _, tt := range tests {
		if got := Flatten(tt.give); got != tt.want {
			t.Errorf("Flatten(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}

func TestIsControl(t *testing.T) {
	tests := []struct {
		give rune
		want bool
	}{
		{0, true}, {'\n', true}, {0x1f, true}, {0x7f, true}, {0x80, true}, {0x85, true}, {0x9f, true},
		{' ', false}, {'~', false}, {0xa0, false}, {0x2028, false}, {'é', false},
	}
	for _, tt := range tests {
		if got := IsControl(tt.give); got != tt.want {
			t.Errorf("IsControl(%U) = %v, want %v", tt.give, got, tt.want)
		}
	}
}

// Expectations are CPython's str.title() (orientation.md OR slot names use it).
func TestTitleCase(t *testing.T) {
	tests := []struct {
		give, want string
	}{
		{"", ""},
		{"welcome", "Welcome"},
		{"hello world", "Hello World"},
		{"HELLO wORLD", "Hello World"},
		{"they're bill's", "They'Re Bill'S"},
		{"a1b c_d", "A1B C_D"},
		{"ǆemal", "ǅemal"},
		{"élan vital", "Élan Vital"},
		{"\xffabc", "\xffAbc"},
	}
	for _, tt := range tests {
		if got := TitleCase(tt.give); got != tt.want {
			t.Errorf("TitleCase(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}

func FuzzSplitLines(f *testing.F) {
	for _, s := range []string{"", "a\nb", "a\r\n\r\nb\n", "\u2028\u2029\x85", "\r"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lines := SplitLines(s)
		for _, l := range lines {
			for _, r := range l {
				if IsLineBreak(r) {
					t.Fatalf("SplitLines(%q) piece %q holds break %U", s, l, r)
				}
			}
		}
		flat := Flatten(s)
		if len(SplitLines(flat)) > 1 {
			t.Fatalf("Flatten(%q) = %q still has a line break", s, flat)
		}
		if Flatten(flat) != flat {
			t.Fatalf("Flatten is not idempotent on %q", s)
		}
		// The pieces and breaks tile s: total length never grows beyond it.
		if n := len(strings.Join(lines, "")); n > len(s) {
			t.Fatalf("pieces of %q are longer than the input", s)
		}
		if st := Strip(s); st != RStrip(LStrip(s)) {
			t.Fatalf("Strip(%q) = %q, want RStrip(LStrip())", s, st)
		}
		if tc := TitleCase(s); utf8.ValidString(s) != utf8.ValidString(tc) {
			t.Fatalf("TitleCase(%q) changed UTF-8 validity", s)
		}
	})
}
