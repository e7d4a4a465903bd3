package merge

// This file is a line diff that reproduces the edit scripts of git's xdiff
// ("myers", git's default for merge-file) so that Lines agrees with
// `git merge-file` hunk for hunk. Agreement matters where the longest common
// subsequence is ambiguous — repeated lines, blank lines, braces — and there a
// textbook Myers or an LCS table picks a different alignment than git and so
// a different merge. The stages, in git's order:
//
//  1. classify: lines (with their '\n') become integer classes; equal bytes,
//     equal class.
//  2. trim: the common prefix and suffix are set aside.
//  3. discard: lines with no match on the other side, and runs of lines with
//     many matches between such lines, are marked changed up front and left
//     out of the search (xdiff's "cleanup records").
//  4. search: divide-and-conquer Myers on what remains, with xdiff's cost
//     heuristics (they only engage past 256 edits).
//  5. compact: each change group is slid as far down as it goes, then back up
//     to line up with a change group of the other file if it can.
//  6. script: runs of changed lines become hunks.

// hunk is one change of a two-way diff: lines [i1, i1+n1) of the old file
// became lines [i2, i2+n2) of the new one.
type hunk struct {
	i1, n1 int
	i2, n2 int
}

// Search parameters of xdiff (xdiffi.c, xprepare.c).
const (
	maxCostMin  = 256  // floor of the cost past which the search settles for a good-enough split
	heurMinCost = 256  // cost past which a long snake ends the search early
	snakeCount  = 20   // length of a "long" snake
	kHeur       = 4    // weight of the snake heuristic
	maxEqLimit  = 1024 // cap on the match count that makes a line "multi-matching"
	kpDisRun    = 4    // ratio deciding whether a multi-matching run is discarded
	simScan     = 100  // window examined around a multi-matching line
	lineMax     = int(^uint(0) >> 1)
)

// side is one file of a diff.
type side struct {
	class   []int  // class of every line
	changed []bool // changed[i+1] reports line i; [0] and [n+1] are false sentinels
	// The search space after trimming and discarding: ridx[k] is the line
	// of the k-th kept line, rclass[k] its class.
	ridx   []int
	rclass []int
}

func (s *side) n() int { return len(s.class) }

// isChanged reports line i; the lines just outside the file read as unchanged.
func (s *side) isChanged(i int) bool { return i+1 < len(s.changed) && s.changed[i+1] }

func (s *side) setChanged(i int, v bool) { s.changed[i+1] = v }

// diff returns the edit script turning lines a into lines b, in order.
func diff(a, b [][]byte) []hunk {
	x, y := classify(a, b)
	start, endA, endB := trimEnds(x, y)
	discard(x, y, start, endA, endB)
	s := searcher{x: x, y: y}
	s.compare(0, len(x.ridx), 0, len(y.ridx), false)
	compact(x, y)
	compact(y, x)
	return script(x, y)
}

// classify numbers the distinct lines of a and b (one numbering for both).
func classify(a, b [][]byte) (*side, *side) {
	ids := make(map[string]int, len(a)+len(b))
	mk := func(lines [][]byte) *side {
		s := &side{class: make([]int, len(lines)), changed: make([]bool, len(lines)+2)}
		for i, l := range lines {
			id, ok := ids[string(l)]
			if !ok {
				id = len(ids)
				ids[string(l)] = id
			}
			s.class[i] = id
		}
		return s
	}
	return mk(a), mk(b)
}

// trimEnds returns the length of the common prefix and the index just past
// the last line of each file that is not part of the common suffix.
func trimEnds(x, y *side) (start, endX, endY int) {
	lim := min(x.n(), y.n())
	for start < lim && x.class[start] == y.class[start] {
		start++
	}
	suffix := 0
	for suffix < lim-start && x.class[x.n()-1-suffix] == y.class[y.n()-1-suffix] {
		suffix++
	}
	return start, x.n() - suffix, y.n() - suffix
}

// bogoSqrt is xdiff's power-of-two square-root estimate.
func bogoSqrt(n int) int {
	i := 1
	for ; n > 0; n >>= 2 {
		i <<= 1
	}
	return i
}

