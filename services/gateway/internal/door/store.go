package door

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver
)

// Store is the door's revocable state (I-71): clients, codes, tokens and transactions. It is not
// truth — clearing it revokes every connector — so the gateway may keep it without breaking
// ARCH-5: it is a SQLite file beside the audit DB or a Postgres schema shared by every gateway,
// never a service's data. Codes, tokens and client secrets are stored as SHA-256 hashes only.
// Safe for concurrent use.
type Store struct {
	db *sql.DB
	pg bool
}

// OpenStore opens the store: dsn postgres://… selects Postgres, else the SQLite file at path,
// created 0600 (I-71).
func OpenStore(ctx context.Context, dsn, path string) (*Store, error) {
	s := &Store{}
	var err error
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		s.pg = true
		s.db, err = sql.Open("pgx", dsn)
		if err == nil {
			s.db.SetMaxIdleConns(8) // a burst of token requests reuses connections, not dials
		}
	} else {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("auth store: %w", err)
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, fmt.Errorf("auth store: %w", err)
		}
		f.Close()
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, fmt.Errorf("auth store: %w", err)
		}
		s.db, err = sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_txlock=immediate")
		if err == nil {
			s.db.SetMaxOpenConns(1)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("auth store: %w", err)
	}
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS clients (client_id TEXT PRIMARY KEY, data TEXT NOT NULL, created BIGINT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS codes (code TEXT PRIMARY KEY, client_id TEXT NOT NULL, data TEXT NOT NULL, expires_at BIGINT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, kind TEXT NOT NULL, client_id TEXT NOT NULL, data TEXT NOT NULL, expires_at BIGINT NOT NULL, paired TEXT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS txns (txn TEXT PRIMARY KEY, client_id TEXT NOT NULL, params TEXT NOT NULL, created BIGINT NOT NULL, redirect TEXT, misses INTEGER NOT NULL DEFAULT 0)`,
	} {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			s.db.Close()
			return nil, fmt.Errorf("auth store: migrate: %w", err)
		}
	}
	if err := s.addFamily(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("auth store: migrate: %w", err)
	}
	return s, nil
}

// addFamily adds tokens.family to a store created before refresh-token reuse detection; rows
// from then have no family and are never revoked as one.
func (s *Store) addFamily(ctx context.Context) error {
	if s.pg {
		_, err := s.db.ExecContext(ctx, `ALTER TABLE tokens ADD COLUMN IF NOT EXISTS family TEXT NOT NULL DEFAULT ''`)
		return err
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info('tokens') WHERE name = 'family'`).Scan(&n); err != nil || n > 0 {
		return err
	}
	_, err := s.db.ExecContext(ctx, `ALTER TABLE tokens ADD COLUMN family TEXT NOT NULL DEFAULT ''`)
	return err
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// hash is the stored form of a code, token or secret.
func hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// rebind turns ? placeholders into Postgres's $n.
func (s *Store) rebind(q string) string {
	if !s.pg {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

type execer interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func (s *Store) exec(ctx context.Context, e execer, q string, args ...any) (int64, error) {
	res, err := e.ExecContext(ctx, s.rebind(q), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Client is a registered client (RFC 7591).
type Client struct {
	ID           string   `json:"client_id"`
	Name         string   `json:"client_name,omitempty"`
	RedirectURIs []string `json:"redirect_uris"`
	AuthMethod   string   `json:"token_endpoint_auth_method"`
	SecretHash   string   `json:"secret_hash,omitempty"`
	GrantTypes   []string `json:"grant_types"`
	Scope        string   `json:"scope,omitempty"`
	IssuedAt     int64    `json:"client_id_issued_at"`
}

// Display is the name the practitioner sees (I-64). A metadata-document client shows its URL
// beside the name it gives itself: the name is the document's claim, the URL's host is what
// TLS vouched for.
func (c Client) Display() string {
	switch {
	case c.Name != "" && IsMetadataClientID(c.ID):
		return c.Name + " (" + c.ID + ")"
	case c.Name != "":
		return c.Name
	case c.ID != "":
		return c.ID
	}
	return "(unnamed)"
}

// AddClient inserts c, first evicting — when the table holds cap or more — the oldest clients no
// stored token references, max(1, count−cap+1) of them (I-62). A client already stored (a
// metadata document read again) is replaced and counts as new.
func (s *Store) AddClient(ctx context.Context, c Client, now time.Time, cap int) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		n, err := s.exec(ctx, tx, `UPDATE clients SET data = ?, created = ? WHERE client_id = ?`, string(data), now.UnixNano(), c.ID)
		if err != nil || n == 1 {
			return err
		}
		var count int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM clients`).Scan(&count); err != nil {
			return err
		}
		if count >= cap {
			evict := max(1, count-cap+1)
			if _, err := s.exec(ctx, tx, `DELETE FROM clients WHERE client_id IN (SELECT client_id FROM clients
				WHERE client_id NOT IN (SELECT client_id FROM tokens) ORDER BY created, client_id LIMIT ?)`, evict); err != nil {
				return err
			}
		}
		// The upsert covers a concurrent first read of one metadata document.
		_, err = s.exec(ctx, tx, `INSERT INTO clients (client_id, data, created) VALUES (?, ?, ?)
			ON CONFLICT (client_id) DO UPDATE SET data = excluded.data, created = excluded.created`, c.ID, string(data), now.UnixNano())
		return err
	})
}

// Client returns the client, or nil when unknown.
func (s *Store) Client(ctx context.Context, id string) (*Client, error) {
	var data string
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT data FROM clients WHERE client_id = ?`), id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var c Client
	return &c, json.Unmarshal([]byte(data), &c)
}

// CountClients is the table's size.
func (s *Store) CountClients(ctx context.Context) (int, error) {
	var n int
	return n, s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM clients`).Scan(&n)
}

// Params are a transaction's authorize parameters (I-63).
type Params struct {
	State            string   `json:"state,omitempty"`
	Scopes           []string `json:"scopes"`
	CodeChallenge    string   `json:"code_challenge"`
	RedirectURI      string   `json:"redirect_uri"`
	RedirectExplicit bool     `json:"redirect_uri_provided_explicitly"`
	Resource         string   `json:"resource,omitempty"`
}

// Txn is one authorize transaction awaiting the practitioner (I-63).
type Txn struct {
	ID       string
	ClientID string
	Params   Params
	Created  time.Time
	Redirect string // "" while unapproved
	Misses   int
}

// PutTxn stores t after deleting unapproved transactions created before stale (I-63).
func (s *Store) PutTxn(ctx context.Context, t Txn, stale time.Time) error {
	params, err := json.Marshal(t.Params)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `DELETE FROM txns WHERE redirect IS NULL AND created < ?`, stale.UnixNano()); err != nil {
			return err
		}
		_, err := s.exec(ctx, tx, `INSERT INTO txns (txn, client_id, params, created, redirect, misses) VALUES (?, ?, ?, ?, NULL, 0)`,
			t.ID, t.ClientID, string(params), t.Created.UnixNano())
		return err
	})
}

// Txn returns the transaction, or nil when unknown.
func (s *Store) Txn(ctx context.Context, id string) (*Txn, error) {
	return s.txn(ctx, s.db, id)
}

func (s *Store) txn(ctx context.Context, e execer, id string) (*Txn, error) {
	var (
		t        = Txn{ID: id}
		params   string
		created  int64
		redirect sql.NullString
	)
	err := e.QueryRowContext(ctx, s.rebind(`SELECT client_id, params, created, redirect, misses FROM txns WHERE txn = ?`), id).
		Scan(&t.ClientID, &params, &created, &redirect, &t.Misses)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	t.Created, t.Redirect = time.Unix(0, created), redirect.String
	return &t, json.Unmarshal([]byte(params), &t.Params)
}

// Attempt reserves one code attempt on an unapproved transaction before the code is checked
// (I-65): one conditional UPDATE raises its count only while it is below burnAt, so concurrent
// submissions cannot check more than burnAt codes. n is the attempt's number, 1…burnAt, or 0
// when the transaction is live but at its cap; live is false when it is gone or approved.
func (s *Store) Attempt(ctx context.Context, id string, burnAt int) (n int, live bool, err error) {
	err = s.db.QueryRowContext(ctx, s.rebind(`UPDATE txns SET misses = misses + 1
		WHERE txn = ? AND redirect IS NULL AND misses < ? RETURNING misses`), id, burnAt).Scan(&n)
	if err == nil {
		return n, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, false, err
	}
	t, err := s.Txn(ctx, id)
	if err != nil || t == nil || t.Redirect != "" {
		return 0, false, err
	}
	return 0, true, nil
}

// Refund gives back an attempt whose code was never checked (the airlock refused it unread,
// locked by the deployment's failure budget), so it is not counted as a guess.
func (s *Store) Refund(ctx context.Context, id string) error {
	_, err := s.exec(ctx, s.db, `UPDATE txns SET misses = misses - 1 WHERE txn = ? AND redirect IS NULL AND misses > 0`, id)
	return err
}

// Burn deletes an unapproved transaction whose attempts are spent (I-65). It reports whether
// this call deleted it, so exactly one of several concurrent burners records the burn.
func (s *Store) Burn(ctx context.Context, id string) (bool, error) {
	n, err := s.exec(ctx, s.db, `DELETE FROM txns WHERE txn = ? AND redirect IS NULL`, id)
	return n == 1, err
}

// Code is an authorization code's grant (I-66), stored under the code's hash.
type Code struct {
	ClientID         string    `json:"client_id"`
	CodeChallenge    string    `json:"code_challenge"`
	RedirectURI      string    `json:"redirect_uri"`
	RedirectExplicit bool      `json:"redirect_uri_provided_explicitly"`
	Resource         string    `json:"resource,omitempty"`
	Scopes           []string  `json:"scopes"`
	Subject          string    `json:"subject"`
	Expires          time.Time `json:"expires_at"`
}

// Approve marks the transaction approved with redirect and stores the code with it, once: when
// it is already approved it returns the stored redirect and stores nothing (I-66). A missing
// transaction returns "" and no error. The approval is a conditional UPDATE checked by the rows
// it affected, so of two concurrent approvals exactly one stores its code.
func (s *Store) Approve(ctx context.Context, id, redirect, code string, c Code) (string, bool, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return "", false, err
	}
	var out string
	fresh := false
	err = s.tx(ctx, func(tx *sql.Tx) error {
		n, err := s.exec(ctx, tx, `UPDATE txns SET redirect = ? WHERE txn = ? AND redirect IS NULL`, redirect, id)
		if err != nil {
			return err
		}
		if n == 0 { // gone, or approved first by another channel or request
			t, err := s.txn(ctx, tx, id)
			if err == nil && t != nil {
				out = t.Redirect
			}
			return err
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO codes (code, client_id, data, expires_at) VALUES (?, ?, ?, ?)`,
			hash(code), c.ClientID, string(data), c.Expires.UnixNano()); err != nil {
			return err
		}
		out, fresh = redirect, true
		return nil
	})
	return out, fresh, err
}

