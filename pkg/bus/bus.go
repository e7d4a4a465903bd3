// Package bus declares Stasima's bus contract (spec README §2.2): the deployment prefix, subject
// builders, stream names and configurations, headers, the message envelope and the reply shape.
// Subjects are built here and only here; services never concatenate subject strings.
package bus

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stasima/stasima/pkg/fault"
)

// DefaultPrefix is the deployment prefix of every subject and stream name.
const DefaultPrefix = "stasima"

// Header names.
const (
	// HeaderReply carries the requester's reply inbox on a command (ARCH-12).
	HeaderReply = "Stasima-Reply"
	// HeaderMsgID is JetStream's de-duplication header.
	HeaderMsgID = "Nats-Msg-Id"
)

// Service names, also the second subject token.
const (
	Capstore = "capstore"
	Audit    = "audit"
	Airlock  = "airlock"
	Index    = "index"
	Gateway  = "gateway"
)

// DuplicateWindow is the de-duplication window of the COMMANDS and AUDIT streams (≥ 2 min).
const DuplicateWindow = 2 * time.Minute

var prefixRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// Subjects builds every subject and stream name for one deployment prefix.
type Subjects struct{ prefix string }

// NewSubjects validates prefix (lower-case letters, digits, '-' and '_', starting with a letter).
func NewSubjects(prefix string) (Subjects, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !prefixRE.MatchString(prefix) {
		return Subjects{}, fault.E("bus.prefix", fault.ArgumentError,
			"bus prefix %q must match %s", prefix, prefixRE.String())
	}
	return Subjects{prefix: prefix}, nil
}

// MustSubjects is NewSubjects for constant prefixes.
func MustSubjects(prefix string) Subjects {
	s, err := NewSubjects(prefix)
	if err != nil {
		panic(err)
	}
	return s
}

// Prefix returns the deployment prefix.
func (s Subjects) Prefix() string { return s.prefix }

// Command is the subject of a write command: <prefix>.<svc>.cmd.<verb>.
func (s Subjects) Command(svc, verb string) string { return s.prefix + "." + svc + ".cmd." + verb }

// Query is the subject of a read query: <prefix>.<svc>.q.<name>.
func (s Subjects) Query(svc, name string) string { return s.prefix + "." + svc + ".q." + name }

// Event is the subject of an event: <prefix>.evt.<type>.
func (s Subjects) Event(typ string) string { return s.prefix + ".evt." + typ }

// Commands filters every command of one service.
func (s Subjects) Commands(svc string) string { return s.prefix + "." + svc + ".cmd.>" }

// Progress is the core-NATS subject on which a long-running job of svc reports its progress
// (a full reindex): ephemeral, for a watching terminal, captured by no stream.
func (s Subjects) Progress(svc string) string { return s.prefix + "." + svc + ".progress" }

// AllEvents filters every event.
func (s Subjects) AllEvents() string { return s.prefix + ".evt.>" }

// AllIntents filters every audit intent.
func (s Subjects) AllIntents() string { return s.prefix + ".audit.intent.>" }

// QueueGroup is the queue group of a service's query endpoints.
func (s Subjects) QueueGroup(svc string) string { return s.prefix + "-" + svc }

// Stream names.
func (s Subjects) streamName(base string) string {
	return strings.ToUpper(strings.ReplaceAll(s.prefix, "-", "_")) + "_" + base
}

// CommandsStream is the name of the COMMANDS stream.
func (s Subjects) CommandsStream() string { return s.streamName("COMMANDS") }

// EventsStream is the name of the EVENTS stream.
func (s Subjects) EventsStream() string { return s.streamName("EVENTS") }

// AuditStream is the name of the AUDIT stream.
func (s Subjects) AuditStream() string { return s.streamName("AUDIT") }

// AirlockLeaseBucket is the JetStream key-value bucket of the airlock's single-instance lease
// one per deployment prefix.
func (s Subjects) AirlockLeaseBucket() string { return s.streamName("AIRLOCK_LEASE") }

