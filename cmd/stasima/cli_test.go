package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// commandPaths lists every command of the tree (the generated completion and help commands
// included) as argument lists after "stasima".
func commandPaths(t *testing.T) [][]string {
	t.Helper()
	root := newRootCmd()
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var out [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		out = append(out, path)
		for _, sub := range c.Commands() {
			if sub.Hidden {
				continue
			}
			walk(sub, append(append([]string{}, path...), sub.Name()))
		}
	}
	walk(root, nil)
	return out
}

// TestHelp_Golden: `--help` on every command and subcommand exits 0, prints its help on stdout
// (the golden file under testdata/help; go test -run TestHelp_Golden -update rewrites them,
// the package's one -update flag),
// nothing on stderr, and creates no file in the working directory (no config is read, no data
// dir made, no backend started).
func TestHelp_Golden(t *testing.T) {
	wd := t.TempDir()
	t.Chdir(wd)
	t.Setenv("STASIMA_DATA", "")
	t.Setenv("STASIMA_CONFIG", "")
	golden := filepath.Join(pkgDir, "testdata", "help")
	paths := commandPaths(t)
	if len(paths) < 30 {
		t.Fatalf("only %d commands in the tree", len(paths))
	}
	seen := map[string]bool{}
	for _, p := range paths {
		name := strings.Join(append([]string{"stasima"}, p...), "_")
		seen[name+".golden"] = true
		t.Run(name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(append(append([]string{}, p...), "--help"), &out, &errb); code != 0 || errb.Len() != 0 {
				t.Fatalf("stasima %v --help: exit %d, stderr %q", p, code, errb.String())
			}
			if ents, _ := os.ReadDir(wd); len(ents) != 0 {
				t.Fatalf("stasima %v --help created %s in the working directory", p, ents[0].Name())
			}
			file := filepath.Join(golden, name+".golden")
			if *updateDeploy {
				if err := os.MkdirAll(golden, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test -run TestHelp_Golden -update)", err)
			}
			if out.String() != string(want) {
				t.Errorf("stasima %v --help differs from %s (go test -run TestHelp_Golden -update):\n%s", p, file, out.String())
			}
		})
	}
	// Every golden file belongs to a command: a removed command takes its file with it.
	ents, _ := os.ReadDir(golden)
	for _, e := range ents {
		if !seen[e.Name()] && !*updateDeploy {
			t.Errorf("%s: no such command", e.Name())
		} else if !seen[e.Name()] {
			os.Remove(filepath.Join(golden, e.Name()))
		}
	}
}

// pkgDir is the package directory, where tests start (kept before t.Chdir moves away).
var pkgDir, _ = os.Getwd()

// TestHelp_HelpCommandAndGroups: `stasima help <cmd>` is --help; a group without its command
// is a usage error (exit 2) that shows the group's usage; an unknown command or flag exits 2.
func TestHelp_HelpCommandAndGroups(t *testing.T) {
	t.Chdir(t.TempDir())
	var a, b bytes.Buffer
	if run([]string{"help", "admin", "land"}, &a, &b) != 0 || run([]string{"admin", "land", "--help"}, &b, &b) != 0 || a.String() != b.String() {
		t.Fatalf("help admin land differs from admin land --help")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "stasima: a command is needed"},
		{[]string{"admin"}, "Available Commands:"},
		{[]string{"serve"}, "capstore"},
		{[]string{"admin", "oauth"}, "approve"},
		{[]string{"frob"}, `unknown command "frob"`},
		{[]string{"admin", "frob"}, `unknown command "frob"`},
		{[]string{"serve", "frob"}, `unknown command "frob"`},
		{[]string{"admin", "status", "--frob"}, "unknown flag: --frob"},
		{[]string{"admin", "land"}, "accepts 1 arg(s), received 0"},
		{[]string{"admin", "close", "p-1"}, "requires at least 2 arg(s)"},
		{[]string{"admin", "oauth", "approve", "t-1"}, `required flag(s) "confirm" not set`},
		{[]string{"admin", "binding", "--clear="}, "--clear needs a port token"},
		{[]string{"health", "extra"}, "unknown command"},
	} {
		var out, errb bytes.Buffer
		if code := run(tc.args, &out, &errb); code != 2 || out.Len() != 0 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("stasima %v: exit %d, stdout %q, stderr %q (want exit 2 and %q)", tc.args, code, out.String(), errb.String(), tc.want)
		}
	}
}

