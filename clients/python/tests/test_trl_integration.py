"""TRL against a served canvas (make test-integrations).

- A real GRPOTrainer (TRL 1.16.0) trains SmolLM2-135M-Instruct + LoRA on the
  CPU for 2 optimiser steps through flowsteer.trl.CanvasRollout (the
  rollout_func path: TRL's tool-call parsing does not know SmolLM2's chat
  template, see docs/integrations.md). Asserted: every reward came from the
  canvas (its episode store holds each episode, ended, with the same
  reward), the trainer logged exactly those rewards, invalid replies got
  the canvas's feedback (in the store and in the tokens the model was shown),
  the mask separates sampled tokens from canvas tokens, every reply is one of
  the example's constrained choices, at least one group's rewards differ (a
  non-zero advantage and gradient), and the LoRA weights changed.
- CanvasEnvironment under TRL's own tool-calling machinery: the tool schemas
  TRL renders, TRL's response parser on a chat template family it parses,
  tool dispatch as TRL's loop does it (an exception's text is the tool
  message), the reward against the store, and GRPOTrainer accepting it as an
  environment_factory and scoring a step with get_reward.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("FLOWSTEER_INTEGRATION_TESTS"),
                                reason="make test-integrations runs these (FLOWSTEER_INTEGRATION_TESTS=1)")

REPO = Path(__file__).resolve().parents[3]
SUITE = REPO / "data" / "suite" / "train.jsonl"


@pytest.fixture(scope="module")
def trl_mods():
    trl = pytest.importorskip("trl")
    pytest.importorskip("peft")
    pytest.importorskip("datasets")
    torch = pytest.importorskip("torch")
    # One intra-op thread unless FLOWSTEER_TORCH_THREADS says otherwise: on
    # the shared 2-core development VM under load, torch's two OpenMP threads
    # wait on each other at every barrier and a 50-token SmolLM2 forward took
    # 18-27 s, against 1.0 s with one thread (measured side by side).
    before = torch.get_num_threads()
    torch.set_num_threads(int(os.environ.get("FLOWSTEER_TORCH_THREADS", "1")))
    yield trl
    torch.set_num_threads(before)


@pytest.fixture
def smollm2():
    """A fresh model per test (a trainer's LoRA wraps the model in place);
    loads from the de-quantised copy load_smollm2 keeps."""
    from flowsteer.trl import load_smollm2

    return load_smollm2()


def _math_tasks(flowsteer_bin, n):
    from flowsteer.trl import load_tasks

    tasks = [t for t in load_tasks(str(SUITE), binary=flowsteer_bin) if t["family"] == "math"]
    assert len(tasks) >= n
    return tasks[:n]


def test_task_dataset_reads_any_layout_and_carries_the_task(flowsteer_bin, tmp_path, trl_mods):
    from flowsteer.trl import task_dataset, task_from_prompt

    gsm = tmp_path / "gsm8k.jsonl"
    gsm.write_text(json.dumps({"question": "Tom has 3 apples and buys 4. How many?", "answer": "3+4=7\n#### 7"}) + "\n")
    ds = task_dataset(str(gsm), binary=flowsteer_bin)
    assert ds.column_names == ["prompt", "task", "task_id", "family"]
    row = ds[0]
    assert row["prompt"] == [{"role": "user", "content": ""}] and row["family"] == "math"
    assert json.loads(row["task"])["answers"] == ["7"]
    rds = task_dataset(str(gsm), mode="rollout", binary=flowsteer_bin)
    assert task_from_prompt(rds[0]["prompt"])["question"].startswith("Tom has 3 apples")
    with pytest.raises(ValueError, match="mode"):
        task_dataset(str(gsm), mode="chat", binary=flowsteer_bin)


def test_choice_trie_allows_exactly_the_choices(trl_mods):
    """CanvasRollout's constraint: after any partial reply only the tokens
    that continue one of the choices (or, once one is complete, the
    end-of-turn token) are allowed; a token is a decision where more than
    one was."""
    from flowsteer.trl.model import load_smollm2_tokenizer
    from flowsteer.trl.rollout import CanvasRollout, _ChoiceTrie, _eos_ids

    tok = load_smollm2_tokenizer()
    choices = ["add</action><operator>Review</operator>", "add</action><operator>Format</operator>", "finish</action>"]
    trie = _ChoiceTrie(tok, choices, _eos_ids(tok))
    end = tok.convert_tokens_to_ids("<|im_end|>")
    seqs = [tok(c, add_special_tokens=False)["input_ids"] + [end] for c in choices]
    assert trie.longest == max(map(len, seqs))
    assert sorted(trie.allowed([])) == sorted({s[0] for s in seqs})  # add or finish
    for seq in seqs:
        for i, t in enumerate(seq):
            assert t in trie.allowed(seq[:i])
        assert trie.allowed(seq) == [end]  # past a choice's end only the end-of-turn
    add = seqs[0]
    decisions = [i for i in range(len(add)) if len(trie.allowed(add[:i])) > 1]
    assert decisions[0] == 0 and len(decisions) == 2  # add vs finish, then Review vs Format
    assert tok.decode(add[decisions[1]:-1]).startswith("Review")
    with pytest.raises(ValueError, match="distinct"):
        CanvasRollout("127.0.0.1:1", choices=["a", "a"])
    with pytest.raises(ValueError, match="distinct"):
        CanvasRollout("127.0.0.1:1", choices=[])


def test_grpo_trainer_trains_smollm2_against_the_canvas(addr, canvas, flowsteer_bin, trl_mods, monkeypatch):
    """The docs' trl-rollout example, run as written (address aside): 2
    optimiser steps of a real GRPOTrainer, 4 episodes each."""
    import torch

    from _docs import run_example

    monkeypatch.setenv("FLOWSTEER_BIN", flowsteer_bin)
    torch.manual_seed(3)
    ns: dict = {}
    t0 = time.monotonic()
    out = run_example("trl-rollout", {"127.0.0.1:50051": addr}, cwd=REPO, namespace=ns)
    wall = time.monotonic() - t0
    trainer, rollout, tok = ns["trainer"], ns["rollout"], ns["tok"]
    assert trainer.state.global_step == 2
    # The example's last line (the trainer prints its per-step logs before it).
    assert out.splitlines()[-1].split()[0] == "8", out

    # Rewards came from the canvas: each episode is in its store, ended, same reward.
    eps = rollout.episodes
    assert len(eps) == 8, [e["episode_id"] for e in eps]
    for e in eps:
        rec = canvas.get_episode(e["episode_id"], include_turns=True)
        assert rec.observation.done, e
        assert rec.observation.reward.reward == pytest.approx(e["reward"], abs=1e-9)
        assert e["breakdown"]["reward"] == pytest.approx(e["reward"], abs=1e-9)
    # ... and the trainer optimised exactly those rewards (mean per step).
    logged = [h["reward"] for h in trainer.state.log_history if "reward" in h]
    assert len(logged) == 2
    for step, mean in enumerate(logged):
        group = [e["reward"] for e in eps[4 * step: 4 * step + 4]]
        assert mean == pytest.approx(sum(group) / 4, abs=1e-5)

    # Invalid replies produced the canvas's feedback, stored and shown to the model.
    invalid = [(e, f) for e in eps for f in e["invalid"]]
    assert invalid, "no invalid reply in 8 episodes of an untrained 135M model"
    e, feedback = invalid[0]
    rec = canvas.get_episode(e["episode_id"], include_turns=True)
    assert any(not t.valid and t.feedback == feedback for t in rec.turns)
    shown = [m for e in eps for m in e["shown"]]
    assert any(m.startswith("Feedback: " + f[:60]) for _, f in invalid for m in shown) or all(
        not e["shown"] for e, _ in invalid), "an invalid reply's feedback was never shown"
    # What the model was shown is in its token ids, as canvas tokens (mask 0).
    for e in eps:
        env_text = tok.decode([i for i, m in zip(e["completion_ids"], e["env_mask"]) if m == 0])
        for m in e["shown"]:
            assert m in env_text

    # The mask: sampled tokens are 1, canvas tokens 0.
    for e in eps:
        assert len(e["completion_ids"]) == len(e["env_mask"]) == len(e["logprobs"])
        assert 1 in e["env_mask"] and 0 in e["env_mask"]
        assert all(lp <= 0.0 for lp in e["logprobs"])
        assert all(lp == 0.0 for lp, m in zip(e["logprobs"], e["env_mask"]) if m == 0)

    # Every reply is one of the example's choices after the prefix, and only
    # the tokens where the model had a choice are trained (mask 1).
    allowed = {rollout.reply_prefix + c for c in rollout.choices}
    for e in eps:
        text = tok.decode(e["completion_ids"])  # starts with the first reply's prefix
        replies = [part.split("<|im_end|>")[0] for part in text.split("<|im_start|>assistant\n")]
        turns = canvas.get_episode(e["episode_id"], include_turns=True).turns
        assert len(replies) == len(turns) and set(replies) <= allowed, replies
        assert sum(e["env_mask"]) >= len(turns), e["env_mask"]  # the first token of each reply is a choice

    # A learning signal: GRPO's advantage is zero for a group of equal
    # rewards; the choices (some refused, some worth a structure bonus) make
    # the 4 episodes of a group differ, so the loss has a gradient.
    groups = [[e["reward"] for e in eps[4 * step: 4 * step + 4]] for step in range(2)]
    assert any(len(set(g)) > 1 for g in groups), f"no reward variance in either step: {groups}"
    steps = [h for h in trainer.state.log_history if "reward_std" in h]
    assert any(h["reward_std"] > 0 and h["frac_reward_zero_std"] < 1 for h in steps), steps
    assert any(h["grad_norm"] > 0 for h in steps), steps
    # The parameters changed: peft starts every LoRA B matrix at zero.
    lora_b = {n: p for n, p in trainer.model.named_parameters() if "lora_B" in n}
    assert lora_b and any(p.detach().abs().sum() > 0 for p in lora_b.values()), \
        f"no LoRA weight changed in 2 optimiser steps (rewards {groups})"

    runtime = [h["train_runtime"] for h in trainer.state.log_history if "train_runtime" in h]
    _record("trl_rollout_seconds_per_step", [r / 2 for r in runtime], wall=wall, rewards=groups,
            steps=[{k: h.get(k) for k in ("reward", "reward_std", "loss", "grad_norm")} for h in steps])
    print(f"trl-rollout: {wall:.0f} s wall, {runtime} s train_runtime, rewards per step {groups}, logs {steps}")


def test_canvas_environment_under_trl_tool_calling(addr, canvas, flowsteer_bin, smollm2, trl_mods):
    from transformers.utils import get_json_schema
    from trl.chat_template_utils import add_response_schema, qwen2_5_chat_template, supports_tool_calling

    from flowsteer.trl import CanvasActionError, CanvasEnvironment, task_dataset

    _, tok0 = smollm2
    # SmolLM2's own template: TRL cannot parse its tool calls (the reason the
    # GRPOTrainer test above takes the rollout_func path).
    assert not supports_tool_calling(tok0)
    with pytest.raises(ValueError, match="Unrecognized chat template"):
        add_response_schema(_copy(tok0))
    # A family TRL parses (Qwen2.5's ChatML template, whose turn markers
    # SmolLM2's vocabulary shares).
    tok = _copy(tok0)
    tok.chat_template = qwen2_5_chat_template
    add_response_schema(tok)

    env = CanvasEnvironment(addr, config={"maxRounds": 12})
    tools = [getattr(env, n) for n in ("add_operator", "add_parallel", "add_conditional", "add_loop", "delete",
                                       "modify", "set_prompt", "finish")]
    schemas = {s["function"]["name"]: s["function"] for s in map(get_json_schema, tools)}
    assert schemas["add_parallel"]["parameters"]["properties"]["operators"]["type"] == "array"
    assert schemas["add_operator"]["parameters"]["required"] == ["operator"]
    assert schemas["add_loop"]["parameters"]["properties"]["count"]["type"] == "integer"

    row = task_dataset(_math_tasks(flowsteer_bin, 1))[0]
    intro = env.reset(**row)
    assert "Operators:" in intro and "Problem: " in intro

    def call(assistant_text):
        """What TRL's _tool_call_loop does with one assistant turn."""
        ids = tok(assistant_text, add_special_tokens=False)["input_ids"]
        msg = _parse(tok, ids, tools)
        (tc,) = msg["tool_calls"]
        fn = tc["function"]
        try:
            return getattr(env, fn["name"])(**fn["arguments"])
        except Exception as e:  # noqa: BLE001 - as TRL does
            return {"error": str(e)}

    def tool_call(name, **arguments):
        return '<tool_call>\n' + json.dumps({"name": name, "arguments": arguments}) + '\n</tool_call><|im_end|>'

    bad = call(tool_call("add_operator", operator="Foo"))
    assert isinstance(bad, dict) and bad["error"].startswith("Cannot add: unknown operator Foo"), bad
    with pytest.raises(CanvasActionError, match="node_9 does not exist"):
        env.delete("node_9")
    for text in (
        tool_call("add_operator", operator="Plan"),
        tool_call("add_parallel", operators=["Programmer", "AnswerGenerate", "Custom"]),
        tool_call("add_operator", operator="ScEnsemble"),
        tool_call("add_conditional", condition="Review", if_true="Revise"),
        tool_call("add_operator", operator="Format", prompt="Give only the final number."),
    ):
        out = call(text)
        assert isinstance(out, str) and "Workflow: " in out, out
    done = call(tool_call("finish"))
    assert "Episode ended (END_REASON_FINISHED)" in done
    r = env.get_reward()
    rec = canvas.get_episode(env.episode_id, include_turns=True)
    assert rec.observation.done and rec.observation.reward.reward == pytest.approx(r)
    assert env.reward_breakdown["released"] is True and env.reward_breakdown["structure_total"] == pytest.approx(1.0)
    assert sum(1 for t in rec.turns if not t.valid) == 2

    # An episode the model leaves unfinished is closed and scored by get_reward.
    env.reset(**row)
    env.add_operator("Programmer")
    r2 = env.get_reward()
    rec2 = canvas.get_episode(env.episode_id)
    from flowsteer.v1 import canvas_pb2

    assert rec2.observation.end_reason == canvas_pb2.END_REASON_CLOSED
    assert rec2.observation.reward.reward == pytest.approx(r2) == pytest.approx(-1.0)


def test_grpo_trainer_takes_canvas_environment_as_environment_factory(addr, canvas, flowsteer_bin, smollm2, trl_mods,
                                                                      tmp_path):
    from peft import LoraConfig
    from trl import GRPOConfig, GRPOTrainer
    from trl.chat_template_utils import qwen2_5_chat_template

    from flowsteer.trl import CanvasEnvironment, task_dataset

    model, tok0 = smollm2
    tok = _copy(tok0)
    tok.chat_template = qwen2_5_chat_template
    made: list[CanvasEnvironment] = []

    def factory():
        env = CanvasEnvironment(addr, config={"maxRounds": 4})
        made.append(env)
        return env

    args = GRPOConfig(output_dir=str(tmp_path / "out"), max_steps=1, per_device_train_batch_size=2, num_generations=2,
                      max_completion_length=24, logging_steps=1, report_to=[], save_strategy="no", use_cpu=True,
                      disable_tqdm=True, max_tool_calling_iterations=2,
                      bf16=False, gradient_checkpointing=False)  # TRL's CPU defaults cost 10x+, see the docs
    trainer = GRPOTrainer(model=model, args=args, train_dataset=task_dataset(_math_tasks(flowsteer_bin, 1)),
                          processing_class=tok, environment_factory=factory,
                          peft_config=LoraConfig(r=4, target_modules=["q_proj"], task_type="CAUSAL_LM"))
    names = {t.__name__ for t in trainer.tools}
    assert {"add_operator", "add_parallel", "add_conditional", "add_loop", "delete", "modify", "set_prompt",
            "finish"} <= names and "get_reward" not in names and "reset" not in names
    assert trainer.reward_func_names == ["CanvasEnvironment"]
    trainer.train()
    played = [e for e in made if e.episode_id]
    assert played, "no environment was reset"
    logged = [h for h in trainer.state.log_history if "rewards/CanvasEnvironment/mean" in h]
    rewards = [canvas.get_episode(e.episode_id).observation.reward.reward for e in played[-2:]]
    assert logged and logged[0]["rewards/CanvasEnvironment/mean"] == pytest.approx(sum(rewards) / len(rewards), abs=1e-5)


def _copy(tok):
    import copy

    return copy.deepcopy(tok)


def _parse(tok, ids, tools):
    from trl.chat_template_utils import parse_response

    # As TRL does: the prompt (ending in the assistant header) is the prefix.
    prefix = tok("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
    return parse_response(tok, ids, prefix=prefix, tools=tools)


def _record(name, values, **extra):
    """Append a measurement for BENCHMARKS.md when FLOWSTEER_BENCH_OUT is set."""
    out = os.environ.get("FLOWSTEER_BENCH_OUT")
    if out:
        with open(out, "a") as f:
            f.write(json.dumps({"name": name, "values": values, **extra}) + "\n")


def test_docs_environment_example(addr, trl_mods):
    from _docs import run_example

    out = run_example("trl-environment", {"127.0.0.1:50051": addr}).splitlines()
    assert out[0].startswith("You are the Flow-Director")
    assert out[1].startswith("Cannot add: unknown operator Foo")
    assert out[2] in ("1.0 True", "0.0 True")
