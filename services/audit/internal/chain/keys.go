package chain

import (
	"encoding/json"
	"math"
)

// DetailKeys are the detail members a row is found by besides its columns: the TOTP window,
// purpose and object of the airlock's rows (totp_accept, totp_reject, oauth_approve; A-10,
// The one writer stores them in a side table beside audit_events, indexed, in the same
// transaction as the row, so the airlock's consume-once and attempt counts are indexed reads.
type DetailKeys struct {
	Window  *int64
	Purpose *string
	Object  *string
}

// KeysOf extracts the DetailKeys of detail, reporting false when there are none. Reading is
// lenient like the airlock's fold: a detail that is not a JSON object, or a member of another
// type, contributes nothing. A window is an integral number; 7.0 is 7, as 0.1.5 compared
// windows with Python's ==.
func KeysOf(detail []byte) (DetailKeys, bool) {
	if len(detail) == 0 {
		return DetailKeys{}, false
	}
	var d struct {
		Window  json.RawMessage `json:"window"`
		Purpose json.RawMessage `json:"purpose"`
		Object  json.RawMessage `json:"object"`
	}
	if json.Unmarshal(detail, &d) != nil {
		return DetailKeys{}, false
	}
	var k DetailKeys
	if w, ok := integral(d.Window); ok {
		k.Window = &w
	}
	k.Purpose = str(d.Purpose)
	k.Object = str(d.Object)
	return k, k.Window != nil || k.Purpose != nil || k.Object != nil
}

func str(raw json.RawMessage) *string {
	var s *string
	if json.Unmarshal(raw, &s) != nil {
		return nil
	}
	return s
}

func integral(raw json.RawMessage) (int64, bool) {
	// A quoted number is a string, which 0.1.5's == never equated with a window.
	if len(raw) == 0 || raw[0] == '"' {
		return 0, false
	}
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		return 0, false
	}
	if i, err := n.Int64(); err == nil {
		return i, true
	}
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}
