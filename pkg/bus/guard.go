package bus

import (
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/logkey"
	"github.com/stasima/stasima/pkg/telemetry"
)

// recovered logs a recovered panic once, with its stack, counts it, and returns the Internal
// error a requester is answered (its detail withheld by ErrReply).
func recovered(log *slog.Logger, tel *telemetry.Telemetry, svc, handler string, v any) error {
	log.Error("handler panicked", "handler", handler, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	tel.Panic(svc, handler)
	return fault.E(svc+"."+handler, fault.Internal, "handler %s panicked: %v", handler, v)
}

// Guard gives a stream consumer that is not a command or query table (the audit writer's
// batches, the indexer's event applier) the kit's panic recovery and term policy.
type Guard struct {
	Service string
	Log     *slog.Logger
	Tel     *telemetry.Telemetry
}

// Call runs fn; a panic becomes an Internal error (logged with its stack and counted in
// stasima_handler_panics_total{service,handler}), so the caller's retry policy applies to it
// and the process lives on.
func (g Guard) Call(handler string, fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = recovered(g.Log, g.Tel, g.Service, handler, v)
		}
	}()
	return fn()
}

// Refuse terminates a message that can never be handled (undecodable, invalid): one error
// line, one count in stasima_refused_messages_total{service,reason}, never redelivered.
// reason is a fixed word of the caller's, also the termination reason.
func (g Guard) Refuse(msg jetstream.Msg, reason string, err error) {
	g.Log.Error("message refused", logkey.Subject, msg.Subject(), "reason", reason, logkey.Err, err)
	g.Tel.Refused(g.Service, reason)
	if terr := msg.TermWithReason(reason); terr != nil {
		g.Log.Warn("term failed", logkey.Subject, msg.Subject(), logkey.Err, terr)
	}
}
