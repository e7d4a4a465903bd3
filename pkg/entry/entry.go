// Package entry owns the entry file format of content-model.md §5–6: the ordered front-matter
// envelope, Compose (write) and Parse (read) with 0.1.5's exact bytes, the D-24 guard against
// "---" in envelope values, and the C-sup-1 body comparison. It is deliberately not YAML: every
// service must compute the same bytes from the same envelope, so the rules here are the only ones.
package entry

import (
	"math"
	"strconv"
	"strings"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/pytext"
)

// delim is the front-matter delimiter line and the literal the parser splits on (C-entry-7).
const delim = "---"

// Envelope is an entry's front matter: keys in insertion order, each with one value. Values are
// string, []string, int, int64, bool, float64 or nil (Python None); Parse yields only string and
// []string. The zero value is an empty envelope ready to use. An Envelope is not safe for
// concurrent mutation.
type Envelope struct {
	keys []string
	vals map[string]any
}

// Set stores v under key. Replacing an existing key keeps its first position (a Python dict
// assignment), which is also how later duplicate keys win in Parse. A []string is copied. Set
// panics on any other value type: the composed bytes are only defined for the types above.
func (e *Envelope) Set(key string, v any) {
	switch x := v.(type) {
	case string, int, int64, bool, float64, nil:
	case []string:
		v = append([]string{}, x...)
	default:
		panic("entry: unsupported envelope value type for key " + strconv.Quote(key))
	}
	if e.vals == nil {
		e.vals = make(map[string]any)
	}
	if _, ok := e.vals[key]; !ok {
		e.keys = append(e.keys, key)
	}
	e.vals[key] = v
}

// Get returns the value under key and whether the key is present. A list is returned as a copy.
func (e *Envelope) Get(key string) (any, bool) {
	v, ok := e.vals[key]
	if l, isList := v.([]string); isList {
		return append([]string{}, l...), ok
	}
	return v, ok
}

// Str returns the scalar under key as a string: a string as is, an int, bool or float64 in the
// form Compose writes it (before flattening). It returns "" for a list, nil, or an absent key.
func (e *Envelope) Str(key string) string {
	switch v := e.vals[key].(type) {
	case nil, []string:
		return ""
	default:
		return scalar(v)
	}
}

// List returns the list under key. Where the format allows a bare scalar for a list field, a
// non-empty scalar is a one-element list (D-32, C-sup-4); an empty or nil scalar and an absent
// key yield nil.
func (e *Envelope) List(key string) []string {
	switch v := e.vals[key].(type) {
	case nil:
		return nil
	case []string:
		return append([]string{}, v...)
	default:
		if s := scalar(v); s != "" {
			return []string{s}
		}
		return nil
	}
}

// Keys returns the keys in order.
func (e *Envelope) Keys() []string { return append([]string(nil), e.keys...) }

// Len returns the number of keys.
func (e *Envelope) Len() int { return len(e.keys) }

// Compose renders an entry file (C-entry-1…5): "---", one "key: value" line per key in order,
// "---", joined by "\n", then "\n\n", the body without trailing Python whitespace, and "\n".
// Scalars and list items are flattened (C-entry-4) so no value can start a new front-matter line.
// Keys are written verbatim: they are the writers' constants (C-env-3), not user input. A nil
// envelope composes as an empty one.
func Compose(e *Envelope, body string) string {
	var b strings.Builder
	b.WriteString(delim)
	if e != nil {
		for _, k := range e.keys {
			b.WriteString("\n")
			b.WriteString(k)
			b.WriteString(": ")
			b.WriteString(render(e.vals[k]))
		}
	}
	b.WriteString("\n" + delim + "\n\n")
	b.WriteString(pytext.RStrip(body))
	b.WriteString("\n")
	return b.String()
}

// render is a value's text on its front-matter line (C-entry-2, C-entry-3, C-entry-5).
func render(v any) string {
	l, ok := v.([]string)
	if !ok {
		return pytext.Flatten(scalar(v))
	}
	items := make([]string, len(l))
	for i, item := range l {
		items[i] = pytext.Flatten(item)
	}
	// A list of one empty string renders "[]" by construction, as in 0.1.5 (C-entry-2).
	return "[" + strings.Join(items, ", ") + "]"
}

// scalar is Python's str() of a scalar value (C-entry-3).
func scalar(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case bool:
		if v {
			return "True"
		}
		return "False"
	case float64:
		return pyFloat(v)
	}
	return "None"
}

// pyFloat is Python's repr(float): the shortest round-tripping digits, in positional notation
// with at least one fractional digit when the decimal exponent is in [-4, 16), else in
// scientific notation with a signed, at least two-digit exponent ("1e+16", "1e-05").
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	sci := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(sci[strings.IndexByte(sci, 'e')+1:])
	if exp < -4 || exp >= 16 {
		return sci // Go also writes a sign and at least two exponent digits.
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// Parse reads an entry file exactly as 0.1.5 does (C-entry-6…9). Text not starting with "---",
// or holding fewer than two further "---" (found anywhere, not only at line starts), has an
// empty envelope and is the body unmodified. Otherwise the text between the first two "---" is
// stripped and split into Python lines; lines without ":" are skipped; key and value are split at
// the first ":" and stripped; a value in "[…]" is a list whose items are split on "," and
// stripped ("[]" or blank inside is an empty list); anything else is a string. Later duplicate
// keys win. The body is the rest after the second "---", stripped.
func Parse(text string) (*Envelope, string) {
	e := &Envelope{}
	if !strings.HasPrefix(text, delim) {
		return e, text
	}
	parts := strings.SplitN(text, delim, 3)
	if len(parts) < 3 {
		return e, text
	}
	for _, line := range pytext.SplitLines(pytext.Strip(parts[1])) {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		e.Set(pytext.Strip(k), parseValue(pytext.Strip(v)))
	}
	return e, pytext.Strip(parts[2])
}

func parseValue(v string) any {
	if !strings.HasPrefix(v, "[") || !strings.HasSuffix(v, "]") {
		return v
	}
	inner := pytext.Strip(v[1 : len(v)-1])
	if inner == "" {
		return []string{}
	}
	items := strings.Split(inner, ",")
	for i, item := range items {
		items[i] = pytext.Strip(item)
	}
	return items
}

// CheckScalars refuses an envelope in which a key, a scalar or a list item contains "---"
// (D-24): such a value would move the parser's split (C-entry-9), so the file would not read back
// as written. The fault is Denied with Op "entry.envelope" and names the key.
func CheckScalars(e *Envelope) error {
	if e == nil {
		return nil
	}
	for _, k := range e.keys {
		if strings.Contains(k, delim) {
			return fault.E("entry.envelope", fault.Denied, "envelope key %q contains %q", k, delim)
		}
		switch v := e.vals[k].(type) {
		case []string:
			for _, item := range v {
				if strings.Contains(item, delim) {
					return fault.E("entry.envelope", fault.Denied,
						"envelope field %q item %q contains %q (it would corrupt the front matter)", k, item, delim)
				}
			}
		default:
			if s := scalar(v); strings.Contains(s, delim) {
				return fault.E("entry.envelope", fault.Denied,
					"envelope field %q value %q contains %q (it would corrupt the front matter)", k, s, delim)
			}
		}
	}
	return nil
}

// SameBody reports whether newBody keeps the body of the existing file oldText (C-sup-1 body
// immutability): the stripped parsed body of oldText equals the stripped newBody.
func SameBody(oldText, newBody string) bool {
	_, old := Parse(oldText)
	return pytext.Strip(old) == pytext.Strip(newBody)
}
