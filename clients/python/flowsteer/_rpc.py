"""Shared plumbing of the clients: channel ownership and error mapping."""

from __future__ import annotations

from typing import Any

import grpc

from flowsteer._channel import make_channel
from flowsteer.errors import FlowsteerError, from_rpc_error


def call(fn, request, timeout, **kw):
    """One unary call with gRPC errors turned into typed exceptions."""
    try:
        return fn(request, timeout=timeout, **kw)
    except grpc.RpcError as e:
        raise from_rpc_error(e) from e


def mapped(it):
    """Iterate a response stream, turning gRPC errors into typed exceptions."""
    try:
        yield from it
    except grpc.RpcError as e:
        raise from_rpc_error(e) from e


class BaseClient:
    """Owns a channel (or borrows one passed as ``channel``)."""

    def __init__(
        self,
        addr: str | None = None,
        *,
        channel: grpc.Channel | None = None,
        timeout: float | None = 60.0,
        tls: bool = False,
        root_certificates: bytes | None = None,
        certificate_chain: bytes | None = None,
        private_key: bytes | None = None,
        server_name: str | None = None,
        token: str | None = None,
        insecure: bool = False,
        trace: bool = True,
        tracer_provider: Any = None,
        options=(),
    ):
        if (addr is None) == (channel is None):
            raise ValueError("give exactly one of addr and channel")
        self.addr = addr
        self.timeout = timeout
        self._own = channel is None
        self.channel = channel or make_channel(
            addr,
            tls=tls,
            root_certificates=root_certificates,
            certificate_chain=certificate_chain,
            private_key=private_key,
            server_name=server_name,
            token=token,
            insecure=insecure,
            trace=trace,
            tracer_provider=tracer_provider,
            options=options,
        )

    def _t(self, timeout):
        return self.timeout if timeout is ... else timeout

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Block until the channel connects (Unavailable after timeout)."""
        try:
            grpc.channel_ready_future(self.channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            from flowsteer.errors import Unavailable

            raise Unavailable(f"{self.addr}: not ready after {timeout}s") from None

    def close(self) -> None:
        if self._own:
            self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


__all__ = ["BaseClient", "call", "mapped", "FlowsteerError"]
