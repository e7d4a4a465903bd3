// Package memlog is an in-process audit log for the airlock's ports: it implements
// approval.Ledger and approval.Audit over a slice, assigning seq 1, 2, 3 … in append order.
// It holds exactly what the airlock would read from the audit service, so the state machine
// can be driven end to end without a bus (tests, and component tests of the service before it
// is wired to NATS). It keeps no hash chain; the audit service owns that.
package memlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"sync"

	"github.com/stasima/stasima/services/airlock/internal/approval"
)

// Log is an append-only, seq-ordered audit log in memory. The zero value is ready; it is safe
// for concurrent use. Append is visible to every Rows call that starts after it returns.
type Log struct {
	mu   sync.RWMutex
	rows []approval.Row
}

var (
	_ approval.Ledger = (*Log)(nil)
	_ approval.Audit  = (*Log)(nil)
)

// New returns an empty Log.
func New() *Log { return &Log{} }

// Append appends r as the next row and returns its seq. Like the audit service it refuses an
// empty actor or op and a detail that is not a JSON object; an empty detail is stored as {}.
func (l *Log) Append(ctx context.Context, r approval.Record) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if r.Actor == "" || r.Op == "" {
		return 0, errors.New("memlog: empty actor or op")
	}
	d := bytes.TrimSpace(r.Detail)
	if len(d) == 0 {
		d = []byte("{}")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(d, &obj); err != nil || obj == nil {
		return 0, errors.New("memlog: detail is not a JSON object")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	seq := int64(len(l.rows)) + 1
	l.rows = append(l.rows, approval.Row{Seq: seq, Op: r.Op, Actor: r.Actor, TargetRef: r.TargetRef,
		ResultOID: r.ResultOID, Detail: slices.Clone(d)})
	return seq, nil
}

// Rows returns the rows with op in seq order (copies).
func (l *Log) Rows(ctx context.Context, op string) ([]approval.Row, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []approval.Row
	for _, r := range l.rows {
		if r.Op == op {
			out = append(out, clone(r))
		}
	}
	return out, nil
}

// Find returns the rows q selects (copies), scanning: the log is in memory. Detail members
// match as the audit service's index matches them: a window is an integral JSON number, purpose
// and object are JSON strings.
func (l *Log) Find(ctx context.Context, q approval.Query) ([]approval.Row, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []approval.Row
	for i := range l.rows {
		r := l.rows[i]
		if q.Desc {
			r = l.rows[len(l.rows)-1-i]
		}
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
		if r.Op == q.Op && r.Seq > q.AfterSeq && matches(r.Detail, q) {
			out = append(out, clone(r))
		}
	}
	return out, nil
}

func matches(detail json.RawMessage, q approval.Query) bool {
	var d struct {
		Window  json.RawMessage `json:"window"`
		Purpose *string         `json:"purpose"`
		Object  *string         `json:"object"`
	}
	_ = json.Unmarshal(detail, &d) // a member of another type stays unset, as in the index
	if q.Window != nil {
		w, ok := integral(d.Window)
		if !ok || w != *q.Window {
			return false
		}
	}
	return (q.Purpose == "" || d.Purpose != nil && *d.Purpose == q.Purpose) &&
		(q.Object == "" || d.Object != nil && *d.Object == q.Object)
}

func integral(raw json.RawMessage) (int64, bool) {
	if len(raw) == 0 || raw[0] == '"' {
		return 0, false
	}
	var f float64
	if json.Unmarshal(raw, &f) != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

// All returns every row in seq order (copies).
func (l *Log) All() []approval.Row {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]approval.Row, len(l.rows))
	for i, r := range l.rows {
		out[i] = clone(r)
	}
	return out
}

// Len returns the number of rows.
func (l *Log) Len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.rows)
}

func clone(r approval.Row) approval.Row {
	r.Detail = slices.Clone(r.Detail)
	return r
}
