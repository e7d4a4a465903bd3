package storetest

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/stasima/stasima/services/indexer/internal/rows"
)

// Seats of the generated corpus (the practitioner receives messages like any seat).
var Seats = []string{"Recto", "Verso", "Gnomon", "Scholiast", "practitioner"}

// Generated returns n events' writes of a seeded, reproducible corpus with what every scry
// lookup reads: messages to one or more seats superseding earlier ones (by their author and by
// another), vantages binding entries at several depths and canon states, threads across types
// and authors, argot terms defined on several refs with bodies differing only in whitespace,
// and supersessions (the same path rewritten by a later event). Rows are derived from entry
// text as the indexer derives them (S-2); some events repeat earlier bodies for S-52.
func Generated(seed uint64, n int) []rows.Write {
	rng := rand.New(rand.NewPCG(seed, 7))
	pick := func(l []string) string { return l[rng.IntN(len(l))] }
	var (
		ws      []rows.Write
		written []rows.Row // every row so far, to supersede, bind and repeat
		bodies  = []string{"loom weft", "warp and weft", "shuttle", "heddle bar", ""}
		threads = []string{"weaving", "dyes", "Weaving", "looms/floor"}
		terms   = []string{"weft", "warp", "Heddle", "shed"}
		states  = []string{"draft", "proposed", "canon", ""}
	)
	for i := 0; i < n; i++ {
		seat := pick(Seats)
		ref := RefOf(seat)
		if rng.IntN(5) == 0 {
			ref = CanonRef
		}
		var (
			path string
			env  []string
		)
		body := pick(bodies)
		if rng.IntN(3) == 0 {
			body = fmt.Sprintf("entry %d %s", i, body)
		}
		switch k := rng.IntN(10); {
		case k < 3 && len(written) > 0 && rng.IntN(2) == 0: // a supersession: rewrite a path
			old := written[rng.IntN(len(written))]
			ref, path = old.Ref, old.Path
			env = append(env, "type: "+old.Type, "status: "+pick([]string{"active", "superseded"}))
			if old.Type == "msg" {
				env = append(env, "recipients: ["+strings.Join(old.Recipients, ", ")+"]")
			}
		case k < 5: // a message, sometimes superseding an earlier one
			path = fmt.Sprintf("messages/%d.md", i)
			rs := []string{pick(Seats)}
			if rng.IntN(3) == 0 {
				rs = append(rs, pick(Seats))
			}
			env = append(env, "type: msg", "recipients: ["+strings.Join(rs, ", ")+"]", "subject: s"+fmt.Sprint(i))
			if len(written) > 0 && rng.IntN(2) == 0 {
				old := written[rng.IntN(len(written))]
				env = append(env, "supersedes: ["+old.Path+"]", "coordinates: ["+old.Path+"]")
			}
		case k < 7: // a vantage binding one or two entries
			path = fmt.Sprintf("vantages/%d.md", i)
			links := []string{fmt.Sprintf("entries/%d.md", rng.IntN(8))}
			if rng.IntN(3) == 0 {
				links = append(links, fmt.Sprintf("entries/%d.md", rng.IntN(8)))
			}
			env = append(env, "type: vap", "links: ["+strings.Join(links, ", ")+"]", "vantage: v"+fmt.Sprint(i),
				fmt.Sprintf("instance_depth: %d", rng.IntN(4)))
			if s := pick(states); s != "" {
				env = append(env, "canon_state: "+s)
			}
		case k < 8: // argot
			path = pick([]string{"argot/", "glossary/", ""}) + pick(terms) + ".md"
			body = pick([]string{"a crossing thread", " a crossing thread\n", "the lengthwise set"})
			env = append(env, "type: arg")
		default: // an entry with a status, maybe threaded
			path = fmt.Sprintf("entries/%d.md", rng.IntN(12))
			env = append(env, "type: kno", "title: t"+fmt.Sprint(i), "status: "+pick([]string{"active", "superseded", "draft"}))
		}
		if rng.IntN(3) == 0 {
			env = append(env, "thread: "+pick(threads))
		}
		if ref == CanonRef && rng.IntN(2) == 0 {
			env = append(env, "origin_author: "+seat)
		}
		r, err := rows.Derive(rows.Source{CanonRef: CanonRef, Ref: ref, Path: path, BlobOID: fmt.Sprintf("oid-%d", i),
			Text: "---\n" + strings.Join(env, "\n") + "\n---\n\n" + body, Position: int64(i)})
		if err != nil {
			panic(err)
		}
		written = append(written, r)
		ws = append(ws, rows.Write{Version: int64(i + 1), Rows: []rows.Row{r}})
	}
	return ws
}
