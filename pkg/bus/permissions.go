package bus

import (
	"maps"
	"slices"
	"strings"

	"github.com/stasima/stasima/pkg/schema"
)

// Bus users, one per component (ARCH-11). Each connects with its own credentials and gets
// only the subjects its component uses; admin alone is unrestricted.
const (
	UserCapstore = "capstore"
	UserAudit    = "audit"
	UserAirlock  = "airlock"
	UserIndexer  = "indexer"
	UserGateway  = "gateway"
	UserAdmin    = "admin"
)

// Users lists every component's bus user, in a fixed order.
var Users = []string{UserCapstore, UserAudit, UserAirlock, UserIndexer, UserGateway, UserAdmin}

// anyName stands for every verb or query name of a service in the access table.
const anyName = "*"

// Stream base names of the access table (Subjects prefixes them).
const (
	streamCommands = "COMMANDS"
	streamEvents   = "EVENTS"
	streamAudit    = "AUDIT"
)

// access is one component's row of the least-privilege table (ARCH-11, O-deploy-3): what it
// serves, sends, publishes and consumes. Permissions derives the server's allow lists from it.
type access struct {
	// serves is the service token whose queries the component answers ("" for none).
	serves string
	// coreCommands: the component also answers core request/reply commands on its service's
	// command subjects (the gateway's door, I-66), not only the COMMANDS stream.
	coreCommands bool
	// commands and queries name, per service token, the verbs and query names it may send.
	commands, queries map[string][]string
	// deniedQueries are query names excluded from an anyName grant.
	deniedQueries map[string][]string
	// intents: it publishes audit intents under its own producer token (audit.intent.<user>.>).
	intents bool
	// events are the event types it publishes on EVENTS (wildcards allowed).
	events []string
	// progress: it publishes its service's progress subject.
	progress bool
	// streams it ensures (create, update, info) and consumers it owns, per stream.
	streams   []string
	consumers map[string][]string
	// kvBuckets are JetStream key-value buckets it owns (ensures, reads and writes): the
	// airlock's single-instance lease. Ensuring one reads the account's JetStream info.
	kvBuckets []string
	// unrestricted: no permissions at all (admin).
	unrestricted bool
}

// table is the one least-privilege table of the bus. deploy/nats.conf and the embedded bus of
// `stasima up` are both generated from it; a test holds the file equal to it.
var table = map[string]access{
	UserCapstore: {
		serves:    Capstore,
		queries:   map[string][]string{Audit: {schema.QAuditAwait, schema.QAuditHead}, Index: {"await"}},
		intents:   true,
		events:    []string{"git.>"},
		streams:   []string{streamCommands, streamEvents, streamAudit},
		consumers: map[string][]string{streamCommands: {"capstore-commands"}},
	},
	UserAudit: {
		serves:   Audit,
		commands: map[string][]string{Capstore: {schema.CmdAnchor, schema.CmdCheckpoint}},
		queries:  map[string][]string{Capstore: {schema.QCommitOps, schema.QAnchorHead}},
		events:   []string{"audit.>"},
		streams:  []string{streamAudit, streamCommands, streamEvents},
		consumers: map[string][]string{
			streamAudit:    {"audit-writer"},
			streamCommands: {"audit-commands"},
		},
	},
	UserAirlock: {
		serves:    Airlock,
		commands:  map[string][]string{Capstore: {schema.CmdPrepareMerge, schema.CmdLand}},
		queries:   map[string][]string{Audit: {schema.QAuditEvents, schema.QAuditAwait}},
		intents:   true,
		events:    []string{schema.EvtAirlockPrefix + ">"},
		streams:   []string{streamCommands, streamEvents, streamAudit},
		consumers: map[string][]string{streamCommands: {"airlock-commands"}},
		kvBuckets: []string{"AIRLOCK_LEASE"},
	},
	UserIndexer: {
		serves: Index,
		queries: map[string][]string{Capstore: {schema.QReadBlob, schema.QReadBlobs, schema.QCanonPositions, schema.QHistory,
			schema.QResolveRef, schema.QListPaths, schema.QListRefs, schema.QChangedPaths}},
		progress: true,
		streams:  []string{streamEvents, streamCommands},
		consumers: map[string][]string{
			streamEvents:   {"indexer-events"},
			streamCommands: {"indexer-commands"},
		},
	},
	// The agent-facing gateway (O-deploy-3): its tools' commands only — no land, merge
	// preparation, bootstrap, backup or mirror push, anchor or TOTP provisioning, no audit or
	// index command; the read queries of its tools — not the audit snapshot (it writes a file)
	// nor totp_check (a code oracle); its own audit intents; no JetStream API at all (a publish
	// to COMMANDS or AUDIT gets its acknowledgement on the gateway's inbox).
	UserGateway: {
		serves: Gateway, coreCommands: true,
		commands: map[string][]string{
			Capstore: {schema.CmdKipCommit, schema.CmdPropose, schema.CmdProposeRetract, schema.CmdProposeClose,
				schema.CmdSupReconcile, schema.CmdImpSend, schema.CmdVapRecord},
			Airlock: {schema.CmdAirlockStage, schema.CmdAirlockLand, schema.CmdAirlockRevert, schema.CmdTOTPVerify},
		},
		queries: map[string][]string{
			Capstore: {anyName},
			Index:    {anyName},
			// The latest signed audit checkpoint and consistency proofs between checkpoints are
			// public (GET /checkpoint, POST /checkpoint/consistency); inclusion proofs are admin's.
			Audit: {schema.QAuditEvents, schema.QAuditLatest, schema.QAuditPortBindings, schema.QAuditAwait,
				schema.QAuditIsRead, schema.QAuditCheckpoint, schema.QAuditConsistency},
			Airlock: {schema.QAirlockCheck},
		},
		// The cockpit's summaries are the practitioner's: no gateway tool reads them. read_blobs
		// stays granted: canon_diff's pull of a whole canon reads every path (issue 15), and it
		// reads nothing read_blob does not.
		deniedQueries: map[string][]string{Capstore: {schema.QProposalSummaries, schema.QRefTips}},
		intents:       true,
	},
	UserAdmin: {unrestricted: true},
}

