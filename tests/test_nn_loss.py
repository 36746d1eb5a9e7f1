"""Losses: functional forms and modules against PyTorch (values, dtypes, input gradients)."""

from __future__ import annotations

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import torchish
from torchish._tensor import wrap
from tests.parity import check, requires_torch, rnd, torch

pytestmark = requires_torch

RED = ["none", "mean", "sum"]


def _targets(shape, c, seed=0, ignore=None, ignore_every=3):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, c, shape).astype(np.int64)
    if ignore is not None:
        t.reshape(-1)[::ignore_every] = ignore
    return t


def _probs(shape, axis, seed=0):
    a = np.random.default_rng(seed).random(shape).astype(np.float32)
    return a / a.sum(axis=axis, keepdims=True)


def _w(c, seed=3):
    return (np.random.default_rng(seed).random(c) + 0.5).astype(np.float32)


# ----------------------------------------------------------------------------- cross entropy
# 'mean' (whose denominator depends on every option) with: plain, weights, ignore_index + smoothing,
# and all three together; 'none' and 'sum' plain and with all three
_CE_OPTS = [(False, None, 0.0), (True, None, 0.0), (False, 2, 0.2), (True, 2, 0.2)]


@pytest.mark.parametrize("reduction,weighted,ignore,ls",
                         [("mean",) + o for o in _CE_OPTS] + [(r,) + o for r in ("none", "sum") for o in _CE_OPTS[::3]])
def test_cross_entropy_index_2d(reduction, weighted, ignore, ls):
    x = rnd(6, 5)
    t = _targets((6,), 5, ignore=ignore if ignore is not None else None)
    kw = dict(reduction=reduction, label_smoothing=ls)
    if ignore is not None:
        kw["ignore_index"] = ignore
    args = (x, t) + ((_w(5),) if weighted else ())

    def fn(lib, x, t, w=None):
        return lib.nn.functional.cross_entropy(x, t, weight=None if w is None else w.detach(), **kw)

    check(fn, *args)


@pytest.mark.parametrize("shape,reduction", [((2, 4, 3), "mean"), ((2, 4, 3, 2), "none"), ((2, 3, 2, 2, 2), "sum")])
def test_cross_entropy_index_kdim(shape, reduction):
    x = rnd(*shape)
    t = _targets((shape[0],) + shape[2:], shape[1], ignore=-100, ignore_every=4)

    def fn(lib, x, t, w):
        return lib.nn.functional.cross_entropy(x, t, weight=w.detach(), reduction=reduction, label_smoothing=0.1)

    check(fn, x, t, _w(shape[1]))


def test_cross_entropy_unbatched():
    x = rnd(5)
    check(lambda lib, x, t: lib.nn.functional.cross_entropy(x, t, reduction="none"), x, np.array(3))
    check(lambda lib, x, t: lib.nn.functional.cross_entropy(x, t, label_smoothing=0.3), x, np.array(1))
    check(lambda lib, x, t: lib.nn.functional.cross_entropy(x, t, reduction="none"), x, _probs((5,), 0))
    # a (1,) target of a (C,) input is a scalar target (PyTorch's backward rejects it: values only)
    check(lambda lib, x, t: lib.nn.functional.nll_loss(x, t, reduction="none"), x, np.array([2]), grad=False)


@pytest.mark.parametrize("reduction,weighted,ls", [("mean", False, 0.0), ("none", False, 0.25), ("mean", True, 0.25),
                                                   ("sum", True, 0.0)])
def test_cross_entropy_probs(reduction, weighted, ls):
    x, p = rnd(4, 5), _probs((4, 5), 1)

    def fn(lib, x, p, w=None):
        return lib.nn.functional.cross_entropy(x, p, weight=None if w is None else w.detach(), reduction=reduction,
                                               label_smoothing=ls)

    check(fn, x, p, *((_w(5),) if weighted else ()))


def test_cross_entropy_probs_kdim_and_grad_wrt_target():
    x, p = rnd(2, 3, 4), _probs((2, 3, 4), 1)
    check(lambda lib, x, p: lib.nn.functional.cross_entropy(x, p), x, p)
    check(lambda lib, x, p, w: lib.nn.functional.cross_entropy(x, p, weight=w.detach(), reduction="none"), x, p, _w(3))


@pytest.mark.parametrize("reduction,weighted,ignore", [("mean", False, -100), ("none", False, 1), ("mean", True, 1),
                                                       ("sum", True, 1)])
def test_nll_loss(reduction, weighted, ignore):
    x = rnd(7, 4)
    t = _targets((7,), 4, ignore=ignore, ignore_every=2)

    def fn(lib, x, t, w=None):
        return lib.nn.functional.nll_loss(x, t, weight=None if w is None else w.detach(), ignore_index=ignore,
                                          reduction=reduction)

    check(fn, x, t, *((_w(4),) if weighted else ()))


@pytest.mark.parametrize("shape,reduction", [((2, 3, 4), "mean"), ((2, 3, 2, 2), "none")])
def test_nll_loss_kdim(shape, reduction):
    t = _targets((shape[0],) + shape[2:], shape[1], ignore=-100, ignore_every=3)
    check(lambda lib, x, t, w: lib.nn.functional.nll_loss(x, t, weight=w.detach(), reduction=reduction), rnd(*shape),
          t, _w(shape[1]))


