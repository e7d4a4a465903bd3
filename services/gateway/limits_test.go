package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Issue 13's server limits: a body that stalls is cut at the read deadline; a handler that runs
// far longer than both deadlines after reading its body (a long tool call) is not cancelled; an
// SSE stream that keeps writing outlives the write deadline many times over.
func TestWithDeadlines(t *testing.T) {
	const d = 100 * time.Millisecond
	h := withDeadlines(d, d, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "slow body", http.StatusRequestTimeout)
			return
		}
		switch r.URL.Path {
		case "/long":
			select {
			case <-r.Context().Done():
				return // cancelled: the client sees no answer
			case <-time.After(4 * d):
			}
			io.WriteString(w, "done")
		case "/sse":
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 3 {
				fmt.Fprintf(w, "data: %d\n\n", i)
				w.(http.Flusher).Flush()
				time.Sleep(2 * d)
			}
		}
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()

	// A body announced as 10 bytes of which 2 arrive.
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /long HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("stalled body: %v %v, want 408 from the handler", resp, err)
	}

	resp, err = http.Post(srv.URL+"/long", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "done" {
		t.Fatalf("long call: %d %q, want done", resp.StatusCode, b)
	}

	resp, err = http.Get(srv.URL + "/sse")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "data: 0\n\ndata: 1\n\ndata: 2\n\n" {
		t.Fatalf("stream: %q, want three events", b)
	}
}
