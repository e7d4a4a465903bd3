package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"testing"
)

// BenchmarkCockpit_Proposals100: one render of the proposals page (statuses, staged list and
// summaries: creator, threads, entry count, age) over 100 open proposals of two entries each.
func BenchmarkCockpit_Proposals100(b *testing.B) {
	n, _, s := landRig(b, 100)
	for i := 0; i < 100; i++ {
		stageProposal(b, s, "Recto", fmt.Sprintf("p%03d", i), "3c", 1)
	}
	base, start := startCockpit(b, n)
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	get := func(u string) {
		resp, err := hc.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: %d", u, resp.StatusCode)
		}
	}
	get(start)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		get(base + "/proposals")
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/page")
}
