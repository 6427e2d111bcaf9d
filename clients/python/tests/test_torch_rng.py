"""flowsteer.torch_rng: the per-act generator both PyTorch policies use."""

import threading

import pytest

torch = pytest.importorskip("torch")

from flowsteer.torch_rng import act_generator  # noqa: E402


def test_seeded_generator_repeats_and_leaves_the_policy_rng_alone():
    rng = torch.Generator().manual_seed(7)
    before = rng.get_state()
    a = torch.rand(4, generator=act_generator(123, rng, threading.Lock()))
    b = torch.rand(4, generator=act_generator(123, rng, threading.Lock()))
    assert torch.equal(a, b)
    assert torch.equal(rng.get_state(), before)


def test_unseeded_generator_draws_its_seed_from_the_policy_rng():
    lock = threading.RLock()
    r1, r2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    first = [torch.rand(2, generator=act_generator(None, r1, lock)) for _ in range(2)]
    again = [torch.rand(2, generator=act_generator(None, r2, lock)) for _ in range(2)]
    assert all(torch.equal(x, y) for x, y in zip(first, again))
    assert not torch.equal(first[0], first[1])
