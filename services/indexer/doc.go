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
// The foundation has no bus: internal/embed (the S-20 embedder contract, the S-21 stub and the
// S-22 OpenAI-compatible client), internal/rows (pure row derivation), internal/ranking
// (map_search's embedding and hybrid ranking, shared by both stores), and the two stores behind
// Store: internal/sqliteindex (0.1.5's map_entries schema plus FTS5) and internal/pgindex
// (PostgreSQL, tsvector), both held to one contract by internal/storetest and checked against
// the Stasima 0.1.5 deployment fixture.
package indexer
