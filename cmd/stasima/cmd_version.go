package main

import (
	"github.com/spf13/cobra"

	"github.com/stasima/stasima/pkg/buildinfo"
)

// versionJSON is `stasima version --json`: the build as pkg/buildinfo reads it, the one source
// of the version string that --version, the MCP serverInfo and stasima_build_info share.
type versionJSON struct {
	Version   string `json:"version"`
	Module    string `json:"module"`
	Revision  string `json:"revision"`
	Modified  bool   `json:"modified"`
	GoVersion string `json:"go_version"`
}

// buildVersion is the one version string of the running binary, what --version prints.
func buildVersion() string { return buildinfo.Read().Version() }

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
				in := buildinfo.Read()
				printJSON(cmd, versionJSON{Version: in.Version(), Module: in.Module, Revision: in.Revision,
					Modified: in.Modified, GoVersion: in.GoVersion})
				return nil
			}
			cmd.Printf("stasima version %s\n", buildVersion())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the build as one JSON object")
	return cmd
}
