package cockpit

import (
	"strings"
	"testing"
)

// TestRenderMarkdown_Inert: agent-written Markdown renders without raw HTML, script, unsafe
// link schemes or remote images.
func TestRenderMarkdown_Inert(t *testing.T) {
	tests := []struct {
		name, give string
		want       []string
		never      []string
	}{
		{"script tag", "hi\n\n<script>alert(1)</script>\n", []string{"<p>hi</p>"}, []string{"<script"}},
		{"inline html", "a <b onclick=x()>b</b>", nil, []string{"<b", "onclick"}},
		{"javascript link", "[x](javascript:alert(1))", []string{`href="#unsafe-link"`}, []string{"javascript:"}},
		{"encoded javascript link", "[x](JaVaScRiPt&#58;alert(1))", []string{`href="#unsafe-link"`}, []string{"alert"}},
		{"data link", "[x](data:text/html;base64,PHNjcmlwdD4=)", []string{`href="#unsafe-link"`}, []string{"data:"}},
		{"vbscript link", "[x](vbscript:msgbox)", []string{`href="#unsafe-link"`}, []string{"vbscript"}},
		{"https link", "[x](https://example.org/a)", []string{`href="https://example.org/a"`, `rel="noopener noreferrer nofollow"`}, nil},
		{"relative link", "[x](practice/a.md)", []string{`href="practice/a.md"`}, nil},
		{"remote image", "![pixel](https://evil.example/p.png)", []string{"[image: pixel — https://evil.example/p.png]"}, []string{"<img"}},
		{"data image", "![p](data:image/png;base64,AAAA)", []string{"[image: p"}, []string{"<img"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(renderMarkdown(tt.give))
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("lacks %q: %s", w, got)
				}
			}
			for _, n := range tt.never {
				if strings.Contains(got, n) {
					t.Errorf("carries %q: %s", n, got)
				}
			}
		})
	}
}

func TestLineDiff(t *testing.T) {
	tests := []struct {
		name, a, b, want string
	}{
		{"added file", "", "x\ny\n", "+x +y"},
		{"removed file", "x\n", "", "-x"},
		{"same", "a\nb\n", "a\nb\n", " a  b"},
		{"modified middle", "a\nb\nc\n", "a\nB\nc\n", " a -b +B  c"},
		{"insert", "a\nc\n", "a\nb\nc\n", " a +b  c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var parts []string
			for _, l := range lineDiff(tt.a, tt.b) {
				parts = append(parts, l.Op+l.Text)
			}
			if got := strings.Join(parts, " "); got != tt.want {
				t.Fatalf("diff %q", got)
			}
		})
	}
}
