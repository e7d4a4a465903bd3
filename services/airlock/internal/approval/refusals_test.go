package approval_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/services/airlock/internal/approval"
)

// stage stages pid at the current time with the current code, failing the test on error.
func (h *harness) stage(pid string) approval.Staged {
	h.t.Helper()
	st, _, err := h.svc.Stage(h.ctx, pid, h.code(0))
	if err != nil {
		h.t.Fatalf("stage %s: %v", pid, err)
	}
	return st
}

// wrongStageCodes sends n invalid stage codes for pid, each refused as invalid.
func (h *harness) wrongStageCodes(pid string, n int) {
	h.t.Helper()
	for range n {
		if _, _, err := h.svc.Stage(h.ctx, pid, h.invalidCode()); err == nil || !strings.Contains(err.Error(), "invalid code") {
			h.t.Fatalf("wrong stage code for %s: %v", pid, err)
		}
	}
}

// wrongDoorCodes sends n invalid codes to the OAuth door, each refused.
func (h *harness) wrongDoorCodes(n int) {
	h.t.Helper()
	for range n {
		if _, _, err := h.svc.VerifyDoor(h.ctx, h.invalidCode(), "c1"); err == nil || !strings.Contains(err.Error(), "invalid code") {
			h.t.Fatalf("wrong door code: %v", err)
		}
	}
}

