package merge

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitMergeFile runs `git merge-file -p` on the triple, in git's default
// style and in diff3 style with the labels Lines uses, and returns both
// outputs and whether git reported conflicts (its exit status is the number
// of conflicts).
func gitMergeFile(t *testing.T, dir string, base, ours, theirs []byte) (plain, diff3 []byte, conflict bool) {
	t.Helper()
	for name, b := range map[string][]byte{"ours": ours, "base": base, "theirs": theirs} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) ([]byte, int) {
		cmd := exec.Command("git", append([]string{"merge-file", "-p"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "HOME="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return out, 0
		case errors.As(err, &exit) && exit.ExitCode() > 0 && exit.ExitCode() < 128:
			return out, exit.ExitCode()
		}
		t.Fatalf("git merge-file %v: %v: %s", args, err, stderr.Bytes())
		return nil, 0
	}
	plain, n := run("ours", "base", "theirs")
	diff3, n3 := run("--diff3", "-L", "ours", "-L", "base", "-L", "theirs", "ours", "base", "theirs")
	if n == 0 && n3 == 0 && !bytes.Equal(plain, diff3) {
		t.Fatalf("git disagrees with itself on a clean merge")
	}
	return plain, diff3, n > 0
}

var (
	oracleN     = flag.Int("oracle.n", 400, "number of random triples TestLines_oracle checks")
	oracleTrees = flag.Int("oracle.trees", 150, "number of random tree triples TestMerge_oracle checks")
	oracleSeed  = flag.Uint64("oracle.seed", 1, "seed of the oracle tests")
)

func requireGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("git CLI not found; the oracle test needs it")
		}
		t.Skip("git CLI not found; the oracle test needs it")
	}
}

// textGen makes random small texts that stress diff ambiguity: few distinct
// lines, repeats, blank lines, CRLF and missing final newlines.
type textGen struct{ r *rand.Rand }

var vocabulary = []string{"a", "b", "c", "d", "", "{", "}", "  x", "e f"}

func (g textGen) line() string {
	if g.r.IntN(6) == 0 {
		return fmt.Sprintf("u%d", g.r.IntN(1000))
	}
	return vocabulary[g.r.IntN(len(vocabulary))]
}

func (g textGen) lines(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = g.line()
	}
	return out
}

// edit derives a side from base by a few random deletions, insertions and
// replacements.
func (g textGen) edit(base []string) []string {
	out := append([]string(nil), base...)
	for range g.r.IntN(4) {
		i := g.r.IntN(len(out) + 1)
		switch g.r.IntN(3) {
		case 0:
			if i < len(out) {
				out = append(out[:i], out[i+1:]...)
			}
		case 1:
			out = append(out[:i], append(g.lines(1+g.r.IntN(2)), out[i:]...)...)
		default:
			if i < len(out) {
				out[i] = g.line()
			}
		}
	}
	return out
}

// join renders lines with an end of line style and final-newline choice.
func (g textGen) join(lines []string, eol string, final bool) []byte {
	if len(lines) == 0 {
		return []byte{}
	}
	s := strings.Join(lines, eol)
	if final {
		s += eol
	}
	return []byte(s)
}

func (g textGen) triple() (base, ours, theirs []byte) {
	b := g.lines(g.r.IntN(9))
	o, t := g.edit(b), g.edit(b)
	if g.r.IntN(8) == 0 {
		t = g.lines(g.r.IntN(6)) // unrelated rewrite
	}
	eol := "\n"
	if g.r.IntN(6) == 0 {
		eol = "\r\n"
	}
	final := func() bool { return g.r.IntN(5) != 0 }
	return g.join(b, eol, final()), g.join(o, eol, final()), g.join(t, eol, final())
}

