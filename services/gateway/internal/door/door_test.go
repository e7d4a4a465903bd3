package door

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

const (
	testIssuer   = "https://door.example"
	testRedirect = "http://127.0.0.1:9/callback"
)

// testDoor serves a door over st on an httptest server. It has no bus: these tests drive the
// endpoints that never reach the airlock or the audit (authorize, token, metadata).
func testDoor(t *testing.T, st *Store, cfg Config) (*Door, *httptest.Server) {
	t.Helper()
	cfg.PublicURL = testIssuer
	d, err := New(cfg, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	d.store = st
	mux := http.NewServeMux()
	d.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return d, srv
}

// noFollow is a client that returns redirects instead of following them.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// codeFor registers a public client c1 (when missing) and approves a fresh transaction with
// scopes, returning the authorization code and its PKCE verifier.
func codeFor(t *testing.T, d *Door, scopes ...string) (code, verifier string) {
	t.Helper()
	ctx := context.Background()
	if c, _ := d.store.Client(ctx, "c1"); c == nil {
		if err := d.store.AddClient(ctx, Client{ID: "c1", RedirectURIs: []string{testRedirect}, AuthMethod: "none"}, d.now(), ClientCap); err != nil {
			t.Fatal(err)
		}
	}
	verifier = oauth2.GenerateVerifier()
	tx := Txn{ID: random(16), ClientID: "c1", Created: d.now(), Params: Params{Scopes: orEmpty(scopes),
		CodeChallenge: oauth2.S256ChallengeFromVerifier(verifier), RedirectURI: testRedirect, RedirectExplicit: true}}
	if err := d.store.PutTxn(ctx, tx, d.now().Add(-TxnTTL)); err != nil {
		t.Fatal(err)
	}
	redirect, fresh, err := d.grant(ctx, d.store, &tx)
	if err != nil || !fresh {
		t.Fatalf("grant: %q %v %v", redirect, fresh, err)
	}
	u, _ := url.Parse(redirect)
	if u.Query().Get("iss") != testIssuer { // RFC 9207
		t.Fatalf("the code's redirect %q lacks iss=%s", redirect, testIssuer)
	}
	return u.Query().Get("code"), verifier
}

type tokenReply struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

func postToken(t *testing.T, srv *httptest.Server, v url.Values) (int, tokenReply) {
	t.Helper()
	v.Set("client_id", "c1")
	resp, err := http.PostForm(srv.URL+"/token", v)
	if err != nil {
		t.Error(err)
		return 0, tokenReply{}
	}
	defer resp.Body.Close()
	var r tokenReply
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Error(err)
	}
	return resp.StatusCode, r
}

// TestDoor_ConcurrentRedeem races one authorization code, then one refresh token, through the
// token endpoint on both stores: exactly one request gets a token each time (I-67, I-69).
func TestDoor_ConcurrentRedeem(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			d, srv := testDoor(t, open(t), Config{})
			for round := range 3 {
				code, verifier := codeFor(t, d)
				var refresh string
				wins := race(racers, func(int) bool {
					status, r := postToken(t, srv, url.Values{"grant_type": {"authorization_code"}, "code": {code},
						"code_verifier": {verifier}, "redirect_uri": {testRedirect}})
					if status == http.StatusOK {
						refresh = r.RefreshToken
					} else if r.Error != "invalid_grant" {
						t.Errorf("a losing redeem: %d %+v", status, r)
					}
					return status == http.StatusOK
				})
				if wins != 1 {
					t.Fatalf("round %d: %d redeems of one code got a token, want 1", round, wins)
				}
				wins = race(racers, func(int) bool {
					status, r := postToken(t, srv, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
					if status != http.StatusOK && r.Error != "invalid_grant" {
						t.Errorf("a losing refresh: %d %+v", status, r)
					}
					return status == http.StatusOK
				})
				if wins != 1 {
					t.Fatalf("round %d: %d refreshes with one token got a pair, want 1", round, wins)
				}
			}
		})
	}
}

// TestDoor_RefreshNeverWidens: a refresh may narrow the granted scope and later return to it,
// but never ask beyond it (RFC 6749 §6); a refused widening leaves the token usable (I-69).
func TestDoor_RefreshNeverWidens(t *testing.T) {
	d, srv := testDoor(t, stores["sqlite"](t), Config{})
	code, verifier := codeFor(t, d, "read", "write")
	status, tok := postToken(t, srv, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"code_verifier": {verifier}, "redirect_uri": {testRedirect}})
	if status != http.StatusOK || tok.Scope != "read write" {
		t.Fatalf("exchange: %d %+v", status, tok)
	}
	tests := []struct {
		name      string
		give      string
		wantError string
		wantScope string
	}{
		{"a scope never granted", "read admin", "invalid_scope", ""},
		{"only a foreign scope", "admin", "invalid_scope", ""},
		{"narrowed", "read", "", "read"},
		{"back to the grant after narrowing", "read write", "", "read write"},
		{"omitted keeps the current scope", "-", "", "read write"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
			if tt.give != "-" {
				v.Set("scope", tt.give)
			}
			status, r := postToken(t, srv, v)
			if r.Error != tt.wantError || r.Scope != tt.wantScope {
				t.Fatalf("refresh with scope %q: %d %+v, want error %q scope %q", tt.give, status, r, tt.wantError, tt.wantScope)
			}
			if tt.wantError != "" && !strings.Contains(r.Description, "admin") {
				t.Fatalf("the refusal does not name the scope: %q", r.Description)
			}
			if r.RefreshToken != "" {
				tok = r
			}
		})
	}
}

