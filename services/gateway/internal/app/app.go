// Package app implements the agent tools of the gateway: argument-level rules (validation, lanes,
// tick and thread forms, caps), then queries and commands to the owning services. The gateway
// is stateless (ARCH-5): every answer comes from capstore, audit or the indexer.
package app

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/pkg/telemetry"
	"github.com/stasima/stasima/services/gateway/internal/toolspec"
)

// Backend is the bus as the tools use it.
type Backend interface {
	Do(ctx context.Context, cmd busclient.Command, result any) error
	Query(ctx context.Context, svc, name string, req, result any) error
	PublishIntents(ctx context.Context, intents []schema.AuditIntent) error
	Await(ctx context.Context, ids []string)
}

// Config is what the tools need of the gateway's configuration.
type Config struct {
	DeploymentName  string
	CanonRef        string
	OrientationBase string
	MaxBodyBytes    int
	Approvers       []string
	Committer       string // capstore's committer name ("" = names.DefaultCommitter), reserved (C-names-3)
	// Session binding (identity.md §1): mode strict|witness|off ("" = strict), the pinned seat
	// (STASIMA_INSTANCE), the port token (STASIMA_PORT) and the REST session idle expiry (I-24).
	BindingMode     string
	PinnedInstance  string
	Port            string
	RESTSessionIdle time.Duration
}

// Session identifies the transport session of a call. Key is the binding key ("mcp:<id>",
// "rest:<token>", "" for none); ID is its audit session tag (SessionTag, I-30), which is what
// crosses the bus.
type Session struct {
	ID        string
	Transport string // "mcp" or "rest"
	Key       string
	// Addr is the client's network address (host, no port) as the listener saw it; the
	// airlock's relay rate limit keys on it as well as on the session. Empty over stdio.
	Addr string
}

// App runs tools.
type App struct {
	be    Backend
	cfg   Config
	log   *slog.Logger
	tools map[string]handler
	bind  *binder
	// canonList keeps canon_state's last path list (issue 15).
	canonList canonListing
	tel       *telemetry.Telemetry // tool call metrics and spans (nil: none)
}

type handler func(ctx context.Context, a toolspec.Args, s Session) (any, error)

// New assembles the tool set.
func New(be Backend, cfg Config, log *slog.Logger) *App {
	if cfg.CanonRef == "" {
		cfg.CanonRef = refs.DefaultCanon
	}
	if cfg.OrientationBase == "" {
		cfg.OrientationBase = "technical/orientation"
	}
	a := &App{be: be, cfg: cfg, log: log, bind: newBinder(cfg)}
	a.tools = map[string]handler{
		"announce":         a.announce,
		"whoami":           a.whoami,
		"canon_state":      a.canonState,
		"list_instances":   a.listInstances,
		"kip_commit":       a.kipCommit,
		"kip_get":          a.kipGet,
		"list_entries":     a.listEntries,
		"kip_history":      a.kipHistory,
		"propose":          a.propose,
		"propose_retract":  a.proposeRetract,
		"propose_close":    a.proposeClose,
		"canon_diff":       a.canonDiff,
		"sup_reconcile":    a.supReconcile,
		"sup_state":        a.supState,
		"conflict_preview": a.conflictPreview,
		"list_proposals":   a.listProposals,
		"map_search":       a.mapSearch,
		"stage_approve":    a.stageApprove,
		"land_approve":     a.landApprove,
		"stage_revert":     a.stageRevert,
		"vap_record":       a.vapRecord,
		"vap_for":          a.vapFor,
		"thread_scry":      a.threadScry,
		"arg_scry":         a.argScry,
		"perf_scry":        a.perfScry,
		"imp_send":         a.impSend,
		"imp_check":        a.impCheck,
		"imp_flags":        a.impFlags,
		"imp_mark_read":    a.impMarkRead,
	}
	return a
}

// Call runs one decoded tool call. A tool of the contract that this build does not serve yet
// refuses clearly rather than pretending.
func (a *App) Call(ctx context.Context, tool string, args toolspec.Args, s Session) (res any, err error) {
	h, ok := a.tools[tool]
	if ok {
		// Only served tools are labelled, so a REST path cannot mint metric series.
		var done func(error)
		ctx, done = a.tel.Tool(ctx, tool)
		defer func() { done(err) }()
	}
	if !ok {
		return nil, fault.E(tool, fault.BackendUnavailable,
			"tool %s is part of the contract but is not served by this build yet; the call did NOT complete", tool)
	}
	if err := a.restGate(tool, s); err != nil {
		return nil, err
	}
	return h(ctx, args, s)
}

