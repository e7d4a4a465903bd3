package entry

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/pytext"
)

func env(kv ...any) *Envelope {
	e := &Envelope{}
	for i := 0; i < len(kv); i += 2 {
		e.Set(kv[i].(string), kv[i+1])
	}
	return e
}

// C-env-3: a kip_commit envelope composes to exactly these bytes.
func TestCompose_KipCommit(t *testing.T) {
	e := env("type", "kno", "title", "t", "status", "active", "tags", []string{},
		"references", []string{}, "canon_state", "", "instance_depth", 1)
	got := Compose(e, "body")
	want := "---\ntype: kno\ntitle: t\nstatus: active\ntags: []\nreferences: []\ncanon_state: \ninstance_depth: 1\n---\n\nbody\n"
	if got != want {
		t.Fatalf("Compose =\n%q\nwant\n%q", got, want)
	}
}

func TestCompose(t *testing.T) {
	tests := []struct {
		name string
		give *Envelope
		body string
		want string
	}{
		{"C-entry-1 empty envelope", &Envelope{}, "b", "---\n---\n\nb\n"},
		{"C-entry-1 nil envelope", nil, "", "---\n---\n\n\n"},
		{"C-entry-1 body rstripped", env("a", "b"), "\n  body \n\n\u3000", "---\na: b\n---\n\n\n  body\n"},
		{"C-entry-2 list", env("tags", []string{"x", "y z"}), "", "---\ntags: [x, y z]\n---\n\n\n"},
		{"C-entry-2 empty list", env("tags", []string{}), "", "---\ntags: []\n---\n\n\n"},
		{"C-entry-2 nil list", env("tags", []string(nil)), "", "---\ntags: []\n---\n\n\n"},
		{"C-entry-2 one empty item", env("coordinates", []string{""}), "", "---\ncoordinates: []\n---\n\n\n"},
		{"C-entry-2 items flattened", env("tags", []string{"a\nb", "c\r\n"}), "", "---\ntags: [a b, c]\n---\n\n\n"},
		{"C-entry-3 int", env("n", 42), "", "---\nn: 42\n---\n\n\n"},
		{"C-entry-3 int64", env("n", int64(-7)), "", "---\nn: -7\n---\n\n\n"},
		{"C-entry-3 bools", env("t", true, "f", false), "", "---\nt: True\nf: False\n---\n\n\n"},
		{"C-entry-3 None", env("x", nil), "", "---\nx: None\n---\n\n\n"},
		{"C-entry-3 float", env("x", 1.0), "", "---\nx: 1.0\n---\n\n\n"},
		{"C-entry-4 flatten", env("title", "a\n\nb\n"), "", "---\ntitle: a  b\n---\n\n\n"},
		{"C-entry-5 empty string", env("canon_state", ""), "", "---\ncanon_state: \n---\n\n\n"},
		{"replace keeps first position", env("a", "1", "b", "2", "a", "3"), "", "---\na: 3\nb: 2\n---\n\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Compose(tt.give, tt.body); got != tt.want {
				t.Errorf("Compose = %q, want %q", got, tt.want)
			}
		})
	}
}

// C-entry-3: floats render as Python repr (expectations produced by CPython 3).
func TestPyFloat(t *testing.T) {
	tests := []struct {
		give float64
		want string
	}{
		{1.0, "1.0"}, {0.1, "0.1"}, {100.0, "100.0"}, {-12.5, "-12.5"},
		{1e16, "1e+16"}, {1e15, "1000000000000000.0"}, {9999999999999998.0, "9999999999999998.0"},
		{1e22, "1e+22"}, {1e-4, "0.0001"}, {1e-5, "1e-05"}, {2.5e-7, "2.5e-07"},
		{1.0 / 3, "0.3333333333333333"}, {123456789.123, "123456789.123"}, {1.5e300, "1.5e+300"},
		{5e-324, "5e-324"}, {math.MaxFloat64, "1.7976931348623157e+308"},
		{math.Inf(1), "inf"}, {math.Inf(-1), "-inf"}, {math.NaN(), "nan"},
	}
	for _, tt := range tests {
		if got := pyFloat(tt.give); got != tt.want {
			t.Errorf("pyFloat(%v) = %q, want %q", tt.give, got, tt.want)
		}
	}
	if got := pyFloat(math.Copysign(0, -1)); got != "-0.0" {
		t.Errorf("pyFloat(-0) = %q, want %q", got, "-0.0")
	}
}

