package embed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// ClientConfig configures the OpenAI-compatible embeddings client (S-22).
type ClientConfig struct {
	// URL is the server's base URL (embed_url); /v1/embeddings is appended.
	URL string
	// Model is sent as "model" and is the model id stored on rows (embed_model).
	Model string
	// Dim is the declared dimension (embed_dim); every returned vector must have it (S-23).
	Dim int
	// DocPrefix and QueryPrefix are the task prefixes of documents and queries.
	DocPrefix, QueryPrefix string
	// Floor is the default relevance floor (0.0: calibrate per model, S-22).
	Floor float64
	// BatchSize is the most texts per request; 0 is DefaultBatchSize.
	BatchSize int
	// Timeout bounds one request; 0 is DefaultTimeout (60 s, S-22).
	Timeout time.Duration
	// HTTP is the client used; nil is a client with Timeout.
	HTTP *http.Client
}

// Client defaults.
const (
	DefaultBatchSize = 64
	DefaultTimeout   = 60 * time.Second
)

// Client embeds through a local server speaking the OpenAI embeddings wire format (Ollama,
// LM Studio, llama.cpp server): POST <url>/v1/embeddings {model, input: [texts]} with
// "Authorization: Bearer not-needed", data sorted by index, each vector L2-normalized. Safe for
// concurrent use.
type Client struct {
	cfg      ClientConfig
	endpoint string
	http     *http.Client
}

var _ Embedder = (*Client)(nil)

// NewClient validates cfg and returns a client; it performs no I/O.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.URL == "" {
		return nil, errors.New("embed: local-server requires embed_url")
	}
	if cfg.Dim <= 0 {
		return nil, fmt.Errorf("embed: embed_dim %d is not positive", cfg.Dim)
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	hc := cfg.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: cfg.Timeout}
	}
	return &Client{cfg: cfg, endpoint: strings.TrimRight(cfg.URL, "/") + "/v1/embeddings", http: hc}, nil
}

// ModelID returns embed_model.
func (c *Client) ModelID() string { return c.cfg.Model }

// Dim returns embed_dim.
func (c *Client) Dim() int { return c.cfg.Dim }

// DefaultFloor returns the configured default floor.
func (c *Client) DefaultFloor() float64 { return c.cfg.Floor }

// EmbedDocuments embeds texts with the document prefix, BatchSize texts per request, in order.
// Any failed batch fails the whole call (S-23: never a partial result).
func (c *Client) EmbedDocuments(ctx context.Context, texts []string) ([][]float64, error) {
	out := make([][]float64, 0, len(texts))
	for i := 0; i < len(texts); i += c.cfg.BatchSize {
		part := texts[i:min(i+c.cfg.BatchSize, len(texts))]
		in := make([]string, len(part))
		for j, t := range part {
			in[j] = c.cfg.DocPrefix + t
		}
		vecs, err := c.embed(ctx, in)
		if err != nil {
			return nil, err
		}
		out = append(out, vecs...)
	}
	return out, nil
}

// EmbedQuery embeds text with the query prefix.
func (c *Client) EmbedQuery(ctx context.Context, text string) ([]float64, error) {
	vecs, err := c.embed(ctx, []string{c.cfg.QueryPrefix + text})
	if err != nil {
		return nil, err
	}
	return vecs[0], nil
}

type embeddingsRequest struct {
	Model string   `json:"model"`
	Input []string `json:"input"`
}

type embeddingsResponse struct {
	Data []struct {
		Index     int       `json:"index"`
		Embedding []float64 `json:"embedding"`
	} `json:"data"`
}

// maxErrorBody is how much of a failed response's body an error quotes.
const maxErrorBody = 512

func (c *Client) embed(ctx context.Context, input []string) ([][]float64, error) {
	body, err := json.Marshal(embeddingsRequest{Model: c.cfg.Model, Input: input})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("embed: request to %s: %w", c.endpoint, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer not-needed")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("embed: embedding server at %s unreachable (is it running? embed_url): %w", c.endpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, fmt.Errorf("embed: %s answered %s: %s", c.endpoint, resp.Status, strings.TrimSpace(string(b)))
	}
	var er embeddingsResponse
	if err := json.NewDecoder(resp.Body).Decode(&er); err != nil {
		return nil, fmt.Errorf("embed: undecodable response from %s: %w", c.endpoint, err)
	}
	if len(er.Data) != len(input) {
		return nil, fmt.Errorf("embed: %s returned %d embeddings for %d inputs", c.endpoint, len(er.Data), len(input))
	}
	slices.SortStableFunc(er.Data, func(a, b struct {
		Index     int       `json:"index"`
		Embedding []float64 `json:"embedding"`
	}) int {
		return a.Index - b.Index
	})
	out := make([][]float64, len(er.Data))
	for i, d := range er.Data {
		if d.Index != i {
			return nil, fmt.Errorf("embed: %s returned indexes that are not 0…%d", c.endpoint, len(input)-1)
		}
		if len(d.Embedding) != c.cfg.Dim {
			return nil, fmt.Errorf("embed: model %q returned %d-dimensional vectors but embed_dim is %d (set embed_dim to the model's dimension and reindex)",
				c.cfg.Model, len(d.Embedding), c.cfg.Dim)
		}
		out[i] = Normalize(d.Embedding)
	}
	return out, nil
}
