package cockpit

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/entry"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/hexseq"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticRoot embed.FS

var staticFS, _ = fs.Sub(staticRoot, "static")

// practitioner is the practitioner's seat: the inbox's reader and the closer of proposals.
const practitioner = "practitioner"

var funcs = template.FuncMap{
	"deref": func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	},
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12]
		}
		return s
	},
	"epoch": func(n json.Number) string {
		f, err := n.Float64()
		if err != nil {
			return n.String()
		}
		return time.Unix(int64(f), 0).UTC().Format(time.RFC3339)
	},
	"epochInt": func(n json.Number) int64 {
		f, _ := n.Float64()
		return int64(f)
	},
	"json": func(raw json.RawMessage) string {
		var v any
		if json.Unmarshal(raw, &v) != nil {
			return string(raw)
		}
		b, _ := json.MarshalIndent(v, "", "  ")
		return string(b)
	},
	"refLabel": func(ref string) string { return ref }, // bound to canon's ref per server (templates)
	"iso":      func(t int64) string { return time.Unix(t, 0).UTC().Format(time.RFC3339) },
	"seq": func(s string) string {
		if n, err := hexseq.Parse(s); err == nil {
			return hexseq.Display(n)
		}
		return s
	},
}

var tmpl = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html"))

// templates are the pages with refLabel naming canonRef "canon".
func templates(canonRef string) *template.Template {
	t := template.Must(tmpl.Clone())
	return t.Funcs(template.FuncMap{"refLabel": func(ref string) string { return refLabel(canonRef, ref) }})
}

// refLabel names a ref as a reader says it: canon, a seat's perspective, a proposal.
func refLabel(canonRef, ref string) string {
	if ref == canonRef {
		return "canon"
	}
	if seat, ok := refs.SeatOf(ref); ok {
		return "seat " + seat
	}
	if id, ok := refs.ProposalOf(ref); ok {
		return "proposal " + id
	}
	return ref
}

// page is what every template gets.
type page struct {
	Title string
	Nav   string
	CSRF  string
	Error string
	Live  bool // the page reloads on airlock and land events
	Data  any
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name string, p page) {
	if sid, ok := r.Context().Value(sessionKey{}).(string); ok {
		p.CSRF = s.csrfToken(sid)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if err := s.tmpl.ExecuteTemplate(w, name, p); err != nil {
		s.log.Error("render", "page", name, "err", err)
	}
}

// fail renders a bus or input error on the page it belongs to, with the edge's status.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, title string, err error) {
	code := http.StatusBadGateway
	if c := fault.ClassOf(err); c != "" {
		code = c.HTTPStatus()
	}
	s.render(w, r, code, "refused.html", page{Title: title, Error: err.Error()})
}

// proposalRow is one line of the proposals page.
type proposalRow struct {
	ID           string
	Status       string
	ClosedReason string
	Creator      string
	LandsBehind  *int
	Entries      *int
	Threads      []string
	Age          string
	CreatedAt    int64
}

// matches reports whether the row's id, creator, threads or close reason contain q
// (case-insensitive); an empty q matches every row.
func (r proposalRow) matches(q string) bool {
	if q == "" {
		return true
	}
	q = strings.ToLower(q)
	for _, f := range append([]string{r.ID, r.Creator, r.ClosedReason}, r.Threads...) {
		if strings.Contains(strings.ToLower(f), q) {
			return true
		}
	}
	return false
}

var statuses = []string{"open", "staged", "landed", "closed"}

func (s *Server) stagedByID(ctx context.Context) (map[string]schema.AirlockStaged, []schema.AirlockStaged, error) {
	var staged schema.AirlockStagedList
	if err := s.bus.Query(ctx, bus.Airlock, schema.QAirlockStaged, nil, &staged); err != nil {
		return nil, nil, err
	}
	m := map[string]schema.AirlockStaged{}
	for _, st := range staged.Staged {
		m[st.ProposalID] = st
	}
	return m, staged.Staged, nil
}