// Permissions is one bus user's publish and subscribe allow (and deny) lists.
type Permissions struct {
	// Unrestricted: no permissions block at all (admin).
	Unrestricted bool
	// PublishAllow, PublishDeny, SubscribeAllow and SubscribeDeny are subjects (wildcards
	// allowed); deny wins over allow.
	PublishAllow, PublishDeny, SubscribeAllow, SubscribeDeny []string
	// AllowResponses lets the user answer each request it receives once, on the request's reply
	// subject (nats allow_responses), without a publish grant on every inbox.
	AllowResponses bool
}

// InboxPrefix is the reply-inbox prefix of user's connections (nats.CustomInboxPrefix): the
// only inboxes it may subscribe to, and the ones the services it commands answer on.
func (s Subjects) InboxPrefix(user string) string { return "_INBOX." + s.prefix + "." + user }

// Intent is the subject of an audit intent: <prefix>.audit.intent.<producer>.<op>, so the
// server's permissions pin who publishes it and the writer checks op against producer.
func (s Subjects) Intent(producer, op string) string {
	return s.prefix + ".audit.intent." + producer + "." + op
}

// IntentProducer splits an intent subject, <prefix>.audit.intent.<producer>.<op>, into its
// producer and op; ok=false for any other shape (the old <prefix>.audit.intent.<op> included:
// its producer is unknown). The prefix never holds a dot (NewSubjects).
func IntentProducer(subject string) (producer, op string, ok bool) {
	tokens := strings.SplitN(subject, ".", 5)
	if len(tokens) != 5 || tokens[1] != "audit" || tokens[2] != "intent" || tokens[3] == "" || tokens[4] == "" {
		return "", "", false
	}
	return tokens[3], tokens[4], true
}

// IntentOwners is the audit ops whose rows only certain components may write (audit.md U-21):
// the rows the human gate, the airlock's approval state and the binding table are folded from.
// An op not listed is written by the tools' own paths (a tool's row or its refusal) and may come
// from any intent producer. The audit writer refuses a listed op from any other producer, so a
// forged row is refused even if a bus permission is ever misconfigured (ARCH-2, ARCH-11).
var IntentOwners = map[string][]string{
	"land_merge":           {UserCapstore},
	"land":                 {UserCapstore},
	"prepare_merge":        {UserCapstore},
	"bootstrap":            {UserCapstore},
	"backup_push":          {UserCapstore},
	"mirror_push":          {UserCapstore},
	"anchor":               {UserCapstore},
	"reconcile_report":     {UserCapstore},
	"name_collision":       {UserCapstore},
	"airlock_stage":        {UserAirlock},
	"airlock_revert":       {UserAirlock},
	"airlock_rate_limited": {UserAirlock},
	"airlock_locked":       {UserAirlock}, // the failure budget's lock: a forged one would lock the airlock
	"airlock_unlocked":     {UserAirlock},
	"totp_accept":          {UserAirlock},
	"totp_reject":          {UserAirlock},
	"totp_provision":       {UserAirlock},
	"oauth_totp_reject":    {UserAirlock},
	// The console grant (I-66) is the gateway's door; the TOTP approval is the airlock's.
	"oauth_approve":           {UserAirlock, UserGateway},
	"oauth_client_registered": {UserGateway},
	"oauth_txn_burned":        {UserGateway},
	"canon_pull":              {UserGateway},
	"session_binding":         {UserGateway},
	"port_binding":            {UserGateway, UserAdmin},
	"read_receipt":            {UserGateway, UserAdmin},
}

