// Package commitmsg owns capstore's commit message format (content-model.md C-commit-2…4): the
// seat and bootstrap messages, the subject prefixes tools recognise, and how a subject, a trailer
// and a commit's author are read back. Messages end without a newline after the last trailer.
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

// Subject returns the first line of message ("" for an empty message). Lines end at Python line
// breaks (CONV-1), as in 0.1.5.
func Subject(message string) string {
	lines := pytext.SplitLines(message)
	if len(lines) == 0 {
		return ""
	}
	return lines[0]
}

// Trailer returns the value of trailer key in message and whether it is present (C-commit-4).
// Trailers are read from the body, the lines after the subject paragraph (which ends at the
// first blank line); the first body line whose lowercase form starts with "<key>:" is the
// trailer, and its value is the rest of the line after the first ":", stripped. A message
// without a body has no trailers.
func Trailer(message, key string) (string, bool) {
	lines := pytext.SplitLines(message)
	body := len(lines)
	for i, l := range lines {
		if pytext.Strip(l) == "" {
			body = i + 1
			break
		}
	}
	prefix := strings.ToLower(key) + ":"
	for _, l := range lines[body:] {
		if strings.HasPrefix(strings.ToLower(l), prefix) {
			_, v, _ := strings.Cut(l, ":")
			return pytext.Strip(v), true
		}
	}
	return "", false
}

// Author returns the author of a commit (C-commit-4): its non-empty instance-id trailer, else
// authorName (the git author name).
func Author(message, authorName string) string {
	if seat, ok := Trailer(message, InstanceIDKey); ok && seat != "" {
		return seat
	}
	return authorName
}
