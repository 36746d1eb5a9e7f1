"""Every lowering of an op gives the same values and gradients (the switch only changes speed)."""

import numpy as np
import pytest

import torchish as T
import torchish.nn.functional as F
from torchish._ops import lowering
from parity import check, requires_torch, rnd

POOL_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=1, ceil_mode=True),
    dict(kernel_size=2, stride=2, dilation=2),
    dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), ceil_mode=True),
    dict(kernel_size=3),  # non-overlapping tiles, input not a multiple of the kernel (floor)
    dict(kernel_size=2, ceil_mode=True),  # a partial last window: strided windows
    dict(kernel_size=(1, 2)),
]


def _square_loss_step(model, opt):
    """A training step on mean(model(x)^2) (uncompiled)."""
    def step(x):
        opt.zero_grad()
        loss = model(x).square().mean()
        loss.backward()
        opt.step()
        return loss

    return step


@pytest.fixture
def restore_lowering():
    yield
    for name in lowering.CHOICES:
        lowering.set_lowering(name, None)


@requires_torch
@pytest.mark.parametrize("kw", POOL_CASES)
@pytest.mark.parametrize("choice", lowering.CHOICES["max_pool"])
def test_max_pool_lowerings_match_torch(kw, choice, restore_lowering):
    lowering.set_lowering("max_pool", choice)
    x = rnd(2, 3, 7, 8)
    x[0, 0, :2, :2] = 0.5  # ties: the gradient goes to the first maximum
    check(lambda L, t: L.nn.functional.max_pool2d(t, **kw), x)


@pytest.mark.parametrize("choice", lowering.CHOICES["max_pool"])
def test_max_pool_lowerings_1d_3d(choice, restore_lowering):
    lowering.set_lowering("max_pool", choice)
    x1 = T.randn(2, 3, 9, requires_grad=True)
    x3 = T.randn(1, 2, 4, 5, 6, requires_grad=True)
    (F.max_pool1d(x1, 3, 2).sum() + F.max_pool3d(x3, 2).sum()).backward()
    assert x1.grad.shape == x1.shape and x3.grad.sum().item() == 2 * 2 * 2 * 3


def test_set_lowering_validates(restore_lowering):
    with pytest.raises(ValueError, match="unknown lowering 'fast' for 'max_pool'"):
        lowering.set_lowering("max_pool", "fast")
    with pytest.raises(ValueError, match="unknown op family"):
        lowering.set_lowering("nope", "xla")
    lowering.set_lowering("max_pool", "xla")
    assert lowering.get_lowering("max_pool") == "xla"


CONV_CASES = [
    dict(),
    dict(padding=1),
    dict(stride=2),
    dict(padding=(0, 2), dilation=2),
    dict(stride=2, padding=1, groups=2),
    dict(padding="same"),
    dict(padding=1, padding_mode="reflect"),
]


