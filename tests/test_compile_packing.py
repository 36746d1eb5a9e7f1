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
from torchish._compile.discovery import discover


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


def test_small_grads_come_back_packed_and_unread_inputs_stay_out():
    """The .grad arrays zero_grad() discards are not passed in, the unused generator key is not
    either, and the small new .grad arrays come back as one buffer: each parameter's .grad is
    still a plain Tensor with PyTorch's values when read, and keeps its identity."""
    m, opt, step = _setup()
    m2, opt2, step2 = _setup()
    f = T.compile(step)
    x, y = T.randn(5, 4), T.tensor([0, 1, 2, 1, 0])
    for _ in range(2):
        f(x, y)
    io = f._fast[3].io
    assert io.g_don == [] and io.b_keep == []  # dead .grad buffers and the key stay out
    assert len(io.gpacks) == 1 and len(io.gpacks[0][0]) == 4 and io.g_out == []
    # parameters, both moments and the shared step counter travel as one buffer
    assert io.b_don == [] and len(io.spacks) == 1 and len(io.spacks[0].members) == 13
    grads = [p._grad for p in m.parameters()]
    for _ in range(3):
        f(x, y)
    assert [p._grad for p in m.parameters()] == grads  # identity kept while packed
    for _ in range(5):
        step2(x, y)
    for p, q in zip(m.parameters(), m2.parameters()):
        g = p.grad
        assert type(g) is T.Tensor and g.shape == p.shape and g.dtype == p.dtype
        np.testing.assert_allclose(g.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-7)
    # internal readers (an eager optimizer step, clipping) see the values too
    f(x, y)
    step2(x, y)
    T.nn.utils.clip_grad_norm_(m.parameters(), 0.1)
    T.nn.utils.clip_grad_norm_(m2.parameters(), 0.1)
    opt.step()
    opt2.step()
    for p, q in zip(m.parameters(), m2.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-7)


def test_packed_grads_read_by_another_compiled_function_and_after_a_shape_change():
    """Grads left packed by one program are inputs of another (accumulation) and of a retrace."""
    m, opt, step = _setup()
    m2, opt2, step2 = _setup()

    def accumulate(x, y):
        F.cross_entropy(m(x), y).backward()

    def accumulate2(x, y):
        F.cross_entropy(m2(x), y).backward()

    f, acc = T.compile(step), T.compile(accumulate)
    batches = [(T.randn(5, 4), T.tensor([0, 1, 2, 1, 0])), (T.randn(3, 4), T.tensor([2, 2, 1]))]
    for i in range(6):
        x, y = batches[i % 2] if i > 2 else batches[0]
        f(x, y)
        step2(x, y)
        acc(x, y)  # reads the packed grads, adds to them
        accumulate2(x, y)
        for p, q in zip(m.parameters(), m2.parameters()):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_discarded_grads_read_for_another_shape_switch_to_the_full_program():
    """A step that discards .grad for one batch shape and accumulates into it for another: the
    reduced program (which leaves the discarded grads out) hands over to the full one."""
    m, opt, _ = _setup()
    m2, opt2, _ = _setup()

    def make(model, o):
        def step(x, y):
            if x.shape[0] == 5:
                o.zero_grad()
            F.cross_entropy(model(x), y).backward()
            o.step()

        return step

    f, g = T.compile(make(m, opt)), make(m2, opt2)
    a, b = (T.randn(5, 4), T.tensor([0, 1, 2, 1, 0])), (T.randn(3, 4), T.tensor([2, 2, 1]))
    for x, y in [a, a, a, b, b, a, b]:
        f(x, y)
        g(x, y)
        for p, q in zip(m.parameters(), m2.parameters()):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-7)


def test_zero_grad_outside_the_compiled_step_keeps_the_fast_path(monkeypatch):
    """``optimizer.zero_grad()`` before each call (outside the compiled function) removes every
    .grad: the call checks .grad presence of the state it knows instead of walking the objects
    again (no discovery), and the numbers equal eager execution's."""
    import torchish._compile.compiled as C

    m, opt, _ = _setup()
    m2, opt2, _ = _setup()

    def make(model, o):
        def step(x, y):
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            o.step()
            return loss

        return step

    f, g = T.compile(make(m, opt)), make(m2, opt2)
    x, y = T.randn(5, 4), T.tensor([0, 1, 2, 1, 0])
    for _ in range(3):
        opt.zero_grad()
        f(x, y)
        opt2.zero_grad()
        g(x, y)
    walks = []
    monkeypatch.setattr(C, "discover", lambda *a, **k: walks.append(1) or discover(*a, **k))
    for _ in range(4):
        opt.zero_grad()
        f(x, y)
        opt2.zero_grad()
        g(x, y)
    assert walks == [] and f.cache_info().traces == 2
    for p, q in zip(m.parameters(), m2.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7)
    opt.zero_grad()
    m[0].weight.grad = T.ones(8, 4)  # presence differs from the cached program's: the other program
    f(x, y)
    opt2.zero_grad()
    m2[0].weight.grad = T.ones(8, 4)
    g(x, y)
    for p, q in zip(m.parameters(), m2.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-7)


def test_freezing_a_layer_between_compiled_steps_takes_effect():
    """``requires_grad_(False)`` on a parameter after the step was compiled: the next call runs
    the program without its gradient (the layer stays as it is, as in eager execution)."""
    m, opt, step = _setup()
    m2, opt2, step2 = _setup()
    f = T.compile(step)
    for i in range(6):
        if i == 3:
            for model in (m, m2):
                for p in model[0].parameters():
                    p.requires_grad_(False)
        f(X, Y)
        step2(X, Y)
        _close(m, m2)
    frozen = m[0].weight.detach().numpy().copy()
    f(X, Y)
    np.testing.assert_array_equal(m[0].weight.detach().numpy(), frozen)


def test_tied_weights_and_eager_updates_between_steps():
    """A parameter shared by two layers (weight tying) is one packed tensor; an eager update of
    every parameter between compiled steps (weight clipping, as in a WGAN) is seen each time."""

    def make():
        T.manual_seed(0)
        emb, head = nn.Embedding(6, 4), nn.Linear(4, 6)
        head.weight = emb.weight
        opt = T.optim.SGD(list(emb.parameters()) + [head.bias], lr=0.1, momentum=0.9)

        def step(t):
            opt.zero_grad()
            loss = F.cross_entropy(head(emb(t)), t)
            loss.backward()
            opt.step()
            return loss

        return emb, head, opt, step

    emb, head, opt, step = make()
    emb2, head2, opt2, step2 = make()
    f = T.compile(step)
    t = T.tensor([0, 1, 2, 3, 4, 5])
    for _ in range(5):
        np.testing.assert_allclose(f(t).item(), step2(t).item(), rtol=1e-5)
        for p in (emb.weight, head.bias, emb2.weight, head2.bias):
            with T.no_grad():
                p.clamp_(-0.3, 0.3)
        assert head.weight is emb.weight
        np.testing.assert_allclose(emb.weight.detach().numpy(), emb2.weight.detach().numpy(), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(head.bias.detach().numpy(), head2.bias.detach().numpy(), rtol=1e-5, atol=1e-7)
