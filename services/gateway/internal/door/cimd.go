package door

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document), the MCP
// authorization spec's preferred registration: a client_id that is an https URL names a JSON
// document of the client's metadata, fetched when the client starts an authorization. The
// document's client_id must equal that URL and its redirect_uris must hold the redirect; such a
// client has no secret (token_endpoint_auth_method "none"). Dynamic registration (I-62) stays.
const (
	// metadataDocMax caps the document; the draft suggests 5 kilobytes.
	metadataDocMax = 5 << 10
	// metadataFetchWait bounds one fetch, connection included.
	metadataFetchWait = 5 * time.Second
)

// IsMetadataClientID reports whether id names a client metadata document rather than a
// registered client: it is an https URL.
func IsMetadataClientID(id string) bool { return strings.HasPrefix(id, "https://") }

// checkClientIDURL applies the draft's rules for a client identifier URL: https, a host, a
// path below the root, no fragment, no user info, no dot segments.
func checkClientIDURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Scheme != "https" || u.Host == "" || u.Opaque != "":
		return fmt.Errorf("client_id %q is not an https URL with a host", raw)
	case u.Path == "" || u.Path == "/":
		return fmt.Errorf("client_id %q has no path: a metadata document URL needs one", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("client_id %q has a fragment", raw)
	case u.User != nil:
		return fmt.Errorf("client_id %q carries user info", raw)
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("client_id %q has a dot segment in its path", raw)
		}
	}
	return nil
}

// metadataDoc is the part of a client metadata document the door reads (RFC 7591 §2 names).
type metadataDoc struct {
	ClientID                string          `json:"client_id"`
	ClientName              string          `json:"client_name"`
	RedirectURIs            []string        `json:"redirect_uris"`
	GrantTypes              []string        `json:"grant_types"`
	ResponseTypes           []string        `json:"response_types"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method"`
	Scope                   string          `json:"scope"`
	ClientSecret            json.RawMessage `json:"client_secret"`
	ClientSecretExpiresAt   json.RawMessage `json:"client_secret_expires_at"`
}

// metadataClient fetches and checks the metadata document named by id and returns the client it
// describes. Every refusal names the document and the rule it broke.
func (d *Door) metadataClient(ctx context.Context, id string) (*Client, error) {
	if err := checkClientIDURL(id); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, metadataFetchWait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, id, nil)
	if err != nil {
		return nil, fmt.Errorf("client metadata %s: %w", id, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := d.fetcher.Do(req)
	if errors.Is(err, errNotPublic) { // the resolved address stays out of the answer
		return nil, fmt.Errorf("client metadata %s resolves to %w: refused", id, errNotPublic)
	}
	if err != nil {
		return nil, fmt.Errorf("client metadata %s could not be fetched: %w", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK { // redirects are not followed (the draft forbids it)
		return nil, fmt.Errorf("client metadata %s answered %d, want 200 (redirects are not followed)", id, resp.StatusCode)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return nil, fmt.Errorf("client metadata %s has content type %q, want application/json", id, resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, metadataDocMax+1))
	if err != nil {
		return nil, fmt.Errorf("client metadata %s: %w", id, err)
	}
	if len(body) > metadataDocMax {
		return nil, fmt.Errorf("client metadata %s is larger than %d bytes", id, metadataDocMax)
	}
	var doc metadataDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("client metadata %s is not a JSON object: %w", id, err)
	}
	switch {
	case doc.ClientID != id: // simple string comparison, no normalisation
		return nil, fmt.Errorf("client metadata %s names client_id %q: it must equal the document's URL", id, doc.ClientID)
	case len(doc.RedirectURIs) == 0:
		return nil, fmt.Errorf("client metadata %s has no redirect_uris", id)
	case len(doc.ClientSecret) > 0 || len(doc.ClientSecretExpiresAt) > 0:
		return nil, fmt.Errorf("client metadata %s carries a client secret, which a public document must not", id)
	case doc.TokenEndpointAuthMethod != "" && doc.TokenEndpointAuthMethod != "none":
		return nil, fmt.Errorf("client metadata %s asks for token_endpoint_auth_method %q; this server accepts only \"none\" for metadata documents", id, doc.TokenEndpointAuthMethod)
	case len(doc.ResponseTypes) > 0 && !slices.Contains(doc.ResponseTypes, "code"):
		return nil, fmt.Errorf("client metadata %s does not list response type \"code\"", id)
	}
	for _, u := range doc.RedirectURIs {
		if err := redirectAllowed(u); err != nil {
			return nil, fmt.Errorf("client metadata %s: %w", id, err)
		}
	}
	for _, g := range doc.GrantTypes {
		if g != "authorization_code" && g != "refresh_token" {
			return nil, fmt.Errorf("client metadata %s: grant type %q is not supported", id, g)
		}
	}
	return &Client{ID: id, Name: doc.ClientName, RedirectURIs: doc.RedirectURIs, AuthMethod: "none",
		GrantTypes: []string{"authorization_code", "refresh_token"}, Scope: doc.Scope, IssuedAt: d.now().Unix()}, nil
}

// metadataFetcher is the HTTP client for metadata documents: no redirects followed, a
// deadline, no proxy from the environment, and — unless the caller supplies its own client —
// connections only to public addresses, checked on the resolved address at dial time so a DNS
// answer cannot point the door at itself, the machine, the tailnet or a cloud metadata service.
func metadataFetcher(injected *http.Client) *http.Client {
	var c http.Client
	if injected != nil {
		c = *injected
	} else {
		dialer := &net.Dialer{Timeout: metadataFetchWait, Control: publicOnly}
		c.Transport = &http.Transport{DialContext: dialer.DialContext, TLSHandshakeTimeout: metadataFetchWait,
			ResponseHeaderTimeout: metadataFetchWait, MaxResponseHeaderBytes: 16 << 10, DisableKeepAlives: true}
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if c.Timeout == 0 {
		c.Timeout = metadataFetchWait
	}
	return &c
}

// errNotPublic refuses a connection to a non-public address.
var errNotPublic = errors.New("not a public address (loopback, private, link-local, shared and reserved addresses are refused)")

// publicOnly is a net.Dialer Control: it refuses any address publicAddr refuses.
func publicOnly(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, err)
	}
	if !publicAddr(ap.Addr()) {
		return errNotPublic
	}
	return nil
}

// nonPublic are the ranges IsPrivate and friends do not name: shared address space (carrier
// NAT and Tailscale), IETF protocol assignments, benchmarking, reserved, NAT64 and 6to4.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("2002::/16"),
}

// publicAddr reports whether a metadata document may be fetched from a.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}
