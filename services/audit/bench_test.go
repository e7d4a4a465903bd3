package audit_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stasima/stasima/pkg/pgtest"
	"github.com/stasima/stasima/pkg/schema"
)

// benchWriter measures appends through the writer: `seats` producers each publish an intent
// on the AUDIT stream and wait on the barrier for its row, as tool calls do (ARCH-6).
func benchWriter(b *testing.B, r *rig, seats int) {
	r.start(b)
	c := r.client(b, 30*time.Second)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for s := 0; s < seats; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			for {
				k := next.Add(1)
				if k > int64(b.N) {
					return
				}
				in := schema.AuditIntent{ID: fmt.Sprintf("b/%d", k), Actor: fmt.Sprintf("seat-%d", s), Op: "kip_commit",
					TargetRef: schema.S("refs/cap/perspectives/x"), TargetPath: schema.S("practice/x.md"), OpID: schema.S(fmt.Sprint(k)),
					Outcome: "ok", Detail: schema.Detail("n", k)}
				if err := c.PublishIntents(context.Background(), []schema.AuditIntent{in}); err != nil {
					b.Error(err)
					return
				}
				c.Await(context.Background(), []string{in.ID})
			}
		}(s)
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rows/s")
}

func BenchmarkWriter(b *testing.B) {
	for _, seats := range []int{1, 16} {
		b.Run(fmt.Sprintf("sqlite/%dseats", seats), func(b *testing.B) { benchWriter(b, sqliteRig(b), seats) })
		b.Run(fmt.Sprintf("postgres/%dseats", seats), func(b *testing.B) { benchWriter(b, pgRig(b, pgtest.Schema(b)), seats) })
	}
}

// BenchmarkWriterBurst measures the writer's throughput over a backlog: intents queued in the
// AUDIT stream (as after an outage), appended in batches until the last row.
func BenchmarkWriterBurst(b *testing.B) {
	for _, be := range []string{"sqlite", "postgres"} {
		b.Run(be, func(b *testing.B) {
			r := sqliteRig(b)
			if be == "postgres" {
				r = pgRig(b, pgtest.Schema(b))
			}
			c := r.client(b, 60*time.Second)
			ctx := context.Background()
			const chunk = 512
			for k := 0; k < b.N; k += chunk {
				n := min(chunk, b.N-k)
				if err := c.PublishIntentsAsync(ctx, intents(k, n)); err != nil {
					b.Fatal(err)
				}
			}
			// The intents are queued (publishing is the stream's cost, not the writer's); the
			// clock runs from the writer's start to the last row.
			b.ResetTimer()
			start := time.Now()
			r.start(b)
			c.Await(ctx, []string{fmt.Sprintf("test/%d", b.N-1)})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rows/s")
		})
	}
}
