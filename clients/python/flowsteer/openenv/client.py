"""FlowsteerEnv: the typed OpenEnv client of a flowsteer OpenEnv server.

    async with FlowsteerEnv(base_url="http://127.0.0.1:8000") as env:
        r = await env.reset(task={"question": "What is 6*7?", "answer": "42", "family": "math"})
        r = await env.step(CanvasAction(kind="add", operator="Programmer"))

(``FlowsteerEnv(...).sync()`` gives the blocking client.) The generic
``openenv.core.GenericEnvClient`` plays the same episodes with plain dicts.
"""

from __future__ import annotations

from typing import Any

from openenv.core.client_types import StepResult
from openenv.core.env_client import EnvClient

from flowsteer.openenv.models import CanvasAction, CanvasObservation, CanvasState


class FlowsteerEnv(EnvClient[CanvasAction, CanvasObservation, CanvasState]):
    """An ``EnvClient`` whose actions are :class:`CanvasAction` and whose
    observations are :class:`CanvasObservation`."""

    def _step_payload(self, action: CanvasAction | dict[str, Any] | str) -> dict[str, Any]:
        if isinstance(action, str):
            return {"text": action}
        if isinstance(action, dict):
            return CanvasAction(**action).model_dump(exclude_defaults=True)
        return action.model_dump(exclude_defaults=True)

    def _parse_result(self, payload: dict[str, Any]) -> StepResult[CanvasObservation]:
        obs = CanvasObservation(**payload.get("observation", {}), reward=payload.get("reward"),
                                done=payload.get("done", False))
        return StepResult(observation=obs, reward=payload.get("reward"), done=payload.get("done", False))

    def _parse_state(self, payload: dict[str, Any]) -> CanvasState:
        return CanvasState(**payload)


__all__ = ["FlowsteerEnv"]
