// Package cockpit is the practitioner's web page: review, land, close and watch proposals, read
// the inbox and the audit log, all over the admin's bus connection (never the gateway, which
// may not land). It owns the page's security: a one-time start token that becomes a session
// cookie, a CSRF token on every state-changing form, Host and Origin checks, a strict CSP and
// no external requests (every asset is embedded).
package cockpit

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/schema"
)

// Bus is what the cockpit asks of the admin's bus client (busclient.Client implements it).
// Calls are safe for concurrent use.
type Bus interface {
	Query(ctx context.Context, svc, name string, req, result any) error
	Do(ctx context.Context, cmd busclient.Command, result any) error
	Follow(ctx context.Context, subjects []string, fn func(bus.Envelope)) (stop func(), err error)
	PublishIntents(ctx context.Context, intents []schema.AuditIntent) error
	Await(ctx context.Context, ids []string)
}

var _ Bus = (*busclient.Client)(nil)

// Config is what the cockpit needs of the deployment's configuration.
type Config struct {
	// CanonRef is canon's full ref name (refs/heads/main unless configured).
	CanonRef string
	// BusPrefix is the deployment's subject prefix (stasima unless configured).
	BusPrefix string
	// Approver is the name a land from the cockpit is approved by (the first configured
	// approver, as `admin land` without --by).
	Approver string
}

// sessionCookie names the cookie a start token becomes.
const sessionCookie = "stasima_cockpit"

// Server serves the cockpit. Its handler is safe for concurrent use.
type Server struct {
	cfg  Config
	bus  Bus
	log  *slog.Logger
	subj bus.Subjects
	now  func() time.Time

	key  []byte // signs CSRF tokens; never leaves the process
	tmpl *template.Template

	// mu guards token and sessions.
	mu       sync.Mutex
	token    string          // the one-time start token; "" once used
	sessions map[string]bool // session ids a start token became

	// allowedHosts are the Host header values the page answers to (set by Serve or SetAddr).
	allowedHosts map[string]bool
	origins      map[string]bool
}

// New builds a Server with a fresh start token; it does no I/O.
func New(cfg Config, b Bus, log *slog.Logger) (*Server, error) {
	if cfg.CanonRef == "" || cfg.Approver == "" {
		return nil, fmt.Errorf("cockpit: canon ref %q and approver %q are both required", cfg.CanonRef, cfg.Approver)
	}
	if cfg.BusPrefix == "" {
		cfg.BusPrefix = "stasima"
	}
	subj, err := bus.NewSubjects(cfg.BusPrefix)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, bus: b, log: log.With("svc", "cockpit"), subj: subj, now: time.Now,
		key: randomBytes(32), token: hex.EncodeToString(randomBytes(24)), sessions: map[string]bool{},
		tmpl: templates(cfg.CanonRef)}
	return s, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return b
}

// Listen opens the cockpit's listener. Only a loopback address is accepted: the page lands
// canon with the admin's credentials and must not be reachable from the network.
func Listen(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("cockpit --http %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("cockpit --http %q: only a loopback address (127.0.0.1, ::1, localhost) is served", addr)
	}
	return net.Listen("tcp", addr)
}

// SetAddr records the address the page is served on: its Host header values and origins.
func (s *Server) SetAddr(addr net.Addr) {
	_, port, _ := net.SplitHostPort(addr.String())
	s.mu.Lock()
	defer s.mu.Unlock()
	s.allowedHosts, s.origins = map[string]bool{}, map[string]bool{}
	for _, h := range []string{"127.0.0.1", "localhost", "[::1]"} {
		s.allowedHosts[h+":"+port] = true
		s.origins["http://"+h+":"+port] = true
	}
}

// StartURL is the URL to open first: it carries the one-time start token (as Jupyter's does).
func (s *Server) StartURL(addr net.Addr) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "http://" + addr.String() + "/?token=" + s.token
}

