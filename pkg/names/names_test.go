package names

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/pytext"
)

// refused asserts err is a Denied fault from op whose message holds every want fragment.
func refused(t *testing.T, err error, op string, want ...string) {
	t.Helper()
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Class != fault.Denied || fe.Op != op {
		t.Fatalf("err = %#v, want Denied from %q", err, op)
	}
	for _, w := range want {
		if !strings.Contains(fe.Msg, w) {
			t.Errorf("message %q lacks %q", fe.Msg, w)
		}
	}
}

// C-names-2: git check-ref-format rules, D-10/D-33 refusal as Denied.
func TestValidateSeat(t *testing.T) {
	accepted := []string{"seat-3", "Seat_3", "a/b", "team/alice.v2", "ünïcode", "a.b", "@x", "x@y", "a-lock", "canon", "main", "a{b}", "日本"}
	for _, name := range accepted {
		if err := ValidateSeat(name); err != nil {
			t.Errorf("ValidateSeat(%q) = %v, want nil", name, err)
		}
	}
	tests := []struct {
		give string
		want string // fragment of the message
	}{
		{"", "seat name is empty"},
		{strings.Repeat("a", MaxSeatLen+1), "longer than 200 bytes"},
		{"a..b", `seat name "a..b" contains ".."`},
		{"a b", "whitespace U+0020"},
		{"a\tb", "control character U+0009"},
		{"a\x00", "control character U+0000"},
		{"a\x7f", "control character U+007F"},
		{"a\u0085b", "control character U+0085"},
		{"a\u2028b", "line break U+2028"},
		{"bob\u00a0", "whitespace U+00A0"},
		{"a~b", `contains "~"`},
		{"a^b", `contains "^"`},
		{"a:b", `contains ":"`},
		{"a?b", `contains "?"`},
		{"a*b", `contains "*"`},
		{"a[b", `contains "["`},
		{`a\b`, `contains "\\"`},
		{"a@{1}", `contains "@{"`},
		{"a//b", `contains "//"`},
		{"/a", `starts with "/"`},
		{"a/", `ends with "/"`},
		{"a.", `ends with "."`},
		{".a", `component ".a" starting with "."`},
		{"a/.b", `component ".b" starting with "."`},
		{"a.lock", `component "a.lock" ending with ".lock"`},
		{"a.lock/b", `component "a.lock" ending with ".lock"`},
		{"@", `is "@"`},
		{"\xff", "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			refused(t, ValidateSeat(tt.give), "names.seat", tt.want)
		})
	}
	if err := ValidateSeat(strings.Repeat("a", MaxSeatLen)); err != nil {
		t.Errorf("a name of MaxSeatLen bytes refused: %v", err)
	}
}

// C-names-2: proposal ids follow the same rules under their own gate.
func TestValidateProposalID(t *testing.T) {
	if err := ValidateProposalID("kip-12/part.2"); err != nil {
		t.Errorf("ValidateProposalID = %v", err)
	}
	refused(t, ValidateProposalID("a..b"), "names.proposal", `proposal id "a..b" contains ".."`)
	refused(t, ValidateProposalID(""), "names.proposal", "proposal id is empty")
}

// D-36
func TestValidateDomain(t *testing.T) {
	for _, d := range []string{"practice", "meta/log", "a b/c.d", "..x", "x.."} {
		if err := ValidateDomain(d); err != nil {
			t.Errorf("ValidateDomain(%q) = %v, want nil", d, err)
		}
	}
	tests := []struct{ give, want string }{
		{"", "domain is empty"},
		{"meta/", `domain "meta/" has an empty segment`},
		{"/meta", "empty segment"},
		{"a//b", "empty segment"},
		{".", `has a "." segment`},
		{"a/../b", `has a ".." segment`},
		{"a\nb", "control character U+000A"},
		{"a\u009bb", "control character U+009B"},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) { refused(t, ValidateDomain(tt.give), "names.domain", tt.want) })
	}
}

// D-36
func TestValidateSlug(t *testing.T) {
	for _, s := range []string{"x", "a/b", "v1.2", "...", ".hidden"} {
		if err := ValidateSlug(s); err != nil {
			t.Errorf("ValidateSlug(%q) = %v, want nil", s, err)
		}
	}
	tests := []struct{ give, want string }{
		{"", "slug is empty"},
		{".", `slug "." has a "." segment`},
		{"..", `has a ".." segment`},
		{"../../../etc/passwd", `has a ".." segment`},
		{"a/..", `has a ".." segment`},
		{"a\nb", "control character U+000A"},
		{"a\x7f", "control character U+007F"},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) { refused(t, ValidateSlug(tt.give), "names.slug", tt.want) })
	}
}

