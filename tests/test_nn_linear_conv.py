"""Parity tests (PyTorch as the oracle) for nn.functional linear / conv / unfold-fold."""

import numpy as np
import pytest

import torchish
from parity import check, check_raises, requires_torch, rnd

# NOTE: PyTorch itself warns about even-kernel 'same' padding; torchish does not.
pytestmark = [requires_torch, pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")]


def F(lib):
    return lib.nn.functional


# ------------------------------------------------------------------------------------ linear


@pytest.mark.parametrize("xs,ws,bs", [((3, 4), (5, 4), (5,)), ((2, 3, 4), (5, 4), None), ((4,), (5, 4), (5,)),
                                      ((2, 4), (4,), None), ((2, 4), (5, 4), (2, 5))])
def test_linear(xs, ws, bs):
    args = [rnd(*xs), rnd(*ws)] + ([rnd(*bs)] if bs is not None else [])
    check(lambda lib, *a: F(lib).linear(*a), *args)


def test_linear_float64_and_int():
    check(lambda lib, x, w, b: F(lib).linear(x, w, b), rnd(2, 3, dtype=np.float64), rnd(4, 3, dtype=np.float64),
          rnd(4, dtype=np.float64))
    check(lambda lib, x, w: F(lib).linear(x, w), rnd(2, 3, dtype=np.int64), rnd(4, 3, dtype=np.int64), grad=False)


def test_linear_bf16():
    check(lambda lib, x, w: F(lib).linear(x.bfloat16(), w.bfloat16()), rnd(2, 8), rnd(3, 8), rtol=1e-2, atol=1e-2)


def test_linear_errors():
    check_raises(lambda lib, x, w: F(lib).linear(x, w), rnd(32, 784), rnd(10, 100), exc=RuntimeError,
                 match=r"mat1 and mat2 shapes cannot be multiplied \(32x784 and 100x10\)")
    check_raises(lambda lib, x, w: F(lib).linear(x, w), rnd(2, 3, 4), rnd(5, 6), exc=RuntimeError,
                 match=r"\(6x4 and 6x5\)")
    check_raises(lambda lib, x, w: F(lib).linear(x, w), rnd(2, 4, dtype=np.float64), rnd(5, 4), exc=RuntimeError,
                 match="same dtype")


def test_bilinear():
    check(lambda lib, a, b, w, c: F(lib).bilinear(a, b, w, c), rnd(2, 3), rnd(2, 4), rnd(5, 3, 4), rnd(5))
    check(lambda lib, a, b, w: F(lib).bilinear(a, b, w), rnd(2, 2, 3), rnd(2, 2, 4), rnd(5, 3, 4))
    check(lambda lib, a, b, w: F(lib).bilinear(a, b, w), rnd(3), rnd(4), rnd(5, 3, 4))
    check_raises(lambda lib, a, b, w: F(lib).bilinear(a, b, w), rnd(2, 3), rnd(2, 4), rnd(5, 3, 3),
                 exc=RuntimeError, match="input2 size does not match weight size: got 4 but expected 3")
    check_raises(lambda lib, a, b, w: F(lib).bilinear(a, b, w), rnd(2, 3), rnd(3, 4), rnd(5, 3, 4),
                 exc=RuntimeError, match="batch dimensions do not match")


# -------------------------------------------------------------------------------------- conv


CONV_CASES = [
    # n, input shape, weight shape, kwargs
    (1, (2, 4, 9), (6, 4, 3), dict()),
    (1, (4, 9), (6, 2, 3), dict(stride=2, padding=1, dilation=2, groups=2)),
    (1, (2, 3, 8), (5, 3, 4), dict(padding="same")),
    (2, (2, 3, 7, 6), (4, 3, 3, 2), dict(stride=(2, 1), padding=(1, 0))),
    (2, (3, 7, 6), (4, 3, 3, 3), dict(padding="same", dilation=2)),
    (2, (2, 4, 7, 7), (8, 1, 3, 3), dict(groups=4, padding="valid", stride=2)),
    (2, (2, 4, 6, 6), (4, 2, 2, 2), dict(groups=2, padding="same")),
    (3, (1, 2, 5, 4, 4), (3, 2, 3, 2, 2), dict(stride=(1, 2, 1), padding=1)),
    (3, (2, 5, 4, 4), (2, 1, 2, 2, 2), dict(groups=2, dilation=(1, 2, 1))),
]


@pytest.mark.parametrize("n,xs,ws,kw", CONV_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv(n, xs, ws, kw, bias):
    args = [rnd(*xs), rnd(*ws)] + ([rnd(ws[0])] if bias else [])
    check(lambda lib, x, w, *b: getattr(F(lib), f"conv{n}d")(x, w, *b, **kw), *args, rtol=1e-4, atol=1e-5)


TCONV_CASES = [
    (1, (2, 4, 5), (4, 3, 3), dict()),
    (1, (4, 5), (4, 2, 3), dict(stride=2, padding=1, output_padding=1, groups=2)),
    (1, (2, 2, 5), (2, 3, 4), dict(stride=3, dilation=2, output_padding=2)),
    (2, (2, 3, 4, 5), (3, 2, 3, 2), dict(stride=(2, 1), padding=(1, 0), output_padding=(1, 0))),
    (2, (2, 4, 3, 3), (4, 1, 3, 3), dict(groups=2, dilation=2, padding=2)),
    (2, (3, 4, 4), (3, 2, 2, 2), dict(stride=2)),
    (3, (1, 2, 3, 3, 2), (2, 2, 2, 3, 2), dict(stride=(2, 1, 2), padding=(0, 1, 1), output_padding=(1, 0, 1))),
]


@pytest.mark.parametrize("n,xs,ws,kw", TCONV_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv_transpose(n, xs, ws, kw, bias):
    cout = ws[1] * kw.get("groups", 1)
    args = [rnd(*xs), rnd(*ws)] + ([rnd(cout)] if bias else [])
    check(lambda lib, x, w, *b: getattr(F(lib), f"conv_transpose{n}d")(x, w, *b, **kw), *args, rtol=1e-4, atol=1e-5)


def test_conv_float64_and_bf16():
    check(lambda lib, x, w, b: F(lib).conv2d(x, w, b, padding=1), rnd(1, 2, 4, 4, dtype=np.float64),
          rnd(3, 2, 3, 3, dtype=np.float64), rnd(3, dtype=np.float64))
    check(lambda lib, x, w: F(lib).conv1d(x.bfloat16(), w.bfloat16()), rnd(1, 2, 6), rnd(3, 2, 3), rtol=2e-2,
          atol=2e-2)


def test_conv_errors():
    c2 = lambda lib, x, w, **kw: F(lib).conv2d(x, w, **kw)  # noqa: E731
    check_raises(c2, rnd(2, 3), rnd(5, 3, 3, 3), exc=RuntimeError,
                 match=r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d, but got input of size: \[2, 3\]")
    check_raises(c2, rnd(2, 4, 5, 5), rnd(5, 3, 3, 3), exc=RuntimeError,
                 match=r"expected input\[2, 4, 5, 5\] to have 3 channels, but got 4 channels instead")
    check_raises(c2, rnd(2, 3, 2, 2), rnd(5, 3, 3, 3), exc=RuntimeError, match="Kernel size can't be greater")
    check_raises(lambda lib, x, w: F(lib).conv2d(x, w, stride=2, padding="same"), rnd(1, 3, 5, 5), rnd(2, 3, 3, 3),
                 exc=RuntimeError, match="padding='same' is not supported for strided convolutions")
    check_raises(lambda lib, x, w: F(lib).conv2d(x, w, padding="foo"), rnd(1, 3, 5, 5), rnd(2, 3, 3, 3),
                 exc=RuntimeError, match="Invalid padding string: 'foo'")
    check_raises(lambda lib, x, w: F(lib).conv2d(x, w, groups=2), rnd(2, 4, 5, 5), rnd(5, 2, 3, 3),
                 exc=RuntimeError, match="expected weight to be divisible by 2 at dimension 0")
    check_raises(lambda lib, x, w: F(lib).conv2d(x, w), rnd(2, 3, 5, 5, dtype=np.float64), rnd(5, 3, 3, 3),
                 exc=RuntimeError, match=r"Input type \(double\) and weight type \(float\) should be the same")
    check_raises(lambda lib, x, w, b: F(lib).conv2d(x, w, b), rnd(2, 4, 5, 5), rnd(5, 4, 3, 3), rnd(4),
                 exc=RuntimeError, match="expected bias to be 1-dimensional with 5 elements")
    check_raises(lambda lib, x, w: F(lib).conv_transpose2d(x, w), rnd(2, 4, 5, 5), rnd(3, 4, 3, 3),
                 exc=RuntimeError, match="Given transposed=1, weight of size")
    check_raises(lambda lib, x, w: F(lib).conv_transpose2d(x, w, stride=2, output_padding=2), rnd(1, 4, 5, 5),
                 rnd(4, 4, 3, 3), exc=RuntimeError, match="output padding must be smaller than either stride or dilation")


def test_conv_traced():
    """The conv op runs under jax.jit (no value-dependent Python)."""
    import jax

    w = torchish.randn(3, 2, 3, 3)

    def f(x):
        return torchish.nn.functional.conv2d(torchish.Tensor(x), w, padding=1)._data

    out = jax.jit(f)(np.ones((1, 2, 4, 4), np.float32))
    assert out.shape == (1, 3, 4, 4)


# ------------------------------------------------------------------------------ unfold / fold


@pytest.mark.parametrize("xs,kw", [((2, 3, 5, 6), dict(kernel_size=2)),
                                   ((3, 6, 6), dict(kernel_size=(3, 2), dilation=(1, 2), padding=1, stride=2))])
def test_unfold(xs, kw):
    check(lambda lib, x: F(lib).unfold(x, **kw), rnd(*xs))


@pytest.mark.parametrize("xs,kw", [((2, 12, 20), dict(output_size=(5, 6), kernel_size=2)),
                                   ((6, 9), dict(output_size=(6, 6), kernel_size=(3, 2), dilation=(1, 2), padding=1,
                                                 stride=2))])
def test_fold(xs, kw):
    check(lambda lib, x: F(lib).fold(x, **kw), rnd(*xs))


def test_fold_errors():
    check_raises(lambda lib, x: F(lib).fold(x, (4, 4), 2), rnd(1, 5, 3), exc=RuntimeError,
                 match="divisible by the product of kernel_size")
    check_raises(lambda lib, x: F(lib).fold(x, (4, 4), 2), rnd(1, 8, 3), exc=RuntimeError,
                 match=r"sliding blocks 3 \* 3 = 9, but got input.size\(2\)=3")
    check_raises(lambda lib, x: F(lib).unfold(x, 2), rnd(1, 5, 3, 3, 3), exc=RuntimeError, match="Expected 3D or 4D")
