package gateway_test

import (
	"log/slog"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"

	"github.com/stasima/stasima/pkg/natstest"
	"github.com/stasima/stasima/services/gateway"
)

func TestModule_Validates(t *testing.T) {
	nc := natstest.Start(t).Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := gateway.DefaultConfig()
	cfg.HTTPAddr = "127.0.0.1:0"
	if err := fx.ValidateApp(fx.NopLogger, fx.Supply(slog.Default(), nc, fx.Annotate(js, fx.As(new(jetstream.JetStream))), cfg), gateway.Module); err != nil {
		t.Fatal(err)
	}
}

// TestConfig_BindGuard is O-config-18 / SC-18: loopback and 100.64.0.0/10 only.
func TestConfig_BindGuard(t *testing.T) {
	tests := []struct {
		give string
		want bool
	}{
		{"127.0.0.1:8787", true},
		{"localhost:8787", true},
		{"[::1]:8787", true},
		{"100.101.1.5:8787", true},
		{"0.0.0.0:8787", false},
		{"192.168.1.50:8787", false},
		{"example.com:8787", false},
		{"[::]:8787", false},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			cfg := gateway.DefaultConfig()
			cfg.HTTPAddr = tt.give
			if err := cfg.Validate(); (err == nil) != tt.want {
				t.Fatalf("Validate(%s) = %v, want accepted=%v", tt.give, err, tt.want)
			}
		})
	}
}
