package app

import (
	"context"
	"path"
	"sort"
	"strings"

	"github.com/stasima/stasima/pkg/commitmsg"
	"github.com/stasima/stasima/pkg/entry"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/names"
	"github.com/stasima/stasima/pkg/pytext"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/capstore/internal/gitstore"
)

// Bootstrap seeds an empty canon as its root commit (operations §4, O-bootstrap-2…6).
// It is create-only: a second run, or a run racing another, is refused.
func (a *App) Bootstrap(ctx context.Context, c schema.Bootstrap) (schema.BootstrapResult, error) {
	const op = "bootstrap"
	if _, ok, err := a.git.Resolve(a.cfg.CanonRef); err != nil {
		return schema.BootstrapResult{}, unavailable(op, err)
	} else if ok {
		return schema.BootstrapResult{}, fault.E(op, fault.Denied,
			"canon already exists at %s; change canon with propose + land", a.cfg.CanonRef)
	}
	var changes []gitstore.Change
	var paths []string
	for _, f := range c.Files {
		if !strings.HasSuffix(f.Path, ".md") {
			continue
		}
		if err := names.ValidatePath(f.Path); err != nil {
			return schema.BootstrapResult{}, err
		}
		changes = append(changes, gitstore.Change{Path: f.Path, Data: []byte(SeedText(f.Path, f.Text))})
		paths = append(paths, f.Path)
	}
	if len(changes) == 0 {
		return schema.BootstrapResult{}, fault.E(op, fault.Denied, "no .md files in seed dir %s", c.SeedDir)
	}
	res, err := a.git.Commit(ctx, gitstore.CommitRequest{
		Ref:         a.cfg.CanonRef,
		Changes:     changes,
		AuthorName:  "practitioner",
		AuthorEmail: "practitioner@stasima.local",
		Message:     commitmsg.Bootstrap(),
	})
	if fault.Is(err, fault.StaleRef) {
		return schema.BootstrapResult{}, fault.E(op, fault.Denied,
			"canon already exists at %s; change canon with propose + land", a.cfg.CanonRef)
	}
	if err != nil {
		return schema.BootstrapResult{}, err
	}
	sort.Strings(paths)
	return schema.BootstrapResult{Bootstrapped: res.OID, Entries: paths}, nil
}

// SeedText is O-bootstrap-4: plain Markdown is wrapped in a {type, title, status} envelope;
// files with front-matter are stored as read.
func SeedText(p, text string) string {
	if strings.HasPrefix(pytext.LStrip(text), "---") {
		return text
	}
	title := ""
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "# ") {
			title = pytext.Strip(line[2:])
			break
		}
	}
	if title == "" {
		stem := strings.TrimSuffix(path.Base(p), ".md")
		title = pytext.TitleCase(strings.ReplaceAll(stem, "-", " "))
	}
	typ := "kno"
	if strings.HasPrefix(p, "technical/orientation/") {
		typ = "ori"
	}
	env := &entry.Envelope{}
	env.Set("type", typ)
	env.Set("title", title)
	env.Set("status", "active")
	return entry.Compose(env, text)
}
