// Package door is the gateway's OAuth door (identity.md §5), armed only when http_public_url is
// set: the gateway as authorization server and resource server for remote connectors. It owns
// the policy — who may register, what the practitioner sees and approves, how codes and tokens
// live — and leaves the wire formats to the MCP SDK (oauthex metadata types, RequireBearerToken,
// RFC 9728 metadata) and PKCE to golang.org/x/oauth2. The practitioner approves with a TOTP code
// that only the airlock can verify (A-72, ARCH-3; consume-once shared with the airlock, D-5) or
// from the console (O-oauth-1). Codes, tokens and secrets are opaque and stored hashed.
//
// Clients come from dynamic registration (I-62) or, preferred by the MCP authorization spec, a
// Client ID Metadata Document named by an https client_id (cimd.go). Every row consumed — a
// code attempt, an approval, a code, a refresh token — is consumed by a conditional UPDATE or
// DELETE whose affected rows are checked, so concurrent requests on SQLite or Postgres cannot
// spend one thing twice. Wrong codes also count against the airlock's deployment-wide failure
// budget; while it is locked the approve page says so and counts no attempt.
package door

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"github.com/nats-io/nats.go"
	"golang.org/x/oauth2"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/logkey"
	"github.com/stasima/stasima/pkg/schema"
)

// Lifetimes and limits of identity.md §5.
const (
	TxnTTL     = 600 * time.Second   // I-63
	CodeTTL    = 300 * time.Second   // I-66
	AccessTTL  = 86400 * time.Second // I-68
	RefreshTTL = 30 * 24 * time.Hour // I-68
	ClientCap  = 512                 // I-62
	BurnAt     = 5                   // I-65
	Subject    = "practitioner"      // I-66
	verifyWait = 15 * time.Second    // one airlock verification
)

// Backend is what the door asks of the bus.
type Backend interface {
	Do(ctx context.Context, cmd busclient.Command, result any) error
	PublishIntents(ctx context.Context, intents []schema.AuditIntent) error
	Await(ctx context.Context, ids []string)
}

// Config configures the door.
type Config struct {
	PublicURL string // the issuer (I-60)
	DSN       string // postgres://… or "" for the SQLite file at Path
	Path      string
	BusPrefix string
	Now       func() time.Time
	// MetadataClient fetches client metadata documents. Nil is the production client, which
	// connects only to public addresses; tests inject one that trusts their TLS server.
	MetadataClient *http.Client
}

// Door is the armed OAuth door.
type Door struct {
	cfg      Config
	base     string // the public URL without trailing slash: issuer and endpoint base
	resource string // <base>/mcp
	be       Backend
	nc       *nats.Conn
	subj     bus.Subjects
	log      *slog.Logger
	now      func() time.Time
	fetcher  *http.Client // client metadata documents

	mu      sync.RWMutex // guards store across Start/Stop
	store   *Store
	console *bus.Registrar // the console's subjects (I-66)
}

// New validates the public URL and assembles the door; Start opens the store.
func New(cfg Config, be Backend, nc *nats.Conn, log *slog.Logger) (*Door, error) {
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("door: http_public_url %q must be an http(s) URL with a host", cfg.PublicURL)
	}
	subj, err := bus.NewSubjects(cfg.BusPrefix)
	if err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	base := strings.TrimRight(cfg.PublicURL, "/")
	return &Door{cfg: cfg, base: base, resource: base + "/mcp", be: be, nc: nc, subj: subj,
		log: log.With("part", "door"), now: cfg.Now, fetcher: metadataFetcher(cfg.MetadataClient)}, nil
}

