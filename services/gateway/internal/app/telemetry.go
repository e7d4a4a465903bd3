package app

import "github.com/stasima/stasima/pkg/telemetry"

// WithTelemetry counts and times every served tool call by tool and outcome (ok or the fault
// class) and opens its span, the root of the trace its commands and queries carry over the bus.
func (a *App) WithTelemetry(t *telemetry.Telemetry) *App {
	a.tel = t
	return a
}
