"""OpenEnv against a served canvas (make test-integrations).

`flowsteer openenv serve --canvas ADDR` (python -m flowsteer.openenv) serves the canvas through
openenv-core's create_app; the generic client of openenv-core (no flowsteer
code on the client side) plays a whole episode to a reward, 32 sessions play
concurrently, the typed FlowsteerEnv client plays one with CanvasAction, and
each episode is one trace with the canvas's spans under it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time

import pytest
from conftest import FULL_PLAN

pytestmark = pytest.mark.skipif(not os.environ.get("FLOWSTEER_INTEGRATION_TESTS"),
                                reason="make test-integrations runs these (FLOWSTEER_INTEGRATION_TESTS=1)")

TASK = {"id": "oe-math-1", "question": "What is 6*7?", "answer": "42", "family": "math"}
PLAN = FULL_PLAN  # earns the full structure score, so the correctness reward is released


@pytest.fixture(scope="module")
def openenv_server(addr, flowsteer_bin, tmp_path_factory):
    """`flowsteer openenv serve --canvas ADDR` (which runs python -m flowsteer.openenv).
    Its output goes to a file: a pipe nobody drains would block the server."""
    pytest.importorskip("openenv.core")
    log = tmp_path_factory.mktemp("openenv") / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([flowsteer_bin, "openenv", "serve", "--canvas", addr, "--port", "0", "--python",
                                 sys.executable, "--", "--max-sessions", "48"], stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    m = None
    while time.monotonic() < deadline and proc.poll() is None:
        m = re.search(r"serving on (http://\S+)", log.read_text(errors="replace"))
        if m:
            break
        time.sleep(0.1)
    if not m:
        proc.kill()
        raise RuntimeError("flowsteer openenv serve did not start:\n" + log.read_text(errors="replace"))
    yield m.group(1)
    proc.terminate()
    proc.wait(timeout=30)


def test_health_and_schema(openenv_server):
    import requests

    h = requests.get(openenv_server + "/health", timeout=10).json()
    assert h["status"] == "healthy"
    s = requests.get(openenv_server + "/schema", timeout=10).json()
    props = s["action"]["properties"]
    assert {"text", "kind", "operator", "structure", "operators", "condition", "if_true", "if_false", "count",
            "target", "prompt", "answer"} <= set(props)
    assert {"feedback", "dsl", "valid", "rounds_left", "reward_breakdown", "prompt"} <= set(s["observation"]["properties"])


def test_generic_client_plays_an_episode_to_a_reward(openenv_server, canvas):
    from openenv.core import GenericEnvClient

    with GenericEnvClient(base_url=openenv_server).sync() as env:
        r = env.reset(task=TASK, config={"twoStep": False})
        assert not r.done and r.observation["state"] == "building"
        assert r.observation["prompt"]["user"].startswith("Problem: What is 6*7?")
        bad = env.step({"text": "<action>add</action><operator>Foo</operator>"})
        assert not bad.observation["valid"] and "unknown operator Foo" in bad.observation["feedback"]
        for a in PLAN:
            r = env.step(a)
        assert r.done and r.reward is not None
        assert r.observation["end_reason"] == "finished"
        assert r.observation["reward_breakdown"]["released"] is True
        st = env.state()
        assert st["done"] and st["reward"] == r.reward
    rec = canvas.get_episode(r.observation["episode_id"])
    assert rec.observation.reward.reward == pytest.approx(r.reward)


def test_typed_client(openenv_server):
    from flowsteer.openenv import CanvasAction, FlowsteerEnv

    with FlowsteerEnv(base_url=openenv_server).sync() as env:
        r = env.reset(task=TASK, config={"twoStep": False, "maxRounds": 2})
        r = env.step(CanvasAction(kind="add", operator="Programmer"))
        assert r.observation.valid and r.observation.dsl == "Programmer"
        r = env.step(CanvasAction(text="<action>add</action><operator>Format</operator>"))
        assert r.done and r.observation.end_reason == "max_rounds" and r.reward == pytest.approx(-0.8)


def test_32_concurrent_sessions(openenv_server, canvas):
    from openenv.core import GenericEnvClient

    async def one(i):
        async with GenericEnvClient(base_url=openenv_server, message_timeout_s=120) as env:
            r = await env.reset(task={**TASK, "id": f"oe-{i}"}, config={"twoStep": False})
            for a in PLAN:
                r = await env.step(a)
            return r

    async def all_():
        return await asyncio.gather(*(one(i) for i in range(32)))

    t0 = time.monotonic()
    results = asyncio.run(all_())
    wall = time.monotonic() - t0
    ids = {r.observation["episode_id"] for r in results}
    assert len(ids) == 32
    for r in results:
        assert r.done and r.observation["end_reason"] == "finished"
        assert canvas.get_episode(r.observation["episode_id"]).observation.reward.reward == pytest.approx(r.reward)
    _record("openenv_32_sessions_wall_seconds", [wall])


def test_step_overhead_against_the_grpc_client(openenv_server, addr):
    """Seconds per step: the plain gRPC client, the generic OpenEnv client
    and the TRL CanvasEnvironment, side by side on the same canvas."""
    from openenv.core import GenericEnvClient

    from flowsteer import CanvasClient
    from flowsteer.trl import CanvasEnvironment

    steps = [{"kind": "add", "operator": "Programmer"}, {"kind": "delete", "target": "node_1"}] * 5  # 10 steps

    def grpc_run():
        c = CanvasClient(addr)
        with c.episode(TASK, {"twoStep": False, "maxRounds": 50}) as ep:
            t0 = time.perf_counter()
            for a in steps:
                ep.step(a)
            return (time.perf_counter() - t0) / len(steps)

    def openenv_run():
        with GenericEnvClient(base_url=openenv_server).sync() as env:
            env.reset(task=TASK, config={"twoStep": False, "maxRounds": 50})
            t0 = time.perf_counter()
            for a in steps:
                env.step(a)
            return (time.perf_counter() - t0) / len(steps)

    def trl_run():
        env = CanvasEnvironment(addr, config={"maxRounds": 50})
        env.reset(task=json.dumps(TASK))
        t0 = time.perf_counter()
        for i in range(5):
            env.add_operator("Programmer")
            env.delete(f"node_{i + 1}")
        dt = (time.perf_counter() - t0) / len(steps)
        env.get_reward()
        return dt

    runs = {"grpc": [], "openenv": [], "trl_env": []}
    for _ in range(3):
        runs["grpc"].append(grpc_run())
        runs["openenv"].append(openenv_run())
        runs["trl_env"].append(trl_run())
    best = {k: min(v) for k, v in runs.items()}
    assert best["openenv"] < 1.0 and best["trl_env"] < 1.0, best
    _record("step_seconds_grpc_openenv_trl_env", runs)


def test_episode_is_one_trace_with_canvas_spans(flowsteer_bin, tmp_path):
    """A canvas served with --trace-stdout: the adapter's episode span is the
    root of one trace, and the canvas's canvas.apply spans are in it."""
    from conftest import Served, supports_trace_stdout
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from flowsteer.tracing import configure_tracing
    from flowsteer.trl import CanvasEnvironment

    if not supports_trace_stdout(flowsteer_bin):
        pytest.skip("this flowsteer build has no --trace-stdout")
    exporter = InMemorySpanExporter()
    provider = configure_tracing("flowsteer-trl-test", exporter=exporter, simple=True, set_global=False)
    from opentelemetry import trace

    trace.set_tracer_provider(provider)  # the first set wins for the process; the test process sets none before
    srv = Served(flowsteer_bin, "canvas", tmp_path, ["--trace-stdout"])
    try:
        env = CanvasEnvironment(srv.addr, config={"maxRounds": 3})
        env.reset(task=json.dumps(TASK))
        env.add_operator("Programmer")
        env.add_operator("Format")
        env.get_reward()
        spans = exporter.get_finished_spans()
        root = [s for s in spans if s.name == "episode"]
        if not root:
            pytest.skip("another tracer provider was installed earlier in this process")
        (ep,) = root
        tid = ep.context.trace_id
        turns = [s for s in spans if s.name == "turn" and s.context.trace_id == tid]
        assert len(turns) == 2 and all(t.parent.span_id == ep.context.span_id for t in turns)
        srv.stop()  # flushes the Go exporter
        applies = [s for s in srv.spans() if s.get("Name") == "canvas.apply"
                   and s["SpanContext"]["TraceID"] == format(tid, "032x")]
        assert len(applies) >= 2, sorted({s.get("Name") for s in srv.spans()})
    finally:
        srv.stop()


def _record(name, values, **extra):
    out = os.environ.get("FLOWSTEER_BENCH_OUT")
    if out:
        with open(out, "a") as f:
            f.write(json.dumps({"name": name, "values": values, **extra}) + "\n")


def test_docs_example(openenv_server):
    from _docs import run_example

    out = run_example("openenv", {"http://127.0.0.1:8000": openenv_server}).split()
    assert out[0] == "True" and float(out[1]) in (0.0, 1.0) and out[2] == "True"
