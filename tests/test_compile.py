"""torchish.compile: compiled and eager execution of the same steps agree; cache and errors."""

import warnings

import jax
import numpy as np
import pytest

import torchish as T
import torchish.nn as nn
import torchish.nn.functional as F
from torchish.errors import TracedValueError, TracerLeakError


def _params(m):
    return [p.detach().numpy().copy() for p in m.parameters()]


def _run_both(make, n=20):
    """``make()`` -> (state objects, step function, batches); run eagerly and compiled."""
    out = []
    for compiled in (False, True):
        T.manual_seed(0)
        objs, step, batches = make()
        f = T.compile(step) if compiled else step
        losses = [np.asarray(f(*b).detach().numpy()) for b in batches[:n]]
        out.append((objs, losses, f))
    (oe, le, _), (oc, lc, fc) = out
    np.testing.assert_allclose(np.array(lc), np.array(le), rtol=2e-5, atol=1e-6)
    for a, b in zip(_params(oe[0]), _params(oc[0])):
        np.testing.assert_allclose(b, a, rtol=2e-5, atol=2e-6)
    return oe, oc, fc


def _batches(n, *shapes, classes=None):
    g = np.random.default_rng(0)
    out = []
    for _ in range(n):
        b = [T.tensor(g.standard_normal(s).astype(np.float32)) for s in shapes]
        if classes is not None:
            b.append(T.tensor(g.integers(0, classes, shapes[0][0])))
        out.append(tuple(b))
    return out


def test_mlp_adam_scheduler_matches_eager():
    def make():
        m = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
        opt = T.optim.Adam(m.parameters(), lr=1e-2)
        sched = T.optim.lr_scheduler.StepLR(opt, 5, 0.5)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
            sched.step()
            return loss

        return (m, opt, sched), step, _batches(20, (8, 6), classes=3)

    (me, oe, se), (mc, oc, sc), f = _run_both(make)
    assert float(oc.param_groups[0]["lr"]) == pytest.approx(oe.param_groups[0]["lr"])
    assert sc.last_epoch == se.last_epoch == 20
    info = f.cache_info()
    assert info.traces == 2, info  # the first step creates .grad and Adam state: one extra trace


def test_cnn_batchnorm_dropout_matches_eager_and_masks_differ():
    def make():
        m = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.3),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 5))
        opt = T.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
            return loss

        return (m, opt), step, _batches(20, (4, 1, 8, 8), classes=5)

    (me, _), (mc, _), _ = _run_both(make)
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(mc[1], name).numpy(), getattr(me[1], name).numpy(), rtol=1e-5, atol=1e-6)
    assert mc[1].num_batches_tracked.item() == 20
    drop = nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.5))
    fwd = T.compile(lambda x: drop(x))
    x = T.randn(2, 4)
    with T.no_grad():
        a, b = fwd(x), fwd(x)
    assert not T.allclose(a, b)  # a fresh dropout mask every call
    assert fwd.cache_info().traces == 1


def test_lstm_matches_eager():
    def make():
        lstm = nn.LSTM(3, 5, batch_first=True)
        head = nn.Linear(5, 2)
        m = nn.ModuleList([lstm, head])
        opt = T.optim.Adam(m.parameters(), lr=1e-2)

        def step(x, y):
            opt.zero_grad()
            out, _ = lstm(x)
            loss = F.mse_loss(head(out[:, -1]), y)
            loss.backward()
            opt.step()
            return loss

        return (m, opt), step, _batches(20, (4, 6, 3), (4, 2))

    _run_both(make)


def test_transformer_adamw_onecycle_matches_eager():
    def make():
        # NOTE: bias=False: the key projection's bias has an exactly-zero true gradient (softmax is
        # shift invariant), whose rounding noise Adam would amplify differently in the two runs.
        enc = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.1, batch_first=True, bias=False)
        m = nn.Sequential(enc, nn.Flatten(), nn.Linear(4 * 8, 3))
        opt = T.optim.AdamW(m.parameters(), lr=1e-3)
        sched = T.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=25)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
            sched.step()
            return loss

        return (m, opt, sched), step, _batches(20, (2, 4, 8), classes=3)

    _run_both(make)


