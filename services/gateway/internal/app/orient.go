package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/hexseq"
	"github.com/stasima/stasima/pkg/names"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/gateway/internal/toolspec"
)

type announceResult struct {
	Welcome            string  `json:"welcome"`
	Orientation        string  `json:"orientation"`
	CanonHead          *string `json:"canon_head"`
	YourPerspectiveTip *string `json:"your_perspective_tip"`
	Attention          int     `json:"practitioner_attention"`
	NameWarning        string  `json:"name_warning,omitempty"`
}

// announce is OR-1…OR-4: it reads, creates nothing, writes no audit row (T-announce-1).
func (a *App) announce(ctx context.Context, args toolspec.Args, _ Session) (any, error) {
	seat := args.String("instance_id")
	home := a.cfg.DeploymentName
	if home == "" {
		home = "Stasima"
	}
	canon, err := a.tip(ctx, a.cfg.CanonRef)
	if err != nil {
		return nil, err
	}
	own, err := a.tip(ctx, refs.Perspective(seat))
	if err != nil {
		return nil, err
	}
	orientation, err := a.orientation(ctx, canon)
	if err != nil {
		return nil, err
	}
	res := announceResult{
		Welcome:            fmt.Sprintf("Welcome to %s, %s.", home, seat),
		Orientation:        orientation,
		CanonHead:          nullable(canon),
		YourPerspectiveTip: nullable(own),
		Attention:          a.attention(ctx), // T-common-20
	}
	ps, err := a.perspectives(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		other, _ := refs.SeatOf(p.Name)
		if other != seat && names.FoldEqual(other, seat) {
			// OR-3.
			res.NameWarning = fmt.Sprintf("A perspective named %q already exists; the claimed name %q differs from it only by case. "+
				"Writing under %q would fork the seat's identity and will be refused — use %q.", other, seat, seat, other)
			break
		}
	}
	return res, nil
}

var orientationSlots = []string{"welcome", "orientation", "syntax", "conduct", "claims", "community"}

// orientation renders OR-5…OR-10 from canon at oid (empty: no canon, every slot unauthored).
func (a *App) orientation(ctx context.Context, canon string) (string, error) {
	heading := "# Stasima — how this works"
	if a.cfg.DeploymentName != "" {
		heading = "# " + a.cfg.DeploymentName + " — a Stasima deployment — how this works"
	}
	parts := []string{heading + "\n\n" + preamble}
	for _, s := range orientationSlots {
		body := ""
		if canon != "" {
			var err error
			if body, err = a.slotBody(ctx, canon, a.cfg.OrientationBase+"/"+s+".md"); err != nil {
				return "", err
			}
		}
		title := strings.ToUpper(s[:1]) + s[1:]
		if body == "" {
			body = fmt.Sprintf("_(This deployment has not authored its '%s' orientation yet.)_", s)
		}
		parts = append(parts, "## "+title+"\n\n"+body)
	}
	return strings.Join(parts, "\n\n"), nil
}

// slotBody follows supersession on canon (OR-6); "" means unauthored.
func (a *App) slotBody(ctx context.Context, canon, path string) (string, error) {
	body := ""
	for i := 0; i < 10; i++ {
		var ans schema.BlobAnswer
		if err := a.be.Query(ctx, bus.Capstore, schema.QReadBlob, schema.BlobQuery{OID: canon, Path: path}, &ans); err != nil {
			return "", err
		}
		if !ans.Found {
			return "", nil
		}
		env, b := parseEntry(ans.Data)
		body = b
		succ := env.List("superseded_by")
		if env.Str("status") != "superseded" || len(succ) == 0 {
			break
		}
		next := names.Normalize(succ[0])
		if next == path {
			break
		}
		path = next
	}
	return body, nil
}

