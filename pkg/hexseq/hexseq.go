// Package hexseq owns the hex sequence numbers of the land log (CONV-2, D-1, content-model.md
// C-log-2…4): which strings are a hex seq, their numeric value, the stored (lowercase) and
// displayed ("::3C") forms, and canon's seq derived from the state tags.
package hexseq

import (
	"strconv"
	"strings"

	"github.com/stasima/stasima/pkg/fault"
)

// DefaultOrigin is the default seq_origin (C-log-3): with no state tags canon's seq is 0x3B, so
// the first land is ::3C.
const DefaultOrigin = 0x3b

// Valid reports whether s is a hex seq (CONV-2, D-1): non-empty and, after lowercasing, only the
// digits 0-9a-f. No "0x" prefix, sign, "_" or surrounding space, unlike Python's int(x, 16).
func Valid(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return false
		}
	}
	return true
}

// Parse returns the value of the hex seq s (either case, leading zeros allowed). A string that is
// not a hex seq, or whose value does not fit in 64 bits, is an ArgumentError.
func Parse(s string) (uint64, error) {
	if !Valid(s) {
		return 0, fault.E("hexseq.parse", fault.ArgumentError, "seq %q is not hex (only 0-9a-f)", s)
	}
	n, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fault.E("hexseq.parse", fault.ArgumentError, "seq %q overflows 64 bits", s)
	}
	return n, nil
}

// Format returns the stored and tag form of n: lowercase hex without leading zeros (C-log-2).
func Format(n uint64) string { return strconv.FormatUint(n, 16) }

// Display returns the display form of n (C-log-2): "::" and uppercase hex, "::3C".
func Display(n uint64) string { return "::" + strings.ToUpper(Format(n)) }

// Next returns the stored form of the seq after n (C-log-4 next_seq). It wraps at 2^64, a value
// no land count reaches.
func Next(n uint64) string { return Format(n + 1) }

// CanonSeq returns canon's seq (C-log-3): the largest of tagNames that is a hex seq, or origin
// when none is. tagNames are the names below StateTagPrefix ("3c", not "refs/tags/state/3c");
// names that are not hex, or overflow 64 bits, are ignored.
func CanonSeq(tagNames []string, origin uint64) uint64 {
	seq, found := uint64(0), false
	for _, name := range tagNames {
		n, err := Parse(name)
		if err != nil {
			continue
		}
		if !found || n > seq {
			seq, found = n, true
		}
	}
	if !found {
		return origin
	}
	return seq
}
