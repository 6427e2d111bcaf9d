"""The PyTorch CWRPO loss equals the Go implementation's on the shared
vectors (testdata/cwrpo/vectors.json, written and checked by
internal/cwrpo/vectors_test.go): loss, statistics, and the gradient with
respect to every token's log-prob and entropy, each to 1e-6."""

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from flowsteer.cwrpo import EpisodeTokens, LossParams, cwrpo_loss  # noqa: E402

VECTORS = Path(__file__).resolve().parents[3] / "testdata" / "cwrpo" / "vectors.json"
TOL = 1e-6


def load():
    return json.loads(VECTORS.read_text())["vectors"]


def test_the_vectors_cover_both_kinds():
    kinds = {v["params"]["kind"] for v in load()}
    assert kinds == {"cwrpo", "reinforce"}
    assert len(load()) >= 10


@pytest.mark.parametrize("vec", load(), ids=lambda v: v["name"])
def test_loss_matches_go(vec):
    P = vec["params"]
    params = LossParams(kind=P["kind"], clip=P["clip"], kl_coef=P["kl_coef"], entropy_coef=P["entropy_coef"])
    eps = []
    for e in vec["episodes"]:
        toks = e.get("tokens") or []
        col = lambda k: torch.tensor([t[k] for t in toks], dtype=torch.float64)  # noqa: E731
        eps.append(
            EpisodeTokens(
                new=col("new").requires_grad_(True),
                old=col("old"),
                ref=col("ref"),
                entropy=col("entropy").requires_grad_(True),
                mask=torch.tensor([t["mask"] for t in toks], dtype=torch.bool),
                advantage=e["advantage"],
            )
        )
    loss, stats = cwrpo_loss(eps, params)
    want = vec["result"]
    assert abs(float(loss.detach()) - want["loss"]) <= TOL, (float(loss.detach()), want["loss"])
    for k in ("loss", "policy_loss", "kl", "entropy", "clip_fraction"):
        assert abs(stats[k] - want[k]) <= TOL, (k, stats[k], want[k])
    assert stats["tokens"] == want["tokens"] and stats["episodes"] == want["episodes"]
    loss.backward()
    for i, e in enumerate(eps):
        for j in range(len(e.new)):
            g = vec["grads"][i][j]
            got_new = 0.0 if e.new.grad is None else float(e.new.grad[j])
            got_ent = 0.0 if e.entropy.grad is None else float(e.entropy.grad[j])
            assert abs(got_new - g["new"]) <= TOL, (i, j, got_new, g["new"])
            assert abs(got_ent - g["entropy"]) <= TOL, (i, j, got_ent, g["entropy"])
