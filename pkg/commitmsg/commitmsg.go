// Package commitmsg owns capstore's commit message format (content-model.md C-commit-2…4): the
// seat and bootstrap messages, the subject prefixes tools recognise, and how a subject, a trailer
// and a commit's author are read back. Messages end without a newline after the last trailer.
//
// It is the only reader of commit messages: capstore's tools and gitstore's replay check both
// call it, so no message can read one way to one of them and another way to the other. A line
// ends at "\n" only, as git's own lines do; Python's other line breaks (U+2028, U+0085, …) are
// ordinary characters inside a line, so text in a subject can never become a trailer (D-40).
package commitmsg

import (
	"strings"

	"github.com/stasima/stasima/pkg/pytext"
)

// Subject prefixes of C-commit-3 ("KIP <path>", "retract <path>", "close: <reason>").
const (
	KIPPrefix     = "KIP "
	RetractPrefix = "retract "
	ClosePrefix   = "close: "
)

// Trailer keys of C-commit-2.
const (
	OpIDKey       = "op-id"
	InstanceIDKey = "instance-id"
)

// Seat returns a seat commit's message (C-commit-2): subject without trailing Python whitespace,
// a blank line, "op-id: <opID>", a newline and "instance-id: <seat>", with no final newline.
// Callers pass a single-line subject (tools flatten user text such as a close reason) and an op
// id and seat already checked by package names, so neither can add a trailer line.
func Seat(subject, opID, seat string) string {
	return pytext.RStrip(subject) + "\n\n" + OpIDKey + ": " + opID + "\n" + InstanceIDKey + ": " + seat
}

// Bootstrap returns the bootstrap commit's message (C-commit-3): op-id trailer, no instance-id.
func Bootstrap() string { return "Bootstrap canon\n\n" + OpIDKey + ": bootstrap" }

// CloseReason reports whether subject marks a closed proposal (C-prop-2) and returns its reason:
// the subject starts with "close: ", or is "close:" alone — what an empty or blank reason
// becomes once Seat strips the subject's trailing whitespace, so such a close still closes.
func CloseReason(subject string) (string, bool) {
	if subject == strings.TrimSuffix(ClosePrefix, " ") {
		return "", true
	}
	return strings.CutPrefix(subject, ClosePrefix)
}

// Lines splits message into git's lines: at every "\n", with one "\r" before it dropped so a
// CRLF message reads like an LF one. Unlike Python's splitlines (0.1.5 read messages that way)
// no other character ends a line, so a U+2028 in a subject cannot start a forged "op-id:" or
// "instance-id:" line (D-40); names refuse those characters too, this is the second guard.
func Lines(message string) []string {
	lines := strings.Split(message, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}

// Subject returns the first line of message ("" for an empty message), a line as Lines splits it.
func Subject(message string) string {
	s, _, _ := strings.Cut(message, "\n")
	return strings.TrimSuffix(s, "\r")
}

// Trailer returns the value of trailer key in message and whether it is present (C-commit-4).
// Trailers are read from the body, the lines (see Lines) after the subject paragraph, which ends
// at the first line that is empty after stripping Python whitespace (CONV-1). The first body line
// that starts with "<key>:", the key compared ASCII case-insensitively as git compares trailer
// keys, is the trailer; its value is the rest of the line after that ":", stripped. A message
// without a body has no trailers.
func Trailer(message, key string) (string, bool) {
	lines := Lines(message)
	body := len(lines)
	for i, l := range lines {
		if pytext.Strip(l) == "" {
			body = i + 1
			break
		}
	}
	prefix := key + ":"
	for _, l := range lines[body:] {
		if len(l) >= len(prefix) && asciiEqualFold(l[:len(prefix)], prefix) {
			return pytext.Strip(l[len(prefix):]), true
		}
	}
	return "", false
}

// asciiEqualFold reports whether a and b are equal with ASCII letters folded; any other byte
// must match exactly (strings.EqualFold would also fold U+212A KELVIN SIGN to "k").
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Author returns the author of a commit (C-commit-4): its non-empty instance-id trailer, else
// authorName (the git author name).
func Author(message, authorName string) string {
	if seat, ok := Trailer(message, InstanceIDKey); ok && seat != "" {
		return seat
	}
	return authorName
}
