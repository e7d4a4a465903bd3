package indexer

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/indexer/internal/fixture"
)

// fakeCapstore answers the capstore queries the indexer uses from the fixture's bare repository,
// read with the git CLI, with capstore's semantics (refs by name, blobs by commit and path,
// history authors as git author names, C-pos-3 positions).
type fakeCapstore struct {
	d fixture.Deployment
	// blobBytes is read_blobs' byte bound (0: schema.MaxReadBlobsBytes); a small one makes
	// the indexer ask again for the rest of a batch.
	blobBytes int
}

// readBlobs answers read_blobs with one git cat-file --batch, cut as capstore cuts it: before
// the blobs' bytes pass the bound, never below one path.
func (c fakeCapstore) readBlobs(q schema.BlobsQuery) (schema.BlobsAnswer, error) {
	bound := c.blobBytes
	if bound == 0 {
		bound = schema.MaxReadBlobsBytes
	}
	var in bytes.Buffer
	for _, p := range q.Paths {
		in.WriteString(q.OID + ":" + p + "\n")
	}
	cmd := exec.Command("git", "--git-dir="+c.d.GitDir(), "cat-file", "--batch")
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		return schema.BlobsAnswer{}, fault.Wrap("fake.read_blobs", fault.BackendUnavailable, err, "cat-file")
	}
	ans := schema.BlobsAnswer{Commit: q.OID, Blobs: []schema.PathBlob{}}
	size := 0
	for _, p := range q.Paths {
		head, rest, _ := bytes.Cut(out, []byte("\n"))
		out = rest
		f := strings.Fields(string(head))
		pb := schema.PathBlob{Path: p}
		if len(f) == 3 { // <oid> <type> <size>, then the content and a newline
			n, _ := strconv.Atoi(f[2])
			data := out[:n]
			out = out[n+1:]
			if f[1] == "blob" {
				if len(ans.Blobs) > 0 && size+n > bound {
					break
				}
				pb.Found, pb.BlobOID, pb.Data = true, f[0], data
				size += n
			}
		}
		ans.Blobs = append(ans.Blobs, pb)
		if size >= bound {
			break
		}
	}
	return ans, nil
}

func (c fakeCapstore) git(args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"--git-dir=" + c.d.GitDir()}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fault.Wrap("fake.git", fault.BackendUnavailable, err, "git %s: %s", strings.Join(args, " "), stderr.String())
	}
	return string(out), nil
}

