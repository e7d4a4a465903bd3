// Package indexer owns the map index (ARCH-4): it consumes the git events of the EVENTS stream
// (durable consumer indexer-events, in stream order), derives attributed index rows from git
// through capstore's queries (S-1…S-5, S-31, S-33, S-35), serves the index queries
// (stasima.index.q.*, including the ARCH-7 barrier await, S-30) and rebuilds the whole index
// from git on the reindex command (S-34, INV-7). The index is a cache: deleting it and
// reindexing reproduces it.
//
// Idempotence (S-32): every write carries the EVENTS stream sequence of the event that caused
// it as its version, and the store never lets a version overwrite a newer or equal one, so a
// redelivered or reordered event is harmless; the service also skips events at or below its
// watermark (the last applied sequence).
//
// The foundation has no bus: internal/embed (the S-20 embedder contract and the S-21 stub),
// internal/rows (pure row derivation) and internal/sqliteindex (the store over 0.1.5's
// map_entries schema). All three are checked against the Stasima 0.1.5 deployment fixture.
package indexer
