package chain_test

import (
	"testing"

	"github.com/stasima/stasima/services/audit/internal/chain"
)

// Expectations produced by CPython's json.loads then json.dumps(v, sort_keys=True,
// separators=(",", ":")) (canon) and json.dumps(v) (stored); "ERR" where json.loads raised.
// U-9, U-61, U-62.
func TestParseJSON_Python(t *testing.T) {
	tests := []struct{ give, canon, stored string }{
		{"{}", "{}", "{}"},
		{" {\"a\":1} ", "{\"a\":1}", "{\"a\": 1}"},
		{"-0", "0", "0"},
		{"-0.0", "-0.0", "-0.0"},
		{"0", "0", "0"},
		{"01", "ERR", "ERR"},
		{"1.", "ERR", "ERR"},
		{".5", "ERR", "ERR"},
		{"1e5", "100000.0", "100000.0"},
		{"1E+5", "100000.0", "100000.0"},
		{"1e-400", "0.0", "0.0"},
		{"1e400", "Infinity", "Infinity"},
		{"-1e400", "-Infinity", "-Infinity"},
		{"[1,]", "ERR", "ERR"},
		{"{\"a\":1,}", "ERR", "ERR"},
		{"NaN", "NaN", "NaN"},
		{"-NaN", "ERR", "ERR"},
		{"Infinity", "Infinity", "Infinity"},
		{"-Infinity", "-Infinity", "-Infinity"},
		{"infinity", "ERR", "ERR"},
		{"[NaN, -Infinity]", "[NaN,-Infinity]", "[NaN, -Infinity]"},
		{"\"\\ud800\"", "\"\\ud800\"", "\"\\ud800\""},
		{"\"\\ud800\\udc00\"", "\"\\ud800\\udc00\"", "\"\\ud800\\udc00\""},
		{"\"\\udc00\\ud800\"", "\"\\udc00\\ud800\"", "\"\\udc00\\ud800\""},
		{"\"\\ud83d\\u0041\"", "\"\\ud83dA\"", "\"\\ud83dA\""},
		{"\"\\uD83D\\uDE00\"", "\"\\ud83d\\ude00\"", "\"\\ud83d\\ude00\""},
		{"\"\\ud83dx\"", "\"\\ud83dx\"", "\"\\ud83dx\""},
		{"\"a\\/b\"", "\"a/b\"", "\"a/b\""},
		{"\"\\x\"", "ERR", "ERR"},
		{"\"\u0009\"", "ERR", "ERR"},
		{"\"\u007f\"", "\"\\u007f\"", "\"\\u007f\""},
		{"{\"a\":1,\"a\":2,\"b\":3}", "{\"a\":2,\"b\":3}", "{\"a\": 2, \"b\": 3}"},
		{"{\"b\":1,\"a\":2,\"b\":3}", "{\"a\":2,\"b\":3}", "{\"b\": 3, \"a\": 2}"},
		{"\"\\u00e9\"", "\"\\u00e9\"", "\"\\u00e9\""},
		{"\ufeff{}", "ERR", "ERR"},
		{"{}\u000a", "{}", "{}"},
		{"{} x", "ERR", "ERR"},
		{"[1 2]", "ERR", "ERR"},
		{"true", "true", "true"},
		{"tru", "ERR", "ERR"},
		{"nul", "ERR", "ERR"},
		{"[-]", "ERR", "ERR"},
		{"-", "ERR", "ERR"},
		{"-a", "ERR", "ERR"},
		{"1.5e", "ERR", "ERR"},
		{"1.5e+", "ERR", "ERR"},
		{"12345678901234567890123456789", "12345678901234567890123456789", "12345678901234567890123456789"},
		{"-12345678901234567890123456789", "-12345678901234567890123456789", "-12345678901234567890123456789"},
		{"1.0e0", "1.0", "1.0"},
		{"[[[]]]", "[[[]]]", "[[[]]]"},
		{"{\"\\u0000\":1}", "{\"\\u0000\":1}", "{\"\\u0000\": 1}"},
		{"\"\\ud800\\ud800\\udc00\"", "\"\\ud800\\ud800\\udc00\"", "\"\\ud800\\ud800\\udc00\""},
		{"{\"\u00e9\":1,\"\\uff5e\":2,\"\\ud83d\\ude00\":3}", "{\"\\u00e9\":1,\"\\uff5e\":2,\"\\ud83d\\ude00\":3}", "{\"\\u00e9\": 1, \"\\uff5e\": 2, \"\\ud83d\\ude00\": 3}"},
		{"{\"\\udbff\\udfff\":1, \"\\ue000\":2, \"\\ud800\": 3}", "{\"\\ud800\":3,\"\\ue000\":2,\"\\udbff\\udfff\":1}", "{\"\\udbff\\udfff\": 1, \"\\ue000\": 2, \"\\ud800\": 3}"},
		{"\u000d\u000a[]\u0009", "[]", "[]"},
		{"1 ", "1", "1"},
		{" ", "ERR", "ERR"},
		{"", "ERR", "ERR"},
		{"[1,\u000a2]", "[1,2]", "[1, 2]"},
		{"{\"a\" : 1}", "{\"a\":1}", "{\"a\": 1}"},
		{"2.5E-3", "0.0025", "0.0025"},
		{"0e1", "0.0", "0.0"},
		{"-0e0", "-0.0", "-0.0"},
		{"100000000000000000000.0", "1e+20", "1e+20"},
		{"1e16", "1e+16", "1e+16"},
		{"123e-2", "1.23", "1.23"},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			v, err := chain.ParseJSON([]byte(tt.give))
			if tt.canon == "ERR" {
				if err == nil {
					t.Fatalf("parsed to %s, want an error", v.Canonical())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := v.Canonical(); got != tt.canon {
				t.Errorf("canonical = %s, want %s", got, tt.canon)
			}
			if got := string(v.AppendStored(nil)); got != tt.stored {
				t.Errorf("stored = %s, want %s", got, tt.stored)
			}
		})
	}
}