func (c fakeCapstore) resolve(ref string) string {
	out, err := c.git("rev-parse", "--verify", "--quiet", ref+"^{commit}")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// serve subscribes the answering handlers on nc.
func (c fakeCapstore) serve(t *testing.T, nc *nats.Conn, subj bus.Subjects) {
	t.Helper()
	handlers := map[string]func([]byte) (any, error){
		schema.QResolveRef: func(b []byte) (any, error) {
			var q schema.RefQuery
			json.Unmarshal(b, &q)
			return schema.RefAnswer{Ref: q.Ref, OID: c.resolve(q.Ref)}, nil
		},
		schema.QReadBlob: func(b []byte) (any, error) {
			var q schema.BlobQuery
			json.Unmarshal(b, &q)
			oid, err := c.git("rev-parse", "--verify", "--quiet", q.OID+":"+q.Path)
			if err != nil {
				return schema.BlobAnswer{RefFound: true, Commit: q.OID}, nil
			}
			oid = strings.TrimSpace(oid)
			data, err := c.git("cat-file", "blob", oid)
			if err != nil {
				return nil, err
			}
			return schema.BlobAnswer{Found: true, RefFound: true, Commit: q.OID, BlobOID: oid, Data: []byte(data)}, nil
		},
		schema.QChangedPaths: func(b []byte) (any, error) {
			var q schema.ChangedPathsQuery
			json.Unmarshal(b, &q)
			out, err := c.git("diff-tree", "-r", "-z", "--name-only", "--no-renames", q.From, q.To)
			if err != nil {
				return nil, err
			}
			return schema.ChangedPathsAnswer{Paths: nonEmpty(strings.Split(out, "\x00"))}, nil
		},
		schema.QReadBlobs: func(b []byte) (any, error) {
			var q schema.BlobsQuery
			json.Unmarshal(b, &q)
			return c.readBlobs(q)
		},
		schema.QListPaths: func(b []byte) (any, error) {
			var q schema.RefQuery
			json.Unmarshal(b, &q)
			if !strings.HasPrefix(q.Ref, "refs/") || c.resolve(q.Ref) == "" {
				return schema.ListPathsAnswer{Paths: []string{}}, nil
			}
			out, err := c.git("ls-tree", "-r", "-z", "--name-only", q.Ref)
			if err != nil {
				return nil, err
			}
			return schema.ListPathsAnswer{RefFound: true, Paths: nonEmpty(strings.Split(out, "\x00"))}, nil
		},
		schema.QListRefs: func(b []byte) (any, error) {
			var q schema.ListRefsQuery
			json.Unmarshal(b, &q)
			out, err := c.git("for-each-ref", "--format=%(refname) %(objectname)", q.Prefix)
			if err != nil {
				return nil, err
			}
			ans := schema.ListRefsAnswer{Refs: []schema.RefEntry{}}
			for _, l := range nonEmpty(strings.Split(out, "\n")) {
				name, oid, _ := strings.Cut(l, " ")
				ans.Refs = append(ans.Refs, schema.RefEntry{Name: name, OID: oid})
			}
			return ans, nil
		},
		schema.QHistory: func(b []byte) (any, error) {
			var q schema.HistoryQuery
			json.Unmarshal(b, &q)
			out, err := c.git("log", "--format=%H %an", q.Ref, "--", q.Path)
			if err != nil {
				return nil, err
			}
			ans := schema.HistoryAnswer{RefFound: true, History: []schema.HistoryItem{}}
			for _, l := range nonEmpty(strings.Split(out, "\n")) {
				oid, author, _ := strings.Cut(l, " ")
				ans.History = append(ans.History, schema.HistoryItem{OID: oid, Author: author})
			}
			return ans, nil
		},
		schema.QCanonPositions: func(b []byte) (any, error) {
			var q schema.CanonPositionsQuery
			json.Unmarshal(b, &q)
			return c.positions(q)
		},
	}
	for name, h := range handlers {
		sub, err := nc.Subscribe(subj.Query(bus.Capstore, name), func(m *nats.Msg) {
			res, err := h(m.Data)
			var body []byte
			if err != nil {
				body = bus.ErrReply(err)
			} else if body, err = bus.OKReply(res); err != nil {
				body = bus.ErrReply(err)
			}
			m.Respond(body)
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sub.Unsubscribe() })
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// positions is C-pos-3 at q.Tip: the 1-based first-parent position of the newest commit whose
// first-parent diff touched each path.
func (c fakeCapstore) positions(q schema.CanonPositionsQuery) (schema.CanonPositionsAnswer, error) {
	out, err := c.git("rev-list", "--first-parent", "--reverse", q.Tip)
	if err != nil {
		return schema.CanonPositionsAnswer{}, err
	}
	pos := map[string]int{}
	for i, commit := range strings.Fields(out) {
		args := []string{"diff-tree", "-r", "-z", "--no-commit-id", "--name-only", "--root", commit}
		parents, err := c.git("log", "-1", "--format=%P", commit)
		if err != nil {
			return schema.CanonPositionsAnswer{}, err
		}
		if ps := strings.Fields(parents); len(ps) > 0 {
			args = []string{"diff-tree", "-r", "-z", "--name-only", ps[0], commit}
		}
		changed, err := c.git(args...)
		if err != nil {
			return schema.CanonPositionsAnswer{}, err
		}
		for _, p := range nonEmpty(strings.Split(changed, "\x00")) {
			pos[p] = i + 1
		}
	}
	ans := schema.CanonPositionsAnswer{Positions: map[string]int{}}
	for _, p := range q.Paths {
		if n, ok := pos[p]; ok {
			ans.Positions[p] = n
		}
	}
	return ans, nil
}

func nonEmpty(ss []string) []string {
	out := []string{}
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
