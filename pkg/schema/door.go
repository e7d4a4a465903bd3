package schema

// The OAuth door's bus contract (identity.md §5): the approve page verifies codes through the
// airlock (A-72, ARCH-3: only the airlock reads the TOTP secret), and the console reaches the
// gateway's pending approvals over admin-only subjects (O-oauth-1, I-66).
const (
	// CmdTOTPVerify is stasima.airlock.cmd.totp_verify; it mirrors services/airlock's
	// TOTPVerify/TOTPVerified field for field.
	CmdTOTPVerify = "totp_verify"
	// QOAuthPending is stasima.gateway.q.oauth_pending: the connector approvals waiting.
	QOAuthPending = "oauth_pending"
	// CmdOAuthConsoleGrant is stasima.gateway.cmd.oauth_console_grant. Unlike the services'
	// commands it is core request/reply, not on the COMMANDS stream: the door's state is its
	// own revocable store (I-71), and a grant is idempotent per transaction (I-66).
	CmdOAuthConsoleGrant = "oauth_console_grant"
)

// TOTPVerify asks the airlock to verify an approve-page code. Purpose is "oauth".
type TOTPVerify struct {
	Code     string `json:"code"`
	Purpose  string `json:"purpose,omitempty"`
	ClientID string `json:"client_id"`
}

// TOTPVerified answers TOTPVerify: the accepted window.
type TOTPVerified struct {
	Window int64 `json:"window"`
}

// OAuthPendingTxn is one pending connector approval (O-oauth-1).
type OAuthPendingTxn struct {
	Txn        string `json:"txn"`
	ClientID   string `json:"client_id"`
	ClientName string `json:"client_name"`
	AgeS       int64  `json:"age_s"`
}

// OAuthPending answers QOAuthPending, oldest first.
type OAuthPending struct {
	Pending []OAuthPendingTxn `json:"pending"`
}

// OAuthConsoleGrant asks the gateway to approve txn from the console (I-66): Confirm must equal
// the client's name, or its client id when it registered none.
type OAuthConsoleGrant struct {
	Txn     string `json:"txn"`
	Confirm string `json:"confirm"`
}

// OAuthGranted answers OAuthConsoleGrant.
type OAuthGranted struct {
	Approved   string `json:"approved"`
	ClientID   string `json:"client_id"`
	ClientName string `json:"client_name"`
	Channel    string `json:"channel"`
}
