package app

import (
	"context"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/capstore/internal/gitstore"
)

// Ledger meters capstore's storage operations under git verb names (D-23, T-perf_scry-1): no
// git subprocess exists, so each Git port method counts as the git verb it stands for. It is
// safe for concurrent use and lives as long as the App (perf_scry reports "since start").
type Ledger struct {
	mu    sync.Mutex
	verbs map[string]*verbStat
}

type verbStat struct {
	n          int64
	total, max time.Duration
}

func newLedger() *Ledger { return &Ledger{verbs: map[string]*verbStat{}} }

// record adds one operation of verb that took d.
func (l *Ledger) record(verb string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v := l.verbs[verb]
	if v == nil {
		v = &verbStat{}
		l.verbs[verb] = v
	}
	v.n++
	v.total += d
	v.max = max(v.max, d)
}

// Snapshot is perf_scry's answer: verbs by total time descending (then by name), times in ms
// rounded to 0.1, totals over all verbs.
func (l *Ledger) Snapshot() schema.PerfAnswer {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := schema.PerfAnswer{ByVerb: schema.PerfVerbs{}}
	var total time.Duration
	for name, v := range l.verbs {
		out.GitCalls += v.n
		total += v.total
		out.ByVerb = append(out.ByVerb, schema.PerfVerb{Verb: name, N: v.n, MS: ms(v.total),
			AvgMS: ms(v.total / time.Duration(v.n)), MaxMS: ms(v.max)})
	}
	sort.Slice(out.ByVerb, func(i, j int) bool {
		a, b := out.ByVerb[i], out.ByVerb[j]
		if a.MS != b.MS {
			return a.MS > b.MS
		}
		return a.Verb < b.Verb
	})
	out.GitMS = ms(total)
	return out
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Millisecond)*10) / 10 }

// Perf answers capstore.q.perf.
func (a *App) Perf() (schema.PerfAnswer, error) { return a.ledger.Snapshot(), nil }

// metered is the Git port with every call recorded in the ledger. Methods the ledger does not
// know pass through the embedded port unmetered.
type metered struct {
	Git
	l *Ledger
}

func (m metered) time(verb string) func() {
	start := time.Now()
	return func() { m.l.record(verb, time.Since(start)) }
}

func (m metered) Commit(ctx context.Context, req gitstore.CommitRequest) (gitstore.CommitResult, error) {
	defer m.time("commit-tree")()
	return m.Git.Commit(ctx, req)
}

func (m metered) Resolve(ref string) (string, bool, error) {
	defer m.time("rev-parse")()
	return m.Git.Resolve(ref)
}

func (m metered) ListRefs(prefix string) ([]gitstore.Ref, error) {
	defer m.time("for-each-ref")()
	return m.Git.ListRefs(prefix)
}

func (m metered) ReadBlob(commitOID, path string) ([]byte, bool, error) {
	defer m.time("cat-file")()
	return m.Git.ReadBlob(commitOID, path)
}

func (m metered) ReadBlobs(commitOID string, paths []string, maxBytes int) ([]gitstore.Blob, error) {
	defer m.time("cat-file")()
	return m.Git.ReadBlobs(commitOID, paths, maxBytes)
}

func (m metered) ListPaths(commitOID string) ([]string, error) {
	defer m.time("ls-tree")()
	return m.Git.ListPaths(commitOID)
}

func (m metered) ListPathsUnder(commitOID, under string) ([]string, error) {
	defer m.time("ls-tree")()
	return m.Git.ListPathsUnder(commitOID, under)
}

func (m metered) CommitInfo(oid string) (gitstore.CommitInfo, error) {
	defer m.time("cat-file")()
	return m.Git.CommitInfo(oid)
}

func (m metered) History(tipOID, path string) ([]gitstore.CommitInfo, error) {
	defer m.time("log")()
	return m.Git.History(tipOID, path)
}

func (m metered) CountCommits(oid string) (int, error) {
	defer m.time("rev-list")()
	return m.Git.CountCommits(oid)
}

func (m metered) SetRef(ctx context.Context, name, newOID, oldOID string) error {
	defer m.time("update-ref")()
	return m.Git.SetRef(ctx, name, newOID, oldOID)
}

func (m metered) BlobOID(commitOID, path string) (string, bool, error) {
	defer m.time("rev-parse")()
	return m.Git.BlobOID(commitOID, path)
}

func (m metered) CanonPositions(tipOID string, paths []string) (map[string]int, error) {
	defer m.time("rev-list")()
	return m.Git.CanonPositions(tipOID, paths)
}

// The merge half of the port (Merger), metered when the wrapped port has it.

func (m metered) merger() Merger { return m.Git.(Merger) }

func (m metered) PreviewMerge(oursOID, theirsOID string) (gitstore.MergePreview, error) {
	defer m.time("merge-tree")()
	return m.merger().PreviewMerge(oursOID, theirsOID)
}

func (m metered) PrepareCandidate(ctx context.Context, req gitstore.CandidateRequest) (string, gitstore.MergePreview, error) {
	defer m.time("merge-tree")()
	return m.merger().PrepareCandidate(ctx, req)
}

func (m metered) ChangedPaths(fromOID, toOID string) ([]string, error) {
	defer m.time("diff")()
	return m.merger().ChangedPaths(fromOID, toOID)
}

func (m metered) MergeBase(a, b string) (string, bool, error) {
	defer m.time("merge-base")()
	return m.merger().MergeBase(a, b)
}

func (m metered) IsAncestor(a, b string) (bool, error) {
	defer m.time("merge-base")()
	return m.merger().IsAncestor(a, b)
}

func (m metered) FirstParentChain(tipOID string) ([]string, error) {
	defer m.time("rev-list")()
	return m.merger().FirstParentChain(tipOID)
}

// Ledger is the App's storage ledger (its metrics exposition reads it on scrape).
func (a *App) Ledger() *Ledger { return a.ledger }

// Each calls fn for each verb with its count, total and maximum duration since start.
func (l *Ledger) Each(fn func(verb string, n int64, total, max time.Duration)) {
	l.mu.Lock()
	stats := make(map[string]verbStat, len(l.verbs))
	for name, v := range l.verbs {
		stats[name] = *v
	}
	l.mu.Unlock()
	for name, v := range stats {
		fn(name, v.n, v.total, v.max)
	}
}