def test_gradient_accumulation_matches_eager():
    def make():
        m = nn.Linear(4, 2)
        opt = T.optim.SGD(m.parameters(), lr=0.1)

        def step(x, y):
            opt.zero_grad()
            for xs, ys in zip(x.chunk(2), y.chunk(2)):
                (F.mse_loss(m(xs), ys) / 2).backward()
            opt.step()
            return m.weight.grad.sum()

        return (m, opt), step, _batches(20, (8, 4), (8, 2))

    _run_both(make)


def test_gan_two_optimizers_matches_eager():
    def make():
        G = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3))
        D = nn.Sequential(nn.Linear(3, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
        og = T.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
        od = T.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))
        both = nn.ModuleList([G, D])

        def step(z, real):
            od.zero_grad()
            fake = G(z)
            d_loss = F.binary_cross_entropy_with_logits(D(real), T.ones(real.shape[0], 1)) + \
                F.binary_cross_entropy_with_logits(D(fake.detach()), T.zeros(z.shape[0], 1))
            d_loss.backward()
            od.step()
            og.zero_grad()
            g_loss = F.binary_cross_entropy_with_logits(D(fake), T.ones(z.shape[0], 1))
            g_loss.backward()
            og.step()
            return d_loss + g_loss

        return (both, og, od), step, _batches(20, (4, 2), (4, 3))

    _run_both(make)


