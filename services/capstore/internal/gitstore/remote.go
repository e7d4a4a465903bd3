package gitstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/stasima/stasima/pkg/fault"
)

// SyncRefSpecs are C-refs-2: they carry perspectives, proposals, the anchor and the state
// tags, which git's defaults would drop.
var SyncRefSpecs = []string{"refs/heads/*:refs/heads/*", "refs/cap/*:refs/cap/*", "refs/tags/state/*:refs/tags/state/*"}

// syncPrefixes are the local refs verify_sync compares (O-backup-3).
var syncPrefixes = []string{"refs/heads/", "refs/cap/", "refs/tags/state/"}

// SyncReport is verify_sync (O-backup-3).
type SyncReport struct {
	Synced          int
	MissingOnRemote []string
	OIDMismatch     []string
}

// OK is git_sync_ok: both lists empty.
func (r SyncReport) OK() bool { return len(r.MissingOnRemote) == 0 && len(r.OIDMismatch) == 0 }

// installFile serves file:// and plain-path remotes in process: the image has no git binary.
var installFile sync.Once

// InitBare creates a bare repository at dir unless one is there (O-backup-1).
func InitBare(dir string) error {
	if _, err := git.PlainInit(dir, true); err != nil && !errors.Is(err, git.ErrRepositoryAlreadyExists) {
		return fault.Wrap("gitstore.init_bare", fault.BackendUnavailable, err, "init bare repository %q", dir)
	}
	return nil
}

// Push registers remote name → url (replacing any previous URL), pushes the sync refspecs
// plus extra without force and without prune (a non-fast-forward fails: fault.StaleRef), then
// compares the local sync refs with the remote's advertised refs. ctx bounds the network
// operations (O-net-1: git_network_timeout); a timeout says the push did NOT complete.
func (s *Store) Push(ctx context.Context, name, url string, extra []string) (SyncReport, error) {
	const op = "gitstore.push"
	installFile.Do(func() { client.InstallProtocol("file", server.DefaultServer) })
	if !strings.Contains(url, "://") && !strings.Contains(url, "@") {
		abs, err := filepath.Abs(url)
		if err != nil {
			return SyncReport{}, fault.Wrap(op, fault.ArgumentError, err, "remote %q", url)
		}
		url = "file://" + abs
	}
	// A fresh go-git view of the repository: it reads the packs and refs the store wrote.
	st := filesystem.NewStorage(osfs.New(s.cfg.Dir), cache.NewObjectLRUDefault())
	repo, err := git.Open(st, nil)
	if err != nil {
		return SyncReport{}, fault.Wrap(op, fault.BackendUnavailable, err, "open %q", s.cfg.Dir)
	}
	if err := repo.DeleteRemote(name); err != nil && !errors.Is(err, git.ErrRemoteNotFound) {
		return SyncReport{}, fault.Wrap(op, fault.BackendUnavailable, err, "replace remote %s", name)
	}
	remote, err := repo.CreateRemote(&config.RemoteConfig{Name: name, URLs: []string{url}})
	if err != nil {
		return SyncReport{}, fault.Wrap(op, fault.ArgumentError, err, "remote %s = %q", name, url)
	}
	var specs []config.RefSpec
	for _, sp := range append(append([]string{}, SyncRefSpecs...), extra...) {
		specs = append(specs, config.RefSpec(sp))
	}
	err = remote.PushContext(ctx, &git.PushOptions{RemoteName: name, RefSpecs: specs})
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
	case ctx.Err() != nil:
		return SyncReport{}, fault.Wrap(op, fault.BackendUnavailable, err,
			"push to %s did NOT complete before the deadline; raise git_network_timeout", url)
	case errors.Is(err, git.ErrForceNeeded) || strings.Contains(err.Error(), "non-fast-forward"):
		return SyncReport{}, fault.Wrap(op, fault.StaleRef, err, "push to %s refused: a remote ref is not an ancestor of ours (non-fast-forward); nothing is forced", url)
	default:
		return SyncReport{}, fault.Wrap(op, fault.BackendUnavailable, err, "push to %s", url)
	}
	return s.verifySync(ctx, remote, url)
}

func (s *Store) verifySync(ctx context.Context, remote *git.Remote, url string) (SyncReport, error) {
	adv, err := remote.ListContext(ctx, &git.ListOptions{})
	if err != nil {
		return SyncReport{}, fault.Wrap("gitstore.verify_sync", fault.BackendUnavailable, err, "list refs of %s", url)
	}
	theirs := map[string]string{}
	for _, r := range adv {
		if r.Type() == plumbing.HashReference {
			theirs[r.Name().String()] = r.Hash().String()
		}
	}
	rep := SyncReport{MissingOnRemote: []string{}, OIDMismatch: []string{}}
	for _, p := range syncPrefixes {
		mine, err := s.ListRefs(p)
		if err != nil {
			return SyncReport{}, err
		}
		for _, r := range mine {
			switch oid, ok := theirs[r.Name]; {
			case !ok:
				rep.MissingOnRemote = append(rep.MissingOnRemote, r.Name)
			case oid != r.OID:
				rep.OIDMismatch = append(rep.OIDMismatch, r.Name)
			default:
				rep.Synced++
			}
		}
	}
	sort.Strings(rep.MissingOnRemote)
	sort.Strings(rep.OIDMismatch)
	return rep, nil
}

// mkdirAll is the backup destination (O-backup-1: created if needed).
func mkdirAll(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return nil
}

// PrepareBackupDest creates dest and its bare mirror repository when missing, returning the
// mirror's path.
func PrepareBackupDest(dest, mirror string) (string, error) {
	if err := mkdirAll(dest); err != nil {
		return "", fault.Wrap("gitstore.backup", fault.BackendUnavailable, err, "backup destination")
	}
	p := filepath.Join(dest, mirror)
	return p, InitBare(p)
}
