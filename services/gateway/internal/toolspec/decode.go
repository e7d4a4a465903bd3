package toolspec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/stasima/stasima/pkg/fault"
)

// Args holds the decoded arguments of one call: a value for every declared parameter (the
// caller's or the published default) and which of them the caller gave. The zero Args has no
// values. Accessors return the zero value for a name the tool does not declare or whose value has
// another type; handlers read parameters by the names of their own Tool.
type Args struct {
	values map[string]any // string, bool, int, []string, or nil for null
	given  map[string]bool
}

// String returns a string or nullable-string parameter ("" when null).
func (a Args) String(name string) string {
	s, _ := a.values[name].(string)
	return s
}

// Bool returns a boolean parameter.
func (a Args) Bool(name string) bool {
	b, _ := a.values[name].(bool)
	return b
}

// Int returns an integer parameter.
func (a Args) Int(name string) int {
	n, _ := a.values[name].(int)
	return n
}

// Strings returns a copy of an array or nullable-array parameter: nil when null or absent, a
// non-nil empty slice for [].
func (a Args) Strings(name string) []string {
	s, _ := a.values[name].([]string)
	return slices.Clone(s)
}

// IsNull reports whether a nullable parameter is null, given so or by default.
func (a Args) IsNull(name string) bool {
	v, ok := a.values[name]
	return ok && v == nil
}

// Has reports whether the caller gave the parameter explicitly (null included), as opposed to it
// holding its default.
func (a Args) Has(name string) bool { return a.given[name] }

// Decode validates and decodes the arguments of a call to t (T-common-2, T-common-3).
//
// raw must be a JSON object; null, empty or all-whitespace raw counts as {}. Refusals are
// fault.ArgumentError with Op "args.<tool>", checked in this order: raw is not a JSON object;
// a duplicate or unknown argument (the first in object order; an unknown one is named with the
// accepted parameters, closest match first, D-35); a type mismatch (the first in declared order,
// naming the parameter, the expected type and the JSON type given); missing required arguments
// (all of them, in declared order).
//
// Beyond native JSON types, Decode accepts for array and nullable-array parameters a string
// holding a JSON array of strings, for booleans the strings "true" and "false" in any case, and
// for integers a decimal integer string; a JSON number counts as an integer when its value is
// integral (10.0, 1e2). Nullable parameters accept null; absent parameters take their
// published default.
func (t Tool) Decode(raw json.RawMessage) (Args, error) {
	fields, err := t.fields(raw)
	if err != nil {
		return Args{}, err
	}

	given := make(map[string]json.RawMessage, len(fields))
	for _, f := range fields {
		if _, dup := given[f.name]; dup {
			return Args{}, t.errorf("duplicate argument %q for %s", f.name, t.Name)
		}
		if _, ok := t.Param(f.name); !ok {
			return Args{}, t.unknown(f.name)
		}
		given[f.name] = f.value
	}

	a := Args{values: make(map[string]any, len(t.Params)), given: make(map[string]bool, len(given))}
	var missing []string
	for _, p := range t.Params {
		v, ok := given[p.Name]
		if !ok {
			if p.Required {
				missing = append(missing, strconv.Quote(p.Name))
				continue
			}
			a.values[p.Name] = p.Default
			continue
		}
		val, err := t.decodeValue(p, v)
		if err != nil {
			return Args{}, err
		}
		a.values[p.Name] = val
		a.given[p.Name] = true
	}
	switch len(missing) {
	case 0:
		return a, nil
	case 1:
		return Args{}, t.errorf("missing required argument %s for %s", missing[0], t.Name)
	default:
		return Args{}, t.errorf("missing required arguments %s for %s", strings.Join(missing, ", "), t.Name)
	}
}

type field struct {
	name  string
	value json.RawMessage
}

// fields splits raw into its members in object order, keeping duplicates so Decode can refuse
// them rather than let the last one silently win.
func (t Tool) fields(raw json.RawMessage) ([]field, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, t.invalidJSON(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, t.errorf("arguments for %s must be a JSON object, got %s", t.Name, jsonKind(raw))
	}
	var out []field
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, t.invalidJSON(err)
		}
		name, _ := tok.(string) // inside an object the decoder only yields string keys
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, t.invalidJSON(err)
		}
		out = append(out, field{name: name, value: v})
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, t.invalidJSON(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err == nil {
			err = errors.New("data after the arguments object")
		}
		return nil, t.invalidJSON(err)
	}
	return out, nil
}

// decodeValue converts one given argument to the Go value of p's type.
func (t Tool) decodeValue(p Param, v json.RawMessage) (any, error) {
	v = bytes.TrimSpace(v)
	kind := jsonKind(v)
	if kind == "null" && p.Type.Nullable() {
		return nil, nil
	}
	switch p.Type {
	case String, NullableString:
		if kind == "string" {
			return unquote(v), nil
		}
	case Boolean:
		switch kind {
		case "boolean":
			return string(v) == "true", nil
		case "string":
			// T-common-3: "true"/"false", case-insensitive.
			switch s := unquote(v); {
			case strings.EqualFold(s, "true"):
				return true, nil
			case strings.EqualFold(s, "false"):
				return false, nil
			default:
				return nil, t.mismatch(p, "string "+excerpt(s)+", not true or false")
			}
		}
	case Integer:
		switch kind {
		case "number":
			n, ok := integral(string(v))
			if !ok {
				return nil, t.mismatch(p, "number "+numExcerpt(string(v))+", not an integer in "+integerRange)
			}
			return n, nil
		case "string":
			// T-common-3: a decimal numeric string.
			s := unquote(v)
			n, err := strconv.ParseInt(strings.TrimSpace(s), 10, strconv.IntSize)
			if err != nil {
				return nil, t.mismatch(p, "string "+excerpt(s)+", not a decimal integer in "+integerRange)
			}
			return int(n), nil
		}
	case StringArray, NullableStringArray:
		switch kind {
		case "array":
			return t.stringItems(p, v, "array")
		case "string":
			// T-common-3: a string holding a JSON array.
			s := unquote(v)
			inner := bytes.TrimSpace([]byte(s))
			if jsonKind(inner) != "array" || !json.Valid(inner) {
				return nil, t.mismatch(p, "string "+excerpt(s)+", not a JSON array")
			}
			return t.stringItems(p, inner, "string holding an array")
		}
	}
	return nil, t.mismatch(p, kind)
}

