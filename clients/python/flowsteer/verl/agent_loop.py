"""CanvasAgentLoop: a flowsteer canvas episode as a verl agent loop.

Registered as ``flowsteer_canvas``; point verl at it with
``actor_rollout_ref.rollout.agent.agent_loop_config_path`` =
``flowsteer/verl/agent_loop.yaml`` (or a copy with your canvas address) and
give each dataset row ``agent_name: flowsteer_canvas`` and the task (an
``extra_info.task`` JSON string, a ``task`` field, or a prompt from
``flowsteer.trl.task_dataset(..., mode="rollout")``).

Each ``run`` plays one episode in the canvas's ``incremental`` observation
mode: the rendered first prompt through the tokenizer's chat template, then
per turn the tokens verl's ``server_manager.generate`` sampled (mask 1, with
their log-probs) and the appended observation's tokens (mask 0), exactly as
:class:`flowsteer.trl.CanvasRollout` does for TRL. It returns
``AgentLoopOutput`` with ``response_mask``, ``response_logprobs`` and
``reward_score`` (the canvas's reward).

verl itself is imported when installed; otherwise the loop is built on
:mod:`flowsteer.verl._standin` (verl 0.9.1's interfaces), so it imports and
is tested everywhere.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any
from uuid import uuid4

try:  # pragma: no cover - depends on the machine
    from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopMetrics, AgentLoopOutput, register

    VERL_INSTALLED = True
except ImportError:
    from flowsteer.verl._standin import AgentLoopBase, AgentLoopMetrics, AgentLoopOutput, register

    VERL_INSTALLED = False

from flowsteer.local import canvas_address
from flowsteer.session import CanvasSession, breakdown_dict, shared_client
from flowsteer.trl.dataset import task_from_prompt
from flowsteer.trl.rollout import append_ids


def _task(kwargs: dict[str, Any]) -> dict[str, Any]:
    extra = kwargs.get("extra_info") or {}
    t = kwargs.get("task") or (extra.get("task") if isinstance(extra, dict) else None)
    if t is not None:
        return json.loads(t) if isinstance(t, str) else dict(t)
    if "raw_prompt" in kwargs:
        return task_from_prompt(list(kwargs["raw_prompt"]))
    raise ValueError("the row carries no task: give extra_info.task, task, or a <flowsteer-task> prompt")


@register("flowsteer_canvas")
class CanvasAgentLoop(AgentLoopBase):
    """One canvas episode per ``run``. Keyword arguments from the
    agent_loop_config entry: ``canvas`` (address; default
    ``$FLOWSTEER_CANVAS`` or a local ``flowsteer serve``), ``config``
    (``EpisodeConfig`` fields), ``reply_prefix``."""

    def __init__(self, *args, canvas: str | None = None, config: dict | None = None, reply_prefix: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.response_length = int(self.rollout_config.response_length)
        self.canvas = canvas_address(canvas or os.environ.get("FLOWSTEER_CANVAS"))
        self.episode_config = {"twoStep": False, **dict(config or {}), "observation": "OBSERVATION_MODE_INCREMENTAL",
                               "renderPrompt": True}
        self.reply_prefix = reply_prefix

    async def run(self, sampling_params: dict[str, Any], **kwargs) -> AgentLoopOutput:
        tok = self.tokenizer
        t0 = time.monotonic()
        s = await asyncio.to_thread(CanvasSession, shared_client(self.canvas), _task(kwargs), self.episode_config,
                                    adapter="verl")
        gen_seconds = 0.0
        try:
            rp = s.first.prompt
            prompt_ids = list(tok.apply_chat_template([{"role": "system", "content": rp.system},
                                                       {"role": "user", "content": rp.user}],
                                                      tokenize=True, add_generation_prompt=True, return_dict=False))
            prefix = tok(self.reply_prefix, add_special_tokens=False)["input_ids"] if self.reply_prefix else []
            ids, mask, lps = list(prefix), [0] * len(prefix), [0.0] * len(prefix)
            turns = 0
            request_id = uuid4().hex
            while not s.done and len(ids) < self.response_length:
                g0 = time.monotonic()
                out = await self.server_manager.generate(request_id=request_id, prompt_ids=prompt_ids + ids,
                                                         sampling_params=sampling_params)
                gen_seconds += time.monotonic() - g0
                new = list(out.token_ids)
                ids += new
                mask += [1] * len(new)
                lps += list(out.log_probs) if out.log_probs else [0.0] * len(new)
                if not new or new[-1] != tok.eos_token_id:
                    ids.append(tok.eos_token_id)
                    mask.append(0)
                    lps.append(0.0)
                turns += 1
                obs = await asyncio.to_thread(s.step, self.reply_prefix + tok.decode(new, skip_special_tokens=True))
                if obs.done:
                    break
                env = append_ids(tok, obs.prompt.user, self.reply_prefix)
                ids += env
                mask += [0] * len(env)
                lps += [0.0] * len(env)
            reward = await asyncio.to_thread(s.close)
        except BaseException:
            await asyncio.to_thread(s.close)
            raise
        n = self.response_length
        return AgentLoopOutput(
            prompt_ids=prompt_ids,
            response_ids=ids[:n],
            response_mask=mask[:n],
            response_logprobs=lps[:n],
            reward_score=float(reward.reward),
            num_turns=2 * turns + 1,
            metrics=AgentLoopMetrics(generate_sequences=gen_seconds, tool_calls=time.monotonic() - t0 - gen_seconds),
            extra_fields={"episode_id": s.id, "reward_breakdown": breakdown_dict(reward)},
        )


__all__ = ["CanvasAgentLoop", "VERL_INSTALLED"]
