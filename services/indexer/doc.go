// Package indexer will own the map index (ARCH-4): it consumes git events from the EVENTS
// stream, derives attributed index rows from git through capstore's queries, serves the index
// queries (stasima.index.q.*), and rebuilds the whole index from git on reindex (INV-7). The
// index is a cache: deleting it and reindexing reproduces it. Until this service lands, the
// gateway serves listings without enrichment (empty titles, never guesses; T-list_entries-2).
//
// The foundation is in place without the bus: internal/embed (the S-20 embedder contract, the
// S-21 stub and scoring), internal/rows (pure row derivation, S-1…S-5) and internal/sqliteindex
// (the store over 0.1.5's map_entries schema with search, listing enrichment and a version
// guard). All three are checked against the Stasima 0.1.5 deployment fixture.
package indexer
