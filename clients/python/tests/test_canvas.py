"""CanvasClient against the Go canvas served by the test (flowsteer serve)."""

import socket

import pytest

import flowsteer
from flowsteer import CanvasClient, canvas_pb2
from flowsteer.v1 import action_pb2, task_pb2

from conftest import FULL_PLAN, MATH_TASK


def test_list_operators(canvas):
    ops = canvas.list_operators()
    names = [o.name for o in ops]
    assert "Programmer" in names and "ScEnsemble" in names and len(names) >= 12
    mc = {o.name: o.enabled for o in canvas.list_operators(family="mc")}
    assert mc["Programmer"] is False


def test_episode_with_text_actions(canvas):
    with canvas.episode(MATH_TASK) as ep:
        assert ep.id.startswith("ep_") and ep.first.turn == 0 and not ep.done
        assert ep.first.task.question == MATH_TASK["question"]
        assert not ep.first.task.answers, "the canvas clears private fields"
        obs = ep.step("<action>add</action><operator>Programmer</operator>")
        assert obs.valid and obs.state == canvas_pb2.EPISODE_STATE_AWAITING_PROMPT
        assert obs.awaiting.operator == "Programmer"
        obs = ep.step("Compute 6*7 in Python and print it.")
        assert obs.valid and obs.state == canvas_pb2.EPISODE_STATE_BUILDING
        assert obs.workflow.dsl == "Programmer"
        assert obs.execution.executed and obs.execution.final_answer.strip()
        # A bad reply is a turn with feedback, not an error.
        bad = ep.step("<action>add</action><operator>Nonsense</operator>")
        assert not bad.valid and "Nonsense" in bad.feedback
        assert ep.last is bad


def test_episode_with_structured_actions_and_proto_task(canvas):
    task = task_pb2.Task(question="What is 2+3?", answers=["5"], family=task_pb2.TASK_FAMILY_MATH)
    with canvas.episode(task, {"maxRounds": 6, "twoStep": False}) as ep:
        assert ep.first.max_rounds == 6
        obs = ep.step(action_pb2.StructuredAction(kind=action_pb2.ACTION_KIND_ADD, operator="AnswerGenerate"))
        assert obs.valid and obs.workflow.dsl == "AnswerGenerate"
        obs = ep.step({"kind": "add", "operator": "Review"})
        assert obs.workflow.dsl == "AnswerGenerate -> Review"
        obs = ep.step({"kind": "delete", "target": obs.workflow.stages[-1].id})
        assert obs.workflow.dsl == "AnswerGenerate"


def test_unary_calls_and_resume(canvas):
    obs = canvas.create_episode(MATH_TASK, {"twoStep": False})
    eid = obs.episode_id
    obs = canvas.step(eid, {"kind": "add", "operator": "Custom"})
    assert obs.valid and obs.turn == 1
    with canvas.resume(eid) as ep:
        assert ep.id == eid and ep.first.turn == 1
        obs = ep.step({"kind": "add", "operator": "Format"})
        assert obs.workflow.dsl == "Custom -> Format"
    rec = canvas.get_episode(eid, include_turns=True)
    assert len(rec.turns) == 2 and rec.turns[1].dsl == "Custom -> Format"
    closed = canvas.close_episode(eid)
    assert closed.closed and canvas.get_episode(eid).closed
    with pytest.raises(flowsteer.FailedPrecondition, match="closed"):
        canvas.step(eid, {"kind": "finish"})


def test_run_workflow(canvas):
    events = list(canvas.run_workflow("AnswerGenerate -> Format", MATH_TASK, score=True))
    nodes = [e.node for e in events if e.WhichOneof("event") == "node"]
    result = [e.result for e in events if e.WhichOneof("event") == "result"]
    assert len(nodes) >= 2 and len(result) == 1
    assert result[0].workflow.dsl == "AnswerGenerate -> Format" and result[0].execution.executed


def test_typed_errors(canvas, addr):
    with pytest.raises(flowsteer.EpisodeNotFound) as e:
        canvas.get_episode("ep_does_not_exist")
    assert e.value.code.name == "NOT_FOUND" and "ep_does_not_exist" in str(e.value)
    with pytest.raises(flowsteer.EpisodeNotFound):
        canvas.step("ep_does_not_exist", "<action>finish</action>")
    with pytest.raises(flowsteer.EpisodeNotFound):
        with canvas.resume("ep_does_not_exist"):
            pass
    with pytest.raises(flowsteer.InvalidArgument):
        canvas.create_episode({"question": ""})
    with pytest.raises(flowsteer.InvalidArgument):
        canvas.run_workflow("Plan -> -> ", MATH_TASK).__next__()


def test_step_after_the_episode_ended(canvas):
    with canvas.episode(MATH_TASK, {"maxRounds": 1, "twoStep": False}) as ep:
        obs = ep.step({"kind": "add", "operator": "AnswerGenerate"})
        assert obs.done and obs.end_reason == canvas_pb2.END_REASON_MAX_ROUNDS
        assert ep.reward is not None and ep.reward.base == -1
        with pytest.raises(flowsteer.FlowsteerError) as e:
            ep.step({"kind": "finish"})
        assert isinstance(e.value, (flowsteer.FailedPrecondition, flowsteer.InvalidArgument))


def test_unavailable():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with CanvasClient(f"127.0.0.1:{port}", timeout=5) as c:
        with pytest.raises(flowsteer.Unavailable):
            c.list_operators()


def test_full_episode_reward_breakdown(canvas):
    """Python drives a whole episode with structured actions; the final
    observation carries the released reward."""
    plan = list(FULL_PLAN)
    with canvas.episode(MATH_TASK) as ep:
        obs = ep.first
        for _ in range(40):
            if obs.done:
                break
            if obs.state == canvas_pb2.EPISODE_STATE_AWAITING_PROMPT:
                obs = ep.step({"kind": "set_prompt", "target": obs.awaiting.node_id, "prompt": "Solve it step by step."})
            else:
                obs = ep.step(plan.pop(0))
            assert obs.valid, obs.feedback
        assert obs.done and obs.end_reason == canvas_pb2.END_REASON_FINISHED
        r = ep.reward
        assert r.released and r.structure_total == pytest.approx(1.0)
        assert r.checker == pytest.approx(0.2) and r.format == pytest.approx(0.2) and r.size == pytest.approx(0.2)
        assert r.structure == pytest.approx(0.4) and r.base == -1
        assert r.reward == pytest.approx(r.base + r.structure_total + r.correctness)
        assert r.score.method == "numeric"
    assert obs.workflow.dsl == "Plan -> [Programmer, AnswerGenerate, Custom] -> ScEnsemble -> Review ? Revise : done -> Format"
