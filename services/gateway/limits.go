package gateway

import (
	"io"
	"net/http"
	"time"
)

// Server limits (issue 13). The http.Server keeps ReadTimeout and WriteTimeout at zero: either
// would cut MCP's streamable-HTTP SSE streams and long tool calls, because net/http applies them
// to the whole exchange. withDeadlines bounds progress instead of duration, per request.
const (
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout = 10 * time.Second
	// IdleTimeout closes a keep-alive connection idle between requests.
	IdleTimeout = 2 * time.Minute
	// BodyReadTimeout bounds reading a request body, from the headers to its end; it is lifted
	// once the body has been read, so the handler may run as long as the call takes.
	BodyReadTimeout = time.Minute
	// WriteStallTimeout bounds each write of a response: a client that stops reading (an SSE
	// stream it never drains) is cut, one that keeps reading is not, however long the stream.
	WriteStallTimeout = time.Minute
)

// withDeadlines applies BodyReadTimeout and WriteStallTimeout (read and write) to every request
// through http.ResponseController's per-connection deadlines.
func withDeadlines(read, write time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if r.Body != nil && r.Body != http.NoBody {
			_ = rc.SetReadDeadline(time.Now().Add(read))
			r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
		}
		next.ServeHTTP(&stallWriter{ResponseWriter: w, rc: rc, d: write}, r)
	})
}

// deadlineBody lifts the read deadline once the body has been read to its end: net/http's
// background read, which watches for the client going away while the handler runs, must not
// inherit it. A body that failed (the deadline passed) keeps it: the connection is done.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// stallWriter sets the write deadline afresh before every write and flush.
type stallWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (w *stallWriter) Write(p []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.d))
	return w.ResponseWriter.Write(p)
}

// Flush implements http.Flusher (SSE streams flush each event).
func (w *stallWriter) Flush() {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.d))
	_ = w.rc.Flush()
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *stallWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
