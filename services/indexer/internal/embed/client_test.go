package embed

import (
	"context"
	"encoding/json"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// server speaks the OpenAI embeddings wire format: each input's vector is (len(input), index+1,
// 0, …) at dim entries, answered in reverse index order so the client must sort.
type server struct {
	dim     int
	mu      sync.Mutex
	batches [][]string
	auth    []string
	status  int
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/embeddings" {
		http.NotFound(w, r)
		return
	}
	var req struct {
		Model string   `json:"model"`
		Input []string `json:"input"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model != "nomic-embed-text" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.batches = append(s.batches, req.Input)
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	status := s.status
	s.mu.Unlock()
	if status != 0 {
		http.Error(w, `{"error":"model not loaded"}`, status)
		return
	}
	type item struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float64 `json:"embedding"`
	}
	var data []item
	for i := len(req.Input) - 1; i >= 0; i-- {
		v := make([]float64, s.dim)
		v[0], v[1] = float64(len(req.Input[i])), float64(i+1)
		data = append(data, item{"embedding", i, v})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "model": req.Model})
}

func newClient(t *testing.T, srv *server, dim int) *Client {
	t.Helper()
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	c, err := NewClient(ClientConfig{URL: ts.URL + "/", Model: "nomic-embed-text", Dim: dim,
		DocPrefix: "search_document: ", QueryPrefix: "search_query: ", BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// S-22, S-23: documents are prefixed and batched, vectors come back in input order and unit
// length; queries carry the query prefix; the bearer header is sent.
func TestClient_EmbedDocumentsAndQuery(t *testing.T) {
	srv := &server{dim: 4}
	c := newClient(t, srv, 4)
	vecs, err := c.EmbedDocuments(context.Background(), []string{"a", "bb", "ccc", "dddd", "eeeee"})
	if err != nil {
		t.Fatal(err)
	}
	if len(vecs) != 5 || len(srv.batches) != 3 || len(srv.batches[2]) != 1 {
		t.Fatalf("vectors %d, batches %v", len(vecs), srv.batches)
	}
	if srv.batches[0][0] != "search_document: a" || srv.auth[0] != "Bearer not-needed" {
		t.Errorf("request: %q, auth %q", srv.batches[0][0], srv.auth[0])
	}
	for i, v := range vecs {
		// input i sits at position i%2 of its batch: raw (len, i%2+1), normalized.
		l, p := float64(len("search_document: ")+i+1), float64(i%2+1)
		n := math.Sqrt(l*l + p*p)
		if v[0] != l/n || v[1] != p/n {
			t.Errorf("vector %d = %v, want (%v, %v, 0, 0)", i, v, l/n, p/n)
		}
	}
	q, err := c.EmbedQuery(context.Background(), "x")
	if err != nil || len(q) != 4 || srv.batches[3][0] != "search_query: x" {
		t.Fatalf("query: %v, %v, %v", q, err, srv.batches[3])
	}
	if c.ModelID() != "nomic-embed-text" || c.Dim() != 4 {
		t.Errorf("model %q dim %d", c.ModelID(), c.Dim())
	}
}

// S-23 and the error cases: a wrong dimension names both numbers; non-2xx and an unreachable
// server are clear errors; configuration is checked up front.
func TestClient_Errors(t *testing.T) {
	ctx := context.Background()
	if _, err := newClient(t, &server{dim: 3}, 4).EmbedDocuments(ctx, []string{"a"}); err == nil ||
		!strings.Contains(err.Error(), "returned 3-dimensional vectors but embed_dim is 4") {
		t.Errorf("dimension: %v", err)
	}
	if _, err := newClient(t, &server{dim: 4, status: http.StatusServiceUnavailable}, 4).EmbedQuery(ctx, "a"); err == nil ||
		!strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "model not loaded") {
		t.Errorf("status: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c, err := NewClient(ClientConfig{URL: "http://" + addr, Model: "m", Dim: 4})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.EmbedQuery(ctx, "a"); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("unreachable: %v", err)
	}
	for _, cfg := range []ClientConfig{{Model: "m", Dim: 4}, {URL: "http://x", Model: "m"}} {
		if _, err := NewClient(cfg); err == nil {
			t.Errorf("NewClient(%+v) accepted", cfg)
		}
	}
}