type kv struct {
	k string
	v any
}

func pairs(e *Envelope) []kv {
	var out []kv
	for _, k := range e.Keys() {
		v, _ := e.Get(k)
		out = append(out, kv{k, v})
	}
	return out
}

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		give     string
		want     []kv
		wantBody string
	}{
		{"C-entry-6 no front matter", "hello\n---\na: b\n---\n", nil, "hello\n---\na: b\n---\n"},
		{"C-entry-6 leading space", " ---\na: b\n---\nx", nil, " ---\na: b\n---\nx"},
		{"C-entry-7 one delimiter", "---\na: b\n", nil, "---\na: b\n"},
		{"C-entry-7 split anywhere", "---a: b---c---d", []kv{{"a", "b"}}, "c---d"},
		{"C-entry-7 dashes in value", "---\ntitle: x---y\n---\n\nbody\n", []kv{{"title", "x"}}, "y\n---\n\nbody"},
		{"C-entry-7 four dashes", "----\na: b\n---\nz", []kv{{"a", "b"}}, "z"},
		{"C-entry-8 basic", "---\ntype: kno\ntitle:  a: b \nnocolon\n\n---\n\n body \n",
			[]kv{{"type", "kno"}, {"title", "a: b"}}, "body"},
		{"C-entry-8 lists", "---\na: []\nb: [ ]\nc: [x, y ,z]\nd: [x,,]\ne: [x\nf: x]\n---\n",
			[]kv{{"a", []string{}}, {"b", []string{}}, {"c", []string{"x", "y", "z"}}, {"d", []string{"x", "", ""}},
				{"e", "[x"}, {"f", "x]"}}, ""},
		{"C-entry-8 numbers stay strings", "---\ninstance_depth: 3\nx: True\n---\n", []kv{{"instance_depth", "3"}, {"x", "True"}}, ""},
		{"C-entry-8 later duplicate wins", "---\na: 1\nb: 2\na: 3\n---\n", []kv{{"a", "3"}, {"b", "2"}}, ""},
		{"C-entry-8 python line breaks", "---\na: 1\u2028b: 2\x1cc: 3\r\nd: 4\rempty:\n---\n",
			[]kv{{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}, {"empty", ""}}, ""},
		{"C-entry-8 key stripped", "---\n  k \t: v\n:x\n---\n", []kv{{"k", "v"}, {"", "x"}}, ""},
		{"C-entry-9 body stripped", "---\n---\n\n\u3000body\x1f\n\n", nil, "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, body := Parse(tt.give)
			if got := pairs(e); !reflect.DeepEqual(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Errorf("envelope = %#v, want %#v", got, tt.want)
			}
			if body != tt.wantBody {
				t.Errorf("body = %q, want %q", body, tt.wantBody)
			}
		})
	}
}

// C-entry-4: a line break of any Python kind in a title or tag cannot inject a field.
func TestCompose_NoInjection(t *testing.T) {
	for _, br := range []string{"\n", "\r", "\r\n", "\v", "\f", "\x1c", "\x1d", "\x1e", "\u0085", "\u2028", "\u2029"} {
		e := env("type", "kno", "title", "x"+br+"status: superseded", "status", "active",
			"tags", []string{"t" + br + "status: superseded"}, "canon_state", "")
		got, _ := Parse(Compose(e, "body"))
		if s := got.Str("status"); s != "active" {
			t.Errorf("break %q: status = %q, want %q", br, s, "active")
		}
		if s := got.Str("title"); s != "x status: superseded" {
			t.Errorf("break %q: title = %q, want flattened", br, s)
		}
		if l := got.List("tags"); !reflect.DeepEqual(l, []string{"t status: superseded"}) {
			t.Errorf("break %q: tags = %q", br, l)
		}
		if got.Len() != 5 {
			t.Errorf("break %q: keys = %q, want 5", br, got.Keys())
		}
	}
}

