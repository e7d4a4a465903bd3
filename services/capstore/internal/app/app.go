// Package app holds capstore's command and query handlers: the per-tip builds and guards that
// must share a compare-and-swap with the write (T-common-16), over the Git port.
package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/stasima/stasima/services/capstore/internal/gitstore"
)

// Git is the repository port capstore's handlers use. The implementation serializes writes per
// ref and moves refs only by compare-and-swap; reads are safe concurrently.
type Git interface {
	Commit(ctx context.Context, req gitstore.CommitRequest) (gitstore.CommitResult, error)
	Resolve(ref string) (oid string, ok bool, err error)
	ListRefs(prefix string) ([]gitstore.Ref, error)
	ReadBlob(commitOID, path string) ([]byte, bool, error)
	ReadBlobs(commitOID string, paths []string, maxBytes int) ([]gitstore.Blob, error)
	ListPaths(commitOID string) ([]string, error)
	ListPathsUnder(commitOID, under string) ([]string, error)
	CommitInfo(oid string) (gitstore.CommitInfo, error)
	History(tipOID, path string) ([]gitstore.CommitInfo, error)
	CountCommits(oid string) (int, error)
	SetRef(ctx context.Context, name, newOID, oldOID string) error
	BlobOID(commitOID, path string) (string, bool, error)
	CanonPositions(tipOID string, paths []string) (map[string]int, error)
}

// Config is what the handlers need of capstore's configuration.
type Config struct {
	CanonRef      string
	SeqOrigin     uint64
	MaxBodyBytes  int
	Approvers     []string
	CommitterName string
}

// App answers commands and queries.
type App struct {
	git Git
	cfg Config
	log *slog.Logger
	now func() time.Time
	// ledger meters every storage operation of git (perf_scry, D-23).
	ledger *Ledger
	// onCanon keeps the commits of canon's history at one canon tip (proposal_summaries).
	onCanon canonHistory
}

// New assembles an App.
func New(git Git, cfg Config, log *slog.Logger) *App {
	l := newLedger()
	return &App{git: metered{Git: git, l: l}, ledger: l, cfg: cfg, log: log, now: func() time.Time { return time.Now().UTC() }}
}
