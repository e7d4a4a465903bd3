// Package names owns the validation of every name that becomes part of a ref, a path or a commit
// message before any write (D-10): seat names and proposal ids (C-names-2), domains and slugs
// (D-36), entry paths (C-path-2…4) and op ids. Everything a validator accepts is safe to use
// verbatim: no control character, no character Python's splitlines breaks a line at (D-40), no
// "." or ".." segment, never absolute. Names are
// never normalized (C-names-4); a refused name is a fault.Denied naming the value and the rule.
package names

import (
	"strings"
	"unicode/utf8"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/pytext"
)

// MaxSeatLen is the longest seat name or proposal id accepted, in bytes. The name is one loose
// ref file (plus git's ".lock" while it is written) under .git/refs/cap/…, and most filesystems
// cap a path component at 255 bytes; 200 leaves room for the lock suffix and keeps names usable
// as commit authors, inbox tokens and audit actors.
const MaxSeatLen = 200

// MaxSegmentLen bounds one path segment (common filesystem NAME_MAX).
const MaxSegmentLen = 255

// MaxPathLen bounds a whole path.
const MaxPathLen = 1024

// MaxOpIDLen is the longest op id accepted, in bytes.
const MaxOpIDLen = 256

// ValidateSeat checks a seat name (C-names-2, D-33): a non-empty git ref component sequence
// under git check-ref-format rules, at most MaxSeatLen bytes. Beyond git it also refuses invalid
// UTF-8, C1 control characters, every Python line break (D-40) and any Python whitespace: the
// name is read back from the stripped instance-id trailer (C-commit-4), and 0.1.5 split that
// line at Python line breaks, so a U+2028 or a trailing NBSP would attribute the commit to
// another seat.
func ValidateSeat(name string) error { return checkRefName("names.seat", "seat name", name) }

// ValidateProposalID checks a proposal id by the same rules as ValidateSeat (C-names-2).
func ValidateProposalID(id string) error {
	return checkRefName("names.proposal", "proposal id", id)
}

