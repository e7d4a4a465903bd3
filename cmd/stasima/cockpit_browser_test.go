package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium, which .ci/run installs when absent.
const chromiumPath = "/usr/bin/chromium"

// browserContext starts headless Chromium with a fresh profile and no background traffic; the
// returned context drives one tab. Under CI=true a missing browser fails the test.
func browserContext(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("headless Chromium is required under CI: %v (apt-get install chromium)", err)
		}
		t.Skipf("no %s: apt-get install chromium to run the browser test", chromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser to exit before the profile dir is removed
	})
	// The first run starts the browser; it lives as long as ctx, so steps may time out alone.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	return ctx
}

// clockSeconds reads an m:ss or h:mm:ss clock.
func clockSeconds(t *testing.T, s string) int {
	t.Helper()
	total := 0
	for _, part := range strings.Split(strings.TrimSpace(s), ":") {
		n, err := strconv.Atoi(part)
		if err != nil {
			t.Fatalf("clock %q is not m:ss", s)
		}
		total = total*60 + n
	}
	return total
}

// TestCockpit_Browser is the practitioner's review in a real browser: a seat proposes through
// MCP; the cockpit lists it; a staged proposal's review clock counts down on the airlock page
// and Revert returns it to open; the browser opens the other proposal's diff, lands it with the
// typed confirmation, and sees canon's seq advance and the land_merge row on the audit page; the
// seats page lists the seat and a search finds the seeded entry. Screenshots of the proposal,
// airlock, seats and search pages are kept in the test's temp dir.
func TestCockpit_Browser(t *testing.T) {
	ctx := browserContext(t)
	n, data := bootNode(t)
	base, start := startCockpit(t, n)
	s := mcpSession(t, n)
	reconcile(t, s, "Recto")
	for _, id := range []string{"p-web", "p-clock"} {
		mustCall(t, s, "propose", map[string]any{"instance_id": "Recto", "proposal_id": id, "domain": "practice", "slug": strings.TrimPrefix(id, "p-"),
			"body": "# " + id + "\n\nReviewed in the **cockpit**.\n", "op_id": id + "-1"})
		if _, e := proposeLog(t, s, "Recto", id, "3c", "Landing "+id+"."); e != "" {
			t.Fatal(e)
		}
	}
	if code, _, stderr := admin(t, "--data", data, "totp-provision"); code != 0 {
		t.Fatal(stderr)
	}
	shots := t.TempDir()
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			b, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return chromedp.Void{}, err
			}
			p := filepath.Join(shots, name)
			t.Logf("screenshot: %s", p)
			return chromedp.Void{}, os.WriteFile(p, b, 0o644)
		}
	}
	text := func(sel string) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 8*time.Second)
		defer cancel()
		v, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.TrimSpace(v)
	}
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		for _, st := range steps {
			sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			err := chromedp.Do(sctx, st)
			cancel()
			if err != nil {
				loc, _ := chromedp.Run(ctx, chromedp.Location())
				html, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.documentElement.outerHTML"))
				t.Fatalf("%v at %s:\n%s", err, loc, html)
			}
		}
	}
	visible := func(sel string) chromedp.Action[chromedp.Void] { return chromedp.WaitVisible(chromedp.CSS(sel)) }
	click := func(sel string) chromedp.Action[chromedp.Void] { return chromedp.Click(chromedp.CSS(sel)) }

	// The start URL's token becomes the session; the proposals page lists both.
	do(chromedp.Navigate(start), visible(`tr[data-proposal="p-web"]`), visible(`tr[data-proposal="p-clock"]`))
	if url, err := chromedp.Run(ctx, chromedp.Location()); err != nil || url != base+"/proposals" {
		t.Fatalf("after the start URL the browser is at %s (%v)", url, err)
	}

	// The airlock: a staged proposal's review clock counts down, and Revert returns it to open.
	mustCall(t, s, "stage_approve", map[string]any{"proposal_id": "p-clock", "code": totpNow(t, n.cfg.AirlockSecret)})
	clock := `tr[data-proposal="p-clock"] .clock.expires`
	do(chromedp.Navigate(base+"/airlock"), visible(clock))
	first := text(clock)
	later := first
	for deadline := time.Now().Add(10 * time.Second); later == first && time.Now().Before(deadline); {
		later = text(clock)
	}
	if a, b := clockSeconds(t, first), clockSeconds(t, later); b >= a || a <= 0 {
		t.Fatalf("the review clock did not count down: %q then %q", first, later)
	}
	do(shot("airlock.png"), click(`tr[data-proposal="p-clock"] button.revert`), visible(`h1.done`))
	if title := text(`h1.done`); title != "Reverted p-clock" {
		t.Fatalf("revert page: %q", title)
	}
	do(chromedp.Navigate(base+"/proposals/p-clock"), visible(`#proposal-status`))
	if st := text(`#proposal-status`); st != "open" {
		t.Fatalf("after revert p-clock is %q", st)
	}

	// Review and land p-web with the typed confirmation.
	_, before, _ := admin(t, "--data", data, "status")
	do(chromedp.Navigate(base+"/proposals"), click(`a[href="/proposals/p-web"]`), visible(`#preview`), visible(`.entry .body strong`), shot("proposal.png"))
	if seq := text(`#expected-seq`); seq != "::3C" {
		t.Fatalf("expected seq %q", seq)
	}
	if dis, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`#land`), "disabled")); err != nil || !dis.Exists {
		t.Fatalf("the land button is enabled before the confirmation is typed (%v)", err)
	}
	do(chromedp.SendKeys(chromedp.CSS(`#confirm`), "p-web"), click(`#land`), visible(`h1.done`))
	if landed := text(`main`); !strings.Contains(landed, "Landed p-web") || !strings.Contains(landed, "land_merge") {
		t.Fatalf("land page:\n%s", landed)
	}
	if _, after, _ := admin(t, "--data", data, "status"); before["canon_seq"] != "::3B" || after["canon_seq"] != "::3C" {
		t.Fatalf("canon seq %v → %v, want ::3B → ::3C", before["canon_seq"], after["canon_seq"])
	}
	do(chromedp.Navigate(base+"/audit"), visible(`tr[data-op="land_merge"]`))
	if op := text(`tr[data-op="land_merge"] td.op`); op != "land_merge" {
		t.Fatalf("audit page op %q", op)
	}

	// The seats page lists the proposing seat; the search form finds the seeded canon entry and
	// names the sides of the hybrid ranking that found it.
	do(chromedp.Navigate(base+"/seats"), visible(`tr[data-seat="Recto"] td.last time`), shot("seats.png"))
	hit := `tr[data-hit="practice/no-silent-loss.md"]`
	do(chromedp.Navigate(base+"/search"), chromedp.SendKeys(chromedp.CSS(`#search-q`), "Nothing is lost"), click(`#search-go`),
		visible(hit), shot("search.png"))
	if m := text(hit + ` td.matched`); !strings.Contains(m, "keyword") {
		t.Fatalf("the seeded entry's matched sides: %q", m)
	}
}
