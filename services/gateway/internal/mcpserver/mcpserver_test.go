package mcpserver

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/stasima/stasima/pkg/telemetry"
	"github.com/stasima/stasima/services/gateway/internal/app"
	"github.com/stasima/stasima/services/gateway/internal/toolspec"
)

// Issue 13: a tool call that panics (an app with no backend at all) is an Internal tool error
// with a request id, counted per tool; the SDK runs handlers on its own goroutines, where an
// unrecovered panic would end the process.
func TestCall_PanicIsInternalToolError(t *testing.T) {
	tel := telemetry.New(telemetry.Options{})
	a := app.New(nil, app.Config{}, slog.New(slog.DiscardHandler)).WithTelemetry(tel)
	tool, _ := toolspec.Lookup("list_proposals")
	res := Call(context.Background(), a, slog.New(slog.DiscardHandler), tool, nil, app.Session{Transport: "mcp"})
	if !res.IsError || len(res.Content) != 1 {
		t.Fatalf("result %+v, want one tool error", res)
	}
	text := res.Content[0].(*mcp.TextContent).Text
	if !strings.HasPrefix(text, "Error executing tool list_proposals: internal error (request ") || strings.Contains(text, "panic") {
		t.Fatalf("text %q, want an Internal error with a request id and no detail", text)
	}
	rec := httptest.NewRecorder()
	tel.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if want := `stasima_handler_panics_total{handler="list_proposals",service="gateway"} 1`; !strings.Contains(rec.Body.String(), want) {
		t.Fatalf("metrics lack %s", want)
	}
}

// Issue 13: with the cap reached, a new session closes the least recently active one — not the
// oldest by creation — and the others keep working.
func TestNew_SessionCapEvictsLeastRecentlyActive(t *testing.T) {
	ctx := context.Background()
	a := app.New(nil, app.Config{}, slog.New(slog.DiscardHandler))
	srv := New(a, slog.New(slog.DiscardHandler), 2)
	connect := func() *mcp.ClientSession {
		t.Helper()
		st, ct := mcp.NewInMemoryTransports()
		if _, err := srv.Connect(ctx, st, nil); err != nil {
			t.Fatal(err)
		}
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil).Connect(ctx, ct, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cs.Close() })
		return cs
	}
	first, second := connect(), connect()
	if _, err := first.ListTools(ctx, nil); err != nil { // first is now the more recently active
		t.Fatal(err)
	}
	third := connect()
	_ = second.Wait() // returns once the server has closed the session

	for name, cs := range map[string]*mcp.ClientSession{"first": first, "third": third} {
		if _, err := cs.ListTools(ctx, nil); err != nil {
			t.Fatalf("%s session after the eviction: %v", name, err)
		}
	}
	if _, err := second.ListTools(ctx, nil); err == nil {
		t.Fatal("the least recently active session still answers")
	}
}
