package mcpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Encode renders a result as T-common-4 text: 2-space indented UTF-8 JSON, no HTML escaping.
func Encode(v any) (string, error) {
	_, text, err := encode(v)
	return text, err
}

// encode marshals v once and returns its compact encoding (the structured content, which the
// SDK compacts anyway) with the T-common-4 text indented from it, byte for byte what
// json.Encoder with SetIndent("", "  ") and no HTML escaping writes (issue 15: the encoding was
// most of a large answer's CPU).
func encode(v any) (compact []byte, text string, err error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, "", err
	}
	compact = bytes.TrimRight(buf.Bytes(), "\n")
	var sb strings.Builder
	indent(&sb, compact)
	return compact, sb.String(), nil
}

// indent writes src, one compact JSON value as encoding/json writes it, indented by two spaces
// as json.Indent indents it: an empty object or array stays {} or [], a colon is followed by one
// space. It only tracks strings, so it is linear and allocation-free but for the builder.
func indent(dst *strings.Builder, src []byte) {
	// Two bytes of newline and indent per structural byte is a close upper bound for listings.
	dst.Grow(len(src) + len(src)/2)
	depth := 0
	newline := func() {
		dst.WriteByte('\n')
		for n := 2 * depth; n > 0; n -= len(spaces) {
			dst.WriteString(spaces[:min(n, len(spaces))])
		}
	}
	for i := 0; i < len(src); {
		c := src[i]
		switch c {
		case '"':
			j := stringEnd(src, i)
			dst.Write(src[i:j])
			i = j
			continue
		case '{', '[':
			dst.WriteByte(c)
			if i+1 < len(src) && (src[i+1] == '}' || src[i+1] == ']') {
				dst.WriteByte(src[i+1])
				i += 2
				continue
			}
			depth++
			newline()
		case '}', ']':
			depth--
			newline()
			dst.WriteByte(c)
		case ',':
			dst.WriteByte(c)
			newline()
		case ':':
			dst.WriteString(": ")
		default:
			j := i + 1
			for j < len(src) && !isStructural(src[j]) {
				j++
			}
			dst.Write(src[i:j])
			i = j
			continue
		}
		i++
	}
}

// isStructural reports whether c starts or ends something indent handles (a string or a
// delimiter) rather than a literal's byte.
func isStructural(c byte) bool {
	switch c {
	case '"', '{', '[', '}', ']', ',', ':':
		return true
	}
	return false
}

// spaces is a run of indentation written in one piece.
const spaces = "                                                                "

// stringEnd returns the index just past the string that opens at src[i] (a quote), or len(src)
// when it is not closed.
func stringEnd(src []byte, i int) int {
	for j := i + 1; j < len(src); {
		k := bytes.IndexByte(src[j:], '"')
		if k < 0 {
			return len(src)
		}
		j += k
		// A quote after an odd run of backslashes is escaped.
		bs := 0
		for b := j - 1; b > i && src[b] == '\\'; b-- {
			bs++
		}
		j++
		if bs%2 == 0 {
			return j
		}
	}
	return len(src)
}

// encodedResult is a tool result on its way to the wire: the SDK would marshal its text block,
// then compact that, the structured content and the whole result in turn; encodedResult writes
// the same bytes with the text marshalled once and the structured content copied as it is
// (issue 15). Anything it does not recognise is the SDK's own encoding.
type encodedResult struct{ *mcp.CallToolResult }

// MarshalJSON is (*mcp.CallToolResult).MarshalJSON for a result that is one text block and raw
// structured content, and no other field (a probe marshals the rest: it must be only content).
func (r encodedResult) MarshalJSON() ([]byte, error) {
	res := r.CallToolResult
	sc, ok := res.StructuredContent.(json.RawMessage)
	if !ok || len(sc) == 0 || len(res.Content) != 1 {
		return res.MarshalJSON()
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		return res.MarshalJSON()
	}
	probe := *res
	probe.Content, probe.StructuredContent = nil, nil
	if rest, err := probe.MarshalJSON(); err != nil || string(rest) != `{"content":null}` {
		return res.MarshalJSON()
	}
	text, err := tc.MarshalJSON()
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(text)+len(sc)+64)
	b = append(append(b, `{"content":[`...), text...)
	b = append(b, `],"structuredContent":`...)
	// The SDK's json.Marshal escapes <, >, & and U+2028/9 (UTF-8 E2 80 A8/A9) as it compacts.
	if bytes.IndexByte(sc, '<') >= 0 || bytes.IndexByte(sc, '>') >= 0 || bytes.IndexByte(sc, '&') >= 0 ||
		bytes.IndexByte(sc, 0xE2) >= 0 {
		var esc bytes.Buffer
		json.HTMLEscape(&esc, sc)
		sc = esc.Bytes()
	}
	return append(append(b, sc...), '}'), nil
}

// preEncoded hands the SDK each tool result as an encodedResult.
func preEncoded(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		res, err := next(ctx, method, req)
		if r, ok := res.(*mcp.CallToolResult); ok && r != nil && err == nil {
			return encodedResult{r}, nil
		}
		return res, err
	}
}
