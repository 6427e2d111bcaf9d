"""LoRAPolicy: SmolLM2-135M-Instruct + LoRA as a learning Flow-Director.

The policy is assembled here from modules with one job each:
:mod:`~flowsteer.llm.options` (model, formats, PolicyOptions),
:mod:`~flowsteer.llm.generation` (prompts, batching, sampling),
:mod:`~flowsteer.llm.update` (log-probs, gradients, the AdamW step),
:mod:`~flowsteer.llm.checkpoint` (save, load), :mod:`~flowsteer.llm.memory`
(returning the heap to the OS) and :mod:`~flowsteer.llm.cli`
(``python -m flowsteer.llm``). Their names stay importable from here.

What it does, turn by turn (SPEC sections 4 and 7):

- **Prompt.** The canvas renders every observation (``obs.prompt``: system
  and user parts, kind, reply cap). The policy renders the two messages
  with the model's own chat template and the generation prompt, tokenises
  that text once, and records both: ``prompt_text`` (the message list as
  JSON, the Go LLM policy's ``openai-chat-messages-json`` format) and
  ``prompt_token_ids`` (the ids the model was conditioned on). The reply is
  returned raw as the action text; the canvas parses it (tags, lenient
  fallback) exactly as it parses the Go LLM policy's replies.
- **Sampling.** Temperature 0.6, top-p 0.95, top-k 20 unless the request's
  SamplingParams say otherwise (the trainer sends its ``sampling`` block);
  ``greedy`` takes the argmax. Reply caps: the canvas asks for 512 new
  tokens on action turns and 256 on prompt-writing turns (SPEC section 4);
  on a CPU this policy caps them further (``PolicyOptions``, default 32 and
  32) because SmolLM2-135M's useful replies are short and every token costs
  about 40 ms. An explicit ``SamplingParams.max_new_tokens`` wins.
- **Log-probabilities.** The policy whose log-probs are recorded and
  trained is ``pi(token) = softmax(logits / T)`` over the full vocabulary,
  at the temperature T the token was sampled at (kept in the decision's
  ``state``). Top-k and top-p only restrict which tokens may be drawn (the
  draw is from ``pi`` renormalised over the kept set); the recorded
  log-prob is ``log pi`` of the drawn token, before truncation. ``update``
  recomputes exactly that quantity (same T, same prompt ids, same token
  ids), and the KL reference and the entropy bonus use the same
  definition. Why not the truncated distribution: under the updated
  weights the top-k/top-p set moves, and a sampled token outside the new
  set would get log-prob -inf (ratio 0, k3 infinite). The cost is a bounded
  mismatch between the behaviour policy and ``pi`` (at most the 5% tail that
  top-p 0.95 removes), the usual choice of RL trainers for LLMs.
- **Mask.** Every sampled token, the closing ``<|im_end|>`` included, is the
  policy's own: mask 1. Prompt tokens are never in ``token_ids``.
- **Batching.** Concurrent Act calls (the G episodes of a group, the
  episodes of an evaluation) go through a queue: the worker waits up to
  ``batch_window_ms`` for up to ``max_batch`` requests and generates them
  together in one hand-written sampling loop over a KV cache. The system
  part of the prompt (about 870 of the ~990 tokens of an action turn, the
  same for every episode of a task family) is prefilled once per adapter
  version and reused (prefix cache); each request then prefills only its
  user part. Rows are laid out ``[pad | system | pad | user+reply]`` with an
  attention mask and explicit position ids, so a padded row computes what it
  would alone.
- **Update.** ``update`` recomputes each decision's token log-probs and
  entropies under the current adapter with gradients, the reference
  log-probs with the adapter disabled (``peft``'s ``disable_adapter``: the
  frozen base model is the reference, no second copy in memory), and applies
  :func:`flowsteer.cwrpo.cwrpo_loss` (token-level ratio, clip, k3 KL,
  entropy bonus, token-mean per episode then mean over episodes), AdamW on
  the LoRA parameters, gradient-norm clipping. Decisions are processed one
  at a time (gradient accumulation, ``update_batch`` decisions per
  forward) on top of the prefixes they share with other decisions (a
  prefix tree over the batch's prompts, ``update_prefix``), each shared
  prefix computed once per batch; the gradient every continuation sends a
  prefix is accumulated and back-propagated through it once, so the
  gradient is exact, not truncated (``update_prefix="none"``, every
  decision's whole prompt on its own, is the plain reference). Logits are
  computed only at the positions that predict a sampled token. Memory: what autograd keeps for one decision grows
  linearly with its length (SDPA attention keeps no attention matrix), so
  an update's peak is about that of its longest decision, whatever the
  batch; after an update and after each generation batch the freed heap is
  handed back to the operating system (:func:`release_memory`), otherwise
  glibc keeps the update's peak resident for the rest of the run.
- **Checkpoints.** ``save(path)`` writes one file (adapter weights, AdamW
  state, step, options) whose SHA-256 the trainer records, and the adapter
  with ``save_pretrained`` next to it (``PATH.adapter/``, loadable with
  ``peft.PeftModel.from_pretrained``). ``load(path)`` restores the file.

Scaled down from the reference (Qwen3-8B, LoRA rank 64 / alpha 64 / dropout
0.05, AdamW 1e-5 with cosine over 300 steps, 36 samples per group) so that a
run finishes on 2 CPU cores in well under an hour: a 135M model, LoRA rank
16 / alpha 32 on q/k/v/o (1.84 M trainable parameters), dropout 0 (with one
update per batch, dropout would only add noise between the sampling and the
update log-probs), learning rate 2e-4 by default (the trainer sends its own:
configs/llm-cpu.yaml uses 5e-4, since a LoRA on a small model barely moves
at 1e-5 in ten steps), groups of 4, reply caps 32/32 (SmolLM2-135M's replies
are prose; a tagged action is about 15 tokens), one torch thread (on 2 cores
the other one serves the trainer, the canvas and the llama.cpp executor, and
two OpenMP threads on an oversubscribed machine stall on each other: a batch
took 263 s with two threads and 14-28 s with one, see BENCHMARKS.md).

``reply_prefix`` (default empty) prefills every action reply, e.g. with
``<action>``: out of the box SmolLM2-135M never writes an action tag, so
every reward is -1, no group has reward variance and CWRPO has no gradient;
the prefill gives it a foothold (BENCHMARKS.md has both runs).
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
import time

import torch

from flowsteer.llm.checkpoint import Checkpoints
from flowsteer.llm.cli import main
from flowsteer.llm.generation import Generation, _Request, sample_top_k_top_p
from flowsteer.llm.memory import peak_rss_mib, release_memory
from flowsteer.llm.options import (
    CHECKPOINT_FORMAT,
    ENGINES,
    MODEL_FILE,
    MODEL_NAME,
    MODEL_PACKAGE,
    PROMPT_FORMAT,
    STATE_FORMAT,
    UPDATE_PREFIXES,
    PolicyOptions,
    model_dir,
)
from flowsteer.llm.update import Learning
from flowsteer.policy import PolicyServer

__all__ = [
    "CHECKPOINT_FORMAT", "ENGINES", "MODEL_FILE", "MODEL_NAME", "MODEL_PACKAGE", "PROMPT_FORMAT", "STATE_FORMAT",
    "UPDATE_PREFIXES", "LoRAPolicy", "PolicyOptions", "main", "model_dir", "peak_rss_mib", "release_memory", "sample_top_k_top_p",
    "_Request",
]

log = logging.getLogger("flowsteer.llm")


class LoRAPolicy(Generation, Learning, Checkpoints, PolicyServer):
    """SmolLM2-135M-Instruct with a LoRA adapter, trained by the Go trainer."""

    kind = "smollm2-lora"
    action_format = "text"
    model = MODEL_NAME

    def __init__(self, options: PolicyOptions | None = None, model_path: str | None = None):
        super().__init__()
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.opts = o = options or PolicyOptions()
        if o.threads:
            torch.set_num_threads(o.threads)
        torch.manual_seed(o.seed)
        d = model_path or model_dir()
        t0 = time.monotonic()
        self.tok = AutoTokenizer.from_pretrained(d, gguf_file=MODEL_FILE)
        base = AutoModelForCausalLM.from_pretrained(d, gguf_file=MODEL_FILE, dtype=torch.float32)
        base.config.use_cache = True
        cfg = LoraConfig(r=o.lora_rank, lora_alpha=o.lora_alpha, lora_dropout=o.lora_dropout,
                         target_modules=list(o.lora_targets), bias="none", task_type="CAUSAL_LM")
        self.net = get_peft_model(base, cfg)
        self.net.eval()  # no dropout anywhere: sampling and update see the same function
        self.load_seconds = time.monotonic() - t0
        self.trainable = [p for p in self.net.parameters() if p.requires_grad]
        self.n_trainable = sum(p.numel() for p in self.trainable)
        self.n_params = sum(p.numel() for p in self.net.parameters())
        self.opt = torch.optim.AdamW(self.trainable, lr=o.learning_rate, weight_decay=o.weight_decay)
        self.eos_ids = {i for i in [self.tok.eos_token_id, self.tok.convert_tokens_to_ids("<|im_end|>")] if i is not None and i >= 0}
        self.pad_id = self.tok.pad_token_id if self.tok.pad_token_id is not None else self.tok.eos_token_id
        self.step = 0
        self.updates = 0
        self._lock = threading.RLock()  # the network: generation and update never overlap
        self._rng = torch.Generator().manual_seed(o.seed)
        self._prefix_kv: dict = {}  # (version, adapter on?, prefix ids) -> per-layer (k, v)
        self._version = self._hash()
        if o.rollout_engine not in ENGINES:
            raise ValueError(f"rollout_engine {o.rollout_engine!r}: one of {', '.join(ENGINES)}")
        if o.update_prefix not in UPDATE_PREFIXES:
            raise ValueError(f"update_prefix {o.update_prefix!r}: one of {', '.join(UPDATE_PREFIXES)}")
        if not o.tis_cap > 0:
            raise ValueError("tis_cap must be > 0")
        self.engine = None
        #: Engine/trainer mismatch of the last update (flowsteer.llm.engine).
        self.last_mismatch: dict = {}
        #: Where the last update's time went (reference and policy passes).
        self.last_timing: dict = {}
        if o.rollout_engine == "llamacpp":
            from flowsteer.llm.engine import LlamaCppEngine

            self.engine = LlamaCppEngine(os.path.join(d, MODEL_FILE), threads=o.threads or 1, n_ctx=o.engine_ctx, seed=o.seed)
            self._sync_engine()
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._loop, name="flowsteer-llm-batcher", daemon=True)
        self._worker.start()
        #: Counters for logs, tests and benchmarks.
        self.stats = {"acts": 0, "batches": 0, "generated_tokens": 0, "generate_seconds": 0.0,
                      "generate_cpu_seconds": 0.0, "max_batch_seen": 0}
        self.last_stats: dict | None = None
        #: When set, one JSON line per act is appended here (episode, turn,
        #: kind, prompt and reply tokens, batch size, seconds).
        self.act_log: str | None = None
        self._log_lock = threading.Lock()
        log.info("%s loaded in %.1fs: %d params, LoRA r=%d on %s: %d trainable", MODEL_NAME, self.load_seconds,
                 self.n_params, o.lora_rank, ",".join(o.lora_targets), self.n_trainable)

    # ---- identity ----

    def _hash(self) -> str:
        h = hashlib.sha256()
        for p in self.trainable:
            h.update(p.detach().contiguous().numpy().tobytes())
        return "smollm2-135m-lora@" + h.hexdigest()[:12]

    @property
    def version(self) -> str:
        return self._version

    def info(self) -> dict[str, str]:
        o = self.opts
        return {"base_model": MODEL_NAME + " (" + MODEL_FILE + ", de-quantised to float32)",
                "lora": f"r={o.lora_rank} alpha={o.lora_alpha} dropout={o.lora_dropout} on {','.join(o.lora_targets)}",
                "trainable_params": str(self.n_trainable), "params": str(self.n_params),
                "prompt_format": PROMPT_FORMAT, "logprobs": "log softmax(logits/T), full vocabulary",
                "torch": torch.__version__, "threads": str(torch.get_num_threads()),
                "rollout_engine": o.rollout_engine + (f" (truncated IS, cap {o.tis_cap})" if self.engine else "")}

    def close(self) -> None:
        self._stop.set()
        self._queue.put(None)
        self._worker.join(timeout=5)
        if self.engine is not None:
            with self._lock:
                self.engine.close()

    def _sync_engine(self) -> None:
        """Give the rollout engine the current adapter (converted to GGUF)."""
        if self.engine is not None:
            self.engine.load_policy_adapter(self, self._version.rsplit("@", 1)[-1])


if __name__ == "__main__":
    main()
