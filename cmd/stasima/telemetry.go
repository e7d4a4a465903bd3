package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/stasima/stasima/pkg/telemetry"
)

// newTelemetry builds one process's telemetry (issue #8 item 6): its own metrics registry,
// and spans exported over OTLP/HTTP only when OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set — the exporter reads the rest of the standard
// OTEL_EXPORTER_OTLP_* variables itself. Without it no span is recorded or sent, and the
// trace context callers put on the bus still passes through. stop flushes the exporter.
func newTelemetry(ctx context.Context, service string, log *slog.Logger) (tel *telemetry.Telemetry, stop func(context.Context) error, err error) {
	stop = func(context.Context) error { return nil }
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return telemetry.New(telemetry.Options{}), stop, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("trace exporter (OTEL_EXPORTER_OTLP_ENDPOINT): %w", err)
	}
	// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, when set, win over the process's name.
	res, err := resource.New(ctx, resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		res = resource.Default()
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	log.Info("exporting traces over OTLP/HTTP", "service", service)
	return telemetry.New(telemetry.Options{TracerProvider: tp}), tp.Shutdown, nil
}
