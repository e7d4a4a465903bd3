package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/schema"
)

// pageHas fails unless page carries every want.
func pageHas(t *testing.T, what, page string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(page, w) {
			t.Fatalf("%s lacks %q:\n%s", what, w, page)
		}
	}
}

// TestCockpit_ProposalsList: the list comes from three queries (statuses, staged, summaries)
// and shows each proposal's creator, thread, entry count and age; the text search matches the
// id, the creator and the thread, case-insensitively, server-side; an over-long search is
// refused. (TestAdversary holds the summaries query to the admin: the gateway is refused it.)
func TestCockpit_ProposalsList(t *testing.T) {
	r := newCockpitRig(t)
	reconcile(t, r.s, "Recto")
	reconcile(t, r.s, "Verso")
	mustCall(t, r.s, "propose", map[string]any{"instance_id": "Recto", "proposal_id": "p-weave", "domain": "practice", "slug": "weave",
		"body": "Threads hold.", "op_id": "pw-1", "thread": "loom-wave"})
	if _, e := proposeLog(t, r.s, "Recto", "p-weave", "3c", "Weaving."); e != "" {
		t.Fatal(e)
	}
	mustCall(t, r.s, "propose", map[string]any{"instance_id": "Verso", "proposal_id": "p-plain", "domain": "practice", "slug": "plain",
		"body": "No thread here.", "op_id": "pp-1"})

	_, list := r.get(t, r.base+"/proposals")
	pageHas(t, "proposals page", list, `<tr data-proposal="p-weave">`, `<tr data-proposal="p-plain">`,
		`<td class="creator">Recto</td>`, `<td class="creator">Verso</td>`, `<span class="tag">loom-wave</span>`,
		`<td class="entries">2</td>`, `<td class="entries">1</td>`, `<td class="age"><time datetime="`, `<th>age</th>`)

	for _, tt := range []struct{ q, in, out string }{
		{"LOOM", "p-weave", "p-plain"},
		{"verso", "p-plain", "p-weave"},
		{"p-pl", "p-plain", "p-weave"},
	} {
		_, got := r.get(t, r.base+"/proposals?q="+tt.q)
		if !strings.Contains(got, `data-proposal="`+tt.in+`"`) || strings.Contains(got, `data-proposal="`+tt.out+`"`) {
			t.Fatalf("search %q: want %s and not %s:\n%s", tt.q, tt.in, tt.out, got)
		}
	}
	if _, got := r.get(t, r.base+"/proposals?status=open&q=nothing-matches"); !strings.Contains(got, "No proposals match.") {
		t.Fatalf("a search matching nothing:\n%s", got)
	}
	if resp, _ := r.get(t, r.base+"/proposals?q="+strings.Repeat("x", 501)); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("an over-long search: %d", resp.StatusCode)
	}

}

