package merge

import (
	"bytes"
	"slices"
)

// Labels of the conflict markers Lines writes: `git merge-file --diff3
// -L ours -L base -L theirs` writes the same bytes.
const (
	labelOurs   = "ours"
	labelBase   = "base"
	labelTheirs = "theirs"
	markerSize  = 7
)

// Lines is the line-level three-way merge of one file: git's diff3 merge as
// `git merge-file -p ours base theirs` runs it.
//
// A line is a run of bytes ending in '\n', or the unterminated tail of the
// file; lines compare byte for byte, so "a\r\n", "a\n" and a final "a" are
// three different lines (no end-of-line or whitespace normalisation). Each
// side is diffed against base with git's Myers variant; a side's hunk that
// neither overlaps nor touches a hunk of the other side is applied, hunks of
// both sides that overlap or are adjacent form one region, which is clean if
// both sides made it identical and a conflict otherwise.
//
// conflict reports whether any region conflicts; it is true exactly when
// `git merge-file` exits non-zero. When clean, merged is the merged file and
// equals git's output byte for byte. When conflicted, merged carries diff3
// conflict markers exactly as `git merge-file -p --diff3 -L ours -L base -L
// theirs` writes them (7-character markers, CRLF markers when the
// surrounding lines use CRLF, a '\n' added to a side that lacks one before
// its closing marker); it is for display only.
//
// Lines treats its input as text whatever the bytes; Merge decides what is
// binary. It never returns a slice that aliases its arguments.
func Lines(base, ours, theirs []byte) (merged []byte, conflict bool) {
	// git returns one side verbatim when the other has no edit script, and
	// an edit script is empty exactly when the bytes are equal.
	switch {
	case bytes.Equal(base, ours), bytes.Equal(ours, theirs):
		return slices.Clone(nonNil(theirs)), false
	case bytes.Equal(base, theirs):
		return slices.Clone(nonNil(ours)), false
	}
	b, o, t := splitLines(base), splitLines(ours), splitLines(theirs)
	regions := merge3(b, o, t, diff(b, o), diff(b, t))

	// A conflicted region whose two sides are the same lines is resolved
	// (git's XDL_MERGE_ZEALOUS refinement finds an empty diff between them;
	// it leaves regions with an empty side alone). The merge is clean when
	// every conflicted region resolves this way.
	clean := true
	for _, r := range regions {
		if r.mode == conflicted && !(r.n1 > 0 && r.n2 > 0 && equalLines(o[r.i1:r.i1+r.n1], t[r.i2:r.i2+r.n2])) {
			clean = false
			break
		}
	}
	if clean {
		for k := range regions {
			if regions[k].mode == conflicted {
				regions[k].mode = resolved
			}
		}
	}
	return render(b, o, t, regions, len(ours)+len(theirs)), !clean
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// splitLines cuts b after every '\n'; an unterminated tail is a last line.
func splitLines(b []byte) [][]byte {
	lines := make([][]byte, 0, bytes.Count(b, []byte{'\n'})+1)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			lines = append(lines, b)
			break
		}
		lines = append(lines, b[:i+1:i+1])
		b = b[i+1:]
	}
	return lines
}

func equalLines(a, b [][]byte) bool {
	return slices.EqualFunc(a, b, bytes.Equal)
}

// A region's mode says what the merge takes for it.
const (
	conflicted = iota // both sides changed it differently
	takeOurs          // only ours changed it
	takeTheirs        // only theirs changed it
	resolved          // both changed it to the same lines: ours, unmarked
)

// region is a stretch of the merge where at least one side differs from
// base: base lines [i0, i0+n0) became ours [i1, i1+n1) and theirs
// [i2, i2+n2).
type region struct {
	mode   int
	i0, n0 int
	i1, n1 int
	i2, n2 int
}

