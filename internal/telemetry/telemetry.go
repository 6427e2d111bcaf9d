// Package telemetry installs the OpenTelemetry SDK in the flowsteer binary:
// traces exported as the standard OTEL_* environment variables say (OTLP
// over gRPC or HTTP, through the contrib autoexport package; off when
// none is set), an optional stdout span dump, metrics over OTLP and/or a
// Prometheus scrape endpoint, the W3C trace-context propagator, and a
// slog handler that stamps log records with the trace and span ids.
//
// Domain packages never import this package: they use internal/obs, which
// needs only the OpenTelemetry API.
package telemetry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Options configure Setup.
type Options struct {
	// Version is reported as service.version.
	Version string
	// TraceStdout also writes every span as JSON to Stdout (default os.Stdout).
	TraceStdout bool
	Stdout      io.Writer
	// MetricsAddr, when set, serves a Prometheus scrape endpoint at
	// http://MetricsAddr/metrics.
	MetricsAddr string
	// Logger reports what was enabled and exporter errors (default slog.Default()).
	Logger *slog.Logger
	// Env replaces os.Getenv (tests).
	Env func(string) string
	// Recorder, when set, records spans into run stores (SpanRecorder):
	// a tracer provider is installed for it even when nothing is exported.
	Recorder *SpanRecorder
}

// Status says what Setup enabled.
type Status struct {
	Traces      string // "" when off; else the exporters, e.g. "otlp", "otlp+stdout"
	Metrics     string // "" when off; else the readers, e.g. "otlp", "prometheus"
	MetricsAddr string // the bound scrape address, when serving one
}

// Setup installs the SDK for serviceName (OTEL_SERVICE_NAME overrides it)
// and returns a shutdown that flushes and stops everything; call it once
// the command is done, also after a graceful stop. The W3C propagator is
// installed even when traces are off, so trace context still flows
// through this process from its callers to its callees.
func Setup(ctx context.Context, serviceName string, o Options) (shutdown func(context.Context) error, st Status, err error) {
	getenv := o.Env
	if getenv == nil {
		getenv = os.Getenv
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("opentelemetry", "err", err) }))

	var closers []func(context.Context) error
	shutdown = func(ctx context.Context) error {
		var errs []error
		for i := len(closers) - 1; i >= 0; i-- {
			errs = append(errs, closers[i](ctx))
		}
		closers = nil
		return errors.Join(errs...)
	}
	fail := func(err error) (func(context.Context) error, Status, error) {
		_ = shutdown(ctx)
		return func(context.Context) error { return nil }, Status{}, err
	}
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return shutdown, st, nil
	}

	res, err := newResource(ctx, serviceName, o.Version)
	if err != nil {
		return fail(err)
	}

	// Traces.
	var tpOpts []sdktrace.TracerProviderOption
	var names []string
	if tracesConfigured(getenv) {
		exp, err := autoexport.NewSpanExporter(ctx)
		if err != nil {
			return fail(fmt.Errorf("traces exporter (OTEL_TRACES_EXPORTER / OTEL_EXPORTER_OTLP_*): %w", err))
		}
		if !autoexport.IsNoneSpanExporter(exp) {
			tpOpts = append(tpOpts, sdktrace.WithBatcher(exp))
			names = append(names, cmp.Or(strings.ToLower(getenv("OTEL_TRACES_EXPORTER")), "otlp"))
		}
	}
	if o.TraceStdout {
		w := o.Stdout
		if w == nil {
			w = os.Stdout
		}
		exp, err := stdouttrace.New(stdouttrace.WithWriter(w), stdouttrace.WithPrettyPrint())
		if err != nil {
			return fail(err)
		}
		tpOpts = append(tpOpts, sdktrace.WithSyncer(exp))
		names = append(names, "stdout")
	}
	if o.Recorder != nil {
		tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(o.Recorder))
		names = append(names, "run store")
	}
	if len(tpOpts) > 0 {
		// The sampler follows OTEL_TRACES_SAMPLER (default: parent-based, always on).
		tp := sdktrace.NewTracerProvider(append(tpOpts, sdktrace.WithResource(res))...)
		otel.SetTracerProvider(tp)
		closers = append(closers, tp.Shutdown)
		st.Traces = strings.Join(names, "+")
	}

	// Metrics.
	var readers []sdkmetric.Option
	names = nil
	if metricsConfigured(getenv) {
		r, err := autoexport.NewMetricReader(ctx)
		if err != nil {
			return fail(fmt.Errorf("metrics exporter (OTEL_METRICS_EXPORTER / OTEL_EXPORTER_OTLP_*): %w", err))
		}
		if !autoexport.IsNoneMetricReader(r) {
			readers = append(readers, sdkmetric.WithReader(r))
			names = append(names, cmp.Or(strings.ToLower(getenv("OTEL_METRICS_EXPORTER")), "otlp"))
		}
	}
	if o.MetricsAddr != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		exp, err := otelprom.New(otelprom.WithRegisterer(reg))
		if err != nil {
			return fail(fmt.Errorf("prometheus exporter: %w", err))
		}
		readers = append(readers, sdkmetric.WithReader(exp))
		lis, err := net.Listen("tcp", o.MetricsAddr)
		if err != nil {
			return fail(fmt.Errorf("--metrics-addr: %w", err))
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Warn("metrics endpoint stopped", "err", err)
			}
		}()
		closers = append(closers, srv.Shutdown)
		st.MetricsAddr = lis.Addr().String()
		names = append(names, "prometheus")
	}
	if len(readers) > 0 {
		mp := sdkmetric.NewMeterProvider(append(readers, sdkmetric.WithResource(res))...)
		otel.SetMeterProvider(mp)
		// The provider shuts down before the scrape server (closers run in
		// reverse), so a final scrape during shutdown still answers.
		closers = append(closers, mp.Shutdown)
		st.Metrics = strings.Join(names, "+")
	}
	if st.Traces != "" || st.Metrics != "" {
		svc, _ := res.Set().Value("service.name")
		log.Info("telemetry", "service", svc.Emit(), "traces", orOff(st.Traces), "metrics", orOff(st.Metrics), "metrics_addr", st.MetricsAddr)
	}
	return shutdown, st, nil
}

func orOff(s string) string {
	if s == "" {
		return "off"
	}
	return s
}

// tracesConfigured: the OTEL_* variables ask for a traces exporter. Unlike
// autoexport's default (OTLP to localhost), nothing set means no export.
func tracesConfigured(getenv func(string) string) bool {
	if v := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); v != "" {
		return v != "none"
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// metricsConfigured: metrics are exported over OTLP only when asked for
// explicitly (OTEL_METRICS_EXPORTER or a metrics endpoint), because a
// trace backend at OTEL_EXPORTER_OTLP_ENDPOINT (Jaeger) takes no metrics.
func metricsConfigured(getenv func(string) string) bool {
	if v := strings.TrimSpace(getenv("OTEL_METRICS_EXPORTER")); v != "" {
		return v != "none"
	}
	return getenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") != ""
}

func newResource(ctx context.Context, serviceName, version string) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{attribute.String("service.name", serviceName)}
	if version != "" {
		attrs = append(attrs, attribute.String("service.version", version))
	}
	// Later detectors win: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
	// override the defaults given here.
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithProcessPID(),
		resource.WithAttributes(attrs...),
		resource.WithFromEnv(),
	)
	if err != nil && res == nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}
	return res, nil
}
