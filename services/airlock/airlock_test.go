package airlock_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
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
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/airlock"
	"github.com/stasima/stasima/services/airlock/internal/totp"
)

// rfcSecret is base32 of "12345678901234567890", RFC 6238's SHA-1 test key.
const rfcSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

// t0 starts a TOTP window (1_700_000_010 = 30 × 56_666_667), so offsets read as in SC-10.
var t0 = time.Unix(1_700_000_010, 0)

var hex40 = regexp.MustCompile(`^[0-9a-f]{40}$`)

// waitFor bounds every wait on a reply or an event.
const waitFor = 20 * time.Second

// clock is the injected server clock; tests move it, nothing sleeps.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// rig is one deployment on an embedded JetStream: the audit and capstore fakes, a requester
// (the gateway's or CLI's side), an events tap, and airlock processes started on demand.
type rig struct {
	t        *testing.T
	srv      *natstest.Server
	subj     bus.Subjects
	clock    *clock
	secret   totp.Secret
	cfg      airlock.Config
	logs     *syncBuffer
	audit    *auditFake
	capstore *capstoreFake
	client   *busclient.Client
	events   chan *nats.Msg
	tap      *nats.Conn // the events tap's connection
	js       jetstream.JetStream
	codes    []string // every code handed out, checked against logs, rows and errors
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, srv: natstest.Start(t), subj: bus.MustSubjects(""), clock: &clock{now: t0}, logs: &syncBuffer{},
		events: make(chan *nats.Msg, 64)}
	nc := r.srv.Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	r.js, r.tap = js, nc
	r.audit = startAudit(t, nc, js, r.subj)
	r.capstore = startCapstore(t, nc, js, r.subj, r.audit)
	sub, err := nc.ChanSubscribe(r.subj.Event("airlock.>"), r.events)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(t.TempDir(), "totp.secret")
	if err := os.WriteFile(path, []byte(rfcSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r.secret, err = (totp.File{Path: path}).Load(); err != nil {
		t.Fatal(err)
	}
	r.cfg = airlock.DefaultConfig()
	r.cfg.SecretPath = path
	r.cfg.Now = r.clock.Now

	cnc := r.srv.Connect(t)
	cjs, _ := jetstream.New(cnc)
	r.client = busclient.New(cnc, cjs, r.subj, "test", waitFor)
	if err := r.client.Start(); err != nil {
		t.Fatal(err)
	}
	return r
}

// start runs one airlock process: its own connection, the shared clock, logs captured.
func (r *rig) start(ackWait time.Duration) *airlock.Service {
	r.t.Helper()
	nc, err := nats.Connect(r.srv.ClientURL())
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	cfg := r.cfg
	cfg.AckWait = ackWait
	if cfg.Floor <= airlock.MinFloor {
		airlock.AllowShortFloor(&cfg) // a test's floor below A-61, never a deployment's
	}
	logger := slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var svc *airlock.Service
	app := fxtest.New(r.t, fx.NopLogger,
		fx.Supply(logger, nc, fx.Annotate(js, fx.As(new(jetstream.JetStream))), cfg),
		airlock.Module,
		fx.Populate(&svc),
	)
	app.RequireStart()
	r.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = app.Stop(ctx)
	})
	return svc
}

// at sets the clock to t0 + d.
func (r *rig) at(d time.Duration) { r.clock.Set(t0.Add(d)) }

func (r *rig) window() int64 { return totp.Window(r.clock.Now()) }

// code returns the code of the window the clock is in.
func (r *rig) code() string {
	r.t.Helper()
	c, err := r.secret.Code(r.window())
	if err != nil {
		r.t.Fatal(err)
	}
	r.codes = append(r.codes, c)
	return c
}

func (r *rig) do(verb string, data, result any) error {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	return r.client.Do(ctx, busclient.Command{Svc: bus.Airlock, Verb: verb, Data: data}, result)
}

func (r *rig) query(name string, req, result any) error {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	return r.client.Query(ctx, bus.Airlock, name, req, result)
}

// event waits for the next airlock event and returns "<type> <data>".
func (r *rig) event() string {
	r.t.Helper()
	select {
	case m := <-r.events:
		env, err := bus.DecodeEnvelope(m.Data)
		if err != nil {
			r.t.Fatal(err)
		}
		if got, want := m.Header.Get(bus.HeaderMsgID), env.ID; got != want {
			r.t.Errorf("Nats-Msg-Id %q, envelope id %q", got, want)
		}
		return env.Type + " " + string(env.Data)
	case <-time.After(waitFor):
		r.t.Fatal("no airlock event")
		return ""
	}
}

