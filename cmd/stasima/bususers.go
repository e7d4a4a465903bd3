package main

import (
	"errors"
	"log/slog"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/embednats"
)

// components are the bus users of a deployment, one per component (ARCH-11). The embedded bus
// of `stasima up` and deploy/nats.conf define the same users with the same permissions, both
// generated from pkg/bus's table; a test holds them together.
var components = bus.Users

// componentUsers are the bus users with their allow lists from pkg/bus's least-privilege table
// (ARCH-11, O-deploy-3): admin alone is unrestricted.
func componentUsers(subj bus.Subjects, password func(name string) string) []embednats.User {
	users := make([]embednats.User, 0, len(components))
	for _, name := range components {
		p := subj.Permissions(name)
		users = append(users, embednats.User{Name: name, Password: password(name), Unrestricted: p.Unrestricted,
			PublishAllow: p.PublishAllow, PublishDeny: p.PublishDeny,
			SubscribeAllow: p.SubscribeAllow, SubscribeDeny: p.SubscribeDeny, AllowResponses: p.AllowResponses})
	}
	return users
}

// busOptions are the connection options of component's bus user: its own inbox prefix, the
// only inboxes its permissions let it subscribe (bus.Subjects.InboxPrefix).
func busOptions(subj bus.Subjects, component string) []nats.Option {
	return []nats.Option{nats.CustomInboxPrefix(subj.InboxPrefix(component))}
}

// busErrorLogger logs a connection's asynchronous bus errors — a permissions violation above
// all: a subject the component's user may not use is a defect in the access table (ARCH-11).
func busErrorLogger(log *slog.Logger, component string) nats.ErrHandler {
	return func(_ *nats.Conn, sub *nats.Subscription, err error) {
		args := []any{"user", component, "err", err}
		if sub != nil {
			args = append(args, "subject", sub.Subject)
		}
		log.Error("bus error", args...)
	}
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
