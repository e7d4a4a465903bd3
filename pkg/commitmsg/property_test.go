package commitmsg

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stasima/stasima/pkg/pytext"
)

// pythonTrailer is the reader capstore's tools used before D-40: lines split at Python line
// breaks (str.splitlines), key matched on the lowercased line.
func pythonTrailer(message, key string) (string, bool) {
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

// gitstoreTrailer is the reader gitstore's replay check used before D-40: lines split at "\n",
// "" when absent.
func gitstoreTrailer(msg, key string) string {
	prefix := strings.ToLower(key) + ":"
	lines := strings.Split(msg, "\n")
	body := -1
	for i, l := range lines {
		if pytext.Strip(l) == "" {
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
			return pytext.Strip(l[len(prefix):])
		}
	}
	return ""
}

// gitLinesTrailer is the oracle: C-commit-4 applied to the lines the generator joined with "\n",
// which are the lines git itself sees. It never splits anything.
func gitLinesTrailer(lines []string, key string) (string, bool) {
	body := len(lines)
	for i, l := range lines {
		if pytext.Strip(l) == "" {
			body = i + 1
			break
		}
	}
	for _, l := range lines[body:] {
		if len(l) > len(key) && strings.EqualFold(l[:len(key)+1], key+":") {
			return pytext.Strip(l[len(key)+1:]), true
		}
	}
	return "", false
}

// pythonOnlyBreaks are the characters Python's splitlines breaks on and git does not.
var pythonOnlyBreaks = []string{"\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\u0085", "\u2028", "\u2029"}

// genLines draws 1–6 lines of 0–5 pieces each: trailer keys in mixed case, words, spaces and
// Python-only line breaks, so subjects and body lines carry would-be forged trailers.
func genLines(rng *rand.Rand) []string {
	pieces := append([]string{"op-id:", "OP-Id: ", "instance-id:", "Instance-ID: ", " ", "\t", "\u3000",
		"x", "forged", "practitioner", ":", "é", "KIP a.md"}, pythonOnlyBreaks...)
	lines := make([]string, 1+rng.IntN(6))
	for i := range lines {
		var b strings.Builder
		for range rng.IntN(6) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		lines[i] = b.String()
	}
	return lines
}

// TestTrailer_Property: over generated messages, Trailer answers what C-commit-4 says for git's
// "\n" lines, whatever Python-only line breaks the lines carry (D-40); where the two readers it
// replaces agreed it agrees with them, and a message without Python-only breaks reads exactly as
// 0.1.5 read it. The generator is seeded, so a failure reproduces.
func TestTrailer_Property(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 4))
	const n = 50000
	differed := 0 // messages the two old readers read differently
	for range n {
		lines := genLines(rng)
		msg := strings.Join(lines, "\n")
		hasPythonBreak := false
		for _, c := range pythonOnlyBreaks {
			hasPythonBreak = hasPythonBreak || strings.Contains(msg, c)
		}
		for _, key := range []string{OpIDKey, InstanceIDKey} {
			got, ok := Trailer(msg, key)
			want, wantOK := gitLinesTrailer(lines, key)
			if got != want || ok != wantOK {
				t.Fatalf("Trailer(%q, %q) = %q, %v; git's lines %q say %q, %v", msg, key, got, ok, lines, want, wantOK)
			}
			py, pyOK := pythonTrailer(msg, key)
			gs := gitstoreTrailer(msg, key)
			if py != gs {
				differed++
			} else if got != py {
				t.Fatalf("Trailer(%q, %q) = %q where both old readers said %q", msg, key, got, py)
			}
			if !hasPythonBreak && (got != py || ok != pyOK) {
				t.Fatalf("Trailer(%q, %q) = %q, %v; 0.1.5 read %q, %v", msg, key, got, ok, py, pyOK)
			}
			if strings.HasPrefix(msg, "KIP") && !strings.Contains(msg, "\n") && ok {
				t.Fatalf("one-line message %q yields trailer %s: %q", msg, key, got)
			}
		}
		if s := Subject(msg); s != strings.TrimSuffix(lines[0], "\r") {
			t.Fatalf("Subject(%q) = %q, want git's first line %q", msg, s, lines[0])
		}
	}
	// The generator must reach the forgeries D-40 is about, or this test proves nothing.
	if differed < n/100 {
		t.Fatalf("only %d of %d messages read differently by the old readers", differed, 2*n)
	}
	t.Logf("%d of %d reads differed between the old readers", differed, 2*n)
}