// TestLines_oracle checks Lines against `git merge-file` on randomized
// small triples (O-merge-4): same conflict verdict, same bytes when clean,
// same diff3 conflict output when conflicted.
func TestLines_oracle(t *testing.T) {
	requireGit(t)
	g := textGen{rand.New(rand.NewPCG(*oracleSeed, 2))}
	dir := t.TempDir()
	n := *oracleN
	if testing.Short() {
		n = 50
	}
	var clean, conflicted int
	for i := range n {
		base, ours, theirs := g.triple()
		plain, diff3, wantConflict := gitMergeFile(t, dir, base, ours, theirs)
		got, conflict := Lines(base, ours, theirs)
		switch {
		case conflict != wantConflict:
			t.Fatalf("case %d: conflict = %v, git %v\nbase %q\nours %q\ntheirs %q\ngot %q", i, conflict, wantConflict, base, ours, theirs, got)
		case !conflict && !bytes.Equal(got, plain):
			t.Fatalf("case %d: clean merge differs from git\nbase %q\nours %q\ntheirs %q\ngot  %q\nwant %q", i, base, ours, theirs, got, plain)
		case conflict && !bytes.Equal(got, diff3):
			t.Fatalf("case %d: conflict output differs from git --diff3\nbase %q\nours %q\ntheirs %q\ngot  %q\nwant %q", i, base, ours, theirs, got, diff3)
		}
		if conflict {
			conflicted++
		} else {
			clean++
		}
	}
	t.Logf("%d clean, %d conflicted", clean, conflicted)
	if clean == 0 || conflicted == 0 {
		t.Fatalf("generator is one-sided: %d clean, %d conflicted", clean, conflicted)
	}
}

// TestLines_oracleLarge runs the oracle on large, heavily edited files, where
// xdiff's cost heuristics (past 256 edits in one box) decide the alignment.
func TestLines_oracleLarge(t *testing.T) {
	requireGit(t)
	if testing.Short() {
		t.Skip("large oracle cases skipped in -short")
	}
	r := rand.New(rand.NewPCG(3, 4))
	g := textGen{r}
	dir := t.TempDir()
	mutate := func(lines []string, rate int) []string {
		var out []string
		for _, l := range lines {
			switch r.IntN(rate) {
			case 0: // drop
			case 1:
				out = append(out, g.line(), l)
			case 2:
				out = append(out, g.line())
			default:
				out = append(out, l)
			}
		}
		return out
	}
	// blocks keeps runs of 30 lines intact between heavily edited ones, so
	// that long snakes appear deep into an expensive search.
	blocks := func(lines []string, rate int) []string {
		var out []string
		for i := 0; i < len(lines); i += 30 {
			blk := lines[i:min(i+30, len(lines))]
			if (i/30)%2 == 0 {
				out = append(out, blk...)
			} else {
				out = append(out, mutate(blk, 2)...)
			}
		}
		return out
	}
	for i, tc := range []struct {
		lines, rate int
		blocky      bool
	}{
		{2000, 3, false}, {3000, 2, false}, {1500, 10, false}, {4000, 4, false}, {800, 50, false},
		{6000, 0, true}, {3000, 0, true}, {40000, 0, true},
	} {
		b := g.lines(tc.lines)
		edit := func(l []string) []string {
			if tc.blocky {
				return blocks(l, tc.rate)
			}
			return mutate(l, tc.rate)
		}
		base := g.join(b, "\n", true)
		ours := g.join(edit(b), "\n", true)
		// theirs edits only the second half so that some merges are clean.
		half := len(b) / 2
		theirs := g.join(append(append([]string(nil), b[:half]...), edit(b[half:])...), "\n", i%2 == 0)
		plain, diff3, wantConflict := gitMergeFile(t, dir, base, ours, theirs)
		got, conflict := Lines(base, ours, theirs)
		want := plain
		if conflict {
			want = diff3
		}
		if conflict != wantConflict || !bytes.Equal(got, want) {
			t.Fatalf("case %d (%d lines, rate %d): conflict = %v, git %v; outputs equal: %v",
				i, tc.lines, tc.rate, conflict, wantConflict, bytes.Equal(got, want))
		}
	}
}
