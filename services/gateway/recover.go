package gateway

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/stasima/stasima/services/gateway/internal/app"
	"github.com/stasima/stasima/services/gateway/internal/mcpserver"
)

// recoverHTTP answers a panic anywhere under next (the perimeter, the door, /mcp's transport,
// the REST mirror) as a 500 with a request id, logged with its stack and counted as
// stasima_handler_panics_total{handler="http"}, so no request can take the process down
// (issue 13). net/http would recover too, but silently and by dropping the connection.
// http.ErrAbortHandler keeps its meaning: the connection is aborted.
func recoverHTTP(a *app.App, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			_, msg := mcpserver.Message("http", a.Recovered("http", v), log)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(msg + "\n"))
		}()
		next.ServeHTTP(w, r)
	})
}