// IntentProducers are the components that publish audit intents.
var IntentProducers = []string{UserCapstore, UserAirlock, UserGateway, UserAdmin}

// IntentAllowed reports whether producer may write a row of op: a known producer, and one of
// the op's owners when IntentOwners lists it.
func IntentAllowed(producer, op string) bool {
	if !slices.Contains(IntentProducers, producer) {
		return false
	}
	owners, ok := IntentOwners[op]
	return !ok || slices.Contains(owners, producer)
}

// Permissions derives user's allow lists from the table; an unknown user gets nothing.
func (s Subjects) Permissions(user string) Permissions {
	a, ok := table[user]
	if !ok {
		return Permissions{PublishAllow: []string{}, SubscribeAllow: []string{}}
	}
	if a.unrestricted {
		return Permissions{Unrestricted: true}
	}
	var p Permissions
	pub := func(subj ...string) { p.PublishAllow = append(p.PublishAllow, subj...) }
	sub := func(subj ...string) { p.SubscribeAllow = append(p.SubscribeAllow, subj...) }

	// Its own inbox: replies to its requests, JetStream acknowledgements and pull deliveries.
	sub(s.InboxPrefix(user) + ".>")
	for _, svc := range slices.Sorted(maps.Keys(a.commands)) {
		for _, verb := range a.commands[svc] {
			pub(s.Command(svc, verb))
		}
	}
	for _, svc := range slices.Sorted(maps.Keys(a.queries)) {
		for _, name := range a.queries[svc] {
			if name == anyName {
				pub(s.Query(svc, "*"))
				for _, d := range a.deniedQueries[svc] {
					p.PublishDeny = append(p.PublishDeny, s.Query(svc, d))
				}
				continue
			}
			pub(s.Query(svc, name))
		}
	}
	if a.intents != slices.Contains(IntentProducers, user) {
		panic("bus: the access table and IntentProducers disagree on " + user)
	}
	if a.intents {
		pub(s.prefix + ".audit.intent." + user + ".>")
	}
	for _, typ := range a.events {
		pub(s.Event(typ))
	}
	if a.progress && a.serves != "" {
		pub(s.Progress(a.serves))
	}
	if a.serves != "" {
		sub(s.Query(a.serves, "*"))
		p.AllowResponses = true
		if a.coreCommands {
			sub(s.Command(a.serves, "*"))
		}
		// A command from the COMMANDS stream is answered on the requester's inbox (the
		// Stasima-Reply header), not on a reply subject: the inboxes of those who command it.
		// A core request/reply command (the gateway's door) is answered under allow_responses.
		for _, other := range Users {
			if _, ok := table[other].commands[a.serves]; (ok || table[other].unrestricted) && len(a.consumers[streamCommands]) > 0 {
				pub(s.InboxPrefix(other) + ".>")
			}
		}
	}
	for _, st := range a.streams {
		name := s.streamName(st)
		pub("$JS.API.STREAM.CREATE."+name, "$JS.API.STREAM.UPDATE."+name, "$JS.API.STREAM.INFO."+name)
	}
	for _, st := range slices.Sorted(maps.Keys(a.consumers)) {
		stream := s.streamName(st)
		for _, c := range a.consumers[st] {
			pub("$JS.API.CONSUMER.CREATE."+stream+"."+c, "$JS.API.CONSUMER.CREATE."+stream+"."+c+".>",
				"$JS.API.CONSUMER.INFO."+stream+"."+c, "$JS.API.CONSUMER.DELETE."+stream+"."+c,
				"$JS.API.CONSUMER.MSG.NEXT."+stream+"."+c, "$JS.ACK."+stream+"."+c+".>")
		}
	}
	if len(a.kvBuckets) > 0 {
		pub("$JS.API.INFO")
	}
	for _, b := range a.kvBuckets {
		bucket := s.streamName(b)
		stream := "KV_" + bucket
		pub("$JS.API.STREAM.CREATE."+stream, "$JS.API.STREAM.UPDATE."+stream, "$JS.API.STREAM.INFO."+stream,
			"$JS.API.STREAM.MSG.GET."+stream, "$JS.API.DIRECT.GET."+stream, "$JS.API.DIRECT.GET."+stream+".>",
			"$KV."+bucket+".>")
	}
	return p
}