func TestEnvelope_Accessors(t *testing.T) {
	e := env("s", "v", "empty", "", "l", []string{"a", "b"}, "n", 3, "b", true, "f", 0.5, "none", nil)
	strs := map[string]string{"s": "v", "empty": "", "l": "", "n": "3", "b": "True", "f": "0.5", "none": "", "absent": ""}
	for k, want := range strs {
		if got := e.Str(k); got != want {
			t.Errorf("Str(%q) = %q, want %q", k, got, want)
		}
	}
	// D-32: a scalar non-empty string is a one-element list; absent is nil.
	lists := map[string][]string{"s": {"v"}, "empty": nil, "l": {"a", "b"}, "n": {"3"}, "none": nil, "absent": nil}
	for k, want := range lists {
		if got := e.List(k); !reflect.DeepEqual(got, want) {
			t.Errorf("List(%q) = %#v, want %#v", k, got, want)
		}
	}
	if got := e.Keys(); !reflect.DeepEqual(got, []string{"s", "empty", "l", "n", "b", "f", "none"}) {
		t.Errorf("Keys = %q", got)
	}
	if v, ok := e.Get("none"); !ok || v != nil {
		t.Errorf("Get(none) = %v, %v", v, ok)
	}
	if _, ok := e.Get("absent"); ok {
		t.Error("Get(absent) reported present")
	}
	// Lists are copied in and out.
	in := []string{"x"}
	e.Set("c", in)
	in[0] = "mutated"
	e.List("c")[0] = "mutated"
	if got := e.List("c"); got[0] != "x" {
		t.Errorf("list aliased: %q", got)
	}
	var zero Envelope
	if zero.Len() != 0 || zero.Str("x") != "" || zero.List("x") != nil || zero.Keys() != nil {
		t.Error("zero Envelope is not empty")
	}
}

func TestEnvelope_SetPanicsOnUnsupportedType(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Set(uint8) did not panic")
		}
	}()
	(&Envelope{}).Set("x", uint8(1))
}

