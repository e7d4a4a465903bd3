package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// TestUp_ResultFieldsPresentWhenEmpty: a documented result field is present even when its value
// is "" (tools.md returns): kip_commit's folded.canon_state for a writer with no canon cursor and
// canon_diff's title/type/status of an entry whose envelope lacks them (T-canon_diff-4).
func TestUp_ResultFieldsPresentWhenEmpty(t *testing.T) {
	seed := t.TempDir()
	if err := os.MkdirAll(filepath.Join(seed, "meta"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Starts with "---", so bootstrap keeps it as written: a title, no type, no status.
	if err := os.WriteFile(filepath.Join(seed, "meta", "bare.md"), []byte("---\ntitle: Bare\n---\n\nBare.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	if code, _, stderr := admin(t, "--data", data, "bootstrap", seed); code != 0 {
		t.Fatal(stderr)
	}
	cfg, err := loadConfig(data, "", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.BindingMode = "off"
	n, err := startNode(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nodeOptions{gateway: true, record: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.stop(context.Background()) })
	s := mcpSession(t, n)

	k := mustCall(t, s, "kip_commit", map[string]any{"instance_id": "Recto", "domain": "practice", "slug": "tidal",
		"body": "Tides.", "op_id": "k-fold", "horizon": "Seen from the shore."})
	folded, _ := k["folded"].(map[string]any)
	if cs, ok := folded["canon_state"]; !ok || cs != "" || folded["vantage"] != "confirmed" || folded["path"] != "vantages/k-fold-vap.md" {
		t.Fatalf("kip_commit folded without a cursor: %v", k["folded"])
	}

	d := mustCall(t, s, "canon_diff", map[string]any{"instance_id": "Recto"})
	changed, _ := d["changed"].([]any)
	if len(changed) != 1 {
		t.Fatalf("canon_diff changed: %v", d["changed"])
	}
	item := changed[0].(map[string]any)
	for k, want := range map[string]any{"path": "meta/bare.md", "title": "Bare", "type": "", "status": ""} {
		if got, ok := item[k]; !ok || got != want {
			t.Errorf("canon_diff item %s = %v (present %v), want %q", k, got, ok, want)
		}
	}
	if _, ok := item["removed"]; ok {
		t.Errorf("canon_diff item of a held path carries removed: %v", item)
	}

}
