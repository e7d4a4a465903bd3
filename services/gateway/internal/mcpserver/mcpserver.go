// Package mcpserver exposes the tools over MCP with the official Go SDK: exactly the 29 tools of
// the contract (T-common-1), their published schemas (T-common-2), results as one JSON text
// block (T-common-4) and refusals as tool errors naming the gate and values (T-common-5).
package mcpserver

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/oklog/ulid/v2"

	"github.com/stasima/stasima/pkg/buildinfo"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/logkey"
	"github.com/stasima/stasima/services/gateway/internal/app"
	"github.com/stasima/stasima/services/gateway/internal/toolspec"
)

// Version is the server version reported at initialize: the build's one version string
// (module version and VCS revision, buildinfo.Version).
var Version = buildinfo.Read().Version()

// New builds an MCP server over the tool set. At most maxSessions sessions live at once (0 = no
// cap): when a new one would exceed the cap, the least recently active is closed (issue 13).
func New(a *app.App, log *slog.Logger, maxSessions int) *mcp.Server {
	sessionKey := sessionKeys()
	live := &registry{max: maxSessions, seen: map[*mcp.ServerSession]uint64{}, log: log,
		// I-8: a session's binding state is discarded when the session ends.
		ended: func(ss *mcp.ServerSession) { a.EndSession(sessionKey(ss.ID())) }}
	srv := mcp.NewServer(&mcp.Implementation{Name: "stasima", Version: Version}, &mcp.ServerOptions{
		Logger:   log,
		PageSize: 100,
	})
	for _, t := range toolspec.All() {
		t := t
		srv.AddTool(&mcp.Tool{Name: t.Name, Description: t.Description, InputSchema: t.InputSchema(), Annotations: &mcp.ToolAnnotations{
			ReadOnlyHint: t.Annotations.ReadOnly, DestructiveHint: new(t.Annotations.Destructive),
			IdempotentHint: t.Annotations.Idempotent, OpenWorldHint: new(t.Annotations.OpenWorld),
		}},
			func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				sess := app.Session{Transport: "mcp"}
				if req.Extra != nil && req.Extra.Header != nil {
					sess.Addr = req.Extra.Header.Get(peerHeader)
				}
				if req.Session != nil {
					sess.Key = sessionKey(req.Session.ID())
					sess.ID = app.SessionTag(sess.Key)
				}
				return Call(ctx, a, log, t, req.Params.Arguments, sess), nil
			})
	}
	srv.AddReceivingMiddleware(live.track, unknownTools, registrationOrder, preEncoded)
	return srv
}

// registry tracks the live sessions by their latest request. A session is registered by its
// first request (initialize), so sessions that never complete the handshake count too, and a
// goroutine per session — owned by the session, returning when it closes — removes it.
type registry struct {
	max   int
	log   *slog.Logger
	ended func(*mcp.ServerSession)
	mu    sync.Mutex
	clock uint64
	seen  map[*mcp.ServerSession]uint64 // the clock at the session's latest request
}

func (r *registry) track(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if ss, ok := req.GetSession().(*mcp.ServerSession); ok {
			r.touch(ss)
		}
		return next(ctx, method, req)
	}
}

// touch records a request of ss; a new session beyond the cap closes the least recently active
// other one.
func (r *registry) touch(ss *mcp.ServerSession) {
	r.mu.Lock()
	_, known := r.seen[ss]
	r.clock++
	r.seen[ss] = r.clock
	var evict *mcp.ServerSession
	if !known && r.max > 0 && len(r.seen) > r.max {
		oldest := r.clock
		for s, at := range r.seen {
			if s != ss && at < oldest {
				evict, oldest = s, at
			}
		}
		delete(r.seen, evict)
	}
	n := len(r.seen)
	r.mu.Unlock()
	if !known {
		go func() {
			_ = ss.Wait()
			r.mu.Lock()
			delete(r.seen, ss)
			r.mu.Unlock()
			r.ended(ss)
		}()
	}
	if evict != nil {
		r.log.Warn("mcp session cap reached: closing the least recently active session", "cap", r.max, "live", n)
		_ = evict.Close()
	}
}

