package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// rootLong is the root command's help: what the binary is and the environment it reads.
const rootLong = `Stasima's one binary: ` + "`up`" + ` runs every service in one process on an embedded NATS
JetStream server, ` + "`serve <service>`" + ` runs one service against an external bus, ` + "`admin`" + ` is the
practitioner's CLI (JSON on stdout; exit 0 done, 1 refused, 2 usage error).

Environment: STASIMA_DATA (--data), STASIMA_CONFIG (--config); every config file key has its
STASIMA_* variable (see ` + "`stasima config --help`" + `); the session binding of a gateway
(identity.md I-1): STASIMA_INSTANCE (pinned seat) or STASIMA_PORT (port-durable token).`

// newRootCmd builds the whole command tree; run executes it.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "stasima",
		Short:         "Stasima: a shared, audited Markdown memory for agents, over MCP",
		Long:          rootLong,
		Version:       buildVersion(),
		Args:          cobra.ArbitraryArgs,
		RunE:          groupRun,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	// A misspelt STASIMA_* variable would be silently ignored; say so once, on stderr, before
	// any command runs (never for --help).
	root.PersistentPreRun = func(cmd *cobra.Command, _ []string) {
		for _, name := range unknownEnv(os.Environ()) {
			fmt.Fprintf(cmd.ErrOrStderr(), "stasima: unknown environment variable %s ignored (stasima config --help lists them)\n", name)
		}
	}
	root.SetVersionTemplate("stasima version {{.Version}}\n")
	root.SetFlagErrorFunc(flagError)
	// A group (stasima, admin, serve, admin oauth) shows only its "[command]" usage line.
	root.SetUsageTemplate(strings.Replace(root.UsageTemplate(), "{{if .Runnable}}", "{{if and .Runnable (not .HasAvailableSubCommands)}}", 1))
	root.AddCommand(newUpCmd(), newServeCmd(), newStdioCmd(), newHealthCmd(), newAdminCmd(), newConfigCmd(), newVersionCmd(), newVerifyProofCmd(), newWitnessCmd())
	return root
}