// maxQuery bounds the length of a search or filter text the pages accept.
const maxQuery = 500

// maxProposalRows bounds the rows one proposals page shows; the filter narrows the rest.
const maxProposalRows = 500

// proposals lists every proposal with its status (C-prop-3; staged from the airlock, A-60),
// creator (C-prop-4), threads, lands_behind, entry count and age, filtered by status and a
// text found in the id, creator, threads or close reason. Three queries, whatever the number
// of proposals: statuses, the airlock's staged list and the summaries.
func (s *Server) proposals(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	want, q := r.URL.Query().Get("status"), strings.TrimSpace(r.URL.Query().Get("q"))
	if want != "" && !contains(statuses, want) {
		s.render(w, r, http.StatusBadRequest, "refused.html", page{Title: "Proposals",
			Error: fmt.Sprintf("status %q is not one of %s", want, strings.Join(statuses, ", "))})
		return
	}
	if len(q) > maxQuery {
		s.render(w, r, http.StatusBadRequest, "refused.html", page{Title: "Proposals",
			Error: fmt.Sprintf("the search text is %d bytes; at most %d are accepted", len(q), maxQuery)})
		return
	}
	var st schema.ProposalStatuses
	if err := s.bus.Query(ctx, bus.Capstore, schema.QProposalStatuses, nil, &st); err != nil {
		s.fail(w, r, "Proposals", err)
		return
	}
	staged, _, err := s.stagedByID(ctx)
	if err != nil {
		s.fail(w, r, "Proposals", err)
		return
	}
	var sums schema.ProposalSummaries
	if err := s.bus.Query(ctx, bus.Capstore, schema.QProposalSummaries, schema.ProposalSummariesQuery{}, &sums); err != nil {
		s.fail(w, r, "Proposals", err)
		return
	}
	now := s.now().Unix()
	rows := []proposalRow{}
	counts := map[string]int{}
	matched := 0
	for _, id := range st.Proposals {
		ps, sum := st.Statuses[id], sums.Summaries[id]
		row := proposalRow{ID: id, Status: ps.Status, ClosedReason: ps.ClosedReason, LandsBehind: ps.LandsBehind,
			Creator: sum.Creator, Entries: sum.Entries, Threads: sum.Threads, CreatedAt: sum.CreatedAt}
		if sum.CreatedAt > 0 {
			row.Age = ago(now, sum.CreatedAt)
		}
		if _, ok := staged[id]; ok {
			row.Status = "staged"
		}
		counts[row.Status]++
		if want != "" && row.Status != want || !row.matches(q) {
			continue
		}
		matched++
		if len(rows) < maxProposalRows {
			rows = append(rows, row)
		}
	}
	s.render(w, r, http.StatusOK, "proposals.html", page{Title: "Proposals", Nav: "proposals", Live: true, Data: struct {
		Rows     []proposalRow
		Status   string
		Q        string
		Statuses []string
		Counts   map[string]int
		Total    int
		Matched  int
	}{rows, want, q, statuses, counts, len(st.Proposals), matched}})
}

// ago renders the time from then to now coarsely, as a list shows an age: "42s", "5m",
// "3h 12m", "4d 2h".
func ago(now, then int64) string {
	d := max(0, now-then)
	switch {
	case d < 60:
		return fmt.Sprintf("%ds", d)
	case d < 3600:
		return fmt.Sprintf("%dm", d/60)
	case d < 86400:
		return fmt.Sprintf("%dh %dm", d/3600, d%3600/60)
	}
	return fmt.Sprintf("%dd %dh", d/86400, d%86400/3600)
}

// entryView is one changed path of a proposal: its rendered body on the proposal side and
// its line diff against canon.
type entryView struct {
	Path         string
	Kind         string // added, modified, removed
	Front        [][2]string
	Body         template.HTML
	Diff         []diffLine
	Supersedes   []string
	SupersededBy []string
	ProposedBy   string
	OriginAuthor string
	Conflict     bool
}