// TestCockpit_ProposalSides: a proposal's page shows its age, the vantages bound to its entries
// and the entries of its thread (the index holds canon and the perspectives: a seat's entry on
// the same thread is listed); an entry opens read-only with its body rendered.
func TestCockpit_ProposalSides(t *testing.T) {
	r := newCockpitRig(t)
	reconcile(t, r.s, "Recto")
	mustCall(t, r.s, "propose", map[string]any{"instance_id": "Recto", "proposal_id": "p-side", "domain": "practice", "slug": "side",
		"body": "A proposed practice.", "op_id": "ps-1", "thread": "side-wave"})
	if _, e := proposeLog(t, r.s, "Recto", "p-side", "3c", "Sides."); e != "" {
		t.Fatal(e)
	}
	mustCall(t, r.s, "kip_commit", map[string]any{"instance_id": "Verso", "domain": "practice", "slug": "side-note",
		"body": "Earlier on the same thread.", "op_id": "vs-1", "thread": "side-wave"})
	mustCall(t, r.s, "vap_record", map[string]any{"instance_id": "Verso", "binds": "practice/side.md", "kind": "reconstructed",
		"horizon": "Read from <script>alert(1)</script> the record.", "op_id": "v-side", "title": "Verso's view"})

	_, pg := r.get(t, r.base+"/proposals/p-side")
	pageHas(t, "proposal page", pg, `id="proposal-age"`, `<a class="tag" href="#thread-side-wave">side-wave</a>`,
		`<tr data-vantage="vantages/v-side.md"><td>Verso</td><td>reconstructed-by-Verso-from-record</td><td>Verso&#39;s view`,
		`&lt;script&gt;alert(1)&lt;/script&gt;`, `<h3 id="thread-side-wave">`,
		`<tr data-path="practice/side-note.md"><td>Verso</td>`, `href="/entry?ref=refs%2fcap%2fperspectives%2fVerso&amp;path=practice%2fside-note.md"`)
	if strings.Contains(pg, "<script>alert") {
		t.Fatalf("a vantage's horizon is live on the page:\n%s", pg)
	}
	resp, ent := r.get(t, r.base+"/entry?ref=Verso&path=practice/side-note.md")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("entry page: %d\n%s", resp.StatusCode, ent)
	}
	pageHas(t, "entry page", ent, "Earlier on the same thread.", "<th>thread</th><td>side-wave</td>", "seat Verso")
	if resp, _ := r.get(t, r.base+"/entry?ref=Verso&path=practice/none.md"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a missing entry: %d", resp.StatusCode)
	}
	if resp, _ := r.get(t, r.base+"/entry?ref=Verso"); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("an entry without a path: %d", resp.StatusCode)
	}
	for _, tt := range []struct {
		name, query string
		want        int // 0: any refusal below 500
	}{
		{"no ref", "path=practice/side-note.md", http.StatusBadRequest},
		{"a blank ref", "ref=+&path=practice/side-note.md", http.StatusBadRequest},
		{"an over-long path", "ref=Verso&path=" + strings.Repeat("p", 501), http.StatusBadRequest},
		{"an over-long ref", "ref=" + strings.Repeat("r", 501) + "&path=x.md", http.StatusBadRequest},
		{"a path out of the tree", "ref=Verso&path=../../../etc/passwd", 0},
		{"a path not UTF-8", "ref=Verso&path=%ff%fe.md", 0},
		{"an unknown ref", "ref=refs/heads/nowhere&path=x.md", 0},
	} {
		resp, _ := r.get(t, r.base+"/entry?"+tt.query)
		if (tt.want != 0 && resp.StatusCode != tt.want) || resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("entry with %s: %d, want %d (or a refusal below 500)", tt.name, resp.StatusCode, tt.want)
		}
	}
}

