package gitstore

import (
	"strings"
	"unicode"
)

// trailer returns the value of the first body line of msg whose lowercase form
// starts with key + ":" (C-commit-4), stripped of surrounding whitespace; "" when
// there is none. The body is everything after the subject paragraph, that is
// after the first blank line. pkg/commitmsg is the shared parser; this copy keeps
// gitstore free of it and is only used for the op-id replay key (C-commit-6).
func trailer(msg, key string) string {
	prefix := strings.ToLower(key) + ":"
	lines := strings.Split(msg, "\n")
	body := -1
	for i, l := range lines {
		if strings.TrimFunc(l, isPySpace) == "" {
			body = i + 1
			break
		}
	}
	if body < 0 {
		return ""
	}
	for _, l := range lines[body:] {
		l = strings.TrimSuffix(l, "\r")
		if len(l) >= len(prefix) && strings.ToLower(l[:len(prefix)]) == prefix {
			return strings.TrimFunc(l[len(prefix):], isPySpace)
		}
	}
	return ""
}

// isPySpace is Python's str.isspace for one rune (CONV-1): Unicode White_Space
// plus the ASCII separators \x1c–\x1f.
func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f
}
