package storetest

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stasima/stasima/services/audit/internal/chain"
)

// BenchAppend measures AppendBatch with batches of 1 and 64 routine intents, reporting rows/s.
func BenchAppend(b *testing.B, open func(b *testing.B) chain.Store) {
	for _, size := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			s := open(b)
			n := 0
			batch := make([]chain.Intent, size)
			for b.Loop() {
				for j := range batch {
					n++
					batch[j] = chain.Intent{
						ID: fmt.Sprint("bench-", n), Actor: "Recto", Op: "kip_commit",
						TargetRef: chain.Str("refs/cap/perspectives/Recto"), TargetPath: chain.Str("practice/entry.md"),
						OpID: chain.Str(fmt.Sprint("op-", n)), ResultOID: chain.Str("0123456789abcdef0123456789abcdef01234567"),
						Detail: json.RawMessage(`{"folded": "vantages/verso-k4-vap.md"}`), Session: "s468a90",
					}
				}
				if _, err := s.AppendBatch(b.Context(), batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchLedger measures the airlock's decision reads over a log holding rejects wrong codes
// (totp_reject rows spread over 100 proposals, a junk flood's worth) plus one accept: the
// consume-once lookup by window, the land lock-out count after a staging and the stage cap's
// newest-first read, each indexed and limited, and for comparison the unbounded read of every
// totp_reject row that each decision made before.
func BenchLedger(b *testing.B, s chain.Store, rejects int) {
	ctx := b.Context()
	const batch = 1000
	intents := make([]chain.Intent, 0, batch)
	for i := range rejects {
		intents = append(intents, chain.Intent{ID: fmt.Sprint("junk-", i), Actor: "system", Op: "totp_reject",
			Detail: json.RawMessage(fmt.Sprintf(`{"purpose":"stage","object":"p%d","reason":"invalid"}`, i%100))})
		if len(intents) == batch || i == rejects-1 {
			if _, err := s.AppendBatch(ctx, intents); err != nil {
				b.Fatal(err)
			}
			intents = intents[:0]
		}
	}
	accept := chain.Intent{ID: "accept", Actor: "practitioner", Op: "totp_accept",
		Detail: json.RawMessage(`{"window":56666667,"purpose":"stage","object":"p7"}`)}
	if _, err := s.AppendBatch(ctx, []chain.Intent{accept}); err != nil {
		b.Fatal(err)
	}
	w := int64(56666667)
	reads := []struct {
		name string
		f    chain.Filter
		want int
	}{
		{"window", chain.Filter{Op: chain.Str("totp_accept"), Window: &w, Limit: 1}, 1},
		{"land-lockout", chain.Filter{Op: chain.Str("totp_reject"), Purpose: chain.Str("land"), Object: chain.Str("p7"),
			AfterSeq: int64(rejects / 2), Limit: 5}, 0},
		{"stage-cap", chain.Filter{Op: chain.Str("totp_reject"), Purpose: chain.Str("stage"), Object: chain.Str("p7"),
			Limit: 5, Desc: true}, 5},
		{"unbounded-before", chain.Filter{Op: chain.Str("totp_reject")}, rejects},
	}
	for _, rd := range reads {
		b.Run(rd.name, func(b *testing.B) {
			for b.Loop() {
				rows, err := s.Events(ctx, rd.f)
				if err != nil {
					b.Fatal(err)
				}
				if len(rows) != rd.want {
					b.Fatalf("%d rows, want %d", len(rows), rd.want)
				}
			}
		})
	}
}
