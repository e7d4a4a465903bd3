// Package rows owns the derivation of map index rows from git content (search.md S-1…S-5): given
// a ref, a path, the blob's text and oid, and for canon rows the path's introducer and canon
// position, it produces the row exactly as Stasima 0.1.5 stores it (D-2, D-21 and D-32 applied).
//
// Invariants:
//   - Derivation is pure and total: the same input always gives the same row, arbitrary text
//     never panics, and rows are always parsed from the blob with entry.Parse (S-2), never from a
//     writer's in-memory values, so incremental and rebuilt rows agree.
//   - Only ".md" paths on canon or a perspective ref are indexed (S-3); Derive refuses the rest
//     with ErrNotIndexed. Messages (msg) and vantages (vap) are derived like any row; their
//     exclusion from universal search (INV-10) is the store's, not this package's.
//   - The embedding is not computed here (it may be a network call, S-37): EmbedText gives the
//     document text and Embed fills Embedding and ModelID.
package rows

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/stasima/stasima/pkg/entry"
	"github.com/stasima/stasima/pkg/pytext"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/services/indexer/internal/embed"
)

// ErrNotIndexed reports a (ref, path) the index never holds (S-3): a path not ending in ".md",
// or a ref that is neither canon nor a perspective (proposals, the audit anchor, backups, tags).
var ErrNotIndexed = errors.New("not indexed")

// Row is one map index row (S-1), one per indexed file per ref. Lists are never nil after
// Derive. InsSeq is assigned by the store (S-6) and is 0 on a derived row.
type Row struct {
	Ref               string
	Path              string
	IsCanon           bool
	AuthoringInstance string
	ContentOID        string // the blob oid of the file on Ref (D-2)
	Type              string
	Title             string
	Status            string
	Tags              []string
	Refs              []string // envelope "references"
	Supersedes        []string
	RegionLabels      []string
	Links             []string // "links" when present, else "coordinates"
	Salience          float64
	Recipients        []string
	Subject           string
	Vantage           string
	CanonState        string
	InstanceDepth     int64
	Tick              string
	Thread            string
	BodyText          string
	Embedding         []float64
	ModelID           string
	InsSeq            int64
	// Commit is the commit the row was derived from (a perspective event's commit, a land's
	// merge, a rebuild's ref tip), or "" when unknown. The store's version guard keeps it, not
	// map_entries: a write of the same commit's row again (a re-announced or redelivered event)
	// is no new write and leaves the row and its ins_seq alone (S-6). It does not read back.
	Commit string
}

// Write is the effect of one event on the index: its rows, written at its version (the EVENTS
// stream sequence, S-32). A store writes a batch of them in order in one transaction, exactly as
// it would write each in its own.
type Write struct {
	Version int64
	Rows    []Row
}

// Held reports whether a row written at version from commit is already held by the row the
// store has, written at haveVersion from haveCommit: an older or same-version event (S-32), or
// the same commit again (a re-announced or redelivered event, S-6), is no new write.
func Held(haveVersion int64, haveCommit string, version int64, commit string) bool {
	return haveVersion >= version || commit != "" && haveCommit == commit
}

// Source is what Derive reads: one blob on one ref, plus the canon facts git alone can answer.
type Source struct {
	// CanonRef is the deployment's canon_ref; Ref == CanonRef makes a canon row.
	CanonRef string
	Ref      string
	Path     string
	// BlobOID is the oid of the file's blob on Ref, stored as content_oid (D-2).
	BlobOID string
	// Text is the blob's content, parsed with entry.Parse.
	Text string
	// Introducer is, for canon rows, the author (commitmsg.Author, C-commit-4) of the oldest
	// commit in the path's canon history (T-kip_history-2); used when the envelope has no
	// origin_author (S-4). Ignored for perspective rows.
	Introducer string
	// Position is, for canon rows, the canon position of C-pos-3 (full reindex) or the landed
	// merge's first-parent chain length (index_land, S-35). Ignored for perspective rows.
	Position int64
}