// C-path-2, D-36
func TestEntryPath(t *testing.T) {
	tests := []struct{ domain, slug, want string }{
		{"practice", "x", "practice/x.md"},
		{"meta/log", "3c", "meta/log/3c.md"},
		{"a", "b/c", "a/b/c.md"},
		{"a", "x.md", "a/x.md.md"}, // simple concatenation, never normalized
	}
	for _, tt := range tests {
		got, err := EntryPath(tt.domain, tt.slug)
		if err != nil || got != tt.want {
			t.Errorf("EntryPath(%q, %q) = %q, %v; want %q", tt.domain, tt.slug, got, err, tt.want)
		}
	}
	refusals := []struct{ domain, slug, op string }{
		{"a", "", "names.slug"},
		{"a", "..", "names.slug"},
		{"a", ".", "names.slug"},
		{"a/", "x", "names.path"},
		{"", "x", "names.path"},
		{"..", "x", "names.path"},
		{".git", "x", "names.path"},
		{"a", "b//c", "names.path"},
		{"a", "/c", "names.path"},
		{"a\x00", "x", "names.path"},
	}
	for _, tt := range refusals {
		p, err := EntryPath(tt.domain, tt.slug)
		if p != "" {
			t.Errorf("EntryPath(%q, %q) returned %q with an error", tt.domain, tt.slug, p)
		}
		refused(t, err, tt.op)
	}
}