// noEvent checks that no event is waiting. Events are stored before the reply is sent, so
// after a reply every event of its command is queued for the tap's connection; a flush round
// trip on that connection delivers them ahead of its PONG.
func (r *rig) noEvent() {
	r.t.Helper()
	if err := r.tap.Flush(); err != nil {
		r.t.Fatal(err)
	}
	select {
	case m := <-r.events:
		r.t.Errorf("unexpected event %s %s", m.Subject, m.Data)
	default:
	}
}

// streamCount is how many messages the EVENTS stream holds on subject.
func (r *rig) streamCount(subject string) uint64 {
	r.t.Helper()
	st, err := r.js.Stream(context.Background(), r.subj.EventsStream())
	if err != nil {
		r.t.Fatal(err)
	}
	info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(subject))
	if err != nil {
		r.t.Fatal(err)
	}
	return info.State.Subjects[subject]
}

// assertNoCodes checks INV-16: no code handed out appears in the logs, the audit rows or the
// given texts.
func (r *rig) assertNoCodes(texts ...string) {
	r.t.Helper()
	hay := map[string]string{"logs": r.logs.String(), "audit rows": strings.Join(r.audit.rows(""), "\n")}
	for i, s := range texts {
		hay[fmt.Sprintf("text %d", i)] = s
	}
	for _, c := range r.codes {
		for name, h := range hay {
			if strings.Contains(h, c) {
				r.t.Errorf("code %s appears in %s", c, name)
			}
		}
	}
	if r.logs.String() == "" {
		r.t.Error("nothing was logged; the code check would prove nothing")
	}
}

