package approval_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/services/airlock/internal/approval"
	"github.com/stasima/stasima/services/airlock/internal/memlog"
	"github.com/stasima/stasima/services/airlock/internal/totp"
)

// rfcSecret is base32 of "12345678901234567890", RFC 6238's SHA-1 test key.
const rfcSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

// t0 starts a TOTP window (1_700_000_010 = 30 × 56_666_667), so offsets read as in SC-10.
var t0 = time.Unix(1_700_000_010, 0)

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

// fakeProposal is a proposal as the fake capstore holds it.
type fakeProposal struct {
	candidate string   // the candidate oid Prepare writes
	paths     []string // changed paths of the candidate, unsorted on purpose
	entries   []string // what the proposal holds; nothing in the airlock may touch it
}

type landCall struct {
	cand approval.Candidate
	appr approval.LandApproval
}

// fakeCandidates stands in for capstore's prepare/validate/land over the bus — the one port
// faked here, since capstore's landing is its own issue. Land writes the land_merge row as
// capstore does (O-land-5), so the fold sees the land.
type fakeCandidates struct {
	mu          sync.Mutex
	log         *memlog.Log
	props       map[string]*fakeProposal // by proposal ref
	prepareErr  map[string]error
	validateErr map[string]error
	landErr     error
	prepares    int
	lands       []landCall
}

func (f *fakeCandidates) Prepare(ctx context.Context, proposalRef, into string) (approval.Candidate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.prepares++
	if err := f.prepareErr[proposalRef]; err != nil {
		return approval.Candidate{}, err
	}
	p, ok := f.props[proposalRef]
	if !ok {
		return approval.Candidate{}, fault.E("prepare_merge", fault.RefNotFound, "ref not found: %s", proposalRef)
	}
	return approval.Candidate{OID: p.candidate, Into: into, ProposalRef: proposalRef, ChangedPaths: slices.Clone(p.paths)}, nil
}

func (f *fakeCandidates) Validate(ctx context.Context, c approval.Candidate) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.validateErr[c.ProposalRef]; err != nil {
		return "", err
	}
	return "3c", nil
}

func (f *fakeCandidates) Land(ctx context.Context, c approval.Candidate, a approval.LandApproval) (approval.LandResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lands = append(f.lands, landCall{c, a})
	if f.landErr != nil {
		return approval.LandResult{}, f.landErr
	}
	merge := oid("merge of " + c.OID)
	detail, _ := json.Marshal(map[string]string{"proposal": c.ProposalRef, "seq": "3c", "evidence": a.Evidence})
	if _, err := f.log.Append(ctx, approval.Record{Actor: a.ApprovedBy, Op: approval.OpLandMerge,
		TargetRef: c.Into, ResultOID: merge, Detail: detail}); err != nil {
		return approval.LandResult{}, err
	}
	return approval.LandResult{Landed: merge, Seq: "3c", Display: "::3C", Anchor: approval.Anchor{Seq: 9, Head: strings.Repeat("ab", 32)}}, nil
}

