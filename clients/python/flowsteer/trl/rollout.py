"""Token-faithful multi-turn rollouts for TRL's ``rollout_func``.

:class:`CanvasRollout` plays whole canvas episodes with the model TRL is
training and returns what ``GRPOTrainer`` optimises::

    {"prompt_ids": [...], "completion_ids": [...], "logprobs": [...],
     "env_mask": [...], "canvas_reward": [...], "episode_id": [...]}

The episode runs in the canvas's ``incremental`` observation mode: the first
observation is the rendered system and user prompt, every later one only
what is new (the feedback on the last reply and the new state), appended
after the reply as one user message. So the chat grows append-only and the
completion is exactly the concatenation of

- tokens the model sampled (``env_mask`` 1), never decoded and re-encoded,
  with the log-probability each was sampled with (``softmax(logits / T)``
  over the whole vocabulary, before top-k/top-p restrict what may be drawn);
- tokens the canvas contributed (``env_mask`` 0): the chat template's turn
  markers, each appended observation, and the optional ``reply_prefix``
  written after the assistant header (``"<action>"`` gets a small untrained
  model started, as ``flowsteer.llm`` does; it is never trained).

With ``choices``, every reply is constrained to one of a fixed set of
strings (constrained decoding through transformers' ``generate``
``prefix_allowed_tokens_fn``): the model still samples from its own
distribution, renormalised over the tokens that keep the reply on one of the
choices. Only tokens where more than one was allowed are the model's
decisions (``env_mask`` 1); tokens the constraint forced (the rest of a
choice once it is determined, the closing end-of-turn) are written like the
reply prefix (``env_mask`` 0), so the loss trains exactly the choices. The
canvas still judges every reply: a choice can be well-formed and refused.

The extra fields reach reward functions as keyword arguments:
:func:`canvas_reward` returns the canvas's reward of each episode.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from flowsteer.local import canvas_address
from flowsteer.session import CanvasSession, breakdown_dict, shared_client
from flowsteer.trl.dataset import task_from_prompt


def canvas_reward(completions=None, canvas_reward=None, **_: Any) -> list[float]:
    """A TRL reward function: the canvas's reward of each episode, as
    :class:`CanvasRollout` returned it."""
    if canvas_reward is None:
        raise ValueError("canvas_reward needs the rollout_func of flowsteer.trl.CanvasRollout")
    return [float(r) for r in canvas_reward]


def append_ids(tokenizer, user_text: str, reply_prefix: str = "") -> list[int]:
    """The token ids that follow a finished assistant reply (which ends with
    the end-of-turn token) when the chat goes on with a user message and a
    new assistant header: derived from the tokenizer's own chat template."""
    base = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]
    head = tokenizer.apply_chat_template(base, tokenize=False)
    full = tokenizer.apply_chat_template(base + [{"role": "user", "content": user_text}], tokenize=False,
                                         add_generation_prompt=True)
    eos = tokenizer.eos_token
    cut = head.rfind(eos) + len(eos) if eos and eos in head else len(head)
    if full[:cut] != head[:cut]:
        raise ValueError("the chat template is not append-only (an earlier turn renders differently later)")
    return tokenizer(full[cut:] + reply_prefix, add_special_tokens=False)["input_ids"]


