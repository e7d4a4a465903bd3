package chain_test

import (
	"math"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/stasima/stasima/services/audit/internal/chain"
)

// FuzzParseJSON: the decoder never panics, and whatever it accepts is a fixed point of
// canonical∘parse and of stored∘parse, with both forms hashing alike (U-9, U-62).
func FuzzParseJSON(f *testing.F) {
	_, rows := loadVectors(f)
	for _, r := range rows {
		f.Add([]byte(r.Detail))
	}
	for _, s := range []string{`-0`, `1e400`, `NaN`, `"\ud800"`, `"\udbff\udfff"`, `{"a":1,"a":2}`, `[1.0,-0.0,5e-324]`, `{"\u00e9":1,"e":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := chain.ParseJSON(data)
		if err != nil {
			return
		}
		canon := v.Canonical()
		v2, err := chain.ParseJSON([]byte(canon))
		if err != nil {
			t.Fatalf("canonical %q does not parse: %v", canon, err)
		}
		if got := v2.Canonical(); got != canon {
			t.Fatalf("canonical not stable:\n%q\n%q", canon, got)
		}
		stored := v.AppendStored(nil)
		v3, err := chain.ParseJSON(stored)
		if err != nil {
			t.Fatalf("stored %q does not parse: %v", stored, err)
		}
		if got := v3.Canonical(); got != canon {
			t.Fatalf("stored form hashes differently:\n%q\n%q", canon, got)
		}
		if got := string(v3.AppendStored(nil)); got != string(stored) {
			t.Fatalf("stored form not stable:\n%q\n%q", stored, got)
		}
		for _, b := range []byte(canon) {
			if b < 0x20 || b > 0x7e {
				t.Fatalf("canonical form has byte %#x", b)
			}
		}
	})
}

// FuzzAppendString: every Go string encodes to ASCII that parses back to it (valid UTF-8)
// and re-encodes identically.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b\\c", "\x00\x1f\x7f\u0080", "😀", "\xff", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := chain.AppendString(nil, s)
		v, err := chain.ParseJSON(enc)
		if err != nil {
			t.Fatalf("%q encodes to %q, which does not parse: %v", s, enc, err)
		}
		if v.Kind() != chain.KindString {
			t.Fatalf("kind %v", v.Kind())
		}
		if utf8.ValidString(s) && v.String() != s {
			t.Fatalf("round trip %q -> %q", s, v.String())
		}
		if again := chain.AppendString(nil, v.String()); string(again) != string(enc) {
			t.Fatalf("re-encode %q -> %q", enc, again)
		}
	})
}

// FuzzAppendFloat: the repr round-trips to the same binary64 (U-61).
func FuzzAppendFloat(f *testing.F) {
	for _, x := range []float64{0, math.Copysign(0, -1), 1e16, 1e-5, 5e-324, math.MaxFloat64, 0.1} {
		f.Add(math.Float64bits(x))
	}
	f.Fuzz(func(t *testing.T, bits uint64) {
		x := math.Float64frombits(bits)
		s := string(chain.AppendFloat(nil, x))
		v, err := chain.ParseJSON([]byte(s))
		if err != nil || v.Kind() != chain.KindFloat {
			t.Fatalf("%v -> %q: %v (kind %v)", x, s, err, v.Kind())
		}
		if math.IsNaN(x) {
			return
		}
		got, _ := strconv.ParseFloat(v.Canonical(), 64)
		if s == "Infinity" || s == "-Infinity" {
			return
		}
		if math.Float64bits(got) != bits {
			t.Fatalf("%q round-trips to %v, want %v", s, got, x)
		}
	})
}
