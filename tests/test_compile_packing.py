"""Packed state between compiled steps (torchish/_compile/packing.py): a compiled step keeps
small parameters and optimizer state in one flat buffer and returns small gradients as one
buffer.  Whatever the user does with those tensors between steps must behave as if they were
ordinary tensors."""

import copy
import io
import pickle

import numpy as np
import pytest

import torchish as T
import torchish.nn as nn
import torchish.nn.functional as F


def _setup(seed=0):
    T.manual_seed(seed)
    m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = T.optim.Adam(m.parameters(), lr=1e-2)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        return loss

    return m, opt, step


X, Y = T.randn(6, 4), T.tensor([0, 1, 2, 1, 0, 2])


def _close(m, m2):
    for p, q in zip(m.parameters(), m2.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-7)


def _pack(f):
    return f._fast[3].io.spacks[0]


def test_parameters_are_packed_and_stay_parameters():
    m, opt, step = _setup()
    f = T.compile(step)
    for _ in range(3):
        f(X, Y)
    p = m[0].weight
    assert p._packed and isinstance(p, nn.Parameter) and p.requires_grad
    assert isinstance(opt.state[p]["exp_avg"], T.Tensor)
    assert len(list(m.parameters())) == 4 and dict(m.named_parameters())["0.weight"] is p
    assert p.shape == (8, 4)  # reading makes it a plain Parameter again
    assert type(p) is nn.Parameter and not p._packed
    assert repr(p).startswith("Parameter containing:")


def test_reading_between_steps_keeps_the_buffer_and_the_values():
    m, opt, step = _setup()
    m2, opt2, step2 = _setup()
    f = T.compile(step)
    for i in range(6):
        f(X, Y)
        step2(X, Y)
        pack = _pack(f)
        buf = pack.buf
        with T.no_grad():  # an eager evaluation reads every parameter
            np.testing.assert_allclose(m(X).numpy(), m2(X).numpy(), rtol=1e-5, atol=1e-6)
        assert pack.input() is buf  # reads did not invalidate it: no repacking
        _close(m, m2)


@pytest.mark.parametrize("how", ["inplace", "data", "copy_", "state", "load_state_dict"])
def test_writing_between_steps_is_seen_by_the_next_step(how):
    m, opt, step = _setup()
    m2, opt2, step2 = _setup()
    f = T.compile(step)

    def edit(model, o):
        p = model[0].weight
        with T.no_grad():
            if how == "inplace":
                p.mul_(0.5)
            elif how == "data":
                p.data = p.data * 0.5
            elif how == "copy_":
                p.copy_(T.ones(8, 4))
            elif how == "state":
                o.state[p]["exp_avg"].zero_()
            else:
                model.load_state_dict({k: v * 0.5 for k, v in model.state_dict().items()})

    for i in range(5):
        f(X, Y)
        step2(X, Y)
        if i % 2 == 0:
            edit(m, opt)
            edit(m2, opt2)
        _close(m, m2)
    for p, q in zip(m.parameters(), m2.parameters()):
        for k in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_allclose(opt.state[p][k].numpy(), opt2.state[q][k].numpy(), rtol=1e-5, atol=1e-8)


def test_versions_and_views_follow_packed_writes():
    m, opt, step = _setup()
    f = T.compile(step)
    f(X, Y)
    f(X, Y)
    p = m[2].bias
    v0 = p._version
    view = p[1:]  # a view taken while packed
    f(X, Y)
    f(X, Y)
    assert p._packed and p._version == v0 + 2
    np.testing.assert_array_equal(view.detach().numpy(), p.detach().numpy()[1:])
    assert p._version == v0 + 2  # reading kept the count
    f(X, Y)
    assert p._version == v0 + 3


def test_packed_state_copies_pickles_and_saves():
    m, opt, step = _setup()
    f = T.compile(step)
    for _ in range(3):
        f(X, Y)
    ref = [p.detach().numpy().copy() for p in m.parameters()]
    f(X, Y)  # packed again
    assert m[0].weight._packed
    m_copy = copy.deepcopy(m)
    for p, q in zip(m_copy.parameters(), m.parameters()):
        assert type(p) is nn.Parameter
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    f(X, Y)
    state = pickle.loads(pickle.dumps(opt.state_dict()))
    assert all(type(v) is T.Tensor for s in state["state"].values() for v in s.values() if isinstance(v, T.Tensor))
    buf = io.BytesIO()
    f(X, Y)
    T.save(m.state_dict(), buf)
    buf.seek(0)
    loaded = T.load(buf)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(loaded[k].numpy(), v.numpy())
    assert not np.allclose(ref[0], m[0].weight.detach().numpy())


def test_two_compiled_functions_sharing_parameters():
    """A training step and another step over the same parameters (a second loss) alternate:
    each packs the state it writes; the values equal eager execution's."""
    m, opt, step = _setup()
    m2, opt2, step2 = _setup()

    def other(model, o):
        def s(x):
            o.zero_grad()
            model(x).pow(2).mean().backward()
            o.step()

        return s

    f, g = T.compile(step), T.compile(other(m, opt))
    g2 = other(m2, opt2)
    for i in range(6):
        f(X, Y)
        step2(X, Y)
        if i % 2:
            g(X)
            g2(X)
        _close(m, m2)


def test_packed_grads_are_plain_tensors_with_versions():
    m, opt, step = _setup()
    f = T.compile(step)
    for _ in range(3):
        f(X, Y)
    g = m[0].weight._grad
    assert g._packed
    v = g._version
    f(X, Y)
    assert m[0].weight._grad is g and g._version == v + 1
    assert type(m[0].weight.grad) is T.Tensor and not g._packed