// TakeCode deletes and returns the code's grant (single use, I-67), or nil when unknown. One
// DELETE … RETURNING both consumes and reads it, so of concurrent redeems exactly one gets it.
func (s *Store) TakeCode(ctx context.Context, code string) (*Code, error) {
	var data string
	err := s.db.QueryRowContext(ctx, s.rebind(`DELETE FROM codes WHERE code = ? RETURNING data`), hash(code)).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c := &Code{}
	return c, json.Unmarshal([]byte(data), c)
}

// Token kinds. A refresh token is spent, not deleted, when it is rotated, until it would have
// expired: presenting it again is reuse, which revokes its whole family (OAuth 2.1 §4.3.1).
const (
	KindAccess  = "access"
	KindRefresh = "refresh"
	KindSpent   = "spent"
)

// Token is a stored access or refresh token (I-68), under its hash.
type Token struct {
	Kind     string   `json:"kind"`
	ClientID string   `json:"client_id"`
	Scopes   []string `json:"scopes"`
	// Granted is the scope the practitioner originally approved, carried through every
	// rotation: a refresh may narrow the scope but never ask beyond it (RFC 6749 §6).
	Granted  []string  `json:"granted,omitempty"`
	Subject  string    `json:"subject"`
	Resource string    `json:"resource,omitempty"`
	Expires  time.Time `json:"expires_at"`
	// Family names the grant a token descends from: one code exchange and every rotation
	// after it.
	Family string `json:"family,omitempty"`
	paired string
}