// TestVersion: `stasima --version` and `stasima version` print the build the binary reads
// from runtime/debug.ReadBuildInfo (the string MCP initialize serves), and --json its parts.
func TestVersion(t *testing.T) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("no build info in the test binary")
	}
	version := bi.Main.Version
	if version == "" || version == "(devel)" {
		version = "devel"
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && !strings.Contains(version, s.Value[:min(12, len(s.Value))]) {
			version += "+" + s.Value[:min(12, len(s.Value))]
		}
	}
	want := "stasima version " + version + "\n"
	for _, args := range [][]string{{"--version"}, {"version"}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 0 || out.String() != want {
			t.Fatalf("stasima %v: exit %d %q %q, want %q", args, code, out.String(), errb.String(), want)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"version", "--json"}, &out, &errb); code != 0 || !strings.Contains(out.String(), `"version": "`+version+`"`) {
		t.Fatalf("version --json: exit %d %s %s", code, out.String(), errb.String())
	}
}

// TestCompletion: `stasima completion <shell>` writes a script for bash, zsh and fish that
// knows the commands.
func TestCompletion(t *testing.T) {
	for shell, marker := range map[string]string{"bash": "__start_stasima", "zsh": "#compdef stasima", "fish": "complete -c stasima"} {
		var out, errb bytes.Buffer
		if code := run([]string{"completion", shell}, &out, &errb); code != 0 || !strings.Contains(out.String(), marker) {
			t.Fatalf("completion %s: exit %d, %d bytes, no %q; stderr %s", shell, code, out.Len(), marker, errb.String())
		}
	}
	// The completion itself: what follows `stasima admin la`.
	var out, errb bytes.Buffer
	if code := run([]string{"__complete", "admin", "la"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "land\t") {
		t.Fatalf("__complete admin la: exit %d %q %q", code, out.String(), errb.String())
	}
}

// TestCLI_LandFlagAfterID: `admin land <id> --by X` (the README's order) and `admin land --by X
// <id>` both reach the land with approver X; capstore refuses X, who is no approver, naming it
// (exit 1, not a usage error).
func TestCLI_LandFlagAfterID(t *testing.T) {
	data := t.TempDir()
	if code, _, stderr := admin(t, "--data", data, "bootstrap", writeSeed(t)); code != 0 {
		t.Fatalf("bootstrap: %s", stderr)
	}
	for _, args := range [][]string{{"land", "p-1", "--by", "Zed"}, {"land", "--by", "Zed", "p-1", "--data", data}} {
		if args[len(args)-1] != data {
			args = append([]string{"--data", data}, args...)
		}
		code, _, stderr := admin(t, args...)
		if code != 1 || !strings.Contains(stderr, `"Zed" is not an approver`) {
			t.Fatalf("admin %v: exit %d %q", args, code, stderr)
		}
	}
}

// TestHelp_ConfigKeysDocumented: `stasima config --help` lists every key the config file
// accepts (fileConfig's toml tags) and every key it lists is one.
func TestHelp_ConfigKeysDocumented(t *testing.T) {
	tags := map[string]bool{}
	ft := reflect.TypeFor[fileConfig]()
	for i := range ft.NumField() {
		tags[ft.Field(i).Tag.Get("toml")] = true
	}
	listed := map[string]bool{}
	for _, k := range configKeys {
		if !tags[k.Key] || listed[k.Key] {
			t.Errorf("config --help lists %q: not a file key, or twice", k.Key)
		}
		listed[k.Key] = true
	}
	for k := range tags {
		if !listed[k] {
			t.Errorf("file key %q is missing from config --help (configKeys)", k)
		}
	}
	for _, k := range configKeys {
		if env := configEnvVar(k.Key); !strings.Contains(configHelp(), env+" ") {
			t.Errorf("config --help does not show %s, the variable of %s", env, k.Key)
		}
	}
	for k := range configEnvAliases {
		if !tags[k] {
			t.Errorf("configEnvAliases names %q, not a file key", k)
		}
	}
}