// C-path-3
func TestValidatePath(t *testing.T) {
	for _, p := range []string{"a.md", "meta/log/3c.md", "assets/logo.png", "a/.gitignore", "a/git/b", "...", "a b/c"} {
		if err := ValidatePath(p); err != nil {
			t.Errorf("ValidatePath(%q) = %v, want nil", p, err)
		}
	}
	tests := []struct{ give, want string }{
		{"", "path is empty"},
		{"/etc/passwd", `path "/etc/passwd" is absolute`},
		{"a/", `ends with "/"`},
		{"a//b", "empty segment"},
		{"./a", `has a "." segment`},
		{"a/../b", `has a ".." segment`},
		{"..", `has a ".." segment`},
		{".git/config", `has a ".git" segment`},
		{"a/.GIT/b", `has a ".GIT" segment`},
		{"a\x00b", "control character U+0000"},
		{"a\nb", "control character U+000A"},
		{"a\u0085b", "control character U+0085"},
		{"a\xffb", "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) { refused(t, ValidatePath(tt.give), "names.path", tt.want) })
	}
}

// C-path-4
func TestNormalize(t *testing.T) {
	tests := []struct{ give, want string }{
		{"a", "a.md"}, {"a.md", "a.md"}, {"assets/logo.png", "assets/logo.png.md"}, {"A.MD", "A.MD.md"}, {"", ".md"}, {" a ", " a .md"},
	}
	for _, tt := range tests {
		if got := Normalize(tt.give); got != tt.want {
			t.Errorf("Normalize(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}

func TestValidateOpID(t *testing.T) {
	for _, id := range []string{"op-1", "01HXYZ", "a b", "bootstrap", strings.Repeat("x", MaxOpIDLen)} {
		if err := ValidateOpID(id); err != nil {
			t.Errorf("ValidateOpID(%q) = %v, want nil", id, err)
		}
	}
	tests := []struct{ give, want string }{
		{"", "op_id is empty"},
		{strings.Repeat("x", MaxOpIDLen+1), "longer than 256 bytes"},
		{"a\nop-id: b", "control character U+000A"},
		{"a\rb", "control character U+000D"},
		{"a\u2028b", "line break U+2028"},
		{"a\u2029b", "line break U+2029"},
		{" a", "leading or trailing whitespace"},
		{"a\u3000", "leading or trailing whitespace"},
		{"\xfe", "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) { refused(t, ValidateOpID(tt.give), "names.op_id", tt.want) })
	}
}

// C-names-4
func TestFoldEqual(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"Alice", "alice", true}, {"ALICE", "alice", true}, {"Σίσυφος", "ΣΊΣΥΦΟΣ", true},
		{"k", "\u212a", true}, {"alice", "alicf", false}, {"a", "a/", false},
	}
	for _, tt := range tests {
		if got := FoldEqual(tt.a, tt.b); got != tt.want {
			t.Errorf("FoldEqual(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// safe is the invariant every accepted name or path holds.
func safe(t *testing.T, what, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("%s %q accepted with invalid UTF-8", what, s)
	}
	for _, r := range s {
		if pytext.IsControl(r) {
			t.Fatalf("%s %q accepted with control character %U", what, s, r)
		}
	}
	if strings.HasPrefix(s, "/") {
		t.Fatalf("%s %q accepted as absolute", what, s)
	}
	for _, seg := range strings.Split(s, "/") {
		if seg == ".." || seg == "." || seg == "" {
			t.Fatalf("%s %q accepted with segment %q", what, s, seg)
		}
	}
}

func FuzzValidatePath(f *testing.F) {
	for _, s := range []string{"a.md", "../x", "a/.git/b", "a\x00", "/a", "meta/log/3c.md"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if ValidatePath(p) == nil {
			safe(t, "path", p)
		}
		if p, err := EntryPath(p, p); err == nil {
			safe(t, "entry path", p)
		}
	})
}

func FuzzValidateSeat(f *testing.F) {
	for _, s := range []string{"seat-3", "a..b", "a/b", "@", "x.lock", "a\u2028b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateSeat(name) != nil {
			return
		}
		safe(t, "seat", name)
		if pytext.Strip(name) != name || len(pytext.SplitLines(name)) != 1 || len(name) > MaxSeatLen {
			t.Fatalf("seat %q would not read back from its trailer", name)
		}
		if strings.Contains(name, "..") || strings.ContainsAny(name, " ~^:?*[\\") || strings.HasSuffix(name, ".lock") {
			t.Fatalf("seat %q breaks a check-ref-format rule", name)
		}
	})
}

func FuzzValidateOpID(f *testing.F) {
	f.Add("op-1")
	f.Add("a\nb")
	f.Fuzz(func(t *testing.T, id string) {
		if ValidateOpID(id) == nil && (len(pytext.SplitLines(id)) != 1 || pytext.Strip(id) != id) {
			t.Fatalf("op_id %q would not read back from its trailer", id)
		}
	})
}

// D-40: every name refuses every character Python's splitlines breaks a line at, naming the
// field and the code point. The set comes from pytext.SplitLines over all of Unicode, so a
// break CONV-1 adds is covered without editing this table.
func TestValidate_PythonLineBreaks(t *testing.T) {
	var breaks []rune
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if utf8.ValidRune(r) && len(pytext.SplitLines("a"+string(r)+"b")) > 1 {
			breaks = append(breaks, r)
		}
	}
	if want := []rune{'\n', '\v', '\f', '\r', 0x1c, 0x1d, 0x1e, 0x85, 0x2028, 0x2029}; !slices.Equal(breaks, want) {
		t.Fatalf("Python line breaks = %U, want %U", breaks, want)
	}
	validators := []struct {
		name, op, field string
		check           func(string) error
	}{
		{"seat", "names.seat", "seat name", ValidateSeat},
		{"proposal", "names.proposal", "proposal id", ValidateProposalID},
		{"domain", "names.domain", "domain", ValidateDomain},
		{"slug", "names.slug", "slug", ValidateSlug},
		{"path", "names.path", "path", ValidatePath},
		{"path segment", "names.path", "path", func(s string) error { return ValidatePath("practice/" + s + ".md") }},
		{"entry path slug", "names.slug", "slug", func(s string) error { _, err := EntryPath("practice", s); return err }},
		{"entry path domain", "names.path", "path", func(s string) error { _, err := EntryPath(s, "x"); return err }},
		{"op_id", "names.op_id", "op_id", ValidateOpID},
	}
	for _, v := range validators {
		for _, r := range breaks {
			t.Run(fmt.Sprintf("%s/%U", v.name, r), func(t *testing.T) {
				kind := "line break"
				if pytext.IsControl(r) {
					kind = "control character"
				}
				refused(t, v.check("KIP-a"+string(r)+"op-id:x"), v.op, v.field+" ", fmt.Sprintf("%s %U", kind, r))
			})
		}
	}
}