// discard marks as changed the lines of [start, end) that cannot or should
// not take part in the search, and fills ridx/rclass with the rest.
func discard(x, y *side, start, endX, endY int) {
	// Matches are counted over the whole other file, trimmed ends included.
	count := func(s *side) map[int]int {
		m := make(map[int]int, s.n())
		for _, c := range s.class {
			m[c]++
		}
		return m
	}
	inX, inY := count(x), count(y)
	x.keep(start, endX, inY)
	y.keep(start, endY, inX)
}

// keep classifies lines [start, end) of s by their number of matches in the
// other file (0: none, 1: some, 2: at least the limit) and keeps the lines
// with some matches plus the multi-matching lines that do not sit inside a
// run of unmatched ones.
func (s *side) keep(start, end int, other map[int]int) {
	lim := min(bogoSqrt(s.n()), maxEqLimit)
	dis := make([]uint8, s.n()+1)
	for i := start; i < end; i++ {
		switch nm := other[s.class[i]]; {
		case nm == 0:
			dis[i] = 0
		case nm >= lim:
			dis[i] = 2
		default:
			dis[i] = 1
		}
	}
	s.ridx = make([]int, 0, end-start)
	s.rclass = make([]int, 0, end-start)
	for i := start; i < end; i++ {
		if dis[i] == 1 || (dis[i] == 2 && !multiInRun(dis, i, start, end-1)) {
			s.ridx = append(s.ridx, i)
			s.rclass = append(s.rclass, s.class[i])
		} else {
			s.setChanged(i, true)
		}
	}
}

// multiInRun reports whether the multi-matching line i lies in a run,
// bounded on both sides by unmatched lines, where unmatched lines are
// frequent enough (xdiff's xdl_clean_mmatch). lo and hi bound the scan.
func multiInRun(dis []uint8, i, lo, hi int) bool {
	lo = max(lo, i-simScan)
	hi = min(hi, i+simScan)
	none, multi := 0, 1
	for r := 1; i-r >= lo; r++ {
		if dis[i-r] == 0 {
			none++
		} else if dis[i-r] == 2 {
			multi++
		} else {
			break
		}
	}
	if none == 0 {
		return false
	}
	noneAfter, multiAfter := 0, 1
	for r := 1; i+r <= hi; r++ {
		if dis[i+r] == 0 {
			noneAfter++
		} else if dis[i+r] == 2 {
			multiAfter++
		} else {
			break
		}
	}
	if noneAfter == 0 {
		return false
	}
	none += noneAfter
	multi += multiAfter
	return multi*kpDisRun < multi+none
}

// searcher runs the divide-and-conquer Myers search over the kept lines.
type searcher struct {
	x, y     *side
	fwd, bwd []int // furthest reach per diagonal; index d+off
	off      int
	maxCost  int
}

// compare marks the changed lines between kept lines [off1, lim1) of x and
// [off2, lim2) of y. needMin disables the cost heuristics.
func (s *searcher) compare(off1, lim1, off2, lim2 int, needMin bool) {
	if s.fwd == nil {
		n := len(s.x.rclass) + len(s.y.rclass) + 3
		s.fwd, s.bwd = make([]int, n), make([]int, n)
		s.off = len(s.y.rclass) + 1
		s.maxCost = max(bogoSqrt(n), maxCostMin)
	}
	a, b := s.x.rclass, s.y.rclass
	for off1 < lim1 && off2 < lim2 && a[off1] == b[off2] {
		off1++
		off2++
	}
	for off1 < lim1 && off2 < lim2 && a[lim1-1] == b[lim2-1] {
		lim1--
		lim2--
	}
	switch {
	case off1 == lim1:
		for ; off2 < lim2; off2++ {
			s.y.setChanged(s.y.ridx[off2], true)
		}
	case off2 == lim2:
		for ; off1 < lim1; off1++ {
			s.x.setChanged(s.x.ridx[off1], true)
		}
	default:
		i1, i2, minLo, minHi := s.split(off1, lim1, off2, lim2, needMin)
		s.compare(off1, i1, off2, i2, minLo)
		s.compare(i1, lim1, i2, lim2, minHi)
	}
}

