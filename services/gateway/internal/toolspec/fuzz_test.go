package toolspec

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stasima/stasima/pkg/fault"
)

// FuzzDecode checks that Decode never panics, refuses only with ArgumentErrors of its own gate,
// and, when it accepts, holds a value of the declared Go type for every parameter and was given
// only declared names.
func FuzzDecode(f *testing.F) {
	seeds := []struct {
		tool string
		raw  string
	}{
		{"kip_commit", `{"instance_id":"s","domain":"d","slug":"x","body":"b","op_id":"o","tags":"[\"a\"]"}`},
		{"kip_commit", `{"refrences":[]}`},
		{"map_search", `{"instance_id":"s","query":"q","type":null,"limit":"5","include_weak":"TRUE"}`},
		{"imp_send", `{"recipients":["a",1],"subject":"s","body":"b","op_id":"o"}`},
		{"thread_scry", `{"limit":1e2,"offset":-2.5e1}`},
		{"vap_for", `{"limit":1.5}`},
		{"perf_scry", `null`},
		{"arg_scry", `{"term":"a","term":"b"}`},
		{"kip_get", `[]`},
		{"kip_get", ``},
	}
	byName := map[string]int{}
	for i, t := range All() {
		byName[t.Name] = i
	}
	for _, s := range seeds {
		f.Add(uint8(byName[s.tool]), []byte(s.raw))
	}
	tools := All()
	f.Fuzz(func(t *testing.T, which uint8, raw []byte) {
		tool := tools[int(which)%len(tools)]
		a, err := tool.Decode(raw)
		if err != nil {
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Class != fault.ArgumentError || fe.Op != "args."+tool.Name {
				t.Fatalf("refusal %v is not an ArgumentError of args.%s", err, tool.Name)
			}
			return
		}
		if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && string(trimmed) != "null" {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(trimmed, &obj); err != nil {
				t.Fatalf("accepted %q, which is not a JSON object: %v", raw, err)
			}
			for k := range obj {
				if _, ok := tool.Param(k); !ok {
					t.Fatalf("accepted undeclared argument %q", k)
				}
			}
		}
		for k := range a.given {
			if _, ok := tool.Param(k); !ok {
				t.Fatalf("Has(%q) for an undeclared name", k)
			}
		}
		if len(a.values) != len(tool.Params) {
			t.Fatalf("decoded %d values for %d params", len(a.values), len(tool.Params))
		}
		for _, p := range tool.Params {
			v, ok := a.values[p.Name]
			if !ok {
				t.Fatalf("no value for %s", p.Name)
			}
			var typed bool
			switch p.Type {
			case String:
				_, typed = v.(string)
			case NullableString:
				_, typed = v.(string)
				typed = typed || v == nil
			case Boolean:
				_, typed = v.(bool)
			case Integer:
				_, typed = v.(int)
			case StringArray:
				s, isSlice := v.([]string)
				typed = isSlice && s != nil
			case NullableStringArray:
				_, typed = v.([]string)
				typed = typed || v == nil
			}
			if !typed {
				t.Fatalf("%s (%v) holds %#v", p.Name, p.Type, v)
			}
		}
	})
}
