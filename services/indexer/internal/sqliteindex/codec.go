package sqliteindex

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The list and embedding columns hold JSON text exactly as 0.1.5's json.dumps wrote it: ", "
// between items, every character outside printable ASCII escaped as \uXXXX with lowercase hex
// (surrogate pairs above U+FFFF), and floats in Python repr form. Writing the same text keeps
// a Go-written index byte-compatible with a 0.1.5 reader.

// encodeList renders l as Python's json.dumps(list_of_str).
func encodeList(l []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range l {
		if i > 0 {
			b.WriteString(", ")
		}
		writePyJSONString(&b, s)
	}
	b.WriteByte(']')
	return b.String()
}

// writePyJSONString writes s as json.dumps(s) with ensure_ascii. Invalid UTF-8 bytes become
// U+FFFD (a Python str cannot hold them).
func writePyJSONString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	u := func(c rune) {
		b.WriteString(`\u`)
		for shift := 12; shift >= 0; shift -= 4 {
			b.WriteByte(hex[(c>>shift)&0xf])
		}
	}
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r >= 0x20 && r <= 0x7e:
			b.WriteRune(r)
		case r > 0xffff:
			r -= 0x10000
			u(0xd800 + (r>>10)&0x3ff)
			u(0xdc00 + r&0x3ff)
		default:
			u(r)
		}
	}
	b.WriteByte('"')
}

// decodeList reads a list column. NULL and "" are []; a JSON string (0.1.5 stored a bare scalar
// envelope value as such, D-32) is a one-element list, or [] when empty.
func decodeList(text string, valid bool) ([]string, error) {
	if !valid || text == "" {
		return []string{}, nil
	}
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		return nil, fmt.Errorf("list column %q: %w", text, err)
	}
	switch x := v.(type) {
	case nil:
		return []string{}, nil
	case string:
		if x == "" {
			return []string{}, nil
		}
		return []string{x}, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, item := range x {
			s, ok := item.(string)
			if !ok {
				s = fmt.Sprint(item)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("list column %q is not a list", text)
}

// encodeVector renders v as Python's json.dumps(list_of_float).
func encodeVector(v []float64) string {
	var b strings.Builder
	b.Grow(len(v) * 20)
	b.WriteByte('[')
	for i, f := range v {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(pyRepr(f))
	}
	b.WriteByte(']')
	return b.String()
}

// decodeVector reads an embedding column; NULL and "" are the empty vector. Go's float parser
// is correctly rounded, like Python's, so the stored digits give back the written bits.
func decodeVector(text string, valid bool) ([]float64, error) {
	if !valid || text == "" {
		return nil, nil
	}
	var v []float64
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		return nil, fmt.Errorf("embedding column: %w", err)
	}
	return v, nil
}

// pyRepr is Python's repr(float) (JSON spells the non-finite values NaN/Infinity).
func pyRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	sci := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(sci[strings.IndexByte(sci, 'e')+1:])
	if exp < -4 || exp >= 16 {
		return sci
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}
