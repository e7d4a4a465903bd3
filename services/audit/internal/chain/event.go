package chain

import (
	"bytes"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stasima/stasima/pkg/fault"
)

// Genesis is the prev_hash of the first row and the head of an empty log (U-1).
const Genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// Text is a nullable text column. 0.1.5 declared every column without NOT NULL and hashes a
// NULL as JSON null, distinct from "", so both must survive a round trip. The zero Text is NULL.
type Text struct {
	String string
	Valid  bool // false: SQL NULL, JSON null
}

// Str returns a non-NULL Text.
func Str(s string) Text { return Text{String: s, Valid: true} }

// OrNull returns Str(s), or NULL when s is empty.
func OrNull(s string) Text {
	if s == "" {
		return Text{}
	}
	return Str(s)
}

// MarshalJSON writes a JSON string or null.
func (t Text) MarshalJSON() ([]byte, error) {
	if !t.Valid {
		return []byte("null"), nil
	}
	return json.Marshal(t.String)
}

// UnmarshalJSON reads a JSON string or null.
func (t *Text) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*t = Text{}
		return nil
	}
	if err := json.Unmarshal(b, &t.String); err != nil {
		return err
	}
	t.Valid = true
	return nil
}

// Scan implements sql.Scanner.
func (t *Text) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*t = Text{}
	case string:
		*t = Str(v)
	case []byte:
		*t = Str(string(v))
	default:
		return fmt.Errorf("chain.Text: cannot scan %T", src)
	}
	return nil
}

// Value implements driver.Valuer.
func (t Text) Value() (driver.Value, error) {
	if !t.Valid {
		return nil, nil
	}
	return t.String, nil
}

func (t Text) appendJSON(dst []byte) []byte {
	if !t.Valid {
		return append(dst, "null"...)
	}
	return AppendString(dst, t.String)
}

// Event is one audit_events row (U-1): the twelve 0.1.5 columns plus the Go-only intent id.
type Event struct {
	Seq        int64 `json:"seq"`
	TS         Text  `json:"ts"`
	Actor      Text  `json:"actor"`
	Op         Text  `json:"op"`
	TargetRef  Text  `json:"target_ref"`
	TargetPath Text  `json:"target_path"`
	OpID       Text  `json:"op_id"`
	ResultOID  Text  `json:"result_oid"`
	Outcome    Text  `json:"outcome"`
	// Detail is the stored JSON text, byte for byte. It is hashed as the value it parses to
	// (U-9); nil (a NULL or empty column) parses as {}.
	Detail   json.RawMessage `json:"detail"`
	PrevHash string          `json:"prev_hash"`
	Hash     string          `json:"hash"`
	// IntentID is the producer's intent id (U-5), "" for rows written by 0.1.5. Not hashed.
	IntentID string `json:"intent_id,omitempty"`
}

// DetailValue parses the stored detail (U-9).
func (e *Event) DetailValue() (Value, error) {
	if len(e.Detail) == 0 {
		return Value{kind: KindObject, obj: []Member{}}, nil
	}
	return ParseJSON(e.Detail)
}

// Tail is the highest-seq row's position: Seq 0 and Genesis for an empty log.
type Tail struct {
	Seq  int64
	Hash string
}

// GenesisTail is the tail of an empty log.
var GenesisTail = Tail{Seq: 0, Hash: Genesis}

// Intent is a request to append one row: every hashed field except seq, ts and prev_hash,
// which the writer assigns (U-3).
type Intent struct {
	// ID identifies the intent across redeliveries; a second intent with the same ID appends
	// nothing (U-5). Required.
	ID         string `json:"id"`
	Actor      string `json:"actor"`
	Op         string `json:"op"`
	TargetRef  Text   `json:"target_ref"`
	TargetPath Text   `json:"target_path"`
	OpID       Text   `json:"op_id"`
	ResultOID  Text   `json:"result_oid"`
	// Outcome is one of U-4's values; "" means "ok".
	Outcome string `json:"outcome,omitempty"`
	// Detail is a JSON object, or absent/falsy (null, {}, [], "", 0, false), which is stored as
	// {} as 0.1.5 did.
	Detail json.RawMessage `json:"detail,omitempty"`
	// Session is the session tag of the tool call that caused the row (U-20). When set and the
	// detail has no "session" key, it is added as the detail's last key.
	Session string `json:"session,omitempty"`
	// StreamSeq and IntentAt are recorded, unhashed, in the Go-only stream_seq and intent_at
	// columns (U-1): the AUDIT stream sequence and the producer's timestamp. Zero means NULL.
	StreamSeq uint64 `json:"-"`
	IntentAt  string `json:"-"`
}