// PutPair garbage-collects (I-68) and stores an access and a refresh token referencing each
// other.
func (s *Store) PutPair(ctx context.Context, access string, at Token, refresh string, rt Token, now, stale time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		return s.putPair(ctx, tx, access, at, refresh, rt, now, stale)
	})
}

// Rotate is the refresh grant's store half (I-69): in one transaction it spends the unexpired
// refresh token old of clientID, deletes its paired access token, then stores the new pair. ok
// is false, and nothing changes, when old is not such a token — including when a concurrent
// rotation spent it first: the UPDATE is checked by the rows it affected.
func (s *Store) Rotate(ctx context.Context, old, clientID string, access string, at Token, refresh string, rt Token, now, stale time.Time) (ok bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		h := hash(old)
		n, err := s.exec(ctx, tx, `UPDATE tokens SET kind = ? WHERE token = ? AND kind = ? AND client_id = ? AND expires_at > ?`,
			KindSpent, h, KindRefresh, clientID, now.UnixNano())
		if err != nil {
			return err
		}
		if n != 1 {
			return errSpent
		}
		if _, err := s.exec(ctx, tx, `DELETE FROM tokens WHERE paired = ?`, h); err != nil {
			return err
		}
		return s.putPair(ctx, tx, access, at, refresh, rt, now, stale)
	})
	if errors.Is(err, errSpent) {
		return false, nil
	}
	return err == nil, err
}

