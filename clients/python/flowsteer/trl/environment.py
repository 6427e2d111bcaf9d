"""CanvasEnvironment: a flowsteer canvas as a TRL ``environment_factory``.

TRL's ``GRPOTrainer(environment_factory=CanvasEnvironment)`` makes one
instance per rollout, calls ``reset(**row)`` with the dataset row, exposes
every public method as a tool the model may call (name, typed arguments and
docstring become the tool's JSON schema), feeds a tool's return value or
raised exception back to the model as the tool message, and scores the
rollout with ``get_reward()``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flowsteer.local import canvas_address
from flowsteer.session import CanvasSession, breakdown_dict, shared_client
from flowsteer.v1 import canvas_pb2


class CanvasActionError(Exception):
    """An action the canvas refused; the message is the canvas's feedback,
    which names the problem and the fix (TRL shows it to the model)."""


# The episode settings a tool-calling policy needs: an add or modify takes
# its node prompt as an argument, so two-step editing (a free-text reply per
# new node) is off; no rendered tag-action prompt is needed.
DEFAULT_CONFIG: dict[str, Any] = {"twoStep": False, "renderPrompt": True}


def task_from_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """The task of a dataset row: its ``task`` column (a JSON string or a
    dict, as :func:`flowsteer.trl.task_dataset` writes it), else the row's
    own task fields (``question``, ``answer``/``answers``, ``family``, ...)."""
    t = row.get("task")
    if isinstance(t, str):
        return json.loads(t)
    if isinstance(t, Mapping):
        return dict(t)
    keys = ("id", "family", "source", "question", "context", "choices", "answers", "answer", "unanswerable",
            "entry_point", "public_tests", "hidden_tests")
    out = {k: row[k] for k in keys if k in row and row[k] is not None}
    if "question" not in out:
        raise ValueError("the dataset row has neither a 'task' column nor a 'question'")
    return out


def tool_intro(obs: canvas_pb2.Observation) -> str:
    """The first observation as text for a tool-calling model: the role,
    the operators, the rules, then the canvas's own rendering of the task."""
    lines = [
        "You are the Flow-Director. Build a workflow of operators that another model runs to solve the problem below, "
        "one tool call per turn. The canvas applies each edit, runs the workflow and answers with feedback.",
        "Operators:",
    ]
    for op in obs.operators:
        if op.enabled:
            lines.append(f"- {op.name} ({op.group}): {op.description}")
    lines.append(
        "In a conditional, if_true is the repair branch: it runs when the checker judges the solution wrong. "
        f"Call finish when the workflow is complete; the canvas says which rule is missing if any. "
        f"You have {obs.max_rounds} turns.")
    problem = obs.prompt.user if obs.HasField("prompt") else "Problem: " + obs.task.question
    return "\n".join(lines) + "\n\n" + problem


