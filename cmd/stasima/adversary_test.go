package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/schema"
)

// adversaryUsers are the credentials an attacker may hold: the agent-facing gateway's and each
// service's (ARCH-11).
var adversaryUsers = []string{bus.UserGateway, bus.UserCapstore, bus.UserAudit, bus.UserAirlock, bus.UserIndexer}

// privilegedVerbs are the commands that advance canon, read or rotate the TOTP secret, write
// outside the repository, or run an audit or index admin job.
var privilegedVerbs = []struct{ svc, verb string }{
	{bus.Capstore, schema.CmdLand}, {bus.Capstore, schema.CmdPrepareMerge}, {bus.Capstore, schema.CmdBootstrap},
	{bus.Capstore, schema.CmdBackupPush}, {bus.Capstore, schema.CmdMirrorPush}, {bus.Capstore, schema.CmdAnchor}, {bus.Capstore, schema.CmdCheckpoint},
	{bus.Airlock, schema.CmdTOTPProvision},
	{bus.Audit, schema.CmdAuditAnchor}, {bus.Audit, schema.CmdAuditReconcile}, {bus.Audit, schema.CmdAuditRestore},
	{bus.Index, "reindex"},
}

// forgedOps are the audit rows the human gate and the airlock's approval state fold.
var forgedOps = []string{"airlock_stage", "land_merge", "totp_accept"}

// attackBus is one deployment under attack: its bus, its users' passwords and a way in as
// admin to read the state.
type attackBus struct {
	url string
	pw  map[string]string
}

// TestAdversary is issue 12's adversary table, on the compose deployment's bus (a separate
// nats-server process of the embedded version with deploy/nats.conf and init.sh's passwords,
// Stasima's services on it) and on the embedded bus of `stasima up`: with the gateway's and each
// service's credentials, every attempt on the human gate, the TOTP secret, the streams, the
// audit log and the other components' inboxes and queries is refused by the server or by the
// receiving service, and afterwards every ref, every audit row and every stream is unchanged
// (ARCH-2, ARCH-3, ARCH-11, O-deploy-3).
func TestAdversary(t *testing.T) {
	t.Run("external nats-server", func(t *testing.T) { runAdversary(t, externalStasima(t)) })
	t.Run("embedded bus of up", func(t *testing.T) {
		n := testNode(t)
		pw := map[string]string{}
		for name, u := range n.creds {
			pw[name] = u.Password
		}
		seed(t, n)
		runAdversary(t, attackBus{url: n.ns.ClientURL(), pw: pw})
	})
}

// initPasswords runs deploy/init.sh in a scratch copy and reads the bus passwords it wrote.
func initPasswords(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	script, err := os.ReadFile(filepath.Join(deployDir, "init.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "init.sh"), script, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sh", filepath.Join(dir, "init.sh")).CombinedOutput(); err != nil {
		t.Fatalf("init.sh: %v\n%s", err, out)
	}
	env, err := os.ReadFile(filepath.Join(dir, ".env"))
	if err != nil {
		t.Fatal(err)
	}
	pw := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(env)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		if c, ok := strings.CutPrefix(k, "BUS_PASSWORD_"); ok {
			pw[strings.ToLower(c)] = v
		}
	}
	return pw
}

