package audit

import (
	"context"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stasima/stasima/pkg/telemetry"
	"github.com/stasima/stasima/services/audit/internal/chain"
)

// Durable consumer names of the audit service.
const (
	writerConsumer   = "audit-writer"
	commandsConsumer = "audit-commands"
)

// meters is the audit service's part of the process telemetry (issue #8 item 6): the chain
// length (the head seq, U-13) read from the store on scrape, and its consumers' lag.
type meters struct {
	tel   *telemetry.Telemetry
	store atomic.Pointer[chain.Store] // the store of the running service; nil before Start
}

// register adds the chain-length gauge; called once, from New.
func (m *meters) register() error {
	return m.tel.Sample("audit_chain_length", "Rows in the audit chain (the head seq, U-13).",
		func(ctx context.Context) (float64, bool) {
			st := m.store.Load()
			if st == nil {
				return 0, false
			}
			n, err := (*st).Count(ctx)
			return float64(n), err == nil
		})
}

// started records the opened store and the writer's consumer to watch (the router watches
// the command consumer).
func (m *meters) started(st chain.Store, js jetstream.JetStream, auditStream string) {
	m.store.Store(&st)
	m.tel.WatchConsumer(js, auditStream, writerConsumer)
}

// stopped forgets the store (it is about to close).
func (m *meters) stopped() { m.store.Store(nil) }
