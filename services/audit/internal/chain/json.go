package chain

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrSyntax is wrapped by every ParseJSON error.
var ErrSyntax = errors.New("invalid detail JSON")

// maxDepth bounds nesting so a hostile detail cannot exhaust the stack. CPython's json module
// gives up near 1000 levels (RecursionError), so every row 0.1.5 could verify fits.
const maxDepth = 10000

// Kind is the JSON type of a Value, with integers and floats kept apart (U-9).
type Kind uint8

// The kinds of Value.
const (
	KindNull Kind = iota
	KindBool
	KindInt
	KindFloat
	KindString
	KindArray
	KindObject
)

// Value is a parsed detail value with Python json semantics: integers of any size (kept as
// their decimal digits), binary64 floats including NaN and ±Inf, strings as code-point
// sequences (lone surrogates preserved, held as WTF-8), arrays, and objects in insertion order
// with duplicate keys collapsed as Python's dict does (first position, last value).
//
// The zero Value is null.
type Value struct {
	kind Kind
	b    bool
	f    float64
	s    string // KindInt: normalised decimal digits; KindString: WTF-8 text
	arr  []Value
	obj  []Member
}

// Member is one key/value pair of an object Value.
type Member struct {
	Key   string
	Value Value
}

// Kind returns v's kind.
func (v Value) Kind() Kind { return v.kind }

// Members returns an object's members in insertion order (nil for other kinds). The slice
// aliases v; do not modify it.
func (v Value) Members() []Member { return v.obj }

// Lookup returns the value of key in an object and whether it is present.
func (v Value) Lookup(key string) (Value, bool) {
	for _, m := range v.obj {
		if m.Key == key {
			return m.Value, true
		}
	}
	return Value{}, false
}

// String returns a string Value's text.
func (v Value) String() string {
	if v.kind == KindString {
		return v.s
	}
	return v.Canonical()
}

// StringValue returns a string Value.
func StringValue(s string) Value { return Value{kind: KindString, s: s} }

// IntValue returns an integer Value.
func IntValue(i int64) Value { return Value{kind: KindInt, s: strconv.FormatInt(i, 10)} }

// FloatValue returns a float Value.
func FloatValue(f float64) Value { return Value{kind: KindFloat, f: f} }

// ObjectValue returns an object Value with the given members (later duplicates win, as in
// ParseJSON).
func ObjectValue(members ...Member) Value {
	v := Value{kind: KindObject, obj: []Member{}}
	for _, m := range members {
		v.obj = setMember(v.obj, nil, m.Key, m.Value)
	}
	return v
}

// truthy reports Python truthiness, which 0.1.5 applied to the whole detail (`detail or {}`).
func (v Value) truthy() bool {
	switch v.kind {
	case KindNull:
		return false
	case KindBool:
		return v.b
	case KindInt:
		return v.s != "0"
	case KindFloat:
		return v.f != 0 // NaN is truthy in Python, and NaN != 0
	case KindString:
		return v.s != ""
	case KindArray:
		return len(v.arr) > 0
	}
	return len(v.obj) > 0
}

// ParseJSON parses text the way Python's json.loads does (U-9): a number token containing '.',
// 'e' or 'E' is a float, any other is an integer of unbounded size; NaN, Infinity and -Infinity
// are accepted; raw control characters inside strings are rejected; \u escapes pair into astral
// code points only when a high surrogate is directly followed by a low one, and lone surrogates
// are kept; surrounding whitespace (space, tab, newline, carriage return) is allowed.
func ParseJSON(text []byte) (Value, error) {
	p := parser{data: text}
	p.skipWS()
	v, err := p.value(0)
	if err != nil {
		return Value{}, err
	}
	p.skipWS()
	if p.pos != len(p.data) {
		return Value{}, p.errorf("extra data")
	}
	return v, nil
}

type parser struct {
	data []byte
	pos  int
	buf  []byte // scratch for strings with escapes
	// Open containers collect their elements on these stacks and copy them out once, at
	// their exact size, when they close.
	members []Member
	values  []Value
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s at offset %d", ErrSyntax, fmt.Sprintf(format, args...), p.pos)
}

func (p *parser) skipWS() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) literal(word string) bool {
	if strings.HasPrefix(string(p.data[p.pos:min(len(p.data), p.pos+len(word))]), word) {
		p.pos += len(word)
		return true
	}
	return false
}

