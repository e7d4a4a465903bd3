// Package buildinfo names the running build from the build information Go embeds in every
// binary (runtime/debug.ReadBuildInfo): the main module's version and the VCS revision it was
// built from. One string, Version, is what `stasima --version` prints, what the MCP initialize
// answer reports as serverInfo.version and what the stasima_build_info metric carries, so the
// three always agree. It does no I/O.
package buildinfo

import (
	"runtime/debug"
	"strings"
)

// Info is the build of the running binary.
type Info struct {
	// Module is the main module's version: a release tag (v0.2.0), a pseudo-version Go
	// derived from the VCS, or "devel" when built without one (a workspace or -buildvcs=false).
	Module string
	// Revision is the VCS revision ("" when not stamped); Modified says the tree was dirty.
	Revision string
	Modified bool
	// GoVersion is the toolchain that built the binary.
	GoVersion string
}

// Read returns the build of the running binary. A binary without build information (never
// the case for `go build`) reads as devel.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Module: "devel"}
	}
	return parse(bi)
}

func parse(bi *debug.BuildInfo) Info {
	in := Info{Module: bi.Main.Version, GoVersion: bi.GoVersion}
	if in.Module == "" || in.Module == "(devel)" {
		in.Module = "devel"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	return in
}

// Version is the one version string of the build: the module version, then "+" and the first
// 12 characters of the revision (and ".dirty" for a modified tree) unless the module version
// already names that revision (a pseudo-version does): "v0.2.0", "devel+5473464a1b2c",
// "devel+5473464a1b2c.dirty".
func (in Info) Version() string {
	v := in.Module
	rev := in.Revision
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" || strings.Contains(v, rev) {
		return v
	}
	v += "+" + rev
	if in.Modified {
		v += ".dirty"
	}
	return v
}
