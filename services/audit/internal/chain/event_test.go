package chain_test

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/services/audit/internal/chain"
)

// U-61 examples.
func TestAppendFloat(t *testing.T) {
	tests := []struct {
		give float64
		want string
	}{
		{1, "1.0"}, {1721567890.123456, "1721567890.123456"}, {0.0001, "0.0001"}, {1e16, "1e+16"},
		{1.5e-05, "1.5e-05"}, {1e-7, "1e-07"}, {9999999999999998, "9999999999999998.0"},
		{1e15, "1000000000000000.0"}, {math.Copysign(0, -1), "-0.0"}, {0, "0.0"},
		{math.NaN(), "NaN"}, {math.Inf(1), "Infinity"}, {math.Inf(-1), "-Infinity"},
		{5e-324, "5e-324"}, {math.MaxFloat64, "1.7976931348623157e+308"}, {1e22, "1e+22"},
		{-2.5e-08, "-2.5e-08"}, {123.0, "123.0"}, {0.30000000000000004, "0.30000000000000004"},
	}
	for _, tt := range tests {
		if got := string(chain.AppendFloat(nil, tt.give)); got != tt.want {
			t.Errorf("AppendFloat(%v) = %s, want %s", tt.give, got, tt.want)
		}
	}
}

// U-3: the writer's ts; readers accept 0.1.5's fraction-less form too.
func TestTS(t *testing.T) {
	at := time.Date(2026, 11, 23, 21, 25, 10, 285176999, time.FixedZone("x", 3600))
	if got, want := chain.FormatTS(at), "2026-11-23T20:25:10.285176+00:00"; got != want {
		t.Errorf("FormatTS = %s, want %s", got, want)
	}
	whole := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got, want := chain.FormatTS(whole), "2026-01-01T00:00:00.000000+00:00"; got != want {
		t.Errorf("FormatTS = %s, want %s", got, want)
	}
	for _, s := range []string{"2026-01-01T00:00:00+00:00", "2026-01-01T00:00:00.000000+00:00"} {
		got, err := chain.ParseTS(s)
		if err != nil || !got.Equal(whole) {
			t.Errorf("ParseTS(%s) = %v, %v", s, got, err)
		}
	}
	if _, err := chain.ParseTS("2026-01-01T00:00:00Z"); err == nil {
		t.Error("ParseTS accepted Z")
	}
}

// U-3 detail rules, U-20 session tag, U-4 outcome default.
func TestSeal(t *testing.T) {
	tests := []struct {
		name    string
		give    chain.Intent
		want    string
		wantErr bool
	}{
		{"absent detail", chain.Intent{}, `{}`, false},
		{"null", chain.Intent{Detail: json.RawMessage(`null`)}, `{}`, false},
		{"empty list", chain.Intent{Detail: json.RawMessage(`[]`)}, `{}`, false},
		{"false", chain.Intent{Detail: json.RawMessage(`false`)}, `{}`, false},
		{"zero", chain.Intent{Detail: json.RawMessage(`-0.0`)}, `{}`, false},
		{"empty string", chain.Intent{Detail: json.RawMessage(`""`)}, `{}`, false},
		{"insertion order kept", chain.Intent{Detail: json.RawMessage(`{"z":1,"a":[1.5,"é"]}`)}, `{"z": 1, "a": [1.5, "\u00e9"]}`, false},
		{"session added last", chain.Intent{Session: "s0a1b2c", Detail: json.RawMessage(`{"reason":"x"}`)}, `{"reason": "x", "session": "s0a1b2c"}`, false},
		{"session on empty", chain.Intent{Session: "s0a1b2c"}, `{"session": "s0a1b2c"}`, false},
		{"producer session wins", chain.Intent{Session: "s0a1b2c", Detail: json.RawMessage(`{"session":"mine"}`)}, `{"session": "mine"}`, false},
		{"list detail", chain.Intent{Detail: json.RawMessage(`[1]`)}, "", true},
		{"bad json", chain.Intent{Detail: json.RawMessage(`{`)}, "", true},
		{"bad outcome", chain.Intent{Outcome: "fine"}, "", true},
		{"no id", chain.Intent{ID: "-"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.give
			in.Actor, in.Op = "Recto", "kip_commit"
			switch in.ID {
			case "":
				in.ID = "i-1"
			case "-":
				in.ID = ""
			}
			e, err := chain.Seal(&in, 7, "2026-01-01T00:00:00.000000+00:00", chain.Genesis)
			if tt.wantErr {
				if !errors.Is(err, chain.ErrInvalidIntent) || fault.ClassOf(err) != fault.ArgumentError {
					t.Fatalf("err = %v, want ErrInvalidIntent/ArgumentError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(e.Detail) != tt.want {
				t.Errorf("detail = %s, want %s", e.Detail, tt.want)
			}
			if e.Outcome != chain.Str("ok") || e.Seq != 7 || e.IntentID != "i-1" {
				t.Errorf("row = %+v", e)
			}
			if ok, bad := chain.Verify([]chain.Event{e}); !ok {
				t.Errorf("sealed row fails verify at %d", bad)
			}
			h, err := chain.Hash(chain.Genesis, &e)
			if err != nil || h != e.Hash {
				t.Errorf("Hash = %s, %v; sealed %s", h, err, e.Hash)
			}
		})
	}
}

func TestText(t *testing.T) {
	b, _ := json.Marshal([]chain.Text{{}, chain.Str(""), chain.Str("x")})
	if string(b) != `[null,"","x"]` {
		t.Errorf("marshal = %s", b)
	}
	var got []chain.Text
	if err := json.Unmarshal(b, &got); err != nil || got[0].Valid || !got[1].Valid || got[2].String != "x" {
		t.Errorf("unmarshal = %+v, %v", got, err)
	}
	if chain.OrNull("") != (chain.Text{}) {
		t.Error("OrNull(\"\") is not NULL")
	}
}
