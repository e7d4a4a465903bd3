package main

import (
	"errors"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/embednats"
)

// components are the bus users of a deployment, one per component (ARCH-11). The embedded bus
// of `stasima up` and deploy/nats.conf define the same users with the same permissions; a test
// holds them together.
var components = []string{"capstore", "audit", "airlock", "indexer", "gateway", "admin"}

// componentUsers are the bus users with their publish denials: only the agent-facing gateway
// is restricted (O-deploy-3: it may not request a land, a merge preparation, a bootstrap, a
// backup or mirror push, or any audit or index admin command).
func componentUsers(subj bus.Subjects, password func(name string) string) []embednats.User {
	users := make([]embednats.User, 0, len(components))
	for _, name := range components {
		u := embednats.User{Name: name, Password: password(name)}
		if name == "gateway" {
			u.DenyPublish = subj.GatewayDenied()
		}
		users = append(users, u)
	}
	return users
}

// jwtCredsMarker starts a NATS decentralized-auth credentials file.
const jwtCredsMarker = "-----BEGIN NATS USER JWT-----"

// busAuth is nats_creds for one component (operations §8.3): a NATS .creds file (JWT and
// nkey seed), or a file holding `user:password` or the password of the user named after the
// component. No file, no option. A file open to group or others is refused (readSecretFile).
func busAuth(credsPath, component string) ([]nats.Option, error) {
	if credsPath == "" {
		return nil, nil
	}
	b, err := readSecretFile("nats_creds", credsPath)
	if err != nil {
		return nil, err
	}
	text := strings.TrimSpace(string(b))
	if strings.Contains(text, jwtCredsMarker) {
		return []nats.Option{nats.UserCredentials(credsPath)}, nil
	}
	if text == "" || strings.ContainsAny(text, "\n\r") {
		return nil, errors.New("nats_creds " + credsPath + ": want one line, user:password or the password of user " + component)
	}
	user, pass := component, text
	if u, p, ok := strings.Cut(text, ":"); ok {
		user, pass = u, p
	}
	return []nats.Option{nats.UserInfo(user, pass)}, nil
}
