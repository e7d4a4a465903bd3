// Package telemetry is one process's metrics and traces (operations §5, issue #8 item 6): a
// Prometheus registry of its own (not the global default, so a test can run several nodes in
// one process) served on /metrics, and OpenTelemetry spans whose context crosses NATS in
// message headers (W3C TraceContext). Every method is safe on a nil *Telemetry, which records
// nothing: services take it as an optional dependency.
//
// Exporters are not chosen here: cmd/stasima builds the TracerProvider (off unless
// configured) and passes it in, so the OTLP exporter has one importer.
package telemetry

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/stasima/stasima/pkg/buildinfo"
	"github.com/stasima/stasima/pkg/fault"
)

// Namespace prefixes every metric name.
const Namespace = "stasima"

// instrumentation names the tracer.
const instrumentation = "github.com/stasima/stasima"

// propagator carries span context across the bus; fixed, so every process agrees.
var propagator = propagation.TraceContext{}

// Options configure a process's telemetry.
type Options struct {
	// TracerProvider makes the spans; nil records none (the context still crosses the bus, so
	// a process that does trace sees its callers' trace ids).
	TracerProvider trace.TracerProvider
}

// Telemetry is one process's registry and tracer.
type Telemetry struct {
	reg    *prometheus.Registry
	tracer trace.Tracer

	tools   *prometheus.CounterVec
	toolDur *prometheus.HistogramVec
	cmds    *prometheus.CounterVec
	cmdDur  *prometheus.HistogramVec
	msgs    *prometheus.CounterVec
	queries *prometheus.CounterVec
	qDur    *prometheus.HistogramVec
	panics  *prometheus.CounterVec
	refused *prometheus.CounterVec
	retries *prometheus.CounterVec
	lag     *lagCollector
}

// New builds a registry with the Go runtime and process collectors and the metrics every
// service shares.
func New(o Options) *Telemetry {
	tp := o.TracerProvider
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	t := &Telemetry{reg: prometheus.NewRegistry(), tracer: tp.Tracer(instrumentation)}
	t.tools = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "tool_calls_total",
		Help: "Tool calls by tool and outcome (ok or the fault class of T-common-6).",
	}, []string{"tool", "outcome"})
	t.toolDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "tool_call_duration_seconds",
		Help:    "Tool call duration, from decoded arguments to the result.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
	}, []string{"tool"})
	t.cmds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "commands_total",
		Help: "Commands handled by service, verb and outcome (ok or the fault class).",
	}, []string{"service", "verb", "outcome"})
	t.cmdDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "command_duration_seconds",
		Help:    "Command handling duration, from delivery to reply and ack.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
	}, []string{"service", "verb"})
	t.msgs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "consumed_messages_total",
		Help: "Events and audit intents handled by durable consumer and outcome.",
	}, []string{"consumer", "outcome"})
	t.queries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "queries_total",
		Help: "Queries answered by service, query and outcome (ok or the fault class).",
	}, []string{"service", "query", "outcome"})
	t.qDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "query_duration_seconds",
		Help:    "Query answering duration.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12),
	}, []string{"service", "query"})
	t.panics = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "handler_panics_total",
		Help: "Panics recovered into an Internal answer, by service and handler.",
	}, []string{"service", "handler"})
	t.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "refused_messages_total",
		Help: "Messages terminated unhandled by service and reason (a subject outside the table, an undecodable envelope).",
	}, []string{"service", "reason"})
	t.retries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "command_retries_total",
		Help: "Commands handed back for redelivery with backoff (the store or a peer unavailable).",
	}, []string{"service", "verb"})
	t.lag = &lagCollector{}
	// stasima_build_info is 1, labelled with the build the process runs (buildinfo.Version is
	// also serverInfo.version at MCP initialize), so a dashboard can tell builds apart.
	bi := buildinfo.Read()
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info",
		Help: "The running build: version (as serverInfo.version reports it), VCS revision and Go version; always 1.",
	}, []string{"version", "revision", "goversion"})
	build.WithLabelValues(bi.Version(), bi.Revision, bi.GoVersion).Set(1)
	t.reg.MustRegister(build,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		t.tools, t.toolDur, t.cmds, t.cmdDur, t.msgs, t.queries, t.qDur, t.panics, t.refused, t.retries, t.lag,
	)
	return t
}

