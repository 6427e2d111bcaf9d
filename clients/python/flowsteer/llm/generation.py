"""Acting: the prompt's token ids, the per-request sampling settings, the
batching worker that gathers concurrent Act calls, and the hand-written
sampling loop over a KV cache with a shared system-prefix cache (or the
llama.cpp rollout engine). Mixed into :class:`flowsteer.llm.policy.LoRAPolicy`."""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
from dataclasses import dataclass, field

import torch

from flowsteer.errors import FailedPrecondition, InvalidArgument
from flowsteer.llm.memory import release_memory
from flowsteer.llm.options import MODEL_NAME, STATE_FORMAT
from flowsteer.torch_rng import act_generator
from flowsteer.v1 import action_pb2, canvas_pb2, policy_pb2

log = logging.getLogger("flowsteer.llm")


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


class Generation:
    """LoRAPolicy's acting half: needs self.tok, self.net, self.opts, the
    queue and worker, the locks and the stats that LoRAPolicy.__init__ sets."""

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
        seed = None
        if sampling is not None and sampling.HasField("seed"):
            key = f"{sampling.seed}/{obs.episode_id}/{obs.task.id}/{obs.turn}"
            seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little") >> 1
        return act_generator(seed, self._rng, self._lock)

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
        t0, c0 = time.monotonic(), time.process_time()
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
        st["generate_cpu_seconds"] += time.process_time() - c0
        st["max_batch_seen"] = max(st["max_batch_seen"], B)
        log.debug("generated %d replies, %d tokens in %.2fs (%.1f tok/s)", B, n, dt, n / max(dt, 1e-9))

    def _generate_engine(self, reqs: list) -> None:
        """The batch's replies through llama.cpp, one request after the
        other (the KV cache keeps the shared system prefix)."""
        t0, c0 = time.monotonic(), time.process_time()
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
        st["generate_cpu_seconds"] += time.process_time() - c0
        st["max_batch_seen"] = max(st["max_batch_seen"], len(reqs))


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
