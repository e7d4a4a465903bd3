package chain

import (
	"context"
	"errors"
	"iter"
	"math"
)

// Filter selects rows for Events and Latest (U-14, U-15). A field that is not Valid does not
// filter; a Valid one matches that exact column value ("" included, NULL never).
//
// Window, Purpose and Object match the detail members of that name (the airlock's rows: A-10,
// A-72), read through the detail-keys side table the writer fills (DetailKeys), so the airlock's
// decisions are indexed reads, not scans of every row of an op. AfterSeq and BeforeSeq bound seq
// exclusively when non-zero; Limit caps the rows returned when positive; Desc returns the
// highest seqs first.
type Filter struct {
	Op         Text
	Actor      Text
	OpID       Text
	TargetRef  Text
	TargetPath Text

	Window  *int64
	Purpose Text
	Object  Text

	AfterSeq  int64
	BeforeSeq int64
	Limit     int
	Desc      bool
}

// HasDetailKeys reports whether f filters on a detail member.
func (f Filter) HasDetailKeys() bool { return f.Window != nil || f.Purpose.Valid || f.Object.Valid }

// ErrRowExists is returned by Store.Import when a row's seq or intent id is already present.
var ErrRowExists = errors.New("audit row already present")

// Store is the audit log's durable table, audit_events (U-1). Implementations: sqlitestore and
// pgstore; both pass storetest.Run.
//
// Concurrency: every method is safe for concurrent use, and AppendBatch is safe against other
// processes writing the same database: each batch is one writer transaction that holds the
// table's write lock from reading the tail to commit, so seqs are contiguous and the chain
// stays valid however many writers race (seq is derived from the table, never from a counter).
//
// Errors: intent validation failures wrap ErrInvalidIntent with class fault.ArgumentError and
// are reported before anything is written; database failures carry class
// fault.BackendUnavailable (retry later) and wrap the driver error, so context.Canceled and
// context.DeadlineExceeded stay matchable with errors.Is.
type Store interface {
	// Tree is the Merkle tree over the rows, extended in AppendBatch's and Import's
	// transactions and at open.
	Tree

	// AppendBatch appends one row per intent, in order, in a single transaction (U-3): it
	// reads the tail, assigns seq = tail+1…, ts (FormatTS) and prev_hash, hashes and inserts.
	// It returns one Event per intent, index for index. Idempotent on Intent.ID (U-5): an
	// intent whose ID is already in the log, or earlier in the same batch, appends nothing
	// and its slot holds the existing row. Either every new row is committed or none is.
	AppendBatch(ctx context.Context, intents []Intent) ([]Event, error)

	// Tail returns the highest-seq row's seq and hash, or GenesisTail (U-11).
	Tail(ctx context.Context) (Tail, error)

	// Count returns the number of rows, which is not the max seq when rows were deleted (U-13).
	Count(ctx context.Context) (int64, error)

	// Range yields the rows with from <= seq <= to in seq order. It reads in pages, so rows
	// appended while iterating may or may not appear; rows already yielded never change. The
	// first error ends the sequence.
	Range(ctx context.Context, from, to int64) iter.Seq2[Event, error]

	// Events returns the rows matching every set field of f, in seq order (U-14), or in
	// descending seq order with f.Desc, at most f.Limit of them when it is positive.
	Events(ctx context.Context, f Filter) ([]Event, error)

	// Latest returns the highest-seq row matching f (its Limit and Desc ignored), and false
	// when none does (U-15).
	Latest(ctx context.Context, f Filter) (Event, bool, error)

	// IsRead reports whether a read_receipt row with exactly this actor and target_path
	// exists (U-16).
	IsRead(ctx context.Context, actor, path string) (bool, error)

	// ByIntent returns the row appended for intent id, and false when there is none (U-6).
	ByIntent(ctx context.Context, id string) (Event, bool, error)

	// Import inserts rows verbatim, nothing recomputed, in one transaction: for migrating a
	// 0.1.5 log between backends and restoring backups. A row whose seq or intent id is present
	// fails the whole call with ErrRowExists. Import does not check the chain; Verify afterwards.
	Import(ctx context.Context, rows []Event) error

	// Close releases the store's connections.
	Close() error
}

// MinSeq and MaxSeq bound the widest Range.
const (
	MinSeq int64 = math.MinInt64
	MaxSeq int64 = math.MaxInt64
)

// VerifyStore runs Verify (U-10) over every row of s, streaming.
func VerifyStore(ctx context.Context, s Store) (ok bool, firstBad int64, err error) {
	var v Verifier
	for e, err := range s.Range(ctx, MinSeq, MaxSeq) {
		if err != nil {
			return false, 0, err
		}
		if !v.Add(&e) {
			break
		}
	}
	ok, firstBad = v.Result()
	return ok, firstBad, nil
}

// HeadAtStore runs HeadAt (U-12) over the rows of s with seq <= seq, streaming.
func HeadAtStore(ctx context.Context, s Store, seq int64) (string, error) {
	var r Recomputer
	for e, err := range s.Range(ctx, MinSeq, seq) {
		if err != nil {
			return "", err
		}
		if err := r.Add(&e); err != nil {
			return "", err
		}
	}
	return r.Head(), nil
}