type canonStateResult struct {
	CanonTip  *string         `json:"canon_tip"`
	Seq       string          `json:"seq"`
	Display   string          `json:"display"`
	NextSeq   string          `json:"next_seq"`
	Attention int             `json:"practitioner_attention"`
	Entries   json.RawMessage `json:"entries"` // every canon path (T-canon_state), as capstore encoded it
	Lands     []landItem      `json:"lands"`
	// Checkpoint is the audit log's latest signed checkpoint (a C2SP tlog-checkpoint note),
	// null when the log has no key: a Go extension after 0.1.5's fields (README deviations).
	Checkpoint *string `json:"checkpoint"`
}

type landItem struct {
	OID string `json:"oid"`
	TS  string `json:"ts"`
	By  string `json:"by"`
	Seq string `json:"seq"`
}

func (a *App) canonState(ctx context.Context, _ toolspec.Args, _ Session) (any, error) {
	canon, err := a.tip(ctx, a.cfg.CanonRef)
	if err != nil {
		return nil, err
	}
	var seq schema.CanonSeqAnswer
	if err := a.be.Query(ctx, bus.Capstore, schema.QCanonSeq, nil, &seq); err != nil {
		return nil, err
	}
	canon, entries, err := a.canonEntries(ctx, canon)
	if err != nil {
		return nil, err
	}
	op := "land_merge"
	// The ten newest lands, read newest first so the answer stays one small page.
	rows, err := busclient.AuditEvents(ctx, a.be, schema.AuditFilter{Op: &op, Desc: true}, 10)
	if err != nil {
		return nil, err
	}
	slices.Reverse(rows)
	lands := []landItem{}
	for _, r := range rows {
		var d struct {
			Seq any `json:"seq"`
		}
		_ = json.Unmarshal(r.Detail, &d)
		lands = append(lands, landItem{OID: deref(r.ResultOID), TS: deref(r.TS), By: deref(r.Actor), Seq: fmt.Sprint(d.Seq)})
	}
	var cp schema.TlogCheckpoint
	if err := a.be.Query(ctx, bus.Audit, schema.QAuditCheckpoint, nil, &cp); err != nil && !fault.Is(err, fault.Denied) {
		return nil, err
	}
	return canonStateResult{
		Checkpoint: nullable(cp.Note),
		CanonTip:   nullable(canon),
		Seq:        hexseq.Format(seq.Seq),
		Display:    hexseq.Display(seq.Seq),
		NextSeq:    hexseq.Next(seq.Seq),
		Attention:  a.attention(ctx), // T-common-20
		Entries:    entries,
		Lands:      lands,
	}, nil
}

// canonListing is the last canon path list canon_state answered, encoded, with the commit it
// lists: canon moves only at a land, so at 100k entries most calls skip capstore's tree walk and
// the 2.5 MB transfer (issue 15). It is a cache of git, lost with the process (ARCH-5).
type canonListing struct {
	mu      sync.Mutex
	oid     string
	entries json.RawMessage
}

// canonEntries returns canon's commit and its encoded path list: the kept list when tip is the
// commit it lists, else capstore's, which then replaces it. The commit returned is the one
// listed, so canon_tip and entries always describe one commit even when a land happens between
// resolving tip and listing.
func (a *App) canonEntries(ctx context.Context, tip string) (string, json.RawMessage, error) {
	l := &a.canonList
	l.mu.Lock()
	oid, entries := l.oid, l.entries
	l.mu.Unlock()
	if tip != "" && tip == oid {
		return oid, entries, nil
	}
	var paths schema.ListPathsRawAnswer
	if err := a.be.Query(ctx, bus.Capstore, schema.QListPaths, schema.RefQuery{Ref: a.cfg.CanonRef}, &paths); err != nil {
		return "", nil, err
	}
	entries, err := passOnPaths(paths.Paths)
	if err != nil {
		return "", nil, err
	}
	if !paths.RefFound || paths.OID == "" {
		return tip, entries, nil // no canon yet, or a capstore that does not name the commit
	}
	l.mu.Lock()
	l.oid, l.entries = paths.OID, entries
	l.mu.Unlock()
	return paths.OID, entries, nil
}

