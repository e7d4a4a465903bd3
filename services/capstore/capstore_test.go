package capstore_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/natstest"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/capstore"
)

type rig struct {
	srv    *natstest.Server
	gitDir string
	subj   bus.Subjects
}

func newRig(t *testing.T) *rig {
	return &rig{srv: natstest.Start(t), gitDir: t.TempDir() + "/repo.git", subj: bus.MustSubjects("")}
}

// start runs one capstore process: its own connection, the real repo, the real bus.
func (r *rig) start(t *testing.T, ackWait time.Duration) (*capstore.Service, *fxtest.App, *nats.Conn) {
	t.Helper()
	nc, err := nats.Connect(r.srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	cfg := capstore.DefaultConfig()
	cfg.GitDir = r.gitDir
	cfg.AckWait = ackWait
	var svc *capstore.Service
	app := fxtest.New(t,
		fx.NopLogger,
		fx.Supply(slog.New(slog.NewTextHandler(io.Discard, nil)), nc, fx.Annotate(js, fx.As(new(jetstream.JetStream))), cfg),
		capstore.Module,
		fx.Populate(&svc),
	)
	app.RequireStart()
	return svc, app, nc
}

func (r *rig) client(t *testing.T, timeout time.Duration) *busclient.Client {
	t.Helper()
	nc := r.srv.Connect(t)
	js, _ := jetstream.New(nc)
	c := busclient.New(nc, js, r.subj, "test", timeout)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	return c
}

func kip(seat, slug, opID string) busclient.Command {
	return busclient.Command{Svc: bus.Capstore, Verb: schema.CmdKipCommit, ID: "kip_commit/" + seat + "/" + opID, OpID: opID,
		Data: schema.KipCommit{Actor: schema.Actor{Seat: seat}, OpID: opID, Domain: "practice", Slug: slug, Body: "body of " + slug}}
}

func revCount(t *testing.T, gitDir, ref string) string {
	t.Helper()
	out, err := exec.Command("git", "--git-dir", gitDir, "rev-list", "--count", ref).CombinedOutput()
	if err != nil {
		t.Fatalf("rev-list %s: %v %s", ref, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestModule_Validates(t *testing.T) {
	cfg := capstore.DefaultConfig()
	cfg.GitDir = t.TempDir()
	nc := natstest.Start(t).Connect(t)
	js, _ := jetstream.New(nc)
	if err := fx.ValidateApp(fx.NopLogger, fx.Supply(slog.Default(), nc, fx.Annotate(js, fx.As(new(jetstream.JetStream))), cfg), capstore.Module); err != nil {
		t.Fatal(err)
	}
}

// TestService_RedeliveryAfterCrash: capstore dies after the git write and before the ack; a
// restarted capstore gets the command again, recognises the op_id and writes nothing more
// (ARCH-8, ARCH-12, C-commit-6). The requester still gets its answer, and the git.commit event
// went out exactly once.
func TestService_RedeliveryAfterCrash(t *testing.T) {
	r := newRig(t)
	svc1, app1, _ := r.start(t, time.Second)
	crashed := make(chan struct{})
	var once sync.Once
	svc1.SetAfterApply(func(string) {
		once.Do(func() {
			svc1.CloseConn() // the process is gone: no event, no reply, no ack
			close(crashed)
		})
	})
	c := r.client(t, 30*time.Second)
	type answer struct {
		res schema.KipCommitResult
		err error
	}
	done := make(chan answer, 1)
	go func() {
		var res schema.KipCommitResult
		err := c.Do(context.Background(), kip("Recto", "crash", "op-crash"), &res)
		done <- answer{res, err}
	}()
	<-crashed
	stopCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = app1.Stop(stopCtx)
	cancel()

	r.start(t, time.Second) // the restarted process
	a := <-done
	if a.err != nil {
		t.Fatal(a.err)
	}
	if !a.res.Replayed || len(a.res.OID) != 40 {
		t.Fatalf("want the replayed original commit, got %+v", a.res)
	}
	if n := revCount(t, r.gitDir, "refs/cap/perspectives/Recto"); n != "1" {
		t.Fatalf("perspective has %s commits, want exactly 1", n)
	}
	// The event of the commit that the dead process never announced is published by the
	// redelivery, exactly once.
	js, _ := jetstream.New(r.srv.Connect(t))
	st, err := js.Stream(context.Background(), r.subj.EventsStream())
	if err != nil {
		t.Fatal(err)
	}
	info, _ := st.Info(context.Background())
	if info.State.Msgs != 1 {
		t.Fatalf("EVENTS holds %d messages, want 1 git.commit", info.State.Msgs)
	}
}

// TestService_SameOpIDConcurrently: the same command sent twice at once makes one commit and
// both requesters get its oid.
func TestService_SameOpIDConcurrently(t *testing.T) {
	r := newRig(t)
	r.start(t, 5*time.Second)
	c1, c2 := r.client(t, 10*time.Second), r.client(t, 10*time.Second)
	var wg sync.WaitGroup
	res := make([]schema.KipCommitResult, 2)
	errs := make([]error, 2)
	for i, c := range []*busclient.Client{c1, c2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Do(context.Background(), kip("Verso", "twice", "op-twice"), &res[i])
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if res[0].OID != res[1].OID {
		t.Fatalf("two oids for one op_id: %s %s", res[0].OID, res[1].OID)
	}
	if n := revCount(t, r.gitDir, "refs/cap/perspectives/Verso"); n != "1" {
		t.Fatalf("perspective has %s commits, want 1", n)
	}
}

// TestService_RestartKeepsData: a restarted capstore serves what it wrote.
func TestService_RestartKeepsData(t *testing.T) {
	r := newRig(t)
	_, app, _ := r.start(t, 5*time.Second)
	c := r.client(t, 10*time.Second)
	for i := 0; i < 3; i++ {
		var res schema.KipCommitResult
		if err := c.Do(context.Background(), kip("Tertia", fmt.Sprintf("e%d", i), fmt.Sprintf("op%d", i)), &res); err != nil {
			t.Fatal(err)
		}
	}
	app.RequireStop()
	r.start(t, 5*time.Second)
	var ans schema.ListPathsAnswer
	if err := c.Query(context.Background(), bus.Capstore, schema.QListPaths, schema.RefQuery{Ref: "refs/cap/perspectives/Tertia"}, &ans); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ans.Paths) != "[practice/e0.md practice/e1.md practice/e2.md]" {
		t.Fatalf("after restart: %v", ans.Paths)
	}
}

// TestService_ReadBlobs: read_blobs answers each path at a commit as read_blob does, in order,
// and refuses a request past its path bound or without a commit (issue 15).
func TestService_ReadBlobs(t *testing.T) {
	r := newRig(t)
	r.start(t, 5*time.Second)
	c := r.client(t, 10*time.Second)
	ctx := context.Background()
	var res schema.KipCommitResult
	for i := 0; i < 2; i++ {
		if err := c.Do(ctx, kip("Tertia", fmt.Sprintf("e%d", i), fmt.Sprintf("op%d", i)), &res); err != nil {
			t.Fatal(err)
		}
	}
	paths := []string{"practice/e1.md", "practice/none.md", "practice", "practice/e0.md"}
	var ans schema.BlobsAnswer
	if err := c.Query(ctx, bus.Capstore, schema.QReadBlobs, schema.BlobsQuery{OID: res.OID, Paths: paths}, &ans); err != nil {
		t.Fatal(err)
	}
	if len(ans.Blobs) != len(paths) || ans.Commit != res.OID {
		t.Fatalf("read_blobs = %+v", ans)
	}
	for i, p := range paths {
		var one schema.BlobAnswer
		if err := c.Query(ctx, bus.Capstore, schema.QReadBlob, schema.BlobQuery{OID: res.OID, Path: p}, &one); err != nil {
			t.Fatal(err)
		}
		if b := ans.Blobs[i]; b.Path != p || b.Found != one.Found || b.BlobOID != one.BlobOID || string(b.Data) != string(one.Data) {
			t.Errorf("read_blobs[%d] = %+v; read_blob says %+v", i, b, one)
		}
	}
	many := make([]string, schema.MaxReadBlobsPaths+1)
	for i := range many {
		many[i] = fmt.Sprintf("practice/e%d.md", i)
	}
	for _, q := range []schema.BlobsQuery{{OID: res.OID, Paths: many}, {Paths: paths},
		{OID: strings.Repeat("z", 40), Paths: paths}, {OID: strings.ToUpper(res.OID), Paths: paths},
		{OID: res.OID + "\x00", Paths: paths}, {OID: "\xff\xfe", Paths: paths}} {
		if err := c.Query(ctx, bus.Capstore, schema.QReadBlobs, q, &ans); fault.ClassOf(err) != fault.ArgumentError {
			t.Errorf("read_blobs(%d paths, oid %q) err = %v, want ArgumentError", len(q.Paths), q.OID, err)
		}
	}
	// Hostile paths are answered, each not found, in order; no paths is an empty answer.
	for _, ps := range [][]string{{}, {"practice/e0.md\x00", "\x00", "practice/\xff\xfe.md", "/practice/e0.md",
		"practice/../practice/e0.md", strings.Repeat("a/", 4096) + "b.md"}} {
		var got schema.BlobsAnswer
		if err := c.Query(ctx, bus.Capstore, schema.QReadBlobs, schema.BlobsQuery{OID: res.OID, Paths: ps}, &got); err != nil {
			t.Errorf("read_blobs(%q) err = %v", ps, err)
			continue
		}
		if len(got.Blobs) != len(ps) {
			t.Errorf("read_blobs(%q) = %d blobs, want %d", ps, len(got.Blobs), len(ps))
			continue
		}
		for i, b := range got.Blobs {
			if b.Found {
				t.Errorf("read_blobs(%q)[%d] = %+v, want not found", ps, i, b)
			}
		}
	}
}

// TestService_RefTipsAndSummaries_Hostile: ref_tips and proposal_summaries answer hostile
// prefixes and proposal ids (NUL, invalid UTF-8, a loose ref's file as a directory, past the
// file system's name bounds, a 20,000-id list) with nothing, never an error.
func TestService_RefTipsAndSummaries_Hostile(t *testing.T) {
	r := newRig(t)
	r.start(t, 5*time.Second)
	c := r.client(t, 10*time.Second)
	ctx := context.Background()
	var res schema.KipCommitResult
	if err := c.Do(ctx, kip("Tertia", "e0", "op0"), &res); err != nil {
		t.Fatal(err)
	}
	var tips schema.RefTips
	if err := c.Query(ctx, bus.Capstore, schema.QRefTips, schema.ListRefsQuery{Prefix: refs.PerspectivePrefix}, &tips); err != nil || len(tips.Tips) != 1 {
		t.Fatalf("ref_tips(perspectives) = %+v, %v; want Tertia's tip", tips, err)
	}
	seat := tips.Tips[0].Name
	for _, prefix := range []string{"\x00", refs.PerspectivePrefix + "\x00/", "refs/\xff\xfe/", seat + "/", seat + "/x/y",
		"refs/" + strings.Repeat("x", 300) + "/", "refs/" + strings.Repeat("a/", 3000), "../../etc/"} {
		if err := c.Query(ctx, bus.Capstore, schema.QRefTips, schema.ListRefsQuery{Prefix: prefix}, &tips); err != nil || len(tips.Tips) != 0 {
			t.Errorf("ref_tips(%q) = %+v, %v; want none", prefix, tips, err)
		}
	}
	many := make([]string, 20000)
	for i := range many {
		many[i] = fmt.Sprintf("p%d", i)
	}
	for _, ids := range [][]string{{"\x00"}, {"\xff\xfe", ""}, {strings.Repeat("x", 5000)}, many} {
		var sums schema.ProposalSummaries
		if err := c.Query(ctx, bus.Capstore, schema.QProposalSummaries, schema.ProposalSummariesQuery{IDs: ids}, &sums); err != nil || len(sums.Summaries) != 0 {
			t.Errorf("proposal_summaries(%d ids) = %+v, %v; want none", len(ids), sums, err)
		}
	}
	// Among many ids, the one proposal named is summarised alone.
	var prop map[string]any
	if err := c.Do(ctx, busclient.Command{Svc: bus.Capstore, Verb: schema.CmdBootstrap, Data: schema.Bootstrap{Actor: schema.Actor{Seat: "practitioner"},
		Files: []schema.SeedFile{{Path: "practice/seed.md", Text: "seed\n"}}}}, &prop); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, busclient.Command{Svc: bus.Capstore, Verb: schema.CmdPropose, OpID: "prop-q", Data: schema.Propose{
		Actor: schema.Actor{Seat: "Tertia"}, ProposalID: "q-1", OpID: "prop-q", Domain: "practice", Slug: "q", Body: "proposed"}}, &prop); err != nil {
		t.Fatal(err)
	}
	var sums schema.ProposalSummaries
	if err := c.Query(ctx, bus.Capstore, schema.QProposalSummaries, schema.ProposalSummariesQuery{IDs: append(many, "q-1")}, &sums); err != nil ||
		len(sums.Summaries) != 1 || sums.Summaries["q-1"].Creator != "Tertia" {
		t.Errorf("proposal_summaries(%d ids with q-1) = %+v, %v; want q-1's alone", len(many)+1, sums, err)
	}
}