// stringItems decodes a valid JSON array whose items must all be strings.
func (t Tool) stringItems(p Param, v json.RawMessage, what string) ([]string, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(v, &items); err != nil {
		return nil, t.mismatch(p, what+" that does not decode")
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		it = bytes.TrimSpace(it)
		if k := jsonKind(it); k != "string" {
			return nil, t.mismatch(p, fmt.Sprintf("%s with %s %s at index %d", what, article(k), k, i))
		}
		out = append(out, unquote(it))
	}
	return out, nil
}

// integerRange names the accepted span of integer parameters in refusals.
var integerRange = fmt.Sprintf("range %d…%d", MinInteger, MaxInteger)

// integral returns the value of a JSON number token when it is an integer that fits in int,
// exactly (no float rounding): 10, -3, 10.0, 1e2 and 2.5e1 qualify; 1.5 and 1e-1 do not.
func integral(num string) (int, bool) {
	if n, err := strconv.ParseInt(num, 10, strconv.IntSize); err == nil {
		return int(n), true
	}
	neg := strings.HasPrefix(num, "-")
	num = strings.TrimPrefix(num, "-")
	mant, exp := num, 0
	if i := strings.IndexAny(num, "eE"); i >= 0 {
		e, err := strconv.Atoi(num[i+1:])
		if err != nil || e > 1<<30 || e < -(1<<30) {
			// No argument is large enough for such an exponent to leave an integer that fits.
			return 0, false
		}
		mant, exp = num[:i], e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(intPart+frac, "0")
	// point is where the decimal point falls within digits once the exponent is applied.
	point := len(intPart) + exp - (len(intPart+frac) - len(digits))
	if digits == "" {
		return 0, true
	}
	if point < len(digits) {
		if point < 0 || strings.Trim(digits[point:], "0") != "" {
			return 0, false
		}
		digits = digits[:point]
	} else {
		if point > 20 { // more than 20 digits exceeds any int
			return 0, false
		}
		digits += strings.Repeat("0", point-len(digits))
	}
	if neg {
		digits = "-" + digits
	}
	n, err := strconv.ParseInt(digits, 10, strconv.IntSize)
	if err != nil {
		return 0, false
	}
	return int(n), true
}

// jsonKind names the JSON type of a syntactically valid value by its first byte.
func jsonKind(v []byte) string {
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

func article(kind string) string {
	if kind == "object" || kind == "array" {
		return "an"
	}
	return "a"
}

// unquote decodes a valid JSON string token.
func unquote(v []byte) string {
	var s string
	_ = json.Unmarshal(v, &s) // v is a string token the decoder already validated
	return s
}

// excerpt quotes s for a message, shortened so a huge argument cannot flood the error.
func excerpt(s string) string {
	const limit = 40
	if len(s) <= limit {
		return strconv.Quote(s)
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…"
}

// numExcerpt shortens a JSON number token (ASCII) for a message.
func numExcerpt(s string) string {
	const limit = 40
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "…"
}

func (t Tool) errorf(format string, args ...any) error {
	return fault.E("args."+t.Name, fault.ArgumentError, format, args...)
}

func (t Tool) invalidJSON(err error) error {
	return fault.Wrap("args."+t.Name, fault.ArgumentError, err, "arguments for %s are not valid JSON", t.Name)
}

// mismatch is the type-mismatch refusal of T-common-2: it names the parameter, the expected type
// and what the caller gave.
func (t Tool) mismatch(p Param, got string) error {
	return t.errorf("argument %q for %s: expected %s, got %s", p.Name, t.Name, p.Type, got)
}

// unknown is the unknown-argument refusal of T-common-2 (D-35): the accepted parameters, the
// closest by edit distance first (the earliest declared on a tie), then the rest in declared order.
func (t Tool) unknown(name string) error {
	if len(t.Params) == 0 {
		return t.errorf("unknown argument %q for %s; accepted: none", name, t.Name)
	}
	best, bestD := 0, -1
	for i, p := range t.Params {
		if d := editDistance(name, p.Name); bestD < 0 || d < bestD {
			best, bestD = i, d
		}
	}
	names := make([]string, 0, len(t.Params))
	names = append(names, t.Params[best].Name)
	for i, p := range t.Params {
		if i != best {
			names = append(names, p.Name)
		}
	}
	return t.errorf("unknown argument %q for %s; accepted: %s", name, t.Name, strings.Join(names, ", "))
}

// editDistance is the Levenshtein distance between a and b, counted in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
