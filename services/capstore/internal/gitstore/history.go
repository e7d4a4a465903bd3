package gitstore

import (
	"container/heap"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/stasima/stasima/pkg/fault"
)

// History lists the commits that changed path, newest first, with the
// semantics of `git log -- <path>` on tipOID (T-kip_history-2): git's default
// history simplification, path taken literally (no pathspec globbing).
//
// The walk starts at the tip and pops commits by committer time, newest first
// (ties in the order they were queued, as git's date-ordered list does). A root
// commit is listed when the path is present. A commit whose entry at path equals
// the entry in some parent (TREESAME) is not listed and only its first such
// parent is walked; otherwise it is listed and all its parents are walked. An
// entry is compared by mode and oid, so a directory path lists the commits that
// changed anything below it, as a pathspec does.
func (s *Store) History(tipOID, path string) ([]CommitInfo, error) {
	const op = "gitstore.history"
	tip, err := parseOID(op, tipOID)
	if err != nil {
		return nil, err
	}
	if path == "" {
		return nil, fault.E(op, fault.ArgumentError, "history needs a path")
	}
	w := &historyWalk{
		s: s, op: op, path: strings.Trim(path, "/"),
		commits: make(map[plumbing.Hash]*object.Commit),
		entries: make(map[plumbing.Hash]treeEntry),
		seen:    make(map[plumbing.Hash]bool),
	}
	if err := w.push(tip); err != nil {
		return nil, err
	}
	var out []CommitInfo
	for w.q.Len() > 0 {
		c := heap.Pop(&w.q).(queued).c
		delete(w.commits, c.Hash) // the walk needs only its entry from now on
		e, err := w.entry(c.Hash)
		if err != nil {
			return nil, err
		}
		if len(c.ParentHashes) == 0 {
			if !e.hash.IsZero() {
				out = append(out, info(c))
			}
			continue
		}
		follow := -1
		for i, p := range c.ParentHashes {
			pe, err := w.entry(p)
			if err != nil {
				return nil, err
			}
			if pe == e {
				follow = i
				break
			}
		}
		if follow >= 0 {
			// TREESAME to a parent: git keeps only that parent and hides the commit.
			if err := w.push(c.ParentHashes[follow]); err != nil {
				return nil, err
			}
			continue
		}
		out = append(out, info(c))
		for _, p := range c.ParentHashes {
			if err := w.push(p); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func info(c *object.Commit) CommitInfo {
	return CommitInfo{
		OID:         c.Hash.String(),
		Parents:     hexes(c.ParentHashes),
		AuthorName:  c.Author.Name,
		AuthorEmail: c.Author.Email,
		Message:     c.Message,
		Time:        c.Committer.When,
	}
}

type historyWalk struct {
	s       *Store
	op      string
	path    string                           // without leading or trailing "/"
	commits map[plumbing.Hash]*object.Commit // loaded, not yet popped
	entries map[plumbing.Hash]treeEntry      // commit → its entry at the path
	seen    map[plumbing.Hash]bool           // ever queued
	q       commitQueue
	seq     int
}

func (w *historyWalk) commit(h plumbing.Hash) (*object.Commit, error) {
	if c, ok := w.commits[h]; ok {
		return c, nil
	}
	c, err := w.s.getCommit(w.op, h)
	if err != nil {
		return nil, err
	}
	w.commits[h] = c
	return c, nil
}

func (w *historyWalk) entry(h plumbing.Hash) (treeEntry, error) {
	if e, ok := w.entries[h]; ok {
		return e, nil
	}
	c, err := w.commit(h)
	if err != nil {
		return treeEntry{}, err
	}
	e, err := w.s.pathEntry(w.op, c.TreeHash, w.path)
	if err != nil {
		return treeEntry{}, err
	}
	w.entries[h] = e
	return e, nil
}

func (w *historyWalk) push(h plumbing.Hash) error {
	if w.seen[h] {
		return nil
	}
	w.seen[h] = true
	c, err := w.commit(h)
	if err != nil {
		return err
	}
	heap.Push(&w.q, queued{c: c, seq: w.seq})
	w.seq++
	return nil
}

type queued struct {
	c   *object.Commit
	seq int
}

// commitQueue pops the newest committer time first, then the earliest queued.
type commitQueue []queued

func (q commitQueue) Len() int { return len(q) }
func (q commitQueue) Less(i, j int) bool {
	ti, tj := q[i].c.Committer.When, q[j].c.Committer.When
	if !ti.Equal(tj) {
		return ti.After(tj)
	}
	return q[i].seq < q[j].seq
}
func (q commitQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *commitQueue) Push(x any)   { *q = append(*q, x.(queued)) }
func (q *commitQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