type proposalView struct {
	ID          string
	Info        schema.ProposalInfo
	Status      schema.ProposalStatus
	StatusName  string
	Staged      *schema.AirlockStaged
	Preview     *schema.Preview
	PreviewErr  string
	LogEntryOK  bool
	WouldRemove []string
	Entries     []entryView
	Approver    string
	Summary     schema.ProposalSummary
	Age         string
	// Vantages are the vantages bound to the proposal's entries (S-51), by entry path.
	Vantages []entryVantages
	// Threads are the entries of each thread the proposal's entries carry (S-62).
	Threads []schema.ThreadAnswer
	// SideErr names a vantage or thread lookup the index could not answer; the review
	// stands without them.
	SideErr string
}

// entryVantages are the vantages bound to one path.
type entryVantages struct {
	Path     string
	Vantages []schema.Vantage
	Total    int
}

// sideLimit bounds the vantages per entry and the entries per thread a proposal page shows.
const sideLimit = 20

// proposalView is the review of proposal id with its vantages and threads.
func (s *Server) proposalView(ctx context.Context, id string) (proposalView, error) {
	v, err := s.reviewView(ctx, id)
	if err == nil {
		s.sides(ctx, &v)
	}
	return v, err
}

// sides adds the vantages bound to the proposal's entries and the threads they carry; a
// lookup the index refuses is named on the page, not fatal to the review.
func (s *Server) sides(ctx context.Context, v *proposalView) {
	var errs []string
	for _, e := range v.Entries {
		if strings.HasPrefix(e.Path, "meta/log/") {
			continue
		}
		var ans schema.VantagesAnswer
		if err := s.bus.Query(ctx, bus.Index, schema.QIndexVantagesFor, schema.VantagesQuery{Entry: e.Path, Limit: sideLimit}, &ans); err != nil {
			errs = append(errs, "vantages of "+e.Path+": "+err.Error())
			continue
		}
		if ans.Total > 0 {
			v.Vantages = append(v.Vantages, entryVantages{Path: e.Path, Vantages: ans.Vantages, Total: ans.Total})
		}
	}
	for _, t := range v.Summary.Threads {
		var ans schema.ThreadAnswer
		if err := s.bus.Query(ctx, bus.Index, schema.QIndexThreadEntries, schema.ThreadQuery{Thread: t, Limit: sideLimit}, &ans); err != nil {
			errs = append(errs, "thread "+t+": "+err.Error())
			continue
		}
		v.Threads = append(v.Threads, ans)
	}
	v.SideErr = strings.Join(errs, "; ")
}

