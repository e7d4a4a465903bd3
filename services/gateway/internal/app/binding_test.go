package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/services/gateway/internal/toolspec"
)

func TestNormalizeMode(t *testing.T) { // I-3
	tests := []struct {
		give   string
		want   string
		wantOK bool
	}{
		{"", ModeStrict, true},
		{"strict", ModeStrict, true},
		{"WITNESS", ModeWitness, true},
		{" Off ", ModeOff, true},
		{"loose", "", false},
		{"on", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got, ok := NormalizeMode(tt.give)
			if got != tt.want || ok != tt.wantOK {
				t.Fatalf("NormalizeMode(%q) = %q, %v; want %q, %v", tt.give, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestSessionTag(t *testing.T) { // I-30
	form := regexp.MustCompile(`^s[0-9a-f]{6}$`)
	a, b := SessionTag("mcp:abc"), SessionTag("mcp:abd")
	if !form.MatchString(a) || !form.MatchString(b) || a == b || SessionTag("mcp:abc") != a {
		t.Fatalf("tags %q %q: want stable s+6 hex, distinct per session", a, b)
	}
	if SessionTag("") != "" {
		t.Fatal("no session, no tag")
	}
}

type claim struct {
	key, seat string
	want      verdict
	bound     string
	source    string
}

// TestBinder_Decide walks I-11…I-14 for each source as sequences of claims.
func TestBinder_Decide(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		restored string
		claims   []claim
	}{
		{"pinned match and mismatch (I-11, I-13)", Config{PinnedInstance: "Verso"}, "", []claim{
			{"mcp:1", "Verso", pass, "Verso", SourcePinned},
			{"mcp:1", "Recto", mismatch, "Verso", SourcePinned},
			{"mcp:2", "Recto", mismatch, "Verso", SourcePinned},
		}},
		{"sticky learns per session (I-12, I-5)", Config{}, "", []claim{
			{"mcp:1", "Recto", learned, "Recto", SourceSession},
			{"mcp:1", "Recto", pass, "Recto", SourceSession},
			{"mcp:1", "recto", mismatch, "Recto", SourceSession}, // exact, case-sensitive
			{"mcp:2", "Verso", learned, "Verso", SourceSession},
			{"mcp:2", "Recto", mismatch, "Verso", SourceSession},
		}},
		{"port learn seeds later sessions (I-12)", Config{Port: "p1"}, "", []claim{
			{"mcp:1", "Recto", learned, "Recto", SourcePort},
			{"mcp:2", "Recto", pass, "Recto", SourcePort},
			{"mcp:3", "Verso", mismatch, "Recto", SourcePort},
		}},
		{"port restored enforces without a write (I-14)", Config{Port: "p1"}, "Recto", []claim{
			{"mcp:1", "Verso", mismatch, "Recto", SourcePort},
			{"mcp:1", "Recto", pass, "Recto", SourcePort},
		}},
		{"pinned beats port (I-1)", Config{PinnedInstance: "Verso", Port: "p1"}, "", []claim{
			{"mcp:1", "Verso", pass, "Verso", SourcePinned},
		}},
		{"ported REST without a header shares the port name", Config{Port: "p1"}, "", []claim{
			{"", "Recto", learned, "Recto", SourcePort},
			{"", "Verso", mismatch, "Recto", SourcePort},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBinder(tt.cfg)
			if tt.restored != "" {
				b.restore(tt.restored)
			}
			for i, c := range tt.claims {
				d := b.decide(c.key, c.seat)
				if d.verdict != c.want || d.bound != c.bound || d.source != c.source {
					t.Fatalf("claim %d (%s as %s): got %+v, want verdict %d bound %s source %s", i, c.key, c.seat, d, c.want, c.bound, c.source)
				}
			}
		})
	}
}

// TestBinder_ConcurrentFirstWrites: I-19 — many first writes racing on one session learn
// exactly one name; every other claim is judged against it.
func TestBinder_ConcurrentFirstWrites(t *testing.T) {
	b := newBinder(Config{})
	seats := []string{"Recto", "Verso", "Tertia", "Quarta"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	learnedBy := map[string]int{}
	bounds := map[string]bool{}
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func(seat string) {
			defer wg.Done()
			d := b.decide("mcp:shared", seat)
			mu.Lock()
			defer mu.Unlock()
			bounds[d.bound] = true
			if d.verdict == learned {
				learnedBy[seat]++
			}
		}(seats[i%len(seats)])
	}
	wg.Wait()
	if len(learnedBy) != 1 || len(bounds) != 1 {
		t.Fatalf("learned %v, bound names %v: want exactly one learn and one bound name", learnedBy, bounds)
	}
}

// TestBinder_RESTIdleExpiry: I-24 — a REST session's binding lapses after rest_session_idle_s
// of inactivity; use keeps it alive; MCP sessions do not lapse by idling (they end, I-8).
func TestBinder_RESTIdleExpiry(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := newBinder(Config{RESTSessionIdle: time.Hour})
	b.now = func() time.Time { return now }
	step := func(d time.Duration) { now = now.Add(d) }

	if d := b.decide("rest:t1", "Recto"); d.verdict != learned {
		t.Fatalf("first REST write: %+v", d)
	}
	b.decide("mcp:1", "Recto")
	step(50 * time.Minute)
	if d := b.decide("rest:t1", "Verso"); d.verdict != mismatch { // used: the clock restarts
		t.Fatalf("inside the idle window: %+v", d)
	}
	step(61 * time.Minute)
	if d := b.decide("rest:t1", "Verso"); d.verdict != learned || d.bound != "Verso" {
		t.Fatalf("after an idle hour the token is a fresh session: %+v", d)
	}
	if d := b.decide("mcp:1", "Verso"); d.verdict != mismatch {
		t.Fatalf("MCP session lapsed by idling: %+v", d)
	}
	step(2 * time.Hour)
	b.decide("rest:other", "Tertia") // a sweep drops idle tokens nobody uses again
	b.mu.Lock()
	_, kept := b.sessions["rest:t1"]
	b.mu.Unlock()
	if kept {
		t.Fatal("idle REST session not swept")
	}
}

// TestBinder_EndDiscards: I-8 — an ended session's state is gone; a new session relearns.
func TestBinder_EndDiscards(t *testing.T) {
	b := newBinder(Config{})
	b.decide("mcp:1", "Recto")
	b.end("mcp:1")
	if d := b.decide("mcp:1", "Verso"); d.verdict != learned {
		t.Fatalf("after end: %+v", d)
	}
}

func newTestApp(cfg Config) *App {
	return New(nil, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// TestWhoami_BindingBlock is I-17 / T-whoami-1: the block, exact, for each source and mode.
func TestWhoami_BindingBlock(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		restored string
		learn    string
		seat     string
		want     string
	}{
		{"sticky unbound", Config{}, "", "", "Recto",
			`{"mode":"strict","bound_instance":null,"source":null,"match":null}`},
		{"sticky learned", Config{}, "", "Recto", "Verso",
			`{"mode":"strict","bound_instance":"Recto","source":"session","match":false}`},
		{"pinned", Config{PinnedInstance: "Verso", BindingMode: "witness"}, "", "", "Verso",
			`{"mode":"witness","bound_instance":"Verso","source":"pinned","match":true}`},
		{"pinned in off still reports the seat (I-18)", Config{PinnedInstance: "Verso", BindingMode: "OFF"}, "", "", "Recto",
			`{"mode":"off","bound_instance":"Verso","source":"pinned","match":false}`},
		{"off", Config{BindingMode: "off"}, "", "", "Recto",
			`{"mode":"off","bound_instance":null,"source":null,"match":null}`},
		{"port unlearned", Config{Port: "p1"}, "", "", "Recto",
			`{"mode":"strict","bound_instance":null,"source":null,"match":null,"port":"p1"}`},
		{"port restored seeds the session view", Config{Port: "p1"}, "Recto", "", "Recto",
			`{"mode":"strict","bound_instance":"Recto","source":"port","match":true,"port":"p1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestApp(tt.cfg)
			if tt.restored != "" {
				a.bind.restore(tt.restored)
			}
			s := Session{ID: SessionTag("mcp:1"), Transport: "mcp", Key: "mcp:1"}
			if tt.learn != "" {
				a.bind.decide(s.Key, tt.learn)
			}
			tool, _ := toolspec.Lookup("whoami")
			args, err := tool.Decode(json.RawMessage(`{"instance_id":"` + tt.seat + `"}`))
			if err != nil {
				t.Fatal(err)
			}
			res, err := a.whoami(context.Background(), args, s)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(res.(whoamiResult).SessionBinding)
			if string(got) != tt.want {
				t.Fatalf("session_binding = %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestBindCheck_WithoutRows covers the paths that write nothing: off passes anything (I-10),
// an invalid claimed name is refused before learning (D-33), a pinned match passes (I-13).
func TestBindCheck_WithoutRows(t *testing.T) {
	s := Session{ID: SessionTag("mcp:1"), Transport: "mcp", Key: "mcp:1"}
	ctx := context.Background()
	off := newTestApp(Config{BindingMode: "off"})
	for _, seat := range []string{"Recto", "Verso"} {
		if via, err := off.bindCheck(ctx, s, "kip_commit", seat, "", ""); err != nil || via != "" {
			t.Fatalf("off: %q %v", via, err)
		}
	}
	if bound, _ := off.bind.view(s.Key); bound != "" {
		t.Fatalf("off learned %q", bound)
	}
	strict := newTestApp(Config{})
	for _, seat := range []string{"", "a/../b", "bad name"} {
		if _, err := strict.bindCheck(ctx, s, "kip_commit", seat, "", ""); fault.ClassOf(err) != fault.Denied {
			t.Fatalf("claim %q: %v", seat, err)
		}
	}
	if bound, _ := strict.bind.view(s.Key); bound != "" {
		t.Fatalf("an invalid name was learned: %q", bound)
	}
	pinned := newTestApp(Config{PinnedInstance: "Verso"})
	if via, err := pinned.bindCheck(ctx, s, "kip_commit", "Verso", "", ""); err != nil || via != "" {
		t.Fatalf("pinned match: %q %v", via, err)
	}
}

// TestRESTGate is I-24 / D-25: an identity-claiming REST call without Stasima-Session is refused
// when binding is active and the gateway is neither pinned nor ported; reads never need it.
func TestRESTGate(t *testing.T) {
	rest := Session{Transport: "rest"}
	withHeader := Session{Transport: "rest", Key: "rest:t", ID: SessionTag("rest:t")}
	tests := []struct {
		name    string
		cfg     Config
		tool    string
		s       Session
		refused bool
	}{
		{"write without header", Config{}, "kip_commit", rest, true},
		{"witness too", Config{BindingMode: "witness"}, "imp_mark_read", rest, true},
		{"canon_diff is identity-claiming", Config{}, "canon_diff", rest, true},
		{"with header", Config{}, "kip_commit", withHeader, false},
		{"read", Config{}, "kip_get", rest, false},
		{"whoami is a read", Config{}, "whoami", rest, false},
		{"off", Config{BindingMode: "off"}, "kip_commit", rest, false},
		{"pinned", Config{PinnedInstance: "Verso"}, "kip_commit", rest, false},
		{"ported", Config{Port: "p1"}, "kip_commit", rest, false},
		{"mcp", Config{}, "kip_commit", Session{Transport: "mcp", Key: "mcp:1"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := newTestApp(tt.cfg).restGate(tt.tool, tt.s)
			if (err != nil) != tt.refused {
				t.Fatalf("restGate = %v, want refused=%v", err, tt.refused)
			}
			if err != nil && (fault.ClassOf(err) != fault.Denied || !strings.Contains(err.Error(), "Stasima-Session")) {
				t.Fatalf("refusal %v: want Denied naming the header", err)
			}
		})
	}
}

// TestLane is the lane policy of I-40, rule by rule.
func TestLane(t *testing.T) {
	const canon = "refs/heads/main"
	tests := []struct {
		name                string
		op, ref, path, want string
	}{
		{"reads are open", "kip_get", canon, "x.md", ""},
		{"canon is human-gated", "kip_commit", canon, "practice/a.md", "human-gated"},
		{"canon via propose op too", "propose", canon, "practice/a.md", "propose"},
		{"messages lane", "kip_commit", "refs/cap/perspectives/Recto", "messages/m.md", "imp_send"},
		{"vantages lane", "kip_commit", "refs/cap/perspectives/Recto", "vantages/v.md", "vap_record"},
		{"another's perspective", "imp_send", "refs/cap/perspectives/Verso", "messages/m.md", "refs/cap/perspectives/Verso"},
		{"own perspective", "kip_commit", "refs/cap/perspectives/Recto", "practice/a.md", ""},
		{"imp_send may write messages", "imp_send", "refs/cap/perspectives/Recto", "messages/m.md", ""},
		{"vap_record may write vantages", "vap_record", "refs/cap/perspectives/Recto", "vantages/v.md", ""},
		{"proposal ref", "propose", "refs/cap/proposals/p1", "practice/a.md", ""},
		{"close path", "propose", "refs/cap/proposals/p1", "close/p1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := lane(canon, "Recto", tt.op, tt.ref, tt.path)
			if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Fatalf("lane = %q, want containing %q", got, tt.want)
			}
		})
	}
	if got := lane(canon, "Recto", "vap_record", "refs/cap/perspectives/Verso", "vantages/v.md"); !strings.Contains(got, "Recto") {
		t.Fatalf("the refusal names the identity: %q", got)
	}
}

// TestBinder_Rekey is I-23 for the port source: a cleared port re-arms learning for the
// sessions seeded from it, while a session that learned for itself keeps its name.
func TestBinder_Rekey(t *testing.T) {
	b := newBinder(Config{Port: "desk"})
	b.restore("Recto")
	b.decide("mcp:1", "Recto") // seeded from the port
	b.rekey("Recto", "")
	if d := b.decide("mcp:1", "Verso"); d.verdict != learned || d.source != SourcePort {
		t.Fatalf("after a clear the session learns again: %+v", d)
	}
	if d := b.decide("mcp:2", "Recto"); d.verdict != mismatch || d.bound != "Verso" {
		t.Fatalf("the relearned port name seeds new sessions: %+v", d)
	}
	b.rekey("Verso", "Tertia") // another gateway of the port learned Tertia
	if d := b.decide("mcp:3", "Tertia"); d.verdict != pass {
		t.Fatalf("rebound port: %+v", d)
	}
}
