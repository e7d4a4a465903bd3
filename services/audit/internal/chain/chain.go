// Package chain owns the audit log's hash chain (audit.md §3–§4): the row and intent types,
// the canonical encoding that is byte-identical to Stasima 0.1.5's
// json.dumps(sort_keys=True, separators=(",", ":")), the stored-detail text form, hashing,
// verification and head recomputation, and the Store contract the backends implement.
//
// Invariants: a row's hash is the SHA-256 of the canonical form of its eleven hashed fields,
// computed from the stored text (detail parsed, U-9), never from a re-encoding; each row's
// prev_hash is the previous row's hash, or Genesis. The package does no I/O.
package chain

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
)

// appendCanonical appends the canonical form (U-7) of e's hashed fields with prev as
// prev_hash and detail as the parsed detail. Keys are written in code-point order.
func appendCanonical(dst []byte, e *Event, prev string, detail Value) []byte {
	dst = append(dst, `{"actor":`...)
	dst = e.Actor.appendJSON(dst)
	dst = append(dst, `,"detail":`...)
	dst = detail.AppendCanonical(dst)
	dst = append(dst, `,"op":`...)
	dst = e.Op.appendJSON(dst)
	dst = append(dst, `,"op_id":`...)
	dst = e.OpID.appendJSON(dst)
	dst = append(dst, `,"outcome":`...)
	dst = e.Outcome.appendJSON(dst)
	dst = append(dst, `,"prev_hash":`...)
	dst = AppendString(dst, prev)
	dst = append(dst, `,"result_oid":`...)
	dst = e.ResultOID.appendJSON(dst)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendInt(dst, e.Seq, 10)
	dst = append(dst, `,"target_path":`...)
	dst = e.TargetPath.appendJSON(dst)
	dst = append(dst, `,"target_ref":`...)
	dst = e.TargetRef.appendJSON(dst)
	dst = append(dst, `,"ts":`...)
	dst = e.TS.appendJSON(dst)
	return append(dst, '}')
}

// AppendCanonical appends the canonical form (U-7) of e's stored fields, prev_hash included,
// to dst. It fails only when the stored detail does not parse.
func AppendCanonical(dst []byte, e *Event) ([]byte, error) {
	return appendCanonicalPrev(dst, e, e.PrevHash)
}

func appendCanonicalPrev(dst []byte, e *Event, prev string) ([]byte, error) {
	detail, err := e.DetailValue()
	if err != nil {
		return dst, fmt.Errorf("seq %d: %w", e.Seq, err)
	}
	return appendCanonical(dst, e, prev, detail), nil
}

// Canonical returns the canonical string of e's stored fields (U-7), the exact text 0.1.5
// hashed.
func Canonical(e *Event) (string, error) {
	b, err := AppendCanonical(nil, e)
	return string(b), err
}

// Hash returns the hash (U-8) of e's fields chained after prev: e.PrevHash and e.Hash are
// ignored.
func Hash(prev string, e *Event) (string, error) {
	b, err := appendCanonicalPrev(nil, e, prev)
	if err != nil {
		return "", err
	}
	return hashHex(b), nil
}

func hashHex(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:])
}

// Verifier checks rows one at a time in seq order (U-10), for logs too large to hold. The
// zero Verifier starts at Genesis.
type Verifier struct {
	prev    string
	started bool
	bad     int64
	failed  bool
	buf     []byte
}

// Add checks the next row and reports whether the chain is still intact. Once it returns
// false the first bad seq is fixed and later rows are ignored.
func (v *Verifier) Add(e *Event) bool {
	if v.failed {
		return false
	}
	if !v.started {
		v.prev, v.started = Genesis, true
	}
	var sum [sha256.Size]byte
	var hexSum [2 * sha256.Size]byte
	ok := e.PrevHash == v.prev
	if ok {
		var err error
		v.buf, err = AppendCanonical(v.buf[:0], e)
		// A detail that does not parse cannot match any hash (0.1.5 raised here).
		ok = err == nil
		if ok {
			sum = sha256.Sum256(v.buf)
			hex.Encode(hexSum[:], sum[:])
			ok = string(hexSum[:]) == e.Hash
		}
	}
	if !ok {
		v.failed, v.bad = true, e.Seq
		return false
	}
	v.prev = e.Hash
	return true
}

// Result returns (true, 0) for an intact chain, or (false, first bad seq).
func (v *Verifier) Result() (ok bool, firstBad int64) {
	return !v.failed, v.bad
}

// Verify walks rows by seq from Genesis (U-10): a row fails when its stored prev_hash is not
// the previous row's stored hash, or when the hash recomputed from its stored fields is not
// its stored hash. It returns (true, 0), or (false, the first failing seq). Gaps in seq are
// not failures in themselves; rows out of seq order are sorted first.
func Verify(rows []Event) (ok bool, firstBad int64) {
	rows = sortedBySeq(rows)
	var v Verifier
	for i := range rows {
		if !v.Add(&rows[i]) {
			break
		}
	}
	return v.Result()
}

// Recomputer recomputes the chain head from stored fields (U-12), substituting each row's
// prev_hash with the recomputed previous hash so an upstream edit propagates forward. The zero
// Recomputer is at Genesis.
type Recomputer struct {
	head string
	buf  []byte
}

// Add chains the next row (in seq order).
func (r *Recomputer) Add(e *Event) error {
	var err error
	r.buf, err = appendCanonicalPrev(r.buf[:0], e, r.Head())
	if err != nil {
		return err
	}
	r.head = hashHex(r.buf)
	return nil
}

// Head returns the recomputed hash of the last row added, or Genesis.
func (r *Recomputer) Head() string {
	if r.head == "" {
		return Genesis
	}
	return r.head
}

// HeadAt recomputes the head over the rows with Seq <= seq (U-12); Genesis for none. It fails
// only when a stored detail does not parse.
func HeadAt(rows []Event, seq int64) (string, error) {
	rows = sortedBySeq(rows)
	var r Recomputer
	for i := range rows {
		if rows[i].Seq > seq {
			break
		}
		if err := r.Add(&rows[i]); err != nil {
			return "", err
		}
	}
	return r.Head(), nil
}

// Head returns the stored hash of the highest-seq row, or Genesis (U-11).
func Head(rows []Event) string {
	if len(rows) == 0 {
		return Genesis
	}
	last := slices.MaxFunc(rows, func(a, b Event) int { return cmpSeq(a.Seq, b.Seq) })
	return last.Hash
}

func cmpSeq(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func sortedBySeq(rows []Event) []Event {
	less := func(a, b Event) int { return cmpSeq(a.Seq, b.Seq) }
	if slices.IsSortedFunc(rows, less) {
		return rows
	}
	return slices.SortedStableFunc(slices.Values(rows), less)
}