// oid is a deterministic 40-hex oid.
func oid(s string) string {
	h := sha1.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// harness drives one airlock over an in-memory audit log with the RFC secret on disk.
type harness struct {
	t      *testing.T
	ctx    context.Context
	log    *memlog.Log
	cands  *fakeCandidates
	clock  *clock
	secret totp.Secret
	file   totp.File
	logs   *syncBuffer
	svc    *approval.Service
	cfg    approval.Config
	codes  []string // every code handed out, checked against logs, rows and errors
	mark   int      // rows before the step under test
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

func newHarness(t *testing.T, opts ...func(*approval.Config)) *harness {
	t.Helper()
	h := &harness{t: t, ctx: t.Context(), log: memlog.New(), clock: &clock{now: t0}, logs: &syncBuffer{}}
	h.cands = &fakeCandidates{log: h.log, props: map[string]*fakeProposal{}, prepareErr: map[string]error{},
		validateErr: map[string]error{}}
	for _, pid := range []string{"p1", "p2", "p3"} {
		h.addProposal(pid, oid("candidate "+pid))
	}
	h.file = totp.File{Path: filepath.Join(t.TempDir(), "totp.secret")}
	if err := os.WriteFile(h.file.Path, []byte(rfcSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.file.CheckMode(); err != nil { // the secret file is 0600
		t.Fatal(err)
	}
	sec, err := h.file.Load()
	if err != nil {
		t.Fatal(err)
	}
	h.secret = sec
	h.cfg = approval.DefaultConfig()
	for _, o := range opts {
		o(&h.cfg)
	}
	h.svc = h.newService(h.cfg)
	return h
}

func (h *harness) addProposal(pid, candidate string) {
	h.cands.props[refs.Proposal(pid)] = &fakeProposal{candidate: candidate,
		paths: []string{"practice/b.md", "meta/log/3c.md", "practice/a.md"}, entries: []string{"practice/a.md", "practice/b.md"}}
}

// newService builds another airlock over the same log, clock and secret (a restart, or a
// differently configured instance in sequence).
func (h *harness) newService(cfg approval.Config) *approval.Service {
	h.t.Helper()
	logger := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey { // wall-clock digits would make the code check flaky
				return slog.Attr{}
			}
			return a
		},
	}))
	svc, err := approval.New(approval.Params{Config: cfg, Secret: h.file, Ledger: h.log, Audit: h.log,
		Candidates: h.cands, Logger: logger, Now: h.clock.Now})
	if err != nil {
		h.t.Fatal(err)
	}
	return svc
}

// at sets the clock to t0 + d.
func (h *harness) at(d time.Duration) { h.clock.Set(t0.Add(d)) }

// code returns the code of the window the clock is in, offset by delta windows.
func (h *harness) code(delta int64) string {
	h.t.Helper()
	c, err := h.secret.Code(totp.Window(h.clock.Now()) + delta)
	if err != nil {
		h.t.Fatal(err)
	}
	h.codes = append(h.codes, c)
	return c
}

// window returns the window the clock is in.
func (h *harness) window() int64 { return totp.Window(h.clock.Now()) }

// invalidCode returns a 6-digit string that matches none of the accepted windows now.
func (h *harness) invalidCode() string {
	h.t.Helper()
	for delta := int64(5); ; delta++ {
		c := h.code(delta)
		if _, ok := totp.Verify(h.secret, c, h.clock.Now()); !ok {
			return c
		}
	}
}

// markRows remembers how many rows exist; newRows returns those appended since.
func (h *harness) markRows() { h.mark = h.log.Len() }

// newRows renders rows appended since markRows as "actor op target_ref result_oid detail".
func (h *harness) newRows() []string {
	var out []string
	for _, r := range h.log.All()[h.mark:] {
		out = append(out, renderRow(r))
	}
	return out
}

func renderRow(r approval.Row) string {
	return fmt.Sprintf("%s %s ref=%s oid=%s %s", r.Actor, r.Op, r.TargetRef, r.ResultOID, r.Detail)
}

// assertNoCodes checks INV-16: no code handed out appears in the logs, the audit rows or the
// given texts.
func (h *harness) assertNoCodes(texts ...string) {
	h.t.Helper()
	var rows strings.Builder
	for _, r := range h.log.All() {
		rows.WriteString(renderRow(r) + "\n")
	}
	haystacks := map[string]string{"logs": h.logs.String(), "audit rows": rows.String()}
	for i, s := range texts {
		haystacks[fmt.Sprintf("text %d", i)] = s
	}
	for _, c := range h.codes {
		for name, hay := range haystacks {
			if strings.Contains(hay, c) {
				h.t.Errorf("code %s appears in %s", c, name)
			}
		}
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

func eventsJSON(t *testing.T, evs []approval.Event) []string {
	t.Helper()
	var out []string
	for _, e := range evs {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e.EventType()+" "+string(b))
	}
	return out
}

func equalStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}