// split finds a point (i1, i2) on an optimal (or, past the cost limits, a
// good) path through the box and says whether each half must be searched
// without heuristics.
func (s *searcher) split(off1, lim1, off2, lim2 int, needMin bool) (i1, i2 int, minLo, minHi bool) {
	a, b := s.x.rclass, s.y.rclass
	kf := func(d int) *int { return &s.fwd[d+s.off] }
	kb := func(d int) *int { return &s.bwd[d+s.off] }

	dmin, dmax := off1-lim2, lim1-off2
	fmid, bmid := off1-off2, lim1-lim2
	odd := (fmid-bmid)&1 != 0
	fmin, fmax := fmid, fmid
	bmin, bmax := bmid, bmid
	*kf(fmid) = off1
	*kb(bmid) = lim1

	for ec := 1; ; ec++ {
		gotSnake := false

		// Widen the forward diagonal range by one each way, or narrow it
		// where it hits the box; sentinels outside make the max below safe.
		if fmin > dmin {
			fmin--
			*kf(fmin - 1) = -1
		} else {
			fmin++
		}
		if fmax < dmax {
			fmax++
			*kf(fmax + 1) = -1
		} else {
			fmax--
		}
		for d := fmax; d >= fmin; d -= 2 {
			var x int
			if *kf(d - 1) >= *kf(d + 1) {
				x = *kf(d - 1) + 1
			} else {
				x = *kf(d + 1)
			}
			prev := x
			y := x - d
			for x < lim1 && y < lim2 && a[x] == b[y] {
				x++
				y++
			}
			if x-prev > snakeCount {
				gotSnake = true
			}
			*kf(d) = x
			if odd && bmin <= d && d <= bmax && *kb(d) <= x {
				return x, y, true, true
			}
		}

		if bmin > dmin {
			bmin--
			*kb(bmin - 1) = lineMax
		} else {
			bmin++
		}
		if bmax < dmax {
			bmax++
			*kb(bmax + 1) = lineMax
		} else {
			bmax--
		}
		for d := bmax; d >= bmin; d -= 2 {
			var x int
			if *kb(d - 1) < *kb(d + 1) {
				x = *kb(d - 1)
			} else {
				x = *kb(d + 1) - 1
			}
			prev := x
			y := x - d
			for x > off1 && y > off2 && a[x-1] == b[y-1] {
				x--
				y--
			}
			if prev-x > snakeCount {
				gotSnake = true
			}
			*kb(d) = x
			if !odd && fmin <= d && d <= fmax && x <= *kf(d) {
				return x, y, true, true
			}
		}

		if needMin {
			continue
		}

		// Past heurMinCost, a diagonal that has come far (distance from the
		// corner, less its distance from the middle diagonal) and ends in a
		// long snake is a good enough split.
		if gotSnake && ec > heurMinCost {
			best := 0
			for d := fmax; d >= fmin; d -= 2 {
				dd := d - fmid
				if dd < 0 {
					dd = -dd
				}
				x := *kf(d)
				y := x - d
				v := (x - off1) + (y - off2) - dd
				if v > kHeur*ec && v > best &&
					off1+snakeCount <= x && x < lim1 &&
					off2+snakeCount <= y && y < lim2 {
					for k := 1; a[x-k] == b[y-k]; k++ {
						if k == snakeCount {
							best = v
							i1, i2 = x, y
							break
						}
					}
				}
			}
			if best > 0 {
				return i1, i2, true, false
			}
			for d := bmax; d >= bmin; d -= 2 {
				dd := d - bmid
				if dd < 0 {
					dd = -dd
				}
				x := *kb(d)
				y := x - d
				v := (lim1 - x) + (lim2 - y) - dd
				if v > kHeur*ec && v > best &&
					off1 < x && x <= lim1-snakeCount &&
					off2 < y && y <= lim2-snakeCount {
					for k := 0; a[x+k] == b[y+k]; k++ {
						if k == snakeCount-1 {
							best = v
							i1, i2 = x, y
							break
						}
					}
				}
			}
			if best > 0 {
				return i1, i2, false, true
			}
		}

		// Too expensive: take the furthest-reaching diagonal of either
		// direction.
		if ec >= s.maxCost {
			fbest, fbest1 := -1, -1
			for d := fmax; d >= fmin; d -= 2 {
				x := min(*kf(d), lim1)
				y := x - d
				if lim2 < y {
					x, y = lim2+d, lim2
				}
				if fbest < x+y {
					fbest, fbest1 = x+y, x
				}
			}
			bbest, bbest1 := lineMax, lineMax
			for d := bmax; d >= bmin; d -= 2 {
				x := max(off1, *kb(d))
				y := x - d
				if y < off2 {
					x, y = off2+d, off2
				}
				if x+y < bbest {
					bbest, bbest1 = x+y, x
				}
			}
			if (lim1+lim2)-bbest < fbest-(off1+off2) {
				return fbest1, fbest - fbest1, true, false
			}
			return bbest1, bbest - bbest1, false, true
		}
	}
}