// externalStasima starts the embedded version's nats-server with deploy/nats.conf and
// init.sh's passwords, and the five services in this process as `stasima serve` runs them,
// each with its own bus user; a kip_commit through the gateway gives the state refs and rows.
func externalStasima(t *testing.T) attackBus {
	t.Helper()
	pw := initPasswords(t)
	url := startNATSProcess(t, pw)
	root := t.TempDir()
	conf := fmt.Sprintf(`git_dir = %q
nats_url = %q
map_db = %q
airlock_secret_path = %q
transport = "http"
http_host = "127.0.0.1"
http_port = %d
audit_barrier_timeout_s = 3
index_barrier_timeout_s = 3
`, filepath.Join(root, "repo.git"), url, filepath.Join(root, "map_index.sqlite"), filepath.Join(root, "secrets", "totp.secret"), freePort(t))
	confPath := filepath.Join(root, "stasima.toml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	clearConfigEnv(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var gw *node
	for _, svc := range services {
		cfg, err := loadConfig(filepath.Join(root, "data"), confPath, "")
		if err != nil {
			t.Fatal(err)
		}
		cfg.NATSCreds = filepath.Join(root, svc+".creds")
		if err := os.WriteFile(cfg.NATSCreds, []byte(pw[svc]+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		n, err := serveOne(context.Background(), cfg, log, svc, serveOptions{})
		if err != nil {
			t.Fatalf("serve %s: %v", svc, err)
		}
		t.Cleanup(func() { n.stop(context.Background()) })
		if svc == bus.UserGateway {
			gw = n
		}
	}
	seed(t, gw)
	return attackBus{url: url, pw: pw}
}

// seed commits one entry through the gateway, so there are refs and audit rows to protect.
func seed(t *testing.T, n *node) {
	t.Helper()
	mustCall(t, mcpSession(t, n), "kip_commit", map[string]any{"instance_id": "Recto", "domain": "practice",
		"slug": "guarded", "body": "the state the adversary must not move", "op_id": "seed-1"})
}

// busState is what no attack may change: every ref and tip, the audit log's row count and
// head, and each stream's stored messages and last sequence.
type busState struct {
	Refs    json.RawMessage
	Count   json.RawMessage
	Head    json.RawMessage
	Streams map[string][2]uint64
}

func readState(t *testing.T, ab attackBus, subj bus.Subjects) busState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, err := nats.Connect(ab.url, append(busOptions(subj, bus.UserAdmin), nats.UserInfo(bus.UserAdmin, ab.pw[bus.UserAdmin]))...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	c := busclient.New(nc, js, subj, bus.UserAdmin, 20*time.Second)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	var st busState
	for _, q := range []struct {
		svc, name string
		req       any
		dst       *json.RawMessage
	}{
		{bus.Capstore, schema.QListRefs, schema.ListRefsQuery{}, &st.Refs},
		{bus.Audit, schema.QAuditCount, nil, &st.Count},
		{bus.Audit, schema.QAuditHead, nil, &st.Head},
	} {
		if err := c.Query(ctx, q.svc, q.name, q.req, q.dst); err != nil {
			t.Fatalf("%s.%s: %v", q.svc, q.name, err)
		}
	}
	st.Streams = map[string][2]uint64{}
	for _, name := range []string{subj.CommandsStream(), subj.EventsStream(), subj.AuditStream()} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st.Streams[name] = [2]uint64{info.State.Msgs, info.State.LastSeq}
	}
	return st
}

// attack is one row of the table: what a user's connection does, and who refuses it — the
// server (a permissions violation naming subject) or the receiving service (the state check).
type attack struct {
	name      string
	subscribe bool   // subscribe to subject instead of publishing
	subject   string // the subject published or subscribed
	body      []byte
	byServer  bool
}

// attacks is the adversary table for one user.
func attacks(subj bus.Subjects, user string) []attack {
	perms := subj.Permissions(user)
	// Deny wins over allow (the gateway's grant of every capstore query denies the cockpit's).
	mayPublish := func(s string) bool {
		match := func(p string) bool { return subjectMatches(p, s) }
		return slices.ContainsFunc(perms.PublishAllow, match) && !slices.ContainsFunc(perms.PublishDeny, match)
	}
	var out []attack
	pub := func(name, subject string, body []byte) {
		out = append(out, attack{name: name, subject: subject, body: body, byServer: true})
	}
	for _, pv := range privilegedVerbs {
		pub("smuggled verb "+pv.svc+".cmd.x."+pv.verb, subj.Command(pv.svc, "x."+pv.verb), []byte(`{}`))
		pub("suffixed verb "+pv.svc+".cmd."+pv.verb+".x", subj.Command(pv.svc, pv.verb+".x"), []byte(`{}`))
		if s := subj.Command(pv.svc, pv.verb); !mayPublish(s) {
			pub("denied verb "+pv.svc+".cmd."+pv.verb, s, []byte(`{}`))
		}
	}
	for _, q := range []struct{ svc, name string }{{bus.Airlock, schema.QTOTPCheck}, {bus.Audit, schema.QAuditSnapshot},
		{bus.Capstore, schema.QProposalSummaries}, {bus.Capstore, schema.QRefTips}} {
		if s := subj.Query(q.svc, q.name); !mayPublish(s) {
			pub("denied query "+q.svc+".q."+q.name, s, []byte(`{"code":"123456"}`))
		}
	}
	durables := map[string][]string{
		subj.CommandsStream(): {"capstore-commands", "airlock-commands", "audit-commands", "indexer-commands"},
		subj.AuditStream():    {"audit-writer"},
		subj.EventsStream():   {"indexer-events"},
	}
	for _, stream := range []string{subj.CommandsStream(), subj.EventsStream(), subj.AuditStream()} {
		pub("purge "+stream, "$JS.API.STREAM.PURGE."+stream, nil)
		pub("delete stream "+stream, "$JS.API.STREAM.DELETE."+stream, nil)
		for _, d := range durables[stream] {
			if s := "$JS.API.CONSUMER.DELETE." + stream + "." + d; !mayPublish(s) {
				pub("delete consumer "+d, s, nil)
			}
		}
	}
	for _, op := range forgedOps {
		body := forgedIntent(op)
		for _, producer := range bus.IntentProducers {
			s := subj.Intent(producer, op)
			switch {
			case producer != user && mayPublish(s):
				panic("the table lets " + user + " publish " + s)
			case producer != user:
				if producer == bus.IntentOwners[op][0] {
					pub("forged "+op+" as its owner "+producer, s, body)
				}
			case bus.IntentAllowed(user, op):
				// The user's component writes this row itself: not a forgery.
			case mayPublish(s):
				out = append(out, attack{name: "forged " + op + " under its own name", subject: s, body: body})
			default:
				pub("forged "+op+" under its own name", s, body)
			}
		}
		pub("forged "+op+" on the old subject shape", subj.AllIntents()[:len(subj.AllIntents())-1]+op, body)
	}
	sub := func(name, subject string) {
		out = append(out, attack{name: name, subscribe: true, subject: subject, byServer: true})
	}
	sub("subscribe every inbox", "_INBOX.>")
	sub("subscribe every subject", subj.Prefix()+".>")
	sub("subscribe the admin's inbox", subj.InboxPrefix(bus.UserAdmin)+".>")
	serves := func(svc string) bool { return slices.Contains(perms.SubscribeAllow, subj.Query(svc, "*")) }
	for _, svc := range []string{bus.Audit, bus.Capstore, bus.Airlock, bus.Index} {
		if !serves(svc) {
			sub("answer "+svc+"'s queries", subj.Query(svc, "*"))
		}
	}
	if !serves(bus.Audit) {
		sub("answer audit events", subj.Query(bus.Audit, schema.QAuditEvents))
	}
	sub("read the commands stream's subjects", subj.Commands(bus.Capstore))
	return out
}

// forgedIntent is an intent envelope of op whose row would count as the practitioner's act.
func forgedIntent(op string) []byte {
	in := schema.AuditIntent{ID: "forged/" + op + "/" + ulidString(), Actor: "practitioner", Op: op, Outcome: "ok",
		TargetRef: schema.S("refs/cap/proposals/x"), Detail: schema.Detail("staged_at", "2000-01-01T00:00:00Z")}
	env, _ := bus.NewEnvelope(in.ID, "audit.intent", "practitioner", "", "", time.Now(), in)
	b, _ := json.Marshal(env)
	return b
}

// subjectMatches reports whether subject matches the NATS filter pattern (* one token, > the rest).
func subjectMatches(pattern, subject string) bool {
	p, s := strings.Split(pattern, "."), strings.Split(subject, ".")
	for i, tok := range p {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || tok != "*" && tok != s[i] {
			return false
		}
	}
	return len(p) == len(s)
}

func runAdversary(t *testing.T, ab attackBus) {
	subj := bus.MustSubjects(bus.DefaultPrefix)
	before := readState(t, ab, subj)
	passed := 0 // attacks the server lets through to the receiving service
	for _, user := range adversaryUsers {
		t.Run(user, func(t *testing.T) {
			errs := make(chan error, 256)
			nc, err := nats.Connect(ab.url, append(busOptions(subj, user), nats.UserInfo(user, ab.pw[user]),
				nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
					select {
					case errs <- err:
					default:
					}
				}))...)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			js, _ := jetstream.New(nc)
			for _, a := range attacks(subj, user) {
				if !a.byServer {
					passed++
				}
				t.Run(a.name, func(t *testing.T) {
					if a.subscribe {
						if _, err := nc.SubscribeSync(a.subject); err != nil {
							t.Fatal(err)
						}
					} else if a.byServer {
						if err := nc.Publish(a.subject, a.body); err != nil {
							t.Fatal(err)
						}
					} else {
						// Past the server: the stream takes it, the receiving service refuses it.
						ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
						defer cancel()
						if _, err := js.Publish(ctx, a.subject, a.body); err != nil {
							t.Fatalf("publish %s: %v", a.subject, err)
						}
						return
					}
					_ = nc.Flush()
					deadline := time.After(10 * time.Second)
					for {
						select {
						case err := <-errs:
							if strings.Contains(err.Error(), "Permissions Violation") && strings.Contains(err.Error(), `"`+a.subject+`"`) {
								return
							}
						case <-deadline:
							t.Fatalf("%s %s as %s: no permissions violation", map[bool]string{true: "subscribe", false: "publish"}[a.subscribe], a.subject, user)
						}
					}
				})
			}
		})
	}
	// The intents the server let through reach the audit writer, which refuses them: wait until
	// AUDIT holds what it held before, then nothing anywhere may have moved.
	deadline := time.Now().Add(30 * time.Second)
	var after busState
	for {
		after = readState(t, ab, subj)
		if after.Streams[subj.AuditStream()][0] == before.Streams[subj.AuditStream()][0] || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // polling the AUDIT stream's depth with a deadline
	}
	if string(after.Refs) != string(before.Refs) {
		t.Errorf("refs moved:\n before %s\n after  %s", before.Refs, after.Refs)
	}
	if string(after.Count) != string(before.Count) || string(after.Head) != string(before.Head) {
		t.Errorf("audit log moved: count %s → %s, head %s → %s", before.Count, after.Count, before.Head, after.Head)
	}
	for name, b := range before.Streams {
		a := after.Streams[name]
		if name == subj.AuditStream() {
			// The refused intents were stored, then terminated: the depth is back, and the
			// sequence moved by exactly their number (nothing else entered the stream).
			if a[0] != b[0] || a[1] != b[1]+uint64(passed) {
				t.Errorf("%s: messages/last seq %v → %v, want the depth back after exactly %d refused intents", name, b, a, passed)
			}
			continue
		}
		if a != b {
			t.Errorf("stream %s moved: messages/last seq %v → %v", name, b, a)
		}
	}
}
