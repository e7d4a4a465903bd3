package merge

import (
	"bytes"
	"testing"
)

func TestLines(t *testing.T) {
	tests := []struct {
		name               string
		base, ours, theirs string
		want               string
		conflict           bool
	}{
		{
			name: "non-overlapping hunks combine", // O-merge-4
			base: "1\n2\n3\n4\n5\n", ours: "1\nX\n3\n4\n5\n", theirs: "1\n2\n3\n4\nY\n",
			want: "1\nX\n3\n4\nY\n",
		},
		{
			name: "insertions at distinct places combine", // O-merge-4
			base: "a\nb\nc\n", ours: "o\na\nb\nc\n", theirs: "a\nb\nc\nt\n",
			want: "o\na\nb\nc\nt\n",
		},
		{
			name: "identical changes combine", // O-merge-4
			base: "a\nb\nc\n", ours: "a\nB\nc\n", theirs: "a\nB\nc\n",
			want: "a\nB\nc\n",
		},
		{
			name: "overlapping hunks conflict", // O-merge-4
			base: "a\nb\nc\n", ours: "a\nO\nc\n", theirs: "a\nT\nc\n",
			want:     "a\n<<<<<<< ours\nO\n||||||| base\nb\n=======\nT\n>>>>>>> theirs\nc\n",
			conflict: true,
		},
		{
			name: "adjacent hunks conflict", // O-merge-4
			base: "a\nb\nc\nd\n", ours: "a\nB\nc\nd\n", theirs: "a\nb\nC\nd\n",
			want:     "a\n<<<<<<< ours\nB\nc\n||||||| base\nb\nc\n=======\nb\nC\n>>>>>>> theirs\nd\n",
			conflict: true,
		},
		{
			name: "insertions at the same place conflict",
			base: "a\nb\n", ours: "a\no\nb\n", theirs: "a\nt\nb\n",
			want:     "a\n<<<<<<< ours\no\n||||||| base\n=======\nt\n>>>>>>> theirs\nb\n",
			conflict: true,
		},
		{
			name: "delete against edit conflicts",
			base: "a\nb\nc\n", ours: "a\nc\n", theirs: "a\nB\nc\n",
			want:     "a\n<<<<<<< ours\n||||||| base\nb\n=======\nB\n>>>>>>> theirs\nc\n",
			conflict: true,
		},
		{
			name: "empty base, different adds conflict", // add/add
			base: "", ours: "x\n", theirs: "y\n",
			want:     "<<<<<<< ours\nx\n||||||| base\n=======\ny\n>>>>>>> theirs\n",
			conflict: true,
		},
		{
			name: "empty side against empty base takes the other",
			base: "", ours: "", theirs: "y\n",
			want: "y\n",
		},
		{
			name: "all empty",
			base: "", ours: "", theirs: "",
			want: "",
		},
		{
			name: "both sides empty the file",
			base: "a\n", ours: "", theirs: "",
			want: "",
		},
		{
			name: "missing final newline kept on a clean merge",
			base: "a\nb\nc", ours: "A\nb\nc", theirs: "a\nb\nC",
			want: "A\nb\nC",
		},
		{
			name: "missing final newline gets one before a marker",
			base: "a\nb", ours: "a\nO", theirs: "a\nT",
			want:     "a\n<<<<<<< ours\nO\n||||||| base\nb\n=======\nT\n>>>>>>> theirs\n",
			conflict: true,
		},
		{
			name: "final newline added on one side, last line edited on the other conflicts",
			base: "a\nb", ours: "a\nb\n", theirs: "a\nB",
			want:     "a\n<<<<<<< ours\nb\n||||||| base\nb\n=======\nB\n>>>>>>> theirs\n",
			conflict: true,
		},
		{
			name: "CRLF merges clean",
			base: "1\r\n2\r\n3\r\n4\r\n", ours: "O\r\n2\r\n3\r\n4\r\n", theirs: "1\r\n2\r\n3\r\nT\r\n",
			want: "O\r\n2\r\n3\r\nT\r\n",
		},
		{
			name: "CRLF conflict markers",
			base: "a\r\nb\r\nc\r\n", ours: "a\r\nO\r\nc\r\n", theirs: "a\r\nT\r\nc\r\n",
			want:     "a\r\n<<<<<<< ours\r\nO\r\n||||||| base\r\nb\r\n=======\r\nT\r\n>>>>>>> theirs\r\nc\r\n",
			conflict: true,
		},
		{
			name: "CRLF and LF are different lines",
			base: "a\nb\n", ours: "a\r\nb\r\n", theirs: "a\nB\n",
			want:     "<<<<<<< ours\na\r\nb\r\n||||||| base\na\nb\n=======\na\nB\n>>>>>>> theirs\n",
			conflict: true,
		},
		{
			name: "conflict and clean hunks in one file",
			base: "1\n2\n3\n4\n5\n6\n", ours: "ONE\n2\n3\nO\n5\n6\n", theirs: "1\n2\n3\nT\n5\nSIX\n",
			want:     "ONE\n2\n3\n<<<<<<< ours\nO\n||||||| base\n4\n=======\nT\n>>>>>>> theirs\n5\nSIX\n",
			conflict: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, conflict := Lines([]byte(tt.base), []byte(tt.ours), []byte(tt.theirs))
			if conflict != tt.conflict || string(got) != tt.want {
				t.Errorf("Lines = %q, %v; want %q, %v", got, conflict, tt.want, tt.conflict)
			}
		})
	}
}