def test_class_index_edge_cases():
    F = "nn.functional"

    def ce(lib, x, t, **kw):
        return getattr(lib, "nn").functional.cross_entropy(x, t, **kw)

    # empty batch: 'mean' is NaN, 'sum' is 0, 'none' is empty
    check(lambda lib, x, t: ce(lib, x, t), rnd(0, 5), np.zeros(0, np.int64))
    check(lambda lib, x, t: lib.nn.functional.nll_loss(x, t, reduction="sum"), rnd(0, 5), np.zeros(0, np.int64))
    check(lambda lib, x, t: ce(lib, x, t), rnd(0, 5), np.zeros((0, 5), np.float32))
    check(lambda lib, x, t: ce(lib, x, t, reduction="none"), rnd(0, 5, 3), np.zeros((0, 3), np.int64))
    # every target ignored: NaN mean (and zero gradient), zero sum
    t = np.full((3,), -100, np.int64)
    for kw in [{"label_smoothing": 0.1}, {"reduction": "sum"}]:
        check(lambda lib, x, t: ce(lib, x, t, **kw), rnd(3, 5), t)
    # zero class weights: NaN mean, as PyTorch (0 / 0)
    check(lambda lib, x, t: ce(lib, x, t, weight=lib.tensor([0.0, 1, 1, 1, 1])), rnd(3, 5), np.zeros(3, np.int64))
    # uint8 targets are accepted; a negative label_smoothing is ignored
    check(lambda lib, x, t: ce(lib, x, t), rnd(3, 5), np.array([1, 4, 0], np.uint8))
    check(lambda lib, x, t: ce(lib, x, t, label_smoothing=-0.2), rnd(3, 5), np.array([1, 4, 0]))
    # ignore_index may be a valid class or out of range
    check(lambda lib, x, t: ce(lib, x, t, ignore_index=7, reduction="none"), rnd(3, 5), np.array([1, 7, 0]))
    assert F


def test_class_index_out_of_range_gives_nan():
    F = torchish.nn.functional
    x = torchish.randn(3, 5)
    assert math.isnan(F.cross_entropy(x, torchish.tensor([1, 5, 0])).item())
    out = F.nll_loss(x, torchish.tensor([1, -1, 0]), reduction="none")
    assert math.isnan(out[1].item()) and not math.isnan(out[0].item())


@pytest.mark.parametrize("dt,tol", [(np.float64, 1e-10), (np.float16, 2e-2)])
def test_cross_entropy_dtypes(dt, tol):
    x, t = rnd(4, 5).astype(dt), _targets((4,), 5)
    check(lambda lib, x, t: lib.nn.functional.cross_entropy(x, t, label_smoothing=0.1), x, t, rtol=tol, atol=tol)
    check(lambda lib, x, p: lib.nn.functional.cross_entropy(x, p), x, _probs((4, 5), 1).astype(dt), rtol=tol, atol=tol)


def test_cross_entropy_bfloat16():
    x, t = rnd(4, 5), _targets((4,), 5)
    check(lambda lib, x, t: lib.nn.functional.cross_entropy(x.bfloat16(), t, reduction="none"), x, t, rtol=2e-2,
          atol=2e-2)


def test_half_precision_losses():
    # bfloat16 in, bfloat16 out (computed in float32, rounded once)
    x, y = rnd(3, 4), rnd(3, 4, seed=1)
    tol = dict(rtol=2e-2, atol=2e-2)
    check(lambda lib, x, y: lib.nn.functional.mse_loss(x.bfloat16(), y.bfloat16()), x, y, **tol)
    check(lambda lib, x, y: lib.nn.functional.binary_cross_entropy_with_logits(x.bfloat16(), y.sigmoid().bfloat16(),
                                                                              reduction="none"), x, y, **tol)
    check(lambda lib, x, t: lib.nn.functional.nll_loss(x.bfloat16().log_softmax(1), t), x, np.array([0, 3, 1]),
          **tol)


def test_uint8_targets_do_not_wrap_ignore_index():
    # -100 must not alias class 156 of a uint8 target
    check(lambda lib, x, t: lib.nn.functional.cross_entropy(x, t, reduction="none"), rnd(2, 200),
          np.array([156, 3], np.uint8))


def test_cross_entropy_probs_dtype_promotes():
    # float32 logits with float64 probabilities give a float64 loss, as PyTorch
    check(lambda lib, x, p: lib.nn.functional.cross_entropy(x, p), rnd(3, 4), _probs((3, 4), 1).astype(np.float64))


def _raises_both(fn, exc, match):
    with pytest.raises(exc):
        fn(torch)
    with pytest.raises(exc, match=match):
        fn(torchish)


def test_class_index_errors():
    def ce(x_shape, t, **kw):
        return lambda lib: lib.nn.functional.cross_entropy(lib.zeros(*x_shape), lib.tensor(t), **kw)

    def nll(x_shape, t, **kw):
        return lambda lib: lib.nn.functional.nll_loss(lib.zeros(*x_shape), lib.tensor(t), **kw)

    _raises_both(ce((3, 5), [1, 2]), ValueError, r"Expected input batch_size \(3\) to match target batch_size \(2\)\.")
    _raises_both(ce((3, 5), 1), ValueError, r"Expected input batch_size \(3\) to match target batch_size \(0\)\.")
    _raises_both(ce((3, 5), [[1, 2, 3]] * 3), RuntimeError, "0D or 1D target tensor expected")
    _raises_both(nll((5,), [1, 2]), ValueError, "For 1D input, 1D target must have size 1")
    _raises_both(nll((2, 5, 3), [[1, 2], [0, 0]]), RuntimeError, r"Expected target size \[2, 3\], got \[2, 2\]")
    _raises_both(nll((2, 5, 3, 4), [[1, 2, 3]] * 2), RuntimeError, "only batches of spatial targets supported")
    _raises_both(ce((2, 5, 3, 4), np.zeros((2, 4, 3), np.int64)), RuntimeError,
                 r"size mismatch \(got input: \[2, 5, 3, 4\] , target: \[2, 4, 3\]")
    _raises_both(lambda lib: lib.nn.functional.nll_loss(lib.zeros(()), lib.tensor(0)), ValueError,
                 r"Expected 1 or more dimensions \(got 0\)")
    _raises_both(ce((3, 5), np.array([1, 2, 3], np.int32)), RuntimeError,
                 "expected target dtype to be Long or Byte, but got Int")
    _raises_both(ce((3, 5), [1.0, 2.0, 3.0]), RuntimeError, "expected target dtype to be Long or Byte, but got Float")
    _raises_both(lambda lib: lib.nn.functional.cross_entropy(lib.zeros(3, 5), lib.tensor([1, 2, 3]),
                                                             weight=lib.ones(4)),
                 RuntimeError, r"weight tensor should be defined either for all 5 classes or no classes but got "
                               r"weight tensor of shape: \[4\]")
    _raises_both(lambda lib: lib.nn.functional.cross_entropy(lib.zeros(3, 5), lib.rand(3, 5), weight=lib.ones(4)),
                 RuntimeError, "cross_entropy: weight tensor should be defined either for all 5 classes")
    _raises_both(lambda lib: lib.nn.functional.nll_loss(lib.zeros(3, 5), lib.tensor([1, 2, 3]),
                                                        weight=lib.ones(5, dtype=lib.float64)),
                 RuntimeError, "expected scalar type Float but found Double")
    _raises_both(ce((3, 5), np.ones((3, 5), np.int64)), RuntimeError,
                 "Expected floating point type for target with class probabilities, got Long")
    _raises_both(lambda lib: lib.nn.functional.cross_entropy(lib.zeros(3, 5), lib.rand(3, 5), ignore_index=1),
                 RuntimeError, "ignore_index is not supported for floating point target")
    _raises_both(ce((3, 5), [1, 2, 3], label_smoothing=1.5), RuntimeError,
                 r"label_smoothing must be between 0.0 and 1.0. Got: 1.5")
    _raises_both(ce((3, 5), [1, 2, 3], reduction="foo"), ValueError, "foo is not a valid value for reduction")
    _raises_both(lambda lib: lib.nn.functional.cross_entropy(lib.zeros(3, 5, dtype=lib.int32), lib.tensor([1, 2, 3])),
                 NotImplementedError, "not implemented for 'Int'")


