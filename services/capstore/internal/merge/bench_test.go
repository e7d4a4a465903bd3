package merge

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"testing"
)

// bench10k builds a 10,000-path tree of ~1 KiB entries and two sides that
// change 50 paths between them: 20 edited by ours, 20 by theirs (5 of those
// added, 5 deleted), and 10 edited by both in different lines. With copies,
// every side holds its own copy of every blob, so an unchanged path costs a
// full compare; without, the sides share unchanged blobs (as a reader that
// caches blobs by id would) and bytes.Equal returns at the pointer check.
func bench10k(copies bool) (base, ours, theirs Tree) {
	base, ours, theirs = Tree{}, Tree{}, Tree{}
	body := func(i int) []byte {
		var b bytes.Buffer
		for l := range 16 {
			fmt.Fprintf(&b, "entry %d line %d: lorem ipsum dolor sit amet, consectetur adipiscing\n", i, l)
		}
		return b.Bytes()
	}
	for i := range 10_000 {
		p := fmt.Sprintf("domain-%02d/kind-%d/entry-%05d.md", i%40, i%7, i)
		b := body(i)
		base[p], ours[p], theirs[p] = b, b, b
		if copies {
			ours[p], theirs[p] = bytes.Clone(b), bytes.Clone(b)
		}
	}
	edit := func(b []byte, line int) []byte {
		lines := bytes.SplitAfter(bytes.Clone(b), []byte("\n"))
		lines[line] = []byte("edited\n")
		return bytes.Join(lines, nil)
	}
	for n, p := range slices.Sorted(maps.Keys(base)) {
		b := base[p]
		switch {
		case n < 20:
			ours[p] = edit(b, 3)
		case n < 30:
			theirs[p] = edit(b, 5)
		case n < 35:
			delete(theirs, p)
		case n < 40:
			theirs[p+".new"] = b
		case n < 50:
			ours[p], theirs[p] = edit(b, 2), edit(b, 12)
		default:
			return base, ours, theirs
		}
	}
	return base, ours, theirs
}

func TestBench10k(t *testing.T) {
	r := Merge(bench10k(true))
	if len(r.Conflicts) != 0 || len(r.Adds) != 5 || len(r.Removes) != 5 || len(r.Modifies) != 20 {
		t.Fatalf("conflicts %d, adds %d, removes %d, modifies %d; want 0, 5, 5, 20",
			len(r.Conflicts), len(r.Adds), len(r.Removes), len(r.Modifies))
	}
}

func BenchmarkMerge10k(b *testing.B) {
	for _, copies := range []bool{true, false} {
		b.Run(fmt.Sprintf("copies=%v", copies), func(b *testing.B) {
			base, ours, theirs := bench10k(copies)
			b.ReportAllocs()
			for b.Loop() {
				if r := Merge(base, ours, theirs); len(r.Conflicts) != 0 {
					b.Fatal(r.Conflicts)
				}
			}
		})
	}
}

// BenchmarkLines merges a 2,000-line file with a few hundred scattered edits
// on each side.
func BenchmarkLines(b *testing.B) {
	var base, ours, theirs bytes.Buffer
	for i := range 2000 {
		fmt.Fprintf(&base, "line %d\n", i)
		switch {
		case i%10 == 0:
			fmt.Fprintf(&ours, "ours %d\n", i)
			fmt.Fprintf(&theirs, "line %d\n", i)
		case i%10 == 5:
			fmt.Fprintf(&ours, "line %d\n", i)
			fmt.Fprintf(&theirs, "theirs %d\n", i)
		default:
			fmt.Fprintf(&ours, "line %d\n", i)
			fmt.Fprintf(&theirs, "line %d\n", i)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, conflict := Lines(base.Bytes(), ours.Bytes(), theirs.Bytes()); conflict {
			b.Fatal("conflict")
		}
	}
}