// group is a run [start, end) of changed lines; an empty group sits just
// above line start.
type group struct{ start, end int }

func firstGroup(s *side) group {
	g := group{}
	for s.isChanged(g.end) {
		g.end++
	}
	return g
}

func (g *group) next(s *side) bool {
	if g.end == s.n() {
		return false
	}
	g.start = g.end + 1
	g.end = g.start
	for s.isChanged(g.end) {
		g.end++
	}
	return true
}

func (g *group) prev(s *side) bool {
	if g.start == 0 {
		return false
	}
	g.end = g.start - 1
	g.start = g.end
	for s.isChanged(g.start - 1) {
		g.start--
	}
	return true
}

func (g *group) slideDown(s *side) bool {
	if g.end >= s.n() || s.class[g.start] != s.class[g.end] {
		return false
	}
	s.setChanged(g.start, false)
	s.setChanged(g.end, true)
	g.start++
	g.end++
	for s.isChanged(g.end) {
		g.end++
	}
	return true
}

func (g *group) slideUp(s *side) bool {
	if g.start == 0 || s.class[g.start-1] != s.class[g.end-1] {
		return false
	}
	g.start--
	g.end--
	s.setChanged(g.start, true)
	s.setChanged(g.end, false)
	for s.isChanged(g.start - 1) {
		g.start--
	}
	return true
}

// compact slides the change groups of s: as far down as possible, merging
// groups they bump into, then back up to the lowest position where the group
// faces a change group of o, if any (xdl_change_compact without the indent
// heuristic, which merge-file does not enable). g and go walk both files in
// step: the k-th group of s faces the k-th group of o.
func compact(s, o *side) {
	g, gOther := firstGroup(s), firstGroup(o)
	mustOther := func(ok bool) {
		if !ok {
			panic("merge: diff group sync broken")
		}
	}
	for {
		if g.end != g.start {
			var earliestEnd, endMatchingOther int
			for {
				size := g.end - g.start
				endMatchingOther = -1
				for g.slideUp(s) {
					mustOther(gOther.prev(o))
				}
				earliestEnd = g.end
				if gOther.end > gOther.start {
					endMatchingOther = g.end
				}
				for g.slideDown(s) {
					mustOther(gOther.next(o))
					if gOther.end > gOther.start {
						endMatchingOther = g.end
					}
				}
				if size == g.end-g.start {
					break
				}
			}
			if g.end != earliestEnd && endMatchingOther != -1 {
				for gOther.end == gOther.start {
					mustOther(g.slideUp(s))
					mustOther(gOther.prev(o))
				}
			}
		}
		if !g.next(s) {
			break
		}
		mustOther(gOther.next(o))
	}
}

// script collects the runs of changed lines of x and y into hunks.
func script(x, y *side) []hunk {
	var out []hunk
	i1, i2 := 0, 0
	for i1 < x.n() || i2 < y.n() {
		if !x.isChanged(i1) && !y.isChanged(i2) {
			i1++
			i2++
			continue
		}
		h := hunk{i1: i1, i2: i2}
		for x.isChanged(i1) {
			i1++
		}
		for y.isChanged(i2) {
			i2++
		}
		h.n1, h.n2 = i1-h.i1, i2-h.i2
		out = append(out, h)
	}
	return out
}
