package mcpserver

import (
	"bytes"
	"encoding/json"
	"strings"
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