// Start opens the store and answers the console's admin-only subjects (I-66).
func (d *Door) Start(ctx context.Context) error {
	st, err := OpenStore(ctx, d.cfg.DSN, d.cfg.Path)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.store = st
	d.mu.Unlock()
	if d.nc != nil {
		// The console's grant is a core request/reply on a command subject (admin-only by the
		// bus permissions); the bus kit answers both on their exact subjects.
		grant := d.subj.Command(bus.Gateway, schema.CmdOAuthConsoleGrant)
		r, err := bus.ServeQueries(d.nc, d.subj, d.log, nil, bus.QueriesConfig{Service: bus.Gateway, Timeout: consoleWait,
			Inline: true, Subjects: map[string]string{schema.CmdOAuthConsoleGrant: grant}}, d.consoleQueries())
		if err != nil {
			return fmt.Errorf("door: console: %w", err)
		}
		d.console = r
	}
	d.log.Info("oauth door armed", "issuer", d.base)
	return nil
}

// Stop unsubscribes and closes the store.
func (d *Door) Stop(ctx context.Context) error {
	if d.console != nil {
		d.console.Stop(ctx)
		d.console = nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.store == nil {
		return nil
	}
	err := d.store.Close()
	d.store = nil
	return err
}

func (d *Door) st() (*Store, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.store == nil {
		return nil, errors.New("door: store closed")
	}
	return d.store, nil
}

// ResourceMetadataURL is the RFC 9728 path-suffixed metadata URL (I-60, I-61).
func (d *Door) ResourceMetadataURL() string {
	return d.base + "/.well-known/oauth-protected-resource/mcp"
}

// Mount registers the door's endpoints (I-60).
func (d *Door) Mount(mux *http.ServeMux) {
	prm := auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource: d.resource, AuthorizationServers: []string{d.base},
		BearerMethodsSupported: []string{"header"}, ResourceName: "Stasima",
	})
	mux.Handle("/.well-known/oauth-protected-resource/mcp", prm)
	mux.Handle("/.well-known/oauth-protected-resource", prm)
	mux.HandleFunc("/.well-known/oauth-authorization-server", d.metadata)
	mux.HandleFunc("POST /register", d.register)
	mux.HandleFunc("GET /authorize", d.authorize)
	mux.HandleFunc("POST /token", d.token)
	mux.HandleFunc("POST /revoke", d.revoke)
	mux.HandleFunc("GET /approve", d.approvePage)
	mux.HandleFunc("POST /approve", d.approvePost)
}

// Protect requires a valid bearer on h (I-61, I-70) through the SDK's middleware.
func (d *Door) Protect(h http.Handler) http.Handler {
	inner := auth.RequireBearerToken(d.verify, &auth.RequireBearerTokenOptions{ResourceMetadataURL: d.ResourceMetadataURL()})(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(&challengeWriter{ResponseWriter: w}, r)
	})
}

// challengeWriter adds I-61's error="invalid_token" to the SDK's challenge, which names only
// the resource metadata.
type challengeWriter struct {
	http.ResponseWriter
	wrote bool
}

func (c *challengeWriter) WriteHeader(code int) {
	if !c.wrote && code == http.StatusUnauthorized {
		h := c.Header()
		if v := h.Get("WWW-Authenticate"); strings.HasPrefix(v, "Bearer ") && !strings.Contains(v, "error=") {
			h.Set("WWW-Authenticate", `Bearer error="invalid_token", `+strings.TrimPrefix(v, "Bearer "))
		}
	}
	c.wrote = true
	c.ResponseWriter.WriteHeader(code)
}

func (c *challengeWriter) Write(b []byte) (int, error) {
	if !c.wrote {
		c.WriteHeader(http.StatusOK)
	}
	return c.ResponseWriter.Write(b)
}

