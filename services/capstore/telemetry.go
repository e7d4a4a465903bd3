package capstore

import (
	"sync/atomic"
	"time"

	"github.com/stasima/stasima/pkg/telemetry"
	"github.com/stasima/stasima/services/capstore/internal/app"
)

// meters is capstore's part of the process telemetry (issue #8 item 6): command handling, the
// command consumer's lag, and the perf ledger's git verb timings (D-23) exposed as they are
// metered, not metered twice.
type meters struct {
	tel    *telemetry.Telemetry
	ledger atomic.Pointer[app.Ledger]
}

// register adds capstore's collectors; called once, from New.
func (m *meters) register() error {
	return m.tel.Timings("git_op", "Capstore storage operations by git verb (the perf_scry ledger, D-23).",
		func(each func(verb string, n int64, total, max time.Duration)) {
			if l := m.ledger.Load(); l != nil {
				l.Each(each)
			}
		})
}

// started records the ledger of this run (the router watches the command consumer's lag).
func (m *meters) started(a *app.App) {
	m.ledger.Store(a.Ledger())
}

// commandsConsumer is capstore's durable consumer on COMMANDS.
const commandsConsumer = "capstore-commands"