// reviewView is the proposal's gate state, summary, merge preview and entries with their diffs.
func (s *Server) reviewView(ctx context.Context, id string) (proposalView, error) {
	v := proposalView{ID: id, Approver: s.cfg.Approver}
	if err := s.bus.Query(ctx, bus.Capstore, schema.QProposalInfo, schema.ProposalQuery{ProposalID: id}, &v.Info); err != nil {
		return v, err
	}
	if !v.Info.Exists {
		return v, fault.E("cockpit.proposal", fault.RefNotFound, "%s: no such proposal", refs.Proposal(id))
	}
	var st schema.ProposalStatuses
	if err := s.bus.Query(ctx, bus.Capstore, schema.QProposalStatuses, nil, &st); err != nil {
		return v, err
	}
	v.Status = st.Statuses[id]
	v.StatusName = v.Status.Status
	var sums schema.ProposalSummaries
	if err := s.bus.Query(ctx, bus.Capstore, schema.QProposalSummaries, schema.ProposalSummariesQuery{IDs: []string{id}}, &sums); err != nil {
		return v, err
	}
	v.Summary = sums.Summaries[id]
	if v.Summary.CreatedAt > 0 {
		v.Age = ago(s.now().Unix(), v.Summary.CreatedAt)
	}
	staged, _, err := s.stagedByID(ctx)
	if err != nil {
		return v, err
	}
	if sg, ok := staged[id]; ok {
		v.Staged, v.StatusName = &sg, "staged"
	}
	if v.StatusName != "open" && v.StatusName != "staged" {
		return v, nil
	}
	var pv schema.Preview
	if err := s.bus.Query(ctx, bus.Capstore, schema.QPreviewMerge, schema.ProposalQuery{ProposalID: id}, &pv); err != nil {
		v.PreviewErr = err.Error()
		return v, nil
	}
	v.Preview, v.LogEntryOK, v.WouldRemove = &pv, len(pv.LogEntries) == 1, pv.Removes
	kinds := map[string]string{}
	for _, p := range pv.Adds {
		kinds[p] = "added"
	}
	for _, p := range pv.Modifies {
		kinds[p] = "modified"
	}
	for _, p := range pv.Removes {
		kinds[p] = "removed"
	}
	paths := append([]string{}, pv.ChangedPaths...)
	for p := range kinds {
		if !contains(paths, p) {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		e := entryView{Path: p, Kind: kinds[p], ProposedBy: pv.ProposedBy[p], OriginAuthor: pv.OriginAuthors[p], Conflict: contains(pv.Conflicts, p)}
		if e.Kind == "" {
			e.Kind = "modified"
		}
		theirs, err := s.blob(ctx, refs.Proposal(id), p)
		if err != nil {
			return v, err
		}
		ours, err := s.blob(ctx, s.cfg.CanonRef, p)
		if err != nil {
			return v, err
		}
		e.Diff = lineDiff(ours, theirs)
		shown := theirs
		if e.Kind == "removed" {
			shown = ours
		}
		env, body := entry.Parse(shown)
		for _, k := range env.Keys() {
			e.Front = append(e.Front, [2]string{k, fmt.Sprint(frontValue(env, k))})
		}
		e.Supersedes, e.SupersededBy = env.List("supersedes"), env.List("superseded_by")
		if strings.HasSuffix(p, ".md") {
			e.Body = renderMarkdown(body)
		}
		v.Entries = append(v.Entries, e)
	}
	return v, nil
}

func frontValue(env *entry.Envelope, k string) any {
	if l := env.List(k); l != nil {
		return strings.Join(l, ", ")
	}
	x, _ := env.Get(k)
	return x
}

func (s *Server) blob(ctx context.Context, ref, path string) (string, error) {
	var b schema.BlobAnswer
	if err := s.bus.Query(ctx, bus.Capstore, schema.QReadBlob, schema.BlobQuery{Ref: ref, Path: path}, &b); err != nil {
		return "", err
	}
	return string(b.Data), nil
}

// proposal is the review page: entries with rendered bodies and diffs, the merge preview
// (O-merge-9, O-preview-1) and the Land and Close forms.
func (s *Server) proposal(w http.ResponseWriter, r *http.Request) {
	v, err := s.proposalView(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, "Proposal "+r.PathValue("id"), err)
		return
	}
	s.render(w, r, http.StatusOK, "proposal.html", page{Title: "Proposal " + v.ID, Nav: "proposals", Data: v})
}

// done is the result page of an action: what it did and the audit row it left.
type done struct {
	Action string
	Back   string
	Fields [][2]string
	Row    *schema.AuditRow
}