// Indexed reports whether (ref, path) belongs in the index (S-3).
func Indexed(canonRef, ref, path string) bool {
	if !strings.HasSuffix(path, ".md") {
		return false
	}
	if ref == canonRef {
		return true
	}
	_, ok := refs.SeatOf(ref)
	return ok
}

// Derive builds the row of src (S-1…S-5) without its embedding. It returns ErrNotIndexed
// (wrapped, naming the ref and path) when Indexed is false.
func Derive(src Source) (Row, error) {
	if !Indexed(src.CanonRef, src.Ref, src.Path) {
		return Row{}, fmt.Errorf("row %s:%s: %w", src.Ref, src.Path, ErrNotIndexed)
	}
	env, body := entry.Parse(src.Text)
	r := Row{
		Ref:          src.Ref,
		Path:         src.Path,
		IsCanon:      src.Ref == src.CanonRef,
		ContentOID:   src.BlobOID,
		Type:         env.Str("type"),
		Title:        env.Str("title"),
		Status:       "active",
		Tags:         list(env, "tags"),
		Refs:         list(env, "references"),
		Supersedes:   list(env, "supersedes"),
		RegionLabels: list(env, "region_labels"),
		Salience:     pyFloat(env.Str("salience")),
		Recipients:   list(env, "recipients"),
		Subject:      env.Str("subject"),
		Vantage:      env.Str("vantage"),
		CanonState:   env.Str("canon_state"),
		Tick:         env.Str("tick"),
		Thread:       env.Str("thread"),
		BodyText:     body,
	}
	if _, ok := env.Get("status"); ok {
		// Present but empty (or a list) stays "": only an absent key defaults (S-1).
		r.Status = env.Str("status")
	}
	if _, ok := env.Get("links"); ok {
		r.Links = list(env, "links")
	} else {
		r.Links = list(env, "coordinates")
	}
	if r.IsCanon {
		r.AuthoringInstance = env.Str("origin_author")
		if r.AuthoringInstance == "" {
			r.AuthoringInstance = src.Introducer
		}
		r.InstanceDepth = src.Position
	} else {
		r.AuthoringInstance, _ = refs.SeatOf(src.Ref)
		r.InstanceDepth = pyInt(env.Str("instance_depth"))
	}
	return r, nil
}

// EmbedText is the document text embedded for r (S-1): title and body joined by one space,
// empty parts omitted.
func (r Row) EmbedText() string {
	switch {
	case r.Title == "":
		return r.BodyText
	case r.BodyText == "":
		return r.Title
	}
	return r.Title + " " + r.BodyText
}

// Embed fills Embedding and ModelID of every row with one batched document embedding (S-23).
// A vector count or length that differs from the embedder's declaration fails the whole batch,
// leaving rs unchanged.
func Embed(ctx context.Context, e embed.Embedder, rs []Row) error {
	texts := make([]string, len(rs))
	for i, r := range rs {
		texts[i] = r.EmbedText()
	}
	vecs, err := e.EmbedDocuments(ctx, texts)
	if err != nil {
		return fmt.Errorf("embed %d rows with %s: %w", len(rs), e.ModelID(), err)
	}
	if len(vecs) != len(rs) {
		return fmt.Errorf("embed %d rows with %s: got %d vectors", len(rs), e.ModelID(), len(vecs))
	}
	for i, v := range vecs {
		if len(v) != e.Dim() {
			return fmt.Errorf("embed %s:%s with %s: vector has %d entries, want %d",
				rs[i].Ref, rs[i].Path, e.ModelID(), len(v), e.Dim())
		}
	}
	for i := range rs {
		rs[i].Embedding = vecs[i]
		rs[i].ModelID = e.ModelID()
	}
	return nil
}

// list is a list field: a scalar is a one-element list (D-32), absent or empty is [].
func list(env *entry.Envelope, key string) []string {
	if l := env.List(key); l != nil {
		return l
	}
	return []string{}
}

