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
	sessions, err := openSessions(n.gw.Addr(), seats)
	if err != nil {
		b.Fatal(err)
	}
	defer closeSessions(sessions)
	b.ResetTimer()
	cpu0 := processCPU()
	start := time.Now()
	lat, failed := driveSeats(sessions, int64(b.N), "kip_commit", commitArgs("b"))
	elapsed := time.Since(start)
	b.StopTimer()
	for _, err := range failed {
		b.Error(err)
	}
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

// openSessions opens n MCP sessions to the gateway at addr, one per benchmark seat.
func openSessions(addr string, n int) ([]*mcp.ClientSession, error) {
	sessions := make([]*mcp.ClientSession, 0, n)
	for range n {
		c := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
		s, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: "http://" + addr + "/mcp"}, nil)
		if err != nil {
			closeSessions(sessions)
			return nil, err
		}
		sessions = append(sessions, s)
	}
	return sessions, nil
}

func closeSessions(sessions []*mcp.ClientSession) {
	for _, s := range sessions {
		s.Close()
	}
}

// driveSeats makes total calls of tool over sessions: one goroutine per session, acting as seat
// bench-<i>, each taking the next call number k (1…total) until none is left, with args(seat, k)
// as the call's arguments. It returns each session's latencies of the calls that succeeded and
// an error per call that did not.
func driveSeats(sessions []*mcp.ClientSession, total int64, tool string, args func(seat string, k int64) map[string]any) ([][]time.Duration, []error) {
	var next atomic.Int64
	lat := make([][]time.Duration, len(sessions))
	var mu sync.Mutex
	var failed []error
	var wg sync.WaitGroup
	for i, s := range sessions {
		wg.Go(func() {
			seat := fmt.Sprintf("bench-%02d", i)
			for k := next.Add(1); k <= total; k = next.Add(1) {
				t := time.Now()
				res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args(seat, k)})
				if err == nil && res.IsError {
					err = fmt.Errorf("%v", res.Content)
				}
				if err != nil {
					mu.Lock()
					failed = append(failed, fmt.Errorf("%s %d: %w", tool, k, err))
					mu.Unlock()
					continue
				}
				lat[i] = append(lat[i], time.Since(t))
			}
		})
	}
	wg.Wait()
	return lat, failed
}

// commitArgs is kip_commit's arguments for call k of seat: a small entry of its own perspective,
// its op id prefix-k.
func commitArgs(prefix string) func(seat string, k int64) map[string]any {
	return func(seat string, k int64) map[string]any {
		return map[string]any{"instance_id": seat, "domain": "practice", "slug": fmt.Sprintf("e-%d", k),
			"body": "a small entry body, as agents write them", "op_id": fmt.Sprintf("%s-%d", prefix, k)}
	}
}
