// Package pytext owns the Python text semantics that Stasima 0.1.5 baked into its file formats
// (spec README.md CONV-1): what counts as whitespace for strip, which characters break lines for
// splitlines and flatten, and Python's title casing. Entry files written by 0.1.5 must round-trip,
// so these functions follow CPython's str methods exactly, rune by rune; they never touch bytes
// of invalid UTF-8 other than passing them through (an invalid byte is neither space nor a break).
package pytext

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// IsSpace reports whether r is Python whitespace (CONV-1): the Unicode White_Space property plus
// the information separators U+001C–U+001F, exactly the set for which Python's str.isspace holds.
func IsSpace(r rune) bool {
	return unicode.Is(unicode.White_Space, r) || (r >= 0x1c && r <= 0x1f)
}

// Strip removes leading and trailing Python whitespace, like Python's str.strip().
func Strip(s string) string { return strings.TrimFunc(s, IsSpace) }

// LStrip removes leading Python whitespace, like Python's str.lstrip().
func LStrip(s string) string { return strings.TrimLeftFunc(s, IsSpace) }

// RStrip removes trailing Python whitespace, like Python's str.rstrip().
func RStrip(s string) string { return strings.TrimRightFunc(s, IsSpace) }

// IsLineBreak reports whether r is one of Python's line boundaries (CONV-1), a character
// str.splitlines breaks at. "\r\n" is handled by SplitLines as a single break.
func IsLineBreak(r rune) bool {
	switch r {
	case '\n', '\r', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x85, 0x2028, 0x2029:
		return true
	}
	return false
}

// SplitLines splits s at Python line breaks (\n, \r, \r\n, \v, \f, U+001C, U+001D, U+001E,
// U+0085, U+2028, U+2029) and drops the breaks, like Python's str.splitlines() without keepends:
// a final break does not produce a trailing empty piece, and "" yields no pieces.
func SplitLines(s string) []string {
	var lines []string
	start := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !IsLineBreak(r) {
			i += size
			continue
		}
		lines = append(lines, s[start:i])
		i += size
		if r == '\r' && i < len(s) && s[i] == '\n' {
			i++
		}
		start = i
	}
	if start < len(s) {
		lines = append(lines, s[start:])
	}
	return lines
}

// Flatten joins the lines of s with single spaces, Python's " ".join(s.splitlines())
// (content-model.md C-entry-4): "a\n\nb" becomes "a  b" and a trailing break disappears. The
// result contains no Python line break, which is what keeps a value on its front-matter line.
func Flatten(s string) string { return strings.Join(SplitLines(s), " ") }

// IsControl reports whether r is a control character: C0 (U+0000–U+001F), DEL (U+007F) or C1
// (U+0080–U+009F).
func IsControl(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r <= 0x9f)
}

// TitleCase returns s title-cased like Python's str.title(): a rune that follows a cased rune is
// lowercased, any other rune is title-cased, and a rune is cased when it is upper-, lower- or
// titlecase (Unicode Cased). Go's unicode package only has simple (one-rune) case mappings, so
// the result differs from CPython where Python applies a multi-rune SpecialCasing mapping
// ("ß" → "Ss", ligatures such as "ﬁ", "İ" lowercased) or the final-sigma rule; the names this is
// used for (orientation slot names) are ASCII.
func TitleCase(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	prevCased := false
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			// Invalid UTF-8 passes through untouched; it is not cased.
			b.WriteByte(s[i])
			i++
			prevCased = false
			continue
		}
		i += size
		if prevCased {
			b.WriteRune(unicode.ToLower(r))
		} else {
			b.WriteRune(unicode.ToTitle(r))
		}
		prevCased = isCased(r)
	}
	return b.String()
}

// isCased is Unicode's Cased property (Lowercase, Uppercase or Lt), which CPython consults.
func isCased(r rune) bool {
	return unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r) ||
		unicode.Is(unicode.Other_Lowercase, r) || unicode.Is(unicode.Other_Uppercase, r)
}
