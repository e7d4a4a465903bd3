package rest

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/stasima/stasima/pkg/telemetry"
	"github.com/stasima/stasima/services/gateway/internal/app"
)

// panics returns how many panics the gateway recovered in handler, read from the exposition.
func panics(t *testing.T, tel *telemetry.Telemetry, handler string) int {
	t.Helper()
	rec := httptest.NewRecorder()
	tel.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	prefix := `stasima_handler_panics_total{handler="` + handler + `",service="gateway"} `
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			return n
		}
	}
	return 0
}

// Issue 13: a tool call that panics (here: an app with no backend at all) answers 500 Internal
// with a request id, is counted, and the mirror keeps serving.
func TestMount_PanicAnswersInternal(t *testing.T) {
	tel := telemetry.New(telemetry.Options{})
	a := app.New(nil, app.Config{}, slog.New(slog.DiscardHandler)).WithTelemetry(tel)
	mux := http.NewServeMux()
	Mount(mux, a, slog.New(slog.DiscardHandler), 1<<20)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	post := func(tool, body string) (int, restError) {
		t.Helper()
		resp, err := http.Post(srv.URL+"/api/v1/tools/"+tool, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e restError
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
			t.Fatalf("%s: body: %v", tool, err)
		}
		return resp.StatusCode, e
	}
	for i := 1; i <= 2; i++ {
		code, e := post("canon_state", `{}`)
		if code != http.StatusInternalServerError || e.Error.Class != "Internal" ||
			!strings.HasPrefix(e.Error.Message, "internal error (request ") || strings.Contains(e.Error.Message, "panic") {
			t.Fatalf("call %d: %d %+v, want 500 Internal with a request id and no detail", i, code, e)
		}
		if n := panics(t, tel, "canon_state"); n != i {
			t.Fatalf("call %d: %v panics counted, want %d", i, n, i)
		}
	}
	if code, e := post("vap_for", `{"limit":1e400}`); code != http.StatusBadRequest || e.Error.Class != "ArgumentError" {
		t.Fatalf("after the panics: %d %+v, want 400 ArgumentError", code, e)
	}
}