// Registry is the process's registry (tests gather from it).
func (t *Telemetry) Registry() *prometheus.Registry {
	if t == nil {
		return nil
	}
	return t.reg
}

// Handler serves the registry in the Prometheus text format.
func (t *Telemetry) Handler() http.Handler {
	if t == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(t.reg, promhttp.HandlerOpts{Registry: t.reg})
}

// Register adds a collector (a service's own gauges, sampled on scrape).
func (t *Telemetry) Register(c prometheus.Collector) error {
	if t == nil {
		return nil
	}
	return t.reg.Register(c)
}

// Sample registers a gauge read by fn on each scrape (bounded by the scrape's own timeout
// budget); a scrape where fn reports !ok omits the gauge rather than inventing a value.
func (t *Telemetry) Sample(name, help string, fn func(ctx context.Context) (float64, bool)) error {
	if t == nil {
		return nil
	}
	return t.reg.Register(&sampled{desc: prometheus.NewDesc(Namespace+"_"+name, help, nil, nil), fn: fn})
}

type sampled struct {
	desc *prometheus.Desc
	fn   func(ctx context.Context) (float64, bool)
}

func (s *sampled) Describe(ch chan<- *prometheus.Desc) { ch <- s.desc }

func (s *sampled) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), lagTimeout)
	defer cancel()
	if v, ok := s.fn(ctx); ok {
		ch <- prometheus.MustNewConstMetric(s.desc, prometheus.GaugeValue, v)
	}
}

// Tracer is the process's tracer (a no-op one when tracing is off or t is nil).
func (t *Telemetry) Tracer() trace.Tracer {
	if t == nil {
		return noop.NewTracerProvider().Tracer(instrumentation)
	}
	return t.tracer
}

// Outcome is a metric's outcome label: "ok", or the fault class of err.
func Outcome(err error) string {
	if err == nil {
		return "ok"
	}
	return string(fault.ClassOf(err))
}

// Panic counts one panic that a handler of service recovered into an Internal answer; handler
// must come from the service's own table (a route or tool name it serves), never from a request.
func (t *Telemetry) Panic(service, handler string) {
	if t != nil {
		t.panics.WithLabelValues(service, handler).Inc()
	}
}

// Tool starts one tool call's span; done records its outcome and duration and ends the span.
func (t *Telemetry) Tool(ctx context.Context, tool string) (context.Context, func(err error)) {
	start := time.Now()
	ctx, span := t.Tracer().Start(ctx, "tool "+tool, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("stasima.tool", tool)))
	return ctx, func(err error) {
		outcome := Outcome(err)
		if t != nil {
			t.tools.WithLabelValues(tool, outcome).Inc()
			t.toolDur.WithLabelValues(tool).Observe(time.Since(start).Seconds())
		}
		endSpan(span, err, outcome)
	}
}

func endSpan(span trace.Span, err error, outcome string) {
	span.SetAttributes(attribute.String("stasima.outcome", outcome))
	if err != nil {
		span.SetStatus(codes.Error, outcome)
	}
	span.End()
}

// Query starts answering one query (its server span's parent from the request headers);
// done records the outcome and duration. name must come from the service's own endpoint
// table, never from the request.
func (t *Telemetry) Query(svc, name string, h nats.Header) (context.Context, func(err error)) {
	start := time.Now()
	ctx, span := t.Tracer().Start(Extract(context.Background(), h), "query "+svc+"."+name,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("messaging.system", "nats"), attribute.String("stasima.service", svc)))
	return ctx, func(err error) {
		outcome := Outcome(err)
		if t != nil {
			t.queries.WithLabelValues(svc, name, outcome).Inc()
			t.qDur.WithLabelValues(svc, name).Observe(time.Since(start).Seconds())
		}
		endSpan(span, err, outcome)
	}
}

// Handling is one delivered message in hand: its consumer span and timer.
type Handling struct {
	t         *Telemetry
	span      trace.Span
	start     time.Time
	svc, verb string // a command
	consumer  string // an event or intent
}

