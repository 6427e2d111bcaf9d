"""CanvasClient: drive canvas episodes from Python.

    with CanvasClient("127.0.0.1:50051") as client:
        with client.episode({"question": "What is 6*7?", "answer": "42", "family": "math"}) as ep:
            obs = ep.step("<action>add</action><operator>Programmer</operator>")

Each :class:`Episode` is one bidirectional ``Interact`` stream: the first
message opens (or resumes) the episode, then every action gets exactly one
observation back.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import grpc
from opentelemetry import propagate

from flowsteer import _rpc
from flowsteer.convert import ActionLike, TaskLike, enum_value, to_action, to_config, to_task
from flowsteer.errors import FailedPrecondition, from_rpc_error
from flowsteer.v1 import canvas_pb2, canvas_pb2_grpc, reward_pb2, task_pb2

_END = object()


class Episode:
    """One open episode over an ``Interact`` stream. Use it as a context
    manager (or call :meth:`close`)."""

    def __init__(self, client: "CanvasClient", first: canvas_pb2.InteractRequest, timeout: float | None):
        self._client = client
        self._requests: queue.Queue = queue.Queue()
        self._requests.put(first)
        self._lock = threading.Lock()
        self._closed = False
        self._stream = client._stub.Interact(self._iter_requests(), timeout=timeout)
        #: The observation that opened (or resumed) the episode.
        self.first: canvas_pb2.Observation = self._recv()
        #: The latest observation.
        self.last: canvas_pb2.Observation = self.first

    def _iter_requests(self):
        while True:
            m = self._requests.get()
            if m is _END:
                return
            yield m

    def _recv(self) -> canvas_pb2.Observation:
        try:
            resp = next(self._stream)
        except StopIteration:
            self._closed = True
            raise FailedPrecondition("the canvas ended the episode stream") from None
        except grpc.RpcError as e:
            self._closed = True
            raise from_rpc_error(e) from e
        return resp.observation

    @property
    def id(self) -> str:
        return self.first.episode_id

    @property
    def done(self) -> bool:
        return self.last.done

    @property
    def reward(self) -> reward_pb2.RewardBreakdown | None:
        """The reward breakdown once the episode has ended, else None."""
        return self.last.reward if self.last.done else None

    def step(self, action: ActionLike) -> canvas_pb2.Observation:
        """Send one action (reply text, a structured dict, or a message) and
        return the observation that answers it."""
        msg = canvas_pb2.InteractRequest(action=to_action(action))
        # The stream's metadata carried the trace context of the open; each
        # step carries the current one, so the canvas's spans for this turn
        # join the caller's span for it.
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        if carrier:
            msg.trace_context.update(carrier)
        with self._lock:
            if self._closed:
                raise FailedPrecondition("step on a closed episode stream")
            self._requests.put(msg)
            obs = self._recv()
            self.last = obs
            return obs

    def close(self, free: bool = False) -> None:
        """End the stream. The episode stays on the canvas (resume it by id,
        read it with get_episode) until it expires, unless ``free``."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._requests.put(_END)
                try:
                    for _ in self._stream:
                        pass
                except grpc.RpcError:
                    pass
        if free:
            self._client.close_episode(self.id)

    def cancel(self) -> None:
        self._closed = True
        self._requests.put(_END)
        self._stream.cancel()

    def __enter__(self) -> "Episode":
        return self

    def __exit__(self, exc_type, *_):
        if exc_type is not None:
            self.cancel()
        else:
            self.close()


class CanvasClient(_rpc.BaseClient):
    """A client of ``CanvasService``.

    ``timeout`` is the deadline of each unary call in seconds (None: no
    deadline); every method takes ``timeout=`` to override it. ``tls`` or
    ``root_certificates`` switch to TLS; ``token`` is sent as a bearer token.
    """

    def __init__(self, addr: str | None = None, **kw: Any):
        super().__init__(addr, **kw)
        self._stub = canvas_pb2_grpc.CanvasServiceStub(self.channel)

    def episode(
        self,
        task: TaskLike,
        config: canvas_pb2.EpisodeConfig | Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> Episode:
        """Open an episode on task over an Interact stream. ``timeout`` is
        the deadline of the whole stream (None: none)."""
        req = canvas_pb2.CreateEpisodeRequest(task=to_task(task))
        cfg = to_config(config)
        if cfg is not None:
            req.config.CopyFrom(cfg)
        return Episode(self, canvas_pb2.InteractRequest(open=req), timeout)

    def resume(self, episode_id: str, *, timeout: float | None = None) -> Episode:
        """Re-attach to an open episode (e.g. after a disconnect)."""
        return Episode(self, canvas_pb2.InteractRequest(resume=canvas_pb2.ResumeEpisode(episode_id=episode_id)), timeout)

    # ---- unary calls ----

    def list_operators(self, library: str = "", family: Any = None, *, timeout: Any = ...) -> list[canvas_pb2.OperatorInfo]:
        req = canvas_pb2.ListOperatorsRequest(library=library)
        if family is not None:
            req.family = enum_value(task_pb2.TaskFamily, "TASK_FAMILY_", family, "family")
        return list(_rpc.call(self._stub.ListOperators, req, self._t(timeout)).operators)

    def create_episode(self, task: TaskLike, config: Any = None, *, timeout: Any = ...) -> canvas_pb2.Observation:
        req = canvas_pb2.CreateEpisodeRequest(task=to_task(task))
        cfg = to_config(config)
        if cfg is not None:
            req.config.CopyFrom(cfg)
        return _rpc.call(self._stub.CreateEpisode, req, self._t(timeout)).observation

    def step(self, episode_id: str, action: ActionLike, *, timeout: Any = ...) -> canvas_pb2.Observation:
        req = canvas_pb2.StepRequest(episode_id=episode_id, action=to_action(action))
        return _rpc.call(self._stub.Step, req, self._t(timeout)).observation

    def get_episode(self, episode_id: str, include_turns: bool = False, *, timeout: Any = ...) -> canvas_pb2.Episode:
        req = canvas_pb2.GetEpisodeRequest(episode_id=episode_id, include_turns=include_turns)
        resp = _rpc.call(self._stub.GetEpisode, req, self._t(timeout))
        episode = resp.episode
        # A record larger than one reply comes in pages of turns.
        while resp.next_turns_from > 0:
            req = canvas_pb2.GetEpisodeRequest(episode_id=episode_id, include_turns=True,
                                               turns_from=resp.next_turns_from)
            resp = _rpc.call(self._stub.GetEpisode, req, self._t(timeout))
            episode.turns.extend(resp.episode.turns)
        return episode

    def close_episode(self, episode_id: str, *, timeout: Any = ...) -> canvas_pb2.Episode:
        req = canvas_pb2.CloseEpisodeRequest(episode_id=episode_id)
        return _rpc.call(self._stub.CloseEpisode, req, self._t(timeout)).episode

    def run_workflow(
        self,
        dsl: str,
        task: TaskLike,
        *,
        prompts: Mapping[str, str] | None = None,
        backend: str = "",
        library: str = "",
        score: bool = False,
        timeout: Any = ...,
    ) -> Iterator[canvas_pb2.RunWorkflowResponse]:
        """Run a DSL workflow on a task: node events, then the result."""
        req = canvas_pb2.RunWorkflowRequest(
            dsl=dsl, task=to_task(task), prompts=dict(prompts or {}), backend=backend, library=library, score=score
        )
        return _rpc.mapped(self._stub.RunWorkflow(req, timeout=self._t(timeout)))