// passOnPaths returns capstore's encoded path list as canon_state writes it: unchanged when it
// holds no escape (json.Marshal and the unescaped T-common-4 encoder then write the same bytes),
// else decoded and encoded the T-common-4 way, so <, > and & stay literal (issue 15: at 100k
// entries the decode and encode were most of the answer's CPU).
func passOnPaths(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) > 0 && bytes.IndexByte(raw, '\\') < 0 {
		return raw, nil
	}
	var paths []string
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &paths); err != nil {
			return nil, fault.Wrap("canon_state", fault.Internal, err, "undecodable path list")
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(paths); err != nil {
		return nil, fault.Wrap("canon_state", fault.Internal, err, "encode path list")
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

type whoamiResult struct {
	InstanceID     string         `json:"instance_id"`
	PerspectiveRef string         `json:"perspective_ref"`
	Namespace      string         `json:"namespace"`
	AllowedOps     []string       `json:"allowed_ops"`
	Note           string         `json:"note"`
	SessionBinding sessionBinding `json:"session_binding"`
}

type sessionBinding struct {
	Mode          string  `json:"mode"`
	BoundInstance *string `json:"bound_instance"`
	Source        *string `json:"source"`
	Match         *bool   `json:"match"`
	Port          *string `json:"port,omitempty"`
}

// whoami is T-whoami-1: it reports the binding of the calling session (I-17) and binds nothing.
func (a *App) whoami(_ context.Context, args toolspec.Args, s Session) (any, error) {
	seat := args.String("instance_id")
	return whoamiResult{
		InstanceID:     seat,
		PerspectiveRef: refs.Perspective(seat),
		Namespace:      "perspectives/" + seat,
		AllowedOps:     []string{"kip_commit", "propose", "imp_send", "vap_record"},
		Note: "Identity is a recorded name: it rides every write as provenance (commit author, instance-id trailer). " +
			"The session binding guards writes against a second name on one session: in strict mode a write under another name is refused, " +
			"in witness mode it proceeds stamped authored_via, and off is the server-owned downgrade (no tool parameter changes the mode).",
		SessionBinding: a.bindingBlock(seat, s),
	}, nil
}

type listInstancesResult struct {
	Instances        []string        `json:"instances"`
	CurrentWithCanon map[string]bool `json:"current_with_canon"`
}

func (a *App) listInstances(ctx context.Context, _ toolspec.Args, _ Session) (any, error) {
	ps, err := a.perspectives(ctx)
	if err != nil {
		return nil, err
	}
	canon, err := a.tip(ctx, a.cfg.CanonRef)
	if err != nil {
		return nil, err
	}
	res := listInstancesResult{Instances: []string{}, CurrentWithCanon: map[string]bool{}}
	for _, p := range ps {
		seat, _ := refs.SeatOf(p.Name)
		res.Instances = append(res.Instances, seat)
		cur, err := a.cursor(ctx, seat)
		if err != nil {
			return nil, err
		}
		res.CurrentWithCanon[seat] = cur == canon // null == null counts as current
	}
	return res, nil
}

const preamble = `You are one of several seats contributing to a shared, durable body of knowledge kept in git and tended by one human practitioner.

There are two layers. Your perspective is your own append-only branch: write to it freely. Canon is the shared tree; only the practitioner lands content into it. Perspectives are expected to diverge; canon is where the practice agrees.

Provenance: your name rides every entry you write, as a claim, not a proof. Entries are never edited: to revise, author a new entry that supersedes the old one, then retire the old edition with the same body and status superseded.

The tools: orient with announce, whoami and canon_state. Author with kip_commit. Read your own trail with list_entries(ref=<your name>) and kip_history. Find with map_search (scopes canon, mine and all; every hit is attributed), kip_get and list_entries. Move toward canon with propose, then follow it with list_proposals and conflict_preview: a proposal carries exactly one log entry meta/log/<seq>.md of type log, numbered canon's seq + 1 (next_seq in canon_state). Reach other seats with imp_send; read with imp_check and imp_flags — messages are pulled, not pushed.

Nothing is pushed to you: ask when you need to know. The sections below are this deployment's own.`

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
