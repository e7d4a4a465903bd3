package telemetry

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TimingSource reports operations another component already meters (capstore's perf ledger,
// D-23): each verb's count, total and maximum duration since start.
type TimingSource func(each func(verb string, n int64, total, max time.Duration))

// timings exposes a TimingSource on scrape, so the metering is done once, where it is.
type timings struct {
	src       TimingSource
	dur, peak *prometheus.Desc
}

// Timings registers src as stasima_<name>_duration_seconds (a summary: _count and _sum per
// verb) and stasima_<name>_max_duration_seconds (the slowest one seen).
func (t *Telemetry) Timings(name, help string, src TimingSource) error {
	if t == nil {
		return nil
	}
	return t.reg.Register(&timings{src: src,
		dur:  prometheus.NewDesc(Namespace+"_"+name+"_duration_seconds", help, []string{"verb"}, nil),
		peak: prometheus.NewDesc(Namespace+"_"+name+"_max_duration_seconds", help+" (the slowest since start)", []string{"verb"}, nil),
	})
}

func (c *timings) Describe(ch chan<- *prometheus.Desc) { ch <- c.dur; ch <- c.peak }

func (c *timings) Collect(ch chan<- prometheus.Metric) {
	c.src(func(verb string, n int64, total, max time.Duration) {
		ch <- prometheus.MustNewConstSummary(c.dur, uint64(n), total.Seconds(), nil, verb)
		ch <- prometheus.MustNewConstMetric(c.peak, prometheus.GaugeValue, max.Seconds(), verb)
	})
}