// pyInt is Python's int(s) for an envelope depth, with D-21's fallback: surrounding Python
// whitespace, an optional sign, ASCII digits with single underscores between them. Anything
// else — including non-ASCII digits, which Python would accept, and values beyond 64 bits,
// which SQLite cannot store — is 0.
func pyInt(s string) int64 {
	s = pytext.Strip(s)
	digits := strings.TrimLeft(s, "+-")
	if len(s)-len(digits) > 1 || !underscored(digits) {
		return 0
	}
	n, err := strconv.ParseInt(s[:len(s)-len(digits)]+strings.ReplaceAll(digits, "_", ""), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// pyFloat is Python's float(s) for an envelope salience, with D-21's fallback to 0.0. Go's
// parser differs from Python's in hex floats and underscores: hex is refused and underscores are
// accepted only between ASCII digits, as Python does. NaN also indexes as 0.0: SQLite stores a
// NaN REAL as NULL, which 0.1.5 could then not read back as a float.
func pyFloat(s string) float64 {
	s = pytext.Strip(s)
	if s == "" || strings.ContainsAny(s, "xXpP") {
		return 0
	}
	if strings.Contains(s, "_") {
		for _, part := range strings.FieldsFunc(s, func(r rune) bool { return !isDigit(r) && r != '_' }) {
			if !underscored(part) {
				return 0
			}
		}
		s = strings.ReplaceAll(s, "_", "")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) || math.IsNaN(f) {
		return 0
	}
	return f
}

// underscored reports whether s is one or more ASCII digits with single underscores only between
// digits (PEP 515).
func underscored(s string) bool {
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
		return false
	}
	for _, r := range s {
		if !isDigit(r) && r != '_' {
			return false
		}
	}
	return true
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

// Filter selects rows through the store's indexes (the scry lookups and guards, S-40…S-71):
// every set field must hold. A filter with no key field (Type, Path, Thread, Author, Recipient,
// Link or Body) is refused, so no lookup reads every row.
type Filter struct {
	Type       string   // type equals Type
	Path       string   // path equals Path
	Paths      []string // path is one of Paths (when not empty): one lookup for many paths
	Thread     string   // thread equals Thread
	Author     string   // authoring_instance equals Author
	CanonState string   // canon_state equals CanonState
	Recipient  string   // Recipients contains Recipient
	Link       string   // Links contains Link
	Body       *string  // body_text with " \n\r\t" stripped from both ends equals *Body
	// Superseding keeps the rows whose Supersedes is not empty (S-41's edges, without reading
	// the messages that carry none). It is not a key.
	Superseding bool
	// Light leaves BodyText empty: the caller needs only the row's other fields.
	Light bool
}

// Keyed reports whether f names at least one indexed key.
func (f Filter) Keyed() bool {
	return f.Type != "" || f.Path != "" || len(f.Paths) > 0 || f.Thread != "" || f.Author != "" ||
		f.Recipient != "" || f.Link != "" || f.Body != nil
}

// Match reports whether r satisfies f (the stores' SQL, in Go: the contract suite's oracle).
func (f Filter) Match(r Row) bool {
	return (f.Type == "" || r.Type == f.Type) && (f.Path == "" || r.Path == f.Path) &&
		(len(f.Paths) == 0 || slices.Contains(f.Paths, r.Path)) &&
		(f.Thread == "" || r.Thread == f.Thread) && (f.Author == "" || r.AuthoringInstance == f.Author) &&
		(f.CanonState == "" || r.CanonState == f.CanonState) &&
		(f.Recipient == "" || slices.Contains(r.Recipients, f.Recipient)) &&
		(f.Link == "" || slices.Contains(r.Links, f.Link)) &&
		(f.Body == nil || StripBody(r.BodyText) == *f.Body) && (!f.Superseding || len(r.Supersedes) > 0)
}

// StripBody strips " \n\r\t" from both ends of s (S-52's comparison of stored bodies).
func StripBody(s string) string {
	return strings.Trim(s, " \n\r\t")
}

// ThreadGroup is one (thread, author) group of the rows with a non-empty thread (S-61): how
// many rows, and the newest one's ins_seq, path and ref. A store may leave path and ref empty
// on a group whose newest row is not its thread's newest: threads reads only the thread's.
type ThreadGroup struct {
	Thread, Author string
	Count          int
	Latest         int64
	Path, Ref      string
}
