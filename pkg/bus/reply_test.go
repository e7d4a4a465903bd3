package bus

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/stasima/stasima/pkg/fault"
)

type replyBody struct {
	Paths []string       `json:"paths"`
	Found bool           `json:"found"`
	Note  string         `json:"note,omitempty"`
	Meta  map[string]int `json:"meta"`
}

// TestReply_EncodingUnchanged: OKReply and CommandReply write what json.Marshal(Reply{…}) wrote
// before they stopped compacting the result twice (issue 15).
func TestReply_EncodingUnchanged(t *testing.T) {
	results := []any{nil, 7, "<a & b>", []string{}, replyBody{Paths: []string{"a/b.md", "x\u2028y"}, Found: true,
		Meta: map[string]int{"z": 1, "a": 2}}, json.RawMessage(`{"k": [1, 2]}`)}
	for _, res := range results {
		for _, intents := range [][]string{nil, {"01J0", "01J1"}} {
			for _, seq := range []uint64{0, 42} {
				raw, _ := json.Marshal(res)
				want, _ := json.Marshal(Reply{OK: true, Result: raw, Intents: intents, EventSeq: seq})
				if got := CommandReply(res, nil, intents, seq); string(got) != string(want) {
					t.Errorf("CommandReply(%v, %v, %d) = %s, want %s", res, intents, seq, got, want)
				}
				if seq == 0 {
					got, err := OKReply(res, intents...)
					if err != nil || string(got) != string(want) {
						t.Errorf("OKReply(%v, %v) = %s, %v, want %s", res, intents, got, err, want)
					}
				}
			}
		}
	}
}

// TestReply_DecodeFastPathAgrees: a reply decodes to the same result, intents, sequence and
// error whether or not it takes the one-pass path.
func TestReply_DecodeFastPathAgrees(t *testing.T) {
	body := replyBody{Paths: []string{"a.md", `q"\`}, Found: true, Meta: map[string]int{"n": 3}}
	cases := [][]byte{
		CommandReply(body, nil, nil, 0),
		CommandReply(body, nil, []string{"i1"}, 9),
		CommandReply(nil, nil, nil, 0),
		CommandReply("not an object", nil, nil, 0),
		CommandReply(nil, fault.E("op", fault.Denied, "no"), []string{"i2"}, 0),
		[]byte(`{"ok":true,"result":{"paths":["a"]},"result":{"found":true}}`),
		[]byte(`{"ok":true,"result":{"paths":["a"]}`),
		[]byte(`{"ok":true,"result":}`),
	}
	for _, b := range cases {
		var got replyBody
		r, err := DecodeCommandReply(b, &got)
		// The oracle: the two-pass decode the fast path short-cuts.
		var want replyBody
		var wr Reply
		werr := json.Unmarshal(b, &wr)
		if werr == nil {
			werr = decodeReply(wr, &want)
		}
		if (err == nil) != (werr == nil) || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v, %v; want %+v, %v", b, got, err, want, werr)
		}
		if werr == nil && (!reflect.DeepEqual(r.Intents, wr.Intents) || r.EventSeq != wr.EventSeq || r.OK != wr.OK) {
			t.Errorf("%s: reply %+v, want %+v", b, r, wr)
		}
		var fe *fault.Error
		if errors.As(werr, &fe) && fault.ClassOf(err) != fe.Class {
			t.Errorf("%s: class %v, want %v", b, fault.ClassOf(err), fe.Class)
		}
	}
}

// BenchmarkReply is a 100,000-path list_paths reply (canon_state at 100k entries) encoded and
// decoded: the two passes each way it took before issue 15, and OKReply/DecodeReply.
func BenchmarkReply(b *testing.B) {
	type answer struct {
		RefFound bool     `json:"ref_found"`
		Paths    []string `json:"paths"`
	}
	ans := answer{RefFound: true, Paths: make([]string, 100_000)}
	for i := range ans.Paths {
		ans.Paths[i] = fmt.Sprintf("big/e%05d.md", i)
	}
	b.Run("encode-before", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			raw, _ := json.Marshal(ans)
			_, _ = json.Marshal(Reply{OK: true, Result: raw})
		}
	})
	b.Run("encode-after", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = OKReply(ans)
		}
	})
	body, _ := OKReply(ans)
	b.Run("decode-before", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r Reply
			var got answer
			_ = json.Unmarshal(body, &r)
			_ = decodeReply(r, &got)
		}
	})
	b.Run("decode-after", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var got answer
			_ = DecodeReply(body, &got)
		}
	})
}
