package approval_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/services/airlock/internal/approval"
)

// TestSeconds_MarshalJSON is U-61: Python's float repr, so staged_at stays a float (U-60).
func TestSeconds_MarshalJSON(t *testing.T) {
	tests := []struct {
		give float64
		want string
	}{
		{1700000015, "1700000015.0"},
		{1721567890.123456, "1721567890.123456"},
		{0, "0.0"},
		{0.0001, "0.0001"},
		{0.00001, "1e-05"},
		{1.5e-5, "1.5e-05"},
		{1e15, "1000000000000000.0"},
		{1e16, "1e+16"},
		{-2.5, "-2.5"},
		{math.Copysign(0, -1), "-0.0"},
	}
	for _, tt := range tests {
		b, err := json.Marshal(approval.Seconds(tt.give))
		if err != nil || string(b) != tt.want {
			t.Errorf("Seconds(%v) = %s, %v; want %s", tt.give, b, err, tt.want)
		}
	}
	if _, err := json.Marshal(approval.Seconds(math.NaN())); err == nil {
		t.Error("NaN marshalled")
	}
	if got := approval.SecondsOf(time.Unix(1700000015, 250_000_000)); got != 1700000015.25 {
		t.Errorf("SecondsOf = %v", got)
	}
}

// TestState_MarshalJSON is the A-14 shape.
func TestState_MarshalJSON(t *testing.T) {
	tests := []struct {
		give approval.State
		want string
	}{
		{approval.State{Phase: approval.PhaseOpen}, `{"state":"open"}`},
		{approval.State{Phase: approval.PhaseLanded}, `{"state":"landed"}`},
		{approval.State{Phase: approval.PhaseOpen, Reverted: approval.ReasonTTL}, `{"state":"open","reverted":"ttl"}`},
		{approval.State{Phase: approval.PhaseStaged, Staging: &approval.StageInfo{StagedOID: "ab", StagedAt: 10, Window: 3,
			ChangedPaths: []string{}, LandsAfter: 130, ExpiresAt: 7210}},
			`{"state":"staged","staged_oid":"ab","staged_at":10.0,"window":3,"changed_paths":[],"lands_after":130.0,"expires_at":7210.0}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.give)
		if err != nil || string(b) != tt.want {
			t.Errorf("got %s, %v; want %s", b, err, tt.want)
		}
	}
}

func TestConfig_Validate(t *testing.T) {
	ok := approval.DefaultConfig()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		give func(*approval.Config)
		want string
	}{
		{"floor not below ceiling", func(c *approval.Config) { c.Floor = c.Ceiling }, "airlock_ceiling_s"},
		{"negative floor", func(c *approval.Config) { c.Floor = -time.Second }, "airlock_floor_s"},
		{"no approvers", func(c *approval.Config) { c.Approvers = nil }, "approver"},
		{"no canon", func(c *approval.Config) { c.CanonRef = "" }, "canon_ref"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := approval.DefaultConfig()
			tt.give(&c)
			err := c.Validate()
			if !fault.Is(err, fault.ArgumentError) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ArgumentError naming %s", err, tt.want)
			}
		})
	}
}

// TestNew_approver is A-46: the first approver in sorted order lands.
func TestNew_approver(t *testing.T) {
	h := newHarness(t)
	cfg := h.cfg
	cfg.Approvers = []string{"zoe", "Practitioner", "amy"}
	if got := h.newService(cfg).Approver(); got != "Practitioner" {
		t.Errorf("approver = %q, want Practitioner (byte order)", got)
	}
	if cfg.Approvers[0] != "zoe" {
		t.Error("New sorted the caller's slice")
	}
}

// TestFold_malformedRows: a forged or damaged stage row can only look expired, never wedge
// the airlock.
func TestFold_malformedRows(t *testing.T) {
	h := newHarness(t)
	for _, d := range []string{`{"proposal":"p1"}`, `{"proposal":"p1","staged_at":"soon","window":"x"}`} {
		if _, err := h.log.Append(h.ctx, approval.Record{Actor: "practitioner", Op: approval.OpAirlockStage, Detail: []byte(d)}); err != nil {
			t.Fatal(err)
		}
		st, evs, err := h.svc.State(h.ctx, "p1")
		if err != nil || st.Phase != approval.PhaseOpen || st.Reverted != approval.ReasonTTL || len(evs) != 1 {
			t.Errorf("detail %s: state %+v, %d events, %v", d, st, len(evs), err)
		}
	}
	if _, _, err := h.svc.Stage(h.ctx, "p1", h.code(0)); err != nil {
		t.Errorf("stage after malformed rows: %v", err)
	}
}