func mustContain(t *testing.T, err error, tokens ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want one containing %q", tokens)
	}
	for _, tok := range tokens {
		if !strings.Contains(err.Error(), tok) {
			t.Errorf("error %q lacks %q", err, tok)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestModule_validates(t *testing.T) {
	cfg := airlock.DefaultConfig()
	cfg.SecretPath = filepath.Join(t.TempDir(), "totp.secret")
	nc := natstest.Start(t).Connect(t)
	js, _ := jetstream.New(nc)
	if err := fx.ValidateApp(fx.NopLogger, fx.Supply(slog.Default(), nc, fx.Annotate(js, fx.As(new(jetstream.JetStream))), cfg),
		airlock.Module); err != nil {
		t.Fatal(err)
	}
}

func TestConfig_Validate(t *testing.T) {
	base := airlock.DefaultConfig()
	base.SecretPath = "/x/totp.secret"
	tests := []struct {
		name string
		give func(*airlock.Config)
		want string
	}{
		{"defaults", func(*airlock.Config) {}, ""},
		{"no secret path", func(c *airlock.Config) { c.SecretPath = "" }, "airlock_secret_path"},
		{"floor 0 (O-config-15)", func(c *airlock.Config) { c.Floor = 0 }, "airlock_floor_s"},
		{"floor 1s (A-61)", func(c *airlock.Config) { c.Floor = time.Second }, "airlock_floor_s (1) must exceed 90 s"},
		{"floor 90s, the code lifetime (A-61)", func(c *airlock.Config) { c.Floor = 90 * time.Second }, "airlock_floor_s (90) must exceed 90 s"},
		{"floor 91s (A-61)", func(c *airlock.Config) { c.Floor = 91 * time.Second }, ""},
		{"ceiling below floor", func(c *airlock.Config) { c.Ceiling = c.Floor }, "airlock_ceiling_s"},
		{"no approvers", func(c *airlock.Config) { c.Approvers = nil }, "approver"},
		{"land secret apart", func(c *airlock.Config) { c.LandSecretPath = "/x/totp-land.secret" }, ""},
		{"land secret is the first secret", func(c *airlock.Config) { c.LandSecretPath = "/x/./totp.secret" }, "airlock_land_secret"},
		{"no relay budget", func(c *airlock.Config) { c.RelayBurst = 0 }, "relay rate limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.give(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			mustContain(t, err, tt.want)
		})
	}
}

// TestSC10_bus is SC-10's main path over the bus with the injected clock: stage → frozen →
// land refused before the floor naming 40 and 120 (no code burned, no row) → land after the
// floor lands ::3C, bound to the staged candidate.
func TestSC10_bus(t *testing.T) {
	r := newRig(t)
	r.start(30 * time.Second)
	p1 := candidateOf("p1")

	r.at(5 * time.Second)
	w0 := r.window()
	var st airlock.Staged
	if err := r.do(airlock.CmdStage, airlock.Stage{ProposalID: "p1", Code: r.code()}, &st); err != nil {
		t.Fatal(err)
	}
	stagedAt := float64(t0.Unix() + 5)
	want := fmt.Sprintf(`{"proposal_id":"p1","staged_oid":"%s","staged_at":%.1f,"lands_after":%.1f,"expires_at":%.1f,`+
		`"changed_paths":["meta/log/3c.md","practice/a.md","practice/b.md"],"log_seq":"3c"}`, p1, stagedAt, stagedAt+120, stagedAt+7200)
	if !hex40.MatchString(st.StagedOID) || mustJSON(t, st) != want {
		t.Errorf("stage result\n got %s\nwant %s", mustJSON(t, st), want)
	}
	if got := r.event(); got != "airlock.staged "+want {
		t.Errorf("event %s", got)
	}
	wantRows := []string{
		fmt.Sprintf(`practitioner totp_accept ref= oid= {"window":%d,"purpose":"stage","object":"p1"}`, w0),
		fmt.Sprintf(`practitioner airlock_stage ref=refs/cap/proposals/p1 oid=%s {"proposal":"p1","staged_oid":"%s","window":%d,"staged_at":%.1f,"seq":"3c","changed_paths":["meta/log/3c.md","practice/a.md","practice/b.md"]}`,
			p1, p1, w0, stagedAt),
	}
	if got := r.audit.rows(""); fmt.Sprint(got) != fmt.Sprint(wantRows) {
		t.Errorf("rows\n got %q\nwant %q", got, wantRows)
	}

	// The frozen gate (A-20, T-propose-5).
	for _, op := range []string{"propose", "propose_retract", "propose_close"} {
		var w airlock.Writable
		err := r.query(airlock.QCheckWritable, airlock.CheckWritable{Op: op, ProposalID: "p1"}, &w)
		if !fault.Is(err, fault.Denied) {
			t.Errorf("%s on staged: err = %v, want Denied", op, err)
		}
		mustContain(t, err, "p1", "frozen for review")
	}

	// Land at +40 s refuses naming 40 and 120, before the code.
	r.at(45 * time.Second)
	n := r.audit.log.Len()
	err := r.do(airlock.CmdLand, airlock.Land{StagedOIDPrefix: p1[:12], Code: r.code()}, nil)
	if !fault.Is(err, fault.AirlockError) {
		t.Fatalf("land before the floor: %v", err)
	}
	mustContain(t, err, "review floor not met", "40s", "120")
	if r.audit.log.Len() != n {
		t.Errorf("the floor refusal wrote rows: %q", r.audit.rows("")[n:])
	}

	// Land at +130 s after staging lands ::3C.
	r.at((5 + 130) * time.Second)
	w2 := r.window()
	var landed schema.LandResult
	if err := r.do(airlock.CmdLand, airlock.Land{StagedOIDPrefix: p1[:8], Code: r.code()}, &landed); err != nil {
		t.Fatal(err)
	}
	if landed.Display != "::3C" || landed.Seq != "3c" || !hex40.MatchString(landed.Landed) || landed.Anchor.Seq == 0 {
		t.Errorf("land = %+v", landed)
	}
	if got, want := r.event(), fmt.Sprintf(`airlock.landed {"proposal_id":"p1","staged_oid":"%s","landed":"%s","seq":"3c"}`, p1, landed.Landed); got != want {
		t.Errorf("event\n got %s\nwant %s", got, want)
	}
	if len(r.capstore.lands) != 1 {
		t.Fatalf("capstore lands = %d", len(r.capstore.lands))
	}
	l := r.capstore.lands[0]
	if l.ProposalID != "p1" || l.Candidate != p1 || l.ApprovedBy != "practitioner" || l.Evidence != fmt.Sprintf("airlock-totp-w%d", w2) {
		t.Errorf("capstore land = %+v", l)
	}
	var state airlock.ProposalState
	if err := r.query(airlock.QState, airlock.ProposalQuery{ProposalID: "p1"}, &state); err != nil || mustJSON(t, state) != `{"state":"landed"}` {
		t.Errorf("state after land = %s, %v", mustJSON(t, state), err)
	}
	var w airlock.Writable
	if err := r.query(airlock.QCheckWritable, airlock.CheckWritable{Op: "propose", ProposalID: "p1"}, &w); err != nil || !w.Writable {
		t.Errorf("landed proposal not writable: %+v, %v", w, err)
	}
	r.noEvent()
	r.assertNoCodes(err.Error())
}

// TestFrozen_revertFrees: check_writable refuses while staged; stage_revert (no code) frees
// it and publishes airlock.reverted {reason: manual} (A-20, A-50…A-52).
func TestFrozen_revertFrees(t *testing.T) {
	r := newRig(t)
	r.start(30 * time.Second)
	if err := r.do(airlock.CmdStage, airlock.Stage{ProposalID: "p2", Code: r.code()}, nil); err != nil {
		t.Fatal(err)
	}
	r.event()
	var w airlock.Writable
	err := r.query(airlock.QCheckWritable, airlock.CheckWritable{Op: "propose", ProposalID: "p2"}, &w)
	if !fault.Is(err, fault.Denied) {
		t.Fatalf("staged p2 writable: %+v, %v", w, err)
	}
	var staged airlock.StagedList
	if err := r.query(airlock.QStaged, nil, &staged); err != nil || len(staged.Staged) != 1 || staged.Staged[0].ProposalID != "p2" {
		t.Errorf("staged = %+v, %v", staged, err)
	}

	var rv airlock.RevertResult
	if err := r.do(airlock.CmdRevert, airlock.Revert{ProposalID: "p2"}, &rv); err != nil {
		t.Fatal(err)
	}
	if rv != (airlock.RevertResult{ProposalID: "p2", State: "open"}) {
		t.Errorf("revert = %+v", rv)
	}
	if got := r.event(); got != `airlock.reverted {"proposal_id":"p2","reason":"manual"}` {
		t.Errorf("event %s", got)
	}
	if err := r.query(airlock.QCheckWritable, airlock.CheckWritable{Op: "propose", ProposalID: "p2"}, &w); err != nil || !w.Writable {
		t.Errorf("after revert: %+v, %v", w, err)
	}
	err = r.do(airlock.CmdRevert, airlock.Revert{ProposalID: "p2"}, nil)
	mustContain(t, err, "p2 is not staged")
	if got := r.audit.rows("airlock_revert"); len(got) != 1 {
		t.Errorf("revert rows %q", got)
	}
	r.noEvent()
	r.assertNoCodes()
}

// TestTTL_revertPublished: a read after the ceiling reverts the stage, records it and
// publishes airlock.reverted {reason: ttl}.
func TestTTL_revertPublished(t *testing.T) {
	r := newRig(t)
	r.start(30 * time.Second)
	if err := r.do(airlock.CmdStage, airlock.Stage{ProposalID: "p3", Code: r.code()}, nil); err != nil {
		t.Fatal(err)
	}
	r.event()

	r.at(7200 * time.Second) // exactly the ceiling: still staged
	var state airlock.ProposalState
	if err := r.query(airlock.QState, airlock.ProposalQuery{ProposalID: "p3"}, &state); err != nil || state.State != "staged" {
		t.Fatalf("state at the ceiling = %+v, %v", state, err)
	}
	r.noEvent()

	r.at(7300 * time.Second)
	state = airlock.ProposalState{}
	if err := r.query(airlock.QState, airlock.ProposalQuery{ProposalID: "p3"}, &state); err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(t, state); got != `{"state":"open","reverted":"ttl"}` {
		t.Errorf("state past the ceiling = %s", got)
	}
	if got := r.event(); got != `airlock.reverted {"proposal_id":"p3","reason":"ttl"}` {
		t.Errorf("event %s", got)
	}
	want := []string{fmt.Sprintf(`system airlock_revert ref=refs/cap/proposals/p3 oid= {"proposal":"p3","reason":"ttl","staged_oid":"%s"}`, candidateOf("p3"))}
	if got := r.audit.rows("airlock_revert"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rows\n got %q\nwant %q", got, want)
	}
	var w airlock.Writable
	if err := r.query(airlock.QCheckWritable, airlock.CheckWritable{Op: "propose", ProposalID: "p3"}, &w); err != nil || !w.Writable {
		t.Errorf("after ttl: %+v, %v", w, err)
	}
	r.noEvent()
	r.assertNoCodes()
}

// TestStage_redeliveredOnce is consume-once across a crash (ARCH-8, ARCH-12, A-9): the
// airlock dies after the airlock_stage row and before its event, reply and ack; a restarted
// airlock gets the command again, recognises it by its intent ids and answers the original
// result. One totp_accept row, one airlock_stage row, one airlock.staged event.
func TestStage_redeliveredOnce(t *testing.T) {
	r := newRig(t)
	svc1 := r.start(time.Second)
	crashed := make(chan struct{})
	var once sync.Once
	svc1.SetAfterApply(func(string) {
		once.Do(func() {
			svc1.CloseConn() // the process is gone: no event, no reply, no ack
			close(crashed)
		})
	})
	type answer struct {
		res airlock.Staged
		err error
	}
	done := make(chan answer, 1)
	code := r.code()
	go func() {
		var res airlock.Staged
		err := r.client.Do(context.Background(), busclient.Command{Svc: bus.Airlock, Verb: airlock.CmdStage,
			Data: airlock.Stage{ProposalID: "p1", Code: code}}, &res)
		done <- answer{res, err}
	}()
	select {
	case <-crashed:
	case <-time.After(waitFor):
		t.Fatal("the stage never ran")
	}
	if got := r.audit.rows("airlock_stage"); len(got) != 1 {
		t.Fatalf("before the restart: stage rows %q", got)
	}
	r.start(time.Second) // the restart; the command is redelivered after the ack wait

	var a answer
	select {
	case a = <-done:
	case <-time.After(waitFor):
		t.Fatal("no reply after the restart")
	}
	if a.err != nil {
		t.Fatalf("redelivered stage: %v", a.err)
	}
	stagedAt := float64(t0.Unix())
	want := fmt.Sprintf(`{"proposal_id":"p1","staged_oid":"%s","staged_at":%.1f,"lands_after":%.1f,"expires_at":%.1f,`+
		`"changed_paths":["meta/log/3c.md","practice/a.md","practice/b.md"],"log_seq":"3c"}`, candidateOf("p1"), stagedAt, stagedAt+120, stagedAt+7200)
	if got := mustJSON(t, a.res); got != want {
		t.Errorf("result after redelivery\n got %s\nwant %s", got, want)
	}
	if got := r.event(); got != "airlock.staged "+want {
		t.Errorf("event %s", got)
	}
	for op, n := range map[string]int{"totp_accept": 1, "airlock_stage": 1, "totp_reject": 0} {
		if got := r.audit.rows(op); len(got) != n {
			t.Errorf("%s rows = %q, want %d", op, got, n)
		}
	}
	if n := r.streamCount(r.subj.Event(airlock.EvtStaged)); n != 1 {
		t.Errorf("airlock.staged events in the stream = %d, want 1", n)
	}
	if !strings.Contains(r.logs.String(), "command redelivered") {
		t.Error("the restarted airlock did not see a redelivery")
	}
	r.assertNoCodes()
}

// TestLand_redeliveredResumes: the airlock dies after the land code was consumed and capstore
// landed, before its reply; the restarted airlock resumes from the totp_accept row instead of
// refusing the window as a replay, and capstore answers the land it already made.
func TestLand_redeliveredResumes(t *testing.T) {
	r := newRig(t)
	svc1 := r.start(time.Second)
	if err := r.do(airlock.CmdStage, airlock.Stage{ProposalID: "p1", Code: r.code()}, nil); err != nil {
		t.Fatal(err)
	}
	r.event()
	crashed := make(chan struct{})
	var once sync.Once
	svc1.SetAfterApply(func(verb string) {
		if verb != airlock.CmdLand {
			return
		}
		once.Do(func() {
			svc1.CloseConn()
			close(crashed)
		})
	})
	r.at(200 * time.Second)
	done := make(chan error, 1)
	var res schema.LandResult
	code := r.code()
	go func() {
		done <- r.client.Do(context.Background(), busclient.Command{Svc: bus.Airlock, Verb: airlock.CmdLand,
			Data: airlock.Land{StagedOIDPrefix: candidateOf("p1")[:8], Code: code}}, &res)
	}()
	select {
	case <-crashed:
	case <-time.After(waitFor):
		t.Fatal("the land never ran")
	}
	r.start(time.Second)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("redelivered land: %v", err)
		}
	case <-time.After(waitFor):
		t.Fatal("no reply after the restart")
	}
	if res.Display != "::3C" {
		t.Errorf("land = %+v", res)
	}
	if got := r.event(); !strings.HasPrefix(got, `airlock.landed {"proposal_id":"p1"`) {
		t.Errorf("event %s", got)
	}
	for op, n := range map[string]int{"totp_accept": 2, "totp_reject": 0, "land_merge": 1} {
		if got := r.audit.rows(op); len(got) != n {
			t.Errorf("%s rows = %q, want %d", op, got, n)
		}
	}
	if n := r.streamCount(r.subj.Event(airlock.EvtLanded)); n != 1 {
		t.Errorf("airlock.landed events in the stream = %d, want 1", n)
	}
	r.assertNoCodes()
}

