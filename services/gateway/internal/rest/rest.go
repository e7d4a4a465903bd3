// Package rest is the JSON REST mirror of the tools at /api/v1 (T-common-19) and the health
// endpoints: the same arguments, results and refusals as MCP, with the HTTP statuses of
// T-common-6.
package rest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/services/gateway/internal/app"
	"github.com/stasima/stasima/services/gateway/internal/mcpserver"
	"github.com/stasima/stasima/services/gateway/internal/toolspec"
)

// maxCheckpointBody bounds the checkpoint a witness posts: three lines and a few signatures.
const maxCheckpointBody = 16 << 10

// Mount registers /api/v1/tools, /api/v1/tools/{tool}, /api/v1/openapi.json, /healthz and
// /readyz on mux.
func Mount(mux *http.ServeMux, a *app.App, log *slog.Logger, maxBody int64) {
	mux.HandleFunc("GET /api/v1/tools", func(w http.ResponseWriter, r *http.Request) {
		type item struct {
			Name        string         `json:"name"`
			Description string         `json:"description"`
			InputSchema map[string]any `json:"inputSchema"`
		}
		var tools []item
		for _, t := range toolspec.All() {
			tools = append(tools, item{t.Name, t.Description, t.InputSchema()})
		}
		writeJSON(w, http.StatusOK, map[string]any{"tools": tools})
	})
	// The audit log's latest signed checkpoint, public and read-only: anyone may hold it and
	// later check the log against it with stasima verify-proof.
	mux.HandleFunc("GET /checkpoint", func(w http.ResponseWriter, r *http.Request) {
		note, err := a.Checkpoint(r.Context())
		if err != nil || note == "" {
			writeErr(w, http.StatusServiceUnavailable, "checkpoint", string(fault.BackendUnavailable), "no audit checkpoint available")
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, note)
	})
	// A consistency proof from an earlier checkpoint ({"from": <its signed note>}) to the
	// latest, public like the checkpoint: a witness elsewhere asks it before cosigning.
	mux.HandleFunc("POST /checkpoint/consistency", func(w http.ResponseWriter, r *http.Request) {
		var q struct {
			From string `json:"from"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxCheckpointBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&q); err != nil || q.From == "" {
			status := http.StatusBadRequest
			if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
				status = http.StatusRequestEntityTooLarge // like the tool routes' cap
			}
			writeErr(w, status, "checkpoint", string(fault.ArgumentError), `want {"from": <an earlier signed checkpoint>} (at most 16 KiB)`)
			return
		}
		p, err := a.Consistency(r.Context(), q.From)
		if err != nil {
			// Message, as the tool routes do: an Internal fault is logged, not shown to the public.
			c, msg := mcpserver.Message("checkpoint", err, log)
			writeErr(w, c.HTTPStatus(), "checkpoint", string(c), msg)
			return
		}
		writeJSON(w, http.StatusOK, p)
	})
	// The OpenAPI 3.1 document of this mirror, built from the catalogue behind tools/list.
	mux.HandleFunc("GET "+toolspec.OpenAPIPath, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, toolspec.OpenAPI(mcpserver.Version))
	})
	mux.HandleFunc("POST /api/v1/tools/{tool}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("tool")
		t, ok := toolspec.Lookup(name)
		if !ok {
			writeErr(w, http.StatusNotFound, name, "Unknown", "Unknown tool: "+name)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeErr(w, http.StatusRequestEntityTooLarge, name, string(fault.ArgumentError),
					"request body over the cap of "+itoa(maxBody)+" bytes")
				return
			}
			writeErr(w, http.StatusBadRequest, name, string(fault.ArgumentError), "unreadable request body")
			return
		}
		sess := app.Session{Transport: "rest", Addr: mcpserver.PeerHost(r.RemoteAddr)}
		if tok := r.Header.Get("Stasima-Session"); tok != "" {
			// D-25, I-24: the header is the binding key, namespaced apart from MCP sessions.
			sess.Key = "rest:" + tok
			sess.ID = app.SessionTag(sess.Key)
		}
		res, err := call(r.Context(), a, t, body, sess)
		if err == nil {
			writeJSON(w, http.StatusOK, res)
			return
		}
		class, msg := mcpserver.Message(name, err, log)
		writeErr(w, class.HTTPStatus(), name, string(class), msg)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := a.Ready(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

// call decodes and runs one tool call; a panic in it is an Internal fault (counted by the app),
// answered like any other.
func call(ctx context.Context, a *app.App, t toolspec.Tool, body []byte, sess app.Session) (res any, err error) {
	defer func() {
		if v := recover(); v != nil {
			res, err = nil, a.Recovered(t.Name, v)
		}
	}()
	args, err := t.Decode(body)
	if err != nil {
		return nil, err
	}
	return a.Call(ctx, t.Name, args, sess)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	text, err := mcpserver.Encode(v)
	if err != nil {
		http.Error(w, "encode error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, text) // not text+"\n": a listing is megabytes, copied once less
	_, _ = io.WriteString(w, "\n")
}

// restError is T-common-19's error body, fields in the documented order (CONV-5).
type restError struct {
	Error struct {
		Tool    string `json:"tool"`
		Class   string `json:"class"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeErr(w http.ResponseWriter, status int, tool, class, msg string) {
	var e restError
	e.Error.Tool, e.Error.Class, e.Error.Message = tool, class, msg
	writeJSON(w, status, e)
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return strings.TrimSpace(string(b))
}
