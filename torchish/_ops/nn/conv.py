"""Level-1 ops of the conv family: ``conv{1,2,3}d``, ``conv_transpose{1,2,3}d``, ``unfold``, ``fold``.

Layouts are PyTorch's: input (N, C, *spatial) or unbatched (C, *spatial), weight
(C_out, C_in / groups, *kernel) for a convolution and (C_in, C_out / groups, *kernel) for a
transposed one.  Each conv is one op with the bias add (and a non-zero ``padding_mode``'s
padding) fused in.

NOTE: every convolution goes through ``conv_impl``: a backend-specific lowering (e.g. im2col +
matmul on CPU) replaces that one function and nothing else.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp

from .. import lowering
from .._registry import op, opmath
from .pooling import patches
from .vision import pad_array

_SPEC = {1: ("NCH", "OIH", "NCH"), 2: ("NCHW", "OIHW", "NCHW"), 3: ("NCDHW", "OIDHW", "NCDHW")}


def conv_impl(x, w, *, stride, padding, lhs_dilation, dilation, groups, dtype):
    """A batched N-d convolution in PyTorch layouts; ``padding`` is ((lo, hi), ...) (may be negative)."""
    n = x.ndim - 2
    acc = jnp.float32 if opmath(dtype) != dtype else None
    extra = [0] * n
    if lowering.choose("conv") == "padded" and all(lo >= 0 and hi >= 0 for lo, hi in padding):
        # NOTE: XLA:CPU runs a convolution with no padding in a spatial dim ~3x slower (forward and
        # weight gradient) than one with padding: pad such dims by one stride on the high side and
        # drop the one extra output row/column that adds (benchmarks/README.md).
        padding, extra = _pad_trick(padding, stride)
    y = jax.lax.conv_general_dilated(
        x.astype(dtype), w.astype(dtype), window_strides=stride, padding=padding, lhs_dilation=lhs_dilation,
        rhs_dilation=dilation, dimension_numbers=_SPEC[n], feature_group_count=groups,
        preferred_element_type=acc,
    )
    return _crop_extra(y, extra)


def _pad_trick(padding, stride):
    """``padding`` with one stride of zeros added (high side) to every dim that has none, and
    which dims got it: XLA:CPU convolves much faster when no spatial dim is unpadded."""
    extra = tuple(s if lo == 0 and hi == 0 else 0 for (lo, hi), s in zip(padding, stride))
    return tuple((lo, hi + e) for (lo, hi), e in zip(padding, extra)), extra


def _crop_extra(y, extra):
    if not any(extra):
        return y
    return y[(slice(None), slice(None)) + tuple(slice(0, y.shape[2 + d] - (1 if e else 0)) for d, e in enumerate(extra))]


def _finish(y, b, n, unbatched, dtype):
    if b is not None:
        y = y + b.astype(y.dtype).reshape((-1,) + (1,) * n)
    y = y.astype(dtype)
    return y[0] if unbatched else y


def _conv(x, w, b, *, stride, padding, dilation, groups, dtype, padding_mode="zeros"):
    """Convolution with ``padding`` ((lo, hi), ...) applied with ``padding_mode``."""
    n = w.ndim - 2
    unbatched = x.ndim == n + 1
    if unbatched:
        x = x[None]
    if padding_mode != "zeros":
        x = pad_array(x, tuple(p for lo_hi in reversed(padding) for p in lo_hi), padding_mode, 0.0)
        padding = ((0, 0),) * n
    y = conv_impl(x, w, stride=stride, padding=padding, lhs_dilation=(1,) * n, dilation=dilation,
                  groups=groups, dtype=dtype)
    return _finish(y, b, n, unbatched, dtype)


def _conv_transpose(x, w, b, *, stride, padding, output_padding, dilation, groups, dtype):
    """The adjoint of a convolution: a convolution of the stride-dilated input with the flipped kernel."""
    n = w.ndim - 2
    unbatched = x.ndim == n + 1
    if unbatched:
        x = x[None]
    k = w.shape[2:]
    cin, cout_g = w.shape[:2]
    # (C_in, C_out/g, *k) -> (C_out, C_in/g, *k), kernel flipped in every spatial dim
    w = w.reshape((groups, cin // groups, cout_g) + k).swapaxes(1, 2).reshape((groups * cout_g, cin // groups) + k)
    w = jnp.flip(w, tuple(range(2, 2 + n)))
    pads = tuple((d * (kk - 1) - p, d * (kk - 1) - p + extra)
                 for kk, p, extra, d in zip(k, padding, output_padding, dilation))
    y = conv_impl(x, w, stride=(1,) * n, padding=pads, lhs_dilation=stride, dilation=dilation, groups=groups,
                  dtype=dtype)
    return _finish(y, b, n, unbatched, dtype)


def _register(name, fn):
    def impl(x, w, b, **static):
        return fn(x, w, b, **static)

    impl.__name__ = name
    impl.__doc__ = f"{name} in PyTorch layouts (bias add fused); static args as ``{fn.__name__}``."
    return op(name)(impl)


for _n in (1, 2, 3):
    _register(f"conv{_n}d", _conv)
    _register(f"conv_transpose{_n}d", _conv_transpose)


# ----------------------------------------------------------------------- unfold / fold (im2col)


@op()
def unfold(x, *, kernel, stride, padding, dilation):
    """im2col: (N, C, H, W) -> (N, C * kh * kw, L)."""
    unbatched = x.ndim == 3
    if unbatched:
        x = x[None]
    x = jnp.pad(x, ((0, 0), (0, 0)) + tuple((p, p) for p in padding))
    p = patches(x, kernel=kernel, stride=stride, dilation=dilation)  # (N, C, K, oh, ow)
    y = p.reshape(p.shape[0], p.shape[1] * p.shape[2], -1)
    return y[0] if unbatched else y


@op()
def fold(x, *, output_size, kernel, stride, padding, dilation):
    """col2im: (N, C * kh * kw, L) -> (N, C, H, W), summing overlapping values."""
    unbatched = x.ndim == 2
    if unbatched:
        x = x[None]
    nb, ck, _ = x.shape
    kk = kernel[0] * kernel[1]
    padded = tuple(s + 2 * p for s, p in zip(output_size, padding))
    out = [(s - d * (k - 1) - 1) // st + 1 for s, k, st, d in zip(padded, kernel, stride, dilation)]
    cols = x.reshape((nb, ck // kk, kk) + tuple(out))
    y = jnp.zeros((nb, ck // kk) + padded, x.dtype)
    for i, off in enumerate(itertools.product(*[range(k) for k in kernel])):
        idx = tuple(slice(o * d, o * d + st * (m - 1) + 1, st) for o, d, st, m in zip(off, dilation, stride, out))
        y = y.at[(slice(None), slice(None)) + idx].add(cols[:, :, i])
    y = y[(slice(None), slice(None)) + tuple(slice(p, p + s) for p, s in zip(padding, output_size))]
    return y[0] if unbatched else y
