package toolspec

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/stasima/stasima/pkg/fault"
)

// value reads a parameter back through the accessor of its type; null reads as nil.
func value(a Args, p Param) any {
	if a.IsNull(p.Name) {
		return nil
	}
	switch p.Type {
	case String, NullableString:
		return a.String(p.Name)
	case Boolean:
		return a.Bool(p.Name)
	case Integer:
		return a.Int(p.Name)
	}
	return a.Strings(p.Name)
}

func mustLookup(t *testing.T, name string) Tool {
	t.Helper()
	tool, ok := Lookup(name)
	if !ok {
		t.Fatalf("Lookup(%q) = false", name)
	}
	return tool
}

// T-common-2, T-common-3: accepted arguments, lenient forms and defaults.
func TestTool_Decode(t *testing.T) {
	tests := []struct {
		name     string
		tool     string
		give     string
		want     map[string]any // decoded values of the named parameters (nil = null)
		wantHas  []string       // exactly the parameters the caller gave
		wantNull []string
	}{
		{
			name: "defaults fill absent params (T-common-2)",
			tool: "kip_commit",
			give: `{"instance_id":"seat-1","domain":"practice","slug":"x","body":"b","op_id":"op-1"}`,
			want: map[string]any{
				"instance_id": "seat-1", "title": "", "type": "kno", "status": "active",
				"tags": nil, "references": nil, "supersedes": nil, "superseded_by": nil,
				"horizon": "", "horizon_title": "", "tick": "", "thread": "",
			},
			wantHas:  []string{"instance_id", "domain", "slug", "body", "op_id"},
			wantNull: []string{"tags", "references", "supersedes", "superseded_by"},
		},
		{
			name: "native types",
			tool: "map_search",
			give: `{"instance_id":"s","query":"q","type":"kno","limit":3,"include_weak":true}`,
			want: map[string]any{
				"scope": "all", "type": "kno", "limit": 3, "include_superseded": false,
				"include_weak": true,
			},
			wantHas: []string{"instance_id", "query", "type", "limit", "include_weak"},
		},
		{
			name:    "null raw is an empty object (T-common-2)",
			tool:    "thread_scry",
			give:    `null`,
			want:    map[string]any{"thread": "", "limit": 16, "offset": 0},
			wantHas: []string{},
		},
		{
			name:    "empty raw is an empty object",
			tool:    "vap_for",
			give:    " \n",
			want:    map[string]any{"detail": "pointer", "limit": 16, "offset": 0, "entry": ""},
			wantHas: []string{},
		},
		{
			name:    "no-parameter tool takes {}",
			tool:    "perf_scry",
			give:    `{}`,
			want:    map[string]any{},
			wantHas: []string{},
		},
		{
			name: "nullable params accept null and count as given",
			tool: "map_search",
			give: `{"instance_id":"s","query":"q","type":null}`,
			want: map[string]any{"type": nil}, wantHas: []string{"instance_id", "query", "type"},
			wantNull: []string{"type"},
		},
		{
			name: "nullable array accepts null, [] and strings",
			tool: "kip_commit",
			give: `{"instance_id":"s","domain":"d","slug":"x","body":"b","op_id":"o",` +
				`"tags":null,"references":[],"supersedes":["d/a.md","d/b.md"]}`,
			want: map[string]any{
				"tags": nil, "references": []string{}, "supersedes": []string{"d/a.md", "d/b.md"},
			},
			wantHas:  []string{"instance_id", "domain", "slug", "body", "op_id", "tags", "references", "supersedes"},
			wantNull: []string{"tags", "superseded_by"},
		},
		{
			name: "string holding a JSON array (T-common-3)",
			tool: "kip_commit",
			give: `{"instance_id":"s","domain":"d","slug":"x","body":"b","op_id":"o",` +
				`"tags":"[\"a\", \"b\"]","references":" [ ] ","superseded_by":"[\"d/n.md\"]"}`,
			want: map[string]any{
				"tags": []string{"a", "b"}, "references": []string{}, "superseded_by": []string{"d/n.md"},
			},
			wantHas:  []string{"instance_id", "domain", "slug", "body", "op_id", "tags", "references", "superseded_by"},
			wantNull: []string{"supersedes"},
		},
		{
			name:     "plain array accepts a string holding one (T-common-3)",
			tool:     "imp_send",
			give:     `{"recipients":"[\"seat-2\"]","subject":"s","body":"b","op_id":"o","instance_id":"seat-1"}`,
			want:     map[string]any{"recipients": []string{"seat-2"}, "sender": "", "coordinates": nil},
			wantHas:  []string{"recipients", "subject", "body", "op_id", "instance_id"},
			wantNull: []string{"coordinates", "supersedes"},
		},
		{
			name:     "empty recipients stay a non-nil empty list (T-imp_send-5)",
			tool:     "imp_send",
			give:     `{"recipients":[],"subject":"s","body":"b","op_id":"o"}`,
			want:     map[string]any{"recipients": []string{}},
			wantHas:  []string{"recipients", "subject", "body", "op_id"},
			wantNull: []string{"coordinates", "supersedes"},
		},
		{
			name:    "boolean strings in any case (T-common-3)",
			tool:    "kip_get",
			give:    `{"ref":"canon","path":"p","with_vantages":"TRUE"}`,
			want:    map[string]any{"with_vantages": true, "resolve": "live"},
			wantHas: []string{"ref", "path", "with_vantages"},
		},
		{
			name:    "boolean string false",
			tool:    "imp_check",
			give:    `{"instance_id":"s","unread_only":"False"}`,
			want:    map[string]any{"unread_only": false},
			wantHas: []string{"instance_id", "unread_only"},
		},
		{
			name:    "integer strings (T-common-3)",
			tool:    "thread_scry",
			give:    `{"limit":"25","offset":" -3 "}`,
			want:    map[string]any{"limit": 25, "offset": -3},
			wantHas: []string{"limit", "offset"},
		},
		{
			name:    "integral JSON numbers",
			tool:    "vap_for",
			give:    `{"limit":10.0,"offset":1e2}`,
			want:    map[string]any{"limit": 10, "offset": 100},
			wantHas: []string{"limit", "offset"},
		},
		{
			name:    "negative and exponent forms",
			tool:    "vap_for",
			give:    `{"limit":-2.50e1,"offset":-0}`,
			want:    map[string]any{"limit": -25, "offset": 0},
			wantHas: []string{"limit", "offset"},
		},
		{
			name:    "strings are taken verbatim",
			tool:    "arg_scry",
			give:    `{"term":" true \u00e9"}`,
			want:    map[string]any{"term": " true é"},
			wantHas: []string{"term"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tool := mustLookup(t, tt.tool)
			a, err := tool.Decode([]byte(tt.give))
			if err != nil {
				t.Fatalf("Decode(%s): %v", tt.give, err)
			}
			for name, want := range tt.want {
				p, ok := tool.Param(name)
				if !ok {
					t.Fatalf("test names undeclared param %q", name)
				}
				if got := value(a, p); !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v, want %#v", name, got, want)
				}
			}
			var has, null []string
			for _, p := range tool.Params {
				if a.Has(p.Name) {
					has = append(has, p.Name)
				}
				if a.IsNull(p.Name) {
					null = append(null, p.Name)
				}
			}
			if strings.Join(has, ",") != strings.Join(tt.wantHas, ",") {
				t.Errorf("Has: got %v, want %v", has, tt.wantHas)
			}
			if strings.Join(null, ",") != strings.Join(tt.wantNull, ",") {
				t.Errorf("IsNull: got %v, want %v", null, tt.wantNull)
			}
		})
	}
}

