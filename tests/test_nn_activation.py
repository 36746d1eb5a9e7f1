"""Activations: functional parity with PyTorch (values, dtypes, gradients incl. at kinks),
in-place variants, errors, and the activation Modules."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import torchish
from parity import assert_close, check, check_raises, requires_torch, rnd, torch

pytestmark = requires_torch

# Exact kink points of every piecewise activation (0, +-0.5 shrink, +-1 hardtanh, +-3 hard*,
# 6 relu6, 20 softplus threshold) plus random values.
KINKS = np.array([-20, -6, -3, -1, -0.5, 0, 0.5, 1, 3, 6, 20, 2.5, -2.5], np.float32)


def _data(dtype=np.float32):
    return np.concatenate([KINKS, rnd(11) * 3]).reshape(4, 6).astype(dtype)


ACTIVATIONS = {
    "relu": lambda F, x: F.relu(x),
    "relu6": lambda F, x: F.relu6(x),
    "hardtanh": lambda F, x: F.hardtanh(x),
    "hardtanh_range": lambda F, x: F.hardtanh(x, -3.0, 6.0),
    "leaky_relu": lambda F, x: F.leaky_relu(x),
    "leaky_relu_0.2": lambda F, x: F.leaky_relu(x, 0.2),
    "elu": lambda F, x: F.elu(x),
    "elu_alpha": lambda F, x: F.elu(x, alpha=0.5),
    "selu": lambda F, x: F.selu(x),
    "celu": lambda F, x: F.celu(x, 2.0),
    "gelu": lambda F, x: F.gelu(x),
    "gelu_tanh": lambda F, x: F.gelu(x, approximate="tanh"),
    "silu": lambda F, x: F.silu(x),
    "mish": lambda F, x: F.mish(x),
    "hardsigmoid": lambda F, x: F.hardsigmoid(x),
    "hardswish": lambda F, x: F.hardswish(x),
    "hardshrink": lambda F, x: F.hardshrink(x),
    "hardshrink_1": lambda F, x: F.hardshrink(x, 1.0),
    "softshrink": lambda F, x: F.softshrink(x),
    "softshrink_1": lambda F, x: F.softshrink(x, 1.0),
    "tanhshrink": lambda F, x: F.tanhshrink(x),
    "logsigmoid": lambda F, x: F.logsigmoid(x),
    "softplus": lambda F, x: F.softplus(x),
    "softplus_beta": lambda F, x: F.softplus(x, beta=2.0, threshold=6.0),
    "softsign": lambda F, x: F.softsign(x),
    "sigmoid": lambda F, x: F.sigmoid(x),
    "tanh": lambda F, x: F.tanh(x),
    "threshold": lambda F, x: F.threshold(x, 0.5, -2.0),
    "threshold_int_val": lambda F, x: F.threshold(x, 1, 20),
    "softmax": lambda F, x: F.softmax(x, dim=1),
    "softmax_dim0": lambda F, x: F.softmax(x, 0),
    "log_softmax": lambda F, x: F.log_softmax(x, dim=-1),
    "softmin": lambda F, x: F.softmin(x, dim=1),
    "glu": lambda F, x: F.glu(x),
    "glu_dim0": lambda F, x: F.glu(x, 0),
    "rrelu_eval": lambda F, x: F.rrelu(x),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_parity(name):
    fn = ACTIVATIONS[name]
    check(lambda lib, x: fn(lib.nn.functional, x), _data(), atol=1e-6)


@pytest.mark.parametrize("name", ["relu", "hardtanh", "elu", "gelu_tanh", "hardsigmoid", "softplus", "log_softmax"])
def test_activation_float64(name):
    fn = ACTIVATIONS[name]
    # NOTE: some PyTorch backward kernels use float constants (hardsigmoid's 1/6), hence 1e-7.
    check(lambda lib, x: fn(lib.nn.functional, x), _data(np.float64), rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("name", ["relu6", "leaky_relu", "gelu", "mish", "hardswish", "softmax", "logsigmoid"])
def test_activation_bfloat16(name):
    fn = ACTIVATIONS[name]

    def f(lib, x):
        return fn(lib.nn.functional, x.to(lib.bfloat16))

    check(f, _data(), rtol=1e-2, atol=1e-2)


def test_nan_propagates_with_pytorch_gradient():
    x = np.array([np.nan, 1.0, -1.0], np.float32)
    for name in ["relu", "relu6", "hardtanh", "leaky_relu", "elu", "celu", "hardshrink", "softshrink",
                 "hardswish", "hardsigmoid", "threshold"]:
        fn = ACTIVATIONS[name]
        check(lambda lib, t: fn(lib.nn.functional, t), x)


def test_prelu_parity():
    x = rnd(2, 3, 4)
    x[0, 0, 0] = 0.0
    check(lambda lib, x, w: lib.nn.functional.prelu(x, w), x, np.array([0.25, -0.5, 2.0], np.float32))
    check(lambda lib, x, w: lib.nn.functional.prelu(x, w), x, np.array([0.1], np.float32))
    check(lambda lib, x, w: lib.nn.functional.prelu(x, w), rnd(5), np.array([0.3], np.float32))


def test_int_inputs_keep_dtype_or_raise_as_torch():
    x = np.array([-2, 0, 3, 8], np.int64)
    for fn in [lambda F, t: F.relu(t), lambda F, t: F.relu6(t), lambda F, t: F.hardtanh(t),
               lambda F, t: F.threshold(t, 0, 1), lambda F, t: F.softsign(t), lambda F, t: F.tanhshrink(t)]:
        check(lambda lib, t: fn(lib.nn.functional, t), x, grad=False)
    for fn in [lambda F, t: F.silu(t), lambda F, t: F.gelu(t), lambda F, t: F.elu(t),
               lambda F, t: F.softmax(t, 0), lambda F, t: F.leaky_relu(t)]:
        check_raises(lambda lib, t: fn(lib.nn.functional, t), x, exc=NotImplementedError,
                     match="not implemented for 'Long'")
    check_raises(lambda lib, t: lib.nn.functional.relu(t), np.array([True, False]), exc=RuntimeError, match="Boolean")


def test_softmax_dtype_argument():
    x = rnd(3, 4)
    check(lambda lib, x: lib.nn.functional.softmax(x, 1, dtype=lib.float64), x)
    check(lambda lib, x: lib.nn.functional.log_softmax(x.to(lib.bfloat16), 1, dtype=lib.float32), x,
          rtol=1e-2, atol=1e-2)
    check(lambda lib, x: lib.nn.functional.softmin(x, 0, dtype=lib.float64), x)
    # integers are fine once a float dtype is given
    check(lambda lib, x: lib.nn.functional.softmax(x, 0, dtype=lib.float32), np.arange(4), grad=False)


def test_softmax_special_values():
    x = np.array([[0.0, -np.inf, 1.0], [-np.inf, -np.inf, -np.inf], [np.inf, 0.0, 1.0]], np.float32)
    check(lambda lib, x: lib.nn.functional.softmax(x, -1), x, grad=False)
    check(lambda lib, x: lib.nn.functional.log_softmax(x[:1], -1), x, grad=False)
    check(lambda lib, x: lib.nn.functional.softmax(x, 0), np.array(2.0, np.float32), grad=True)


@pytest.mark.parametrize("shape", [(), (5,), (2, 3), (2, 3, 4), (2, 3, 2, 2)])
def test_softmax_implicit_dim_warns_and_picks_pytorch_dim(shape):
    x = rnd(*shape) if shape else np.array(1.5, np.float32)
    for name in ["softmax", "log_softmax", "softmin"]:
        with pytest.warns(UserWarning, match=f"Implicit dimension choice for {name} has been deprecated") as rec:
            out = getattr(torchish.nn.functional, name)(torchish.tensor(x))
        assert rec[0].filename == __file__  # stacklevel points at the caller, as PyTorch
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = getattr(torch.nn.functional, name)(torch.tensor(x))
        assert_close(ref, out)


def test_tensor_methods_and_torch_namespace():
    x = rnd(4, 3)
    check(lambda lib, x: x.relu(), x)
    check(lambda lib, x: x.softmax(-1), x)
    check(lambda lib, x: x.log_softmax(dim=0), x)
    check(lambda lib, x: x.softmax(1, dtype=lib.float64), x)
    check(lambda lib, x: lib.softmax(x, 1), x)
    check(lambda lib, x: lib.log_softmax(x, 0, lib.float64), x)
    check(lambda lib, x: lib.relu(x), x)
    check(lambda lib, x: lib.selu(x), x)
    check(lambda lib, x: lib.celu(x, 0.5), x)
    check(lambda lib, x: lib.threshold(x, 0.1, 5.0), x)
    check(lambda lib, x, w: lib.prelu(x, w), x, np.array([0.1, 0.2, 0.3], np.float32))


INPLACE = [
    ("relu", lambda F, x: F.relu(x, inplace=True)), ("relu_", lambda F, x: F.relu_(x)),
    ("relu6", lambda F, x: F.relu6(x, inplace=True)), ("hardtanh_", lambda F, x: F.hardtanh_(x, -0.5, 0.5)),
    ("leaky_relu_", lambda F, x: F.leaky_relu_(x, 0.3)), ("leaky", lambda F, x: F.leaky_relu(x, inplace=True)),
    ("elu_", lambda F, x: F.elu_(x)), ("elu", lambda F, x: F.elu(x, inplace=True)),
    ("selu_", lambda F, x: F.selu_(x)), ("celu_", lambda F, x: F.celu_(x, 1.5)),
    ("threshold_", lambda F, x: F.threshold_(x, 0.0, -1.0)), ("silu", lambda F, x: F.silu(x, inplace=True)),
    ("mish", lambda F, x: F.mish(x, inplace=True)), ("hardswish", lambda F, x: F.hardswish(x, inplace=True)),
    ("hardsigmoid", lambda F, x: F.hardsigmoid(x, inplace=True)), ("rrelu_", lambda F, x: F.rrelu_(x)),
    ("tensor_relu_", lambda F, x: x.relu_()),
]


@pytest.mark.parametrize("name,fn", INPLACE, ids=[n for n, _ in INPLACE])
def test_inplace_modifies_input_and_backprops(name, fn):
    def f(lib, x):
        y = x * 1.0  # a non-leaf, so in-place is allowed with autograd
        out = fn(lib.nn.functional, y)
        assert out is y
        return y

    check(f, _data())


def test_inplace_on_leaf_requiring_grad_raises():
    check_raises(lambda lib, x: lib.nn.functional.relu_(x.requires_grad_()), rnd(3), exc=RuntimeError,
                 match="a leaf Variable that requires grad")


def test_inplace_without_grad_writes_through_views():
    x = torchish.tensor([[-1.0, 2.0], [3.0, -4.0]])
    torchish.nn.functional.relu_(x[0])
    np.testing.assert_array_equal(x.numpy(), [[0.0, 2.0], [3.0, -4.0]])


def test_errors():
    x = rnd(2, 5)
    check_raises(lambda lib, x: lib.nn.functional.glu(x), x, exc=RuntimeError,
                 match="Halving dimension must be even, but dimension 1 is size 5")
    check_raises(lambda lib, x: lib.nn.functional.glu(x[0, 0]), x, exc=RuntimeError,
                 match="glu does not support scalars")
    check_raises(lambda lib, x: lib.nn.functional.glu(x, 3), x, exc=IndexError, match="Dimension out of range")
    check_raises(lambda lib, x: lib.nn.functional.hardtanh(x, 2.0, 1.0), x, exc=ValueError,
                 match="min_val cannot be greater than max_val")
    check_raises(lambda lib, x: lib.nn.functional.gelu(x, approximate="fast"), x, exc=RuntimeError,
                 match="approximate argument must be either none or tanh")
    check_raises(lambda lib, x, w: lib.nn.functional.prelu(x, w), rnd(2, 3, 4), np.ones(4, np.float32),
                 exc=RuntimeError, match="Found parameter numbers = 4 and channel size = 3")
    check_raises(lambda lib, x, w: lib.nn.functional.prelu(x, w), rnd(2, 3), np.ones((3, 1), np.float32),
                 exc=RuntimeError, match="scalar or 1D tensor")
    check_raises(lambda lib, x: lib.nn.functional.celu(x, 0.0), x, exc=RuntimeError, match="alpha cannot be 0")
    check_raises(lambda lib, x: lib.nn.functional.softshrink(x, -1.0), x, exc=RuntimeError, match="lambda must be")


def test_rrelu_training_statistics_and_gradient():
    torchish.manual_seed(0)
    x = torchish.full((4000,), -1.0, requires_grad=True)
    y = torchish.nn.functional.rrelu(x, 0.1, 0.3, training=True)
    slopes = -y.detach().numpy()
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3
    assert abs(slopes.mean() - 0.2) < 0.01 and slopes.std() > 0.04
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), slopes, rtol=1e-6)  # gradient uses the same noise
    pos = torchish.nn.functional.rrelu(torchish.ones(5), training=True)
    np.testing.assert_array_equal(pos.numpy(), np.ones(5))


def test_gumbel_softmax():
    torchish.manual_seed(0)
    logits = torchish.tensor([[0.0, 1.0, 2.0]] * 2000, requires_grad=True)
    y = torchish.nn.functional.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(y.sum(-1).detach().numpy(), 1.0, rtol=1e-5)
    hard = torchish.nn.functional.gumbel_softmax(logits, hard=True)
    h = hard.detach().numpy()
    assert set(np.unique(h)) <= {0.0, 1.0} and (h.sum(-1) == 1).all()
    freq = h.mean(0)
    np.testing.assert_allclose(freq, np.exp([0, 1, 2]) / np.exp([0, 1, 2]).sum(), atol=0.04)
    hard.sum().backward()
    assert logits.grad is not None


# ------------------------------------------------------------------------------------ modules
MODULES = {
    "ReLU": (), "ReLU6": (), "LeakyReLU": (0.2,), "ELU": (0.5,), "SELU": (), "CELU": (1.5,), "GELU": ("tanh",),
    "SiLU": (), "Mish": (), "Sigmoid": (), "Tanh": (), "Hardtanh": (-2.0, 3.0), "Hardsigmoid": (), "Hardswish": (),
    "Hardshrink": (0.7,), "Softshrink": (), "Tanhshrink": (), "LogSigmoid": (), "Softplus": (2.0, 5.0),
    "Softsign": (), "Softmax": (1,), "LogSoftmax": (-1,), "Softmin": (0,), "Softmax2d": (), "GLU": (1,),
    "Threshold": (0.1, 20.0), "RReLU": (0.1, 0.3), "PReLU": (), "PReLU_6": (6, 0.1),
}


@pytest.mark.parametrize("name", list(MODULES))
def test_module_parity(name):
    cls = name.split("_")[0]
    args = MODULES[name]
    tm, im = getattr(torch.nn, cls)(*args), getattr(torchish.nn, cls)(*args)
    assert repr(tm) == repr(im)
    if name.startswith("PReLU"):
        with torch.no_grad():
            tm.weight.copy_(torch.randn_like(tm.weight))
        im.load_state_dict(tm.state_dict())
    if cls == "RReLU":  # random in training: compare in eval mode (slope = (lower + upper) / 2)
        tm.eval(), im.eval()

    def f(lib, x):
        return (tm if lib is torch else im)(x)

    check(f, _data().reshape(2, 3, 2, 2) if cls == "Softmax2d" else _data())
    for tp, ip in zip(tm.parameters(), im.parameters()):
        assert_close(tp.grad, ip.grad, rtol=1e-5, atol=1e-6, what="param grad")


@pytest.mark.parametrize("name", ["ReLU", "ReLU6", "LeakyReLU", "ELU", "CELU", "SELU", "SiLU", "Mish", "Hardtanh",
                                  "Hardsigmoid", "Hardswish", "Threshold"])
def test_inplace_modules(name):
    args = {"Threshold": (0.0, -1.0)}.get(name, ())
    tm = getattr(torch.nn, name)(*args, inplace=True)
    im = getattr(torchish.nn, name)(*args, inplace=True)
    assert repr(tm) == repr(im)

    def f(lib, x):
        y = x * 2.0
        out = (tm if lib is torch else im)(y)
        assert out is y
        return out

    check(f, _data())


def test_module_defaults_and_errors():
    p = torchish.nn.PReLU()
    np.testing.assert_array_equal(p.weight.detach().numpy(), [0.25])
    assert p.weight.requires_grad and torchish.nn.PReLU(4, init=0.5).weight.shape == (4,)
    with pytest.raises(ValueError, match=r"max_val \(1.0\) must be greater than min_val \(2.0\)"):
        torchish.nn.Hardtanh(2.0, 1.0)
    with pytest.raises(ValueError, match="Softmax2d: expected input to be 3D or 4D, got 2D instead"):
        torchish.nn.Softmax2d()(torchish.randn(2, 3))
    with pytest.warns(FutureWarning, match="`min_value` is deprecated"):
        torchish.nn.Hardtanh(min_value=-2.0)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax") as rec:
        torchish.nn.Softmax()(torchish.randn(2, 3))
    assert rec[0].filename == __file__


def test_rrelu_module_training_is_random_eval_is_mean_slope():
    m = torchish.nn.RReLU(0.1, 0.3)
    x = -torchish.ones(1000)
    a, b = m(x).numpy(), m(x).numpy()
    assert (a != b).any() and a.min() >= -0.3 and a.max() <= -0.1
    m.eval()
    np.testing.assert_allclose(m(x).numpy(), -0.2, rtol=1e-6)