func (p *parser) value(depth int) (Value, error) {
	if depth > maxDepth {
		return Value{}, p.errorf("nesting deeper than %d", maxDepth)
	}
	if p.pos >= len(p.data) {
		return Value{}, p.errorf("expecting value")
	}
	switch c := p.data[p.pos]; c {
	case '{':
		return p.object(depth)
	case '[':
		return p.array(depth)
	case '"':
		s, err := p.str()
		return Value{kind: KindString, s: s}, err
	case 'n':
		if p.literal("null") {
			return Value{}, nil
		}
	case 't':
		if p.literal("true") {
			return Value{kind: KindBool, b: true}, nil
		}
	case 'f':
		if p.literal("false") {
			return Value{kind: KindBool}, nil
		}
	case 'N':
		if p.literal("NaN") {
			return Value{kind: KindFloat, f: math.NaN()}, nil
		}
	case 'I':
		if p.literal("Infinity") {
			return Value{kind: KindFloat, f: math.Inf(1)}, nil
		}
	default:
		if c == '-' || ('0' <= c && c <= '9') {
			return p.number()
		}
	}
	return Value{}, p.errorf("expecting value")
}

func (p *parser) object(depth int) (Value, error) {
	p.pos++ // '{'
	base := len(p.members)
	defer func() { p.members = p.members[:base] }()
	var index map[string]int // built lazily for large objects
	p.skipWS()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return Value{kind: KindObject, obj: []Member{}}, nil
	}
	for {
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return Value{}, p.errorf("expecting property name enclosed in double quotes")
		}
		key, err := p.str()
		if err != nil {
			return Value{}, err
		}
		p.skipWS()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return Value{}, p.errorf("expecting ':' delimiter")
		}
		p.pos++
		p.skipWS()
		val, err := p.value(depth + 1)
		if err != nil {
			return Value{}, err
		}
		open := p.members[base:]
		if index == nil && len(open) >= 16 {
			index = make(map[string]int, 2*len(open))
			for i, m := range open {
				index[m.Key] = i
			}
		}
		if i := memberIndex(open, index, key); i >= 0 {
			open[i].Value = val
		} else {
			if index != nil {
				index[key] = len(open)
			}
			p.members = append(p.members, Member{key, val})
		}
		p.skipWS()
		if p.pos >= len(p.data) {
			return Value{}, p.errorf("expecting ',' delimiter")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
			p.skipWS()
		case '}':
			p.pos++
			return Value{kind: KindObject, obj: slices.Clone(p.members[base:])}, nil
		default:
			return Value{}, p.errorf("expecting ',' delimiter")
		}
	}
}

// memberIndex returns key's position in obj, or -1; index, when non-nil, maps keys to positions.
func memberIndex(obj []Member, index map[string]int, key string) int {
	if index != nil {
		if i, ok := index[key]; ok {
			return i
		}
		return -1
	}
	for i := range obj {
		if obj[i].Key == key {
			return i
		}
	}
	return -1
}

// setMember gives Python dict assignment semantics: an existing key keeps its position and
// takes the new value. index, when non-nil, maps keys to positions and is kept up to date.
func setMember(obj []Member, index map[string]int, key string, val Value) []Member {
	if i := memberIndex(obj, index, key); i >= 0 {
		obj[i].Value = val
		return obj
	}
	if index != nil {
		index[key] = len(obj)
	}
	return append(obj, Member{key, val})
}