// TestRefusals is every refusal of airlock.md, one row per rule: the error class, the tokens
// its message must contain, and exactly the audit rows the refusal appends (airlock.md §10:
// most append none and burn nothing). Each run prepares its own airlock, calls markRows just
// before the refused call and returns that call's error.
func TestRefusals(t *testing.T) {
	p1 := oid("candidate p1")
	tests := []struct {
		name       string
		run        func(h *harness) error
		wantClass  fault.Class
		wantTokens []string
		wantRows   func(h *harness) []string
	}{
		{
			name: "A-6 stage not provisioned",
			run: func(h *harness) error {
				if err := os.Remove(h.file.Path); err != nil {
					h.t.Fatal(err)
				}
				h.markRows()
				_, _, err := h.svc.Stage(h.ctx, "p1", h.code(0))
				return err
			},
			wantClass:  fault.AirlockError,
			wantTokens: []string{"not provisioned", "totp-provision"},
		},
		{
			name: "A-6 land not provisioned",
			run: func(h *harness) error {
				h.stage("p1")
				h.at(200 * time.Second)
				if err := os.Remove(h.file.Path); err != nil {
					h.t.Fatal(err)
				}
				h.markRows()
				_, _, err := h.svc.Land(h.ctx, p1[:8], h.code(0))
				return err
			},
			wantClass:  fault.AirlockError,
			wantTokens: []string{"not provisioned", "totp-provision"},
		},
		{
			name: "A-7 invalid code",
			run: func(h *harness) error {
				h.markRows()
				_, _, err := h.svc.Stage(h.ctx, "p1", h.invalidCode())
				return err
			},
			wantClass:  fault.AirlockError,
			wantTokens: []string{"invalid code"},
			wantRows: func(h *harness) []string {
				return []string{`system totp_reject ref= oid= {"purpose":"stage","object":"p1","reason":"invalid"}`}
			},
		},
		{
			name: "A-7 invalid land code after the floor",
			run: func(h *harness) error {
				h.stage("p1")
				h.at(200 * time.Second)
				h.markRows()
				_, _, err := h.svc.Land(h.ctx, p1[:8], h.invalidCode())
				return err
			},
			wantClass:  fault.AirlockError,
			wantTokens: []string{"invalid code"},
			wantRows: func(h *harness) []string {
				return []string{`system totp_reject ref= oid= {"purpose":"land","object":"p1","reason":"invalid"}`}
			},
		},
		{
			name: "A-8 land code from the staging window",
			run: func(h *harness) error {
				h.svc = h.newService(floor(0, h.cfg))
				h.stage("p1")
				h.markRows()
				_, _, err := h.svc.Land(h.ctx, p1[:8], h.code(0))
				return err
			},
			wantClass:  fault.AirlockError,
			wantTokens: []string{"not strictly later", "56666667"},
			wantRows: func(h *harness) []string {
				return []string{`system totp_reject ref= oid= {"purpose":"land","object":"p1","window":56666667,"min_window":56666667,"reason":"not strictly later"}`}
			},
		},
		{
			name: "A-8 land code from an earlier window",
			run: func(h *harness) error {
				h.svc = h.newService(floor(0, h.cfg))
				h.at(35 * time.Second)
				h.stage("p1")
				h.markRows()
				_, _, err := h.svc.Land(h.ctx, p1[:8], h.code(-1)) // accepted skew, older window
				return err
			},
			wantClass:  fault.AirlockError,
			wantTokens: []string{"not strictly later", "56666667", "56666668"},
			wantRows: func(h *harness) []string {
				return []string{`system totp_reject ref= oid= {"purpose":"land","object":"p1","window":56666667,"min_window":56666668,"reason":"not strictly later"}`}
			},
		},
		{
			name: "A-9 stage window replayed on the same proposal",
			run: func(h *harness) error {
				h.stage("p1")
				if _, _, err := h.svc.Revert(h.ctx, "p1"); err != nil {
					h.t.Fatal(err)
				}
				h.markRows()
				_, _, err := h.svc.Stage(h.ctx, "p1", h.code(0))
				return err
			},
			wantClass:  fault.AirlockError,
			wantTokens: []string{"56666667", "stage", "consume-once"},
			wantRows: func(h *harness) []string {
				return []string{`system totp_reject ref= oid= {"purpose":"stage","object":"p1","window":56666667,"reason":"replay"}`}
			},
		},
		{
			name: "A-9 stage window replayed on another proposal",
			run: func(h *harness) error {
				h.stage("p1")
				h.markRows()
				_, _, err := h.svc.Stage(h.ctx, "p2", h.code(0))
				return err
			},
			wantClass:  fault.AirlockError,
			wantTokens: []string{"56666667", "stage", "consume-once"},
			wantRows: func(h *harness) []string {
				return []string{`system totp_reject ref= oid= {"purpose":"stage","object":"p2","window":56666667,"reason":"replay"}`}
			},
		},
		{
			name: "A-9 land window replayed",
			run: func(h *harness) error {
				h.addProposal("p4", oid("candidate p4"))
				h.stage("p1")
				h.at(35 * time.Second)
				h.stage("p4")
				h.at(200 * time.Second)
				code := h.code(0)
				if _, _, err := h.svc.Land(h.ctx, p1[:8], code); err != nil {
					h.t.Fatal(err)
				}
				h.markRows()
				_, _, err := h.svc.Land(h.ctx, oid("candidate p4")[:8], code)
				return err
			},
			wantClass:  fault.AirlockError,
			wantTokens: []string{"56666673", "land", "consume-once"},
			wantRows: func(h *harness) []string {
				return []string{`system totp_reject ref= oid= {"purpose":"land","object":"p4","window":56666673,"reason":"replay"}`}
			},
		},
		{
			name: "A-9/D-5 window recorded by oauth_approve",
			run: func(h *harness) error {
				if _, err := h.log.Append(h.ctx, approval.Record{Actor: "practitioner", Op: approval.OpOAuthApprove,
					Detail: []byte(fmt.Sprintf(`{"client_id":"c1","channel":"totp","window":%d}`, h.window()))}); err != nil {
					h.t.Fatal(err)
				}
				h.markRows()
				_, _, err := h.svc.Stage(h.ctx, "p1", h.code(0))
				return err
			},
			wantClass:  fault.AirlockError,
			wantTokens: []string{"56666667", "stage", "consume-once"},
			wantRows: func(h *harness) []string {
				return []string{`system totp_reject ref= oid= {"purpose":"stage","object":"p1","window":56666667,"reason":"replay"}`}
			},
		},
		{
			name: "A-20 propose on a staged proposal",
			run: func(h *harness) error {
				h.stage("p1")
				h.markRows()
				_, err := h.svc.CheckWritable(h.ctx, "propose", "p1")
				return err
			},
			wantClass:  fault.Denied,
			wantTokens: []string{"p1", "frozen for review"},
		},
		{
			name: "A-20 propose_retract on a staged proposal",
			run: func(h *harness) error {
				h.stage("p1")
				h.markRows()
				_, err := h.svc.CheckWritable(h.ctx, "propose_retract", "p1")
				return err
			},
			wantClass:  fault.Denied,
			wantTokens: []string{"p1", "frozen for review"},
		},
		{
			name: "A-20 propose_close on a staged proposal",
			run: func(h *harness) error {
				h.stage("p1")
				h.markRows()
				_, err := h.svc.CheckWritable(h.ctx, "propose_close", "p1")
				return err
			},
			wantClass:  fault.Denied,
			wantTokens: []string{"p1", "frozen for review"},
		},
		{
			name: "A-30 already staged",
			run: func(h *harness) error {
				h.stage("p1")
				h.at(35 * time.Second)
				h.markRows()
				_, _, err := h.svc.Stage(h.ctx, "p1", h.code(0))
				return err
			},
			wantClass:  fault.AirlockError,
			wantTokens: []string{"p1 is already staged"},
		},
		{
			name: "A-31 missing proposal ref",
			run: func(h *harness) error {
				h.markRows()
				_, _, err := h.svc.Stage(h.ctx, "nope", h.code(0))
				return err
			},
			wantClass:  fault.RefNotFound,
			wantTokens: []string{"refs/cap/proposals/nope"},
		},
		{
			name: "A-31 merge conflict",
			run: func(h *harness) error {
				h.cands.prepareErr["refs/cap/proposals/p1"] = fault.E("prepare_merge", fault.MergeConflict, "conflict in practice/a.md")
				h.markRows()
				_, _, err := h.svc.Stage(h.ctx, "p1", h.code(0))
				return err
			},
			wantClass:  fault.MergeConflict,
			wantTokens: []string{"conflict in practice/a.md"},
		},
		{
			name: "A-31 canon removal",
			run: func(h *harness) error {
				h.cands.prepareErr["refs/cap/proposals/p1"] = fault.E("prepare_merge", fault.CanonAppendOnly, "append-only: removes practice/a.md")
				h.markRows()
				_, _, err := h.svc.Stage(h.ctx, "p1", h.code(0))
				return err
			},
			wantClass:  fault.CanonAppendOnly,
			wantTokens: []string{"append-only", "practice/a.md"},
		},
		{
			name: "A-32 log entry invalid",
			run: func(h *harness) error {
				h.cands.validateErr["refs/cap/proposals/p1"] = fault.E("land.validate", fault.ValidationError, "exactly one log entry required, found 2")
				h.markRows()
				_, _, err := h.svc.Stage(h.ctx, "p1", h.code(0))
				return err
			},
			wantClass:  fault.ValidationError,
			wantTokens: []string{"exactly one log entry", "found 2"},
		},
		{
			name: "A-36 landed proposal fails validation",
			run: func(h *harness) error {
				h.cands.validateErr["refs/cap/proposals/p1"] = fault.E("land.validate", fault.ValidationError, "exactly one log entry required, found 0")
				h.markRows()
				_, _, err := h.svc.Stage(h.ctx, "p1", h.code(0))
				return err
			},
			wantClass:  fault.ValidationError,
			wantTokens: []string{"found 0"},
		},
		{
			name: "A-40 prefix shorter than 8",
			run: func(h *harness) error {
				h.stage("p1")
				h.at(200 * time.Second)
				h.markRows()
				_, _, err := h.svc.Land(h.ctx, p1[:7], h.code(0))
				return err
			},
			wantClass:  fault.AirlockError,
			wantTokens: []string{"at least 8"},
		},
		{
			name: "A-42 no staged match",
			run: func(h *harness) error {
				h.stage("p1")
				h.at(200 * time.Second)
				h.markRows()
				_, _, err := h.svc.Land(h.ctx, "0123456789", h.code(0))
				return err
			},
			wantClass:  fault.AirlockError,
			wantTokens: []string{"0123456789", "content-binding"},
		},
		{
			name: "A-42 prefix match is case-sensitive",
			run: func(h *harness) error {
				h.addProposal("p4", "abcdef0123456789abcdef0123456789abcdef01")
				h.stage("p4")
				h.at(200 * time.Second)
				h.markRows()
				_, _, err := h.svc.Land(h.ctx, "ABCDEF01", h.code(0))
				return err
			},
			wantClass:  fault.AirlockError,
			wantTokens: []string{"ABCDEF01", "content-binding"},
		},
		{
			name: "A-43 ambiguous prefix",
			run: func(h *harness) error {
				h.addProposal("p4", "abcdef0100000000000000000000000000000000")
				h.addProposal("p5", "abcdef01ffffffffffffffffffffffffffffffff")
				h.stage("p4")
				h.at(35 * time.Second)
				h.stage("p5")
				h.at(300 * time.Second)
				h.markRows()
				_, _, err := h.svc.Land(h.ctx, "abcdef01", h.code(0))
				return err
			},
			wantClass:  fault.AirlockError,
			wantTokens: []string{"abcdef01", "ambiguous"},
		},
		{
			name: "A-44 review floor not met",
			run: func(h *harness) error {
				h.at(5 * time.Second)
				h.stage("p1")
				h.at((5 + 119) * time.Second)
				h.markRows()
				_, _, err := h.svc.Land(h.ctx, p1[:8], h.code(0))
				return err
			},
			wantClass:  fault.AirlockError,
			wantTokens: []string{"review floor not met", "119s", "120"},
		},
		{
			name: "A-47 land fails after the code is consumed",
			run: func(h *harness) error {
				h.stage("p1")
				h.cands.landErr = fault.E("land_merge", fault.StaleRef, "refs/heads/main moved")
				h.at(200 * time.Second)
				h.markRows()
				_, _, err := h.svc.Land(h.ctx, p1[:8], h.code(0))
				if st, _, _ := h.svc.State(h.ctx, "p1"); st.Phase != approval.PhaseStaged {
					h.t.Errorf("after a failed land the state is %s, want staged", st.Phase)
				}
				return err
			},
			wantClass:  fault.StaleRef,
			wantTokens: []string{"moved"},
			wantRows: func(h *harness) []string { // the code is spent
				return []string{`practitioner totp_accept ref= oid= {"window":56666673,"purpose":"land","object":"p1"}`}
			},
		},
		{
			name: "A-51 revert when not staged",
			run: func(h *harness) error {
				h.markRows()
				_, _, err := h.svc.Revert(h.ctx, "p1")
				return err
			},
			wantClass:  fault.AirlockError,
			wantTokens: []string{"p1 is not staged"},
		},
		{
			name: "A-51 revert after the ceiling reverts by ttl first",
			run: func(h *harness) error {
				h.stage("p1")
				h.at(7201 * time.Second)
				h.markRows()
				_, evs, err := h.svc.Revert(h.ctx, "p1")
				equalStrings(h.t, "events", eventsJSON(h.t, evs), []string{`airlock.reverted {"proposal_id":"p1","reason":"ttl"}`})
				return err
			},
			wantClass:  fault.AirlockError,
			wantTokens: []string{"p1 is not staged"},
			wantRows: func(h *harness) []string {
				return []string{fmt.Sprintf(`system airlock_revert ref=refs/cap/proposals/p1 oid= {"proposal":"p1","reason":"ttl","staged_oid":"%s"}`, p1)}
			},
		},
		{
			name: "A-42 land after the ceiling reverts by ttl, then finds nothing",
			run: func(h *harness) error {
				h.stage("p1")
				h.at(7300 * time.Second)
				h.markRows()
				_, evs, err := h.svc.Land(h.ctx, p1[:8], h.code(0))
				equalStrings(h.t, "events", eventsJSON(h.t, evs), []string{`airlock.reverted {"proposal_id":"p1","reason":"ttl"}`})
				return err
			},
			wantClass:  fault.AirlockError,
			wantTokens: []string{"content-binding"},
			wantRows: func(h *harness) []string {
				return []string{fmt.Sprintf(`system airlock_revert ref=refs/cap/proposals/p1 oid= {"proposal":"p1","reason":"ttl","staged_oid":"%s"}`, p1)}
			},
		},
		{
			name: "A-72 door without a secret",
			run: func(h *harness) error {
				if err := os.Remove(h.file.Path); err != nil {
					h.t.Fatal(err)
				}
				h.markRows()
				_, _, err := h.svc.VerifyDoor(h.ctx, h.code(0), "c1")
				return err
			},
			wantClass:  fault.AirlockError,
			wantTokens: []string{"not provisioned"},
		},
		{
			name: "A-72 door bad code",
			run: func(h *harness) error {
				h.markRows()
				_, _, err := h.svc.VerifyDoor(h.ctx, h.invalidCode(), "c1")
				return err
			},
			wantClass:  fault.AirlockError,
			wantTokens: []string{"invalid code"},
			wantRows: func(h *harness) []string {
				return []string{`system oauth_totp_reject ref= oid= {"reason":"bad code"}`}
			},
		},
		{
			name: "A-72 door window used by a land code",
			run: func(h *harness) error {
				h.stage("p1")
				h.at(200 * time.Second)
				if _, _, err := h.svc.Land(h.ctx, p1[:8], h.code(0)); err != nil {
					h.t.Fatal(err)
				}
				h.markRows()
				_, _, err := h.svc.VerifyDoor(h.ctx, h.code(0), "c1")
				return err
			},
			wantClass:  fault.AirlockError,
			wantTokens: []string{"56666673", "consume-once"},
			wantRows: func(h *harness) []string {
				return []string{`system oauth_totp_reject ref= oid= {"reason":"window already consumed","window":56666673}`}
			},
		},
		{
			name: "A-72 door window used by an earlier door approval",
			run: func(h *harness) error {
				if _, _, err := h.svc.VerifyDoor(h.ctx, h.code(0), "c1"); err != nil {
					h.t.Fatal(err)
				}
				h.markRows()
				_, _, err := h.svc.VerifyDoor(h.ctx, h.code(0), "c2")
				return err
			},
			wantClass:  fault.AirlockError,
			wantTokens: []string{"56666667", "consume-once"},
			wantRows: func(h *harness) []string {
				return []string{`system oauth_totp_reject ref= oid= {"reason":"window already consumed","window":56666667}`}
			},
		},
		{
			// A deliberate [go-stricter] deviation from A-9, which allows one use per purpose:
			// a window consumed for any purpose is consumed for all.
			name: "A-9 stage window reused to land another proposal",
			run: func(h *harness) error {
				h.stage("p1")
				h.at(200 * time.Second)
				code := h.code(0)
				if _, _, err := h.svc.Stage(h.ctx, "p2", code); err != nil { // window 56666673 for stage
					h.t.Fatal(err)
				}
				h.markRows()
				_, _, err := h.svc.Land(h.ctx, p1[:8], code)
				return err
			},
			wantClass:  fault.AirlockError,
			wantTokens: []string{"window 56666673 was already used to stage p2", "cannot land p1", "consume-once", "consumed for all"},
			wantRows: func(h *harness) []string {
				return []string{`system totp_reject ref= oid= {"purpose":"land","object":"p1","window":56666673,"reason":"replay"}`}
			},
		},
		{
			name: "A-72 door window used by a stage code",
			run: func(h *harness) error {
				code := h.code(0)
				if _, _, err := h.svc.Stage(h.ctx, "p1", code); err != nil {
					h.t.Fatal(err)
				}
				h.markRows()
				_, _, err := h.svc.VerifyDoor(h.ctx, code, "c1")
				return err
			},
			wantClass:  fault.AirlockError,
			wantTokens: []string{"56666667", "to stage p1", "consume-once"},
			wantRows: func(h *harness) []string {
				return []string{`system oauth_totp_reject ref= oid= {"reason":"window already consumed","window":56666667}`}
			},
		},
		{
			name: "A-33 sixth stage code after five wrong ones on a proposal",
			run: func(h *harness) error {
				h.wrongStageCodes("p1", approval.MaxWrongStageCodes)
				h.markRows()
				_, _, err := h.svc.Stage(h.ctx, "p1", h.code(0)) // right, and never looked at
				return err
			},
			wantClass:  fault.AirlockError,
			wantTokens: []string{"p1", "5 wrong stage codes", "at most 5", "2023-11-14T22:28:30Z"},
			wantRows: func(h *harness) []string { // until = t0 + 15 min
				return []string{`system totp_reject ref= oid= {"purpose":"stage","object":"p1","misses":5,"until":1700000910.0,"reason":"too many wrong codes"}`}
			},
		},
		{
			name: "A-33 stage lock holds for its proposal until its end",
			run: func(h *harness) error {
				h.wrongStageCodes("p1", approval.MaxWrongStageCodes)
				if _, _, err := h.svc.Stage(h.ctx, "p1", h.code(0)); err == nil {
					h.t.Fatal("stage accepted past the cap")
				}
				if _, _, err := h.svc.Stage(h.ctx, "p2", h.code(0)); err != nil { // another proposal is not locked
					h.t.Fatalf("stage p2: %v", err)
				}
				h.at(15*time.Minute - time.Second)
				h.markRows()
				_, _, err := h.svc.Stage(h.ctx, "p1", h.code(0))
				return err
			},
			wantClass:  fault.AirlockError,
			wantTokens: []string{"p1", "5 wrong stage codes", "2023-11-14T22:28:30Z"},
		},
		{
			name: "A-7 failure budget used up by wrong door codes locks stage",
			run: func(h *harness) error {
				h.wrongDoorCodes(approval.DefaultFailureBudget)
				h.markRows()
				_, _, err := h.svc.Stage(h.ctx, "p1", h.code(0)) // right, and never looked at
				return err
			},
			wantClass:  fault.RateLimited,
			wantTokens: []string{"locked until 2023-11-14T22:28:30Z", "20 wrong codes within 1h0m0s", "failure budget", "stasima admin land"},
		},
		{
			name: "A-72 failure budget used up by wrong stage codes locks the door",
			run: func(h *harness) error {
				for _, pid := range []string{"p1", "p2", "p3", "p4", "p5"} {
					h.addProposal(pid, oid("candidate "+pid))
					h.wrongStageCodes(pid, approval.DefaultFailureBudget/5)
				}
				h.markRows()
				_, _, err := h.svc.VerifyDoor(h.ctx, h.code(0), "c1")
				return err
			},
			wantClass:  fault.RateLimited,
			wantTokens: []string{"locked until", "the OAuth door"},
		},
		{
			name: "A-7 failure budget locks land",
			run: func(h *harness) error {
				h.stage("p1")
				h.wrongDoorCodes(approval.DefaultFailureBudget)
				h.at(200 * time.Second)
				h.markRows()
				_, _, err := h.svc.Land(h.ctx, p1[:8], h.code(0))
				return err
			},
			wantClass:  fault.RateLimited,
			wantTokens: []string{"locked until 2023-11-14T22:28:30Z"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			err := tt.run(h)
			if got := fault.ClassOf(err); got != tt.wantClass {
				t.Fatalf("class = %s (%v), want %s", got, err, tt.wantClass)
			}
			mustContain(t, err, tt.wantTokens...)
			var want []string
			if tt.wantRows != nil {
				want = tt.wantRows(h)
			}
			equalStrings(t, "rows appended by the refusal", h.newRows(), want)
			h.assertNoCodes(err.Error())
		})
	}
}