func TestLines_noAliasing(t *testing.T) {
	base, ours, theirs := []byte("a\n"), []byte("a\n"), []byte("b\n")
	got, _ := Lines(base, ours, theirs)
	got[0] = 'X'
	if string(theirs) != "b\n" {
		t.Fatalf("Lines returned a slice aliasing its input")
	}
}

// FuzzLines: Lines never panics; a side equal to base yields the other side;
// identical sides yield that side; and a clean merge never contains conflict
// markers that were not in its inputs.
func FuzzLines(f *testing.F) {
	seeds := [][3]string{
		{"", "", ""},
		{"a\nb\nc\n", "a\nB\nc\n", "a\nb\nC\n"},
		{"a\nb\nc", "a\nb\n", "a\nB\nc"},
		{"1\r\n2\r\n", "1\r\nX\r\n", "1\r\nY\r\n"},
		{"x\n\x00\ny\n", "x\n", "\n\n\n"},
		{"{\n}\n{\n}\n", "{\n}\n", "{\n}\n{\n}\n{\n}\n"},
	}
	for _, s := range seeds {
		f.Add([]byte(s[0]), []byte(s[1]), []byte(s[2]))
	}
	f.Fuzz(func(t *testing.T, base, ours, theirs []byte) {
		if got, c := Lines(base, base, theirs); c || !bytes.Equal(got, theirs) {
			t.Fatalf("Lines(x, x, y) = %q, %v; want y = %q", got, c, theirs)
		}
		if got, c := Lines(base, ours, base); c || !bytes.Equal(got, ours) {
			t.Fatalf("Lines(x, y, x) = %q, %v; want y = %q", got, c, ours)
		}
		if got, c := Lines(base, ours, ours); c || !bytes.Equal(got, ours) {
			t.Fatalf("Lines(x, y, y) = %q, %v; want y = %q", got, c, ours)
		}
		// The algorithm itself, without Lines' shortcuts, must agree.
		b, o, tl := splitLines(base), splitLines(ours), splitLines(theirs)
		if got := render(b, b, tl, merge3(b, b, tl, diff(b, b), diff(b, tl)), 0); !bytes.Equal(got, theirs) {
			t.Fatalf("merge3(x, x, y) = %q; want %q", got, theirs)
		}
		if got := render(b, o, b, merge3(b, o, b, diff(b, o), diff(b, b)), 0); !bytes.Equal(got, ours) {
			t.Fatalf("merge3(x, y, x) = %q; want %q", got, ours)
		}
		merged, conflict := Lines(base, ours, theirs)
		if !conflict && bytes.Contains(merged, []byte("<<<<<<< ours")) &&
			!bytes.Contains(ours, []byte("<<<<<<< ours")) && !bytes.Contains(theirs, []byte("<<<<<<< ours")) {
			t.Fatalf("clean merge %q carries conflict markers", merged)
		}
		if conflict && !bytes.Contains(merged, []byte("<<<<<<< ours")) {
			t.Fatalf("conflicted merge %q carries no markers", merged)
		}
		// Diffs must reconstruct their target.
		for _, pair := range [][2][][]byte{{b, o}, {b, tl}, {o, tl}} {
			checkScript(t, pair[0], pair[1])
		}
	})
}

// checkScript applies diff(a, b) to a and checks that it yields b.
func checkScript(t *testing.T, a, b [][]byte) {
	t.Helper()
	var out [][]byte
	i := 0
	for _, h := range diff(a, b) {
		if h.i1 < i || h.i1+h.n1 > len(a) || h.i2+h.n2 > len(b) {
			t.Fatalf("bad hunk %+v", h)
		}
		out = append(out, a[i:h.i1]...)
		out = append(out, b[h.i2:h.i2+h.n2]...)
		i = h.i1 + h.n1
	}
	out = append(out, a[i:]...)
	if !equalLines(out, b) {
		t.Fatalf("script of %q → %q rebuilds %q", a, b, out)
	}
}
