"""The verl agent loop against a served canvas (make test-integrations).

verl is not installed here (verl 0.9.1 requires transformers<5.11; the
project pins 5.24.0), so CanvasAgentLoop runs on flowsteer.verl._standin,
the verl 0.9.1 interfaces it uses. Its server_manager is either scripted
(exact replies, to check the masks token by token) or SmolLM2-135M-Instruct
sampling through transformers (a real model, as verl's rollout server would).
"""

from __future__ import annotations

import asyncio
import json
import os
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("FLOWSTEER_INTEGRATION_TESTS"),
                                reason="make test-integrations runs these (FLOWSTEER_INTEGRATION_TESTS=1)")

TASK = {"id": "verl-math-1", "question": "What is 6*7?", "answer": "42", "family": "math"}
REPLIES = [
    "<action>add</action><structure>parallel</structure><operators>Programmer, AnswerGenerate</operators>",
    "<action>add</action><operator>Foo</operator>",
    "<action>add</action><operator>ScEnsemble</operator>",
    "<action>add</action><structure>conditional</structure><condition>Review</condition><true>Revise</true>",
    "<action>add</action><operator>Format</operator>",
    "<action>finish</action>",
]


@pytest.fixture(scope="module")
def tok():
    pytest.importorskip("transformers")
    from flowsteer.trl import load_smollm2

    return load_smollm2()


def _loop(addr, server_manager, tokenizer, **kw):
    from flowsteer.verl import CanvasAgentLoop

    cfg = SimpleNamespace(config=SimpleNamespace(actor_rollout_ref=SimpleNamespace(
        rollout=SimpleNamespace(response_length=4096, prompt_length=4096))))
    data = SimpleNamespace(config={})
    return CanvasAgentLoop(cfg, server_manager, tokenizer, None, None, data, canvas=addr, **kw)


def test_registered_and_configured():
    import yaml

    from flowsteer.verl import AGENT_LOOP_CONFIG, VERL_INSTALLED
    from flowsteer.verl.agent_loop import CanvasAgentLoop

    if VERL_INSTALLED:
        from verl.experimental.agent_loop.agent_loop import _agent_loop_registry
    else:
        from flowsteer.verl._standin import _agent_loop_registry
    assert _agent_loop_registry["flowsteer_canvas"]["_target_"] == "flowsteer.verl.agent_loop.CanvasAgentLoop"
    (entry,) = yaml.safe_load(open(AGENT_LOOP_CONFIG))
    assert entry["name"] == "flowsteer_canvas" and entry["_target_"] == f"{CanvasAgentLoop.__module__}.CanvasAgentLoop"


def test_scripted_episode_masks_and_reward(addr, canvas, tok):
    from flowsteer.verl._standin import TokenOutput

    _, tokenizer = tok
    replies = list(REPLIES)
    seen_prompts = []

    class Scripted:
        async def generate(self, request_id, *, prompt_ids, sampling_params, **kw):
            seen_prompts.append(list(prompt_ids))
            ids = tokenizer(replies.pop(0), add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            return TokenOutput(token_ids=ids, log_probs=[-0.5] * len(ids))

    out = asyncio.run(_loop(addr, Scripted(), tokenizer).run({"temperature": 1.0},
                                                            extra_info={"task": json.dumps(TASK)}))
    assert not replies
    assert len(out.response_ids) == len(out.response_mask) == len(out.response_logprobs)
    model_text = tokenizer.decode([t for t, m in zip(out.response_ids, out.response_mask) if m == 1])
    assert model_text == "".join(r + tokenizer.eos_token for r in REPLIES)
    assert all(lp == -0.5 for lp, m in zip(out.response_logprobs, out.response_mask) if m == 1)
    env_text = tokenizer.decode([t for t, m in zip(out.response_ids, out.response_mask) if m == 0])
    assert "unknown operator Foo" in env_text
    # Append-only: every generate call saw the previous one's prompt as its prefix.
    for a, b in zip(seen_prompts, seen_prompts[1:]):
        assert b[: len(a)] == a
    rec = canvas.get_episode(out.extra_fields["episode_id"])
    assert rec.observation.done and out.reward_score == pytest.approx(rec.observation.reward.reward)
    assert out.extra_fields["reward_breakdown"]["released"] is True


def test_real_model_episode(addr, canvas, tok):
    import torch

    from flowsteer.trl.rollout import _eos_ids, _sample
    from flowsteer.verl._standin import TokenOutput

    model, tokenizer = tok
    torch.manual_seed(0)

    class HF:
        async def generate(self, request_id, *, prompt_ids, sampling_params, **kw):
            ids, lps, _ = _sample(model, prompt_ids, 16, _eos_ids(tokenizer),
                               {"temperature": sampling_params["temperature"], "top_p": 1.0, "top_k": 0}, tokenizer)
            return TokenOutput(token_ids=ids, log_probs=lps)

    loop = _loop(addr, HF(), tokenizer, config={"maxRounds": 2}, reply_prefix="<action>")
    out = asyncio.run(loop.run({"temperature": 1.0}, extra_info={"task": json.dumps(TASK)}))
    assert 1 in out.response_mask and 0 in out.response_mask
    rec = canvas.get_episode(out.extra_fields["episode_id"])
    assert rec.observation.done and out.reward_score == pytest.approx(rec.observation.reward.reward)
