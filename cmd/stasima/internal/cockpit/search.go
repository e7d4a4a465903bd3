package cockpit

import (
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/entry"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
)

// Search bounds: the hits a page shows by default and at most.
const (
	searchDefault = 20
	searchMax     = 100
)

var searchScopes = []string{"all", "canon", "mine"}

// searchForm is the search page's form as submitted, and its answer.
type searchForm struct {
	Q, Scope, Seat, Type string
	Superseded, Weak     bool
	Limit                int
	Scopes               []string
	Searched             bool
	Result               schema.SearchResult
}

// search is map_search over the index (S-10…S-15) as the practitioner: every hit attributed,
// with the sides of the hybrid ranking that found it (keyword, embedding). Scope "mine" reads
// the seat field as the instance.
func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := searchForm{Q: strings.TrimSpace(q.Get("q")), Scope: q.Get("scope"), Seat: strings.TrimSpace(q.Get("seat")),
		Type: strings.TrimSpace(q.Get("type")), Superseded: q.Get("superseded") != "", Weak: q.Get("weak") != "",
		Limit: searchDefault, Scopes: searchScopes}
	if f.Scope == "" {
		f.Scope = "all"
	}
	bad := func(msg string, args ...any) {
		s.render(w, r, http.StatusBadRequest, "search.html", page{Title: "Search", Nav: "search", Data: f, Error: fmt.Sprintf(msg, args...)})
	}
	switch {
	case !slices.Contains(searchScopes, f.Scope):
		bad("scope %q is not one of %s", f.Scope, strings.Join(searchScopes, ", "))
		return
	case len(f.Q) > maxQuery || len(f.Seat) > maxQuery || len(f.Type) > maxQuery:
		bad("a field is longer than %d bytes", maxQuery)
		return
	case f.Scope == "mine" && f.Seat == "":
		bad("scope mine searches one seat's entries: name the seat")
		return
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > searchMax {
			bad("limit %q is not a number from 1 to %d", l, searchMax)
			return
		}
		f.Limit = n
	}
	if f.Q != "" {
		limit := f.Limit
		req := schema.SearchQuery{InstanceID: f.Seat, Query: f.Q, Scope: f.Scope, Type: f.Type, Limit: &limit,
			IncludeSuperseded: f.Superseded, IncludeWeak: f.Weak}
		if err := s.bus.Query(r.Context(), bus.Index, schema.QIndexSearch, req, &f.Result); err != nil {
			s.fail(w, r, "Search", err)
			return
		}
		f.Searched = true
	}
	s.render(w, r, http.StatusOK, "search.html", page{Title: "Search", Nav: "search", Data: f})
}

// entryPage is one entry as it stands on a ref: front matter and the sanitised body.
type entryPage struct {
	Ref, RefName, Path string
	Front              [][2]string
	Body               template.HTML
	Raw                string
}

// entry shows the entry at path on ref (a search hit, a vantage, a thread entry), read only.
func (s *Server) entry(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ref, path := strings.TrimSpace(q.Get("ref")), q.Get("path")
	if ref == "" || path == "" || len(ref) > maxQuery || len(path) > maxQuery {
		s.render(w, r, http.StatusBadRequest, "refused.html", page{Title: "Entry", Error: "an entry is named by a ref and a path"})
		return
	}
	full := refs.Resolve(s.cfg.CanonRef, ref)
	var b schema.BlobAnswer
	if err := s.bus.Query(r.Context(), bus.Capstore, schema.QReadBlob, schema.BlobQuery{Ref: full, Path: path}, &b); err != nil {
		s.fail(w, r, "Entry", err)
		return
	}
	if !b.Found {
		s.fail(w, r, "Entry", fault.E("cockpit.entry", fault.RefNotFound, "%s has no %s", full, path))
		return
	}
	e := entryPage{Ref: full, RefName: refLabel(s.cfg.CanonRef, full), Path: path}
	env, body := entry.Parse(string(b.Data))
	for _, k := range env.Keys() {
		e.Front = append(e.Front, [2]string{k, fmt.Sprint(frontValue(env, k))})
	}
	if strings.HasSuffix(path, ".md") {
		e.Body = renderMarkdown(body)
	} else {
		e.Raw = string(b.Data)
	}
	s.render(w, r, http.StatusOK, "entry.html", page{Title: path, Nav: "search", Data: e})
}