func (p *parser) array(depth int) (Value, error) {
	p.pos++ // '['
	base := len(p.values)
	defer func() { p.values = p.values[:base] }()
	p.skipWS()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return Value{kind: KindArray, arr: []Value{}}, nil
	}
	for {
		el, err := p.value(depth + 1)
		if err != nil {
			return Value{}, err
		}
		p.values = append(p.values, el)
		p.skipWS()
		if p.pos >= len(p.data) {
			return Value{}, p.errorf("expecting ',' delimiter")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
			p.skipWS()
		case ']':
			p.pos++
			return Value{kind: KindArray, arr: slices.Clone(p.values[base:])}, nil
		default:
			return Value{}, p.errorf("expecting ',' delimiter")
		}
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// number scans Python's NUMBER_RE: -?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?
func (p *parser) number() (Value, error) {
	start := p.pos
	d := p.data
	if d[p.pos] == '-' {
		p.pos++
		if p.literal("Infinity") {
			return Value{kind: KindFloat, f: math.Inf(-1)}, nil
		}
	}
	switch {
	case p.pos < len(d) && d[p.pos] == '0':
		p.pos++
	case p.pos < len(d) && '1' <= d[p.pos] && d[p.pos] <= '9':
		for p.pos < len(d) && isDigit(d[p.pos]) {
			p.pos++
		}
	default:
		p.pos = start
		return Value{}, p.errorf("expecting value")
	}
	isFloat := false
	if p.pos+1 < len(d) && d[p.pos] == '.' && isDigit(d[p.pos+1]) {
		isFloat = true
		p.pos += 2
		for p.pos < len(d) && isDigit(d[p.pos]) {
			p.pos++
		}
	}
	if p.pos < len(d) && (d[p.pos] == 'e' || d[p.pos] == 'E') {
		q := p.pos + 1
		if q < len(d) && (d[q] == '+' || d[q] == '-') {
			q++
		}
		if q < len(d) && isDigit(d[q]) {
			isFloat = true
			for q < len(d) && isDigit(d[q]) {
				q++
			}
			p.pos = q
		}
	}
	tok := string(d[start:p.pos])
	if !isFloat {
		if tok == "-0" {
			tok = "0" // Python's int("-0") is 0
		}
		return Value{kind: KindInt, s: tok}, nil
	}
	f, err := strconv.ParseFloat(tok, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return Value{}, p.errorf("number %q: %v", tok, err)
	}
	// ErrRange: f is ±Inf or 0, exactly what Python's float() gives.
	return Value{kind: KindFloat, f: f}, nil
}

func hexVal(b []byte) (rune, bool) {
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case '0' <= c && c <= '9':
			r |= rune(c - '0')
		case 'a' <= c && c <= 'f':
			r |= rune(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

// appendWTF8 appends r as UTF-8, encoding surrogate code points (which UTF-8 forbids) with
// the same three-byte pattern, so lone surrogates survive and byte order stays code-point order.
func appendWTF8(dst []byte, r rune) []byte {
	if 0xD800 <= r && r <= 0xDFFF {
		return append(dst, byte(0xE0|r>>12), byte(0x80|(r>>6)&0x3F), byte(0x80|r&0x3F))
	}
	return utf8.AppendRune(dst, r)
}

func (p *parser) str() (string, error) {
	p.pos++ // opening quote
	d := p.data
	start := p.pos
	// Fast path: no escapes.
	for p.pos < len(d) {
		c := d[p.pos]
		if c == '"' {
			s := d[start:p.pos]
			if !utf8.Valid(s) {
				return "", p.errorf("invalid UTF-8 in string")
			}
			p.pos++
			return string(s), nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.pos++
	}
	buf := append(p.buf[:0], d[start:p.pos]...)
	for {
		if p.pos >= len(d) {
			return "", p.errorf("unterminated string")
		}
		c := d[p.pos]
		switch {
		case c == '"':
			p.pos++
			p.buf = buf
			return string(buf), nil
		case c < 0x20:
			return "", p.errorf("invalid control character")
		case c < utf8.RuneSelf:
			if c != '\\' {
				buf = append(buf, c)
				p.pos++
				continue
			}
		default:
			r, size := utf8.DecodeRune(d[p.pos:])
			if r == utf8.RuneError && size == 1 {
				return "", p.errorf("invalid UTF-8 in string")
			}
			buf = append(buf, d[p.pos:p.pos+size]...)
			p.pos += size
			continue
		}
		// Backslash escape.
		if p.pos+1 >= len(d) {
			return "", p.errorf("unterminated string")
		}
		esc := d[p.pos+1]
		p.pos += 2
		switch esc {
		case '"', '\\', '/':
			buf = append(buf, esc)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			if p.pos+4 > len(d) {
				return "", p.errorf("invalid \\uXXXX escape")
			}
			r, ok := hexVal(d[p.pos : p.pos+4])
			if !ok {
				return "", p.errorf("invalid \\uXXXX escape")
			}
			p.pos += 4
			if 0xD800 <= r && r <= 0xDBFF && p.pos+6 <= len(d) && d[p.pos] == '\\' && d[p.pos+1] == 'u' {
				if lo, ok := hexVal(d[p.pos+2 : p.pos+6]); ok && 0xDC00 <= lo && lo <= 0xDFFF {
					r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
					p.pos += 6
				}
			}
			buf = appendWTF8(buf, r)
		default:
			p.pos -= 2
			return "", p.errorf("invalid \\escape")
		}
	}
}

// Canonical returns v in the canonical form of U-7.
func (v Value) Canonical() string { return string(v.AppendCanonical(nil)) }

// AppendCanonical appends v in the canonical form of U-7: keys sorted by code point at every
// level, no whitespace, ASCII-only strings, Python float repr (U-61).
func (v Value) AppendCanonical(dst []byte) []byte { return v.encode(dst, true) }

// AppendStored appends v in the stored-detail form of U-62, which is Python's json.dumps
// default: insertion order, ", " and ": " separators, ASCII-only strings.
func (v Value) AppendStored(dst []byte) []byte { return v.encode(dst, false) }

func (v Value) encode(dst []byte, canonical bool) []byte {
	switch v.kind {
	case KindNull:
		return append(dst, "null"...)
	case KindBool:
		if v.b {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case KindInt:
		return append(dst, v.s...)
	case KindFloat:
		return AppendFloat(dst, v.f)
	case KindString:
		return AppendString(dst, v.s)
	case KindArray:
		dst = append(dst, '[')
		for i, el := range v.arr {
			if i > 0 {
				dst = appendSep(dst, ',', canonical)
			}
			dst = el.encode(dst, canonical)
		}
		return append(dst, ']')
	}
	members := v.obj
	if canonical && len(members) > 1 && !slices.IsSortedFunc(members, cmpMember) {
		members = slices.SortedFunc(slices.Values(members), cmpMember)
	}
	dst = append(dst, '{')
	for i, m := range members {
		if i > 0 {
			dst = appendSep(dst, ',', canonical)
		}
		dst = AppendString(dst, m.Key)
		dst = appendSep(dst, ':', canonical)
		dst = m.Value.encode(dst, canonical)
	}
	return append(dst, '}')
}

// cmpMember orders keys by code point, as Python sorts str. Keys are WTF-8, whose byte order
// is code-point order (unlike UTF-16 order, which puts astral characters before U+E000–U+FFFF).
func cmpMember(a, b Member) int { return strings.Compare(a.Key, b.Key) }

func appendSep(dst []byte, c byte, compact bool) []byte {
	if compact {
		return append(dst, c)
	}
	return append(dst, c, ' ')
}

const hexDigits = "0123456789abcdef"

// plain marks the bytes AppendString copies unchanged: printable ASCII except '"' and '\\'.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x7F; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// AppendString appends s as a JSON string the way Python's json.dumps does with
// ensure_ascii=True: `"` and `\` escaped, \b \f \n \r \t as short escapes, every other code
// point outside U+0020–U+007E as \uXXXX in lowercase hex, astral code points as a UTF-16
// surrogate pair. s is read as WTF-8 (lone surrogates are written as themselves); a byte that
// is not part of any encoded code point is written as \ufffd.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if plain[c] {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = appendU(dst, rune(c))
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			if i+2 < len(s) && s[i] == 0xED && s[i+1] >= 0xA0 && s[i+1] <= 0xBF && s[i+2] >= 0x80 && s[i+2] <= 0xBF {
				r = 0xD000 | rune(s[i+1]&0x3F)<<6 | rune(s[i+2]&0x3F)
				size = 3
			} else {
				r = utf8.RuneError
			}
		}
		if r >= 0x10000 {
			r -= 0x10000
			dst = appendU(dst, 0xD800+(r>>10))
			dst = appendU(dst, 0xDC00+(r&0x3FF))
		} else {
			dst = appendU(dst, r)
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func appendU(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u', hexDigits[r>>12&0xF], hexDigits[r>>8&0xF], hexDigits[r>>4&0xF], hexDigits[r&0xF])
}

// AppendFloat appends f as Python's float repr (U-61): the shortest digits that round-trip,
// positional when the decimal exponent e satisfies -4 <= e < 16 (always with a fractional
// digit), otherwise d.ddde±XX; NaN, Infinity and -Infinity for the non-finite values.
func AppendFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	case f == 0:
		if math.Signbit(f) {
			return append(dst, "-0.0"...)
		}
		return append(dst, "0.0"...)
	}
	var scratch [32]byte
	b := strconv.AppendFloat(scratch[:0], f, 'e', -1, 64) // [-]d[.ddd]e±XX
	if b[0] == '-' {
		dst = append(dst, '-')
		b = b[1:]
	}
	ei := slices.Index(b, 'e')
	mant, expText := b[:ei], b[ei+1:]
	exp, _ := strconv.Atoi(string(expText))
	var digitsBuf [24]byte
	digits := append(digitsBuf[:0], mant[0])
	if len(mant) > 2 {
		digits = append(digits, mant[2:]...)
	}
	if exp < -4 || exp >= 16 {
		dst = append(dst, digits[0])
		if len(digits) > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:]...)
		}
		dst = append(dst, 'e')
		if exp < 0 {
			dst = append(dst, '-')
			exp = -exp
		} else {
			dst = append(dst, '+')
		}
		if exp < 10 {
			dst = append(dst, '0')
		}
		return strconv.AppendInt(dst, int64(exp), 10)
	}
	if exp < 0 {
		dst = append(dst, '0', '.')
		for range -exp - 1 {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	}
	point := exp + 1
	if len(digits) <= point {
		dst = append(dst, digits...)
		for range point - len(digits) {
			dst = append(dst, '0')
		}
		return append(dst, '.', '0')
	}
	dst = append(dst, digits[:point]...)
	dst = append(dst, '.')
	return append(dst, digits[point:]...)
}
