"""Rollouts through llama.cpp, updates in torch.

:class:`LlamaCppEngine` runs the same SmolLM2-135M-Instruct GGUF the
trainer de-quantises, through llama.cpp (llama-cpp-python), with the
trainer's current LoRA adapter converted to a GGUF LoRA adapter
(:mod:`flowsteer.llm.gguf_lora`) and loaded again after every update.

Why llama.cpp in-process (``llama_cpp.Llama``, the library the managed
``llama_cpp.server`` wraps) and not the OpenAI-compatible HTTP server: the
learner needs the exact ids of the sampled tokens and the engine's
log-probability of each under ``softmax(logits / T)`` over the full
vocabulary. The server's completion endpoint returns tokens as text and
log-probs after its own sampler chain (top-k/top-p renormalised), so the
ids would have to be re-tokenised from text (BPE does not round-trip
token by token) and the log-probs would be of another distribution. Here
llama.cpp computes the logits; the draw uses the trainer's own sampler
(:func:`flowsteer.llm.generation.sample_top_k_top_p`) on them, so the two
paths differ only in the numbers the two engines compute.

The KV cache keeps the longest common prefix between consecutive prompts
(the system part of a task family's prompts), as llama.cpp's server does
with ``cache_prompt``; requests are generated one after the other.
"""

from __future__ import annotations

import ctypes
import logging
import os
import tempfile
import time

import numpy as np
import torch

log = logging.getLogger("flowsteer.llm.engine")


class LlamaCppEngine:
    """One llama.cpp context over a GGUF base model with an optional GGUF
    LoRA adapter; not thread-safe (the policy serialises calls)."""

    def __init__(self, model_path: str, *, threads: int = 1, n_ctx: int = 4096, n_batch: int = 512, seed: int = 1):
        self.model_path = model_path
        self.threads = max(1, int(threads))
        self.n_ctx = n_ctx
        self.n_batch = n_batch
        self.seed = seed
        self.adapter_path: str | None = None
        self.llm = None
        self.loads = 0
        self.load_seconds = 0.0
        self._dir = tempfile.mkdtemp(prefix="flowsteer-gguf-lora-")
        self.load(None)

    def load(self, adapter_path: str | None) -> None:
        """(Re)create the context over the base model with this adapter
        (None: the base model alone). llama.cpp applies an adapter per
        context; a new context is the simplest correct way to swap one."""
        from llama_cpp import Llama

        t0 = time.monotonic()
        old = self.llm
        self.llm = None
        if old is not None:
            old.close()
        self.llm = Llama(model_path=self.model_path, lora_path=adapter_path, n_ctx=self.n_ctx, n_batch=self.n_batch,
                         n_threads=self.threads, n_threads_batch=self.threads, logits_all=False, seed=self.seed,
                         verbose=False)
        self.adapter_path = adapter_path
        self.loads += 1
        self.load_seconds += time.monotonic() - t0

    def load_policy_adapter(self, policy, tag: str) -> str:
        """Convert the policy's current PEFT adapter to GGUF and load it."""
        from flowsteer.llm.gguf_lora import export_policy_adapter

        path = os.path.join(self._dir, f"adapter-{tag}.gguf")
        export_policy_adapter(policy, path)
        prev = self.adapter_path
        self.load(path)
        if prev and prev != path and prev.startswith(self._dir):
            try:
                os.remove(prev)
            except OSError:
                pass
        return path

    def close(self) -> None:
        if self.llm is not None:
            self.llm.close()
            self.llm = None

    # ---- evaluation ----

    def _logits(self) -> np.ndarray:
        n = self.llm.n_vocab()
        return np.ctypeslib.as_array(ctypes.cast(self.llm._ctx.get_logits(), ctypes.POINTER(ctypes.c_float)),
                                     shape=(n,)).copy()

    def prefill(self, tokens: list) -> np.ndarray:
        """Make the context hold exactly ``tokens`` (keeping the longest
        common prefix already in the KV cache) and return the logits that
        follow the last one."""
        if not tokens:
            raise ValueError("empty prompt")
        if len(tokens) >= self.n_ctx:
            raise ValueError(f"{len(tokens)} tokens do not fit the context of {self.n_ctx}")
        llm = self.llm
        have = llm._input_ids
        n = 0
        lim = min(len(have), len(tokens) - 1)  # at least one token is decoded: its logits are needed
        while n < lim and int(have[n]) == tokens[n]:
            n += 1
        llm.n_tokens = n  # eval removes the KV cache from here on
        llm.eval(tokens[n:])
        return self._logits()

    def step(self, token: int) -> np.ndarray:
        self.llm.eval([token])
        return self._logits()

    def sample(self, prompt: list, *, max_new: int, temperature: float, top_p: float, top_k: int, greedy: bool,
               generator: torch.Generator | None, eos_ids) -> tuple[list, list]:
        """Sampled token ids and their log-probs ``log softmax(logits/T)``
        (full vocabulary), drawn as the transformers path draws them."""
        from flowsteer.llm.generation import sample_top_k_top_p

        if len(prompt) + max_new >= self.n_ctx:
            raise ValueError(f"{len(prompt)} prompt tokens + {max_new} new do not fit the context of {self.n_ctx}")
        logits = self.prefill(list(prompt))
        toks, lps = [], []
        for _ in range(max_new):
            lp = torch.log_softmax(torch.from_numpy(logits).float() / temperature, dim=-1)
            t = int(torch.argmax(lp)) if greedy else sample_top_k_top_p(lp, top_k, top_p, generator)
            toks.append(t)
            lps.append(float(lp[t]))
            if t in eos_ids or len(toks) >= max_new:
                break
            logits = self.step(t)
        return toks, lps

    def score(self, prompt: list, tokens: list, temperature: float) -> list:
        """The engine's log-probs of ``tokens`` following ``prompt``."""
        logits = self.prefill(list(prompt))
        out = []
        for i, t in enumerate(tokens):
            lp = torch.log_softmax(torch.from_numpy(logits).float() / temperature, dim=-1)
            out.append(float(lp[t]))
            if i + 1 < len(tokens):
                logits = self.step(t)
        return out
