#!/usr/bin/env python3
"""make run-llm: train a real small language model as the Flow-Director, on a CPU.

Starts two processes and supervises them:

1. the policy server: SmolLM2-135M-Instruct + LoRA (``python -m flowsteer.llm``),
   a PolicyService learner on a fixed loopback port;
2. the Go trainer (``flowsteer train``) with its in-process canvas and the
   executor backend of the config (``llamacpp``: a llama.cpp server that
   flowsteer starts and stops itself; ``sim``: the offline SIMULATED executor),
   evaluating the untrained adapter, training for the configured CWRPO steps,
   evaluating the trained adapter on the same held-out tasks, and writing
   RUN_DIR/report.html.

Progress: the trainer's line per step (reward, invalid-action rate, ...) and
the policy's line per update (tokens, loss, KL, seconds) go to the terminal.
At the end the script prints the before/after table (valid-action rate,
finished rate, reward and its parts, accuracy, turns, tokens, time per step,
with 95% intervals) and writes it to RUN_DIR/llm-summary.md and .json.

It reads and writes the run only through the flowsteer binary: the config's
overrides go to ``flowsteer train --set`` (``--print-config`` resolves the
run's name first), the run's metrics come from ``flowsteer runs show --json``,
and the table enters report.html as a section stored in the run
(``flowsteer runs add-section``).

Ctrl-C (or SIGTERM) stops both: the trainer finishes by saving what is done,
the policy server is stopped, nothing is left running. A rerun with
``--resume RUN_DIR`` continues from the last checkpoint; the policy server
loads the adapter the trainer names. If either process dies, the other is
stopped and the script exits non-zero with the reason.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ROOT / "configs" / "llm-cpu.yaml"


def log(msg: str) -> None:
    print(f"[run-llm] {msg}", flush=True)


def pump(stream, prefix: str, sink=None) -> threading.Thread:
    def run():
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip("\n")
            # progress bars of the trainer redraw with \r: keep the last frame
            line = line.split("\r")[-1]
            if not line.strip():
                continue
            if sink is not None:
                sink.write(line + "\n")
                sink.flush()
            if "de-quantizing" in line or "Loading weights" in line:
                continue
            print(f"{prefix}{line}", flush=True)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def stop(proc: subprocess.Popen | None, name: str, sig=signal.SIGTERM, grace: float = 60.0) -> None:
    """Stop proc (its process group) with sig, then SIGKILL after grace."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        log(f"{name} did not stop within {grace:.0f}s: killing it")
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def flowsteer_json(binary: str, *args: str) -> dict:
    """Run a flowsteer command that prints JSON (``train --print-config``,
    ``runs show --json``) and decode its output."""
    r = subprocess.run([binary, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(f"[run-llm] flowsteer {' '.join(args)} failed: {r.stderr.strip() or r.stdout.strip()}")
    return json.loads(r.stdout)


def set_flags(a) -> list[str]:
    """The trainer's --set overrides from this script's options: the Go side
    applies them to the config's YAML tree before decoding, so a key it does
    not know fails there with the key named."""
    sets = []
    for key, v in (("name", a.name), ("steps", a.steps), ("tasks.limit", a.tasks), ("eval.tasks", a.eval_tasks),
                   ("group_size", a.group_size), ("max_rounds", a.max_rounds)):
        if v is not None:
            sets.append(f"{key}={v}")
    sets += [kv.strip() for kv in a.set]
    out = []
    for kv in sets:
        out += ["--set", kv]
    return out


def llamacpp_available(binary: str) -> bool:
    try:
        r = subprocess.run([binary, "llm", "--help"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0 and "serve" in r.stdout


# ---- the summary ---------------------------------------------------------------


def wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return 0.0, 0.0
    z = 1.959964
    p = k / n
    den = 1 + z * z / n
    c = (p + z * z / (2 * n)) / den
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, c - h), min(1.0, c + h)


def mean_ci(xs: list[float]) -> tuple[float, float, float]:
    n = len(xs)
    if n == 0:
        return 0.0, 0.0, 0.0
    m = sum(xs) / n
    if n < 2:
        return m, m, m
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    h = 1.959964 * sd / math.sqrt(n)
    return m, m - h, m + h


def summarize(run: dict, act_log: Path | None) -> dict:
    """Before/after metrics of the run's evaluations (and its steps) from
    ``flowsteer runs show --json`` (run) and the policy's act log."""
    acts: dict[str, list[dict]] = {}
    if act_log and act_log.exists():
        for line in act_log.read_text().splitlines():
            try:
                r = json.loads(line)
            except ValueError:
                continue
            acts.setdefault(r.get("episode_id", ""), []).append(r)
    info = run["run"]
    out = {"run": run["dir"], "phases": {}, "name": info["name"], "backend": info["backend"], "executor": info["model"],
           "hardware": info["hardware"], "simulated": info["simulated"], "step": info["step"],
           "total_steps": info["total_steps"], "status": info["status"]}
    by_phase: dict[tuple[int, str], list[dict]] = {}
    for e in run["eval_episodes"]:
        by_phase.setdefault((e["step"], e["phase"]), []).append(e)
    for step, phase in sorted(by_phase):
        out["phases"][f"{phase}@{step}"] = phase_metrics(by_phase[(step, phase)], acts)
    steps = run["steps"]
    secs = [sum(s["phase_seconds"].values()) for s in steps if s.get("phase_seconds")]
    out["phase_seconds_by_step"] = [{k: round(v, 1) for k, v in (s.get("phase_seconds") or {}).items()} for s in steps]
    out["steps"] = len(steps)
    if secs:
        out["seconds_per_step"] = mean_ci(secs)
    out["train_reward_by_step"] = [round(s.get("mean_reward", 0.0), 3) for s in steps]
    out["train_invalid_by_step"] = [round(s.get("invalid_action_rate", 0.0), 3) for s in steps]
    out["train_zero_variance_groups_by_step"] = [int(s.get("zero_variance_groups", 0)) for s in steps]
    return out


def phase_metrics(episodes: list[dict], acts: dict) -> dict:
    """One evaluation phase's metrics from its eval_episodes entries."""
    n = 0
    turns_total = valid_total = 0
    finished = correct = released = 0
    rewards, structure, correctness, turns, comp_tokens = [], [], [], [], []
    released_c = []  # [S(W) >= 1] * c: the correctness the reward pays
    parts = {"checker": [], "format": [], "size": [], "structure": []}
    for e in episodes:
        rb = e.get("reward")
        if e.get("failed") or rb is None:
            continue
        n += 1
        t = e["log_turns"] or e["turns"]
        turns_total += t
        valid_total += e["valid_turns"] if e["log_turns"] else max(t - e["invalid"], 0)
        finished += int(bool(e["finished"]))
        rewards.append(float(rb.get("reward", 0.0)))
        structure.append(float(rb.get("structure_total", 0.0)))
        for k in parts:
            parts[k].append(float(rb.get(k, 0.0)))
        sc = rb.get("score") or {}
        correctness.append(float(sc.get("value", 0.0)))
        correct += int(bool(sc.get("correct")))
        released += int(bool(rb.get("released")))
        released_c.append(float(sc.get("value", 0.0)) if rb.get("released") else 0.0)
        turns.append(t)
        a = acts.get(e.get("episode_id") or "", [])
        if a:
            comp_tokens.append(sum(x.get("completion_tokens", 0) for x in a))
    lo, hi = wilson(valid_total, turns_total)
    flo, fhi = wilson(finished, n)
    alo, ahi = wilson(correct, n)
    rlo, rhi = wilson(released, n)
    return {
        "episodes": n,
        "turns": turns_total,
        "valid_action_rate": [valid_total / turns_total if turns_total else 0.0, lo, hi],
        "finished_rate": [finished / n if n else 0.0, flo, fhi],
        "release_rate": [released / n if n else 0.0, rlo, rhi],
        "accuracy": [correct / n if n else 0.0, alo, ahi],
        "mean_reward": list(mean_ci(rewards)),
        "mean_structure": list(mean_ci(structure)),
        "mean_correctness": list(mean_ci(correctness)),
        "released_correctness": list(mean_ci(released_c)),
        "parts": {k: list(mean_ci(v)) for k, v in parts.items()},
        "mean_turns": list(mean_ci([float(x) for x in turns])),
        "reply_tokens_per_episode": list(mean_ci([float(x) for x in comp_tokens])) if comp_tokens else None,
    }


def fmt(v, pct=False) -> str:
    if v is None:
        return "n/a"
    m, lo, hi = v
    if pct:
        return f"{100 * m:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"
    return f"{m:+.3f} [{lo:+.3f}, {hi:+.3f}]" if m < 0 or lo < 0 else f"{m:.3f} [{lo:.3f}, {hi:.3f}]"


def table(s: dict) -> str:
    cols = list(s["phases"].items())
    head = "| metric (95% CI) | " + " | ".join(k for k, _ in cols) + " |"
    lines = [head, "|---|" + "---|" * len(cols)]
    rows = [("episodes", lambda m: str(m["episodes"])), ("turns", lambda m: str(m["turns"])),
            ("valid-action rate", lambda m: fmt(m["valid_action_rate"], True)),
            ("finished-episode rate", lambda m: fmt(m["finished_rate"], True)),
            ("mean reward R", lambda m: fmt(m["mean_reward"])),
            ("  structure score S(W)", lambda m: fmt(m["mean_structure"])),
            ("    checker term (0.2)", lambda m: fmt(m["parts"]["checker"])),
            ("    Format term (0.2)", lambda m: fmt(m["parts"]["format"])),
            ("    size term (0.2, 6+ operators)", lambda m: fmt(m["parts"]["size"])),
            ("    structure term (0.4)", lambda m: fmt(m["parts"]["structure"])),
            ("  correctness c (score)", lambda m: fmt(m["mean_correctness"])),
            ("  release rate (S=1)", lambda m: fmt(m["release_rate"], True)),
            ("  released correctness [S=1]*c", lambda m: fmt(m.get("released_correctness"))),
            ("accuracy", lambda m: fmt(m["accuracy"], True)),
            ("turns per episode", lambda m: fmt(m["mean_turns"])),
            ("reply tokens per episode", lambda m: fmt(m["reply_tokens_per_episode"]))]
    for name, f in rows:
        lines.append(f"| {name} | " + " | ".join(f(m) for _, m in cols) + " |")
    return "\n".join(lines)


def table_rows(s: dict) -> list[list[str]]:
    """table(s) as cells: the header row first."""
    return [[c.strip() for c in line.strip("|").split("|")] for i, line in enumerate(table(s).splitlines()) if i != 1]


def write_summary(flowsteer: str, run_dir: Path, act_log: Path | None, extra: dict) -> None:
    s = summarize(flowsteer_json(flowsteer, "runs", "show", str(run_dir), "--json"), act_log)
    s.update(extra)
    (run_dir / "llm-summary.json").write_text(json.dumps(s, indent=2))
    md = [f"# {s.get('name', 'run')}: SmolLM2-135M-Instruct + LoRA, CWRPO on a CPU", "",
          f"- run: {run_dir}", f"- executor: {s.get('executor')}{' (SIMULATED)' if s.get('simulated') else ''}",
          f"- hardware: {s.get('hardware')}", f"- steps: {s.get('steps')} of {s.get('total_steps')} ({s.get('status')})"]
    if "seconds_per_step" in s:
        m, lo, hi = s["seconds_per_step"]
        md.append(f"- wall time per training step: {m:.0f} s [{lo:.0f}, {hi:.0f}]")
    for k in ("generated_tokens", "generate_seconds", "tokens_per_second"):
        if k in s:
            md.append(f"- policy {k.replace('_', ' ')}: {s[k]}")
    md += ["", table(s), "", f"training reward by step: {s['train_reward_by_step']}",
           f"training invalid-action rate by step: {s['train_invalid_by_step']}",
           f"groups without reward variance (no gradient) by step: {s['train_zero_variance_groups_by_step']}",
           f"seconds per step by phase: {s['phase_seconds_by_step']}", ""]
    text = "\n".join(md)
    (run_dir / "llm-summary.md").write_text(text)
    print(text, flush=True)
    add_to_report(flowsteer, run_dir, s)


def report_section(s: dict) -> dict:
    """The before/after table (with the reward's parts, tokens and time per
    step, which the trainer's evaluation report does not carry) as a report
    section: ``flowsteer runs add-section`` stores it in the run and the Go
    report renders it."""
    facts = [f"policy: SmolLM2-135M-Instruct + LoRA (a small real model, CPU), executor: {s.get('executor')}"
             + (" — SIMULATED" if s.get("simulated") else ""), f"hardware: {s.get('hardware')}"]
    if "seconds_per_step" in s:
        m, lo, hi = s["seconds_per_step"]
        facts.append(f"wall time per training step: {m:.0f} s [{lo:.0f}, {hi:.0f}]")
    if "tokens_per_second" in s:
        facts.append(f"policy generation: {s['generated_tokens']} tokens in {s['generate_seconds']:.0f} s "
                     f"({s['tokens_per_second']} tokens/s, mean batch {s.get('mean_batch')})")
    rows = table_rows(s)
    return {"key": "llm-before-after", "title": "Before / after training (flowsteer.llm)", "facts": facts,
            "table": {"header": rows[0], "rows": rows[1:]}}


def add_to_report(flowsteer: str, run_dir: Path, s: dict) -> None:
    r = subprocess.run([flowsteer, "runs", "add-section", str(run_dir), "-"], input=json.dumps(report_section(s)),
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    if r.returncode != 0:
        log(f"could not add the summary to the report: {r.stderr.strip() or r.stdout.strip()}")


# ---- main --------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(DEFAULT_CONFIG))
    ap.add_argument("--resume", help="continue the run in this directory")
    ap.add_argument("--runs-dir", default=str(ROOT / "runs"))
    ap.add_argument("--backend", default=os.environ.get("BACKEND", "auto"), choices=["auto", "sim", "llamacpp"],
                    help="executor: llamacpp (real model, managed by flowsteer), sim (SIMULATED) or auto (llamacpp when this build has it)")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--tasks", type=int, help="training tasks (tasks.limit)")
    ap.add_argument("--eval-tasks", type=int)
    ap.add_argument("--group-size", type=int)
    ap.add_argument("--max-rounds", type=int)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a config key (dotted, a YAML value), e.g. --set checkpoint.every=1 (repeatable; passed to flowsteer train --set)")
    ap.add_argument("--port", type=int, default=int(os.environ.get("POLICY_PORT", "50752")))
    ap.add_argument("--flowsteer", default=str(ROOT / "bin" / "flowsteer"))
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--name", help="run name (the config's name)")
    ap.add_argument("--reply-prefix", default="<action>",
                    help='prefill of every action reply (default "<action>"; "" leaves the whole reply to the model, '
                         'which SmolLM2-135M never starts with a tag: no reward variance, no gradient; see BENCHMARKS.md)')
    ap.add_argument("--rollout-engine", default=os.environ.get("ROLLOUT_ENGINE", "transformers"),
                    choices=["transformers", "llamacpp"],
                    help="who generates the rollouts (env ROLLOUT_ENGINE): transformers (the reference) or llamacpp "
                         "(llama.cpp with the adapter converted to GGUF after every update; updates stay in torch)")
    ap.add_argument("--tis-cap", type=float, default=float(os.environ.get("TIS_CAP", "2.0")),
                    help="truncated importance-sampling cap for engine rollouts (env TIS_CAP)")
    ap.add_argument("--policy-args", default="", help="extra arguments of python -m flowsteer.llm")
    ap.add_argument("--policy-start-timeout", type=float, default=600)
    a = ap.parse_args(argv)

    if a.resume:
        run_dir = Path(a.resume).resolve()
        cfg = flowsteer_json(a.flowsteer, "runs", "show", str(run_dir), "--json")["config"]
        addr = (cfg.get("policy") or {}).get("address") or f"127.0.0.1:{a.port}"
        backend = (cfg.get("backend") or {}).get("kind") or "sim"
        sets = []
    else:
        backend = a.backend
        if backend == "auto":
            backend = "llamacpp" if llamacpp_available(a.flowsteer) else "sim"
        addr = f"127.0.0.1:{a.port}"
        sets = ["--set", f"policy.address={addr}", "--set", f"backend.kind={backend}", *set_flags(a)]
        # The trainer resolves (and checks) the config before the policy
        # server starts: a bad --set fails here, in a second.
        name = flowsteer_json(a.flowsteer, "train", "--config", str(Path(a.config).resolve()), *sets, "--print-config")["name"]
        run_dir = Path(a.runs_dir).resolve() / f"{name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
        run_dir.mkdir(parents=True, exist_ok=False)
    if backend == "sim":
        log("executor backend: sim — the executor is SIMULATED; the policy is the real SmolLM2-135M-Instruct")
    else:
        log(f"executor backend: {backend}")

    # The policy's own settings travel with the run, so a resume serves the
    # same policy.
    pargs_file = run_dir / "policy-args.json"
    if a.resume and pargs_file.exists():
        pargs = json.loads(pargs_file.read_text())
    else:
        pargs = a.policy_args.split()
        if a.reply_prefix:
            pargs += ["--reply-prefix", a.reply_prefix]
        pargs += ["--rollout-engine", a.rollout_engine, "--tis-cap", str(a.tis_cap)]
        pargs_file.write_text(json.dumps(pargs))
    policy_log = open(run_dir / "policy.log", "a")
    act_log = run_dir / "policy-acts.jsonl"
    ready = run_dir / ".policy-ready"
    ready.unlink(missing_ok=True)
    procs: dict[str, subprocess.Popen] = {}
    stopping = threading.Event()
    stop_reason = {"sig": None}

    def on_signal(sig, _frame):
        if stopping.is_set():
            return
        stopping.set()
        stop_reason["sig"] = sig
        log(f"{signal.Signals(sig).name}: stopping the trainer (it saves what is done) and the policy server")

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    def cleanup():
        stop(procs.get("trainer"), "trainer", signal.SIGINT, grace=120)
        stop(procs.get("policy"), "policy server", signal.SIGTERM, grace=30)
        ready.unlink(missing_ok=True)

    t_start = time.monotonic()
    try:
        cmd = [a.python, "-u", "-m", "flowsteer.llm", "--addr", addr, "--ready-file", str(ready), "--act-log", str(act_log),
               *pargs]
        log("starting the policy server: " + " ".join(cmd[2:]))
        procs["policy"] = p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                                               cwd=ROOT / "clients" / "python")
        pump(p.stdout, "[policy] ", policy_log)
        deadline = time.monotonic() + a.policy_start_timeout
        while not ready.exists():
            if p.poll() is not None:
                log(f"the policy server exited with status {p.returncode} before serving; see {run_dir / 'policy.log'}")
                return 1
            if stopping.is_set():
                return 130
            if time.monotonic() > deadline:
                log(f"the policy server did not start within {a.policy_start_timeout:.0f}s")
                return 1
            time.sleep(0.2)

        if a.resume:
            tcmd = [a.flowsteer, "train", "--resume", str(run_dir), "--no-progress"]
        else:
            tcmd = [a.flowsteer, "train", "--config", str(Path(a.config).resolve()), *sets, "--dir", str(run_dir),
                    "--no-progress"]
        log("starting the trainer: " + " ".join(tcmd[1:]))
        procs["trainer"] = t = subprocess.Popen(tcmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                                                cwd=ROOT)
        trainer_log = open(run_dir / "trainer.log", "a")
        pump(t.stdout, "[trainer] ", trainer_log)
        interrupted_sent = False
        while True:
            if stopping.is_set() and not interrupted_sent:
                interrupted_sent = True
                try:
                    os.killpg(t.pid, signal.SIGINT)
                except ProcessLookupError:
                    pass
            if t.poll() is not None:
                break
            if p.poll() is not None:
                log(f"the policy server died (status {p.returncode}) during the run: stopping the trainer; "
                    f"see {run_dir / 'policy.log'}; continue with --resume {run_dir}")
                stop(t, "trainer", signal.SIGINT, grace=120)
                return 1
            time.sleep(0.5)
        rc = t.returncode
        if stopping.is_set():
            log(f"stopped; continue with: make run-llm RESUME={run_dir}")
            return 130
        if rc != 0:
            log(f"the trainer failed (status {rc}); see {run_dir / 'trainer.log'}")
            return rc
        extra = {"wall_seconds": round(time.monotonic() - t_start, 1), "backend_flag": backend}
        stop(p, "policy server", signal.SIGTERM, grace=30)
        # the policy server's own last line (flowsteer.llm), not a Go file
        log_text = (run_dir / "policy.log").read_text(errors="replace")
        m = re.findall(r"stopping: (\d+) acts, (\d+) batches, (\d+) tokens generated in ([\d.]+)s", log_text)
        if m:
            acts_n, batches, toks, secs = m[-1]
            extra.update(generated_tokens=int(toks), generate_seconds=float(secs),
                         tokens_per_second=round(int(toks) / max(float(secs), 1e-9), 1), acts=int(acts_n),
                         mean_batch=round(int(acts_n) / max(int(batches), 1), 2))
        write_summary(a.flowsteer, run_dir, act_log, extra)
        log(f"report: {run_dir / 'report.html'}   summary: {run_dir / 'llm-summary.md'}")
        return 0
    finally:
        cleanup()
        policy_log.close()


if __name__ == "__main__":
    sys.exit(main())
