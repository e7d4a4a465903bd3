package chain_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stasima/stasima/services/audit/internal/chain"
)

const benchRows = 1_000_000

// benchLog is a 1,000,000-row chain built through Seal with the routine detail shapes of U-21.
var benchLog = sync.OnceValue(func() []chain.Event {
	details := []string{
		`{}`,
		`{"folded": "vantages/verso-k4-vap.md"}`,
		`{"recipients": ["Verso", "Tertia"]}`,
		`{"from": "e52c2d56d11ecaaa4373b25d4b078014b7f04143", "changed": ["meta/log/3c.md", "practice/durability-principle.md"]}`,
		`{"proposal": "p-maps", "staged_oid": "29f8018c78d01f7735f2f7b9bfabea24fb9fe969", "window": 58907521, "staged_at": 1767225630.0, "seq": "3e", "changed_paths": ["maps/canon-overview.md", "meta/log/3e.md"]}`,
	}
	rows := make([]chain.Event, benchRows)
	prev := chain.Genesis
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range rows {
		in := chain.Intent{
			ID: fmt.Sprint("i-", i), Actor: "Recto", Op: "kip_commit",
			TargetRef: chain.Str("refs/cap/perspectives/Recto"), TargetPath: chain.Str(fmt.Sprintf("practice/entry-%07d.md", i)),
			OpID: chain.Str(fmt.Sprint("op-", i)), ResultOID: chain.Str("0123456789abcdef0123456789abcdef01234567"),
			Detail: json.RawMessage(details[i%len(details)]), Session: "s468a90",
		}
		e, err := chain.Seal(&in, int64(i+1), chain.FormatTS(t0.Add(time.Duration(i)*time.Millisecond)), prev)
		if err != nil {
			panic(err)
		}
		rows[i], prev = e, e.Hash
	}
	return rows
})

// BenchmarkVerify verifies 1,000,000 in-memory rows per op (U-10): parse detail, canonicalise,
// hash, compare.
func BenchmarkVerify(b *testing.B) {
	rows := benchLog()
	b.ResetTimer()
	for b.Loop() {
		if ok, bad := chain.Verify(rows); !ok {
			b.Fatalf("bad seq %d", bad)
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkSHA256 hashes buffers of exactly the canonical lengths of BenchmarkVerify's rows:
// the floor that Verify cannot beat.
func BenchmarkSHA256(b *testing.B) {
	rows := benchLog()
	lengths := make([]int, len(rows))
	longest, total := 0, 0
	for i := range rows {
		c, err := chain.AppendCanonical(nil, &rows[i])
		if err != nil {
			b.Fatal(err)
		}
		lengths[i] = len(c)
		longest = max(longest, len(c))
		total += len(c)
	}
	buf := make([]byte, longest)
	b.SetBytes(int64(total))
	b.ResetTimer()
	for b.Loop() {
		for _, n := range lengths {
			sha256.Sum256(buf[:n])
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(total)/float64(benchRows), "canonical-bytes/row")
}