// merge3 walks the two edit scripts against base in step (git's
// xdl_do_merge at level XDL_MERGE_EAGER) and returns the regions in order.
// d1 are base→ours hunks, d2 base→theirs hunks. A hunk that ends before the
// other side's next hunk starts — strictly: touching hunks overlap — is a
// one-sided region; overlapping hunks are a conflicted region unless they
// are the same edit, and a region that overlaps or touches the previous one
// joins it (conflicted if their modes differ).
func merge3(b, o, t [][]byte, d1, d2 []hunk) []region {
	var rs []region
	add := func(r region) {
		if n := len(rs); n > 0 {
			last := &rs[n-1]
			if r.i1 <= last.i1+last.n1 || r.i2 <= last.i2+last.n2 {
				if r.mode != last.mode {
					last.mode = conflicted
				}
				last.n0 = r.i0 + r.n0 - last.i0
				last.n1 = r.i1 + r.n1 - last.i1
				last.n2 = r.i2 + r.n2 - last.i2
				return
			}
		}
		rs = append(rs, r)
	}
	for len(d1) > 0 && len(d2) > 0 {
		x, y := d1[0], d2[0]
		if x.i1+x.n1 < y.i1 {
			add(region{mode: takeOurs, i0: x.i1, n0: x.n1, i1: x.i2, n1: x.n2, i2: y.i2 - y.i1 + x.i1, n2: x.n1})
			d1 = d1[1:]
			continue
		}
		if y.i1+y.n1 < x.i1 {
			add(region{mode: takeTheirs, i0: y.i1, n0: y.n1, i1: x.i2 - x.i1 + y.i1, n1: y.n1, i2: y.i2, n2: y.n2})
			d2 = d2[1:]
			continue
		}
		if x.i1 != y.i1 || x.n1 != y.n1 || x.n2 != y.n2 || !equalLines(o[x.i2:x.i2+x.n2], t[y.i2:y.i2+y.n2]) {
			// Stretch both hunks to the union of their base ranges.
			off := x.i1 - y.i1
			ffo := off + x.n1 - y.n1
			r := region{mode: conflicted, i0: x.i1, i1: x.i2, i2: y.i2}
			if off > 0 {
				r.i0 -= off
				r.i1 -= off
			} else {
				r.i2 += off
			}
			r.n0 = x.i1 + x.n1 - r.i0
			r.n1 = x.i2 + x.n2 - r.i1
			r.n2 = y.i2 + y.n2 - r.i2
			if ffo < 0 {
				r.n0 -= ffo
				r.n1 -= ffo
			} else {
				r.n2 += ffo
			}
			add(r)
		}
		e1, e2 := x.i1+x.n1, y.i1+y.n1
		if e1 >= e2 {
			d2 = d2[1:]
		}
		if e2 >= e1 {
			d1 = d1[1:]
		}
	}
	for _, x := range d1 {
		add(region{mode: takeOurs, i0: x.i1, n0: x.n1, i1: x.i2, n1: x.n2, i2: x.i1 + len(t) - len(b), n2: x.n1})
	}
	for _, y := range d2 {
		add(region{mode: takeTheirs, i0: y.i1, n0: y.n1, i1: y.i1 + len(o) - len(b), n1: y.n1, i2: y.i2, n2: y.n2})
	}
	return rs
}

// render writes the merge: ours outside the regions, the chosen side inside
// them, diff3 markers around conflicted ones (git's xdl_fill_merge_buffer).
func render(b, o, t [][]byte, rs []region, sizeHint int) []byte {
	out := make([]byte, 0, sizeHint)
	put := func(lines [][]byte) {
		for _, l := range lines {
			out = append(out, l...)
		}
	}
	// putClosed writes lines and, if the last one lacks its '\n', one, so
	// that the marker after it starts a line.
	putClosed := func(lines [][]byte, crlf bool) {
		put(lines)
		if n := len(lines); n > 0 {
			if l := lines[n-1]; len(l) == 0 || l[len(l)-1] != '\n' {
				if crlf {
					out = append(out, '\r')
				}
				out = append(out, '\n')
			}
		}
	}
	marker := func(c byte, label string, crlf bool) {
		for range markerSize {
			out = append(out, c)
		}
		if label != "" {
			out = append(out, ' ')
			out = append(out, label...)
		}
		if crlf {
			out = append(out, '\r')
		}
		out = append(out, '\n')
	}
	i := 0 // next line of ours not yet written
	for _, r := range rs {
		switch r.mode {
		case resolved:
			// Its lines are ours; they go out with the next stretch.
			continue
		case takeOurs:
			put(o[i : r.i1+r.n1])
		case takeTheirs:
			put(o[i:r.i1])
			put(t[r.i2 : r.i2+r.n2])
		case conflicted:
			crlf := needsCR(b, o, t, r)
			put(o[i:r.i1])
			marker('<', labelOurs, crlf)
			putClosed(o[r.i1:r.i1+r.n1], crlf)
			marker('|', labelBase, crlf)
			putClosed(b[r.i0:r.i0+r.n0], crlf)
			marker('=', "", crlf)
			putClosed(t[r.i2:r.i2+r.n2], crlf)
			marker('>', labelTheirs, crlf)
		}
		i = r.i1 + r.n1
	}
	put(o[i:])
	return out
}

// eolCRLF reports whether line i of lines ends in CRLF (1) or LF (0); for an
// unterminated last line it asks the line before; -1 when undecidable.
func eolCRLF(lines [][]byte, i int) int {
	crlf := func(l []byte) int {
		if len(l) > 1 && l[len(l)-2] == '\r' {
			return 1
		}
		return 0
	}
	n := len(lines)
	switch {
	case i < n-1:
		return crlf(lines[i])
	case n == 0:
		return -1
	case len(lines[i]) > 0 && lines[i][len(lines[i])-1] == '\n':
		return crlf(lines[i])
	case i == 0:
		return -1
	}
	return crlf(lines[i-1])
}

// needsCR decides the end of line of conflict markers as git does: CRLF when
// the lines before the region on both sides, and base's first line, do not
// say LF.
func needsCR(b, o, t [][]byte, r region) bool {
	at := func(i int) int {
		if i > 0 {
			return i - 1
		}
		return 0
	}
	v := eolCRLF(o, at(r.i1))
	if v != 0 {
		v = eolCRLF(t, at(r.i2))
	}
	if v != 0 {
		v = eolCRLF(b, 0)
	}
	return v > 0
}