def test_legacy_reduction_args_warn():
    x, t = torchish.randn(3, 5), torchish.tensor([1, 2, 3])
    F = torchish.nn.functional
    for sa, rd, expect in [(False, None, "sum"), (None, False, "none"), (True, True, "mean")]:
        with pytest.warns(UserWarning, match=f"size_average and reduce args will be deprecated, please use "
                                             f"reduction='{expect}' instead."):
            out = F.nll_loss(x, t, size_average=sa, reduce=rd)
        ref = F.nll_loss(x, t, reduction=expect)
        np.testing.assert_allclose(out.numpy(), ref.numpy())
    with pytest.warns(UserWarning, match="reduction='elementwise_mean' is deprecated"):
        F.mse_loss(x, x, reduction="elementwise_mean")


# ---------------------------------------------------------------------------- regression losses
@pytest.mark.parametrize("name,kw,reduction", [
    ("mse_loss", {}, "mean"), ("mse_loss", {}, "none"), ("l1_loss", {}, "mean"), ("l1_loss", {}, "none"),
    ("smooth_l1_loss", {}, "mean"), ("smooth_l1_loss", {"beta": 0.5}, "none"), ("smooth_l1_loss", {"beta": 0.0}, "sum"),
    ("huber_loss", {}, "sum"), ("huber_loss", {"delta": 0.3}, "mean")])
def test_regression_losses(name, kw, reduction):
    x, y = rnd(3, 4), rnd(3, 4, seed=1)
    y[0, 0] = x[0, 0]  # a zero difference: the L1 subgradient there is 0, as PyTorch's
    check(lambda lib, x, y: getattr(lib.nn.functional, name)(x, y, reduction=reduction, **kw), x, y)


@pytest.mark.parametrize("name,reduction", [("mse_loss", "mean"), ("l1_loss", "mean"), ("l1_loss", "none"),
                                            ("huber_loss", "mean"), ("mse_loss", "sum")])
def test_regression_weight(name, reduction):
    w = np.abs(rnd(3, 4, seed=5)) + 0.1
    check(lambda lib, x, y, w: getattr(lib.nn.functional, name)(x, y, reduction=reduction, weight=w.detach()),
          rnd(3, 4), rnd(3, 4, seed=1), w)


