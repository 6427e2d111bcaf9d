"""The random generator one act of a PyTorch policy samples with.

Shared by the LLM policy (flowsteer.llm.generation) and the PyTorch
example (flowsteer.examples.torch_policy): a request that carries a seed
gets a generator seeded from it (each policy derives that seed from its own
key), one without draws a fresh seed from the policy's own generator.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch


def act_generator(seed: int | None, rng: torch.Generator, lock: AbstractContextManager) -> torch.Generator:
    """A new torch.Generator seeded with seed, or when seed is None with a
    seed drawn from rng (under lock, as acts run concurrently)."""
    if seed is None:
        with lock:
            seed = int(torch.randint(0, 2**62, (1,), generator=rng))
    return torch.Generator().manual_seed(seed)
