package main

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Helpers over the Stasima 0.1.5 deployment fixture (../shared/testdata), shared by the audit
// reads test and the open-and-serve test.

// unpackDeployment unpacks the 0.1.5 deployment fixture into a temp dir.
func unpackDeployment(t *testing.T) string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "..", "shared", "testdata", "stasima-0.1.5-deployment.tar.gz"))
	if err != nil {
		t.Fatalf("the 0.1.5 fixtures live in ../shared/testdata: %v", err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			os.MkdirAll(filepath.Dir(p), 0o755)
			b, _ := io.ReadAll(tr)
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return filepath.Join(dir, "stasima-0.1.5-deployment")
}

type expectedDeployment struct {
	Audit struct {
		Count int    `json:"count"`
		Head  string `json:"head"`
	} `json:"audit"`
	CanonHead string            `json:"canon_head"`
	Refs      map[string]string `json:"refs"`
	MapIndex  struct {
		AdminReindexReturns int `json:"admin_reindex_returns"`
	} `json:"map_index"`
	ReindexDifferences []struct {
		ReadIndex int             `json:"read_index"`
		Result    json.RawMessage `json:"result_after_reindex"`
	} `json:"reads_after_reindex_differences"`
	Reads []struct {
		Tool   string          `json:"tool"`
		Args   map[string]any  `json:"args"`
		Result json.RawMessage `json:"result"`
	} `json:"reads"`
}

// sameOrientation compares announce's orientation with the fixture's, whose suite preamble is
// redacted (expected.json "redactions"): the heading line and every section from "## Welcome"
// on must be equal. It then drops the field from both so the rest compares as JSON.
func sameOrientation(t *testing.T, i int, got, want map[string]any) {
	t.Helper()
	g, _ := got["orientation"].(string)
	w, _ := want["orientation"].(string)
	cut := func(o string) string {
		if k := strings.Index(o, "\n## Welcome"); k >= 0 {
			return o[k:]
		}
		return o
	}
	if cut(g) != cut(w) || strings.SplitN(g, "\n", 2)[0] != strings.SplitN(w, "\n", 2)[0] {
		t.Errorf("read %d announce orientation differs:\n got %q\nwant %q", i, g, w)
	}
	delete(got, "orientation")
	delete(want, "orientation")
}