// TestTOTP_provisionAndCheck: totp_provision writes the secret 0600 at the configured path
// (ARCH-3: the airlock is its one reader), refuses to overwrite without force; totp_check
// diagnoses without consuming or recording anything (O-totp-3…5).
func TestTOTP_provisionAndCheck(t *testing.T) {
	r := newRig(t)
	r.cfg.SecretPath = filepath.Join(t.TempDir(), "fresh", "totp.secret")
	if err := os.MkdirAll(filepath.Dir(r.cfg.SecretPath), 0o700); err != nil {
		t.Fatal(err)
	}
	r.start(30 * time.Second)

	err := r.do(airlock.CmdStage, airlock.Stage{ProposalID: "p1", Code: "123456"}, nil)
	mustContain(t, err, "not provisioned", "totp-provision")
	err = r.query(airlock.QTOTPCheck, airlock.TOTPCheck{Code: "123456"}, nil)
	mustContain(t, err, "run totp-provision first")

	var p airlock.Provisioned
	if err := r.do(airlock.CmdTOTPProvision, airlock.TOTPProvision{}, &p); err != nil {
		t.Fatal(err)
	}
	if p.SecretPath != r.cfg.SecretPath || !strings.HasPrefix(p.OTPAuthURI, "otpauth://totp/Stasima:practitioner?secret=") {
		t.Errorf("provisioned = %+v", p)
	}
	fi, err := os.Stat(r.cfg.SecretPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v, %v", fi, err)
	}
	err = r.do(airlock.CmdTOTPProvision, airlock.TOTPProvision{}, nil)
	mustContain(t, err, r.cfg.SecretPath, "--force", "--qr")

	if r.secret, err = (totp.File{Path: r.cfg.SecretPath}).Load(); err != nil {
		t.Fatal(err)
	}
	var d airlock.Diagnosis
	if err := r.query(airlock.QTOTPCheck, airlock.TOTPCheck{Code: r.code()}, &d); err != nil || !d.Valid ||
		d.MatchedWindow == nil || *d.MatchedWindow != r.window() {
		t.Errorf("check = %+v, %v", d, err)
	}
	if r.audit.log.Len() != 0 {
		t.Errorf("totp_check or provisioning wrote rows: %q", r.audit.rows(""))
	}

	var rot airlock.Provisioned
	if err := r.do(airlock.CmdTOTPProvision, airlock.TOTPProvision{Force: true}, &rot); err != nil || rot.OTPAuthURI == p.OTPAuthURI {
		t.Errorf("rotation = %+v, %v", rot, err)
	}
	if strings.Contains(r.logs.String(), "secret=") {
		t.Error("the otpauth URI was logged")
	}
	r.assertNoCodes()
}

// TestCommand_argumentErrors: empty required fields refuse before the state machine, without
// a row.
func TestCommand_argumentErrors(t *testing.T) {
	r := newRig(t)
	r.start(30 * time.Second)
	tests := []struct {
		verb string
		give any
		want string
	}{
		{airlock.CmdStage, airlock.Stage{Code: "123456"}, "proposal_id is required"},
		{airlock.CmdStage, airlock.Stage{ProposalID: "p1"}, "code is required"},
		{airlock.CmdLand, airlock.Land{Code: "123456"}, "staged_oid_prefix is required"},
		{airlock.CmdRevert, airlock.Revert{}, "proposal_id is required"},
		{"nope", struct{}{}, `unknown airlock command "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.verb+" "+tt.want, func(t *testing.T) {
			err := r.do(tt.verb, tt.give, nil)
			if !fault.Is(err, fault.ArgumentError) {
				t.Fatalf("err = %v", err)
			}
			mustContain(t, err, tt.want)
		})
	}
	if r.audit.log.Len() != 0 {
		t.Errorf("rows written: %q", r.audit.rows(""))
	}
}
