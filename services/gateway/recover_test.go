package gateway

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stasima/stasima/pkg/telemetry"
	"github.com/stasima/stasima/services/gateway/internal/app"
)

// Issue 13: a panic anywhere under the listener (the perimeter, the door, a transport) is a 500
// with a request id, counted; http.ErrAbortHandler still aborts the response.
func TestRecoverHTTP(t *testing.T) {
	tel := telemetry.New(telemetry.Options{})
	a := app.New(nil, app.Config{}, slog.New(slog.DiscardHandler)).WithTelemetry(tel)
	h := recoverHTTP(a, slog.New(slog.DiscardHandler), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/abort" {
			panic(http.ErrAbortHandler)
		}
		panic("boom")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
	if rec.Code != http.StatusInternalServerError || !strings.HasPrefix(rec.Body.String(), "internal error (request ") {
		t.Fatalf("%d %q, want 500 internal error with a request id", rec.Code, rec.Body.String())
	}
	m := httptest.NewRecorder()
	tel.Handler().ServeHTTP(m, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if want := `stasima_handler_panics_total{handler="http",service="gateway"} 1`; !strings.Contains(m.Body.String(), want) {
		t.Fatalf("metrics lack %s", want)
	}
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler passed on", v)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/abort", nil))
}