def test_regression_broadcast_warning_and_dtypes():
    F = torchish.nn.functional
    x, y = torchish.randn(3, 1), torchish.randn(3)
    with pytest.warns(UserWarning, match=r"Using a target size \(torchish.Size\(\[3\]\)\) that is different to the "
                                         r"input size \(torchish.Size\(\[3, 1\]\)\)"):
        out = F.mse_loss(x, y)
    ref = ((x - y) ** 2).mean()
    np.testing.assert_allclose(out.item(), ref.item(), rtol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(lambda lib, x, y: lib.nn.functional.l1_loss(x, y, reduction="none"), rnd(3, 1), rnd(3))
    # promotion: mse/l1 promote, huber keeps the input's dtype
    check(lambda lib, x, y: lib.nn.functional.mse_loss(x, y), rnd(3, 4), rnd(3, 4, dtype=np.float64))
    # (PyTorch's huber backward rejects mixed dtypes: values only)
    check(lambda lib, x, y: lib.nn.functional.huber_loss(x, y), rnd(3, 4), rnd(3, 4, dtype=np.float64), grad=False)
    check(lambda lib, x, y: lib.nn.functional.smooth_l1_loss(x, y), rnd(3, 4, dtype=np.float16),
          rnd(3, 4, dtype=np.float16), rtol=1e-2, atol=1e-2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _raises_both(lambda lib: lib.nn.functional.mse_loss(lib.zeros(3, 4), lib.zeros(5)), RuntimeError,
                     r"The size of tensor a \(4\) must match the size of tensor b \(5\) at non-singleton dimension 1")
    _raises_both(lambda lib: lib.nn.functional.mse_loss(lib.zeros(3, 4), lib.zeros(3, 4), weight=lib.ones(4)),
                 ValueError, "Weights and input must have the same size.")
    _raises_both(lambda lib: lib.nn.functional.smooth_l1_loss(lib.zeros(3), lib.zeros(3), beta=-1.0), RuntimeError,
                 "smooth_l1_loss does not support negative values for beta.")
    _raises_both(lambda lib: lib.nn.functional.huber_loss(lib.zeros(3), lib.zeros(3), delta=0.0), RuntimeError,
                 "huber_loss does not support non-positive values for delta.")
    _raises_both(lambda lib: lib.nn.functional.mse_loss(lib.zeros(3).long(), lib.zeros(3).long()), RuntimeError,
                 "not implemented for 'Long'")


# ------------------------------------------------------------------------------ binary losses
@pytest.mark.parametrize("reduction,weighted", [("mean", False), ("none", True), ("sum", True)])
def test_binary_cross_entropy(reduction, weighted):
    x = np.random.default_rng(0).uniform(0.05, 0.95, (3, 4)).astype(np.float32)
    y = np.random.default_rng(1).random((3, 4)).astype(np.float32)
    check(lambda lib, x, y, w=None: lib.nn.functional.binary_cross_entropy(
        x, y, weight=None if w is None else w.detach(), reduction=reduction), x, y, *((_w(4),) if weighted else ()))


def test_binary_cross_entropy_clamps_like_torch():
    # log clamped at -100; gradients use PyTorch's formula with its 1e-12 floor at x in {0, 1}
    x = np.array([0.0, 1.0, 0.5, 0.0, 1.0, 1e-30], np.float32)
    y = np.array([0.0, 1.0, 1.0, 1.0, 0.0, 0.5], np.float32)
    check(lambda lib, x, y: lib.nn.functional.binary_cross_entropy(x, y.detach(), reduction="none"), x, y)


def test_binary_cross_entropy_errors():
    _raises_both(lambda lib: lib.nn.functional.binary_cross_entropy(lib.rand(3, 4), lib.rand(4)), ValueError,
                 r"Using a target size \(.*Size\(\[4\]\)\) that is different to the input size .* is deprecated")
    _raises_both(lambda lib: lib.nn.functional.binary_cross_entropy(lib.rand(3), lib.rand(3, dtype=lib.float64)),
                 RuntimeError, "Found dtype Double but expected Float")
    _raises_both(lambda lib: lib.nn.functional.binary_cross_entropy(lib.rand(3, 4), lib.rand(3, 4),
                                                                    weight=lib.ones(2, 3, 4)),
                 RuntimeError, r"output with shape \[3, 4\] doesn't match the broadcast shape \[2, 3, 4\]")
    _raises_both(lambda lib: lib.nn.functional.binary_cross_entropy_with_logits(lib.rand(3, 4), lib.rand(4)),
                 ValueError, r"Target size \(.*Size\(\[4\]\)\) must be the same as input size")


def test_bce_with_logits():
    x = rnd(3, 4) * 30  # large logits: numerically stable
    y = np.random.default_rng(1).random((3, 4)).astype(np.float32)
    F = "binary_cross_entropy_with_logits"
    check(lambda lib, x, y: getattr(lib.nn.functional, F)(x, y), x, y, rtol=1e-5, atol=1e-5)
    check(lambda lib, x, y, w, pw: getattr(lib.nn.functional, F)(x, y, weight=w.detach(), pos_weight=pw.detach(),
                                                                 reduction="none"), x, y, _w(4), _w(4, seed=9),
          rtol=1e-5, atol=1e-5)
    check(lambda lib, x, y, pw: getattr(lib.nn.functional, F)(x, y, pos_weight=pw.detach(), reduction="sum"),
          x, y, _w(3, seed=2).reshape(3, 1), rtol=1e-5, atol=1e-5)


def test_bce_with_logits_dtype_follows_target():
    F = "binary_cross_entropy_with_logits"
    check(lambda lib, x, y: getattr(lib.nn.functional, F)(x, y), rnd(3, 4), rnd(3, 4, dtype=np.float64))
    check(lambda lib, x, y: getattr(lib.nn.functional, F)(x, y), rnd(3, 4, dtype=np.float64), rnd(3, 4))
    assert torchish.nn.functional.binary_cross_entropy_with_logits(
        torchish.zeros(3), torchish.zeros(3)).dtype == torchish.float32


# -------------------------------------------------------------------- distribution-based losses
@pytest.mark.parametrize("reduction,log_target", [("none", False), ("sum", True), ("batchmean", False)])
def test_kl_div(reduction, log_target):
    x = np.log(_probs((3, 4), 1))
    y = _probs((3, 4), 1, seed=1)
    if log_target:
        y = np.log(y)
    check(lambda lib, x, y: lib.nn.functional.kl_div(x, y, reduction=reduction, log_target=log_target), x, y)


def test_kl_div_mean_warns_and_zero_targets():
    x, y = np.log(_probs((3, 4), 1)), _probs((3, 4), 1, seed=1)
    with pytest.warns(UserWarning, match="reduction: 'mean' divides the total loss by both"):
        out = torchish.nn.functional.kl_div(torchish.tensor(x), torchish.tensor(y))
    ref = torch.nn.functional.kl_div(torch.tensor(x), torch.tensor(y), reduction="sum") / 12
    np.testing.assert_allclose(out.item(), ref.item(), rtol=1e-6)
    y[0, 0] = 0.0  # xlogy(0, 0) = 0
    check(lambda lib, x, y: lib.nn.functional.kl_div(x, y.detach(), reduction="sum"), x, y)
    _raises_both(lambda lib: lib.nn.functional.kl_div(lib.zeros(3), lib.zeros(3).long(), reduction="sum"),
                 RuntimeError, "kl_div: Integral inputs not supported.")


@pytest.mark.parametrize("log_input,full,reduction", [(True, False, "mean"), (False, False, "none"),
                                                      (True, True, "sum"), (False, True, "none")])
def test_poisson_nll_loss(log_input, full, reduction):
    x = np.abs(rnd(3, 4)) + 0.1
    y = np.array([[0, 1, 2, 5]] * 3, np.float32)
    check(lambda lib, x, y: lib.nn.functional.poisson_nll_loss(x, y.detach(), log_input=log_input, full=full,
                                                               reduction=reduction), x, y)


@pytest.mark.parametrize("var_shape,full,reduction", [((3, 4), False, "mean"), ((3,), True, "none"),
                                                      ((3, 1), False, "sum"), ((1, 4), True, "mean")])
def test_gaussian_nll_loss(var_shape, full, reduction):
    v = np.abs(rnd(*var_shape, seed=2)) + 0.1
    v.reshape(-1)[0] = 1e-9  # clamped to eps (the gradient still reaches var, as PyTorch)
    check(lambda lib, x, y, v: lib.nn.functional.gaussian_nll_loss(x, y, v, full=full, reduction=reduction),
          rnd(3, 4), rnd(3, 4, seed=1), v)


def test_gaussian_nll_loss_scalar_var_and_errors():
    check(lambda lib, x, y: lib.nn.functional.gaussian_nll_loss(x, y, 0.5), rnd(3, 4), rnd(3, 4, seed=1))
    _raises_both(lambda lib: lib.nn.functional.gaussian_nll_loss(lib.zeros(3, 4), lib.zeros(3, 4), lib.ones(1, 1)),
                 ValueError, "var is of incorrect size")
    _raises_both(lambda lib: lib.nn.functional.gaussian_nll_loss(lib.zeros(3, 4), lib.zeros(3, 4), -1.0),
                 ValueError, "var has negative entry/entries")
    _raises_both(lambda lib: lib.nn.functional.gaussian_nll_loss(lib.zeros(3, 4), lib.zeros(3, 4), -lib.ones(3, 1)),
                 ValueError, "var has negative entry/entries")
    _raises_both(lambda lib: lib.nn.functional.gaussian_nll_loss(lib.zeros(3), lib.zeros(3), lib.ones(3),
                                                                 reduction="foo"), ValueError, "foo is not valid")


# -------------------------------------------------------------------------- margin losses
def test_margin_losses():
    sign = np.array([1, -1, 1, -1], np.float32)
    check(lambda lib, a, b, y: lib.nn.functional.margin_ranking_loss(a, b, y.detach(), margin=0.3), rnd(4),
          rnd(4, seed=1), sign)
    hinge_t = np.array([[1, -1, 1, -1], [-1, -1, 1, 1], [1, 1, -1, -1]], np.float32)
    check(lambda lib, x, y: lib.nn.functional.hinge_embedding_loss(x, y.detach(), margin=0.5, reduction="none"),
          rnd(3, 4), hinge_t)
    check(lambda lib, x, y: lib.nn.functional.soft_margin_loss(x, y.detach(), reduction="sum"), rnd(3, 4) * 5, hinge_t)
    y = (np.random.default_rng(0).random((3, 4)) > 0.5).astype(np.float32)
    check(lambda lib, x, y: lib.nn.functional.multilabel_soft_margin_loss(x, y), rnd(3, 4), y)
    check(lambda lib, x, y, w: lib.nn.functional.multilabel_soft_margin_loss(x, y, weight=w.detach(),
                                                                             reduction="none"), rnd(3, 4), y, _w(4))


def test_cosine_embedding_loss():
    y = np.array([1, -1, 1, -1], np.int64)
    check(lambda lib, a, b, y: lib.nn.functional.cosine_embedding_loss(a, b, y, margin=-0.2, reduction="none"),
          rnd(4, 3), rnd(4, 3, seed=1), y)
    check(lambda lib, a, b, y: lib.nn.functional.cosine_embedding_loss(a, b, y.detach()),
          rnd(3), rnd(3, seed=1), np.array(-1.0, np.float32))


@pytest.mark.parametrize("p,margin,reduction", [(1, 1.0, "mean"), (2, 0.5, "none"), (1, 0.3, "sum")])
def test_multi_margin_loss(p, margin, reduction):
    t = np.array([0, 3, 1], np.int64)
    check(lambda lib, x, t: lib.nn.functional.multi_margin_loss(x, t, p=p, margin=margin, reduction=reduction),
          rnd(3, 4), t)
    check(lambda lib, x, t, w: lib.nn.functional.multi_margin_loss(x, t, p=p, margin=margin, weight=w.detach(),
                                                                   reduction=reduction), rnd(3, 4), t, _w(4))


def test_multi_margin_loss_unbatched():
    check(lambda lib, x, t: lib.nn.functional.multi_margin_loss(x, t, reduction="none"), rnd(4), np.array(2))
    check(lambda lib, x, t: lib.nn.functional.multi_margin_loss(x, t, reduction="none"), rnd(4), np.array([2]))


def test_multilabel_margin_loss():
    t = np.array([[3, 0, -1, 1], [1, 2, 3, 0], [-1, 1, 2, 0], [2, 2, -1, 0]], np.int64)
    check(lambda lib, x, t: lib.nn.functional.multilabel_margin_loss(x, t, reduction="none"), rnd(4, 4), t)
    check(lambda lib, x, t: lib.nn.functional.multilabel_margin_loss(x, t), rnd(4), np.array([1, 0, -1, 2]))


@pytest.mark.parametrize("p,swap,reduction", [(2, False, "mean"), (2, True, "none"), (1, False, "sum"),
                                              (3, True, "none"), (math.inf, False, "none")])
def test_triplet_margin_loss(p, swap, reduction):
    check(lambda lib, a, b, c: lib.nn.functional.triplet_margin_loss(a, b, c, margin=0.7, p=p, swap=swap,
                                                                     reduction=reduction),
          rnd(4, 3), rnd(4, 3, seed=1), rnd(4, 3, seed=2), rtol=1e-5, atol=1e-5)


def test_triplet_unbatched_and_with_distance():
    check(lambda lib, a, b, c: lib.nn.functional.triplet_margin_loss(a, b, c), rnd(3), rnd(3, seed=1), rnd(3, seed=2))
    check(lambda lib, a, b, c: lib.nn.functional.triplet_margin_with_distance_loss(a, b, c, swap=True),
          rnd(4, 3), rnd(4, 3, seed=1), rnd(4, 3, seed=2))

    def dist(lib):
        return lambda u, v: ((u - v) ** 2).sum(-1)

    check(lambda lib, a, b, c: lib.nn.functional.triplet_margin_with_distance_loss(
        a, b, c, distance_function=dist(lib), margin=2.0, swap=True, reduction="none"),
        rnd(4, 3), rnd(4, 3, seed=1), rnd(4, 3, seed=2))


def test_margin_errors():
    _raises_both(lambda lib: lib.nn.functional.triplet_margin_loss(lib.zeros(3, 4), lib.zeros(3, 4), lib.zeros(4)),
                 RuntimeError, "expected to have the same number of dimensions, but got: anchor 2D, positive 2D, "
                               "and negative 1D inputs")
    _raises_both(lambda lib: lib.nn.functional.triplet_margin_loss(lib.zeros(3), lib.zeros(3), lib.zeros(3),
                                                                   margin=0),
                 ValueError, "margin must be greater than 0")
    _raises_both(lambda lib: lib.nn.functional.margin_ranking_loss(lib.zeros(3, 4), lib.zeros(3, 4), lib.ones(4)),
                 RuntimeError, "margin_ranking_loss : All input tensors should have same dimension")
    _raises_both(lambda lib: lib.nn.functional.cosine_embedding_loss(lib.zeros(3, 4), lib.zeros(3, 4), lib.ones(())),
                 RuntimeError, r"0D target tensor expects 1D input tensors, but found inputs with sizes \[3, 4\]")
    _raises_both(lambda lib: lib.nn.functional.cosine_embedding_loss(lib.zeros(3, 4), lib.zeros(3, 4), lib.ones(3, 1)),
                 RuntimeError, "0D or 1D target tensor expected, multi-target not supported")
    _raises_both(lambda lib: lib.nn.functional.multi_margin_loss(lib.zeros(3, 4), lib.tensor([1, 2, 3]), p=3),
                 ValueError, "only p == 1 and p == 2 supported")
    _raises_both(lambda lib: lib.nn.functional.multi_margin_loss(lib.zeros(3, 4), lib.tensor([1, 2])), RuntimeError,
                 r"Expected target size \[3\], but got \[2\]. Input has shape \[3, 4\].")
    _raises_both(lambda lib: lib.nn.functional.multi_margin_loss(lib.zeros(3, 4), lib.tensor([1, 2, 3]),
                                                                 weight=lib.ones(3)),
                 RuntimeError, r"inconsistent weight size, expected 4 but got \[3\]")
    _raises_both(lambda lib: lib.nn.functional.multilabel_margin_loss(lib.zeros(3, 4), lib.tensor([1, 2, 3])),
                 RuntimeError, r"inconsistent target size: \[3\] for input of size: \[3, 4\]")
    _raises_both(lambda lib: lib.nn.functional.multilabel_soft_margin_loss(lib.zeros(3), lib.zeros(3),
                                                                           reduction="foo"),
                 ValueError, "foo is not valid")


# ------------------------------------------------------------------------------------------ CTC
def _ctc_data(t=6, n=3, c=5, s=3, seed=0):
    rng = np.random.default_rng(seed)
    lp = rng.standard_normal((t, n, c)).astype(np.float32)
    lp = lp - np.log(np.exp(lp).sum(-1, keepdims=True))
    tg = rng.integers(1, c, (n, s)).astype(np.int64)
    tg[0, 1] = tg[0, 0]  # a repeated label (no skip transition)
    return lp, tg


def test_ctc_loss_padded():
    lp, tg = _ctc_data()
    il, tl = np.array([6, 5, 4]), np.array([3, 2, 0])  # includes an empty target
    check(lambda lib, lp, tg, il, tl: lib.nn.functional.ctc_loss(lp, tg, il, tl), lp, tg, il, tl, rtol=1e-5, atol=1e-5)


def test_ctc_loss_options():
    lp, tg = _ctc_data()
    il, tl = np.array([6, 5, 4]), np.array([3, 2, 2])

    def fn(lib, x, tg, il, tl):  # through log_softmax, another blank, 'sum'
        return lib.nn.functional.ctc_loss(x.log_softmax(2), tg, il, tl, blank=4, reduction="sum")

    check(fn, lp * 3, np.where(tg == 4, 0, tg), il, tl, rtol=1e-5, atol=1e-5)
    # concatenated 1-D targets with int-list lengths, 'none'
    flat = np.concatenate([tg[0, :3], tg[1, :2], tg[2, :2]])
    check(lambda lib, lp, tg: lib.nn.functional.ctc_loss(lp, tg, [6, 5, 4], [3, 2, 2], reduction="none"), lp, flat,
          rtol=1e-5, atol=1e-5)
    # unbatched (T, C), 'none'
    check(lambda lib, lp, tg, il, tl: lib.nn.functional.ctc_loss(lp, tg, il, tl, reduction="none"), lp[:, 0], tg[0],
          np.array(6), np.array(3), rtol=1e-5, atol=1e-5)
    # float64 (values only)
    check(lambda lib, lp, tg, il, tl: lib.nn.functional.ctc_loss(lp, tg, il, tl), lp.astype(np.float64), tg, il, tl,
          rtol=1e-9, atol=1e-9, grad=False)


@pytest.mark.parametrize("zero_infinity", [False, True])
def test_ctc_loss_impossible_and_zero_infinity(zero_infinity):
    # row 0 cannot be aligned (1 1 1 needs 5 frames), row 1 has no frames, row 2 is fine;
    # without zero_infinity: inf losses and NaN gradients on the frames inside the input length
    lp, _ = _ctc_data()
    tg = np.array([[1, 1, 1], [1, 2, 3], [1, 2, 1]], np.int64)
    il, tl = np.array([4, 0, 6]), np.array([3, 1, 3])
    check(lambda lib, lp, tg, il, tl: lib.nn.functional.ctc_loss(lp, tg, il, tl, reduction="none",
                                                                 zero_infinity=zero_infinity),
          lp, tg, il, tl, rtol=1e-5, atol=1e-5)


def test_ctc_loss_errors():
    lp, tg = _ctc_data()

    def call(il, tl, tg=tg, **kw):
        return lambda lib: lib.nn.functional.ctc_loss(lib.tensor(lp), lib.tensor(tg), lib.tensor(il), lib.tensor(tl),
                                                      **kw)

    _raises_both(call([6, 5, 4], [3, 2, 0], blank=5), RuntimeError, "blank must be in label range")
    _raises_both(call([6, 5], [3, 2, 0]), RuntimeError, "input_lengths must be of size batch_size")
    _raises_both(call([6, 5, 4], [3, 2]), RuntimeError, "target_lengths must be of size batch_size")
    _raises_both(call([7, 5, 4], [3, 2, 0]), RuntimeError, "Expected input_lengths to have value at most 6, but got "
                                                            "value 7")
    _raises_both(call([6, 5, 4], [4, 2, 0]), RuntimeError, "Expected tensor to have size at least 4 at dimension 1, "
                                                            "but got size 3 for argument #2 'targets'")
    _raises_both(call([6, 5, 4], [3, 2, 0], tg=np.arange(1, 7)), RuntimeError,
                 "Expected tensor to have size 5 at dimension 0, but got size 6 for argument #2 'targets'")


def test_ctc_loss_traced_matches_eager():
    lp, tg = _ctc_data()
    il, tl = np.array([6, 5, 4]), np.array([3, 2, 0])
    F = torchish.nn.functional

    def loss(lp_arr, il_arr, tl_arr):
        return F.ctc_loss(wrap(lp_arr), wrap(jnp.asarray(tg)), wrap(il_arr), wrap(tl_arr))._data

    eager = F.ctc_loss(torchish.tensor(lp), torchish.tensor(tg), torchish.tensor(il), torchish.tensor(tl))
    traced, g = jax.jit(jax.value_and_grad(loss))(jnp.asarray(lp), jnp.asarray(il), jnp.asarray(tl))
    np.testing.assert_allclose(float(traced), eager.item(), rtol=1e-6)
    t_lp = torch.tensor(lp, requires_grad=True)
    torch.nn.functional.ctc_loss(t_lp, torch.tensor(tg), torch.tensor(il), torch.tensor(tl)).backward()
    np.testing.assert_allclose(np.asarray(g), t_lp.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_losses_trace_under_jit():
    F = torchish.nn.functional
    x, t = rnd(4, 5), _targets((4,), 5, ignore=-100)

    def f(xa):
        return F.cross_entropy(wrap(xa), wrap(jnp.asarray(t)), label_smoothing=0.1)._data

    val, g = jax.jit(jax.value_and_grad(f))(jnp.asarray(x))
    tx = torch.tensor(x, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(tx, torch.tensor(t), label_smoothing=0.1)
    ref.backward()
    np.testing.assert_allclose(float(val), ref.item(), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(g), tx.grad.numpy(), rtol=1e-5, atol=1e-7)
    # gaussian_nll_loss skips its value check on traced var
    out = jax.jit(lambda v: F.gaussian_nll_loss(wrap(jnp.ones(3)), wrap(jnp.zeros(3)), wrap(v))._data)(jnp.ones(3))
    np.testing.assert_allclose(float(out), 0.5)


def test_one_dispatch_per_loss():
    from torchish._ops import OPS

    F = torchish.nn.functional
    x = torchish.randn(4, 5, requires_grad=True)
    out = F.cross_entropy(x, torchish.tensor([1, 2, 3, 0]), label_smoothing=0.1)
    # one recorded node, whose only producer is the leaf's AccumulateGrad
    assert out.grad_fn.op is OPS["cross_entropy"]
    assert [type(f).__name__ for f, _ in out.grad_fn.next_functions] == ["AccumulateGrad"]


# --------------------------------------------------------------------------------------- modules
def _lp(shape, seed=0):
    a = rnd(*shape, seed=seed)
    return a - np.log(np.exp(a).sum(-1, keepdims=True))


_MODULES = [
    ("CrossEntropyLoss", {"weight": _w(5), "ignore_index": 2, "label_smoothing": 0.2},
     (rnd(6, 5), _targets((6,), 5, ignore=2))),
    ("CrossEntropyLoss", {}, (rnd(4, 5), _probs((4, 5), 1))),
    ("NLLLoss", {"weight": _w(4), "reduction": "sum"}, (rnd(7, 4), _targets((7,), 4))),
    ("MSELoss", {}, (rnd(3, 4), rnd(3, 4, seed=1))),
    ("L1Loss", {"reduction": "none"}, (rnd(3, 4), rnd(3, 4, seed=1))),
    ("SmoothL1Loss", {"beta": 0.5, "reduction": "none"}, (rnd(3, 4), rnd(3, 4, seed=1))),
    ("HuberLoss", {"delta": 0.3}, (rnd(3, 4), rnd(3, 4, seed=1))),
    ("BCELoss", {"weight": _w(4), "reduction": "sum"},
     (np.random.default_rng(0).uniform(0.05, 0.95, (3, 4)).astype(np.float32), _probs((3, 4), 1))),
    ("BCEWithLogitsLoss", {"weight": _w(4), "pos_weight": _w(4, seed=9), "reduction": "none"},
     (rnd(3, 4), _probs((3, 4), 1))),
    ("KLDivLoss", {"reduction": "batchmean"}, (_lp((3, 4)), _probs((3, 4), 1))),
    ("PoissonNLLLoss", {"log_input": False, "full": True, "reduction": "none"},
     (np.abs(rnd(3, 4)) + 0.1, np.array([[0, 1, 2, 5]] * 3, np.float32))),
    ("GaussianNLLLoss", {"full": True}, (rnd(3, 4), rnd(3, 4, seed=1), np.abs(rnd(3, 4, seed=2)) + 0.1)),
    ("CosineEmbeddingLoss", {"margin": -0.2, "reduction": "none"},
     (rnd(4, 3), rnd(4, 3, seed=1), np.array([1, -1, 1, -1], np.int64))),
    ("MarginRankingLoss", {"margin": 0.3}, (rnd(4), rnd(4, seed=1), np.array([1, -1, 1, -1], np.int64))),
    ("HingeEmbeddingLoss", {"margin": 0.5}, (rnd(3, 4), np.array([[1, -1, 1, -1]] * 3, np.int64))),
    ("SoftMarginLoss", {}, (rnd(3, 4), np.array([[1, -1, 1, -1]] * 3, np.int64))),
    ("MultiLabelSoftMarginLoss", {"weight": _w(4), "reduction": "none"},
     (rnd(3, 4), (np.random.default_rng(0).random((3, 4)) > 0.5).astype(np.int64))),
    ("MultiMarginLoss", {"p": 2, "margin": 0.5, "weight": _w(4), "reduction": "none"},
     (rnd(3, 4), np.array([0, 3, 1], np.int64))),
    ("MultiLabelMarginLoss", {"reduction": "none"}, (rnd(4, 4), np.array([[3, 0, -1, 1]] * 4, np.int64))),
    ("TripletMarginLoss", {"margin": 0.7, "swap": True, "reduction": "none"},
     (rnd(4, 3), rnd(4, 3, seed=1), rnd(4, 3, seed=2))),
    ("TripletMarginWithDistanceLoss", {"swap": True}, (rnd(4, 3), rnd(4, 3, seed=1), rnd(4, 3, seed=2))),
    ("CTCLoss", {}, _ctc_data() + (np.array([6, 5, 4]), np.array([3, 2, 0]))),
]


# inputs after the first that are differentiable (PyTorch rejects grads for some targets)
_MODULE_DIFF = {"GaussianNLLLoss": 3, "CosineEmbeddingLoss": 2, "MarginRankingLoss": 2, "TripletMarginLoss": 3,
                "TripletMarginWithDistanceLoss": 3, "MSELoss": 2, "KLDivLoss": 2}


@pytest.mark.parametrize("name,kw,inputs", _MODULES, ids=[f"{m[0]}-{i}" for i, m in enumerate(_MODULES)])
def test_loss_modules(name, kw, inputs):
    ndiff = _MODULE_DIFF.get(name, 1)

    def fn(lib, *xs):
        opts = {k: (lib.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
        mod = getattr(lib.nn, name)(**opts)
        return mod(*[x if i < ndiff else x.detach() for i, x in enumerate(xs)])

    check(fn, *inputs, rtol=1e-5, atol=1e-5)


def test_weighted_loss_buffers_and_state_dict():
    w = torchish.tensor(_w(5))
    m = torchish.nn.CrossEntropyLoss(weight=w)
    assert list(dict(m.named_buffers())) == ["weight"] and m.weight is w
    assert list(m.state_dict()) == ["weight"]
    assert list(torchish.nn.CrossEntropyLoss().state_dict()) == []
    b = torchish.nn.BCEWithLogitsLoss(pos_weight=torchish.ones(3))
    assert list(b.state_dict()) == ["pos_weight"]
    # a torch state dict loads into the torchish module, and dtype casts move the buffer
    tm = torch.nn.NLLLoss(weight=torch.tensor(_w(4, seed=7)))
    im = torchish.nn.NLLLoss(weight=torchish.ones(4))
    im.load_state_dict({k: torchish.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    x, t = rnd(3, 4), _targets((3,), 4)
    np.testing.assert_allclose(im(torchish.tensor(x), torchish.tensor(t)).item(),
                               tm(torch.tensor(x), torch.tensor(t)).item(), rtol=1e-6)
    assert im.double().weight.dtype == torchish.float64
    assert repr(torchish.nn.CrossEntropyLoss()) == "CrossEntropyLoss()"


def test_module_options_and_legacy_args():
    with pytest.warns(UserWarning, match="please use reduction='sum' instead"):
        m = torchish.nn.MSELoss(size_average=False)
    assert m.reduction == "sum"
    with pytest.warns(UserWarning, match="please use reduction='none' instead"):
        assert torchish.nn.CrossEntropyLoss(reduce=False).reduction == "none"
    m = torchish.nn.CrossEntropyLoss(ignore_index=3, label_smoothing=0.1, reduction="sum")
    assert (m.ignore_index, m.label_smoothing, m.reduction) == (3, 0.1, "sum")
    with pytest.raises(ValueError, match="only p == 1 and p == 2 supported"):
        torchish.nn.MultiMarginLoss(p=3)
    with pytest.raises(ValueError, match="TripletMarginLoss: expected margin to be greater than 0, got 0 instead"):
        torchish.nn.TripletMarginLoss(margin=0)
    with pytest.raises(TypeError, match="delta must be a float or int"):
        torchish.nn.HuberLoss(delta="1")
    assert isinstance(torchish.nn.TripletMarginWithDistanceLoss().distance_function, torchish.nn.PairwiseDistance)
    assert issubclass(torchish.nn.NLLLoss2d, torchish.nn.NLLLoss)


def test_loss_module_backward_accumulates_into_parameters():
    # a typical step: Linear -> CrossEntropyLoss -> backward, against torch
    tl = torch.nn.Linear(4, 3)
    il = torchish.nn.Linear(4, 3)
    il.load_state_dict({k: torchish.tensor(v.detach().numpy()) for k, v in tl.state_dict().items()})
    x, t = rnd(5, 4), np.array([0, 2, 1, 2, -100])
    tloss = torch.nn.CrossEntropyLoss(label_smoothing=0.1)(tl(torch.tensor(x)), torch.tensor(t))
    iloss = torchish.nn.CrossEntropyLoss(label_smoothing=0.1)(il(torchish.tensor(x)), torchish.tensor(t))
    tloss.backward()
    iloss.backward()
    np.testing.assert_allclose(iloss.item(), tloss.item(), rtol=1e-6)
    np.testing.assert_allclose(il.weight.grad.numpy(), tl.weight.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(il.bias.grad.numpy(), tl.bias.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_compiled_training_step_matches_torch():
    tl = torch.nn.Linear(4, 3)
    il = torchish.nn.Linear(4, 3)
    il.load_state_dict({k: torchish.tensor(v.detach().numpy()) for k, v in tl.state_dict().items()})
    w = _w(3)
    icrit = torchish.nn.CrossEntropyLoss(weight=torchish.tensor(w), label_smoothing=0.1)
    tcrit = torch.nn.CrossEntropyLoss(weight=torch.tensor(w), label_smoothing=0.1)
    iopt, topt = torchish.optim.SGD(il.parameters(), lr=0.5), torch.optim.SGD(tl.parameters(), lr=0.5)
    x, t = rnd(5, 4), np.array([0, 2, 1, 2, -100])

    @torchish.compile
    def step(x, t):
        iopt.zero_grad()
        loss = icrit(il(x), t)
        loss.backward()
        iopt.step()
        return loss

    for _ in range(1):  # one step: the loss op is traced inside the whole compiled step
        iloss = step(torchish.tensor(x), torchish.tensor(t))
        topt.zero_grad()
        tloss = tcrit(tl(torch.tensor(x)), torch.tensor(t))
        tloss.backward()
        topt.step()
        np.testing.assert_allclose(iloss.item(), tloss.item(), rtol=1e-5)
    np.testing.assert_allclose(il.weight.detach().numpy(), tl.weight.detach().numpy(), rtol=1e-5, atol=1e-6)