// land is the console land (O-land-*) behind a typed confirmation: the proposal id, as GitHub
// asks for a repository name before deleting it.
func (s *Server) land(w http.ResponseWriter, r *http.Request) {
	ctx, id := r.Context(), r.PathValue("id")
	if got := strings.TrimSpace(r.PostFormValue("confirm")); got != id {
		v, err := s.proposalView(ctx, id)
		if err != nil {
			s.fail(w, r, "Land "+id, err)
			return
		}
		s.render(w, r, http.StatusBadRequest, "proposal.html", page{Title: "Proposal " + id, Nav: "proposals", Data: v,
			Error: fmt.Sprintf("not landing: the confirmation %q is not the proposal id %q", got, id)})
		return
	}
	var res schema.LandResult
	err := s.bus.Do(ctx, busclient.Command{Svc: bus.Capstore, Verb: schema.CmdLand, ID: "land/" + id + "/" + ulid.Make().String(),
		Data: schema.Land{Actor: schema.Actor{Seat: s.cfg.Approver}, ProposalID: id, ApprovedBy: s.cfg.Approver, Evidence: "cockpit-confirm"}}, &res)
	if err != nil {
		s.fail(w, r, "Land "+id, fmt.Errorf("not landing %s: %w", id, err))
		return
	}
	row := s.latest(ctx, schema.AuditFilter{OpID: schema.S("land-" + res.Landed[:min(12, len(res.Landed))])})
	s.render(w, r, http.StatusOK, "done.html", page{Title: "Landed " + id, Nav: "proposals", Data: done{
		Action: "Landed " + id, Back: "/proposals/" + id,
		Fields: [][2]string{{"landed", res.Landed}, {"seq", res.Display}, {"approved by", s.cfg.Approver},
			{"audit anchor", fmt.Sprintf("%d %s", res.Anchor.Seq, res.Anchor.Head)}},
		Row: row,
	}})
}

// close closes a proposal as an approver (O-close-1) with the reason the form gives.
func (s *Server) close(w http.ResponseWriter, r *http.Request) {
	ctx, id := r.Context(), r.PathValue("id")
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" {
		v, err := s.proposalView(ctx, id)
		if err != nil {
			s.fail(w, r, "Close "+id, err)
			return
		}
		s.render(w, r, http.StatusBadRequest, "proposal.html", page{Title: "Proposal " + id, Nav: "proposals", Data: v,
			Error: "not closing: a reason is required"})
		return
	}
	opID := "cockpit-close-" + ulid.Make().String()
	var res schema.ProposeCloseResult
	err := s.bus.Do(ctx, busclient.Command{Svc: bus.Capstore, Verb: schema.CmdProposeClose, ID: "close/" + id + "/" + ulid.Make().String(),
		Data: schema.ProposeClose{Actor: schema.Actor{Seat: practitioner}, ProposalID: id, Reason: reason, OpID: opID, Approver: true}}, &res)
	if err != nil {
		s.fail(w, r, "Close "+id, fmt.Errorf("not closing %s: %w", id, err))
		return
	}
	d := done{Action: "Closed " + id, Back: "/proposals/" + id, Fields: [][2]string{{"reason", res.Reason}, {"commit", res.OID}}}
	if res.Already {
		d.Action = id + " was already closed"
	} else {
		d.Row = s.latest(ctx, schema.AuditFilter{OpID: &opID})
	}
	s.render(w, r, http.StatusOK, "done.html", page{Title: d.Action, Nav: "proposals", Data: d})
}

// latest is the newest audit row matching f, or nil; the page still reports the act without it.
func (s *Server) latest(ctx context.Context, f schema.AuditFilter) *schema.AuditRow {
	var ans schema.AuditLatest
	if err := s.bus.Query(ctx, bus.Audit, schema.QAuditLatest, f, &ans); err != nil {
		s.log.Warn("audit row after action", "err", err)
		return nil
	}
	return ans.Row
}

// airlock lists the staged proposals with their review clocks: the page counts down to
// lands_after and expires_at and reloads on every airlock event.
func (s *Server) airlock(w http.ResponseWriter, r *http.Request) {
	_, staged, err := s.stagedByID(r.Context())
	if err != nil {
		s.fail(w, r, "Airlock", err)
		return
	}
	now := s.now().Unix()
	type row struct {
		schema.AirlockStaged
		LandsIn, ExpiresIn string
	}
	rows := []row{}
	for _, st := range staged {
		rows = append(rows, row{st, until(now, st.LandsAfter), until(now, st.ExpiresAt)})
	}
	s.render(w, r, http.StatusOK, "airlock.html", page{Title: "Airlock", Nav: "airlock", Live: true, Data: rows})
}

// until renders the time from now to an epoch as the page shows it before its script runs.
func until(now int64, at json.Number) string {
	f, err := at.Float64()
	if err != nil {
		return ""
	}
	d := int64(f) - now
	if d <= 0 {
		return "now"
	}
	return (time.Duration(d) * time.Second).String()
}

