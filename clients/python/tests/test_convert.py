"""Conversions from plain Python values to messages (no server needed)."""

import pytest

from flowsteer import to_action, to_task
from flowsteer.v1 import action_pb2, task_pb2


def test_task_from_dict():
    t = to_task({"question": "q?", "answer": "42", "family": "math", "id": "x", "choices": ["a", "b"]})
    assert t.question == "q?" and list(t.answers) == ["42"] and t.family == task_pb2.TASK_FAMILY_MATH
    assert t.id == "x" and list(t.choices) == ["a", "b"]
    assert to_task({"question": "q", "family": "mc"}).family == task_pb2.TASK_FAMILY_MULTIPLE_CHOICE
    assert to_task({"question": "q", "family": "TASK_FAMILY_CODE"}).family == task_pb2.TASK_FAMILY_CODE
    t = to_task({"question": "q", "family": "code", "entry_point": "f", "public_tests": {"style": "assert", "code": "assert f()==1"}})
    assert t.public_tests.code == "assert f()==1" and t.entry_point == "f"


def test_task_proto_passes_through():
    t = task_pb2.Task(question="q")
    assert to_task(t) is t


def test_bad_task_fields():
    with pytest.raises(ValueError, match="family"):
        to_task({"question": "q", "family": "poetry"})
    with pytest.raises(ValueError, match="task"):
        to_task({"question": "q", "no_such_field": 1})
    with pytest.raises(TypeError):
        to_task(42)


def test_actions():
    assert to_action("<action>finish</action>").text == "<action>finish</action>"
    a = to_action({"kind": "add", "structure": "parallel", "operators": ["Custom", "AnswerGenerate"], "position": 0})
    s = a.structured
    assert s.kind == action_pb2.ACTION_KIND_ADD and s.structure == action_pb2.STRUCTURE_KIND_PARALLEL
    assert list(s.operators) == ["Custom", "AnswerGenerate"] and s.HasField("position") and s.position == 0
    assert to_action({"kind": "set_prompt", "target": "node_1", "prompt": "p"}).structured.kind == action_pb2.ACTION_KIND_SET_PROMPT
    sa = action_pb2.StructuredAction(kind=action_pb2.ACTION_KIND_FINISH)
    assert to_action(sa).structured.kind == action_pb2.ACTION_KIND_FINISH
    both = to_action({"text": "add Plan", "structured": {"kind": "add", "operator": "Plan"}})
    assert both.text == "add Plan" and both.structured.operator == "Plan"
    with pytest.raises(ValueError, match="action.kind"):
        to_action({"kind": "explode"})
    with pytest.raises(TypeError):
        to_action(3.5)