func floor(d time.Duration, cfg approval.Config) approval.Config {
	cfg.Floor = d
	return cfg
}

// TestRefusals_burnNothing proves the "code burned: no" column of airlock.md §10 for the gates
// that run before the code: after each refusal the very same code still stages.
func TestRefusals_burnNothing(t *testing.T) {
	h := newHarness(t)
	code := h.code(0)
	h.cands.validateErr["refs/cap/proposals/p1"] = fault.E("land.validate", fault.ValidationError, "found 0")
	if _, _, err := h.svc.Stage(h.ctx, "p1", code); !fault.Is(err, fault.ValidationError) {
		t.Fatalf("err = %v", err)
	}
	if _, _, err := h.svc.Stage(h.ctx, "nope", code); !fault.Is(err, fault.RefNotFound) {
		t.Fatalf("err = %v", err)
	}
	if _, _, err := h.svc.Stage(h.ctx, "p2", code); err != nil {
		t.Fatalf("the code was burned by an earlier refusal: %v", err)
	}
	// happen before the code too: the next window's code survives both.
	h.at(35 * time.Second)
	next := h.code(0)
	if _, _, err := h.svc.Stage(h.ctx, "p2", next); err == nil {
		t.Fatal("double stage accepted")
	}
	if _, _, err := h.svc.Land(h.ctx, oid("candidate p2")[:8], next); err == nil {
		t.Fatal("land before the floor accepted")
	}
	if _, _, err := h.svc.Stage(h.ctx, "p3", next); err != nil {
		t.Fatalf("the code was burned by A-30 or A-44: %v", err)
	}
	h.assertNoCodes()
}