func (c *challengeWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (c *challengeWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// verify is I-70: present, of kind access, not expired.
func (d *Door) verify(ctx context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
	st, err := d.st()
	if err != nil {
		return nil, err
	}
	t, err := st.Token(ctx, token)
	if err != nil {
		return nil, err
	}
	if t == nil || t.Kind != KindAccess || !d.now().Before(t.Expires) {
		return nil, auth.ErrInvalidToken
	}
	return &auth.TokenInfo{Scopes: t.Scopes, Expiration: t.Expires, UserID: t.Subject}, nil
}

// asMeta is RFC 8414's document as I-60 lists it.
type asMeta struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	RegistrationEndpoint              string   `json:"registration_endpoint"`
	RevocationEndpoint                string   `json:"revocation_endpoint"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	// IssParameterSupported: every authorization response carries iss (RFC 9207).
	IssParameterSupported bool `json:"authorization_response_iss_parameter_supported"`
	// ClientIDMetadataDocumentSupported: an https client_id names its metadata document
	// (draft-ietf-oauth-client-id-metadata-document; the MCP authorization spec's preferred
	// registration).
	ClientIDMetadataDocumentSupported bool `json:"client_id_metadata_document_supported"`
}

func (d *Door) metadata(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSON(w, http.StatusOK, asMeta{
		Issuer: d.base, AuthorizationEndpoint: d.base + "/authorize", TokenEndpoint: d.base + "/token",
		RegistrationEndpoint: d.base + "/register", RevocationEndpoint: d.base + "/revoke",
		ResponseTypesSupported:            []string{"code"},
		GrantTypesSupported:               []string{"authorization_code", "refresh_token"},
		CodeChallengeMethodsSupported:     []string{"S256"},
		TokenEndpointAuthMethodsSupported: []string{"client_secret_post", "client_secret_basic", "none"},
		IssParameterSupported:             true,
		ClientIDMetadataDocumentSupported: true,
	})
}

// register is RFC 7591 dynamic registration, open, capped (I-62).
func (d *Door) register(w http.ResponseWriter, r *http.Request) {
	var md oauthex.ClientRegistrationMetadata
	if err := json.NewDecoder(r.Body).Decode(&md); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_client_metadata", "body is not a JSON client registration")
		return
	}
	if len(md.RedirectURIs) == 0 {
		oauthError(w, http.StatusBadRequest, "invalid_redirect_uri", "redirect_uris is required")
		return
	}
	for _, u := range md.RedirectURIs {
		if err := redirectAllowed(u); err != nil {
			oauthError(w, http.StatusBadRequest, "invalid_redirect_uri", err.Error())
			return
		}
	}
	method := md.TokenEndpointAuthMethod
	switch method {
	case "":
		method = "client_secret_basic" // RFC 7591 §2's default
	case "none", "client_secret_basic", "client_secret_post":
	default:
		oauthError(w, http.StatusBadRequest, "invalid_client_metadata", fmt.Sprintf("token_endpoint_auth_method %q is not supported", method))
		return
	}
	for _, g := range md.GrantTypes {
		if g != "authorization_code" && g != "refresh_token" {
			oauthError(w, http.StatusBadRequest, "invalid_client_metadata", fmt.Sprintf("grant type %q is not supported", g))
			return
		}
	}
	now := d.now()
	c := Client{ID: random(16), Name: md.ClientName, RedirectURIs: md.RedirectURIs, AuthMethod: method,
		GrantTypes: []string{"authorization_code", "refresh_token"}, Scope: md.Scope, IssuedAt: now.Unix()}
	secret := ""
	if method != "none" {
		secret = random(32)
		c.SecretHash = hash(secret)
	}
	st, err := d.st()
	if err == nil {
		err = st.AddClient(r.Context(), c, now, ClientCap)
	}
	if err != nil {
		d.internal(w, "register", err)
		return
	}
	d.audit(r.Context(), schema.AuditIntent{Actor: "practitioner", Op: "oauth_client_registered",
		Detail: schema.Detail("client_id", c.ID, "name", c.Name)})
	d.log.Info("oauth client registered", "client_id", c.ID)
	resp := &oauthex.ClientRegistrationResponse{
		ClientRegistrationMetadata: oauthex.ClientRegistrationMetadata{
			RedirectURIs: c.RedirectURIs, TokenEndpointAuthMethod: method, GrantTypes: c.GrantTypes,
			ResponseTypes: []string{"code"}, ClientName: c.Name, Scope: c.Scope,
		},
		ClientID: c.ID, ClientSecret: secret, ClientIDIssuedAt: time.Unix(c.IssuedAt, 0),
	}
	writeJSON(w, http.StatusCreated, resp)
}

// redirectAllowed refuses redirect URIs a code must never travel to: relative ones, fragments,
// script-capable schemes, and plain http off loopback (OAuth 2.1 §2.3.1, RFC 8252).
func redirectAllowed(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return fmt.Errorf("redirect uri %q is not an absolute URI", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("redirect uri %q has a fragment", raw)
	}
	switch strings.ToLower(u.Scheme) {
	case "javascript", "data", "file", "vbscript", "about", "blob":
		return fmt.Errorf("redirect uri %q has a forbidden scheme", raw)
	case "http":
		h := u.Hostname()
		if h != "localhost" && h != "127.0.0.1" && h != "::1" {
			return fmt.Errorf("redirect uri %q: http is allowed only to loopback", raw)
		}
	case "https":
		if u.Host == "" {
			return fmt.Errorf("redirect uri %q has no host", raw)
		}
	}
	return nil
}

// authorize is I-63.
func (d *Door) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	st, err := d.st()
	if err != nil {
		d.internal(w, "authorize", err)
		return
	}
	var c *Client
	if id := q.Get("client_id"); IsMetadataClientID(id) {
		// A metadata document is read afresh at every authorization and stored as the client,
		// so the approve page and the console show what it says now.
		if c, err = d.metadataClient(r.Context(), id); err != nil {
			d.log.Info("client metadata refused", "client_id", id, logkey.Err, err)
			textPage(w, http.StatusBadRequest, err.Error())
			return
		}
		err = st.AddClient(r.Context(), *c, d.now(), ClientCap)
	} else {
		c, err = st.Client(r.Context(), id)
	}
	if err != nil {
		d.internal(w, "authorize", err)
		return
	}
	// Until the client and its redirect URI are known, errors go to the browser, never to an
	// unverified redirect (RFC 6749 §4.1.2.1).
	if c == nil {
		textPage(w, http.StatusBadRequest, "unknown client_id: register the client first")
		return
	}
	redirect, explicit := q.Get("redirect_uri"), q.Has("redirect_uri")
	switch {
	case explicit && !slices.Contains(c.RedirectURIs, redirect):
		textPage(w, http.StatusBadRequest, "redirect_uri is not registered for this client")
		return
	case !explicit && len(c.RedirectURIs) != 1:
		textPage(w, http.StatusBadRequest, "redirect_uri is required: the client registered several")
		return
	case !explicit:
		redirect = c.RedirectURIs[0]
	}
	fail := func(code, desc string) {
		http.Redirect(w, r, withQuery(redirect, "error", code, "error_description", desc, "state", q.Get("state"), "iss", d.base), http.StatusFound)
	}
	if q.Get("response_type") != "code" {
		fail("unsupported_response_type", "response_type must be code")
		return
	}
	if q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256" {
		fail("invalid_request", "PKCE with code_challenge_method S256 is required")
		return
	}
	if res := q.Get("resource"); res != "" && strings.TrimRight(res, "/") != d.resource {
		fail("invalid_target", "resource must be "+d.resource)
		return
	}
	now := d.now()
	t := Txn{ID: random(16), ClientID: c.ID, Created: now, Params: Params{
		State: q.Get("state"), Scopes: scopes(q.Get("scope")), CodeChallenge: q.Get("code_challenge"),
		RedirectURI: redirect, RedirectExplicit: explicit, Resource: q.Get("resource"),
	}}
	if err := st.PutTxn(r.Context(), t, now.Add(-TxnTTL)); err != nil {
		d.internal(w, "authorize", err)
		return
	}
	http.Redirect(w, r, "/approve?txn="+url.QueryEscape(t.ID), http.StatusFound)
}

// pending is I-63's pending(txn): nil when unknown, or unapproved and older than the TTL.
func (d *Door) pending(ctx context.Context, st *Store, id string) (*Txn, error) {
	if id == "" {
		return nil, nil
	}
	t, err := st.Txn(ctx, id)
	if err != nil || t == nil {
		return nil, err
	}
	if t.Redirect == "" && d.now().Sub(t.Created) > TxnTTL {
		return nil, nil
	}
	return t, nil
}

// approvePage is I-64.
func (d *Door) approvePage(w http.ResponseWriter, r *http.Request) {
	d.approve(w, r, r.URL.Query().Get("txn"), "", false)
}

// approvePost is I-65.
func (d *Door) approvePost(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		textPage(w, http.StatusBadRequest, "malformed form")
		return
	}
	d.approve(w, r, r.PostForm.Get("txn"), r.PostForm.Get("code"), true)
}

func (d *Door) approve(w http.ResponseWriter, r *http.Request, id, code string, post bool) {
	ctx := r.Context()
	st, err := d.st()
	if err != nil {
		d.internal(w, "approve", err)
		return
	}
	t, err := d.pending(ctx, st, id)
	if err != nil {
		d.internal(w, "approve", err)
		return
	}
	if t == nil {
		textPage(w, http.StatusBadRequest, "This approval request has expired or is unknown. Start again from the client.")
		return
	}
	if t.Redirect != "" {
		http.Redirect(w, r, t.Redirect, http.StatusFound)
		return
	}
	c, err := st.Client(ctx, t.ClientID)
	if err != nil {
		d.internal(w, "approve", err)
		return
	}
	if c == nil {
		c = &Client{ID: t.ClientID}
	}
	if !post {
		renderApprove(w, http.StatusOK, pageData{Txn: t.ID, Client: c.Display(), Redirect: t.Params.RedirectURI, Refresh: true})
		return
	}
	// The attempt is reserved before the airlock checks the code, by one conditional UPDATE, so
	// concurrent POSTs on one transaction check at most BurnAt codes between them (I-65, I-85).
	n, live, err := st.Attempt(ctx, t.ID, BurnAt)
	if err != nil {
		d.internal(w, "approve", err)
		return
	}
	if !live { // approved or burned meanwhile: answer as a fresh look would
		d.approve(w, r, id, "", false)
		return
	}
	if n == 0 { // its attempts are all taken: closed, whatever the last checks return
		textPage(w, http.StatusTooManyRequests, "Too many wrong codes: this approval request is closed. Start again from the client.")
		return
	}
	vctx, cancel := context.WithTimeout(ctx, verifyWait)
	defer cancel()
	var ok schema.TOTPVerified
	err = d.be.Do(vctx, busclient.Command{Svc: bus.Airlock, Verb: schema.CmdTOTPVerify,
		Data: schema.TOTPVerify{Code: code, Purpose: "oauth", ClientID: t.ClientID}}, &ok)
	switch {
	case err == nil:
	case locked(err):
		// The deployment-wide failure budget has locked the airlock: the code was refused
		// unread, so the attempt is given back — a lock is not a guess.
		if rerr := st.Refund(ctx, t.ID); rerr != nil {
			d.internal(w, "approve", rerr)
			return
		}
		d.lockedPage(w, r, t, c, BurnAt-(n-1), err)
		return
	case !fault.Is(err, fault.AirlockError) && !fault.Is(err, fault.ArgumentError):
		// The attempt stays spent: the airlock may have checked the code before it stopped
		// answering, and an unknown outcome must not buy a free guess.
		d.log.Warn("oauth code verification unavailable", logkey.Err, err)
		textPage(w, http.StatusServiceUnavailable, "The code could not be checked right now (the airlock did not answer). Try again in a moment.")
		return
	case n >= BurnAt:
		burned, berr := st.Burn(ctx, t.ID)
		if berr != nil {
			d.internal(w, "approve", berr)
			return
		}
		if burned {
			d.audit(ctx, schema.AuditIntent{Actor: "system", Op: "oauth_txn_burned",
				Detail: schema.Detail("reason", "too many wrong codes", "misses", n)})
			d.log.Info("oauth transaction burned", "client_id", t.ClientID, "misses", n)
		}
		textPage(w, http.StatusTooManyRequests, "Too many wrong codes: this approval request is closed. Start again from the client.")
		return
	default:
		renderApprove(w, http.StatusUnauthorized, pageData{Txn: t.ID, Client: c.Display(), Redirect: t.Params.RedirectURI,
			Error: fmt.Sprintf("Code refused. %d attempt(s) left — wait for the next code from your authenticator and try again.", BurnAt-n)})
		return
	}
	redirect, _, err := d.grant(ctx, st, t)
	if errors.Is(err, errVanished) { // burned by a concurrent wrong code while this one was checked
		d.approve(w, r, id, "", false)
		return
	}
	if err != nil {
		d.internal(w, "approve", err)
		return
	}
	http.Redirect(w, r, redirect, http.StatusFound)
}

// locked reports the airlock refusing a code unread: its deployment-wide failure budget
// locks code checks for stage, land and the door after too many wrong codes, and answers
// RateLimited (op airlock.budget) until the lock ends.
func locked(err error) bool { return fault.Is(err, fault.RateLimited) }

// lockedPage shows the budget's lock on the approve page, or as JSON to a client that asks for
// it: no attempt was counted, console approval still works, and when code checks reopen.
func (d *Door) lockedPage(w http.ResponseWriter, r *http.Request, t *Txn, c *Client, left int, err error) {
	var fe *fault.Error
	why := "too many wrong codes across the deployment"
	if errors.As(err, &fe) && fe.Msg != "" {
		why = fe.Msg
	}
	msg := fmt.Sprintf("Code approval is locked: %s. This code was not checked and not counted (%d attempt(s) left). "+
		"Approve from the console with stasima admin oauth pending and stasima admin oauth approve, or try again when the lock lifts.", why, left)
	d.log.Warn("oauth code refused: airlock locked", "client_id", t.ClientID)
	if wantsJSON(r) {
		writeJSON(w, http.StatusTooManyRequests, lockedReply{Error: "airlock_locked", Description: msg, Txn: t.ID, AttemptsLeft: left})
		return
	}
	renderApprove(w, http.StatusTooManyRequests, pageData{Txn: t.ID, Client: c.Display(), Redirect: t.Params.RedirectURI, Error: msg})
}

// lockedReply is the lock's answer to a client that asks for JSON.
type lockedReply struct {
	Error        string `json:"error"`
	Description  string `json:"error_description"`
	Txn          string `json:"txn"`
	AttemptsLeft int    `json:"attempts_left"`
}

// wantsJSON is a request whose Accept names JSON before HTML.
func wantsJSON(r *http.Request) bool {
	a := r.Header.Get("Accept")
	j := strings.Index(a, "application/json")
	h := strings.Index(a, "text/html")
	return j >= 0 && (h < 0 || j < h)
}

// errVanished is a grant whose transaction was deleted before it could be approved.
var errVanished = errors.New("the transaction vanished before its grant")

// grant is I-66: idempotent per transaction; the stored redirect carries the code.
// fresh is false when an earlier grant (either channel) approved it.
func (d *Door) grant(ctx context.Context, st *Store, t *Txn) (redirect string, fresh bool, err error) {
	code := random(32)
	// iss names this authorization server in the response, so a client talking to several
	// cannot be sent another server's code (RFC 9207 mix-up defence).
	redirect = withQuery(t.Params.RedirectURI, "code", code, "state", t.Params.State, "iss", d.base)
	out, fresh, err := st.Approve(ctx, t.ID, redirect, code, Code{
		ClientID: t.ClientID, CodeChallenge: t.Params.CodeChallenge, RedirectURI: t.Params.RedirectURI,
		RedirectExplicit: t.Params.RedirectExplicit, Resource: t.Params.Resource, Scopes: orEmpty(t.Params.Scopes),
		Subject: Subject, Expires: d.now().Add(CodeTTL),
	})
	if err == nil && out == "" {
		err = fmt.Errorf("grant %s: %w", t.ID, errVanished)
	}
	return out, fresh, err
}

// token is the token endpoint (I-67, I-68, I-69).
func (d *Door) token(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "malformed form")
		return
	}
	ctx := r.Context()
	st, err := d.st()
	if err != nil {
		d.internal(w, "token", err)
		return
	}
	c, ok := d.authenticate(w, r, st)
	if !ok {
		return
	}
	f := r.PostForm
	var (
		grant  Token
		rotate string // the refresh token this grant consumes
	)
	switch f.Get("grant_type") {
	case "authorization_code":
		code, err := st.TakeCode(ctx, f.Get("code"))
		if err != nil {
			d.internal(w, "token", err)
			return
		}
		switch {
		case code == nil || !d.now().Before(code.Expires) || code.ClientID != c.ID:
			oauthError(w, http.StatusBadRequest, "invalid_grant", "the authorization code is invalid, expired or not this client's")
			return
		case code.RedirectExplicit && f.Get("redirect_uri") != code.RedirectURI,
			!code.RedirectExplicit && f.Has("redirect_uri") && f.Get("redirect_uri") != code.RedirectURI:
			oauthError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri does not match the authorization request")
			return
		case f.Get("code_verifier") == "" ||
			subtle.ConstantTimeCompare([]byte(oauth2.S256ChallengeFromVerifier(f.Get("code_verifier"))), []byte(code.CodeChallenge)) != 1:
			oauthError(w, http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
			return
		case f.Get("resource") != "" && code.Resource != "" && f.Get("resource") != code.Resource:
			oauthError(w, http.StatusBadRequest, "invalid_target", "resource does not match the authorization request")
			return
		}
		grant = Token{ClientID: c.ID, Scopes: code.Scopes, Granted: orEmpty(code.Scopes), Subject: code.Subject, Resource: code.Resource, Family: random(16)}
	case "refresh_token":
		old, err := st.Token(ctx, f.Get("refresh_token"))
		if err != nil {
			d.internal(w, "token", err)
			return
		}
		if old != nil && old.Kind == KindSpent && old.ClientID == c.ID {
			// A rotated-away refresh token came back: the grant is in two hands, so every token
			// descended from it goes (OAuth 2.1 §4.3.1); the client starts again at /authorize.
			n, err := st.RevokeFamily(ctx, old.Family)
			if err != nil {
				d.internal(w, "token", err)
				return
			}
			d.log.Warn("oauth refresh token reused: grant revoked", "client_id", c.ID, "revoked", n)
			oauthError(w, http.StatusBadRequest, "invalid_grant", "the refresh token was already used: every token of this grant is revoked")
			return
		}
		if old == nil || old.Kind != KindRefresh || !d.now().Before(old.Expires) || old.ClientID != c.ID {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "the refresh token is invalid, expired or not this client's")
			return
		}
		granted := old.Granted
		if granted == nil { // a token stored before Granted was kept: its scopes are the grant
			granted = old.Scopes
		}
		scopes := old.Scopes
		if f.Has("scope") {
			// A refresh may narrow the scope, never widen it past what the practitioner
			// approved (RFC 6749 §6); a refused request leaves the old token valid.
			scopes = orEmpty(strings.Fields(f.Get("scope")))
			for _, sc := range scopes {
				if !slices.Contains(granted, sc) {
					oauthError(w, http.StatusBadRequest, "invalid_scope",
						fmt.Sprintf("scope %q was not granted (granted: %q)", sc, strings.Join(granted, " ")))
					return
				}
			}
		}
		grant = Token{ClientID: c.ID, Scopes: scopes, Granted: orEmpty(granted), Subject: old.Subject, Resource: old.Resource, Family: old.Family}
		rotate = f.Get("refresh_token")
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
		return
	}
	now := d.now()
	access, refresh := random(32), random(32)
	at, rt := grant, grant
	at.Kind, at.Expires = KindAccess, now.Add(AccessTTL)
	rt.Kind, rt.Expires = KindRefresh, now.Add(RefreshTTL)
	if rotate == "" {
		err = st.PutPair(ctx, access, at, refresh, rt, now, now.Add(-TxnTTL))
	} else {
		// The old pair is revoked and the new one stored in one transaction whose DELETE is
		// checked, so two concurrent refreshes with one token cannot both mint a pair (I-69).
		var ok bool
		if ok, err = st.Rotate(ctx, rotate, c.ID, access, at, refresh, rt, now, now.Add(-TxnTTL)); err == nil && !ok {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "the refresh token is invalid, expired or not this client's")
			return
		}
	}
	if err != nil {
		d.internal(w, "token", err)
		return
	}
	resp := map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": int(AccessTTL / time.Second), "refresh_token": refresh}
	if len(grant.Scopes) > 0 {
		resp["scope"] = strings.Join(grant.Scopes, " ")
	}
	writeJSON(w, http.StatusOK, resp)
}

// revoke is RFC 7009: the token and its pair go; unknown tokens are not an error.
func (d *Door) revoke(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "malformed form")
		return
	}
	st, err := d.st()
	if err != nil {
		d.internal(w, "revoke", err)
		return
	}
	c, ok := d.authenticate(w, r, st)
	if !ok {
		return
	}
	t, err := st.Token(r.Context(), r.PostForm.Get("token"))
	if err == nil && t != nil && t.ClientID == c.ID {
		err = st.Revoke(r.Context(), r.PostForm.Get("token"))
		if err == nil && t.Kind != KindAccess {
			// Revoking a refresh token ends its grant: every token descended from the same
			// approval goes with it (RFC 7009 §2.1).
			_, err = st.RevokeFamily(r.Context(), t.Family)
		}
	}
	if err != nil {
		d.internal(w, "revoke", err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// authenticate identifies the client at the token endpoint: HTTP Basic or form secret for a
// confidential client, the bare client_id for a public one.
func (d *Door) authenticate(w http.ResponseWriter, r *http.Request, st *Store) (*Client, bool) {
	id, secret, basic := r.BasicAuth()
	if basic {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	c, err := st.Client(r.Context(), id)
	if err != nil {
		d.internal(w, "token", err)
		return nil, false
	}
	if c == nil && IsMetadataClientID(id) && checkClientIDURL(id) == nil {
		// A metadata-document client is public; its codes and tokens are bound to its
		// client_id, so it needs no stored row here (the row may have been evicted, I-62).
		c = &Client{ID: id, AuthMethod: "none"}
	}
	if c == nil || (c.AuthMethod != "none" && subtle.ConstantTimeCompare([]byte(hash(secret)), []byte(c.SecretHash)) != 1) {
		w.Header().Set("WWW-Authenticate", `Basic realm="stasima"`)
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return nil, false
	}
	return c, true
}

// audit publishes one row's intent and waits for it (ARCH-6); a failure is logged, never the
// caller's: the grant or refusal already happened.
func (d *Door) audit(ctx context.Context, in schema.AuditIntent) {
	in.ID = "gw/" + random(16)
	in.Outcome = "ok"
	if err := d.be.PublishIntents(ctx, []schema.AuditIntent{in}); err != nil {
		d.log.Error("audit intent publish failed", "op", in.Op, logkey.Err, err)
		return
	}
	d.be.Await(ctx, []string{in.ID})
}

func (d *Door) internal(w http.ResponseWriter, where string, err error) {
	d.log.Error("oauth door failed", "at", where, logkey.Err, err)
	textPage(w, http.StatusInternalServerError, "internal error")
}

// random mints an unguessable URL-safe id. It never starts with '-': transaction ids are
// typed as arguments of `stasima admin oauth approve`, where a leading '-' reads as a flag.
func random(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	s := base64.RawURLEncoding.EncodeToString(b)
	if s[0] == '-' {
		s = "A" + s[1:]
	}
	return s
}

func scopes(s string) []string { return orEmpty(strings.Fields(s)) }

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// withQuery adds the non-empty key/value pairs to raw's query.
func withQuery(raw string, kv ...string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func oauthError(w http.ResponseWriter, code int, e, desc string) {
	writeJSON(w, code, map[string]string{"error": e, "error_description": desc})
}

func textPage(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}