@requires_torch
@pytest.mark.parametrize("kw", CONV_CASES)
@pytest.mark.parametrize("choice", lowering.CHOICES["conv"])
def test_conv2d_lowerings_match_torch(kw, choice, restore_lowering):
    lowering.set_lowering("conv", choice)
    x, w, b = rnd(2, 4, 7, 6), rnd(6, 4 // kw.get("groups", 1), 3, 3, seed=1), rnd(6, seed=2)
    check(lambda L, x, w, b: L.nn.functional.conv2d(x, w, b, **{k: v for k, v in kw.items() if k != "padding_mode"})
          if "padding_mode" not in kw else L.nn.functional.conv2d(
              L.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect"), w, b), x, w, b, rtol=1e-4, atol=1e-5)


@requires_torch
@pytest.mark.parametrize("choice", lowering.CHOICES["conv"])
def test_conv1d_3d_transpose_lowerings_match_torch(choice, restore_lowering):
    lowering.set_lowering("conv", choice)
    check(lambda L, x, w: L.nn.functional.conv1d(x, w), rnd(2, 3, 9), rnd(4, 3, 3, seed=1), rtol=1e-4, atol=1e-5)
    check(lambda L, x, w: L.nn.functional.conv3d(x, w, padding=(1, 0, 0)), rnd(1, 2, 4, 5, 5), rnd(3, 2, 2, 3, 3, seed=1),
          rtol=1e-4, atol=1e-5)
    check(lambda L, x, w: L.nn.functional.conv_transpose2d(x, w, stride=2), rnd(2, 3, 4, 5), rnd(3, 2, 3, 3, seed=1),
          rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("choice", lowering.CHOICES["scheduler"])
def test_scheduler_choices_compile_the_same_step(choice, restore_lowering):
    """The kernel schedule (XLA:CPU compiler option) changes speed only; a compiled model inside a
    compiled step (a nested jit, where JAX refuses compiler options) still works."""
    lowering.set_lowering("scheduler", choice)
    import jax

    memory = {"xla_cpu_scheduler_type": "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED"}
    cpu = jax.default_backend() == "cpu"
    expected = {"memory": memory, "xla": None, "auto": memory}[choice]
    assert lowering.compiler_options() == (expected if cpu else None)
    # "auto" keeps XLA's (concurrency-optimised) schedule for programs with convolutions, which
    # also get the "conv_kernels" options (XLA's own convolution kernels on CPU)
    conv = dict(memory if choice == "memory" else {}, **lowering._CONV_KERNEL_OPTIONS[("eigen", "cpu")])
    assert lowering.compiler_options(convolutions=True) == (conv if cpu else None)
    T.manual_seed(0)
    m = T.nn.Linear(4, 3)
    inner = T.compile(m)
    step = T.compile(_square_loss_step(inner, T.optim.Adam(m.parameters(), lr=0.1)))

    x = T.ones(2, 4)
    losses = [step(x).item() for _ in range(3)]
    T.manual_seed(0)
    m2 = T.nn.Linear(4, 3)
    eager = _square_loss_step(m2, T.optim.Adam(m2.parameters(), lr=0.1))
    ref = [eager(x).item() for _ in range(3)]
    np.testing.assert_allclose(losses, ref, rtol=1e-5)


def test_has_convolution_looks_into_nested_programs():
    import jax
    import jax.numpy as jnp
    from torchish._tensor import wrap

    w = jnp.ones((2, 1, 3, 3), jnp.float32)
    # torchish ops run as nested jitted programs: the convolution sits inside a `jit` equation
    closed = jax.make_jaxpr(lambda a: F.conv2d(wrap(a), wrap(w))._data)(jnp.ones((1, 1, 5, 5), jnp.float32))
    assert all(e.primitive.name != "conv_general_dilated" for e in closed.jaxpr.eqns)
    assert lowering.has_convolution(closed.jaxpr)
    assert not lowering.has_convolution(jax.make_jaxpr(lambda a: jnp.tanh(a) @ a)(jnp.ones((3, 3))).jaxpr)


@requires_torch
def test_max_pool_nan_wins_and_ties_go_first(restore_lowering):
    # (the "xla" lowering's select_and_scatter does not route a NaN window's gradient to the NaN)
    lowering.set_lowering("max_pool", "windows")
    x = rnd(1, 2, 4, 6)
    x[0, 0, 0, 0] = np.nan  # the window's NaN is its maximum
    x[0, 1, :2, :2] = 0.25  # a tie: the first position gets the gradient
    check(lambda L, t: L.nn.functional.max_pool2d(t, 2), x)
    x1 = rnd(2, 3, 9)
    check(lambda L, t: L.nn.functional.max_pool1d(t, 3), x1)


@requires_torch
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")  # torch's forward AD
@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=2, stride=2, dilation=2, return_indices=True)])
@pytest.mark.parametrize("choice", lowering.CHOICES["max_pool"])
def test_max_pool_forward_mode_matches_torch(kw, choice, restore_lowering):
    # jvp through max pooling, every lowering (the "windows" lowering is a custom_jvp: a custom_vjp
    # would make forward mode fail), against PyTorch's forward AD; ties go to the first maximum
    import torch
    import torch.autograd.forward_ad as fwAD

    lowering.set_lowering("max_pool", choice)
    x, t = rnd(2, 3, 7, 8), rnd(2, 3, 7, 8, seed=1)
    x[0, 0, :2, :2] = 0.5

    def first(out):
        return out[0] if kw.get("return_indices") else out

    with fwAD.dual_level():
        ty, tt = fwAD.unpack_dual(first(torch.nn.functional.max_pool2d(
            fwAD.make_dual(torch.tensor(x), torch.tensor(t)), **kw)))
    y, yt = T.func.jvp(lambda a: first(F.max_pool2d(a, **kw)), (T.tensor(x),), (T.tensor(t),))
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-6)
    np.testing.assert_allclose(yt.numpy(), tt.numpy(), rtol=1e-6)


