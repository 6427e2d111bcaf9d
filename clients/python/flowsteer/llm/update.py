"""Learning: recomputing each decision's log-probs and entropies under the
current adapter (and the reference with the adapter disabled), the
engine/trainer mismatch correction, exact gradient accumulation of the
CWRPO loss decision by decision, and the AdamW step. Mixed into
:class:`flowsteer.llm.policy.LoRAPolicy`."""

from __future__ import annotations

import json
import logging
import time

import torch

from flowsteer.cwrpo import EpisodeTokens, LossParams, cwrpo_loss
from flowsteer.errors import FailedPrecondition, InvalidArgument
from flowsteer.llm.memory import peak_rss_mib, release_memory
from flowsteer.llm.options import STATE_FORMAT
from flowsteer.v1 import policy_pb2

log = logging.getLogger("flowsteer.llm")


class Learning:
    """LoRAPolicy's update half: needs self.net, self.opt, self.trainable,
    self.opts and the prefix cache of :class:`~flowsteer.llm.generation.Generation`."""

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

    def _segment(self, ids: list, start: int, past, grad: bool):
        """Per-layer (k, v) of ``ids`` at positions start.. on top of the
        per-layer (k, v) ``past`` of the positions before them (shape (1,
        heads, len, dim); graphs kept when ``grad``)."""
        from transformers import DynamicCache

        cache = DynamicCache([(k, v) for k, v in past]) if past else DynamicCache()
        x = torch.tensor([ids])
        pos = torch.arange(start, start + len(ids))[None]
        with torch.set_grad_enabled(grad):
            self.net(input_ids=x, position_ids=pos, cache=cache, use_cache=True, logits_to_keep=1)
        return [(layer.keys[:, :, start:], layer.values[:, :, start:]) for layer in cache.layers]

    def _walk(self, items: list, start: int, past, grad: bool, emit, mb: int) -> None:
        """Compute every item's log-probs and entropies (``emit(chunk, news,
        ents)`` per micro-batch) given the (k, v) ``past`` of the
        ``start`` prompt positions they all share. With ``update_prefix``
        "tree", the longest prefix the items share beyond ``start`` goes
        through the network once, as a new leaf of the graph (its gradient
        is gathered from the continuations that attend to it and sent back
        once, into ``past`` and the LoRA weights); items that then differ
        are split by their next prompt token and walked on. Every item
        keeps at least its last prompt token for itself: the logits of its
        first sampled token come from its own forward."""
        if self.opts.update_prefix == "tree" and len(items) > 1:
            end = min(len(it["prompt"]) for it in items) - 1
            first = items[0]["prompt"]
            L = start
            while L < end and all(it["prompt"][L] == first[L] for it in items):
                L += 1
            if L > start:
                seg = self._segment(first[start:L], start, past, grad)
                leaves = [(k.detach().requires_grad_(True), v.detach().requires_grad_(True)) for k, v in seg] if grad else seg
                joined = [(torch.cat([pk, k], dim=2), torch.cat([pv, v], dim=2)) for (pk, pv), (k, v) in zip(past, leaves)] \
                    if past else leaves
                self._walk(items, L, joined, grad, emit, mb)
                del joined
                if grad:
                    _backward_prefix(seg, leaves)
                return
            branches: dict = {}
            for it in items:
                key = it["prompt"][start] if len(it["prompt"]) - 1 > start else None
                branches.setdefault(key, []).append(it)
            alone = []
            for key, br in branches.items():
                if key is None or len(br) == 1:
                    alone.extend(br)
                else:
                    self._walk(br, start, past, grad, emit, mb)
            items = alone
        for i in range(0, len(items), mb):
            chunk = items[i:i + mb]
            news, ents = self._batch_stats(past, start, chunk, grad)
            emit(chunk, news, ents)

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
        current adapter. The decisions' prompts are walked as a prefix tree
        (``update_prefix``): a prefix several decisions share goes through
        the network once, and each decision then computes only its own
        rest (in micro-batches of ``update_batch``). The reference
        log-probs (adapter disabled, no gradients) are computed first, the
        same way. With ``backward`` (called with a micro-batch's items and
        their new and entropy tensors, graphs attached), gradients are
        accumulated micro-batch by micro-batch, each shared prefix
        back-propagated once with the gradients its continuations sent it,
        and the returned tensors are detached."""
        items = self._items(request)
        grad = backward is not None
        mode = self.opts.update_prefix
        mm = {"abs": 0.0, "tokens": 0, "engine_tokens": 0, "clipped": 0, "weight": 0.0}
        groups: dict = {}
        for it in items:
            # The system part (state "prefix") is the first shared prefix:
            # its reference (k, v) is cached across updates (the base model
            # never changes), its policy (k, v) computed once per update.
            P = 0 if mode == "none" else it["P"]
            groups.setdefault(tuple(it["prompt"][:P]), []).append(it)
        mb = max(1, self.opts.update_batch)

        def set_ref(chunk, refs, _ents):
            for it, r in zip(chunk, refs):
                e = request.episodes[it["ei"]]
                if len(e.ref_logprobs):  # the trainer's reference log-probs win
                    r = torch.tensor(list(e.ref_logprobs)[it["off"]:it["off"] + len(it["tokens"])], dtype=torch.float64)
                it["ref"] = r.detach().double()

        def learn(chunk, news, ents):
            self._correct(chunk, news, mm)
            if grad:
                backward(chunk, news, ents)
            for it, n, h in zip(chunk, news, ents):
                it["new"], it["ent"] = (n.detach(), h.detach()) if grad else (n, h)

        t_ref = 0.0
        t0 = time.monotonic()
        for pre, its in groups.items():
            P = len(pre)
            t1 = time.monotonic()
            with torch.no_grad(), self.net.disable_adapter():
                rkv = self._prefix(list(pre), False) if P else None
                self._walk(its, P, rkv, False, set_ref, mb)
            t_ref += time.monotonic() - t1
            kv = leaves = None
            if P:
                kv = self._prefix(list(pre), True, grad=grad)
                leaves = [(k.detach().requires_grad_(True), v.detach().requires_grad_(True)) for k, v in kv] if grad else kv
            self._walk(its, P, leaves, grad, learn, mb)
            if grad and P:
                _backward_prefix(kv, leaves)
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
        self.last_timing = {"reference_seconds": t_ref, "policy_seconds": time.monotonic() - t0 - t_ref}
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
        t0, c0 = time.monotonic(), time.process_time()
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
            stats.update(self.last_timing)
            stats["seconds"] = time.monotonic() - t0
            # CPU seconds of this process: on a shared machine the wall
            # clock says as much about the neighbours as about the update.
            stats["cpu_seconds"] = time.process_time() - c0
            stats["rss_mib"] = release_memory()
            self.last_stats = stats
            log.info("update step %d: %d episodes, %d tokens, loss %.4f, kl %.5f, entropy %.3f, clip %.3f, grad norm %.3f, "
                     "rollouts %s, engine-vs-trainer mean |dlogp| %.5f, TIS clipped %.3f mean weight %.4f, "
                     "%.1fs, cpu %.1fs (reference log-probs %.1fs, policy forward+backward %.1fs, engine reload %.1fs; "
                     "shared prefixes: %s), "
                     "resident %d MiB (peak %d MiB); generated so far: %d tokens in %.0fs (%.1f tokens/s)",
                     request.step, stats["episodes"], stats["tokens"], stats["loss"], stats["kl"], stats["entropy"],
                     stats["clip_fraction"], norm, self.opts.rollout_engine, stats["mismatch"], stats["tis_clipped_fraction"],
                     stats["tis_mean_weight"], stats["seconds"], stats["cpu_seconds"], stats["reference_seconds"],
                     stats["policy_seconds"],
                     stats["engine_reload_seconds"], self.opts.update_prefix, stats["rss_mib"], peak_rss_mib(),
                     self.stats["generated_tokens"], self.stats["generate_seconds"],
                     self.stats["generated_tokens"] / max(self.stats["generate_seconds"], 1e-9))
            return stats


def _backward_prefix(outs, leaves) -> None:
    """Send the gradients gathered on a shared prefix's (k, v) leaves back
    through the forward that computed ``outs`` (once, for all the
    continuations that attended to it)."""
    ts, gs = [], []
    for (k, v), (lk, lv) in zip(outs, leaves):
        for t, leaf in ((k, lk), (v, lv)):
            if leaf.grad is not None and t.requires_grad:
                ts.append(t)
                gs.append(leaf.grad)
    if ts:
        torch.autograd.backward(ts, gs)
