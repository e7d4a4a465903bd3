package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// benchPipeline measures the full write path: MCP call → gateway → JetStream → capstore → git
// (fsynced) → git.commit event → reply, with `seats` concurrent MCP sessions, each writing its
// own perspective. It reports commits/s and the p50/p99 latency of one call.
//
// indexed adds the index barrier (ARCH-7): each call also waits until the indexer has applied
// its commit. Without it the path is exactly the issue's: MCP → JetStream → capstore → git →
// event → audit barrier → reply.
func benchPipeline(b *testing.B, seats int, indexed bool) {
	cfg, err := loadConfig(b.TempDir(), "", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	if !indexed {
		cfg.IndexBarrier = 0
	}
	n, err := startNode(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nodeOptions{gateway: true})
	if err != nil {
		b.Fatal(err)
	}
	defer n.stop(context.Background())
	sessions := make([]*mcp.ClientSession, seats)
	for i := range sessions {
		c := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
		s, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: "http://" + n.gw.Addr() + "/mcp"}, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		sessions[i] = s
	}
	var next atomic.Int64
	lat := make([][]time.Duration, seats)
	var wg sync.WaitGroup
	b.ResetTimer()
	cpu0 := processCPU()
	start := time.Now()
	for i := 0; i < seats; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			seat := fmt.Sprintf("bench-%02d", i)
			for {
				k := next.Add(1)
				if k > int64(b.N) {
					return
				}
				t0 := time.Now()
				res, err := sessions[i].CallTool(context.Background(), &mcp.CallToolParams{Name: "kip_commit", Arguments: map[string]any{
					"instance_id": seat, "domain": "practice", "slug": fmt.Sprintf("e-%d", k),
					"body": "a small entry body, as agents write them", "op_id": fmt.Sprintf("b-%d", k),
				}})
				if err != nil || res.IsError {
					b.Errorf("commit %d: %v %v", k, err, res)
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	reportLatency(b, elapsed, lat)
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/commit")
}

// processCPU is this process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportLatency(b *testing.B, elapsed time.Duration, lat [][]time.Duration) {
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "commits/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
}

func BenchmarkPipeline_1Seat(b *testing.B)          { benchPipeline(b, 1, false) }
func BenchmarkPipeline_16Seats(b *testing.B)        { benchPipeline(b, 16, false) }
func BenchmarkPipelineIndexed_1Seat(b *testing.B)   { benchPipeline(b, 1, true) }
func BenchmarkPipelineIndexed_16Seats(b *testing.B) { benchPipeline(b, 16, true) }
