package embed_test

import (
	"context"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/stasima/stasima/services/indexer/internal/embed"
	"github.com/stasima/stasima/services/indexer/internal/fixture"
	"github.com/stasima/stasima/services/indexer/internal/sqliteindex"
)

// S-21: the stub reproduces, bit for bit, every embedding 0.1.5 stored in the shipped index.
func TestStub_ReproducesShippedEmbeddings(t *testing.T) {
	d := fixture.Unpack(t)
	ctx := context.Background()
	st, err := sqliteindex.Open(ctx, d.MapIndex())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	all, err := st.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 34 {
		t.Fatalf("shipped rows = %d, want 34", len(all))
	}
	for _, r := range all {
		if r.ModelID != embed.StubModelID {
			t.Errorf("%s:%s model_id = %q", r.Ref, r.Path, r.ModelID)
		}
		got := embed.StubVector(r.EmbedText())
		if len(got) != len(r.Embedding) {
			t.Fatalf("%s:%s: dim %d, shipped %d", r.Ref, r.Path, len(got), len(r.Embedding))
		}
		for i := range got {
			if math.Float64bits(got[i]) != math.Float64bits(r.Embedding[i]) {
				t.Errorf("%s:%s [%d] = %v, shipped %v", r.Ref, r.Path, i, got[i], r.Embedding[i])
				break
			}
		}
	}
}

// S-21 tokenization.
func TestTokens(t *testing.T) {
	tests := []struct {
		name string
		give string
		want []string
	}{
		{"empty", "", []string{}},
		{"punctuation splits", "Never-lose  WORK!", []string{"never", "lose", "work"}},
		{"numbers are tokens", "::3C and 42", []string{"3c", "and", "42"}},
		{"dotted capital I lowers fully", "\u0130stanbul", []string{"i\u0307stanbul"}},
		{"combining mark splits", "cafe\u0301s", []string{"cafe", "s"}},
		{"sigma maps per character", "ΟΔΟΣ", []string{"οδοσ"}},
		{"non-ASCII letters and digits", "Grüße ٣", []string{"grüße", "٣"}},
		{"invalid UTF-8 separates", "a\xffb", []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := embed.Tokens(tt.give); !slices.Equal(got, tt.want) {
				t.Errorf("Tokens(%q) = %q, want %q", tt.give, got, tt.want)
			}
		})
	}
}

// S-20: unit length, zero stays zero, the stub is symmetric.
func TestStub_Contract(t *testing.T) {
	ctx := context.Background()
	var s embed.Stub
	if s.Dim() != 64 || s.ModelID() != "stub-64" || s.DefaultFloor() != 0 {
		t.Fatalf("stub declares %d %q %v", s.Dim(), s.ModelID(), s.DefaultFloor())
	}
	zero := embed.StubVector("  --  ")
	for _, x := range zero {
		if x != 0 {
			t.Fatalf("no-token text gave %v", zero)
		}
	}
	docs, err := s.EmbedDocuments(ctx, []string{"weft and warp", ""})
	if err != nil {
		t.Fatal(err)
	}
	q, err := s.EmbedQuery(ctx, "weft and warp")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(docs[0], q) {
		t.Error("stub is not symmetric")
	}
	if n := embed.Dot(q, q); math.Abs(n-1) > 1e-12 {
		t.Errorf("|v|^2 = %v", n)
	}
}

func TestDot_CommonLength(t *testing.T) {
	if got := embed.Dot([]float64{1, 2, 3}, []float64{4, 5}); got != 14 {
		t.Errorf("Dot = %v, want 14", got)
	}
}

// S-13: round(x, 4) as Python rounds.
func TestRound4(t *testing.T) {
	tests := []struct{ give, want float64 }{
		{0.41914, 0.4191}, {0.41915000001, 0.4192}, {0.00005, 0.0001}, {0.00015, 0.0001},
		{0.12345, 0.1235}, {0, 0}, {1, 1}, {0.99999, 1},
	}
	for _, tt := range tests {
		if got := embed.Round4(tt.give); got != tt.want {
			t.Errorf("Round4(%v) = %v, want %v", tt.give, got, tt.want)
		}
	}
}
