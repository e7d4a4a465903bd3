// Package embed owns the indexer's embedder contract (search.md S-20) and the deterministic stub
// embedder of S-21, byte-for-byte with Stasima 0.1.5: the stub's vectors are the ones stored in a
// 0.1.5 map index, so a shipped index and a Go reindex score identically. It also owns the
// scoring arithmetic of S-11 (dot product over the common length) and the 4-decimal rounding of
// S-13/S-14, and the OpenAI-compatible client of S-22 (Client), its only I/O.
package embed

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// Embedder turns text into unit-length vectors (S-20). Document embedding is used for indexing
// and query embedding for search; retrieval models are task-prefixed, so the two may differ.
// A zero vector stays zero. Implementations must be safe for concurrent use; EmbedDocuments
// returns exactly one vector per text, in order, or an error (S-23: never a partial batch).
type Embedder interface {
	// ModelID is stored on every row (S-24), so a mixed index is detectable.
	ModelID() string
	// Dim is the declared vector length.
	Dim() int
	// DefaultFloor is the relevance floor used when search_score_floor is unset (S-14).
	DefaultFloor() float64
	// EmbedDocuments returns the document embeddings of texts.
	EmbedDocuments(ctx context.Context, texts []string) ([][]float64, error)
	// EmbedQuery returns the query embedding of text.
	EmbedQuery(ctx context.Context, text string) ([]float64, error)
}

// StubDim and StubModelID are the stub embedder's fixed dimension and model id (S-21): 64
// regardless of the configured embed_dim.
const (
	StubDim     = 64
	StubModelID = "stub-64"
)

// Stub is the deterministic, symmetric bag-of-tokens embedder of S-21. The zero value is ready
// to use and safe for concurrent use.
type Stub struct{}

var _ Embedder = Stub{}

// ModelID returns "stub-64".
func (Stub) ModelID() string { return StubModelID }

// Dim returns 64.
func (Stub) Dim() int { return StubDim }

// DefaultFloor returns 0.0: the stub's scores do not separate true from junk matches (S-21).
func (Stub) DefaultFloor() float64 { return 0 }

// EmbedDocuments returns StubVector of each text.
func (Stub) EmbedDocuments(ctx context.Context, texts []string) ([][]float64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([][]float64, len(texts))
	for i, t := range texts {
		out[i] = StubVector(t)
	}
	return out, nil
}

// EmbedQuery returns StubVector(text): the stub is symmetric.
func (Stub) EmbedQuery(ctx context.Context, text string) ([]float64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return StubVector(text), nil
}

// StubVector is the S-21 vector of text: each token adds 1.0 to bucket
// int(md5(token)[:8 hex], 16) mod 64, and the counts are L2-normalized. Text without tokens
// yields the zero vector.
func StubVector(text string) []float64 {
	v := make([]float64, StubDim)
	for _, tok := range Tokens(text) {
		sum := md5.Sum([]byte(tok))
		v[binary.BigEndian.Uint32(sum[:4])%StubDim] += 1.0
	}
	return Normalize(v)
}

// Tokens splits text into the stub's tokens (S-21): every Unicode letter or number (general
// category L* or N*) becomes its full lowercase form, every other character a space, and the
// result is split on spaces. The full lowercase mapping differs from Go's simple mapping only
// for U+0130, which becomes "i" + U+0307 (Python's str.lower); the U+0307 stays in the token
// even though a combining mark in the input splits tokens. The mapping is per character, so no
// context-sensitive rule (final sigma) applies. Invalid UTF-8 bytes are separators.
func Tokens(text string) []string {
	var b strings.Builder
	b.Grow(len(text))
	for _, r := range text {
		switch {
		case r == '\u0130':
			b.WriteString("i\u0307")
		case unicode.IsLetter(r) || unicode.IsNumber(r):
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteByte(' ')
		}
	}
	return strings.Fields(b.String())
}

// Normalize scales v to unit L2 length in place and returns it, as 0.1.5 does: the norm is the
// square root of the squares summed in index order, and each entry is divided by it (dividing,
// not multiplying by the reciprocal, keeps the stored bits identical). A zero vector stays zero.
func Normalize(v []float64) []float64 {
	var ss float64
	for _, x := range v {
		ss += x * x
	}
	if ss == 0 {
		return v
	}
	n := math.Sqrt(ss)
	for i := range v {
		v[i] /= n
	}
	return v
}

// Dot is the S-11 score: the dot product over the common length of a and b, summed in index
// order. For unit vectors it is the cosine similarity.
func Dot(a, b []float64) float64 {
	n := min(len(a), len(b))
	var s float64
	for i := 0; i < n; i++ {
		s += a[i] * b[i]
	}
	return s
}

// Round4 rounds x to 4 decimal places like Python's round(x, 4) (S-13): correctly rounded from
// the exact binary value, exact ties to even.
func Round4(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', 4, 64), 64)
	return r
}
