"""Time the LLM Flow-Director's update on one real batch, with each way of
sharing the prompts' prefixes (``update_prefix``: none, system, tree).

    python scripts/llm_update_bench.py --flowsteer bin/flowsteer --save /tmp/batch.pb
    python scripts/llm_update_bench.py --batch /tmp/batch.pb --modes system,tree

The batch is real: G episodes of up to R rounds on the first math task of
data/suite/train.jsonl, played by SmolLM2-135M-Instruct + LoRA (transformers
rollouts, the reply prefill "<action>") on the canvas of ``flowsteer serve``
(started on a free loopback port, executor SIMULATED, and stopped), as in
``make run-llm``. For each mode it prints the wall and CPU seconds of
computing the batch's gradient (reference log-probs included), the positions
sent through the network, and the largest differences of the loss and the
LoRA gradient from the first mode's. The adapter is moved off zero first
(seeded), so that the policy and the reference differ as after training.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "clients" / "python"))


def capture(binary: str, group: int, rounds: int, pol) -> bytes:
    from flowsteer.llm.bench import served_canvas
    from flowsteer.v1 import canvas_pb2, policy_pb2

    with open(ROOT / "data" / "suite" / "train.jsonl") as f:
        t = next(json.loads(line) for line in f if json.loads(line)["family"] == "math")
    task = {"id": t["id"], "question": t["question"], "answer": t["answers"][0], "family": "math"}
    with served_canvas(binary, timeout=120) as c:
        def play(i):
            decs = []
            with c.episode(task, canvas_pb2.EpisodeConfig(max_rounds=rounds, two_step=False)) as ep:
                obs = ep.first
                while not obs.done:
                    sp = policy_pb2.SamplingParams(temperature=0.6, top_p=0.95, top_k=20, seed=1000 * i + obs.turn)
                    dd = pol.decide(obs, sp)
                    decs.append(dd)
                    obs = ep.step(dd.action.text)
            return decs

        with cf.ThreadPoolExecutor(group) as ex:
            eps = list(ex.map(play, range(group)))
    advs = [(-1.0) ** i * (0.4 + 0.3 * i) for i in range(group)]
    req = policy_pb2.UpdateRequest(step=1, episodes=[policy_pb2.EpisodeSamples(episode_id=f"e{i}", advantage=advs[i], decisions=d)
                                                     for i, d in enumerate(eps)])
    return req.SerializeToString()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--flowsteer", default=str(ROOT / "bin" / "flowsteer"))
    ap.add_argument("--batch", help="a saved batch (UpdateRequest) instead of playing one")
    ap.add_argument("--save", help="write the played batch here")
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--modes", default="system,tree", help="update_prefix values, the first is the baseline")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)

    import torch

    from flowsteer.cwrpo import LossParams, cwrpo_loss
    from flowsteer.llm.policy import LoRAPolicy, PolicyOptions
    from flowsteer.v1 import policy_pb2

    pol = LoRAPolicy(PolicyOptions(reply_prefix="<action>", threads=a.threads))
    if a.batch:
        raw = Path(a.batch).read_bytes()
    else:
        raw = capture(a.flowsteer, a.group, a.rounds, pol)
        if a.save:
            Path(a.save).write_bytes(raw)
    req = policy_pb2.UpdateRequest.FromString(raw)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in pol.trainable:
            p.add_(0.01 * torch.randn(p.shape, generator=g))
    n = [0]
    pol.net.base_model.model.model.register_forward_pre_hook(
        lambda _m, args, kw: n.__setitem__(0, n[0] + (kw["input_ids"] if kw.get("input_ids") is not None else args[0]).numel()),
        with_kwargs=True)
    decisions = sum(len(e.decisions) for e in req.episodes)
    prompt = sum(len(d.prompt_token_ids) for e in req.episodes for d in e.decisions)
    sampled = sum(len(d.token_ids) for e in req.episodes for d in e.decisions)
    res = {"decisions": decisions, "prompt_tokens": prompt, "sampled_tokens": sampled, "threads": torch.get_num_threads(),
           "load_average_before": os.getloadavg()[0], "modes": {}}
    base = None
    params = LossParams()
    for mode in a.modes.split(","):
        pol.opts.update_prefix = mode
        pol._prefix_kv.clear()  # every mode pays for the system part's reference (k, v) once, as the first update of a run does
        for q in pol.trainable:
            q.grad = None
        n[0] = 0
        w0, c0 = time.monotonic(), time.process_time()
        eps = pol.accumulate_gradients(req, params)
        wall, cpu = time.monotonic() - w0, time.process_time() - c0
        loss = float(cwrpo_loss(eps, params)[0])
        grads = [q.grad.clone() for q in pol.trainable]
        r = {"wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1), "positions": n[0],
             "reference_seconds": round(pol.last_timing["reference_seconds"], 1),
             "policy_seconds": round(pol.last_timing["policy_seconds"], 1), "loss": loss}
        if base is None:
            base = (loss, grads, cpu)
        else:
            r["loss_abs_diff"] = abs(loss - base[0])
            r["grad_max_abs_diff"] = max(float((x - y).abs().max()) for x, y in zip(grads, base[1]))
            r["grad_max_abs"] = max(float(x.abs().max()) for x in base[1])
            r["cpu_speedup"] = round(base[2] / max(cpu, 1e-9), 2)
        res["modes"][mode] = r
        print(mode, json.dumps(r), flush=True)
    res["load_average_after"] = os.getloadavg()[0]
    pol.close()
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
