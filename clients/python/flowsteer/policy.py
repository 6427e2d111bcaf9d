"""PolicyServer: serve a Flow-Director written in Python over PolicyService.

Subclass it, implement :meth:`PolicyServer.act` (and, for a learner,
:meth:`PolicyServer.update`, :meth:`PolicyServer.save` and
:meth:`PolicyServer.load`), then ``serve(addr)``. The Go trainer trains it
with ``policy: {kind: remote, address: HOST:PORT}``: one ``ActStream`` per
episode, then ``Update`` with the step's batch of EpisodeSamples.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import threading
from collections.abc import Mapping
from concurrent import futures
from typing import Any

import grpc
from google.protobuf import json_format
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from flowsteer import tracing
from flowsteer.convert import to_action
from flowsteer.errors import InvalidArgument, Unimplemented, status_of
from flowsteer.v1 import action_pb2, canvas_pb2, policy_pb2, policy_pb2_grpc

log = logging.getLogger("flowsteer.policy")

POLICY_SERVICE = policy_pb2.DESCRIPTOR.services_by_name["PolicyService"].full_name


def to_decision(value: Any) -> policy_pb2.Decision:
    """A Decision from what ``act`` returned: a Decision, an action (text,
    dict, Action, StructuredAction), or a dict of Decision fields with
    ``action`` in any of those forms."""
    if isinstance(value, policy_pb2.Decision):
        return value
    if isinstance(value, (str, action_pb2.Action, action_pb2.StructuredAction)):
        return policy_pb2.Decision(action=to_action(value))
    if isinstance(value, Mapping):
        d = dict(value)
        if "action" not in d and not set(d) & {"token_ids", "logprobs", "state"}:
            return policy_pb2.Decision(action=to_action(d))
        action = d.pop("action", None)
        state = d.pop("state", None)
        dec = json_format.ParseDict(d, policy_pb2.Decision())
        if action is not None:
            dec.action.CopyFrom(to_action(action))
        if state is not None:
            dec.state = bytes(state)
        return dec
    raise TypeError(f"act returned {type(value).__name__}: return a Decision, an action, or a dict")


def to_stats(value: Any) -> policy_pb2.LossStats:
    if value is None:
        return policy_pb2.LossStats()
    if isinstance(value, policy_pb2.LossStats):
        return value
    if isinstance(value, Mapping):
        known = {f.name for f in policy_pb2.LossStats.DESCRIPTOR.fields}
        s = policy_pb2.LossStats()
        for k, v in value.items():
            if k in known:
                setattr(s, k, int(v) if k in ("tokens", "episodes") else float(v))
        return s
    raise TypeError(f"update returned {type(value).__name__}: return LossStats or a dict")


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class PolicyServer:
    """Base class of a policy served over PolicyService.

    Class attributes describe it: ``kind`` (a name), ``action_format``
    (``"structured"`` or ``"text"``), ``model``. A subclass that overrides
    :meth:`update` is a learner (``Describe.can_learn``).
    """

    kind: str = "python"
    action_format: str = "structured"
    model: str = ""

    def __init__(self) -> None:
        self._server: grpc.Server | None = None
        self._act_takes_sampling = len(inspect.signature(self.act).parameters) >= 2

    # ---- what a subclass implements ----

    def act(self, observation: canvas_pb2.Observation, sampling: policy_pb2.SamplingParams | None = None) -> Any:
        """Decide one turn. Return a Decision, an action, or a dict. The
        ``sampling`` argument is optional in overrides."""
        raise NotImplementedError("act")

    def update(self, request: policy_pb2.UpdateRequest) -> Any:
        """Apply one training step to ``request.episodes`` (their decisions
        carry token_ids, logprobs, mask and state; each episode its
        advantage) with ``request.loss``; return LossStats or a dict."""
        raise NotImplementedError("this policy does not learn")

    def save(self, path: str, step: int) -> None:
        """Write a checkpoint to path (on this machine)."""
        raise NotImplementedError("this policy has no checkpoints")

    def load(self, path: str) -> int:
        """Restore a checkpoint; return its step."""
        raise NotImplementedError("this policy has no checkpoints")

    @property
    def version(self) -> str:
        """The version of the current parameters (changes with updates)."""
        return ""

    def info(self) -> dict[str, str]:
        return {}

    @property
    def can_learn(self) -> bool:
        return type(self).update is not PolicyServer.update

    # ---- serving ----

    def decide(self, observation, sampling=None) -> policy_pb2.Decision:
        """act, converted to a Decision with the policy version filled in."""
        out = self.act(observation, sampling) if self._act_takes_sampling else self.act(observation)
        dec = to_decision(out)
        if not dec.policy_version:
            dec.policy_version = self.version
        return dec

    def servicer(self, tracer_provider: Any = None) -> policy_pb2_grpc.PolicyServiceServicer:
        return _Servicer(self, tracer_provider)

    def serve(
        self,
        addr: str = "127.0.0.1:50052",
        *,
        max_workers: int = 32,
        credentials: grpc.ServerCredentials | None = None,
        tracer_provider: Any = None,
    ) -> "PolicyServer":
        """Start serving on addr (port 0 picks a free port; see ``address``).
        Returns self; call :meth:`stop` or :meth:`wait`. Server spans go to
        ``tracer_provider`` (default: the global one)."""
        if self._server is not None:
            raise RuntimeError("already serving")
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="flowsteer-policy"),
            options=[("grpc.max_receive_message_length", 16 << 20), ("grpc.max_send_message_length", 32 << 20)],
        )
        policy_pb2_grpc.add_PolicyServiceServicer_to_server(self.servicer(tracer_provider), server)
        # grpc.health.v1, as the Go services serve it: the Go trainer's
        # balanced connection (policy.addresses) health-checks every replica
        # for flowsteer.v1.PolicyService and sends nothing to one that is
        # NOT_SERVING; without it grpc-go logs an error and checks nothing.
        self._health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        host = addr.rsplit(":", 1)[0]
        port = server.add_secure_port(addr, credentials) if credentials else server.add_insecure_port(addr)
        if port == 0:
            raise OSError(f"cannot listen on {addr}")
        server.start()
        for service in ("", POLICY_SERVICE):
            self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        self._server = server
        self.address = f"{host}:{port}"
        self.port = port
        log.info("policy %s serving on %s", self.kind, self.address)
        return self

    def wait(self, timeout: float | None = None) -> bool:
        assert self._server is not None, "not serving"
        return self._server.wait_for_termination(timeout)

    def stop(self, grace: float | None = 1.0) -> None:
        if self._server is not None:
            self._health.enter_graceful_shutdown()  # NOT_SERVING first: balanced clients move on
            self._server.stop(grace).wait()
            self._server = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


_FORMATS = {
    "structured": policy_pb2.ACTION_FORMAT_STRUCTURED,
    "text": policy_pb2.ACTION_FORMAT_TEXT,
}


class _Servicer(policy_pb2_grpc.PolicyServiceServicer):
    def __init__(self, policy: PolicyServer, tracer_provider: Any = None):
        self.p = policy
        self.tp = tracer_provider
        self._update_lock = threading.Lock()

    def _guard(self, context, method, fn):
        with tracing.server_span(method, context.invocation_metadata(), self.tp):
            try:
                return fn()
            except Exception as e:  # noqa: BLE001 - every error becomes a status
                code, msg = status_of(e)
                if code == grpc.StatusCode.INTERNAL:
                    log.exception("%s failed", method)
                context.abort(code, msg)

    def Describe(self, request, context):
        p = self.p
        return policy_pb2.DescribeResponse(
            kind=p.kind,
            version=p.version,
            can_learn=p.can_learn,
            action_format=_FORMATS.get(p.action_format, policy_pb2.ACTION_FORMAT_UNSPECIFIED),
            model=p.model,
            info=p.info(),
        )

    def Act(self, request, context):
        def run():
            if not request.HasField("observation"):
                raise InvalidArgument("observation is required")
            return policy_pb2.ActResponse(decision=self.p.decide(request.observation, request.sampling))

        return self._guard(context, "/flowsteer.v1.PolicyService/Act", run)

    def ActStream(self, request_iterator, context):
        with tracing.server_span("/flowsteer.v1.PolicyService/ActStream", context.invocation_metadata(), self.tp):
            for req in request_iterator:
                try:
                    if not req.act.HasField("observation"):
                        raise InvalidArgument("act.observation is required")
                    dec = self.p.decide(req.act.observation, req.act.sampling)
                except Exception as e:  # noqa: BLE001
                    code, msg = status_of(e)
                    if code == grpc.StatusCode.INTERNAL:
                        log.exception("ActStream failed")
                    context.abort(code, msg)
                yield policy_pb2.ActStreamResponse(decision=dec)

    def Update(self, request, context):
        def run():
            if not self.p.can_learn:
                raise Unimplemented(f"policy {self.p.kind} does not learn")
            with self._update_lock:
                stats = to_stats(self.p.update(request))
            return policy_pb2.UpdateResponse(stats=stats, policy_version=self.p.version)

        return self._guard(context, "/flowsteer.v1.PolicyService/Update", run)

    def SaveCheckpoint(self, request, context):
        def run():
            if not request.path:
                raise InvalidArgument("path is required")
            with self._update_lock:
                self.p.save(request.path, request.step)
            return policy_pb2.SaveCheckpointResponse(
                path=request.path, checksum=file_sha256(request.path), policy_version=self.p.version
            )

        return self._guard(context, "/flowsteer.v1.PolicyService/SaveCheckpoint", run)

    def LoadCheckpoint(self, request, context):
        def run():
            if not request.path:
                raise InvalidArgument("path is required")
            if request.checksum and file_sha256(request.path) != request.checksum:
                raise InvalidArgument(f"checkpoint {request.path}: checksum does not match {request.checksum}")
            with self._update_lock:
                step = self.p.load(request.path)
            return policy_pb2.LoadCheckpointResponse(policy_version=self.p.version, step=int(step or 0))

        return self._guard(context, "/flowsteer.v1.PolicyService/LoadCheckpoint", run)
