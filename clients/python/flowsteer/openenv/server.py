"""A flowsteer canvas behind OpenEnv's server contract.

:func:`make_app` builds the FastAPI app of ``openenv.core.create_app`` over
:class:`CanvasEnv`: ``/ws`` (reset, step, state, close per WebSocket
session, one canvas episode each), ``/reset``, ``/step``, ``/state``,
``/schema`` and ``/health``. Any OpenEnv client, the generic one included,
then plays canvas episodes; ``python -m flowsteer.openenv`` serves it.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from google.protobuf import json_format
from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import EnvironmentMetadata

from flowsteer.local import canvas_address
from flowsteer.openenv.models import CanvasAction, CanvasObservation, CanvasState
from flowsteer.session import CanvasSession, breakdown_dict, shared_client
from flowsteer.v1 import canvas_pb2


def _dict(msg) -> dict[str, Any]:
    return json_format.MessageToDict(msg, preserving_proto_field_name=True)


def observation_model(obs: canvas_pb2.Observation) -> CanvasObservation:
    """The canvas's Observation message as the OpenEnv model."""
    return CanvasObservation(
        episode_id=obs.episode_id,
        task=_dict(obs.task),
        dsl=obs.workflow.dsl,
        workflow=_dict(obs.workflow),
        execution=_dict(obs.execution),
        feedback=obs.feedback,
        valid=obs.valid,
        turn=obs.turn,
        max_rounds=obs.max_rounds,
        rounds_left=obs.rounds_left,
        state=canvas_pb2.EpisodeState.Name(obs.state).removeprefix("EPISODE_STATE_").lower(),
        awaiting=_dict(obs.awaiting) if obs.HasField("awaiting") else None,
        history=[_dict(h) for h in obs.history],
        hint=obs.hint,
        prompt=_dict(obs.prompt) if obs.HasField("prompt") else None,
        operators=[_dict(o) for o in obs.operators],
        end_reason=canvas_pb2.EndReason.Name(obs.end_reason).removeprefix("END_REASON_").lower() if obs.done else "",
        reward_breakdown=breakdown_dict(obs.reward) if obs.done else None,
        last_action=obs.last_action,
        finish_answer=obs.finish_answer,
        done=obs.done,
        reward=float(obs.reward.reward) if obs.done else None,
    )


_suite_lock = threading.Lock()
_suite: list[dict[str, Any]] | None = None


def builtin_tasks(binary: str | None = None) -> list[dict[str, Any]]:
    """flowsteer's offline suite (``flowsteer tasks generate``, seed 1),
    the tasks a reset without one draws from."""
    global _suite
    with _suite_lock:
        if _suite is None:
            binary = binary or os.environ.get("FLOWSTEER_BIN") or shutil.which("flowsteer")
            if not binary:
                raise FileNotFoundError("no tasks given and no flowsteer binary to generate the offline suite")
            with tempfile.TemporaryDirectory() as d:
                subprocess.run([binary, "tasks", "generate", "--out", d, "--n", "100", "--eval-n", "0", "--seed", "1"],
                               check=True, capture_output=True, timeout=120)
                with open(os.path.join(d, "train.jsonl")) as f:
                    _suite = [json.loads(line) for line in f if line.strip()]
        return _suite


class CanvasEnv(Environment[CanvasAction, CanvasObservation, CanvasState]):
    """One canvas episode per session. ``reset(task=..., config=...)``
    opens an episode on the given task (a dict in flowsteer's task format)
    or, without one, on a task of ``tasks`` (the ``seed``-th, else a random
    one); ``config`` overlays ``EpisodeConfig`` fields (JSON names)."""

    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self, canvas: str | None = None, tasks: Sequence[Mapping[str, Any]] | None = None,
                 config: Mapping[str, Any] | None = None):
        super().__init__()
        self._addr = canvas_address(canvas)
        self._tasks = tasks
        self._config = dict(config or {})
        self._session: CanvasSession | None = None

    def reset(self, seed: Optional[int] = None, episode_id: Optional[str] = None, task: Any = None,
              config: Any = None, **kwargs: Any) -> CanvasObservation:
        self.close()
        if task is None:
            pool = self._tasks if self._tasks is not None else builtin_tasks()
            task = pool[seed % len(pool)] if seed is not None else random.choice(pool)
        elif isinstance(task, str):
            task = json.loads(task)
        cfg = {**self._config, **dict(config or {})}
        self._session = CanvasSession(shared_client(self._addr), task, cfg or None, adapter="openenv")
        return observation_model(self._session.first)

    def step(self, action: CanvasAction, timeout_s: Optional[float] = None, **kwargs: Any) -> CanvasObservation:
        if self._session is None:
            raise RuntimeError("step before reset: send reset first")
        if self._session.done:
            raise RuntimeError(f"episode {self._session.id} has ended: send reset for a new one")
        return observation_model(self._session.step(action.to_flowsteer()))

    @property
    def state(self) -> CanvasState:
        s = self._session
        if s is None:
            return CanvasState(canvas=self._addr)
        return CanvasState(episode_id=s.id, step_count=s.last.turn, task_id=s.task.id, dsl=s.last.workflow.dsl,
                           done=s.last.done, reward=float(s.last.reward.reward) if s.last.done else None,
                           canvas=self._addr)

    def get_metadata(self) -> EnvironmentMetadata:
        return EnvironmentMetadata(
            name="flowsteer",
            description="Build an agentic workflow one edit per turn on a flowsteer canvas; "
                        "reward: CWRPO (structure, then correctness once the structure is complete).",
            version="0.1.0")

    def close(self) -> None:
        if self._session is not None:
            try:
                self._session.close()
            except Exception:  # noqa: BLE001 - an expired episode must not block the next
                pass
            self._session = None


def make_app(canvas: str | None = None, tasks: Sequence[Mapping[str, Any]] | None = None,
             config: Mapping[str, Any] | None = None, max_sessions: int = 64):
    """The OpenEnv FastAPI app of a canvas (``canvas``: its address; default
    ``$FLOWSTEER_CANVAS`` or a canvas started here)."""
    from openenv.core.env_server.http_server import create_app

    addr = canvas_address(canvas)
    return create_app(lambda: CanvasEnv(addr, tasks, config), CanvasAction, CanvasObservation,
                      env_name="flowsteer", max_concurrent_envs=max_sessions)


__all__ = ["CanvasEnv", "make_app", "observation_model", "builtin_tasks"]