// D-24: "---" in any value is refused at write.
func TestCheckScalars(t *testing.T) {
	tests := []struct {
		name    string
		give    *Envelope
		wantKey string // "" means accepted
	}{
		{"clean", env("title", "a--b", "tags", []string{"-", "--"}, "n", 1, "x", nil), ""},
		{"nil", nil, ""},
		{"scalar", env("type", "kno", "title", "a---b"), `"title"`},
		{"list item", env("tags", []string{"ok", "---"}), `"tags"`},
		{"key", env("a---", "v"), `"a---"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckScalars(tt.give)
			if tt.wantKey == "" {
				if err != nil {
					t.Fatalf("CheckScalars = %v, want nil", err)
				}
				return
			}
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Class != fault.Denied || fe.Op != "entry.envelope" {
				t.Fatalf("CheckScalars = %#v, want Denied entry.envelope", err)
			}
			if !strings.Contains(fe.Msg, tt.wantKey) || !strings.Contains(fe.Msg, `"---"`) {
				t.Errorf("message %q does not name %s and \"---\"", fe.Msg, tt.wantKey)
			}
		})
	}
}

// C-sup-1: only the stripped body counts; the envelope may change freely.
func TestSameBody(t *testing.T) {
	old := Compose(env("status", "active"), "  the body\n\nmore  ")
	tests := []struct {
		give string
		want bool
	}{
		{"the body\n\nmore", true},
		{"\n the body\n\nmore \n\n", true},
		{"the body\nmore", false},
		{"the body\n\nmore.", false},
	}
	for _, tt := range tests {
		if got := SameBody(old, tt.give); got != tt.want {
			t.Errorf("SameBody(%q) = %v, want %v", tt.give, got, tt.want)
		}
	}
	if !SameBody("no front matter\n", "no front matter") {
		t.Error("SameBody on a file without front matter")
	}
}

// clean shapes arbitrary input into the round-trip domain: flattened,
// strip-invariant, no "---", none of the runes in drop (":" for keys, "," for list items).
func clean(s, drop string) string {
	s = pytext.Strip(pytext.Flatten(s))
	for _, d := range strings.Split(drop, "") {
		s = strings.ReplaceAll(s, d, "")
	}
	for strings.Contains(s, "---") {
		s = strings.ReplaceAll(s, "---", "-")
	}
	return pytext.Strip(s)
}

func FuzzRoundTrip(f *testing.F) {
	f.Add("title", "a title", "tags", "x,y", "body\n")
	f.Add("k", "[x]", "l", "", "")
	f.Add("a b", "v: w", "c", ",", "  ---\n---\n")
	f.Add("t", "x\u2028y", "u", "\x1c,\x85", "\u3000")
	f.Fuzz(func(t *testing.T, k1, v1, k2, items, body string) {
		k1, k2 = clean(k1, ":"), clean(k2, ":")
		v1 = clean(v1, "")
		if strings.HasPrefix(v1, "[") && strings.HasSuffix(v1, "]") {
			v1 = "x" + v1 // a scalar in brackets would read back as a list
		}
		var list []string
		if items != "" {
			for _, it := range strings.Split(items, ",") {
				list = append(list, clean(it, ","))
			}
		}
		if len(list) == 1 && list[0] == "" {
			list = nil // C-entry-2: [""] reads back as []
		}
		e := &Envelope{}
		e.Set(k1, v1)
		e.Set(k2, list)
		e.Set("n", 7)
		if err := CheckScalars(e); err != nil {
			t.Fatalf("cleaned envelope refused: %v", err)
		}
		got, gotBody := Parse(Compose(e, body))
		if gotBody != pytext.Strip(body) {
			t.Fatalf("body %q read back as %q", pytext.Strip(body), gotBody)
		}
		if !reflect.DeepEqual(got.Keys(), e.Keys()) {
			t.Fatalf("keys %q read back as %q", e.Keys(), got.Keys())
		}
		for _, k := range e.Keys() {
			want, _ := e.Get(k)
			if l, ok := want.([]string); ok {
				if l == nil {
					l = []string{}
				}
				want = l
			} else {
				want = e.Str(k)
			}
			if have, _ := got.Get(k); !reflect.DeepEqual(have, want) {
				t.Fatalf("key %q: %#v read back as %#v", k, want, have)
			}
		}
	})
}

func FuzzParse(f *testing.F) {
	f.Add("---\ntitle: t\ntags: [a, b]\n---\n\nbody\n")
	f.Add("---a---b---c")
	f.Add("plain")
	f.Fuzz(func(t *testing.T, text string) {
		e, body := Parse(text)
		if e == nil {
			t.Fatal("nil envelope")
		}
		if e.Len() == 0 && body != text && body != pytext.Strip(body) {
			t.Fatalf("body %q neither whole text nor stripped", body)
		}
		// Whatever was read composes and reads back to the same envelope.
		if CheckScalars(e) == nil {
			again, _ := Parse(Compose(e, body))
			for _, k := range e.Keys() {
				a, _ := e.Get(k)
				b, _ := again.Get(k)
				if strings.ContainsAny(k, ":") || k != pytext.Strip(k) {
					continue
				}
				if !reflect.DeepEqual(a, b) {
					if l, ok := a.([]string); ok && len(l) == 1 && l[0] == "" {
						continue
					}
					t.Fatalf("key %q: %#v re-read as %#v", k, a, b)
				}
			}
		}
	})
}
