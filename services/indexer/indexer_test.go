package indexer

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/natstest"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/indexer/internal/embed"
	"github.com/stasima/stasima/services/indexer/internal/fixture"
	"github.com/stasima/stasima/services/indexer/internal/ranking"
	"github.com/stasima/stasima/services/indexer/internal/rows"
)

type rig struct {
	d      fixture.Deployment
	subj   bus.Subjects
	svc    *Service
	js     jetstream.JetStream
	client *busclient.Client
	srv    *natstest.Server
	cfg    Config
	app    *fxtest.App
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// start runs an embedded JetStream, the fixture-backed capstore and the indexer under fx.
func start(t *testing.T, opts ...func(*Config)) *rig {
	t.Helper()
	return startOn(t, fakeCapstore{d: fixture.Unpack(t)}, opts...)
}

// startOn is start over the repository fake serves.
func startOn(t *testing.T, fake fakeCapstore, opts ...func(*Config)) *rig {
	t.Helper()
	srv := natstest.Start(t)
	r := &rig{d: fake.d, subj: bus.MustSubjects("")}
	fake.serve(t, srv.Connect(t), r.subj)

	cfg := DefaultConfig()
	cfg.DBPath = filepath.Join(t.TempDir(), "map_index.sqlite")
	cfg.CanonRef = fixture.CanonRef
	cfg.SearchMode = ranking.ModeEmbedding // expected.json holds 0.1.5's answers
	for _, o := range opts {
		o(&cfg)
	}
	r.srv, r.cfg = srv, cfg
	r.startIndexer(t)
	t.Cleanup(func() { r.stopIndexer() })

	var err error
	cnc := srv.Connect(t)
	if r.js, err = jetstream.New(cnc); err != nil {
		t.Fatal(err)
	}
	r.client = busclient.New(cnc, r.js, r.subj, "test", 30*time.Second)
	if err := r.client.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.client.Stop)
	return r
}

// startIndexer starts an indexer on the rig's server and index.
func (r *rig) startIndexer(t *testing.T) {
	t.Helper()
	nc := r.srv.Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	r.app = fxtest.New(t, fx.NopLogger,
		fx.Supply(discard(), nc, fx.Annotate(js, fx.As(new(jetstream.JetStream))), r.cfg),
		Module, fx.Populate(&r.svc))
	r.app.RequireStart()
}

// stopIndexer stops the running indexer, if any.
func (r *rig) stopIndexer() {
	if r.app != nil {
		r.app.RequireStop()
		r.app = nil
	}
}

// publish puts one git event on EVENTS as capstore does and returns its stream sequence.
func (r *rig) publish(t *testing.T, typ string, data any) (uint64, bus.Envelope) {
	t.Helper()
	env, err := bus.NewEnvelope(fmt.Sprintf("%s/%d", typ, time.Now().UnixNano()), typ, bus.Capstore, "", "", time.Now(), data)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(env)
	ack, err := r.js.Publish(context.Background(), r.subj.Event(typ), b)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence, env
}