// TestCockpit_Seats: every perspective with its last write (a message is written on the
// sender's perspective), the ports bound to each seat, and
// each seat's unread count (S-43: a read message no longer counts); the practitioner too.
func TestCockpit_Seats(t *testing.T) {
	r := newCockpitRig(t)
	mustCall(t, r.s, "kip_commit", map[string]any{"instance_id": "Recto", "domain": "practice", "slug": "first", "body": "first", "op_id": "r-1"})
	mustCall(t, r.s, "kip_commit", map[string]any{"instance_id": "Verso", "domain": "practice", "slug": "second", "body": "second", "op_id": "v-1"})
	mustCall(t, r.s, "imp_send", map[string]any{"instance_id": "Recto", "recipients": []string{"Verso"}, "subject": "hello", "body": "hi", "op_id": "to-verso"})
	mustCall(t, r.s, "imp_send", map[string]any{"instance_id": "Recto", "recipients": []string{"Verso", "practitioner"}, "subject": "both", "body": "hi", "op_id": "to-both"})
	mustCall(t, r.s, "imp_mark_read", map[string]any{"instance_id": "Verso", "message_path": "messages/to-verso.md"})
	_, err := withBackend(context.Background(), r.n.cfg, func(c *busclient.Client) (any, error) {
		in := schema.AuditIntent{ID: "test/bind-7001", Actor: "Recto", Op: "port_binding", Outcome: "ok", Detail: schema.Detail("port", 7001, "action", "learn")}
		if err := c.PublishIntents(context.Background(), []schema.AuditIntent{in}); err != nil {
			return nil, err
		}
		c.Await(context.Background(), []string{in.ID})
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, pg := r.get(t, r.base+"/seats")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("seats: %d\n%s", resp.StatusCode, pg)
	}
	row := func(seat string) string {
		i := strings.Index(pg, `<tr data-seat="`+seat+`">`)
		if i < 0 {
			t.Fatalf("seats page lacks %s:\n%s", seat, pg)
		}
		j := strings.Index(pg[i:], "</tr>")
		return pg[i : i+j]
	}
	pageHas(t, "Recto's row", row("Recto"), `<td class="last"><time datetime="`, "messages/to-both.md", `<td class="ports"><code>7001</code>`,
		`<td class="unread">0</td>`)
	pageHas(t, "Verso's row", row("Verso"), `<td class="unread"><strong>1</strong> <span class="muted">from Recto`)
	pageHas(t, "the practitioner's row", row("practitioner"), "no perspective", `<strong>1</strong>`, `href="/inbox"`)
}

// TestCockpit_Search: map_search over the map as the practitioner shows each hit attributed
// with the sides of the hybrid ranking that found it; a hostile entry's preview is text; bad
// forms are refused with the form kept.
func TestCockpit_Search(t *testing.T) {
	r := newCockpitRig(t)
	mustCall(t, r.s, "kip_commit", map[string]any{"instance_id": "Recto", "domain": "practice", "slug": "hostile",
		"body": "Quokka lore <script>alert(1)</script> [x](javascript:alert(2))", "op_id": "h-1", "title": "Quokka <b>lore</b>"})

	resp, pg := r.get(t, r.base+"/search")
	if resp.StatusCode != http.StatusOK || strings.Contains(pg, `id="hits"`) {
		t.Fatalf("empty search page: %d\n%s", resp.StatusCode, pg)
	}
	_, pg = r.get(t, r.base+"/search?q=Nothing+is+lost&scope=canon")
	pageHas(t, "canon search", pg, `<tr data-hit="practice/no-silent-loss.md">`, `<span class="good">canon</span>`,
		`<span class="side keyword">keyword</span>`)
	_, pg = r.get(t, r.base+"/search?q=quokka+lore")
	pageHas(t, "search for the hostile entry", pg, `<tr data-hit="practice/hostile.md">`, "Quokka &lt;b&gt;lore&lt;/b&gt;",
		`href="/entry?ref=refs%2fcap%2fperspectives%2fRecto&amp;path=practice%2fhostile.md"`)
	if strings.Contains(pg, "<script>alert") {
		t.Fatalf("a hit's preview is live:\n%s", pg)
	}
	_, ent := r.get(t, r.base+"/entry?ref=refs/cap/perspectives/Recto&path=practice/hostile.md")
	pageHas(t, "hostile entry", ent, "Quokka lore", `href="#unsafe-link"`)
	for _, bad := range []string{"<script>alert", `href="javascript:`} {
		if strings.Contains(ent, bad) {
			t.Fatalf("entry page carries %q live:\n%s", bad, ent)
		}
	}
	_, mine := r.get(t, r.base+"/search?q=quokka+lore&scope=mine&seat=Verso")
	if strings.Contains(mine, `data-hit="practice/hostile.md"`) {
		t.Fatalf("scope mine for Verso lists Recto's entry:\n%s", mine)
	}
	for _, tt := range []struct{ name, query string }{
		{"unknown scope", "q=x&scope=everywhere"},
		{"mine without a seat", "q=x&scope=mine"},
		{"limit zero", "q=x&limit=0"},
		{"limit too large", "q=x&limit=101"},
		{"limit negative", "q=x&limit=-1"},
		{"limit past int64", "q=x&limit=99999999999999999999"},
		{"limit not a number", "q=x&limit=ten"},
		{"over-long seat", "q=x&scope=mine&seat=" + strings.Repeat("s", 501)},
		{"over-long type", "q=x&type=" + strings.Repeat("t", 501)},
		{"over-long query", "q=" + strings.Repeat("y", 501)},
	} {
		resp, pg := r.get(t, r.base+"/search?"+tt.query)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(pg, `id="search-q"`) {
			t.Fatalf("%s: %d\n%s", tt.name, resp.StatusCode, pg)
		}
	}
}