# ---------------------------------------------------------------------------------- cache
def _linear_step(**compile_kw):
    m = nn.Linear(3, 2)
    opt = T.optim.SGD(m.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = m(x).pow(2).mean()
        loss.backward()
        opt.step()
        return loss

    return m, opt, T.compile(step, **compile_kw)


def test_retrace_only_when_the_program_changes():
    m, opt, step = _linear_step()
    x = T.randn(4, 3)
    step(x)
    step(x)
    base = step.cache_info().traces
    assert base == 2  # first call has no .grad yet: at most one extra trace
    for i in range(5):  # new data, a new learning rate, more steps: same program
        opt.param_groups[0]["lr"] = 0.1 / (i + 1)
        step(T.randn(4, 3))
    assert step.cache_info().traces == base
    step(T.randn(7, 3))  # a new batch shape is a new program
    assert step.cache_info().traces == base + 1
    m.eval()
    step(x)  # train()/eval() changes the program
    assert step.cache_info().traces == base + 2
    m.train()
    step(x)
    assert step.cache_info().traces == base + 2  # ... and the train-mode program is cached
    opt.zero_grad()  # .grad gone: the program of the very first call (cached) runs again
    step(x)
    assert step.cache_info().traces == base + 2 and step.cache_info().entries == 3


def test_lr_changes_take_effect_without_retrace():
    m, opt, step = _linear_step()
    x = T.randn(4, 3)
    step(x)
    step(x)
    w = m.weight.detach().clone()
    opt.param_groups[0]["lr"] = 0.0
    step(x)
    np.testing.assert_array_equal(m.weight.detach().numpy(), w.numpy())
    assert step.cache_info().traces == 2


def test_two_calls_in_flight():
    big = T.randn(600, 600)

    @T.compile
    def heavy(a):
        for _ in range(6):
            a = (a @ big).tanh()
        return a

    heavy(big).sum().item()  # compile
    r1 = heavy(big)
    r2 = heavy(big)
    # both calls returned before their ~20 ms of work finished: no synchronisation in the wrapper
    assert not r2._data.is_ready()
    np.testing.assert_allclose(r1.numpy(), r2.numpy())


def test_steps_per_call_matches_single_steps():
    T.manual_seed(0)
    m1, _, step1 = _linear_step()
    T.manual_seed(0)
    m2, _, stepk = _linear_step(steps_per_call=4)
    xs = T.randn(3, 4, 4, 3)
    l1 = [step1(xs[i, j]).item() for i in range(3) for j in range(4)]
    lk = [stepk(xs[i]) for i in range(3)]
    assert all(t.shape == (4,) for t in lk)
    np.testing.assert_allclose(np.concatenate([t.numpy() for t in lk]), l1, rtol=1e-5)
    np.testing.assert_allclose(m2.weight.detach().numpy(), m1.weight.detach().numpy(), rtol=1e-5)
    with pytest.raises(ValueError, match="leading axis of size 4"):
        stepk(T.randn(3, 3))


# ------------------------------------------------------------------------------ errors
def test_item_inside_falls_back_with_one_warning():
    w = T.ones(2, requires_grad=True)

    def step(x):
        loss = (w * x).sum()
        if loss.item() > 0:
            return loss * 2
        return loss

    f = T.compile(step)
    with pytest.warns(UserWarning, match="falls back to eager execution"):
        assert f(T.ones(2)).item() == 4.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert f(-T.ones(2)).item() == -2.0  # eager from now on, no second warning
    assert f.cache_info().fallbacks == 1


@pytest.mark.parametrize("body,match", [
    (lambda x: x.sum().item(), "Tensor.item\\(\\)"),
    (lambda x: x.tolist(), "Tensor.tolist\\(\\)"),
    (lambda x: x if x.sum() > 0 else -x, "bool\\(tensor\\)"),
    (lambda x: float(x.sum()), "float\\(tensor\\)"),
])
def test_fullgraph_raises_named_errors(body, match):
    with pytest.raises(TracedValueError, match=match):
        T.compile(body, fullgraph=True)(T.ones(3))


def test_leaked_tensor_error_and_state_restored():
    m = nn.Linear(2, 2)
    history = []

    def step(x):
        out = m(x)
        history.append(out)
        return out.sum()

    w0 = m.weight.detach().clone()
    with pytest.raises(TracerLeakError, match="stored outside the tracked state"):
        T.compile(step)(T.ones(1, 2))
    history.clear()
    assert T.equal(m.weight, w0) and isinstance(m.weight._data, jax.Array)


def test_exception_inside_leaves_previous_values():
    m = nn.Linear(2, 2)
    opt = T.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    w0 = m.weight.detach().clone()

    def step(x):
        opt.zero_grad()
        m(x).sum().backward()
        opt.step()
        raise KeyError("boom")

    with pytest.raises(KeyError):
        T.compile(step)(T.ones(1, 2))
    assert T.equal(m.weight, w0) and m.weight.grad is None and len(opt.state) == 0
    opt.zero_grad()
    m(T.ones(1, 2)).sum().backward()
    opt.step()  # eager use afterwards works (no tracers were left behind)
    assert not T.equal(m.weight, w0)


def test_state_missed_by_discovery_is_adopted():
    class Hidden:
        __torchish_opaque__ = True  # discovery does not look inside

        def __init__(self):
            self.count = T.zeros(())

    h = Hidden()

    @T.compile
    def step(x):
        h.count.add_(1)
        return x * 2

    for _ in range(3):
        step(T.ones(2))
    assert h.count.item() == 3.0


# ----------------------------------------------------------------------- compiled modules
def test_compiled_module_backward_outside():
    T.manual_seed(0)
    m = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    cm = T.compile(m)
    x = T.randn(5, 3)
    cm(x).sum().backward()
    g = [p.grad.numpy().copy() for p in m.parameters()]
    m.zero_grad()
    m(x).sum().backward()
    for a, p in zip(g, m.parameters()):
        np.testing.assert_allclose(a, p.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert cm[0] is m[0] and len(cm) == 3 and cm._orig_mod is m  # the module's API passes through


def test_compiled_forward_input_grad_and_batchnorm_buffers():
    bn = nn.BatchNorm1d(3)
    f = T.compile(bn)
    x = T.randn(6, 3, requires_grad=True)
    f(x).pow(2).sum().backward()
    ref_x = x.detach().clone().requires_grad_()
    bn2 = nn.BatchNorm1d(3)
    bn2(ref_x).pow(2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), ref_x.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.running_mean.numpy(), bn2.running_mean.numpy(), rtol=1e-5)


def test_decorator_and_method_forms():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)

        @T.compile
        def double(self, x):
            return self.lin(x) * 2

    n = Net()
    x = T.ones(1, 2)
    with T.no_grad():
        np.testing.assert_allclose(n.double(x).numpy(), (n.lin(x) * 2).numpy(), rtol=1e-6)