func (r *rig) query(t *testing.T, name string, req, res any) {
	t.Helper()
	if err := r.client.Query(context.Background(), bus.Index, name, req, res); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// await is the ARCH-7 barrier as the gateway uses it.
func (r *rig) await(t *testing.T, seq uint64) {
	t.Helper()
	var w schema.WatermarkAnswer
	r.query(t, schema.QIndexAwait, schema.IndexAwaitQuery{StreamSeq: seq, TimeoutMS: 30000}, &w)
	if w.StreamSeq < seq {
		t.Fatalf("await %d answered at %d", seq, w.StreamSeq)
	}
}

// derived returns the rows of a full reindex of the fixture read with the git CLI, embedded
// with the stub: the reference every indexer path must reproduce.
func derived(t *testing.T, d fixture.Deployment) []rows.Row {
	t.Helper()
	var rs []rows.Row
	for _, src := range d.Sources(t) {
		r, err := rows.Derive(src)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	if err := rows.Embed(context.Background(), embed.Stub{}, rs); err != nil {
		t.Fatal(err)
	}
	return rs
}

// indexed returns the store's rows with InsSeq cleared, in ins_seq order.
func (r *rig) indexed(t *testing.T) []rows.Row {
	t.Helper()
	rs, err := r.svc.store.All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := range rs {
		rs[i].InsSeq = 0
	}
	return rs
}

func byKey(rs []rows.Row) []rows.Row {
	out := slices.Clone(rs)
	slices.SortFunc(out, func(a, b rows.Row) int { return cmp.Or(cmp.Compare(a.Ref, b.Ref), cmp.Compare(a.Path, b.Path)) })
	return out
}

func diffRows(t *testing.T, got, want []rows.Row) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

// mdPaths lists the indexed paths of ref at its tip.
func mdPaths(t *testing.T, d fixture.Deployment, ref string) []string {
	var out []string
	for _, p := range strings.Split(d.Git(t, "ls-tree", "-r", "-z", "--name-only", ref), "\x00") {
		if rows.Indexed(fixture.CanonRef, ref, p) {
			out = append(out, p)
		}
	}
	return out
}

func tip(t *testing.T, d fixture.Deployment, ref string) string {
	return strings.TrimSpace(d.Git(t, "rev-parse", ref))
}

// S-31, S-35, S-36, S-32: perspective commits and a land build the same rows as a full
// reindex; an already applied event changes nothing; an unchanged land rewrites nothing;
// proposal refs are never indexed.
func TestService_IndexesGitEvents(t *testing.T) {
	r := start(t)
	ctx := context.Background()
	want := derived(t, r.d)

	var firstSeq uint64
	var firstEnv bus.Envelope
	for _, ref := range r.d.IndexedRefs(t)[1:] {
		seat, _ := refs.SeatOf(ref)
		seq, env := r.publish(t, schema.EvtGitCommit, schema.GitCommitted{
			Ref: ref, OID: tip(t, r.d, ref), Author: seat, Subject: "write", Paths: mdPaths(t, r.d, ref)})
		if firstSeq == 0 {
			firstSeq, firstEnv = seq, env
		}
	}
	// A proposal commit is never indexed (S-3).
	r.publish(t, schema.EvtGitCommit, schema.GitCommitted{Ref: refs.ProposalPrefix + "p1",
		OID: tip(t, r.d, fixture.CanonRef), Paths: mdPaths(t, r.d, fixture.CanonRef)})
	seq, _ := r.publish(t, schema.EvtGitLand, schema.GitLanded{Ref: fixture.CanonRef, OID: tip(t, r.d, fixture.CanonRef),
		ProposalRef: refs.ProposalPrefix + "p1", Seq: "1"})
	r.await(t, seq)
	diffRows(t, byKey(r.indexed(t)), byKey(want))

	var wm schema.WatermarkAnswer
	r.query(t, schema.QIndexWatermark, nil, &wm)
	if wm.StreamSeq != seq {
		t.Errorf("watermark %d, want %d", wm.StreamSeq, seq)
	}

	// envelopes_for answers every ref's rows (S-53).
	for _, ref := range r.d.IndexedRefs(t) {
		wantEnv := map[string]schema.EntryEnvelope{}
		for _, w := range want {
			if w.Ref == ref {
				wantEnv[w.Path] = schema.EntryEnvelope{Title: w.Title, Status: w.Status, Type: w.Type, Tick: w.Tick, Thread: w.Thread}
			}
		}
		var got map[string]schema.EntryEnvelope
		r.query(t, schema.QIndexEnvelopesFor, schema.RefQuery{Ref: ref}, &got)
		if !reflect.DeepEqual(got, wantEnv) {
			t.Errorf("envelopes_for %s:\n got %v\nwant %v", ref, got, wantEnv)
		}
	}

	// Redelivery of an applied event writes nothing and keeps ins_seq order (S-32).
	before, _ := r.svc.store.All(ctx)
	if n, err := r.svc.apply(ctx, firstSeq, firstEnv); err != nil || n != 0 {
		t.Fatalf("redelivered event wrote %d rows, %v", n, err)
	}
	// A land that changes nothing rewrites nothing (S-36 holds already).
	seq, _ = r.publish(t, schema.EvtGitLand, schema.GitLanded{Ref: fixture.CanonRef, OID: tip(t, r.d, fixture.CanonRef)})
	r.await(t, seq)
	after, _ := r.svc.store.All(ctx)
	if !reflect.DeepEqual(after, before) {
		t.Error("a redelivered event or an unchanged land changed the index")
	}
	// The same commit published again replaces its rows: no duplicate.
	seq, _ = r.publish(t, schema.EvtGitCommit, json.RawMessage(firstEnv.Data))
	r.await(t, seq)
	if n, _ := r.svc.store.Count(ctx); n != int64(len(want)) {
		t.Errorf("%d rows after a repeated commit, want %d", n, len(want))
	}
}

// S-33, S-34: git.bootstrap and the reindex command rebuild the index from git: 34 rows, equal
// to the shipped derivation in reindex order; search answers read 13 of expected.json.
func TestService_ReindexAndSearch(t *testing.T) {
	r := start(t)
	want := derived(t, r.d)

	seq, _ := r.publish(t, schema.EvtGitBootstrap, schema.GitBootstrapped{OID: tip(t, r.d, fixture.CanonRef),
		Paths: mdPaths(t, r.d, fixture.CanonRef)})
	r.await(t, seq)
	diffRows(t, r.indexed(t), want)

	var res schema.ReindexResult
	if err := r.client.Do(context.Background(), busclient.Command{Svc: bus.Index, Verb: schema.CmdIndexReindex, OpID: "reindex-1"}, &res); err != nil {
		t.Fatal(err)
	}
	if res.Reindexed != 34 {
		t.Fatalf("reindexed %d, want 34 (admin_reindex_returns)", res.Reindexed)
	}
	diffRows(t, r.indexed(t), want)

	req, wantRes := fixtureSearch(t, r.d)
	var got schema.SearchResult
	r.query(t, schema.QIndexSearch, req, &got)
	if !reflect.DeepEqual(got, wantRes) {
		t.Errorf("search:\n got %+v\nwant %+v", got, wantRes)
	}
	var none schema.SearchResult
	zero := 0
	req.Limit = &zero
	r.query(t, schema.QIndexSearch, req, &none)
	if len(none.Results) != 0 || none.Results == nil {
		t.Errorf("limit 0: %+v", none)
	}
}

func fixtureSearch(t *testing.T, d fixture.Deployment) (schema.SearchQuery, schema.SearchResult) {
	t.Helper()
	var reads []json.RawMessage
	if err := json.Unmarshal(d.Expected(t)["reads"], &reads); err != nil {
		t.Fatal(err)
	}
	var read struct {
		Tool   string              `json:"tool"`
		Args   schema.SearchQuery  `json:"args"`
		Result schema.SearchResult `json:"result"`
	}
	if err := json.Unmarshal(reads[13], &read); err != nil {
		t.Fatal(err)
	}
	if read.Tool != "map_search" {
		t.Fatalf("read 13 is %q", read.Tool)
	}
	return read.Args, read.Result
}

// S-50, S-52 over the rebuilt index, against expectations computed from the derived rows.
func TestService_Authors(t *testing.T) {
	r := start(t)
	want := derived(t, r.d)
	var res schema.ReindexResult
	if err := r.client.Do(context.Background(), busclient.Command{Svc: bus.Index, Verb: schema.CmdIndexReindex}, &res); err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		var wantAuthors []string
		for _, o := range want {
			if o.Path == w.Path && o.AuthoringInstance != "" && !slices.Contains(wantAuthors, o.AuthoringInstance) {
				wantAuthors = append(wantAuthors, o.AuthoringInstance)
			}
		}
		slices.Sort(wantAuthors)
		var got schema.AuthorsAnswer
		r.query(t, schema.QIndexAuthorsOf, schema.PathQuery{Path: w.Path}, &got)
		if !slices.Equal(got.Authors, wantAuthors) {
			t.Errorf("authors_of %s = %v, want %v", w.Path, got.Authors, wantAuthors)
		}

		var wantBody []schema.AuthorPath
		for _, o := range want {
			if o.AuthoringInstance != "" && strings.Trim(o.BodyText, " \n\r\t") == strings.TrimSpace(w.BodyText) &&
				!slices.ContainsFunc(wantBody, func(a schema.AuthorPath) bool { return a.Author == o.AuthoringInstance }) {
				wantBody = append(wantBody, schema.AuthorPath{Author: o.AuthoringInstance, Path: o.Path})
			}
		}
		var gotBody schema.BodyAuthorsAnswer
		r.query(t, schema.QIndexAuthorsOfBody, schema.BodyQuery{Body: "\n " + w.BodyText + "\t\n"}, &gotBody)
		if len(wantBody) == 0 {
			wantBody = []schema.AuthorPath{}
		}
		if !reflect.DeepEqual(gotBody.Authors, wantBody) {
			t.Errorf("authors_of_body of %s:%s = %v, want %v", w.Ref, w.Path, gotBody.Authors, wantBody)
		}
	}
	var none schema.AuthorsAnswer
	r.query(t, schema.QIndexAuthorsOf, schema.PathQuery{Path: "absent.md"}, &none)
	if none.Authors == nil || len(none.Authors) != 0 {
		t.Errorf("authors_of absent = %#v", none.Authors)
	}
}

// ARCH-7: await answers at once for an applied sequence and fails, saying so, at its timeout.
func TestService_AwaitBarrier(t *testing.T) {
	r := start(t)
	var w schema.WatermarkAnswer
	r.query(t, schema.QIndexAwait, schema.IndexAwaitQuery{StreamSeq: 0, TimeoutMS: 1}, &w)
	err := r.client.Query(context.Background(), bus.Index, schema.QIndexAwait, schema.IndexAwaitQuery{StreamSeq: 1 << 40, TimeoutMS: 1}, &w)
	if fault.ClassOf(err) != fault.BackendUnavailable || !strings.Contains(err.Error(), "did NOT complete") {
		t.Fatalf("await of a future sequence: %v", err)
	}
	// An event that is not indexed (git.tag) still advances the watermark.
	seq, _ := r.publish(t, "git.tag", map[string]string{"tag": "v1"})
	r.await(t, seq)
}

func TestModule_Validates(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DBPath = filepath.Join(t.TempDir(), "map_index.sqlite")
	nc := natstest.Start(t).Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	err = fx.ValidateApp(fx.NopLogger,
		fx.Supply(discard(), nc, fx.Annotate(js, fx.As(new(jetstream.JetStream))), cfg),
		Module)
	if err != nil {
		t.Fatal(err)
	}
}

func TestConfig_Validate(t *testing.T) {
	ok := DefaultConfig()
	ok.DBPath = "x.sqlite"
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Config){
		"no db":       func(c *Config) { c.DBPath = "" },
		"no canon":    func(c *Config) { c.CanonRef = "" },
		"no ack wait": func(c *Config) { c.AckWait = 0 },
		"no retry":    func(c *Config) { c.RetryEvery = 0 },
	} {
		c := ok
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := New(Params{Config: Config{}, Logger: discard()}); err == nil {
		t.Error("New accepted an invalid config")
	}
}