class CanvasRollout:
    """A TRL ``rollout_func`` that plays one canvas episode per prompt.

    ``canvas``: the canvas address (default ``$FLOWSTEER_CANVAS`` or a local
    ``flowsteer serve``). ``config``: ``EpisodeConfig`` fields overlaying the
    defaults (incremental observations, two-step editing off);
    ``max_new_tokens`` caps each reply below the canvas's own cap (512
    for an action); ``reply_prefix`` is written after every assistant
    header; ``choices`` constrains every reply (after the prefix) to one of
    these strings (see the module docstring); ``system_prompt`` replaces the canvas's rendered system part
    (about 870 tokens: a shorter one makes CPU runs several times faster).
    The prompts must come from ``task_dataset(..., mode="rollout")``.

    Sampling uses the trainer's ``temperature``, ``top_p`` and ``top_k``; an
    episode stops early (and is closed and scored as it stands) before its
    completion would pass ``max_completion_length``.
    """

    def __init__(
        self,
        canvas: str | None = None,
        *,
        config: Mapping[str, Any] | None = None,
        max_new_tokens: int = 512,
        reply_prefix: str = "",
        choices: Sequence[str] | None = None,
        system_prompt: str | None = None,
    ):
        if choices is not None:
            choices = list(choices)
            bad = any(not isinstance(c, str) or not c for c in choices)
            if not choices or bad or len(set(choices)) != len(choices):
                raise ValueError("choices must be distinct non-empty strings")
        self.addr = canvas_address(canvas)
        self.config = {"twoStep": False, **dict(config or {}), "observation": "OBSERVATION_MODE_INCREMENTAL",
                       "renderPrompt": True}
        self.max_new_tokens = max_new_tokens
        self.reply_prefix = reply_prefix
        self.choices = choices
        self.system_prompt = system_prompt
        #: One record per episode played: id, reward, breakdown, turns,
        #: invalid turns and their feedback (for logs and tests).
        self.episodes: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, prompts: list, trainer) -> dict[str, list]:
        model = trainer.accelerator.unwrap_model(trainer.model) if hasattr(trainer, "accelerator") else trainer.model
        tok = trainer.processing_class
        tok = getattr(tok, "tokenizer", tok)
        args = trainer.args
        sampling = {"temperature": float(args.temperature or 1.0), "top_p": float(args.top_p or 1.0),
                    "top_k": int(args.top_k or 0)}
        budget = int(args.max_completion_length or 1 << 30)
        out: dict[str, list] = {k: [] for k in
                                ("prompt_ids", "completion_ids", "logprobs", "env_mask", "canvas_reward", "episode_id",
                                 "reward_breakdown")}
        was_training = model.training
        model.eval()
        try:
            for p in prompts:
                r = self.play(model, tok, task_from_prompt(p), sampling, budget)
                for k in out:
                    out[k].append(r[k])
        finally:
            model.train(was_training)
        return out

    def play(self, model, tok, task: Mapping[str, Any], sampling: Mapping[str, Any], budget: int) -> dict[str, Any]:
        """One episode: the token ids, log-probabilities, mask and reward."""
        s = CanvasSession(shared_client(self.addr), task, self.config, adapter="trl-rollout")
        try:
            rp = s.first.prompt
            prompt_ids = list(tok.apply_chat_template(
                [{"role": "system", "content": rp.system if self.system_prompt is None else self.system_prompt},
                 {"role": "user", "content": rp.user}],
                tokenize=True, add_generation_prompt=True, return_dict=False))
            prefix = tok(self.reply_prefix, add_special_tokens=False)["input_ids"] if self.reply_prefix else []
            completion, logprobs, mask = list(prefix), [0.0] * len(prefix), [0] * len(prefix)
            eos_ids = _eos_ids(tok)
            trie = _ChoiceTrie(tok, self.choices, eos_ids) if self.choices else None
            invalid: list[str] = []
            shown: list[str] = []
            while not s.done:
                cap = min(self.max_new_tokens, s.last.prompt.max_new_tokens or self.max_new_tokens)
                cap = min(cap, budget - len(completion))
                if cap <= 0:
                    break
                ids, lps, free = _sample(model, prompt_ids + completion, cap, eos_ids, sampling, tok, trie)
                completion += ids
                logprobs += [lp if f else 0.0 for lp, f in zip(lps, free)]
                mask += [1 if f else 0 for f in free]
                if not ids or ids[-1] not in eos_ids:  # cut at the cap: close the turn for the chat
                    completion.append(tok.eos_token_id)
                    logprobs.append(0.0)
                    mask.append(0)
                text = self.reply_prefix + tok.decode(ids, skip_special_tokens=True)
                obs = s.step(text)
                if not obs.valid:
                    invalid.append(obs.feedback)
                if obs.done:
                    break
                env = append_ids(tok, obs.prompt.user, self.reply_prefix)
                if len(completion) + len(env) >= budget:
                    break
                shown.append(obs.prompt.user)
                completion += env
                logprobs += [0.0] * len(env)
                mask += [0] * len(env)
            reward = s.close()
            rec = {"episode_id": s.id, "reward": float(reward.reward), "turns": s.last.turn, "invalid": invalid,
                   "shown": shown, "breakdown": breakdown_dict(reward), "completion_ids": completion,
                   "env_mask": mask, "logprobs": logprobs}
            with self._lock:
                self.episodes.append(rec)
            return {"prompt_ids": prompt_ids, "completion_ids": completion, "logprobs": logprobs, "env_mask": mask,
                    "canvas_reward": float(reward.reward), "episode_id": s.id, "reward_breakdown": rec["breakdown"]}
        except BaseException:
            try:
                s.close()
            except Exception:  # noqa: BLE001 - the first error is the one to report
                pass
            raise