// ErrInvalidIntent is wrapped by every intent validation failure (class ArgumentError).
var ErrInvalidIntent = errors.New("invalid audit intent")

func invalid(in *Intent, format string, args ...any) error {
	return fault.Wrap("audit.intent", fault.ArgumentError, ErrInvalidIntent,
		"intent %q: %s", in.ID, fmt.Sprintf(format, args...))
}

// ValidOutcome reports whether s is a U-4 outcome: ok, denied, witness or error:<Class>.
func ValidOutcome(s string) bool {
	switch s {
	case "ok", "denied", "witness":
		return true
	}
	class, ok := strings.CutPrefix(s, "error:")
	return ok && class != ""
}

// Validate checks in without touching any store: it returns an error wrapping
// ErrInvalidIntent, of class fault.ArgumentError, when in can never be appended.
func (in *Intent) Validate() error {
	_, _, err := in.storedDetail(nil)
	return err
}

// storedDetail validates in and returns its detail Value (session tag applied) with the
// stored text appended to dst.
func (in *Intent) storedDetail(dst []byte) (Value, []byte, error) {
	switch {
	case in.ID == "":
		return Value{}, nil, invalid(in, "empty id")
	case in.Actor == "":
		return Value{}, nil, invalid(in, "empty actor")
	case in.Op == "":
		return Value{}, nil, invalid(in, "empty op")
	case in.Outcome != "" && !ValidOutcome(in.Outcome):
		return Value{}, nil, invalid(in, "outcome %q is not ok, denied, witness or error:<Class>", in.Outcome)
	}
	detail := Value{kind: KindObject, obj: []Member{}}
	if len(bytes.TrimSpace(in.Detail)) > 0 {
		v, err := ParseJSON(in.Detail)
		if err != nil {
			return Value{}, nil, invalid(in, "detail: %v", err)
		}
		switch {
		case v.kind == KindObject:
			detail = v
		case v.truthy():
			return Value{}, nil, invalid(in, "detail is a JSON %s, not an object", kindNames[v.kind])
		}
	}
	if in.Session != "" {
		if _, ok := detail.Lookup("session"); !ok {
			detail.obj = append(cloneMembers(detail.obj), Member{"session", StringValue(in.Session)})
		}
	}
	return detail, detail.AppendStored(dst), nil
}

// cloneMembers copies s so appending never writes into a parsed Value's backing array.
func cloneMembers(s []Member) []Member { return append(make([]Member, 0, len(s)+1), s...) }

var kindNames = [...]string{"null", "boolean", "integer", "float", "string", "array", "object"}

// Seal builds the row for in at position seq after prev, stamped ts (FormatTS). It is the
// whole of U-3 except reading the tail and inserting.
func Seal(in *Intent, seq int64, ts string, prev string) (Event, error) {
	detail, stored, err := in.storedDetail(nil)
	if err != nil {
		return Event{}, err
	}
	outcome := in.Outcome
	if outcome == "" {
		outcome = "ok"
	}
	e := Event{
		Seq:        seq,
		TS:         Str(ts),
		Actor:      Str(in.Actor),
		Op:         Str(in.Op),
		TargetRef:  in.TargetRef,
		TargetPath: in.TargetPath,
		OpID:       in.OpID,
		ResultOID:  in.ResultOID,
		Outcome:    Str(outcome),
		Detail:     stored,
		PrevHash:   prev,
		IntentID:   in.ID,
	}
	// The parsed value hashes exactly as its stored text re-parsed would (fuzzed).
	e.Hash = hashHex(appendCanonical(nil, &e, prev, detail))
	return e, nil
}

// TSLayout is the Go writer's ts format (U-3): UTC, microseconds, "+00:00".
const TSLayout = "2006-01-02T15:04:05.000000+00:00"

// FormatTS formats t per U-3, always with six fractional digits.
func FormatTS(t time.Time) string { return t.UTC().Format(TSLayout) }

// ParseTS parses a stored ts: U-3's form, or 0.1.5's (Python isoformat), which omits the
// fraction when the microseconds are zero.
func ParseTS(s string) (time.Time, error) {
	if t, err := time.Parse(TSLayout, s); err == nil {
		return t, nil
	}
	t, err := time.Parse("2006-01-02T15:04:05+00:00", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("ts %q is not YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00", s)
	}
	return t, nil
}
