package main

import (
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// buildInfo is the build of the running binary, from the build information Go embeds
// (runtime/debug.ReadBuildInfo): the main module's version ("devel" without one) and the VCS
// revision.
type buildInfo struct {
	Version   string `json:"version"`
	Module    string `json:"module"`
	Revision  string `json:"revision"`
	Modified  bool   `json:"modified"`
	GoVersion string `json:"go_version"`
}

// readBuildInfo reads the build; Version is the module version, then "+" and the first 12
// characters of the revision (".dirty" for a modified tree) unless the module version already
// names that revision (a pseudo-version does).
func readBuildInfo() buildInfo {
	in := buildInfo{Module: "devel"}
	bi, ok := debug.ReadBuildInfo()
	if ok {
		in.GoVersion = bi.GoVersion
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			in.Module = v
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				in.Revision = s.Value
			case "vcs.modified":
				in.Modified = s.Value == "true"
			}
		}
	}
	in.Version = in.Module
	rev := in.Revision
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" && !strings.Contains(in.Version, rev) {
		in.Version += "+" + rev
		if in.Modified {
			in.Version += ".dirty"
		}
	}
	return in
}

// buildVersion is the one version string of the running binary, what --version prints.
func buildVersion() string { return readBuildInfo().Version }

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the build: module version and VCS revision (as --version)",
		Long: `Print the build of this binary, read from the build information Go embeds
(runtime/debug.ReadBuildInfo): the main module's version and the VCS revision, the same string
as ` + "`stasima --version`" + `.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asJSON {
				printJSON(cmd, readBuildInfo())
				return nil
			}
			cmd.Printf("stasima version %s\n", buildVersion())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the build as one JSON object")
	return cmd
}