// Command starts the handling of a delivered command: a consumer span whose parent is the
// publisher's context from the message headers, and the timer of its duration.
func (t *Telemetry) Command(svc string, msg jetstream.Msg) (context.Context, *Handling) {
	subject := msg.Subject()
	verb := subject[strings.LastIndexByte(subject, '.')+1:]
	ctx := Extract(context.Background(), msg.Headers())
	ctx, span := t.Tracer().Start(ctx, "handle "+subject, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", subject),
			attribute.String("stasima.service", svc)))
	return ctx, &Handling{t: t, span: span, start: time.Now(), svc: svc, verb: verb}
}

// Consume starts the handling of a delivered event or audit intent by a durable consumer.
func (t *Telemetry) Consume(consumer string, msg jetstream.Msg) (context.Context, *Handling) {
	subject := msg.Subject()
	ctx := Extract(context.Background(), msg.Headers())
	ctx, span := t.Tracer().Start(ctx, "consume "+subject, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", subject),
			attribute.String("messaging.consumer.group.name", consumer)))
	return ctx, &Handling{t: t, span: span, start: time.Now(), consumer: consumer}
}

// Done records the outcome (ok, or the fault class of err) and ends the span. Call it once.
func (h *Handling) Done(err error) {
	outcome := Outcome(err)
	if h.t != nil {
		if h.consumer != "" {
			h.t.msgs.WithLabelValues(h.consumer, outcome).Inc()
		} else {
			h.t.cmds.WithLabelValues(h.svc, h.verb, outcome).Inc()
			h.t.cmdDur.WithLabelValues(h.svc, h.verb).Observe(time.Since(h.start).Seconds())
		}
	}
	endSpan(h.span, err, outcome)
}

// Refused counts a message svc terminated without handling it; reason is one of a fixed few.
func (t *Telemetry) Refused(svc, reason string) {
	if t != nil {
		t.refused.WithLabelValues(svc, reason).Inc()
	}
}

// Retried counts a command handed back for redelivery; verb comes from the service's table.
func (t *Telemetry) Retried(svc, verb string) {
	if t != nil {
		t.retries.WithLabelValues(svc, verb).Inc()
	}
}

// Publish starts a producer span for a message about to go to subject and injects its
// context into h; end the returned span once the publish is acknowledged.
func (t *Telemetry) Publish(ctx context.Context, subject string, h nats.Header) trace.Span {
	ctx, span := t.Tracer().Start(ctx, "publish "+subject, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", subject)))
	Inject(ctx, h)
	return span
}

// Msg is a message to subject carrying data and ctx's span context in its headers (for
// PublishMsgAsync where a service would PublishAsync).
func Msg(ctx context.Context, subject string, data []byte) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = data
	Inject(ctx, m.Header)
	return m
}

// Inject writes ctx's span context into h (a no-op when ctx carries none).
func Inject(ctx context.Context, h nats.Header) {
	if h == nil {
		return
	}
	propagator.Inject(ctx, HeaderCarrier(h))
}

// Extract returns ctx with the span context h carries, if any, as the remote parent.
func Extract(ctx context.Context, h nats.Header) context.Context {
	if h == nil {
		return ctx
	}
	return propagator.Extract(ctx, HeaderCarrier(h))
}

// HeaderCarrier adapts nats.Header to the propagator. NATS header keys are case-sensitive;
// the propagator writes and reads the same lower-case names (traceparent, tracestate).
type HeaderCarrier nats.Header

var _ propagation.TextMapCarrier = HeaderCarrier{}

// Get returns the first value of key.
func (c HeaderCarrier) Get(key string) string { return nats.Header(c).Get(key) }

// Set replaces key's values.
func (c HeaderCarrier) Set(key, value string) { nats.Header(c).Set(key, value) }

// Keys lists the keys.
func (c HeaderCarrier) Keys() []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	return out
}

// WatchConsumer adds a durable consumer to the lag gauges, read through js (the owning
// service's own connection and rights) on each scrape.
func (t *Telemetry) WatchConsumer(js jetstream.JetStream, stream, consumer string) {
	if t == nil {
		return
	}
	t.lag.add(lagTarget{js: js, stream: stream, consumer: consumer})
}
