package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/entry"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/hexseq"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/airlock"
)

// withBackend runs fn against the deployment of cfg's data dir: the running one, or an
// in-process one started for the call.
func withBackend(ctx context.Context, cfg Config, fn func(*busclient.Client) (any, error)) (any, error) {
	subj, err := bus.NewSubjects(cfg.BusPrefix)
	if err != nil {
		return nil, err
	}
	var nc *nats.Conn
	if cfg.NATSURL != "" {
		auth, err := busAuth(cfg.NATSCreds, "admin")
		if err != nil {
			return nil, err
		}
		if nc, err = nats.Connect(cfg.NATSURL, append(append(busOptions(subj, bus.UserAdmin), auth...), nats.Name("stasima-admin"))...); err != nil {
			return nil, fmt.Errorf("connect bus %s: %w", cfg.NATSURL, err)
		}
	} else if lock, free, err := acquireLock(cfg.DataDir); err != nil {
		return nil, err
	} else if free {
		// Offline: nobody serves this data dir; run the backend here, under the lock.
		lock.Close()
		n, err := startNode(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nodeOptions{})
		if err != nil {
			return nil, err
		}
		defer n.stop(context.Background())
		u := n.creds["admin"]
		if nc, err = nats.Connect(n.nc.ConnectedUrl(), append(busOptions(subj, bus.UserAdmin), nats.Name("stasima-admin"), nats.UserInfo(u.Name, u.Password))...); err != nil {
			return nil, err
		}
	} else {
		rec, err := readBusRecord(filepath.Join(cfg.DataDir, busFile))
		if err != nil {
			return nil, fmt.Errorf("a stasima process holds %s but its bus address is unreadable: %w", cfg.DataDir, err)
		}
		opts := append(busOptions(subj, bus.UserAdmin), nats.Name("stasima-admin"))
		if rec.User != "" {
			opts = append(opts, nats.UserInfo(rec.User, rec.Password))
		}
		if nc, err = nats.Connect(rec.URL, opts...); err != nil {
			return nil, fmt.Errorf("connect bus %s: %w", rec.URL, err)
		}
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	// CLI rows (inbox --read, binding --clear) are the act: Await must really wait (ARCH-6).
	c := busclient.New(nc, js, subj, "admin", 60*time.Second).WithAuditBarrier(cfg.AuditBarrier, nil)
	if err := c.Start(); err != nil {
		return nil, err
	}
	defer c.Stop()
	return fn(c)
}

type statusResult struct {
	CanonHead          *string                `json:"canon_head"`
	CanonSeq           string                 `json:"canon_seq"`
	Perspectives       []string               `json:"perspectives"`
	Proposals          []string               `json:"proposals"`
	Staged             []schema.AirlockStaged `json:"staged"`
	PractitionerUnread int                    `json:"practitioner_unread"`
	AuditEvents        int64                  `json:"audit_events"`
	AuditVerifyOK      bool                   `json:"audit_verify_ok"`
	AuditVsAnchor      *bool                  `json:"audit_vs_anchor"`
	// AirlockLockedUntil is set while the failure budget's lock holds (RFC 3339, UTC).
	AirlockLockedUntil *string `json:"airlock_locked_until,omitempty"`
}

// adminStatus is O-status-1: canon, refs, the airlock's staged proposals (A-60; asking may
// expire a stage, A-13), the practitioner's unread count and the audit chain.
func adminStatus(ctx context.Context, c *busclient.Client, cfg Config) (any, error) {
	var canon schema.RefAnswer
	if err := c.Query(ctx, bus.Capstore, schema.QResolveRef, schema.RefQuery{Ref: cfg.CanonRef}, &canon); err != nil {
		return nil, err
	}
	var seq schema.CanonSeqAnswer
	if err := c.Query(ctx, bus.Capstore, schema.QCanonSeq, nil, &seq); err != nil {
		return nil, err
	}
	list := func(prefix string) ([]string, error) {
		var ans schema.ListRefsAnswer
		if err := c.Query(ctx, bus.Capstore, schema.QListRefs, schema.ListRefsQuery{Prefix: prefix}, &ans); err != nil {
			return nil, err
		}
		out := []string{}
		for _, r := range ans.Refs {
			out = append(out, strings.TrimPrefix(r.Name, prefix))
		}
		return out, nil
	}
	ps, err := list(refs.PerspectivePrefix)
	if err != nil {
		return nil, err
	}
	props, err := list(refs.ProposalPrefix)
	if err != nil {
		return nil, err
	}
	res := statusResult{CanonSeq: hexseq.Display(seq.Seq), Perspectives: ps, Proposals: props}
	if canon.OID != "" {
		res.CanonHead = &canon.OID
	}
	var staged schema.AirlockStagedList
	if err := c.Query(ctx, bus.Airlock, schema.QAirlockStaged, nil, &staged); err != nil {
		return nil, err
	}
	res.Staged = append([]schema.AirlockStaged{}, staged.Staged...)
	var au schema.AuditStatus
	if err := c.Query(ctx, bus.Audit, schema.QAuditStatus, nil, &au); err != nil {
		return nil, err
	}
	res.AuditEvents, res.AuditVerifyOK, res.AuditVsAnchor = au.Events, au.VerifyOK, au.AuditVsAnchor
	if res.PractitionerUnread, err = practitionerUnread(ctx, c); err != nil {
		return nil, err
	}
	if res.AirlockLockedUntil, err = airlockLockedUntil(ctx, c, time.Now()); err != nil {
		return nil, err
	}
	return res, nil
}

// adminBootstrap seeds canon, waits for the index barrier (the indexer rebuilds the whole index
// on git.bootstrap) and reports the number of rows the rebuilt index holds (O-bootstrap-6).
func adminBootstrap(ctx context.Context, c *busclient.Client, cfg Config, dir string, files []schema.SeedFile) (any, error) {
	var res schema.BootstrapResult
	err := c.WithIndexBarrier(cfg.IndexBarrier).Do(ctx, busclient.Command{Svc: bus.Capstore, Verb: schema.CmdBootstrap, OpID: "bootstrap",
		Data: schema.Bootstrap{Actor: schema.Actor{Seat: "practitioner"}, SeedDir: dir, Files: files}}, &res)
	if err != nil {
		return res, err
	}
	var ps schema.ListRefsAnswer
	if err := c.Query(ctx, bus.Capstore, schema.QListRefs, schema.ListRefsQuery{Prefix: refs.PerspectivePrefix}, &ps); err != nil {
		return nil, err
	}
	indexed := []string{cfg.CanonRef}
	for _, r := range ps.Refs {
		indexed = append(indexed, r.Name)
	}
	for _, ref := range indexed {
		var env map[string]json.RawMessage
		if err := c.Query(ctx, bus.Index, schema.QIndexEnvelopesFor, schema.RefQuery{Ref: ref}, &env); err != nil {
			return nil, err
		}
		res.Indexed += len(env)
	}
	return res, nil
}

// airlockLockedUntil reads the failure budget's lock from the audit log: the newest
// airlock_locked row holds until its detail.until unless an airlock_unlocked row follows it.
func airlockLockedUntil(ctx context.Context, c *busclient.Client, now time.Time) (*string, error) {
	latest := func(op string) (*schema.AuditRow, error) {
		var ans schema.AuditLatest
		err := c.Query(ctx, bus.Audit, schema.QAuditLatest, schema.AuditFilter{Op: &op}, &ans)
		return ans.Row, err
	}
	locked, err := latest(airlock.OpLocked)
	if err != nil || locked == nil {
		return nil, err
	}
	unlocked, err := latest(airlock.OpUnlocked)
	if err != nil || unlocked != nil && unlocked.Seq > locked.Seq {
		return nil, err
	}
	var d struct {
		Until float64 `json:"until"`
	}
	if json.Unmarshal(locked.Detail, &d) != nil || float64(now.Unix()) >= d.Until {
		return nil, nil
	}
	until := time.Unix(int64(d.Until), 0).UTC().Format(time.RFC3339)
	return &until, nil
}

// readSeed is O-bootstrap-3: every .md file under dir, per directory in sorted order, read as
// UTF-8 with universal newlines; a file that is not UTF-8 fails the whole bootstrap.
func readSeed(dir string) ([]schema.SeedFile, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("seed dir %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("seed dir %s is not a directory", dir)
	}
	var files []schema.SeedFile
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".md") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if !utf8.Valid(b) {
			return fmt.Errorf("seed file %s is not valid UTF-8; nothing was written", rel)
		}
		text := strings.ReplaceAll(strings.ReplaceAll(string(b), "\r\n", "\n"), "\r", "\n")
		files = append(files, schema.SeedFile{Path: filepath.ToSlash(rel), Text: text})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, errors.New("no .md files in seed dir " + dir + "; nothing was written")
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

// adminPreview is O-preview-1.
func adminPreview(ctx context.Context, c *busclient.Client, id string) (any, error) {
	var pv schema.Preview
	if err := c.Query(ctx, bus.Capstore, schema.QPreviewMerge, schema.ProposalQuery{ProposalID: id}, &pv); err != nil {
		return nil, err
	}
	return struct {
		Conflicts        []string `json:"conflicts"`
		Authors          []string `json:"authors"`
		Adds             []string `json:"adds"`
		Removes          []string `json:"removes"`
		Modifies         []string `json:"modifies"`
		WouldRemoveCanon []string `json:"would_remove_canon"`
		LogEntries       []string `json:"log_entries"`
		LogEntryOK       bool     `json:"log_entry_ok"`
		ExpectedSeq      string   `json:"expected_seq"`
	}{pv.Conflicts, pv.Authors, pv.Adds, pv.Removes, pv.Modifies, pv.Removes, pv.LogEntries, len(pv.LogEntries) == 1, pv.ExpectedSeq}, nil
}

// landRefusal gives console refusals their O-land-2/O-land-3 prefixes.
func landRefusal(err error) error {
	switch fault.ClassOf(err) {
	case fault.MergeConflict:
		return fmt.Errorf("conflict — not landing: %w", err)
	case fault.CanonAppendOnly:
		return fmt.Errorf("append-only — not landing: %w", err)
	case fault.ValidationError:
		return fmt.Errorf("not landing: %w", err)
	}
	if err == nil {
		return nil
	}
	return err
}

func ulidString() string { return ulid.Make().String() }

// watch is O-watch-1: follow airlock and land events, one entry each, until interrupted. A
// staged proposal shows its changed paths and log narrative, read from the staged candidate.
// It writes nothing.
func watch(ctx context.Context, c *busclient.Client, cfg Config, asJSON bool, out io.Writer) error {
	subj, err := bus.NewSubjects(cfg.BusPrefix)
	if err != nil {
		return err
	}
	return c.Watch(ctx, []string{subj.Event("airlock.>"), subj.Event(schema.EvtGitLand)}, func(env bus.Envelope) {
		if asJSON {
			b, _ := json.Marshal(env)
			fmt.Fprintln(out, string(b))
			return
		}
		fmt.Fprint(out, watchLine(ctx, c, env))
	})
}

// watchLine renders one event for the practitioner.
func watchLine(ctx context.Context, c *busclient.Client, env bus.Envelope) string {
	var d map[string]any
	_ = json.Unmarshal(env.Data, &d)
	str := func(k string) string { s, _ := d[k].(string); return s }
	oid8 := func(k string) string {
		if s := str(k); len(s) > 8 {
			return s[:8]
		}
		return str(k)
	}
	when := func(k string) string {
		if f, ok := d[k].(float64); ok {
			return time.Unix(int64(f), 0).UTC().Format(time.RFC3339)
		}
		return fmt.Sprint(d[k])
	}
	switch env.Type {
	case "airlock.staged":
		var b strings.Builder
		fmt.Fprintf(&b, "staged   %s  %s  lands after %s  expires %s\n", str("proposal_id"), oid8("staged_oid"), when("lands_after"), when("expires_at"))
		if paths, ok := d["changed_paths"].([]any); ok {
			for _, p := range paths {
				fmt.Fprintf(&b, "         %v\n", p)
			}
		}
		if seq := str("log_seq"); seq != "" {
			var blob schema.BlobAnswer
			if err := c.Query(ctx, bus.Capstore, schema.QReadBlob, schema.BlobQuery{OID: str("staged_oid"), Path: "meta/log/" + seq + ".md"}, &blob); err == nil && blob.Found {
				_, body := entry.Parse(string(blob.Data))
				for _, line := range strings.Split(body, "\n") {
					fmt.Fprintf(&b, "       > %s\n", line)
				}
			}
		}
		return b.String()
	case "airlock.reverted":
		return fmt.Sprintf("reverted %s  (%s)\n", str("proposal_id"), str("reason"))
	case "airlock.landed":
		return fmt.Sprintf("landed   %s  %s  seq %s\n", str("proposal_id"), oid8("landed"), str("seq"))
	case airlock.EvtLocked:
		return fmt.Sprintf("LOCKED   the airlock refuses every code until %s: %v wrong codes used up the failure budget "+
			"(stasima admin land still works)\n", when("until"), d["failures"])
	case airlock.EvtUnlocked:
		return fmt.Sprintf("unlocked the airlock's failure-budget lock ended at %s\n", when("until"))
	case schema.EvtGitLand:
		n, _ := hexseq.Parse(str("seq"))
		return fmt.Sprintf("land     %s  %s  by %s\n", hexseq.Display(n), oid8("oid"), str("approved_by"))
	}
	return env.Type + "\n"
}

// needDeployment refuses an admin command when cfg names no local deployment: neither its
// repository nor a data dir a process has held exists. Only bootstrap (and up, and restore,
// which rebuilds one from a backup) may create a deployment, so a mistyped --config, --data or
// working directory never leaves a new empty one behind. Over an external bus the services own
// their storage and nothing is checked here.
func needDeployment(cfg Config) error {
	if cfg.NATSURL != "" {
		return nil
	}
	if _, err := os.Stat(cfg.GitDir); err == nil {
		return nil
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, lockFile)); err == nil {
		return nil
	}
	return fmt.Errorf("no deployment at %s (data dir %s): create one with `stasima admin bootstrap <seed-dir>` or `stasima up`, "+
		"or name the existing one with --config <file> (relative paths in it resolve against its directory) or --data <dir>", cfg.GitDir, cfg.DataDir)
}