// errSpent rolls back a rotation whose refresh token was not there to consume.
var errSpent = errors.New("refresh token spent")

func (s *Store) putPair(ctx context.Context, tx *sql.Tx, access string, at Token, refresh string, rt Token, now, stale time.Time) error {
	if err := s.gc(ctx, tx, now, stale); err != nil {
		return err
	}
	for _, it := range []struct {
		tok, pair string
		t         Token
	}{{access, refresh, at}, {refresh, access, rt}} {
		data, err := json.Marshal(it.t)
		if err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO tokens (token, kind, client_id, data, expires_at, paired, family) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			hash(it.tok), it.t.Kind, it.t.ClientID, string(data), it.t.Expires.UnixNano(), hash(it.pair), it.t.Family); err != nil {
			return err
		}
	}
	return nil
}

// gc deletes expired codes and tokens and transactions approved or created before stale.
func (s *Store) gc(ctx context.Context, tx *sql.Tx, now, stale time.Time) error {
	for _, q := range []struct {
		q string
		a any
	}{
		{`DELETE FROM codes WHERE expires_at <= ?`, now.UnixNano()},
		{`DELETE FROM tokens WHERE expires_at <= ?`, now.UnixNano()},
		{`DELETE FROM txns WHERE redirect IS NOT NULL OR created < ?`, stale.UnixNano()},
	} {
		if _, err := s.exec(ctx, tx, q.q, q.a); err != nil {
			return err
		}
	}
	return nil
}

// Token returns the stored token, or nil when unknown.
func (s *Store) Token(ctx context.Context, token string) (*Token, error) {
	var data, paired, kind string
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT data, paired, kind FROM tokens WHERE token = ?`), hash(token)).Scan(&data, &paired, &kind)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	t := &Token{paired: paired}
	if err := json.Unmarshal([]byte(data), t); err != nil {
		return nil, err
	}
	t.Kind = kind // the column is the truth: a rotation spends a token without rewriting its data
	return t, nil
}

// RevokeFamily deletes every token of family: a spent refresh token came back, so the grant is
// in two hands (OAuth 2.1 §4.3.1). It returns how many tokens went.
func (s *Store) RevokeFamily(ctx context.Context, family string) (int64, error) {
	if family == "" {
		return 0, nil
	}
	return s.exec(ctx, s.db, `DELETE FROM tokens WHERE family = ?`, family)
}

// Revoke deletes the token and its pair (I-69, RFC 7009).
func (s *Store) Revoke(ctx context.Context, token string) error {
	h := hash(token)
	_, err := s.exec(ctx, s.db, `DELETE FROM tokens WHERE token = ? OR paired = ?`, h, h)
	return err
}

// Pending lists unapproved transactions created at or after stale, oldest first (O-oauth-1).
func (s *Store) Pending(ctx context.Context, stale time.Time) ([]Txn, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT txn FROM txns WHERE redirect IS NULL AND created >= ? ORDER BY created, txn`), stale.UnixNano())
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]Txn, 0, len(ids))
	for _, id := range ids {
		t, err := s.Txn(ctx, id)
		if err != nil {
			return nil, err
		}
		if t != nil {
			out = append(out, *t)
		}
	}
	return out, nil
}