// TestLand_exactlyAtFloor is A-63: land is allowed at elapsed = floor.
func TestLand_exactlyAtFloor(t *testing.T) {
	h := newHarness(t)
	h.stage("p1")
	h.at(120 * time.Second)
	if _, _, err := h.svc.Land(h.ctx, oid("candidate p1")[:8], h.code(0)); err != nil {
		t.Fatalf("land at exactly the floor: %v", err)
	}
}

// TestLand_separateSecret uses airlock_land_secret: land codes come from the second secret.
func TestLand_separateSecret(t *testing.T) {
	h := newHarness(t)
	landFile := h.file
	landFile.Path += ".land"
	const landSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	if err := os.WriteFile(landFile.Path, []byte(landSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	svc, err := approval.New(approval.Params{Config: h.cfg, Secret: h.file, LandSecret: landFile, Ledger: h.log,
		Audit: h.log, Candidates: h.cands, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.Stage(h.ctx, "p1", h.code(0)); err != nil {
		t.Fatal(err)
	}
	h.at(200 * time.Second)
	if _, _, err := svc.Land(h.ctx, oid("candidate p1")[:8], h.code(0)); !fault.Is(err, fault.AirlockError) {
		t.Fatalf("a stage-secret code landed: %v", err)
	}
	ls, err := landFile.Load()
	if err != nil {
		t.Fatal(err)
	}
	c, _ := ls.Code(h.window() + 1)
	if _, _, err := svc.Land(h.ctx, oid("candidate p1")[:8], c); err != nil {
		t.Fatalf("land with the land secret: %v", err)
	}
}

// TestService_restart is A-12: nothing is kept outside the audit log, so a new Service over
// the same log continues where the old one stopped.
func TestService_restart(t *testing.T) {
	h := newHarness(t)
	h.stage("p1")
	restarted := h.newService(h.cfg)
	st, _, err := restarted.State(h.ctx, "p1")
	if err != nil || st.Phase != approval.PhaseStaged {
		t.Fatalf("state after restart = %+v, %v", st, err)
	}
	h.at(200 * time.Second)
	if _, _, err := restarted.Land(h.ctx, oid("candidate p1")[:8], h.code(0)); err != nil {
		t.Fatalf("land after restart: %v", err)
	}
	if _, _, err := h.newService(h.cfg).Land(h.ctx, oid("candidate p1")[:8], h.code(1)); err == nil {
		t.Fatal("landed twice")
	}
}

// TestState_consoleLand is A-12: a console land_merge row counts as landed; a later stage row
// stages again.
func TestState_consoleLand(t *testing.T) {
	h := newHarness(t)
	h.stage("p1")
	if _, err := h.log.Append(h.ctx, approval.Record{Actor: "practitioner", Op: approval.OpLandMerge, TargetRef: "refs/heads/main",
		Detail: []byte(`{"proposal": "refs/cap/proposals/p1", "seq": "3c", "evidence": "cli-confirm"}`)}); err != nil {
		t.Fatal(err)
	}
	st, _, err := h.svc.State(h.ctx, "p1")
	if err != nil || st.Phase != approval.PhaseLanded {
		t.Fatalf("state = %+v, %v", st, err)
	}
	list, _, err := h.svc.Staged(h.ctx)
	if err != nil || len(list) != 0 {
		t.Fatalf("staged = %v, %v", list, err)
	}
	if _, err := h.svc.CheckWritable(h.ctx, "propose", "p1"); err != nil {
		t.Errorf("a landed proposal is not frozen: %v", err)
	}
}

// TestStaged is A-60: first-appearance order, staged ones only, TTL applied on the way.
func TestStaged(t *testing.T) {
	h := newHarness(t)
	h.stage("p2")
	h.at(35 * time.Second)
	h.stage("p1")
	h.at(65 * time.Second)
	h.stage("p3")
	if _, _, err := h.svc.Revert(h.ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	h.at(95 * time.Second)
	h.stage("p1") // p1 first appeared after p2: the order stays p2, p1, p3
	h.at(7200*time.Second + 36*time.Second)
	list, evs, err := h.svc.Staged(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(list)
	want := fmt.Sprint([]approval.StagedProposal{
		{ProposalID: "p1", StagedOID: oid("candidate p1"), StagedAt: approval.Seconds(t0.Unix() + 95), LandsAfter: approval.Seconds(t0.Unix() + 95 + 120), ExpiresAt: approval.Seconds(t0.Unix() + 95 + 7200)},
		{ProposalID: "p3", StagedOID: oid("candidate p3"), StagedAt: approval.Seconds(t0.Unix() + 65), LandsAfter: approval.Seconds(t0.Unix() + 65 + 120), ExpiresAt: approval.Seconds(t0.Unix() + 65 + 7200)},
	})
	if got != want {
		t.Errorf("staged\n got %s\nwant %s", got, want)
	}
	equalStrings(t, "events", eventsJSON(t, evs), []string{`airlock.reverted {"proposal_id":"p2","reason":"ttl"}`})
}

// TestStage_concurrent is A-70: racing stages with one code consume its window exactly once.
func TestStage_concurrent(t *testing.T) {
	h := newHarness(t)
	const n = 8
	for i := range n {
		h.addProposal(fmt.Sprintf("c%d", i), oid(fmt.Sprint("c", i)))
	}
	code := h.code(0)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, _, errs[i] = h.svc.Stage(h.ctx, fmt.Sprintf("c%d", i), code)
		})
	}
	wg.Wait()
	var ok, replay int
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case fault.Is(err, fault.AirlockError):
			replay++
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	if ok != 1 || replay != n-1 {
		t.Errorf("%d staged, %d refused; want 1 and %d", ok, replay, n-1)
	}
}

// TestDoor_accept is A-72's success path, and D-5 in the other direction: a door window
// cannot then stage.
func TestDoor_accept(t *testing.T) {
	h := newHarness(t)
	h.markRows()
	w, _, err := h.svc.VerifyDoor(h.ctx, h.code(0), "client-1")
	if err != nil || w != h.window() {
		t.Fatalf("door = %d, %v", w, err)
	}
	equalStrings(t, "rows", h.newRows(), []string{
		fmt.Sprintf(`practitioner oauth_approve ref= oid= {"client_id":"client-1","channel":"totp","window":%d}`, w),
	})
	if _, _, err := h.svc.Stage(h.ctx, "p1", h.code(0)); err == nil {
		t.Fatal("a door window staged (D-5)")
	}
	h.assertNoCodes()
}

// TestCheckCode is totp-check through the service: nothing consumed, no row.
func TestCheckCode(t *testing.T) {
	h := newHarness(t)
	d, err := h.svc.CheckCode(h.code(0))
	if err != nil || !d.Valid {
		t.Fatalf("check = %+v, %v", d, err)
	}
	if h.log.Len() != 0 {
		t.Errorf("totp-check wrote %d rows", h.log.Len())
	}
	if err := os.Remove(h.file.Path); err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.CheckCode(h.code(0))
	mustContain(t, err, "run totp-provision first")
}

// TestStage_contextCancelled: waiting for the mutex respects the context.
func TestStage_contextCancelled(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(h.ctx)
	cancel()
	if _, _, err := h.svc.Stage(ctx, "p1", h.code(0)); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if h.log.Len() != 0 || h.cands.prepares != 0 {
		t.Errorf("a cancelled stage did work: %d rows, %d prepares", h.log.Len(), h.cands.prepares)
	}
}
