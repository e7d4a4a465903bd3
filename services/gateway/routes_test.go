package gateway

import (
	"strings"
	"testing"
)

// TestConfig_Door is O-config-20: http_public_url is an http(s) URL with a host, https unless
// the host is loopback, only with transport http; its host joins the allowed hosts.
func TestConfig_Door(t *testing.T) {
	tests := []struct {
		name      string
		give      DoorConfig
		wantErr   string
		wantHosts string
	}{
		{"unarmed", DoorConfig{Transport: "stdio"}, "", ""},
		{"https public", DoorConfig{Transport: "http", PublicURL: "https://door.example/", AuthDB: "a"}, "", "door.example"},
		{"loopback http", DoorConfig{Transport: "http", PublicURL: "http://127.0.0.1:8787", AuthDB: "a"}, "", "127.0.0.1"},
		{"host already allowed", DoorConfig{Transport: "http", PublicURL: "https://Door.example", AllowedHosts: []string{"door.example", "tail.example:8443"}, AuthDB: "a"}, "", "door.example,tail.example:8443"},
		{"plain http off loopback", DoorConfig{Transport: "http", PublicURL: "http://door.example", AuthDB: "a"}, "must use https", ""},
		{"not http", DoorConfig{Transport: "http", PublicURL: "ftp://door.example", AuthDB: "a"}, "http(s) URL with a host", ""},
		{"no host", DoorConfig{Transport: "http", PublicURL: "https://", AuthDB: "a"}, "http(s) URL with a host", ""},
		{"stdio transport", DoorConfig{Transport: "stdio", PublicURL: "https://door.example", AuthDB: "a"}, `needs transport = "http"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Door = tt.give
			err := c.Validate()
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.wantErr)
			}
			if err == nil && strings.Join(c.allowedHosts(), ",") != tt.wantHosts {
				t.Fatalf("allowed hosts %v, want %s", c.allowedHosts(), tt.wantHosts)
			}
		})
	}
}
