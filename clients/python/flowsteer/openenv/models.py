"""The OpenEnv Action, Observation and State of a flowsteer canvas.

They mirror the contract's ``StructuredAction`` and ``Observation``
(proto/flowsteer/v1), so anything that reads OpenEnv's ``/schema`` sees the
canvas's own vocabulary: an action is either the policy's raw reply
(``text``, parsed by the canvas exactly as an LLM's reply) or the
structured fields.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from openenv.core.env_server.types import Action, Observation, State
from pydantic import Field


class CanvasAction(Action):
    """One canvas action: ``text`` (a reply with tags such as
    ``<action>add</action><operator>Programmer</operator>``) or the
    structured fields of ``StructuredAction``."""

    text: str = Field(default="", description="A policy reply; the canvas parses its tags. Empty when structured.")
    kind: Optional[Literal["add", "delete", "modify", "set_prompt", "finish"]] = Field(
        default=None, description="Structured action kind (ignored when text is set)")
    operator: str = Field(default="", description="add of one operator, modify: the operator's name")
    structure: Optional[Literal["parallel", "conditional", "loop"]] = Field(default=None, description="add of a structure")
    operators: list[str] = Field(default_factory=list, description="parallel branches or loop body")
    condition: str = Field(default="", description="conditional: the checker (Review, Verify, Test)")
    if_true: str = Field(default="", description="conditional: the repair branch, run when the checker judges the solution wrong")
    if_false: str = Field(default="", description="conditional: run when the checker passes; 'done' or empty for nothing")
    count: int = Field(default=0, ge=0, le=10, description="loop count 1..10; 0 means the default (3)")
    position: Optional[int] = Field(default=None, ge=0, description="add: 0-based top-level index; absent appends")
    target: str = Field(default="", description="delete, modify, set_prompt: the node id")
    prompt: str = Field(default="", description="set_prompt, or the awaited node's prompt")
    answer: str = Field(default="", description="finish: an answer that is recorded, never scored")
    reasoning: str = Field(default="", description="the policy's reflection (recorded)")

    def to_flowsteer(self) -> Any:
        """The action as the flowsteer client takes it (text or a dict)."""
        if self.text:
            return self.text
        if self.kind is None:
            raise ValueError("an action needs text or a kind")
        d: dict[str, Any] = {"kind": self.kind}
        for k in ("operator", "condition", "if_true", "if_false", "target", "prompt", "answer", "reasoning"):
            if getattr(self, k):
                d[k] = getattr(self, k)
        if self.structure:
            d["structure"] = self.structure
        if self.operators:
            d["operators"] = list(self.operators)
        if self.count:
            d["count"] = self.count
        if self.position is not None:
            d["position"] = self.position
        return d


class CanvasObservation(Observation):
    """What the canvas answers after each action (``reward`` is set when
    the episode ends, with its parts in ``reward_breakdown``)."""

    episode_id: str = ""
    task: dict[str, Any] = Field(default_factory=dict, description="the task, private fields cleared")
    dsl: str = Field(default="", description="the workflow in its text form")
    workflow: dict[str, Any] = Field(default_factory=dict, description="the workflow graph and statistics")
    execution: dict[str, Any] = Field(default_factory=dict, description="the last run: node results, final answer")
    feedback: str = Field(default="", description="what happened, or what was wrong and how to fix it")
    valid: bool = Field(default=True, description="whether the last action was valid and applied")
    turn: int = 0
    max_rounds: int = 0
    rounds_left: int = 0
    state: str = Field(default="", description="building, awaiting_prompt or done")
    awaiting: Optional[dict[str, Any]] = Field(default=None, description="the node whose prompt the canvas waits for")
    history: list[dict[str, Any]] = Field(default_factory=list)
    hint: str = ""
    prompt: Optional[dict[str, Any]] = Field(
        default=None, description="rendered for a language model: kind, system, user, max_new_tokens, append")
    operators: list[dict[str, Any]] = Field(default_factory=list)
    end_reason: str = ""
    reward_breakdown: Optional[dict[str, Any]] = None
    last_action: str = ""
    finish_answer: str = ""


class CanvasState(State):
    """The episode as it stands (``GET /state``, ``state`` over ``/ws``)."""

    task_id: str = ""
    dsl: str = ""
    done: bool = False
    reward: Optional[float] = None
    canvas: str = Field(default="", description="the canvas address")


__all__ = ["CanvasAction", "CanvasObservation", "CanvasState"]
