"""One traced canvas episode, the unit the trainer adapters share.

A :class:`CanvasSession` opens an episode over an ``Interact`` stream inside
an ``episode`` span, sends each action inside a ``turn`` span under it and
ends the span when the episode ends, so an episode played through TRL,
OpenEnv or verl is one trace: the client's ``turn`` spans, and under each the
canvas's own ``canvas.apply`` / ``workflow.execute`` spans (the canvas joins
the trace through the per-turn ``trace_context`` the client sends).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format
from opentelemetry import trace

from flowsteer.canvas import CanvasClient
from flowsteer.convert import ActionLike, TaskLike, to_task
from flowsteer.errors import FlowsteerError
from flowsteer.tracing import TRACER_NAME
from flowsteer.v1 import canvas_pb2, reward_pb2

_clients: dict[str, CanvasClient] = {}
_clients_lock = threading.Lock()


def shared_client(addr: str) -> CanvasClient:
    """One client (one HTTP/2 channel) per address for the whole process:
    an adapter makes one environment per rollout, and each of them opening
    its own channel would cost a connection per rollout."""
    with _clients_lock:
        c = _clients.get(addr)
        if c is None:
            c = _clients[addr] = CanvasClient(addr, timeout=120)
        return c


def breakdown_dict(r: reward_pb2.RewardBreakdown | None) -> dict[str, Any]:
    """A reward breakdown as a plain dict (proto field names)."""
    if r is None:
        return {}
    return json_format.MessageToDict(r, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


class CanvasSession:
    """One episode on a canvas: ``step`` actions, then ``close`` (or let an
    accepted finish or ``max_rounds`` end it) and read ``reward``."""

    def __init__(
        self,
        client: CanvasClient,
        task: TaskLike,
        config: canvas_pb2.EpisodeConfig | Mapping[str, Any] | None = None,
        *,
        adapter: str = "",
    ):
        self.client = client
        self.task = to_task(task)
        tracer = trace.get_tracer(TRACER_NAME)
        self._tracer = tracer
        self.span = tracer.start_span("episode", attributes={
            "flowsteer.adapter": adapter, "flowsteer.task.id": self.task.id})
        try:
            with trace.use_span(self.span, end_on_exit=False):
                self.episode = client.episode(self.task, config)
        except BaseException as e:
            self.span.record_exception(e)
            self.span.end()
            raise
        self.span.set_attribute("flowsteer.episode.id", self.episode.id)
        self.first: canvas_pb2.Observation = self.episode.first
        self.last: canvas_pb2.Observation = self.first
        self._closed = False
        self._lock = threading.Lock()

    @property
    def id(self) -> str:
        return self.episode.id

    @property
    def done(self) -> bool:
        return self.last.done

    def step(self, action: ActionLike) -> canvas_pb2.Observation:
        """Apply one action; returns the observation that answers it."""
        with self._lock:
            if self._closed:
                raise FlowsteerError("the episode is closed")
            with trace.use_span(self.span, end_on_exit=False):
                with self._tracer.start_as_current_span("turn", attributes={"flowsteer.turn": self.last.turn + 1}) as s:
                    obs = self.episode.step(action)
                    s.set_attribute("flowsteer.valid", obs.valid)
                    s.set_attribute("flowsteer.action", obs.last_action)
            self.last = obs
            if obs.done:
                self._end()
            return obs

    def _end(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.episode.close()
        r = self.last.reward
        self.span.set_attribute("flowsteer.reward", r.reward)
        self.span.set_attribute("flowsteer.end_reason", canvas_pb2.EndReason.Name(self.last.end_reason))
        self.span.end()

    def close(self) -> reward_pb2.RewardBreakdown:
        """End the episode: an unfinished one is closed on the canvas, which
        scores it as it stands (end reason CLOSED). Returns the reward."""
        with self._lock:
            if not self._closed:
                if not self.last.done:
                    self.episode.close()
                    with trace.use_span(self.span, end_on_exit=False):
                        rec = self.client.close_episode(self.id)
                    self.last = rec.observation
                self._end()
            return self.last.reward

    @property
    def reward(self) -> reward_pb2.RewardBreakdown | None:
        return self.last.reward if self.last.done else None


__all__ = ["CanvasSession", "shared_client", "breakdown_dict"]