// Serve serves the cockpit on ln until ctx ends, then shuts down.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.SetAddr(ln.Addr())
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Server-sent event streams never end by themselves; Close cuts them after the grace.
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Handler is the cockpit's routes behind its guards: recover, headers, Host and Origin,
// session, CSRF.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(staticFS)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/proposals", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /proposals", s.proposals)
	mux.HandleFunc("GET /proposals/{id}", s.proposal)
	mux.HandleFunc("POST /proposals/{id}/land", s.land)
	mux.HandleFunc("POST /proposals/{id}/close", s.close)
	mux.HandleFunc("GET /airlock", s.airlock)
	mux.HandleFunc("POST /airlock/{id}/revert", s.revert)
	mux.HandleFunc("GET /events", s.events)
	mux.HandleFunc("GET /inbox", s.inbox)
	mux.HandleFunc("POST /inbox/read", s.markRead)
	mux.HandleFunc("GET /audit", s.audit)
	mux.HandleFunc("GET /audit/{seq}", s.auditRow)
	mux.HandleFunc("GET /seats", s.seats)
	mux.HandleFunc("GET /search", s.search)
	mux.HandleFunc("GET /entry", s.entry)
	return s.recoverer(s.headers(s.guard(mux)))
}

// recoverer turns a handler panic into a 500 with a request id; the detail is logged once.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				id := hex.EncodeToString(randomBytes(6))
				s.log.Error("handler panic", "request_id", id, "path", r.URL.Path, "err", fmt.Sprint(v))
				http.Error(w, "internal error (request "+id+")", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// csp allows only the cockpit's own scripts, styles and images, and no framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (s *Server) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		// same-origin, not no-referrer: under no-referrer a browser sends "Origin: null" with
		// form posts, and the Origin check refuses them.
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// guard checks, in order: the Host header (a DNS-rebinding page names a foreign host), the
// Origin of any request that carries one, the start token or the session cookie, and the CSRF
// token of every POST.
func (s *Server) guard(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		hostOK, originOK := s.allowedHosts[r.Host], true
		if o := r.Header.Get("Origin"); o != "" {
			originOK = s.origins[o]
		}
		s.mu.Unlock()
		if !hostOK {
			http.Error(w, fmt.Sprintf("cockpit: host %q is not this cockpit's address", r.Host), http.StatusMisdirectedRequest)
			return
		}
		if !originOK {
			http.Error(w, fmt.Sprintf("cockpit: origin %q is not this cockpit", r.Header.Get("Origin")), http.StatusForbidden)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/static/") {
			next.ServeHTTP(w, r)
			return
		}
		if tok := r.URL.Query().Get("token"); tok != "" {
			s.redeem(w, r, tok)
			return
		}
		sid, ok := s.session(r)
		if !ok {
			s.refuse(w, http.StatusUnauthorized, "No cockpit session. Open the URL that `stasima admin cockpit` printed; "+
				"its token works once, in one browser.")
			return
		}
		if r.Method == http.MethodPost {
			if err := cop.Check(r); err != nil {
				s.refuse(w, http.StatusForbidden, "cockpit: cross-origin request refused: "+err.Error())
				return
			}
			if !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(s.csrfToken(sid))) {
				s.refuse(w, http.StatusForbidden, "cockpit: the form's CSRF token is missing or wrong; reload the page and try again")
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, sid)))
	})
}

type sessionKey struct{}

// redeem turns the one-time start token into a session cookie and redirects to the same page
// without the token, so it leaves the address bar and the history.
func (s *Server) redeem(w http.ResponseWriter, r *http.Request, tok string) {
	s.mu.Lock()
	ok := s.token != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.token)) == 1
	var sid string
	if ok {
		s.token = ""
		sid = hex.EncodeToString(randomBytes(32))
		s.sessions[sid] = true
	}
	s.mu.Unlock()
	if !ok {
		s.refuse(w, http.StatusForbidden, "cockpit: this start token is unknown or already used; restart `stasima admin cockpit` for a new one")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sid, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	q := r.URL.Query()
	q.Del("token")
	u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

func (s *Server) session(r *http.Request) (string, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return c.Value, s.sessions[c.Value]
}

// csrfToken is the session's form token: an HMAC of the session id under the process key.
func (s *Server) csrfToken(sid string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("csrf\x00" + sid))
	return hex.EncodeToString(m.Sum(nil))
}

func (s *Server) refuse(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_ = s.tmpl.ExecuteTemplate(w, "refused.html", page{Title: http.StatusText(code), Error: msg})
}
