package schema

import (
	"bytes"
	"encoding/json"
)

// Capstore command verbs and queries of messages, vantages and the storage ledger.
const (
	CmdImpSend   = "imp_send"
	CmdVapRecord = "vap_record"
	// QPerf is perf_scry's ledger query (D-23, T-perf_scry-1).
	QPerf = "perf"
	// QIndexFlags is the indexer's frontier flags query (S-43, imp_flags).
	QIndexFlags = "flags"
)

// FlagsQuery names the seats whose frontier flags (S-43) are wanted (one seat for imp_flags with
// instance_id, the roster without) and, per seat, the message paths it has read receipts for:
// read state lives in audit (U-16), the inbox in the index.
type FlagsQuery struct {
	Seats []string            `json:"seats"`
	Read  map[string][]string `json:"read"`
}

// Flags is one seat's frontier (S-43, T-imp_flags-1): how many inbox messages are neither
// superseded nor read, and their sorted distinct senders.
type Flags struct {
	Unread int      `json:"unread"`
	From   []string `json:"from"`
}

// FlagsAnswer maps each seat of a FlagsQuery to its flags.
type FlagsAnswer struct {
	Flags map[string]Flags `json:"flags"`
}

// ImpSend is the capstore half of imp_send (T-imp_send-5…8): the gateway has applied the
// identity twin, lanes, binding and the thread form; supersedes are normalized.
type ImpSend struct {
	Actor
	OpID        string   `json:"op_id"`
	Recipients  []string `json:"recipients"`
	Subject     string   `json:"subject"`
	Body        string   `json:"body"`
	Coordinates []string `json:"coordinates"`
	Supersedes  []string `json:"supersedes"`
	Thread      string   `json:"thread"`
	AuthoredVia string   `json:"authored_via,omitempty"`
	CanonState  string   `json:"canon_state"` // the sender's canon cursor or ""
}

// ImpSendResult answers ImpSend; Replayed is internal (the tool result is unflagged).
type ImpSendResult struct {
	Path       string   `json:"path"`
	From       string   `json:"from"`
	Recipients []string `json:"recipients"`
	OID        string   `json:"oid"`
	Replayed   bool     `json:"replayed,omitempty"`
}

// VapRecord is the capstore half of vap_record (T-vap_record-8…10): kind checked, binds
// normalized, dignity guard passed, canon_state pinned by the gateway.
type VapRecord struct {
	Actor
	OpID        string `json:"op_id"`
	Binds       string `json:"binds"`
	Horizon     string `json:"horizon"`
	Vantage     string `json:"vantage"` // "confirmed" or "reconstructed-by-<seat>-from-record"
	Title       string `json:"title"`
	AuthoredVia string `json:"authored_via,omitempty"`
	CanonState  string `json:"canon_state"`
}

// VapRecordResult answers VapRecord; Replayed is internal (the tool result is unflagged).
type VapRecordResult struct {
	Path       string `json:"path"`
	Author     string `json:"author"`
	Binds      string `json:"binds"`
	Vantage    string `json:"vantage"`
	CanonState string `json:"canon_state"`
	OID        string `json:"oid"`
	Replayed   bool   `json:"replayed,omitempty"`
}

// PerfVerb is one storage verb of the ledger (times in ms, rounded to 0.1).
type PerfVerb struct {
	Verb  string  `json:"-"`
	N     int64   `json:"n"`
	MS    float64 `json:"ms"`
	AvgMS float64 `json:"avg_ms"`
	MaxMS float64 `json:"max_ms"`
}

// PerfVerbs is by_verb: an object whose keys keep the slice order (total ms descending).
type PerfVerbs []PerfVerb

// MarshalJSON renders the verbs as one object in slice order.
func (p PerfVerbs) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, v := range p {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(v.Verb)
		val, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(val)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads the object back in key order.
func (p *PerfVerbs) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		return err
	}
	*p = nil
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		var v PerfVerb
		if err := dec.Decode(&v); err != nil {
			return err
		}
		v.Verb, _ = t.(string)
		*p = append(*p, v)
	}
	_, err := dec.Token()
	return err
}

// PerfAnswer is perf_scry's result (D-23): capstore's storage ledger since start.
type PerfAnswer struct {
	GitCalls int64     `json:"git_calls"`
	GitMS    float64   `json:"git_ms"`
	ByVerb   PerfVerbs `json:"by_verb"`
}
