"""Conversions from plain Python values to the contract's messages.

A task may be a :class:`Task` message or a dict such as
``{"question": "What is 6*7?", "answer": "42", "family": "math"}``; an action
may be the raw reply text, an :class:`Action`, a :class:`StructuredAction`,
or a dict such as ``{"kind": "add", "operator": "Programmer"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Union

from google.protobuf import json_format
from google.protobuf.message import Message

from flowsteer.v1 import action_pb2, canvas_pb2, task_pb2

TaskLike = Union[task_pb2.Task, Mapping[str, Any]]
ActionLike = Union[str, action_pb2.Action, action_pb2.StructuredAction, Mapping[str, Any]]


def enum_value(enum: Any, prefix: str, value: Any, field: str) -> int:
    """An enum number from a number, its full name, or its short name
    (``"math"`` -> ``TASK_FAMILY_MATH``; ``"mc"`` is multiple choice)."""
    if isinstance(value, bool):
        raise ValueError(f"{field}: {value!r} is not an enum value")
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{field}: {value!r} is not an enum value")
    name = value.strip().upper().replace("-", "_").replace(" ", "_")
    aliases = {"MC": "MULTIPLE_CHOICE", "COND": "CONDITIONAL", "ADD_PROMPT": "SET_PROMPT", "PROMPT": "SET_PROMPT"}
    name = aliases.get(name, name)
    for candidate in (name, prefix + name):
        try:
            return enum.Value(candidate)
        except ValueError:
            pass
    names = ", ".join(n[len(prefix):].lower() for n in enum.keys() if not n.endswith("UNSPECIFIED"))
    raise ValueError(f"{field}: unknown value {value!r} (one of {names})")


def to_task(task: TaskLike) -> task_pb2.Task:
    """A Task from a message or a dict. ``answer`` (one string) is accepted
    beside ``answers`` (a list)."""
    if isinstance(task, task_pb2.Task):
        return task
    if not isinstance(task, Mapping):
        raise TypeError(f"task must be a flowsteer.v1.Task or a dict, got {type(task).__name__}")
    d = dict(task)
    answers = list(d.pop("answers", []) or [])
    if "answer" in d:
        a = d.pop("answer")
        answers.extend(a if isinstance(a, (list, tuple)) else [a])
    family = d.pop("family", None)
    msg = task_pb2.Task()
    for key in ("public_tests", "hidden_tests"):
        if key in d:
            tests = d.pop(key)
            getattr(msg, key).CopyFrom(tests if isinstance(tests, Message) else json_format.ParseDict(tests, task_pb2.CodeTests()))
    try:
        json_format.ParseDict(d, msg, ignore_unknown_fields=False)
    except json_format.ParseError as e:
        raise ValueError(f"task: {e}") from None
    msg.answers.extend(str(a) for a in answers)
    if family is not None:
        msg.family = enum_value(task_pb2.TaskFamily, "TASK_FAMILY_", family, "task.family")
    return msg


def to_structured(d: Mapping[str, Any]) -> action_pb2.StructuredAction:
    """A StructuredAction from a dict; ``kind`` and ``structure`` take short names."""
    d = dict(d)
    msg = action_pb2.StructuredAction()
    if "kind" in d:
        msg.kind = enum_value(action_pb2.ActionKind, "ACTION_KIND_", d.pop("kind"), "action.kind")
    if "structure" in d:
        s = d.pop("structure")
        if s is not None:
            msg.structure = enum_value(action_pb2.StructureKind, "STRUCTURE_KIND_", s, "action.structure")
    if "position" in d:
        p = d.pop("position")
        if p is not None:
            msg.position = int(p)
    if "operators" in d:
        msg.operators.extend(d.pop("operators"))
    try:
        json_format.ParseDict(d, msg)
    except json_format.ParseError as e:
        raise ValueError(f"action: {e}") from None
    return msg


def to_action(action: ActionLike) -> action_pb2.Action:
    """An Action from reply text, a message, or a dict (structured fields,
    or ``{"text": ...}``)."""
    if isinstance(action, action_pb2.Action):
        return action
    if isinstance(action, str):
        return action_pb2.Action(text=action)
    if isinstance(action, action_pb2.StructuredAction):
        return action_pb2.Action(structured=action)
    if isinstance(action, Mapping):
        d = dict(action)
        if set(d) <= {"text", "structured"}:
            structured = d.get("structured")
            a = action_pb2.Action(text=d.get("text", "") or "")
            if structured is not None:
                a.structured.CopyFrom(structured if isinstance(structured, Message) else to_structured(structured))
            return a
        return action_pb2.Action(structured=to_structured(d))
    raise TypeError(f"action must be text, a dict, or an Action/StructuredAction, got {type(action).__name__}")


def to_config(config: canvas_pb2.EpisodeConfig | Mapping[str, Any] | None) -> canvas_pb2.EpisodeConfig | None:
    """An EpisodeConfig from a message or a dict of its fields (JSON names)."""
    if config is None or isinstance(config, canvas_pb2.EpisodeConfig):
        return config
    try:
        return json_format.ParseDict(dict(config), canvas_pb2.EpisodeConfig())
    except json_format.ParseError as e:
        raise ValueError(f"config: {e}") from None
