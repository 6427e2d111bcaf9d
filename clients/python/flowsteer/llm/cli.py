"""``python -m flowsteer.llm``: serve the LoRA policy over PolicyService
until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from dataclasses import asdict

from flowsteer.llm.options import MODEL_NAME, PolicyOptions

log = logging.getLogger("flowsteer.llm")


def main(argv=None) -> None:
    o = PolicyOptions()
    ap = argparse.ArgumentParser(prog="python -m flowsteer.llm",
                                 description=f"Serve {MODEL_NAME} + LoRA as a learning Flow-Director over PolicyService.")
    ap.add_argument("--addr", default="127.0.0.1:50052")
    ap.add_argument("--checkpoint", help="checkpoint file to load first")
    for name, v in asdict(o).items():
        if isinstance(v, (tuple, list)):
            continue
        t = (lambda s: s.lower() in ("1", "true", "yes", "on")) if isinstance(v, bool) else type(v)
        ap.add_argument("--" + name.replace("_", "-"), type=t, default=v)
    ap.add_argument("--act-log", help="append one JSON line per act to this file")
    ap.add_argument("--ready-file", help="write the serving address here once ready (for scripts)")
    ap.add_argument("--log-level", default="INFO")
    a = ap.parse_args(argv)
    logging.basicConfig(level=a.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)  # transformers/peft API deprecations, not ours
    # save_pretrained looks for the base model's config.json, which a GGUF has not.
    warnings.filterwarnings("ignore", message="Could not find a config file")
    opts = PolicyOptions(**{k: getattr(a, k) for k in asdict(o) if hasattr(a, k) and not isinstance(asdict(o)[k], (tuple, list))})
    from flowsteer.llm.policy import LoRAPolicy  # here: policy re-exports main

    p = LoRAPolicy(opts)
    p.act_log = a.act_log
    if a.checkpoint:
        p.load(a.checkpoint)
    p.serve(a.addr)
    print(f"{MODEL_NAME}+LoRA policy serving on {p.address} ({p.n_trainable} trainable params, "
          f"loaded in {p.load_seconds:.1f}s)", flush=True)
    if a.ready_file:
        with open(a.ready_file + ".tmp", "w") as f:
            f.write(p.address)
        os.replace(a.ready_file + ".tmp", a.ready_file)
    import signal

    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    log.info("stopping: %d acts, %d batches, %d tokens generated in %.1fs (cpu %.1fs)", p.stats["acts"], p.stats["batches"],
             p.stats["generated_tokens"], p.stats["generate_seconds"], p.stats["generate_cpu_seconds"])
    p.stop(grace=2)
    p.close()
    # gRPC's handler threads may still wait on a generation in flight;
    # nothing is left to save (checkpoints are written when the trainer asks).
    logging.shutdown()
    sys.stdout.flush()
    os._exit(0)
