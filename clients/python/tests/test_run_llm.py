"""scripts/run_llm.py reads runs through the flowsteer binary only: its
--set overrides reach `flowsteer train --set`, its summary is computed
from `flowsteer runs show --json`, and its report section is valid input
for `flowsteer runs add-section`."""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def run_llm():
    spec = importlib.util.spec_from_file_location("run_llm", REPO / "scripts" / "run_llm.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def episode(step, policy, reward, *, turns=4, valid=3, finished=True, correct=False, failed=False, released=False):
    rb = None if failed else {"reward": reward, "structure_total": 0.5, "checker": 0.2, "format": 0.0, "size": 0.1,
                              "structure": 0.2, "released": released,
                              "score": {"value": float(correct), "correct": correct}}
    return {"step": step, "phase": f"eval:{policy}", "policy": policy, "episode_id": f"{policy}-{step}-{reward}",
            "turns": turns, "log_turns": turns, "valid_turns": valid, "invalid": turns - valid, "finished": finished,
            "failed": failed, "reward": rb}


RUN = {
    "format": 1,
    "dir": "/runs/llm-x",
    "run": {"name": "llm-x", "status": "succeeded", "backend": "sim", "model": "sim (simulated executor)",
            "hardware": "2 CPUs", "simulated": True, "step": 2, "total_steps": 2},
    "config": {},
    "steps": [{"step": "1", "mean_reward": -0.5, "invalid_action_rate": 0.25, "zero_variance_groups": 1,
               "phase_seconds": {"rollout": 10.0, "update": 2.0}},
              {"step": "2", "mean_reward": 0.25, "invalid_action_rate": 0.0, "zero_variance_groups": 0,
               "phase_seconds": {"rollout": 11.0, "update": 3.0}}],
    "evals": [],
    "eval_episodes": [episode(2, "trained", 0.5, correct=True, released=True), episode(2, "trained", 0.0, correct=True),
                      episode(0, "untrained", -1.0),
                      episode(0, "untrained", 0.0, finished=False), episode(0, "untrained", 0.0, failed=True)],
    "sections": [],
}


def test_summary_groups_eval_episodes_by_step_and_phase(run_llm):
    s = run_llm.summarize(RUN, None)
    assert list(s["phases"]) == ["eval:untrained@0", "eval:trained@2"]
    before, after = s["phases"]["eval:untrained@0"], s["phases"]["eval:trained@2"]
    assert before["episodes"] == 2  # the failed episode is not scored
    assert before["valid_action_rate"][0] == pytest.approx(6 / 8)
    assert before["finished_rate"][0] == pytest.approx(0.5)
    assert before["mean_reward"][0] == pytest.approx(-0.5)
    assert after["accuracy"][0] == 1.0
    # released correctness counts c only where S(W) = 1 released it
    assert after["release_rate"][0] == pytest.approx(0.5)
    assert after["released_correctness"][0] == pytest.approx(0.5)
    assert before["released_correctness"][0] == 0.0
    assert s["train_reward_by_step"] == [-0.5, 0.25]
    assert s["train_zero_variance_groups_by_step"] == [1, 0]
    assert s["seconds_per_step"][0] == pytest.approx(13.0)
    assert s["simulated"] and s["name"] == "llm-x"


def test_report_section_is_a_rectangular_table(run_llm):
    sec = run_llm.report_section(run_llm.summarize(RUN, None))
    assert sec["key"] == "llm-before-after"
    header, rows = sec["table"]["header"], sec["table"]["rows"]
    assert header == ["metric (95% CI)", "eval:untrained@0", "eval:trained@2"]
    assert rows and all(len(r) == len(header) for r in rows)
    assert any("SIMULATED" in f for f in sec["facts"])


def test_set_flags_reach_the_trainer_and_bad_keys_fail_there(run_llm, flowsteer_bin):
    a = argparse.Namespace(name="llm-t", steps=3, tasks=None, eval_tasks=5, group_size=None, max_rounds=None,
                           set=["checkpoint.every=1"])
    cfg_path = str(REPO / "configs" / "llm-cpu.yaml")
    cfg = run_llm.flowsteer_json(flowsteer_bin, "train", "--config", cfg_path, *run_llm.set_flags(a), "--print-config")
    assert (cfg["name"], cfg["steps"], cfg["eval"]["tasks"], cfg["checkpoint"]["every"]) == ("llm-t", 3, 5, 1)
    r = subprocess.run([flowsteer_bin, "train", "--config", cfg_path, "--set", "checkpoint.evry=1", "--print-config"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "unknown config key checkpoint.evry" in r.stderr