func checkRefName(op, what, name string) error {
	refuse := func(format string, args ...any) error {
		return fault.E(op, fault.Denied, "%s %q "+format, append([]any{what, name}, args...)...)
	}
	switch {
	case name == "":
		return fault.E(op, fault.Denied, "%s is empty", what)
	case len(name) > MaxSeatLen:
		return refuse("is longer than %d bytes", MaxSeatLen)
	case !utf8.ValidString(name):
		return refuse("is not valid UTF-8")
	case name == "@":
		return refuse(`is "@"`)
	}
	for _, r := range name {
		switch {
		case pytext.IsControl(r):
			return refuse("contains control character %U", r)
		case pytext.IsLineBreak(r):
			return refuse("contains line break %U", r)
		case pytext.IsSpace(r):
			return refuse("contains whitespace %U", r)
		case strings.ContainsRune(`~^:?*[\`, r):
			return refuse("contains %q", string(r))
		}
	}
	for _, bad := range []string{"..", "@{", "//"} {
		if strings.Contains(name, bad) {
			return refuse("contains %q", bad)
		}
	}
	switch {
	case strings.HasPrefix(name, "/"):
		return refuse(`starts with "/"`)
	case strings.HasSuffix(name, "/"):
		return refuse(`ends with "/"`)
	case strings.HasSuffix(name, "."):
		return refuse(`ends with "."`)
	}
	for _, c := range strings.Split(name, "/") {
		switch {
		case strings.HasPrefix(c, "."):
			return refuse("has component %q starting with %q", c, ".")
		case strings.HasSuffix(c, ".lock"):
			return refuse("has component %q ending with %q", c, ".lock")
		}
	}
	return nil
}

// ValidateDomain checks an entry's domain (D-36): non-empty, no control character or Python line
// break (D-40), no empty
// segment (so no leading, trailing or doubled "/"), no "." or ".." segment. Tools with their own
// trailing-slash rule (T-propose-2) apply it before calling this.
func ValidateDomain(domain string) error {
	const op = "names.domain"
	if domain == "" {
		return fault.E(op, fault.Denied, "domain is empty")
	}
	if err := checkRunes(op, "domain", domain); err != nil {
		return err
	}
	for _, seg := range strings.Split(domain, "/") {
		switch seg {
		case "":
			return fault.E(op, fault.Denied, "domain %q has an empty segment (leading, trailing or doubled \"/\")", domain)
		case ".", "..":
			return fault.E(op, fault.Denied, "domain %q has a %q segment", domain, seg)
		}
	}
	return nil
}

// ValidateSlug checks an entry's slug (D-36): non-empty, no control character or Python line
// break (D-40), no "." or ".."
// segment. A slug may contain "/" (C-path-2); empty segments are left to ValidatePath.
func ValidateSlug(slug string) error {
	const op = "names.slug"
	if slug == "" {
		return fault.E(op, fault.Denied, "slug is empty")
	}
	if err := checkRunes(op, "slug", slug); err != nil {
		return err
	}
	if len(slug) > MaxPathLen-4 {
		return fault.E(op, fault.Denied, "slug %q… is %d bytes, over the limit of %d", slug[:32], len(slug), MaxPathLen-4)
	}
	for _, seg := range strings.Split(slug, "/") {
		if seg == "." || seg == ".." {
			return fault.E(op, fault.Denied, "slug %q has a %q segment", slug, seg)
		}
		if len(seg) > MaxSegmentLen-3 {
			return fault.E(op, fault.Denied, "slug segment %q… is %d bytes, over the limit of %d", seg[:32], len(seg), MaxSegmentLen-3)
		}
	}
	return nil
}

// EntryPath composes an authored entry's path "<domain>/<slug>.md" by plain concatenation
// (C-path-2) after checking the slug (D-36; the composed path alone would accept slug ".." as
// "<domain>/...md") and then checks the composed path (C-path-3). Every domain violation of
// ValidateDomain is also a path violation, so the domain needs no separate check here.
func EntryPath(domain, slug string) (string, error) {
	if err := ValidateSlug(slug); err != nil {
		return "", err
	}
	p := domain + "/" + slug + ".md"
	if err := ValidatePath(p); err != nil {
		return "", err
	}
	return p, nil
}

// ValidatePath checks a tree path before any write (C-path-3, D-10): non-empty valid UTF-8, no
// control character (NUL included) or Python line break (D-40), not absolute, no trailing "/", no empty, "." or ".." segment
// and no ".git" segment. ".git" is matched case-insensitively, as git's own verify_path does,
// because ".GIT" is the repository directory on case-insensitive filesystems.
//
// Paths are also bounded: a segment over MaxSegmentLen bytes or a path over MaxPathLen bytes is
// refused, because no filesystem a clone is checked out on holds such a name.
func ValidatePath(p string) error {
	const op = "names.path"
	switch {
	case p == "":
		return fault.E(op, fault.Denied, "path is empty")
	case strings.HasPrefix(p, "/"):
		return fault.E(op, fault.Denied, "path %q is absolute", p)
	case strings.HasSuffix(p, "/"):
		return fault.E(op, fault.Denied, "path %q ends with \"/\"", p)
	}
	if len(p) > MaxPathLen {
		return fault.E(op, fault.Denied, "path %q… is %d bytes, over the limit of %d", p[:64], len(p), MaxPathLen)
	}
	if err := checkRunes(op, "path", p); err != nil {
		return err
	}
	for _, seg := range strings.Split(p, "/") {
		switch {
		case len(seg) > MaxSegmentLen:
			return fault.E(op, fault.Denied, "path segment %q… of path %q… is %d bytes, over the limit of %d (slug or domain too long)",
				seg[:32], p[:32], len(seg), MaxSegmentLen)
		case seg == "":
			return fault.E(op, fault.Denied, "path %q has an empty segment", p)
		case seg == "." || seg == "..":
			return fault.E(op, fault.Denied, "path %q has a %q segment", p, seg)
		case strings.EqualFold(seg, ".git"):
			return fault.E(op, fault.Denied, "path %q has a %q segment", p, seg)
		}
	}
	return nil
}

// checkRunes refuses invalid UTF-8 and control characters in s (D-36), and every character
// Python's str.splitlines breaks a line at (D-40, stricter than 0.1.5): 0.1.5 read commit
// messages with splitlines, so a U+2028 in a domain or slug reached the subject "KIP <path>" and
// forged an "op-id:" or "instance-id:" trailer. Of those breaks, \n \r \v \f, U+001C–U+001E and
// U+0085 are C0 or C1 controls and are named as such; U+2028 and U+2029 are named line breaks.
func checkRunes(op, what, s string) error {
	if !utf8.ValidString(s) {
		return fault.E(op, fault.Denied, "%s %q is not valid UTF-8", what, s)
	}
	for _, r := range s {
		switch {
		case pytext.IsControl(r):
			return fault.E(op, fault.Denied, "%s %q contains control character %U", what, s, r)
		case pytext.IsLineBreak(r):
			return fault.E(op, fault.Denied, "%s %q contains line break %U", what, s, r)
		}
	}
	return nil
}

// Normalize appends ".md" to a path that lacks it (C-path-4); otherwise the path is returned
// verbatim (no case folding, no trimming).
func Normalize(p string) string {
	if strings.HasSuffix(p, ".md") {
		return p
	}
	return p + ".md"
}

// ValidateOpID checks an op id: non-empty, at most MaxOpIDLen bytes, valid UTF-8, no control
// character and no Python line break (D-40), no leading or trailing Python whitespace.
// The op id becomes the "op-id:" commit trailer (C-commit-2), read back from a split, stripped
// line (C-commit-4): a line break would inject a trailer and edge whitespace would not read back
// equal, breaking tip idempotency (C-commit-6).
func ValidateOpID(opID string) error {
	const op = "names.op_id"
	switch {
	case opID == "":
		return fault.E(op, fault.Denied, "op_id is empty")
	case len(opID) > MaxOpIDLen:
		return fault.E(op, fault.Denied, "op_id %q is longer than %d bytes", opID, MaxOpIDLen)
	}
	if err := checkRunes(op, "op_id", opID); err != nil {
		return err
	}
	if pytext.Strip(opID) != opID {
		return fault.E(op, fault.Denied, "op_id %q has leading or trailing whitespace", opID)
	}
	return nil
}

// FoldEqual reports whether a and b are equal under Unicode case folding, the name-fork test of
// C-names-4 (callers compare a != b for "differs in exact casing"). It uses strings.EqualFold,
// Unicode simple case folding: full foldings such as "ß" ~ "ss" are not equal here, which only
// narrows the guard for names that differ in length under full folding.
func FoldEqual(a, b string) bool { return strings.EqualFold(a, b) }
