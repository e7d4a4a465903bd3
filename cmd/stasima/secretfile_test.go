package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBusAuth_SecretMode: nats_creds is refused on load when group or others may access it, with
// the chmod that fixes it; owner-only files load (operations §8.3).
func TestBusAuth_SecretMode(t *testing.T) {
	jwt := jwtCredsMarker + "\neyJ0eXAiOiJKV1QifQ.e30.sig\n------END NATS USER JWT------\n"
	tests := []struct {
		name string
		mode os.FileMode
		text string
		want string // "" = accepted
	}{
		{"password 0600", 0o600, "pw\n", ""},
		{"user:password 0400", 0o400, "capstore:pw", ""},
		{"jwt creds 0600", 0o600, jwt, ""},
		{"password 0640", 0o640, "pw\n", "mode 0640"},
		{"password 0604", 0o604, "pw\n", "mode 0604"},
		{"password 0644", 0o644, "pw\n", "mode 0644"},
		{"password 0660", 0o660, "pw\n", "mode 0660"},
		{"password 0620 (group write)", 0o620, "pw\n", "mode 0620"},
		{"jwt creds 0444", 0o444, jwt, "mode 0444"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "bus.creds")
			if err := os.WriteFile(p, []byte(tt.text), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, tt.mode); err != nil {
				t.Fatal(err)
			}
			opts, err := busAuth(p, "capstore")
			if tt.want == "" {
				if err != nil || len(opts) != 1 {
					t.Fatalf("busAuth = %d options, %v; want one option", len(opts), err)
				}
				return
			}
			if opts != nil || err == nil {
				t.Fatalf("busAuth = %d options, %v; want a refusal", len(opts), err)
			}
			for _, w := range []string{"nats_creds " + p, tt.want, "chmod 600 " + p} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "absent")
		if _, err := busAuth(p, "capstore"); err == nil || !strings.Contains(err.Error(), "nats_creds") {
			t.Fatalf("err = %v, want a nats_creds error", err)
		}
	})
	t.Run("no path, no option", func(t *testing.T) {
		if opts, err := busAuth("", "capstore"); opts != nil || err != nil {
			t.Fatalf("busAuth(\"\") = %v, %v", opts, err)
		}
	})
	t.Run("oversize", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "bus.creds")
		if err := os.WriteFile(p, []byte(strings.Repeat("x", maxSecretFile+1)), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := busAuth(p, "capstore"); err == nil || !strings.Contains(err.Error(), fmt.Sprint(maxSecretFile)) {
			t.Fatalf("err = %v, want the size limit", err)
		}
	})
}
