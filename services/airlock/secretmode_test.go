package airlock_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/stasima/stasima/pkg/natstest"
	"github.com/stasima/stasima/services/airlock"
)

// TestService_SecretModeRefusedAtStart: the airlock does not start while its stage or land
// secret grants group or others access, and says which chmod fixes it (O-totp-1); a missing
// secret still starts (not provisioned yet).
func TestService_SecretModeRefusedAtStart(t *testing.T) {
	tests := []struct {
		name       string
		stage      os.FileMode // 0 = no file
		land       os.FileMode // 0 = no land secret configured
		wantInPath string      // "" = starts
	}{
		{"stage 0600", 0o600, 0, ""},
		{"no secret yet", 0, 0, ""},
		{"stage 0644", 0o644, 0, "totp.secret"},
		{"stage 0640", 0o640, 0, "totp.secret"},
		{"land 0604", 0o600, 0o604, "totp-land.secret"},
		{"both 0600", 0o600, 0o600, ""},
	}
	srv := natstest.Start(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := airlock.DefaultConfig()
			cfg.SecretPath = filepath.Join(dir, "totp.secret")
			if tt.stage != 0 {
				writeSecret(t, cfg.SecretPath, tt.stage)
			}
			if tt.land != 0 {
				cfg.LandSecretPath = filepath.Join(dir, "totp-land.secret")
				writeSecret(t, cfg.LandSecretPath, tt.land)
			}
			nc := srv.Connect(t)
			js, _ := jetstream.New(nc)
			app := fxtest.New(t, fx.NopLogger,
				fx.Supply(slog.New(slog.NewTextHandler(io.Discard, nil)), nc, fx.Annotate(js, fx.As(new(jetstream.JetStream))), cfg),
				airlock.Module)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := app.Start(ctx)
			defer func() { _ = app.Stop(ctx) }()
			if tt.wantInPath == "" {
				if err != nil {
					t.Fatalf("start: %v", err)
				}
				return
			}
			want := "chmod 600 " + filepath.Join(dir, tt.wantInPath)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("start err = %v, want one naming %q", err, want)
			}
		})
	}
}

// TestService_SecretModeRefusedOnLoad: a secret opened up to group after start is refused on the
// next code check, and nothing is staged until the mode is fixed (O-totp-1).
func TestService_SecretModeRefusedOnLoad(t *testing.T) {
	r := newRig(t)
	r.start(30 * time.Second)
	if err := os.Chmod(r.cfg.SecretPath, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := r.do(airlock.CmdStage, airlock.Stage{ProposalID: "p1", Code: r.code()}, nil); err == nil {
		t.Fatal("stage with a group-readable secret succeeded")
	}
	r.noEvent()
	if err := os.Chmod(r.cfg.SecretPath, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.do(airlock.CmdStage, airlock.Stage{ProposalID: "p1", Code: r.code()}, nil); err != nil {
		t.Fatalf("stage after chmod 600: %v", err)
	}
	r.event()
}

func writeSecret(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(rfcSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}
