package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestInfo_Version(t *testing.T) {
	tests := []struct {
		name string
		give debug.BuildInfo
		want string
	}{
		{"release", debug.BuildInfo{Main: debug.Module{Version: "v0.2.0"}}, "v0.2.0"},
		{"workspace build without vcs", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel"},
		{"workspace build with vcs", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "5473464a1b2c3d4e5f60718293a4b5c6d7e8f901"}, {Key: "vcs.modified", Value: "true"}}}, "devel+5473464a1b2c.dirty"},
		{"tag with clean vcs", debug.BuildInfo{Main: debug.Module{Version: "v0.2.0"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "5473464a1b2c3d4e5f60718293a4b5c6d7e8f901"}, {Key: "vcs.modified", Value: "false"}}}, "v0.2.0+5473464a1b2c"},
		{"pseudo-version names its revision", debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261206205818-5473464a1b2c+dirty"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "5473464a1b2c3d4e5f60718293a4b5c6d7e8f901"}, {Key: "vcs.modified", Value: "true"}}}, "v0.0.0-20261206205818-5473464a1b2c+dirty"},
		{"no main version", debug.BuildInfo{}, "devel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parse(&tt.give).Version(); got != tt.want {
				t.Errorf("Version() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestRead: the test binary has build information; its version is never empty and Read agrees
// with parse over the same information.
func TestRead(t *testing.T) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("no build info in the test binary")
	}
	if got, want := Read(), parse(bi); got != want || got.Version() == "" || got.GoVersion == "" {
		t.Errorf("Read() = %+v, parse = %+v", got, want)
	}
}