def test_state_the_step_does_not_write_is_read_not_donated_or_returned():
    """An evaluation step reads the parameters and leaves them alone: they are not donated (the
    arrays stay valid), not returned, and their versions do not move; written state is."""
    T.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
    m.eval()

    @T.compile
    def evaluate(x):
        with T.no_grad():
            return m(x).sum()

    x = T.randn(5, 4)
    ref = m(x).sum().item()
    evaluate(x)
    arrays = [p._data for p in m.parameters()]
    versions = [p._version for p in m.parameters()]
    for _ in range(3):
        np.testing.assert_allclose(evaluate(x).item(), ref, rtol=1e-6)
    assert [p._data for p in m.parameters()] == arrays  # the same, undeleted arrays
    assert [p._version for p in m.parameters()] == versions
    assert all(not a.is_deleted() for a in arrays)
    # another batch size traces the user's function again and still writes nothing
    np.testing.assert_allclose(evaluate(T.ones(3, 4)).item(), m(T.ones(3, 4)).sum().item(), rtol=1e-6)
    assert all(not a.is_deleted() for a in arrays)


def test_written_state_program_handles_grad_kinds_and_new_shapes():
    """New .grad, .grad set to None, untouched .grad, and a second argument shape."""
    T.manual_seed(0)
    a, b = T.randn(3, requires_grad=True), T.randn(3, requires_grad=True)
    frozen = T.randn(3, requires_grad=True)
    frozen.grad = T.ones(3)
    opt = T.optim.SGD([a, b], lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = ((a * x).sum() + (b * x * frozen.detach()).sum()) ** 2
        loss.backward()
        opt.step()
        return loss

    ea = [t.detach().numpy().copy() for t in (a, b)]
    fstep = T.compile(step)
    xs = [T.randn(3) for _ in range(4)] + [T.randn(2, 3) for _ in range(2)]  # then another shape
    # eager reference on copies
    a2, b2 = T.tensor(ea[0], requires_grad=True), T.tensor(ea[1], requires_grad=True)
    opt2 = T.optim.SGD([a2, b2], lr=0.1)
    for x in xs:
        fstep(x)
        opt2.zero_grad()
        (((a2 * x).sum() + (b2 * x * frozen.detach()).sum()) ** 2).backward()
        opt2.step()
        np.testing.assert_allclose(a.detach().numpy(), a2.detach().numpy(), rtol=1e-5)
        np.testing.assert_allclose(a.grad.numpy(), a2.grad.numpy(), rtol=1e-5)
        np.testing.assert_allclose(b.grad.numpy(), b2.grad.numpy(), rtol=1e-5)
    np.testing.assert_array_equal(frozen.grad.numpy(), np.ones(3, np.float32))  # untouched


def test_state_written_only_for_some_argument_shapes():
    """A step that leaves a buffer alone for one batch shape and writes it for another (Python
    control flow on a static shape) switches to the program that returns every box."""
    m = nn.Linear(3, 2)
    m.register_buffer("seen", T.zeros(()))

    @T.compile
    def f(x):
        with T.no_grad():
            if x.shape[0] > 2:
                m.seen.add_(1.0)
            return m(x).sum()

    small, large = T.ones(2, 3), T.ones(4, 3)
    weight = m.weight._data
    np.testing.assert_allclose(f(small).item(), m(small).sum().item(), rtol=1e-6)
    assert not weight.is_deleted()  # the reduced program read the weight without donating it
    for _ in range(2):
        np.testing.assert_allclose(f(large).item(), m(large).sum().item(), rtol=1e-6)
    np.testing.assert_allclose(f(small).item(), m(small).sum().item(), rtol=1e-6)
    assert m.seen.item() == 2.0

