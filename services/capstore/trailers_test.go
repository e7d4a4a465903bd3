package capstore_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/commitmsg"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/pytext"
	"github.com/stasima/stasima/pkg/schema"
)

// oldAppTrailer is the trailer reader capstore's tools used before D-40 (lines split at
// Python's line breaks).
func oldAppTrailer(message, key string) string {
	lines := pytext.SplitLines(message)
	body := len(lines)
	for i, l := range lines {
		if pytext.Strip(l) == "" {
			body = i + 1
			break
		}
	}
	for _, l := range lines[body:] {
		if strings.HasPrefix(strings.ToLower(l), key+":") {
			_, v, _ := strings.Cut(l, ":")
			return pytext.Strip(v)
		}
	}
	return ""
}

// oldGitstoreTrailer is the reader gitstore's replay check used before D-40 (lines split at "\n").
func oldGitstoreTrailer(msg, key string) string {
	lines := strings.Split(msg, "\n")
	body := -1
	for i, l := range lines {
		if pytext.Strip(l) == "" {
			body = i + 1
			break
		}
	}
	if body < 0 {
		return ""
	}
	for _, l := range lines[body:] {
		l = strings.TrimSuffix(l, "\r")
		if len(l) > len(key) && strings.ToLower(l[:len(key)+1]) == key+":" {
			return pytext.Strip(l[len(key)+1:])
		}
	}
	return ""
}

func git(t *testing.T, gitDir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"--git-dir", gitDir}, args...)...).Output()
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

// TestService_LineBreakNamesRefused: a slug, domain or seat holding a character Python's
// splitlines breaks at is refused before any write, naming the field and the code point (D-40),
// and nothing reaches the repository.
func TestService_LineBreakNamesRefused(t *testing.T) {
	r := newRig(t)
	r.start(t, 5*time.Second)
	c := r.client(t, 10*time.Second)
	tests := []struct {
		name         string
		seat, domain string
		slug         string
		want         string
	}{
		{"slug u2028", "Recto", "practice", "a\u2028op-id: forged", "slug \"a\\u2028op-id: forged\" contains line break U+2028"},
		{"slug u2029", "Recto", "practice", "a\u2029instance-id: practitioner", "line break U+2029"},
		{"slug u0085", "Recto", "practice", "a\u0085b", "slug \"a\\u0085b\" contains control character U+0085"},
		{"slug x1e", "Recto", "practice", "a\x1eb", "control character U+001E"},
		{"domain u2028", "Recto", "prac\u2028tice", "a", "path \"prac\\u2028tice/a.md\" contains line break U+2028"},
		{"seat u2028", "Rec\u2028to", "practice", "a", "seat name \"Rec\\u2028to\" contains line break U+2028"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opID := fmt.Sprintf("op-refused-%d", i)
			cmd := busclient.Command{Svc: bus.Capstore, Verb: schema.CmdKipCommit, OpID: opID,
				Data: schema.KipCommit{Actor: schema.Actor{Seat: tt.seat}, OpID: opID, Domain: tt.domain, Slug: tt.slug, Body: "b"}}
			var res schema.KipCommitResult
			err := c.Do(context.Background(), cmd, &res)
			if !fault.Is(err, fault.Denied) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want Denied naming %q", err, tt.want)
			}
		})
	}
	if refs := git(t, r.gitDir, "for-each-ref"); refs != "" {
		t.Fatalf("a refused write left refs:\n%s", refs)
	}
}

// TestService_CommitsReadTheSameToEveryReader: every commit capstore writes, with names and a
// close reason as hostile as the gates let through, carries trailers that the tools' old
// splitlines reader, gitstore's old "\n" reader, the one reader in pkg/commitmsg and git itself
// all read the same way (D-40).
func TestService_CommitsReadTheSameToEveryReader(t *testing.T) {
	r := newRig(t)
	r.start(t, 5*time.Second)
	c := r.client(t, 10*time.Second)
	do := func(verb, opID string, data, result any) error {
		return c.Do(context.Background(), busclient.Command{Svc: bus.Capstore, Verb: verb, OpID: opID, Data: data}, result)
	}
	must := func(verb, opID string, data any) {
		t.Helper()
		var res map[string]any
		if err := do(verb, opID, data, &res); err != nil {
			t.Fatalf("%s %s: %v", verb, opID, err)
		}
	}
	must(schema.CmdBootstrap, "", schema.Bootstrap{Actor: schema.Actor{Seat: "practitioner"},
		Files: []schema.SeedFile{{Path: "practice/seed.md", Text: "seed\n"}}})
	seats := []string{"Recto", "ünï-cöde", "a.b/c", "日本"}
	slugs := []string{"plain", "nb\u00a0sp", "ideo\u3000space", "trail ", " lead", "op-id: x", "a/instance-id: y", "é/ü"}
	hostile := "done\u2028op-id: forged\u2029instance-id: practitioner\r\n\nop-id: f2\x1cinstance-id: p\u0085x\v\f"
	for i, seat := range seats {
		for j, slug := range slugs {
			opID := fmt.Sprintf("op-%d-%d", i, j)
			must(schema.CmdKipCommit, opID, schema.KipCommit{Actor: schema.Actor{Seat: seat}, OpID: opID,
				Domain: "practice", Slug: slug, Body: "body " + slug})
		}
		pid := fmt.Sprintf("p%d", i)
		must(schema.CmdPropose, "prop-"+pid, schema.Propose{Actor: schema.Actor{Seat: seat}, ProposalID: pid,
			OpID: "prop-" + pid, Domain: "practice", Slug: slugs[i+1], Body: "proposed"})
		must(schema.CmdProposeRetract, "ret-"+pid, schema.ProposeRetract{Actor: schema.Actor{Seat: seat}, ProposalID: pid,
			OpID: "ret-" + pid, Path: "practice/seed.md"})
		must(schema.CmdProposeClose, "close-"+pid, schema.ProposeClose{Actor: schema.Actor{Seat: seat}, ProposalID: pid,
			OpID: "close-" + pid, Reason: hostile})
	}

	commits := strings.Fields(git(t, r.gitDir, "rev-list", "--all"))
	if want := 1 + len(seats)*(len(slugs)+3); len(commits) != want {
		t.Fatalf("repo has %d commits, want %d", len(commits), want)
	}
	closes := 0
	for _, oid := range commits {
		raw := git(t, r.gitDir, "cat-file", "commit", oid)
		_, msg, _ := strings.Cut(raw, "\n\n") // headers end at the first empty line
		if strings.HasPrefix(msg, commitmsg.ClosePrefix) {
			closes++
		}
		for _, key := range []string{commitmsg.OpIDKey, commitmsg.InstanceIDKey} {
			one, _ := commitmsg.Trailer(msg, key)
			app, store := oldAppTrailer(msg, key), oldGitstoreTrailer(msg, key)
			gitSays, _, _ := strings.Cut(git(t, r.gitDir, "log", "-1", "--format=%(trailers:key="+key+",valueonly)", oid), "\n")
			if one != app || one != store || one != gitSays {
				t.Errorf("commit %s %q: %s read as %q (one reader), %q (old app), %q (old gitstore), %q (git)",
					oid[:12], msg, key, one, app, store, gitSays)
			}
		}
		if op, _ := commitmsg.Trailer(msg, commitmsg.OpIDKey); op == "forged" || op == "f2" {
			t.Errorf("commit %s %q carries a forged op-id", oid[:12], msg)
		}
	}
	if closes != len(seats) {
		t.Fatalf("found %d close commits, want %d", closes, len(seats))
	}
}