// Ready reports whether the bus and capstore answer.
func (a *App) Ready(ctx context.Context) error {
	return a.be.Query(ctx, bus.Capstore, schema.QPing, nil, nil)
}

// resolveRef is C-refs-3.
func (a *App) resolveRef(value string) string { return refs.Resolve(a.cfg.CanonRef, value) }

func (a *App) tip(ctx context.Context, ref string) (string, error) {
	var ans schema.RefAnswer
	if err := a.be.Query(ctx, bus.Capstore, schema.QResolveRef, schema.RefQuery{Ref: ref}, &ans); err != nil {
		return "", err
	}
	return ans.OID, nil
}

func (a *App) readBlob(ctx context.Context, ref, path string) (schema.BlobAnswer, error) {
	var ans schema.BlobAnswer
	err := a.be.Query(ctx, bus.Capstore, schema.QReadBlob, schema.BlobQuery{Ref: ref, Path: path}, &ans)
	return ans, err
}

// blobBatch is the paths of one read_blobs request of the gateway (at most
// schema.MaxReadBlobsPaths).
const blobBatch = 512

// readBlobs reads paths at commit through read_blobs, blobBatch paths a request, and returns
// their answers in paths order: a pull of a whole canon is hundreds of requests, not one per
// path (issue 15). A request answered in part (its byte bound) is asked again for the rest.
func (a *App) readBlobs(ctx context.Context, commit string, paths []string) ([]schema.PathBlob, error) {
	out := make([]schema.PathBlob, 0, len(paths))
	for len(out) < len(paths) {
		ask := paths[len(out):min(len(paths), len(out)+blobBatch)]
		var ans schema.BlobsAnswer
		if err := a.be.Query(ctx, bus.Capstore, schema.QReadBlobs, schema.BlobsQuery{OID: commit, Paths: ask}, &ans); err != nil {
			return nil, err
		}
		if len(ans.Blobs) == 0 || len(ans.Blobs) > len(ask) {
			return nil, fault.E("read_blobs", fault.BackendUnavailable, "read_blobs answered %d of %d paths", len(ans.Blobs), len(ask))
		}
		for i, b := range ans.Blobs {
			if b.Path != ask[i] {
				return nil, fault.E("read_blobs", fault.BackendUnavailable, "read_blobs answered %q for %q", b.Path, ask[i])
			}
		}
		out = append(out, ans.Blobs...)
	}
	return out, nil
}

func (a *App) perspectives(ctx context.Context) ([]schema.RefEntry, error) {
	var ans schema.ListRefsAnswer
	if err := a.be.Query(ctx, bus.Capstore, schema.QListRefs, schema.ListRefsQuery{Prefix: refs.PerspectivePrefix}, &ans); err != nil {
		return nil, err
	}
	return ans.Refs, nil
}

// nullable renders "" as JSON null.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// text decodes blob bytes with replacement characters (T-kip_get-4, D-29).
func text(b []byte) string { return strings.ToValidUTF8(string(b), "\uFFFD") }

func command(svc, verb, id, opID, session string, data any) busclient.Command {
	return busclient.Command{Svc: svc, Verb: verb, ID: id, OpID: opID, Session: session, Data: data}
}

// deny appends a gateway-side refusal row (U-21, e.g. the authz denial A1), waits for it on the
// audit barrier, and returns the refusal.
func (a *App) deny(ctx context.Context, s Session, in schema.AuditIntent, err error) error {
	in.ID = "gw/" + ulid.Make().String()
	in.Outcome = "denied"
	in.Session = s.ID
	if perr := a.be.PublishIntents(ctx, []schema.AuditIntent{in}); perr != nil {
		a.log.Error("audit intent publish failed", "op", in.Op, "err", perr)
		return err
	}
	a.be.Await(ctx, []string{in.ID})
	return err
}

// cursor is T-common-15: the result_oid of the seat's latest canon_pull row, or "".
func (a *App) cursor(ctx context.Context, seat string) (string, error) {
	var ans schema.AuditLatest
	op := "canon_pull"
	if err := a.be.Query(ctx, bus.Audit, schema.QAuditLatest, schema.AuditFilter{Op: &op, Actor: &seat, NoDetail: true}, &ans); err != nil {
		return "", err
	}
	if ans.Row == nil || ans.Row.ResultOID == nil {
		return "", nil
	}
	return *ans.Row.ResultOID, nil
}

func newID() string { return ulid.Make().String() }
