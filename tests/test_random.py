"""Random sampling: reproducibility, independence of draws, distributions, generators."""

import numpy as np
import pytest

import torchish as T


def test_manual_seed_reproduces_and_draws_differ():
    T.manual_seed(123)
    a = T.rand(5)
    b = T.rand(5)
    T.manual_seed(123)
    assert T.equal(a, T.rand(5)) and not T.equal(a, b)


def test_generator_objects_are_independent():
    g1 = T.Generator().manual_seed(7)
    g2 = T.Generator().manual_seed(7)
    T.rand(3)  # the default generator does not affect g1/g2
    assert T.equal(T.randn(4, generator=g1), T.randn(4, generator=g2))
    assert g1.initial_seed() == 7
    state = g1.get_state()
    x = T.rand(2, generator=g1)
    g1.set_state(state)
    assert T.equal(x, T.rand(2, generator=g1))
    with pytest.raises(ValueError, match="shape \\(2,\\)"):
        g1.set_state(T.zeros(3))


@pytest.mark.parametrize("fn,mean,std", [
    (lambda: T.rand(20000), 0.5, (1 / 12) ** 0.5),
    (lambda: T.randn(20000), 0.0, 1.0),
    (lambda: T.normal(2.0, 3.0, (20000,)), 2.0, 3.0),
    (lambda: T.empty(20000).uniform_(-1, 3), 1.0, (16 / 12) ** 0.5),
    (lambda: T.empty(20000).normal_(5, 0.5), 5.0, 0.5),
    (lambda: T.empty(20000).exponential_(2.0), 0.5, 0.5),
    (lambda: T.bernoulli(T.full((20000,), 0.3)), 0.3, (0.21) ** 0.5),
])
def test_distributions(fn, mean, std):
    x = fn().double()
    assert abs(x.mean().item() - mean) < 0.05 * max(1.0, abs(mean))
    assert abs(x.std().item() - std) < 0.05 * std + 0.01


def test_integers_and_permutations():
    r = T.randint(3, 7, (1000,))
    assert r.dtype is T.int64 and r.min().item() == 3 and r.max().item() == 6
    assert T.randint(5, (2, 2)).shape == (2, 2)
    p = T.randperm(10)
    assert sorted(p.tolist()) == list(range(10)) and p.dtype is T.int64
    x = T.empty(100, dtype=T.int64).random_(0, 4)
    assert set(x.tolist()) <= {0, 1, 2, 3}
    with pytest.raises(RuntimeError, match="expects 'from' to be less than 'to'"):
        T.randint(5, 5, (2,))


def test_multinomial():
    w = T.tensor([0.0, 1.0, 3.0])
    s = T.multinomial(w, 4000, replacement=True)
    counts = np.bincount(s.numpy(), minlength=3)
    assert counts[0] == 0 and abs(counts[2] / counts[1] - 3) < 0.5
    s2 = T.multinomial(T.ones(2, 5), 5)
    assert all(sorted(r) == list(range(5)) for r in s2.tolist())
    with pytest.raises(RuntimeError, match="cannot sample n_sample > prob_dist.size\\(-1\\) samples without replacement"):
        T.multinomial(T.ones(3), 4)


def test_like_and_dtypes():
    x = T.zeros(2, 3, dtype=T.float64)
    assert T.rand_like(x).dtype is T.float64 and T.randn_like(x).shape == (2, 3)
    assert T.randint_like(x, 0, 5).dtype is T.float64
    assert T.rand(2, dtype=T.bfloat16).dtype is T.bfloat16
    with pytest.raises(RuntimeError, match="not implemented for 'int64'"):
        T.rand(2, dtype=T.int64)


def test_other_samplers_run():
    assert T.poisson(T.full((100,), 4.0)).mean().item() == pytest.approx(4.0, abs=1.0)
    assert T.empty(100).geometric_(0.5).min().item() >= 1
    assert T.empty(10).cauchy_().shape == (10,)
    assert T.empty(10).log_normal_().min().item() > 0
    assert T.get_rng_state().shape == (2,)
