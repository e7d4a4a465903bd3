package telemetry

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// lagTimeout bounds one scrape's consumer info requests.
const lagTimeout = 2 * time.Second

var (
	pendingDesc = prometheus.NewDesc(Namespace+"_consumer_pending_messages",
		"Messages in the stream not yet delivered to the durable consumer (JetStream num_pending).",
		[]string{"stream", "consumer"}, nil)
	ackPendingDesc = prometheus.NewDesc(Namespace+"_consumer_ack_pending_messages",
		"Messages delivered to the durable consumer and not yet acknowledged (num_ack_pending).",
		[]string{"stream", "consumer"}, nil)
	redeliveredDesc = prometheus.NewDesc(Namespace+"_consumer_redelivered_messages",
		"Messages delivered more than once and not yet acknowledged (num_redelivered).",
		[]string{"stream", "consumer"}, nil)
	lagUpDesc = prometheus.NewDesc(Namespace+"_consumer_info_up",
		"1 when the consumer's info was read on this scrape, 0 when the bus did not answer.",
		[]string{"stream", "consumer"}, nil)
)

type lagTarget struct {
	js               jetstream.JetStream
	stream, consumer string
}

// lagCollector samples each watched consumer's info on scrape: the lag is the bus's own
// count, never a copy kept here.
type lagCollector struct {
	mu      sync.Mutex
	targets []lagTarget
}

func (l *lagCollector) add(t lagTarget) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, have := range l.targets {
		if have.stream == t.stream && have.consumer == t.consumer {
			l.targets[i] = t // a restarted service re-registers
			return
		}
	}
	l.targets = append(l.targets, t)
}

func (l *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pendingDesc
	ch <- ackPendingDesc
	ch <- redeliveredDesc
	ch <- lagUpDesc
}

func (l *lagCollector) Collect(ch chan<- prometheus.Metric) {
	l.mu.Lock()
	targets := append([]lagTarget(nil), l.targets...)
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), lagTimeout)
	defer cancel()
	for _, t := range targets {
		up := 0.0
		// Consumer reads the consumer's info in one request (CachedInfo is that answer).
		if c, err := t.js.Consumer(ctx, t.stream, t.consumer); err == nil {
			info := c.CachedInfo()
			up = 1
			ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(info.NumPending), t.stream, t.consumer)
			ch <- prometheus.MustNewConstMetric(ackPendingDesc, prometheus.GaugeValue, float64(info.NumAckPending), t.stream, t.consumer)
			ch <- prometheus.MustNewConstMetric(redeliveredDesc, prometheus.GaugeValue, float64(info.NumRedelivered), t.stream, t.consumer)
		}
		ch <- prometheus.MustNewConstMetric(lagUpDesc, prometheus.GaugeValue, up, t.stream, t.consumer)
	}
}
