package cockpit

import (
	"bytes"
	"html"
	"html/template"
	"net/url"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// md renders agent-written Markdown. Without html.WithUnsafe goldmark drops raw HTML (script
// tags included); inert rewrites what is left that could reach out or run: links keep only
// http, https, mailto and in-page targets, and images become their alt text, since the page
// loads nothing remote.
var md = goldmark.New(
	goldmark.WithExtensions(extension.Table, extension.Strikethrough),
	goldmark.WithParserOptions(parser.WithASTTransformers(util.Prioritized(inert{}, 100))),
)

type inert struct{}

// Transform rewrites links and images in place.
func (inert) Transform(doc *ast.Document, reader text.Reader, _ parser.Context) {
	var images []*ast.Image
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch v := n.(type) {
		case *ast.Link:
			if !safeLink(string(v.Destination)) {
				v.Destination = []byte("#unsafe-link")
			}
			v.SetAttributeString("rel", []byte("noopener noreferrer nofollow"))
		case *ast.AutoLink:
			// Autolinks are http(s) or email by grammar; goldmark escapes them.
		case *ast.Image:
			images = append(images, v)
		}
		return ast.WalkContinue, nil
	})
	for _, img := range images {
		alt := "[image: " + plainText(img, reader.Source()) + " — " + string(img.Destination) + "]"
		img.Parent().ReplaceChild(img.Parent(), img, ast.NewString([]byte(alt)))
	}
}

// plainText is the text under n: its text nodes' bytes in order (an image's alt text).
func plainText(n ast.Node, src []byte) string {
	var b strings.Builder
	_ = ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if t, ok := c.(*ast.Text); ok && entering {
			b.Write(t.Segment.Value(src))
		}
		return ast.WalkContinue, nil
	})
	return b.String()
}

// safeLink accepts relative, fragment, http, https and mailto destinations.
func safeLink(dest string) bool {
	// The renderer decodes entities and percent-escapes: check what the browser will see.
	dest = html.UnescapeString(dest)
	if d, err := url.PathUnescape(dest); err == nil {
		dest = d
	}
	dest = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == ' ' {
			return -1 // browsers drop control characters and spaces inside a scheme
		}
		return r
	}, dest)
	u, err := url.Parse(dest)
	if err != nil {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "", "http", "https", "mailto":
		// A scheme-less destination with a colon before any slash would be read as a scheme.
		return u.Scheme != "" || !strings.Contains(strings.SplitN(dest, "/", 2)[0], ":")
	}
	return false
}

// renderMarkdown renders an entry body to sanitised HTML.
func renderMarkdown(body string) template.HTML {
	var b bytes.Buffer
	if err := md.Convert([]byte(body), &b); err != nil {
		return template.HTML("<pre>" + template.HTMLEscapeString(body) + "</pre>")
	}
	return template.HTML(b.String()) // #nosec: goldmark escapes text and drops raw HTML
}

// diffLine is one line of a line diff: Op is ' ' (same), '+' (added) or '-' (removed).
type diffLine struct {
	Op   string
	Text string
}

// maxDiffCells bounds the LCS table; past it the diff shows the whole old text removed and the
// new one added.
const maxDiffCells = 4_000_000

// lineDiff is the longest-common-subsequence line diff of a against b.
func lineDiff(a, b string) []diffLine {
	al, bl := splitLines(a), splitLines(b)
	n, m := len(al), len(bl)
	if n*m > maxDiffCells {
		var out []diffLine
		for _, l := range al {
			out = append(out, diffLine{"-", l})
		}
		for _, l := range bl {
			out = append(out, diffLine{"+", l})
		}
		return out
	}
	// lcs[i][j] is the LCS length of al[i:] and bl[j:].
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if al[i] == bl[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []diffLine
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case al[i] == bl[j]:
			out = append(out, diffLine{" ", al[i]})
			i++
			j++
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, diffLine{"-", al[i]})
			i++
		default:
			out = append(out, diffLine{"+", bl[j]})
			j++
		}
	}
	for ; i < n; i++ {
		out = append(out, diffLine{"-", al[i]})
	}
	for ; j < m; j++ {
		out = append(out, diffLine{"+", bl[j]})
	}
	return out
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}