// revert returns a staged proposal to open (A-50: reverting never takes a code).
func (s *Server) revert(w http.ResponseWriter, r *http.Request) {
	ctx, id := r.Context(), r.PathValue("id")
	var res json.RawMessage
	err := s.bus.Do(ctx, busclient.Command{Svc: bus.Airlock, Verb: schema.CmdAirlockRevert, Data: schema.AirlockRevert{ProposalID: id, Client: "cockpit"}}, &res)
	if err != nil {
		s.fail(w, r, "Revert "+id, fmt.Errorf("not reverting %s: %w", id, err))
		return
	}
	var out map[string]any
	_ = json.Unmarshal(res, &out)
	d := done{Action: "Reverted " + id, Back: "/airlock"}
	for _, k := range slices.Sorted(maps.Keys(out)) {
		d.Fields = append(d.Fields, [2]string{k, fmt.Sprint(out[k])})
	}
	d.Row = s.latest(ctx, schema.AuditFilter{Op: schema.S("airlock_revert"), TargetRef: schema.S(refs.Proposal(id))})
	if d.Row == nil {
		d.Row = s.latest(ctx, schema.AuditFilter{Op: schema.S("airlock_revert")})
	}
	s.render(w, r, http.StatusOK, "done.html", page{Title: d.Action, Nav: "airlock", Data: d})
}

// events streams the airlock's staged, reverted, landed, locked and unlocked events and canon's
// lands as server-sent events, from now on.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ctx := r.Context()
	ch := make(chan bus.Envelope, 64)
	stop, err := s.bus.Follow(ctx, []string{s.subj.Event("airlock.>"), s.subj.Event(schema.EvtGitLand)}, func(env bus.Envelope) {
		select {
		case ch <- env:
		default: // a slow page misses events; it reloads on the next one anyway
		}
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer stop()
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": cockpit events\n\n")
	fl.Flush()
	ping := time.NewTicker(20 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ping.C:
			fmt.Fprint(w, ": ping\n\n")
		case env := <-ch:
			data, _ := json.Marshal(env.Data)
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", sanitizeEventName(env.Type), data)
		}
		fl.Flush()
	}
}

func sanitizeEventName(t string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, t)
}

// inboxItem is one practitioner message with its read state.
type inboxItem struct {
	schema.InboxMessage
	Read bool
}

// inbox lists the practitioner's messages (O-inbox-2): unread first, with a mark-read form.
func (s *Server) inbox(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var ans schema.InboxAnswer
	if err := s.bus.Query(ctx, bus.Index, schema.QIndexInbox, schema.InboxQuery{Seats: []string{practitioner}}, &ans); err != nil {
		s.fail(w, r, "Inbox", err)
		return
	}
	rows, err := busclient.AuditEvents(ctx, s.bus, schema.AuditFilter{Op: schema.S("read_receipt"), Actor: schema.S(practitioner)}, 0)
	if err != nil {
		s.fail(w, r, "Inbox", err)
		return
	}
	read := map[string]bool{}
	for _, row := range rows {
		if row.TargetPath != nil {
			read[*row.TargetPath] = true
		}
	}
	items := []inboxItem{}
	for _, m := range ans.Inboxes[practitioner] {
		items = append(items, inboxItem{m, read[m.Path]})
	}
	sort.SliceStable(items, func(i, j int) bool { return !items[i].Read && items[j].Read })
	s.render(w, r, http.StatusOK, "inbox.html", page{Title: "Inbox", Nav: "inbox", Data: items})
}

