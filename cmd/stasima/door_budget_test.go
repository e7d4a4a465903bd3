package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// TestDoor_FailureBudgetLock: wrong codes at the door count against the airlock's
// deployment-wide failure budget (3 here); once it locks, the approve page says so — as HTML, or
// as JSON to a client that asks — checks no code, not even a right one, and counts no attempt,
// while the console can still approve (I-65, I-85 with the budget of issue 13).
func TestDoor_FailureBudgetLock(t *testing.T) {
	n, base, data := doorNode(t, func(c *Config) { c.AirlockFailureBudget = 3 })
	if code, _, stderr := admin(t, "--data", data, "totp-provision"); code != 0 {
		t.Fatal(stderr)
	}
	hc := browser("127.0.0.4")
	c := register(t, base, "locked-out")
	pageA, txnA := c.authorize(t, hc, base, "st-a")
	_, txnB := c.authorize(t, hc, base, "st-b")
	wrong := []struct {
		txn  string
		left int
	}{{txnA, 4}, {txnA, 3}, {txnB, 4}} // the third wrong code uses the budget up
	for i, w := range wrong {
		resp, body := postForm(t, hc, base+"/approve", url.Values{"txn": {w.txn}, "code": {"000001"}})
		if resp.StatusCode != 401 || !strings.Contains(body, strconv.Itoa(w.left)+" attempt") {
			t.Fatalf("wrong code %d: %d %s", i+1, resp.StatusCode, body)
		}
	}
	good := totpNow(t, n.cfg.AirlockSecret)
	for range 2 { // locked refusals are not guesses: A keeps its 3 attempts
		resp, body := postForm(t, hc, base+"/approve", url.Values{"txn": {txnA}, "code": {good}})
		if resp.StatusCode != 429 || !strings.Contains(body, "locked") || !strings.Contains(body, "not counted (3 attempt(s) left)") ||
			!strings.Contains(body, "stasima admin oauth approve") || !strings.Contains(body, `name="code"`) {
			t.Fatalf("a right code while locked: %d %s", resp.StatusCode, body)
		}
	}
	req, _ := http.NewRequest("POST", base+"/approve", strings.NewReader(url.Values{"txn": {txnA}, "code": {good}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, body := do(t, hc, req)
	var locked struct {
		Error        string `json:"error"`
		Description  string `json:"error_description"`
		AttemptsLeft int    `json:"attempts_left"`
	}
	if resp.StatusCode != 429 || json.Unmarshal([]byte(body), &locked) != nil || locked.Error != "airlock_locked" ||
		locked.AttemptsLeft != 3 || !strings.Contains(locked.Description, "locked until") {
		t.Fatalf("the lock as JSON: %d %s", resp.StatusCode, body)
	}
	if rows := auditRows(t, n, "oauth_approve"); len(rows) != 0 {
		t.Fatalf("a code was accepted while locked: %+v", rows)
	}
	if rows := auditRows(t, n, "oauth_totp_reject"); len(rows) != 3 {
		t.Fatalf("oauth_totp_reject rows: %d, want the 3 checked codes only", len(rows))
	}
	// The console is never locked.
	if code, _, stderr := admin(t, "--data", data, "oauth", "approve", txnA, "--confirm", "locked-out"); code != 0 {
		t.Fatalf("console approve while locked: %d %s", code, stderr)
	}
	resp, _ = get(t, hc, pageA)
	if resp.StatusCode != 302 {
		t.Fatalf("the page after the console grant: %d", resp.StatusCode)
	}
	codeFrom(t, resp.Header.Get("Location"), "st-a", base)
}