// CommandsStreamConfig declares COMMANDS: work-queue retention, de-duplication on the command
// id, file storage. Every service that consumes from it ensures it with the same config.
func (s Subjects) CommandsStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        s.CommandsStream(),
		Description: "Stasima write commands (ARCH-12)",
		Subjects: []string{
			s.Commands(Capstore), s.Commands(Airlock), s.Commands(Audit), s.Commands(Index),
		},
		Retention:  jetstream.WorkQueuePolicy,
		Storage:    jetstream.FileStorage,
		Duplicates: DuplicateWindow,
		MaxMsgSize: 16 << 20,
	}
}

// EventsStreamConfig declares EVENTS: limits retention, maxAge old.
func (s Subjects) EventsStreamConfig(maxAge time.Duration) jetstream.StreamConfig {
	if maxAge <= 0 {
		maxAge = 30 * 24 * time.Hour
	}
	return jetstream.StreamConfig{
		Name:        s.EventsStream(),
		Description: "Stasima events",
		Subjects:    []string{s.AllEvents()},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      maxAge,
		Duplicates:  DuplicateWindow,
	}
}

// AuditStreamConfig declares AUDIT: work-queue retention, de-duplication on the intent id.
func (s Subjects) AuditStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        s.AuditStream(),
		Description: "Stasima audit intents (ARCH-2)",
		Subjects:    []string{s.AllIntents()},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  DuplicateWindow,
	}
}

// Envelope is the one message envelope of every stream (README §2.2). Fields are added, never
// repurposed; a new meaning is a new V.
type Envelope struct {
	V        int             `json:"v"`
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	At       string          `json:"at"`
	Producer string          `json:"producer"`
	Session  string          `json:"session"`
	OpID     string          `json:"op_id,omitempty"`
	Data     json.RawMessage `json:"data"`
}

// EnvelopeVersion is the current envelope version.
const EnvelopeVersion = 1

// NewEnvelope builds an envelope around data.
func NewEnvelope(id, typ, producer, session, opID string, at time.Time, data any) (Envelope, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return Envelope{}, fmt.Errorf("encode %s: %w", typ, err)
	}
	return Envelope{
		V: EnvelopeVersion, ID: id, Type: typ, At: at.UTC().Format(time.RFC3339Nano),
		Producer: producer, Session: session, OpID: opID, Data: raw,
	}, nil
}

// DecodeEnvelope parses an envelope and refuses unknown versions and missing fields.
func DecodeEnvelope(b []byte) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return Envelope{}, fault.Wrap("bus.envelope", fault.ArgumentError, err, "undecodable envelope")
	}
	if e.V != EnvelopeVersion {
		return Envelope{}, fault.E("bus.envelope", fault.ArgumentError, "envelope version %d is not %d", e.V, EnvelopeVersion)
	}
	if e.ID == "" || e.Type == "" {
		return Envelope{}, fault.E("bus.envelope", fault.ArgumentError, "envelope lacks id or type")
	}
	return e, nil
}

// Reply is the body of every command and query reply: {"ok":true,"result":…} or
// {"ok":false,"error":{"class":…,"message":…}}.
type Reply struct {
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *ReplyError     `json:"error,omitempty"`
	// Intents names the audit intents the handler published for this command (ok or not), so
	// the requester can wait on the audit barrier (ARCH-6).
	Intents []string `json:"intents,omitempty"`
	// EventSeq is the highest EVENTS stream sequence the command published, so the requester
	// can wait on the index barrier (ARCH-7); 0 when it published none.
	EventSeq uint64 `json:"event_seq,omitempty"`
}

// CommandReply encodes a command's reply: its result or error, the audit intents it produced
// and the last event sequence it published.
func CommandReply(result any, err error, intents []string, eventSeq uint64) []byte {
	if err == nil {
		raw, merr := json.Marshal(result)
		if merr == nil {
			return okBytes(raw, intents, eventSeq)
		}
		err = merr
	}
	return ErrReply(err, intents...)
}

// ReplyError is the error half of a Reply.
type ReplyError struct {
	Class   fault.Class `json:"class"`
	Op      string      `json:"op,omitempty"`
	Message string      `json:"message"`
}

// OKReply encodes a successful reply.
func OKReply(result any, intents ...string) ([]byte, error) {
	raw, err := json.Marshal(result)
	if err != nil {
		return nil, err
	}
	return okBytes(raw, intents, 0), nil
}

// okPrefix opens every successful reply: its result comes first.
const okPrefix = `{"ok":true,"result":`