class CanvasEnvironment:
    """One episode at a time on a flowsteer canvas, for TRL's
    ``environment_factory``.

    ``canvas`` is the canvas address; without it ``$FLOWSTEER_CANVAS``, else
    a ``flowsteer serve`` started for this process. ``config`` overlays the
    episode configuration (``EpisodeConfig`` JSON names, e.g.
    ``{"maxRounds": 8}``); the defaults turn two-step editing off, since
    every add takes its prompt as an argument.

    The public methods are the canvas's actions. Each returns the canvas's
    feedback and the new state; an action the canvas refuses raises
    :class:`CanvasActionError` with the feedback (the turn still counts, as
    every reply does on the canvas).
    """

    def __init__(self, canvas: str | None = None, config: Mapping[str, Any] | None = None):
        self._addr = canvas_address(canvas)
        self._config = {**DEFAULT_CONFIG, **dict(config or {})}
        self._session: CanvasSession | None = None

    # ---- the TRL environment contract ----

    def reset(self, **row: Any) -> str:
        """Open an episode on the row's task; returns the first observation."""
        self._finish_session()
        self._session = CanvasSession(shared_client(self._addr), task_from_row(row), self._config, adapter="trl")
        return tool_intro(self._session.first)

    def get_reward(self) -> float:
        """The canvas's reward of the episode (CWRPO by default), ending it
        first if the model stopped before finishing. Its breakdown is
        :attr:`reward_breakdown`."""
        if self._session is None:
            raise RuntimeError("get_reward before reset")
        return float(self._session.close().reward)

    # ---- the canvas's actions, as tools ----

    def add_operator(self, operator: str, prompt: str = "", position: int = -1) -> str:
        """Add one operator as a new stage of the workflow.

        Args:
            operator: The operator's name, e.g. Programmer, AnswerGenerate, Custom, Review, Verify, Test, Revise, ScEnsemble, Format, Plan.
            prompt: An instruction for this node, specific to the problem (at least 5 characters); empty for none.
            position: The 0-based index of the new stage; -1 appends it at the end.

        Returns:
            The canvas's feedback and the workflow after the edit.
        """
        a: dict[str, Any] = {"kind": "add", "operator": operator, "prompt": prompt}
        if position >= 0:
            a["position"] = position
        return self._act(a)

    def add_parallel(self, operators: list[str]) -> str:
        """Add a parallel block: two or more operators run on the same input; their outputs form a list.

        Args:
            operators: The operators of the branches, e.g. ["Programmer", "AnswerGenerate", "Custom"]; ScEnsemble or Aggregate go after the block, never inside.

        Returns:
            The canvas's feedback and the workflow after the edit.
        """
        return self._act({"kind": "add", "structure": "parallel", "operators": list(operators)})

    def add_conditional(self, condition: str, if_true: str, if_false: str = "done") -> str:
        """Add a conditional `condition ? if_true : if_false`.

        Args:
            condition: A checker: Review, Verify or Test.
            if_true: The repair branch, run when the checker judges the solution wrong, e.g. Revise.
            if_false: Run when the checker passes; "done" for nothing.

        Returns:
            The canvas's feedback and the workflow after the edit.
        """
        return self._act({"kind": "add", "structure": "conditional", "condition": condition,
                          "if_true": if_true, "if_false": if_false})

    def add_loop(self, operators: list[str], count: int = 3) -> str:
        """Add a loop `(A -> B) * count`, repeated until a checker in it passes.

        Args:
            operators: The loop body, e.g. ["Review", "Revise"].
            count: The most repetitions, 1 to 10.

        Returns:
            The canvas's feedback and the workflow after the edit.
        """
        return self._act({"kind": "add", "structure": "loop", "operators": list(operators), "count": count})

    def delete(self, target: str) -> str:
        """Delete a top-level stage (a structure goes with its children).

        Args:
            target: The stage's node id, e.g. node_3.

        Returns:
            The canvas's feedback and the workflow after the edit.
        """
        return self._act({"kind": "delete", "target": target})

    def modify(self, target: str, operator: str, prompt: str = "") -> str:
        """Change the operator of one operator node.

        Args:
            target: The node id, e.g. node_3 or node_3_p1.
            operator: The new operator's name.
            prompt: A new instruction for the node (at least 5 characters); empty to keep none.

        Returns:
            The canvas's feedback and the workflow after the edit.
        """
        return self._act({"kind": "modify", "target": target, "operator": operator, "prompt": prompt})

    def set_prompt(self, target: str, prompt: str) -> str:
        """Set the instruction of one operator node.

        Args:
            target: The node id, e.g. node_3.
            prompt: The instruction, specific to the problem, at least 5 characters.

        Returns:
            The canvas's feedback and the workflow after the edit.
        """
        return self._act({"kind": "set_prompt", "target": target, "prompt": prompt})

    def finish(self, answer: str = "") -> str:
        """Finish the episode; refused, with the missing rule named, until the workflow meets the finish rules.

        Args:
            answer: The answer you expect (recorded, never scored).

        Returns:
            The canvas's feedback.
        """
        return self._act({"kind": "finish", "answer": answer})

    # ---- what reward functions and tests read ----

    @property
    def reward_breakdown(self) -> dict[str, Any]:
        """The reward's parts once the episode has ended (base, checker,
        format, size, structure, released, correctness, reward, score)."""
        return breakdown_dict(self._session.reward) if self._session is not None else {}

    @property
    def episode_id(self) -> str:
        return self._session.id if self._session is not None else ""

    @property
    def observation(self) -> canvas_pb2.Observation | None:
        return self._session.last if self._session is not None else None

    # ---- internals ----

    def _act(self, action: dict[str, Any]) -> str:
        s = self._session
        if s is None:
            raise CanvasActionError("no episode: reset() opens one")
        if s.done:
            raise CanvasActionError("the episode has ended; no further actions are taken")
        obs = s.step(action)
        text = _state_text(obs)
        if not obs.valid:
            raise CanvasActionError(text)
        return text

    def _finish_session(self) -> None:
        if self._session is not None:
            try:
                self._session.close()
            except Exception:  # noqa: BLE001 - an expired or lost episode must not block the next one
                pass
            self._session = None

    def __del__(self):  # pragma: no cover - best effort
        try:
            self._finish_session()
        except Exception:  # noqa: BLE001
            pass


def _state_text(obs: canvas_pb2.Observation) -> str:
    """The feedback on the last action and the state it led to."""
    parts = [obs.feedback]
    if obs.workflow.dsl:
        parts.append(f"Workflow: {obs.workflow.dsl}")
    if obs.done:
        parts.append(f"Episode ended ({canvas_pb2.EndReason.Name(obs.end_reason)}), reward {obs.reward.reward:+.2f}.")
    else:
        parts.append(f"Turns left: {obs.rounds_left}.")
    return "\n".join(parts)


__all__ = ["CanvasEnvironment", "CanvasActionError", "task_from_row", "tool_intro"]