// T-common-2, T-common-3: refusals are ArgumentErrors of gate args.<tool>.
func TestTool_Decode_refused(t *testing.T) {
	const kipCommitOK = `"instance_id":"s","domain":"d","slug":"x","body":"b","op_id":"o"`
	tests := []struct {
		name string
		tool string
		give string
		want string // exact message, or a fragment when wantFragment
		frag bool
	}{
		// D-35: closest match first, then the rest in declared order.
		{
			name: "unknown argument, closest first (D-35)",
			tool: "kip_commit",
			give: `{` + kipCommitOK + `,"refrences":["a"]}`,
			want: `unknown argument "refrences" for kip_commit; accepted: references, instance_id, ` +
				`domain, slug, body, op_id, title, type, tags, supersedes, status, superseded_by, ` +
				`horizon, horizon_title, tick, thread`,
		},
		{
			name: "unknown argument, ties keep declared order (D-35)",
			tool: "kip_get",
			give: `{"zzzzzzzzzzzzzzzzzzzz":1}`,
			want: `unknown argument "zzzzzzzzzzzzzzzzzzzz" for kip_get; accepted: ref, path, resolve, with_vantages`,
		},
		{
			name: "unknown argument, case differs",
			tool: "kip_get",
			give: `{"ref":"canon","Path":"p"}`,
			want: `unknown argument "Path" for kip_get; accepted: path, ref, resolve, with_vantages`,
		},
		{
			name: "unknown argument on a tool without parameters",
			tool: "perf_scry",
			give: `{"verbose":true}`,
			want: `unknown argument "verbose" for perf_scry; accepted: none`,
		},
		{
			name: "unknown argument reported before a type mismatch",
			tool: "thread_scry",
			give: `{"limit":"x","bogus":1}`,
			want: `unknown argument "bogus" for thread_scry; accepted: `, frag: true,
		},
		{
			name: "removed parameter of imp_flags_all is unknown",
			tool: "imp_flags",
			give: `{"all":true}`,
			want: `unknown argument "all" for imp_flags; accepted: instance_id`,
		},
		{
			name: "duplicate argument",
			tool: "arg_scry",
			give: `{"term":"a","term":"b"}`,
			want: `duplicate argument "term" for arg_scry`,
		},
		// Missing required arguments.
		{
			name: "missing required argument (T-common-2)",
			tool: "kip_get",
			give: `{"ref":"canon"}`,
			want: `missing required argument "path" for kip_get`,
		},
		{
			name: "missing required arguments, all named in declared order",
			tool: "kip_commit",
			give: `{}`,
			want: `missing required arguments "instance_id", "domain", "slug", "body", "op_id" for kip_commit`,
		},
		{
			name: "null raw still needs required arguments",
			tool: "announce",
			give: `null`,
			want: `missing required argument "instance_id" for announce`,
		},
		{
			name: "type mismatch reported before missing arguments",
			tool: "map_search",
			give: `{"limit":"ten"}`,
			want: `argument "limit" for map_search: expected integer, got string "ten", not a decimal integer in range -9223372036854775808…9223372036854775807`,
		},
		// Type mismatches, one per Type.
		{
			name: "string given a number (T-common-3)",
			tool: "announce",
			give: `{"instance_id":7}`,
			want: `argument "instance_id" for announce: expected string, got number`,
		},
		{
			name: "string given an array",
			tool: "kip_commit",
			give: `{` + kipCommitOK + `,"title":["t"]}`,
			want: `argument "title" for kip_commit: expected string, got array`,
		},
		{
			name: "string given a boolean",
			tool: "kip_get",
			give: `{"ref":true,"path":"p"}`,
			want: `argument "ref" for kip_get: expected string, got boolean`,
		},
		{
			name: "non-nullable string given null",
			tool: "kip_get",
			give: `{"ref":null,"path":"p"}`,
			want: `argument "ref" for kip_get: expected string, got null`,
		},
		{
			name: "nullable string given a number",
			tool: "map_search",
			give: `{"instance_id":"s","query":"q","type":1}`,
			want: `argument "type" for map_search: expected string or null, got number`,
		},
		{
			name: "boolean given a number",
			tool: "kip_get",
			give: `{"ref":"canon","path":"p","with_vantages":1}`,
			want: `argument "with_vantages" for kip_get: expected boolean, got number`,
		},
		{
			name: "boolean given another string",
			tool: "kip_get",
			give: `{"ref":"canon","path":"p","with_vantages":"yes"}`,
			want: `argument "with_vantages" for kip_get: expected boolean, got string "yes", not true or false`,
		},
		{
			name: "boolean given null",
			tool: "imp_check",
			give: `{"instance_id":"s","unread_only":null}`,
			want: `argument "unread_only" for imp_check: expected boolean, got null`,
		},
		{
			name: "integer given a fraction",
			tool: "map_search",
			give: `{"instance_id":"s","query":"q","limit":1.5}`,
			want: `argument "limit" for map_search: expected integer, got number 1.5, not an integer in range -9223372036854775808…9223372036854775807`,
		},
		{
			name: "integer out of range",
			tool: "thread_scry",
			give: `{"offset":1e30}`,
			want: `argument "offset" for thread_scry: expected integer, got number 1e30, not an integer in range -9223372036854775808…9223372036854775807`,
		},
		{
			name: "integer string with a fraction",
			tool: "thread_scry",
			give: `{"limit":"1.0"}`,
			want: `argument "limit" for thread_scry: expected integer, got string "1.0", not a decimal integer in range -9223372036854775808…9223372036854775807`,
		},
		{
			name: "integer given a boolean",
			tool: "thread_scry",
			give: `{"limit":true}`,
			want: `argument "limit" for thread_scry: expected integer, got boolean`,
		},
		{
			name: "array given an object",
			tool: "imp_send",
			give: `{"recipients":{"a":1},"subject":"s","body":"b","op_id":"o"}`,
			want: `argument "recipients" for imp_send: expected array of string, got object`,
		},
		{
			name: "array given null",
			tool: "imp_send",
			give: `{"recipients":null,"subject":"s","body":"b","op_id":"o"}`,
			want: `argument "recipients" for imp_send: expected array of string, got null`,
		},
		{
			name: "array with a non-string item",
			tool: "imp_send",
			give: `{"recipients":["a",2],"subject":"s","body":"b","op_id":"o"}`,
			want: `argument "recipients" for imp_send: expected array of string, got array with a number at index 1`,
		},
		{
			name: "nullable array with a null item",
			tool: "kip_commit",
			give: `{` + kipCommitOK + `,"tags":["a",null]}`,
			want: `argument "tags" for kip_commit: expected array of string or null, got array with a null at index 1`,
		},
		{
			name: "nullable array with a nested array",
			tool: "kip_commit",
			give: `{` + kipCommitOK + `,"tags":[["a"]]}`,
			want: `argument "tags" for kip_commit: expected array of string or null, got array with an array at index 0`,
		},
		{
			name: "string holding an array with a non-string item",
			tool: "kip_commit",
			give: `{` + kipCommitOK + `,"references":"[\"a\", {}]"}`,
			want: `argument "references" for kip_commit: expected array of string or null, got string holding an array with an object at index 1`,
		},
		{
			name: "string not holding an array",
			tool: "kip_commit",
			give: `{` + kipCommitOK + `,"tags":"a,b"}`,
			want: `argument "tags" for kip_commit: expected array of string or null, got string "a,b", not a JSON array`,
		},
		{
			name: "string holding invalid JSON",
			tool: "kip_commit",
			give: `{` + kipCommitOK + `,"tags":"[\"a\""}`,
			want: `argument "tags" for kip_commit: expected array of string or null, got string "[\"a\"", not a JSON array`,
		},
		{
			name: "array given a number",
			tool: "kip_commit",
			give: `{` + kipCommitOK + `,"supersedes":3}`,
			want: `argument "supersedes" for kip_commit: expected array of string or null, got number`,
		},
		{
			name: "long offending strings are shortened",
			tool: "thread_scry",
			give: `{"limit":"` + strings.Repeat("9", 30) + `x` + strings.Repeat("é", 10) + `"}`,
			want: `argument "limit" for thread_scry: expected integer, got string "` +
				strings.Repeat("9", 30) + `xéééé"…, not a decimal integer in range -9223372036854775808…9223372036854775807`,
		},
		// The raw arguments themselves.
		{
			name: "raw array (T-common-2)",
			tool: "arg_scry",
			give: `["term"]`,
			want: `arguments for arg_scry must be a JSON object, got array`,
		},
		{
			name: "raw string",
			tool: "arg_scry",
			give: `"term"`,
			want: `arguments for arg_scry must be a JSON object, got string`,
		},
		{
			name: "raw number",
			tool: "perf_scry",
			give: `42`,
			want: `arguments for perf_scry must be a JSON object, got number`,
		},
		{
			name: "raw boolean",
			tool: "perf_scry",
			give: `true`,
			want: `arguments for perf_scry must be a JSON object, got boolean`,
		},
		{
			name: "truncated object",
			tool: "arg_scry",
			give: `{"term":`,
			want: `arguments for arg_scry are not valid JSON: `, frag: true,
		},
		{
			name: "data after the object",
			tool: "arg_scry",
			give: `{"term":"a"} {}`,
			want: `arguments for arg_scry are not valid JSON: data after the arguments object`,
		},
		{
			name: "garbage after the object",
			tool: "arg_scry",
			give: `{"term":"a"} x`,
			want: `arguments for arg_scry are not valid JSON: `, frag: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tool := mustLookup(t, tt.tool)
			_, err := tool.Decode([]byte(tt.give))
			if err == nil {
				t.Fatalf("Decode(%s) = nil error, want %q", tt.give, tt.want)
			}
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Class != fault.ArgumentError || fe.Op != "args."+tt.tool {
				t.Errorf("error %#v is not an ArgumentError of args.%s", err, tt.tool)
			}
			if got := err.Error(); got != tt.want && !(tt.frag && strings.HasPrefix(got, tt.want)) {
				t.Errorf("message:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// Accessors tolerate undeclared names and the zero Args, and Strings hands out copies.
func TestArgs_accessors(t *testing.T) {
	var zero Args
	if zero.String("x") != "" || zero.Bool("x") || zero.Int("x") != 0 || zero.Strings("x") != nil ||
		zero.IsNull("x") || zero.Has("x") {
		t.Errorf("zero Args returned values")
	}
	tool := mustLookup(t, "imp_send")
	a, err := tool.Decode([]byte(`{"recipients":["a"],"subject":"s","body":"b","op_id":"o"}`))
	if err != nil {
		t.Fatal(err)
	}
	a.Strings("recipients")[0] = "mutated"
	if got := a.Strings("recipients"); got[0] != "a" {
		t.Errorf("Strings shares its slice: %v", got)
	}
	if a.Int("subject") != 0 || a.String("recipients") != "" || a.Has("nope") || a.IsNull("subject") {
		t.Errorf("accessor of the wrong type returned a value")
	}
}

func TestIntegral(t *testing.T) {
	tests := []struct {
		give   string
		want   int
		wantOK bool
	}{
		{"0", 0, true},
		{"-0", 0, true},
		{"0.0e0", 0, true},
		{"10", 10, true},
		{"10.000", 10, true},
		{"1e2", 100, true},
		{"1E+2", 100, true},
		{"2.5e1", 25, true},
		{"-2.5e1", -25, true},
		{"100e-2", 1, true},
		{"0.00100e3", 1, true},
		{"9223372036854775807", 9223372036854775807, true},
		{"9.223372036854775807e18", 9223372036854775807, true},
		{"-9223372036854775808", -9223372036854775808, true},
		{"9223372036854775808", 0, false},
		{"1.5", 0, false},
		{"1e-1", 0, false},
		{"0.001", 0, false},
		{"1e19", 0, false},
		{"1e400", 0, false},
		{"1e-400", 0, false},
		{"1e99999999999999999999", 0, false},
		{"0e99999999999999999999", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got, ok := integral(tt.give)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("integral(%s) = %d, %v; want %d, %v", tt.give, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "ref", 3},
		{"refrences", "references", 1},
		{"kitten", "sitting", 3},
		{"é", "e", 1},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