@requires_torch
@pytest.mark.parametrize("choice", lowering.CHOICES["conv_kernels"])
def test_conv_kernel_choices_train_like_torch(choice, restore_lowering):
    """Three compiled Adam steps of a small CNN (conv, max pool, linear), with each choice of
    convolution kernels, give PyTorch's losses and parameters; the eager conv ops too."""
    import torch

    lowering.set_lowering("conv_kernels", choice)
    x, y = rnd(4, 1, 10, 10), np.array([0, 2, 1, 2])

    def model(L):
        L.manual_seed(0)
        return L.nn.Sequential(L.nn.Conv2d(1, 4, 3), L.nn.ReLU(), L.nn.Conv2d(4, 6, 3), L.nn.MaxPool2d(2),
                               L.nn.Flatten(), L.nn.Linear(54, 3))

    tm, m = model(torch), model(T)
    m.load_state_dict({k: T.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})

    def train(L, m, step_fn=lambda f: f):
        opt = L.optim.Adam(m.parameters(), lr=0.05)

        @step_fn
        def step(a, b):
            opt.zero_grad()
            loss = L.nn.functional.cross_entropy(m(a), b)
            loss.backward()
            opt.step()
            return loss

        return [step(L.tensor(x), L.tensor(y)).item() for _ in range(3)]

    ref = train(torch, tm)
    np.testing.assert_allclose(train(T, m, T.compile), ref, rtol=1e-5, atol=1e-6)
    for (k, tv), v in zip(tm.state_dict().items(), m.state_dict().values()):
        np.testing.assert_allclose(v.numpy(), tv.numpy(), rtol=1e-4, atol=1e-5, err_msg=k)
    out = T.nn.functional.conv2d(T.tensor(x), m[0].weight, m[0].bias)  # an eager conv op
    np.testing.assert_allclose(out.detach().numpy(), torch.nn.functional.conv2d(
        torch.tensor(x), tm[0].weight, tm[0].bias).detach().numpy(), rtol=1e-5, atol=1e-5)


def test_conv_kernel_options_are_checked_once():
    # an option this jaxlib's XLA does not know is left out instead of failing every compilation
    assert lowering._accepted({"xla_cpu_no_such_option_in_any_xla": "1"}) is False
    assert lowering._accepted(lowering._CONV_KERNEL_OPTIONS[("eigen", "cpu")]) is True


def test_torchish_lowering_environment_variable():
    import os
    import subprocess
    import sys

    code = "import torchish; print(torchish.backends.get_lowering('conv'), torchish.backends.get_lowering('max_pool'))"
    env = dict(os.environ, TORCHISH_LOWERING="conv=padded, max_pool=xla")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.stdout.split() == ["padded", "xla"], out.stderr
    env["TORCHISH_LOWERING"] = "conv=fast"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert "TORCHISH_LOWERING='conv=fast': unknown lowering 'fast' for 'conv'" in out.stderr


def test_compiled_conv_step_programs_get_the_convolution_options(monkeypatch):
    # both the reduced program and the full one (its fallback) of a compiled step with a
    # convolution are built with convolutions=True (kernel choice, schedule)
    flags = []
    real = lowering.jit

    def spy(fn, *, convolutions=False, **kw):
        flags.append(convolutions)
        return real(fn, convolutions=convolutions, **kw)

    monkeypatch.setattr(lowering, "jit", spy)
    T.manual_seed(0)
    m = T.nn.Conv2d(1, 2, 3)
    step = T.compile(_square_loss_step(m, T.optim.SGD(m.parameters(), lr=0.1)))

    step(T.ones(1, 1, 5, 5))
    assert flags.count(True) >= 2, flags
