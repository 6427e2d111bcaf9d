"""OpenTelemetry tracing for flowsteer's Python side.

Client calls get a CLIENT span each and carry its context to the server as
W3C ``traceparent`` (and ``baggage``) gRPC metadata, which the Go services'
OpenTelemetry gRPC handlers read, so a Python client span and the Go server
spans it causes share one trace id. :class:`~flowsteer.PolicyServer` does
the reverse: it reads ``traceparent`` from the Go trainer's calls and opens
SERVER spans as their children.

Nothing is exported until a tracer provider is installed, e.g.::

    from flowsteer.tracing import configure_tracing
    configure_tracing("my-policy", otlp_endpoint="http://127.0.0.1:4317")

or with any span exporter (``InMemorySpanExporter`` in tests).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

TRACER_NAME = "flowsteer"


def configure_tracing(
    service_name: str = "flowsteer-python",
    *,
    exporter: Any = None,
    otlp_endpoint: str | None = None,
    simple: bool = False,
    set_global: bool = True,
):
    """Install an SDK tracer provider exporting to ``exporter`` or, with
    ``otlp_endpoint``, to an OTLP/gRPC collector (needs the ``otlp`` extra).
    ``simple`` exports each span at once (tests) instead of in batches.
    Returns the provider; call ``shutdown()`` on it to flush."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporter is None and otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=otlp_endpoint, insecure=otlp_endpoint.startswith("http://"))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter) if simple else BatchSpanProcessor(exporter))
    if set_global:
        trace.set_tracer_provider(provider)
    return provider


def _split(method: str) -> tuple[str, str]:
    service, _, name = method.lstrip("/").partition("/")
    return service, name


def start_client_span(method: str, tracer_provider: Any = None):
    """Start a CLIENT span for an RPC and return it with the W3C headers
    that carry its context."""
    tracer = trace.get_tracer(TRACER_NAME, tracer_provider=tracer_provider)
    service, name = _split(method)
    span = tracer.start_span(
        method.lstrip("/"),
        kind=SpanKind.CLIENT,
        attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
    )
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    return span, carrier


def end_span(span: Any, code: Any = None, details: str | None = None) -> None:
    """End an RPC span, recording the gRPC status code."""
    if code is not None:
        span.set_attribute("rpc.grpc.status_code", int(code.value[0]))
        if code.name != "OK":
            span.set_status(Status(StatusCode.ERROR, f"{code.name}: {details or ''}"))
    span.end()


def server_span(method: str, metadata: Sequence[tuple[str, Any]] | Mapping[str, Any] | None, tracer_provider: Any = None):
    """A SERVER span whose parent is the context in the call's metadata
    (a context manager that also makes it current)."""
    items = metadata.items() if isinstance(metadata, Mapping) else (metadata or ())
    carrier = {k.lower(): v for k, v in items if isinstance(v, str)}
    parent = propagate.extract(carrier)
    tracer = trace.get_tracer(TRACER_NAME, tracer_provider=tracer_provider)
    service, name = _split(method)
    return tracer.start_as_current_span(
        method.lstrip("/"),
        context=parent,
        kind=SpanKind.SERVER,
        attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
    )


__all__ = ["configure_tracing", "start_client_span", "end_span", "server_span"]
