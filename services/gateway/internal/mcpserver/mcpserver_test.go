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
