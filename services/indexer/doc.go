// Package indexer will own the map index (ARCH-4): it consumes git events from the EVENTS
// stream, derives attributed index rows from git through capstore's queries, serves the index
// queries (stasima.index.q.*), and rebuilds the whole index from git on reindex (INV-7). The
// index is a cache: deleting it and reindexing reproduces it. Until this service lands, the
// gateway serves listings without enrichment (empty titles, never guesses; T-list_entries-2).
package indexer
