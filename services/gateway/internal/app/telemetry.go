package app

import (
	"runtime/debug"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/telemetry"
)

// WithTelemetry counts and times every served tool call by tool and outcome (ok or the fault
// class) and opens its span, the root of the trace its commands and queries carry over the bus.
func (a *App) WithTelemetry(t *telemetry.Telemetry) *App {
	a.tel = t
	return a
}

// Recovered turns the value a handler recovered from a panic into an Internal fault carrying the
// stack (logged once by whoever answers, withheld from the caller) and counts it as
// stasima_handler_panics_total{service="gateway",handler}: one bad call answers Internal instead
// of taking every seat's process down (issue 13). handler is a tool or route name the gateway
// serves, never request text.
func (a *App) Recovered(handler string, v any) error {
	a.tel.Panic(bus.Gateway, handler)
	return fault.E(handler, fault.Internal, "panic: %v\n%s", v, debug.Stack())
}