// okBytes is json.Marshal(Reply{OK: true, Result: raw, …}) for raw from json.Marshal, without
// compacting raw a second time (issue 15: a canon listing is megabytes).
func okBytes(raw []byte, intents []string, eventSeq uint64) []byte {
	b := make([]byte, 0, len(okPrefix)+len(raw)+64)
	b = append(append(b, okPrefix...), raw...)
	if len(intents) > 0 {
		ids, _ := json.Marshal(intents)
		b = append(append(b, `,"intents":`...), ids...)
	}
	if eventSeq != 0 {
		b = strconv.AppendUint(append(b, `,"event_seq":`...), eventSeq, 10)
	}
	return append(b, '}')
}

// ErrReply encodes err as a failed reply; errors without a class become Internal with a
// generic message (the detail is the caller's to log).
func ErrReply(err error, intents ...string) []byte {
	re := &ReplyError{Class: fault.Internal, Message: "internal error"}
	if fe := (*fault.Error)(nil); asFault(err, &fe) {
		re = &ReplyError{Class: fe.Class, Op: fe.Op, Message: fe.Error()}
		if fe.Class == fault.Internal {
			re.Message = "internal error"
		}
	}
	b, _ := json.Marshal(Reply{OK: false, Error: re, Intents: intents})
	return b
}

// QueryReply encodes a query's answer: res on success, else err (an Internal error is logged
// under name with its detail, which the reply withholds).
func QueryReply(log *slog.Logger, name string, res any, err error) []byte {
	if err == nil {
		var body []byte
		if body, err = OKReply(res); err == nil {
			return body
		}
	}
	if fault.ClassOf(err) == fault.Internal {
		log.Error("query failed", "query", name, "err", err)
	}
	return ErrReply(err)
}

// DecodeReply parses a reply into result (when ok) or returns its error as a *fault.Error.
func DecodeReply(b []byte, result any) error {
	_, err := DecodeReplyIntents(b, result)
	return err
}

// DecodeReplyIntents is DecodeReply that also returns the reply's audit intent ids.
func DecodeReplyIntents(b []byte, result any) ([]string, error) {
	r, err := DecodeCommandReply(b, result)
	return r.Intents, err
}

// DecodeCommandReply decodes a command reply, returning its barrier fields with its error.
func DecodeCommandReply(b []byte, result any) (Reply, error) {
	// A reply that is only its result decodes it once, not the reply and then its result again
	// (issue 15). Anything else — intents, a result of the wrong shape — takes the long way,
	// which also reports the error; json.Unmarshal validates before it writes.
	if result != nil && len(b) > len(okPrefix) && string(b[:len(okPrefix)]) == okPrefix && b[len(b)-1] == '}' {
		raw := b[len(okPrefix) : len(b)-1]
		if json.Unmarshal(raw, result) == nil {
			return Reply{OK: true, Result: raw}, nil
		}
	}
	var r Reply
	if err := json.Unmarshal(b, &r); err != nil {
		return Reply{}, fault.Wrap("bus.reply", fault.BackendUnavailable, err, "undecodable reply")
	}
	return r, decodeReply(r, result)
}

func decodeReply(r Reply, result any) error {
	if !r.OK {
		if r.Error == nil {
			return fault.E("bus.reply", fault.Internal, "failed reply without error")
		}
		return &fault.Error{Op: r.Error.Op, Class: r.Error.Class, Msg: r.Error.Message}
	}
	if result == nil || len(r.Result) == 0 {
		return nil
	}
	if err := json.Unmarshal(r.Result, result); err != nil {
		return fault.Wrap("bus.reply", fault.Internal, err, "undecodable result")
	}
	return nil
}

// Finish ends a command the ARCH-12 way: reply on the requester's inbox (Stasima-Reply), then
// ack. It is called only after the command's effect, events and intents are durable. It
// returns the first failure; a reply that cannot be sent still acks (the requester's retry
// with the same op_id gets the same result). Services answer through the Router; like it,
// Finish replies only to an _INBOX. subject.
func Finish(nc *nats.Conn, msg jetstream.Msg, body []byte) error {
	var err error
	if inbox := msg.Headers().Get(HeaderReply); IsInbox(inbox) {
		err = nc.Publish(inbox, body)
	}
	if aerr := msg.Ack(); err == nil {
		err = aerr
	}
	return err
}