// markRead writes the practitioner's read receipt for one message (O-inbox-1), the path
// verbatim (U-30), and shows its row.
func (s *Server) markRead(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	path := r.PostFormValue("path")
	if path == "" {
		s.render(w, r, http.StatusBadRequest, "refused.html", page{Title: "Inbox", Error: "mark read: the form names no path"})
		return
	}
	in := schema.AuditIntent{ID: "cockpit/" + ulid.Make().String(), Actor: practitioner, Op: "read_receipt",
		TargetPath: &path, Outcome: "ok", Detail: schema.Detail()}
	if err := s.bus.PublishIntents(ctx, []schema.AuditIntent{in}); err != nil {
		s.fail(w, r, "Inbox", fault.Wrap("cockpit.read", fault.BackendUnavailable, err, "read receipt for %s did NOT complete", path))
		return
	}
	s.bus.Await(ctx, []string{in.ID})
	d := done{Action: "Marked read", Back: "/inbox", Fields: [][2]string{{"path", path}},
		Row: s.latest(ctx, schema.AuditFilter{Op: schema.S("read_receipt"), Actor: schema.S(practitioner), TargetPath: &path})}
	s.render(w, r, http.StatusOK, "done.html", page{Title: "Marked read", Nav: "inbox", Data: d})
}

// auditPage is the number of rows an audit page shows.
const auditPage = 50

// audit is the timeline, newest first, filtered by seat, op and ref, with the chain's verify
// and anchor status (O-verify-1).
func (s *Server) audit(w http.ResponseWriter, r *http.Request) {
	ctx, q := r.Context(), r.URL.Query()
	f := schema.AuditFilter{Desc: true, Limit: auditPage}
	seat, op, ref := strings.TrimSpace(q.Get("seat")), strings.TrimSpace(q.Get("op")), strings.TrimSpace(q.Get("ref"))
	f.Actor, f.Op = schema.S(seat), schema.S(op)
	if ref != "" {
		f.TargetRef = schema.S(refs.Resolve(s.cfg.CanonRef, ref))
	}
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			s.render(w, r, http.StatusBadRequest, "refused.html", page{Title: "Audit", Error: fmt.Sprintf("before %q is not a positive row number", b)})
			return
		}
		f.BeforeSeq = n
	}
	var rows schema.AuditRows
	if err := s.bus.Query(ctx, bus.Audit, schema.QAuditEvents, f, &rows); err != nil {
		s.fail(w, r, "Audit", err)
		return
	}
	var v schema.VerifyAnswer
	verifyErr := ""
	if err := s.bus.Query(ctx, bus.Audit, schema.QAuditVerify, nil, &v); err != nil {
		verifyErr = err.Error()
	}
	next := ""
	if rows.Next != 0 {
		nq := q
		nq.Set("before", strconv.FormatInt(rows.Next, 10))
		next = "/audit?" + nq.Encode()
	}
	s.render(w, r, http.StatusOK, "audit.html", page{Title: "Audit", Nav: "audit", Data: struct {
		Rows               []schema.AuditRow
		Seat, Op, Ref      string
		Next               string
		Verify             schema.VerifyAnswer
		VerifyErr          string
		AnchorOK, Anchored bool
	}{rows.Rows, seat, op, ref, next, v, verifyErr, v.AuditVsAnchor != nil && *v.AuditVsAnchor, v.AuditVsAnchor != nil}})
}

// auditRow shows one row in full.
func (s *Server) auditRow(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	if err != nil || n <= 0 {
		s.render(w, r, http.StatusBadRequest, "refused.html", page{Title: "Audit", Error: fmt.Sprintf("row %q is not a positive row number", r.PathValue("seq"))})
		return
	}
	var rows schema.AuditRows
	if err := s.bus.Query(r.Context(), bus.Audit, schema.QAuditEvents, schema.AuditFilter{AfterSeq: n - 1, Limit: 1}, &rows); err != nil {
		s.fail(w, r, "Audit", err)
		return
	}
	if len(rows.Rows) == 0 || rows.Rows[0].Seq != n {
		s.fail(w, r, "Audit", fault.E("cockpit.audit", fault.RefNotFound, "audit row %d does not exist", n))
		return
	}
	s.render(w, r, http.StatusOK, "row.html", page{Title: fmt.Sprintf("Audit row %d", n), Nav: "audit", Data: rows.Rows[0]})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