// TestDoor_Iss: the metadata advertises RFC 9207 and an authorization error response carries
// iss (the code's redirect is checked in codeFor).
func TestDoor_Iss(t *testing.T) {
	d, srv := testDoor(t, stores["sqlite"](t), Config{})
	codeFor(t, d)
	resp, err := http.Get(srv.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	err = json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if err != nil || meta["issuer"] != testIssuer || meta["authorization_response_iss_parameter_supported"] != true {
		t.Fatalf("metadata: %v %v", meta, err)
	}
	resp, err = noFollow.Get(srv.URL + "/authorize?" + url.Values{"client_id": {"c1"}, "redirect_uri": {testRedirect},
		"response_type": {"token"}, "state": {"s1"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc == nil || loc.Query().Get("error") != "unsupported_response_type" ||
		loc.Query().Get("iss") != testIssuer || loc.Query().Get("state") != "s1" {
		t.Fatalf("error response: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestDoor_RefreshReuseRevokesGrant: a rotated-away refresh token presented again revokes every
// token of its grant, the current pair included (OAuth 2.1 §4.3.1), on both stores.
func TestDoor_RefreshReuseRevokesGrant(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			d, srv := testDoor(t, open(t), Config{})
			code, verifier := codeFor(t, d)
			_, first := postToken(t, srv, url.Values{"grant_type": {"authorization_code"}, "code": {code},
				"code_verifier": {verifier}, "redirect_uri": {testRedirect}})
			status, second := postToken(t, srv, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}})
			if status != http.StatusOK {
				t.Fatalf("first refresh: %d %+v", status, second)
			}
			if spent, _ := d.store.Token(t.Context(), first.RefreshToken); spent == nil || spent.Kind != KindSpent {
				t.Fatalf("the rotated refresh token: %+v, want kind spent", spent)
			}
			status, reuse := postToken(t, srv, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}})
			if status != http.StatusBadRequest || reuse.Error != "invalid_grant" || !strings.Contains(reuse.Description, "already used") {
				t.Fatalf("reuse: %d %+v", status, reuse)
			}
			for _, tok := range []string{second.AccessToken, second.RefreshToken, first.RefreshToken} {
				if got, _ := d.store.Token(t.Context(), tok); got != nil {
					t.Fatalf("a token of the reused grant survived: %+v", got)
				}
			}
			// Another grant of the same client is untouched.
			code, verifier = codeFor(t, d)
			if status, _ := postToken(t, srv, url.Values{"grant_type": {"authorization_code"}, "code": {code},
				"code_verifier": {verifier}, "redirect_uri": {testRedirect}}); status != http.StatusOK {
				t.Fatalf("a fresh grant after the revocation: %d", status)
			}
		})
	}
}

// TestDoor_RevokeRefreshEndsGrant: revoking a refresh token through /revoke (RFC 7009) takes
// its access token and every other token of the grant with it; an access token revokes only
// its pair, and another grant is untouched.
func TestDoor_RevokeRefreshEndsGrant(t *testing.T) {
	d, srv := testDoor(t, stores["sqlite"](t), Config{})
	exchange := func() tokenReply {
		code, verifier := codeFor(t, d)
		status, tok := postToken(t, srv, url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"code_verifier": {verifier}, "redirect_uri": {testRedirect}})
		if status != http.StatusOK {
			t.Fatalf("exchange: %d %+v", status, tok)
		}
		return tok
	}
	revoke := func(token string) {
		resp, err := http.PostForm(srv.URL+"/revoke", url.Values{"client_id": {"c1"}, "token": {token}})
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("revoke: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	first, other := exchange(), exchange()
	_, rotated := postToken(t, srv, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}})
	revoke(rotated.RefreshToken)
	for _, tok := range []string{rotated.AccessToken, rotated.RefreshToken, first.RefreshToken} {
		if got, _ := d.store.Token(t.Context(), tok); got != nil {
			t.Fatalf("a token of the revoked grant survived: %+v", got)
		}
	}
	if got, _ := d.store.Token(t.Context(), other.AccessToken); got == nil {
		t.Fatal("revoking one grant revoked another")
	}
	revoke(other.AccessToken)
	if got, _ := d.store.Token(t.Context(), other.RefreshToken); got != nil {
		t.Fatal("the revoked access token's refresh token survived")
	}
}
