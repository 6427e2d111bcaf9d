"""Channels with the client's cross-cutting concerns: bearer token, tracing,
message-size limits, TLS."""

from __future__ import annotations

import collections
from collections.abc import Sequence
from typing import Any

import grpc

from flowsteer import tracing

# The servers accept 16 MiB and send up to 32 MiB.
DEFAULT_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.max_receive_message_length", 32 << 20),
    ("grpc.max_send_message_length", 16 << 20),
)


class _Details(
    collections.namedtuple("_Details", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")),
    grpc.ClientCallDetails,
):
    pass


class ClientInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds ``authorization: Bearer TOKEN`` and a CLIENT span whose context
    travels as W3C ``traceparent`` metadata."""

    def __init__(self, token: str | None = None, trace: bool = True, tracer_provider: Any = None):
        self._token = token
        self._trace = trace
        self._provider = tracer_provider

    def _begin(self, details: grpc.ClientCallDetails):
        md = list(details.metadata or ())
        if self._token:
            md.append(("authorization", f"Bearer {self._token}"))
        span = None
        if self._trace:
            span, carrier = tracing.start_client_span(details.method, self._provider)
            md.extend(carrier.items())
        new = _Details(
            details.method,
            details.timeout,
            md,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )
        return new, span

    def _finish(self, span, call):
        if span is None:
            return call

        def done(f):
            try:
                code, msg = f.code(), f.details()
            except Exception:  # noqa: BLE001 - a cancelled future has no code
                code, msg = grpc.StatusCode.CANCELLED, "cancelled"
            tracing.end_span(span, code, msg)

        try:
            call.add_done_callback(done)
        except Exception:  # noqa: BLE001 - not a future: end now
            tracing.end_span(span)
        return call

    def intercept_unary_unary(self, continuation, details, request):
        new, span = self._begin(details)
        return self._finish(span, continuation(new, request))

    def intercept_unary_stream(self, continuation, details, request):
        new, span = self._begin(details)
        return self._finish(span, continuation(new, request))

    def intercept_stream_unary(self, continuation, details, request_iterator):
        new, span = self._begin(details)
        return self._finish(span, continuation(new, request_iterator))

    def intercept_stream_stream(self, continuation, details, request_iterator):
        new, span = self._begin(details)
        return self._finish(span, continuation(new, request_iterator))


def _is_loopback(addr: str) -> bool:
    """Whether addr (HOST:PORT, [V6]:PORT, or a unix: target) names this machine."""
    import ipaddress

    if addr.startswith(("unix:", "unix-abstract:")):
        return True
    host = addr.rsplit(":", 1)[0] if ":" in addr else addr
    host = host.strip("[]")
    if host.startswith("dns:///"):
        host = host[len("dns:///") :]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_channel(
    addr: str,
    *,
    tls: bool = False,
    root_certificates: bytes | None = None,
    certificate_chain: bytes | None = None,
    private_key: bytes | None = None,
    server_name: str | None = None,
    token: str | None = None,
    insecure: bool = False,
    trace: bool = True,
    tracer_provider: Any = None,
    options: Sequence[tuple[str, Any]] = (),
) -> grpc.Channel:
    """A channel to addr: plaintext, or TLS when ``tls``, root certificates
    or a client certificate (``certificate_chain`` + ``private_key``, PEM:
    mTLS) are given; ``server_name`` overrides the name checked in the
    server's certificate. A token is sent as a bearer token on every call;
    without TLS only to a loopback address unless ``insecure`` is set, as
    the Go client does (a token over plaintext on a network is readable by
    anyone on the path)."""
    opts = list(DEFAULT_OPTIONS) + list(options)
    if (certificate_chain is None) != (private_key is None):
        raise ValueError("give both certificate_chain and private_key for a client certificate, or neither")
    secure = tls or root_certificates is not None or certificate_chain is not None
    if token and not secure and not insecure and not _is_loopback(addr):
        raise ValueError(
            f"refusing to send a token to {addr} over plaintext: use tls=True or root_certificates=..., "
            "or insecure=True on a network you trust"
        )
    if server_name:
        opts.append(("grpc.ssl_target_name_override", server_name))
    if secure:
        creds = grpc.ssl_channel_credentials(
            root_certificates=root_certificates, private_key=private_key, certificate_chain=certificate_chain
        )
        ch = grpc.secure_channel(addr, creds, options=opts)
    else:
        ch = grpc.insecure_channel(addr, options=opts)
    if token or trace:
        ch = grpc.intercept_channel(ch, ClientInterceptor(token=token, trace=trace, tracer_provider=tracer_provider))
    return ch