// sessionKeys returns the binding key of an MCP session (I-5): its server-generated
// Mcp-Session-Id; the one session of a stdio server (I-6), whose transport has no id, gets a
// key minted per server so each stdio process has a session tag of its own (I-30).
func sessionKeys() func(id string) string {
	stdio := "stdio:" + ulid.Make().String()
	return func(id string) string {
		if id == "" {
			return stdio
		}
		return "mcp:" + id
	}
}

// Handler serves MCP streamable HTTP for the server. A session idle for longer than idle (0 =
// never) is closed, which also discards its binding (I-8), as REST sessions expire (I-24).
func Handler(srv *mcp.Server, maxBody int64, idle time.Duration) http.Handler {
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
		// The gateway's own I-51 guard (internal/harden) runs in front and also admits the
		// configured extra hosts, which the SDK's loopback-only check would refuse.
		&mcp.StreamableHTTPOptions{MaxRequestBodyBytes: maxBody, DisableLocalhostProtection: true, SessionTimeout: idle})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The SDK hands tool handlers the request's header, not its peer: carry the peer in a
		// header of our own, replacing whatever the client sent under that name.
		r.Header.Set(peerHeader, PeerHost(r.RemoteAddr))
		h.ServeHTTP(w, r)
	})
}

// peerHeader carries the client's address from Handler to the tool handlers (Session.Addr).
const peerHeader = "Stasima-Peer"

// PeerHost is the host of a listener's remote address ("192.0.2.7:51234" → "192.0.2.7").
func PeerHost(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

// Call decodes, runs and encodes one tool call. A panic anywhere in it answers an Internal tool
// error (the SDK runs handlers on goroutines of its own, where a panic would end the process).
func Call(ctx context.Context, a *app.App, log *slog.Logger, t toolspec.Tool, raw json.RawMessage, sess app.Session) (res *mcp.CallToolResult) {
	defer func() {
		if v := recover(); v != nil {
			res = errorResult(t.Name, a.Recovered(t.Name, v), log)
		}
	}()
	args, err := t.Decode(raw)
	if err != nil {
		return errorResult(t.Name, err, log)
	}
	out, err := a.Call(ctx, t.Name, args, sess)
	if err != nil {
		return errorResult(t.Name, err, log)
	}
	compact, text, err := encode(out)
	if err != nil {
		return errorResult(t.Name, err, log)
	}
	// The structured content is the compact encoding: the SDK compacts it on the wire, fewer
	// bytes to scan (issue 15).
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}, StructuredContent: json.RawMessage(compact)}
}

// Message is the public message of an error: its own for refusals, a generic one with a
// request id for internal faults (the detail is logged once, here).
func Message(tool string, err error, log *slog.Logger) (fault.Class, string) {
	class := fault.ClassOf(err)
	if class == fault.Internal {
		id := ulid.Make().String()
		log.Error("tool failed", logkey.Tool, tool, logkey.RequestID, id, logkey.Err, err)
		return class, "internal error (request " + id + ")"
	}
	return class, err.Error()
}

func errorResult(tool string, err error, log *slog.Logger) *mcp.CallToolResult {
	_, msg := Message(tool, err, log)
	return &mcp.CallToolResult{
		IsError: true,
		Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("Error executing tool %s: %s", tool, msg)}},
	}
}

// unknownTools answers a call of an unregistered tool as a tool error (T-common-21) instead of
// the SDK's protocol error.
func unknownTools(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if method == "tools/call" {
			if p, ok := req.GetParams().(*mcp.CallToolParamsRaw); ok {
				if _, known := toolspec.Lookup(p.Name); !known {
					return &mcp.CallToolResult{
						IsError: true,
						Content: []mcp.Content{&mcp.TextContent{Text: "Unknown tool: " + p.Name}},
					}, nil
				}
			}
		}
		return next(ctx, method, req)
	}
}

// registrationOrder returns tools/list in the contract's registration order (tools.md §0); the
// SDK lists tools by name.
func registrationOrder(next mcp.MethodHandler) mcp.MethodHandler {
	rank := map[string]int{}
	for i, t := range toolspec.All() {
		rank[t.Name] = i
	}
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		res, err := next(ctx, method, req)
		if lt, ok := res.(*mcp.ListToolsResult); ok && err == nil {
			sort.SliceStable(lt.Tools, func(i, j int) bool { return rank[lt.Tools[i].Name] < rank[lt.Tools[j].Name] })
		}
		return res, err
	}
}
