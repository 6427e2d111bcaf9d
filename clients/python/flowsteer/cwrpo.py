"""The CWRPO policy loss (SPEC section 7) in PyTorch, for Python learners.

It mirrors the Go implementation (internal/cwrpo) term for term, so a
policy served with :class:`~flowsteer.PolicyServer` optimises exactly what
the embedded Go policy does; clients/python/tests/test_cwrpo_parity.py
checks it against the shared vectors in testdata/cwrpo/vectors.json.

For each masked token (or categorical choice) with log-probs ``new`` (the
policy being updated), ``old`` (the policy that sampled it), ``ref`` (the
frozen reference) and the entropy of its distribution:

- ratio ``r = exp(new - old)``, surrogate ``min(r A, clip(r, 1-eps, 1+eps) A)``,
- k3 KL ``exp(ref - new) - (ref - new) - 1`` weighted by ``kl_coef``,
- entropy bonus weighted by ``entropy_coef``,

averaged over the tokens of each episode, then over the episodes that have
masked tokens. ``reinforce`` is the released code's ``-A * mean(new)``.

Importing this module needs torch; ``import flowsteer`` does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from flowsteer.v1 import policy_pb2


@dataclass
class LossParams:
    kind: str = "cwrpo"  # or "reinforce"
    clip: float = 0.2
    kl_coef: float = 0.005
    entropy_coef: float = 0.005

    @classmethod
    def from_proto(cls, c: policy_pb2.LossConfig | None) -> "LossParams":
        """SPEC section 7's defaults overlaid with the request's fields."""
        p = cls()
        if c is None:
            return p
        if c.kind == policy_pb2.LOSS_KIND_REINFORCE:
            p.kind = "reinforce"
        elif c.kind not in (policy_pb2.LOSS_KIND_UNSPECIFIED, policy_pb2.LOSS_KIND_CWRPO):
            raise ValueError(f"loss.kind: unknown value {c.kind}")
        if c.HasField("clip"):
            p.clip = c.clip
        if c.HasField("kl_coef"):
            p.kl_coef = c.kl_coef
        if c.HasField("entropy_coef"):
            p.entropy_coef = c.entropy_coef
        if not 0 < p.clip < 1:
            raise ValueError(f"loss.clip must be in (0, 1), got {p.clip}")
        if p.kl_coef < 0 or p.entropy_coef < 0:
            raise ValueError("loss.kl_coef and loss.entropy_coef must be >= 0")
        return p


@dataclass
class EpisodeTokens:
    """One episode's tokens as 1-D tensors of equal length (float64
    recommended). ``new`` and ``entropy`` carry gradients; the rest are data."""

    new: torch.Tensor
    old: torch.Tensor
    ref: torch.Tensor
    entropy: torch.Tensor
    mask: torch.Tensor  # bool
    advantage: float
    # Optional per-token weights of the policy term (no gradient): the
    # truncated importance-sampling correction min(pi_trainer/pi_engine, cap)
    # when the tokens were sampled by another engine (flowsteer.llm). None: 1.
    weight: torch.Tensor | None = None


def cwrpo_loss(episodes: list[EpisodeTokens], p: LossParams) -> tuple[torch.Tensor, dict]:
    """The loss of a batch (a scalar tensor to back-propagate) and its
    statistics (loss, policy_loss, kl, entropy, clip_fraction, tokens,
    episodes), as internal/cwrpo.Loss computes them."""
    live = [e for e in episodes if bool(e.mask.any())]
    stats = {"loss": 0.0, "policy_loss": 0.0, "kl": 0.0, "entropy": 0.0, "clip_fraction": 0.0, "tokens": 0, "episodes": len(live)}
    if not live:
        zero = torch.zeros((), dtype=torch.float64)
        for e in episodes:  # keep the graph connected so backward() works
            zero = zero + 0.0 * e.new.sum()
        return zero, stats
    batch = float(len(live))
    policy_terms, other_terms = [], []
    kl_sum = ent_sum = 0.0
    clipped = tokens = 0
    lo, hi = 1.0 - p.clip, 1.0 + p.clip
    for e in live:
        m = e.mask.bool()
        n = int(m.sum())
        w = 1.0 / (n * batch)
        new = e.new[m]
        A = float(e.advantage)
        tokens += n
        tis = e.weight[m].detach().to(new.dtype) if e.weight is not None else None
        if p.kind == "reinforce":
            policy_terms.append((-A * (new if tis is None else tis * new)).sum() * w)
            continue
        r = torch.exp(new - e.old[m].to(new.dtype))
        surr = torch.minimum(r * A, torch.clamp(r, lo, hi) * A)
        if tis is not None:
            surr = tis * surr
        x = e.ref[m].to(new.dtype) - new
        k3 = torch.exp(x) - x - 1
        ent = e.entropy[m]
        policy_terms.append(-surr.sum() * w)
        other_terms.append((p.kl_coef * k3 - p.entropy_coef * ent).sum() * w)
        kl_sum += float(k3.detach().sum())
        ent_sum += float(ent.detach().sum())
        clipped += int(((r < lo) | (r > hi)).sum())
    policy_loss = torch.stack(policy_terms).sum()
    loss = policy_loss + (torch.stack(other_terms).sum() if other_terms else 0.0)
    stats.update(loss=float(loss.detach()), policy_loss=float(policy_loss.detach()), tokens=tokens)
    if p.kind != "reinforce" and tokens:
        stats.update(kl=kl_sum / tokens, entropy=ent_sum / tokens, clip_fraction=clipped / tokens)
    return loss, stats
