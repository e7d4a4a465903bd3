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