def _eos_ids(tok) -> set[int]:
    ids = {tok.eos_token_id}
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    if isinstance(im_end, int) and im_end >= 0 and im_end != tok.unk_token_id:
        ids.add(im_end)
    return {i for i in ids if i is not None}


class _ChoiceTrie:
    """The token-id sequences of the allowed replies, each closed by an
    end-of-turn token: which tokens may follow a partial reply."""

    def __init__(self, tok, choices: Sequence[str], eos_ids: set[int]):
        im_end = tok.convert_tokens_to_ids("<|im_end|>")
        self.eos = im_end if im_end in eos_ids else tok.eos_token_id
        self.seqs = [tok(c, add_special_tokens=False)["input_ids"] + [self.eos] for c in choices]
        self.longest = max(len(s) for s in self.seqs)

    def allowed(self, done: list[int]) -> list[int]:
        n = len(done)
        nxt = sorted({s[n] for s in self.seqs if len(s) > n and s[:n] == done})
        return nxt or [self.eos]  # off every choice cannot happen; close the turn


def _sample(model, ids: list[int], max_new: int, eos_ids: set[int], sampling: Mapping[str, Any], tok,
            trie: _ChoiceTrie | None = None):
    """Sample up to max_new tokens after ids; returns the tokens, the
    log-probability of each under softmax(logits / temperature) (the
    model's own distribution, before any sampling filter or constraint),
    and for each whether it was a free choice (more than one token allowed)."""
    import torch

    x = torch.tensor([ids], device=model.device)
    kw: dict[str, Any] = {"do_sample": True, "temperature": sampling["temperature"], "top_p": sampling["top_p"]}
    if sampling["top_k"]:
        kw["top_k"] = sampling["top_k"]
    else:
        kw["top_k"] = None
    if trie is not None:
        start = len(ids)
        kw["prefix_allowed_tokens_fn"] = lambda _batch, seq: trie.allowed(seq[start:].tolist())
        max_new = min(max_new, trie.longest)
    with torch.no_grad():
        g = model.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=max_new,
                           eos_token_id=sorted(eos_ids), pad_token_id=tok.pad_token_id or tok.eos_token_id,
                           output_logits=True, return_dict_in_generate=True, **kw)
    new = g.sequences[0, len(ids):].tolist()
    lps = []
    for i, t in enumerate(new):
        lp = torch.log_softmax(g.logits[i][0].float() / sampling["temperature"], dim=-1)[t]
        lps.append(float(lp))
    # generate pads finished rows; with one row nothing follows the EOS
    for i, t in enumerate(new):
        if t in eos_ids:
            new, lps = new[: i + 1], lps[: i + 1]
            break
    free = [trie is None or len(trie.allowed(new[:i])) > 1 for i in range(len(new))]
    return new, lps, free


__all__ = ["CanvasRollout", "canvas_reward", "append_ids"]
