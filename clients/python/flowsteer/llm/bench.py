"""Throughput of the LLM policy's batched generation: tokens/s with one
request at a time versus G concurrent requests (the episodes of a group).

    python -m flowsteer.llm.bench --flowsteer bin/flowsteer --group 4 --rounds 2

The prompt is a real one: the canvas of ``flowsteer serve`` (started here,
on a free loopback port, and stopped) renders the first observation of a
math task, as in training. Every request samples up to ``--max-new`` tokens
(an ``<|im_end|>`` ends a reply earlier); the figure is tokens generated
divided by wall time, prefill included.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import json
import os
import re
import signal
import subprocess
import tempfile
import time


@contextlib.contextmanager
def served_canvas(binary: str, timeout: float = 30):
    """A CanvasClient on ``flowsteer serve --services canvas``, started on a
    free loopback port in a temporary runs directory and stopped on exit."""
    from flowsteer import CanvasClient

    d = tempfile.mkdtemp(prefix="flowsteer-bench-")
    logf = open(os.path.join(d, "serve.log"), "wb")
    p = subprocess.Popen([binary, "serve", "--services", "canvas", "--addr", "127.0.0.1:0", "--runs-dir", d],
                         stdout=subprocess.DEVNULL, stderr=logf, start_new_session=True)
    try:
        addr = None
        for _ in range(600):
            m = re.search(rb'msg="flowsteer serving" addr=(\S+)', open(logf.name, "rb").read())
            if m:
                addr = m.group(1).decode()
                break
            if p.poll() is not None:
                raise RuntimeError("flowsteer serve exited: " + open(logf.name).read())
            time.sleep(0.1)
        if addr is None:
            raise RuntimeError("flowsteer serve did not start")
        yield CanvasClient(addr, timeout=timeout)
    finally:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(timeout=30)
        logf.close()


def canvas_prompt(binary: str) -> tuple[str, str]:
    task = {"id": "bench-1", "family": "math", "answer": "16",
            "question": "A shop sells 3 pens for $4. How much do 12 pens cost?"}
    with served_canvas(binary) as c, c.episode(task) as ep:
        return ep.first.prompt.system, ep.first.prompt.user


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--flowsteer", default="bin/flowsteer")
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2, help="repetitions of each measurement")
    ap.add_argument("--max-new", type=int, default=48)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rollout-engine", default="transformers", choices=["transformers", "llamacpp"],
                    help="generate through transformers (batched) or llama.cpp (one request at a time)")
    a = ap.parse_args(argv)

    from flowsteer.llm.policy import LoRAPolicy, PolicyOptions
    from flowsteer.v1 import canvas_pb2, policy_pb2

    system, user = canvas_prompt(a.flowsteer)
    pol = LoRAPolicy(PolicyOptions(action_max_tokens=a.max_new, threads=a.threads, max_batch=a.group,
                                   rollout_engine=a.rollout_engine))
    pre, rest, _ = pol.encode(system, user)

    def obs(i):
        return canvas_pb2.Observation(episode_id=f"bench-{i}", turn=0, max_rounds=8, prompt=canvas_pb2.RenderedPrompt(
            kind=canvas_pb2.PROMPT_KIND_ACTION, system=system, user=user, max_new_tokens=512))

    sp = lambda i: policy_pb2.SamplingParams(temperature=0.6, top_p=0.95, top_k=20, seed=i)  # noqa: E731
    pol.decide(obs(0), sp(0))  # warm-up: fills the prefix cache
    res = {"model": "SmolLM2-135M-Instruct + LoRA r16 (float32, CPU)", "rollout_engine": a.rollout_engine, "threads": a.threads,
           "prompt_tokens": len(pre) + len(rest), "prefix_tokens": len(pre), "max_new": a.max_new, "group": a.group}
    for label, conc in (("batch1", 1), (f"batch{a.group}", a.group)):
        toks = secs = 0.0
        for r in range(a.rounds):
            ids = [100 * r + i + 1 for i in range(a.group)]
            t0 = time.monotonic()
            if conc == 1:
                ds = [pol.decide(obs(i), sp(i)) for i in ids]
            else:
                with cf.ThreadPoolExecutor(conc) as ex:
                    ds = list(ex.map(lambda i: pol.decide(obs(i), sp(i)), ids))
            secs += time.monotonic() - t0
            toks += sum(len(d.token_ids) for d in ds)
        res[label] = {"tokens": int(toks), "seconds": round(secs, 2), "tokens_per_second": round(toks / secs, 2)}
    res["speedup"] = round(res[f"batch{a.group}"]["tokens_per_second"] / res["batch1"]["tokens_per_second"], 2)
    res["max_batch_seen"] = pol.stats["max_batch_seen"]
    pol.close()
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
