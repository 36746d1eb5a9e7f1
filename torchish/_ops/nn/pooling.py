"""Level-1 ops of the pooling family: max/avg/lp pooling, adaptive pooling, max unpooling.

Input is (N, C, *spatial) or unbatched (C, *spatial); the spatial rank is ``len(kernel)``.
Output sizes, ``ceil_mode`` windows and average-pool divisors follow PyTorch's
``pooling_output_shape`` and ``AvgPoolKernel.cpp`` exactly.
"""

from __future__ import annotations

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

from .. import lowering
from .._registry import op, opmath


def pool_out_size(size, k, s, p, d, ceil_mode) -> int:
    """PyTorch's ``pooling_output_shape``: the number of windows along one dim."""
    num = size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
    out = num // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _batched(fn):
    """Run ``fn(x, ...)`` on a batched array, adding and removing the batch dim of unbatched input."""

    def wrapper(x, *args, n, **kw):
        if x.ndim == n + 1:
            out = fn(x[None], *args, **kw)
            return tuple(o[0] for o in out) if isinstance(out, tuple) else out[0]
        return fn(x, *args, **kw)

    return wrapper


def _neg_inf(dtype):
    return -jnp.inf if jnp.issubdtype(dtype, jnp.floating) else jnp.iinfo(dtype).min


def _window_pads(sp, kernel, stride, padding, dilation, ceil_mode):
    """Output sizes and (lo, hi) paddings so that a VALID window pass gives exactly them."""
    out = [pool_out_size(*a, ceil_mode) for a in zip(sp, kernel, stride, padding, dilation)]
    pads = [(p, max((o - 1) * s + d * (k - 1) + 1 - size - p, 0))
            for size, k, s, p, d, o in zip(sp, kernel, stride, padding, dilation, out)]
    return out, pads


def _crop(y, out):
    return y[(slice(None), slice(None)) + tuple(slice(0, o) for o in out)]


def window_cols(x, *, kernel, stride, dilation, out=None):
    """Sliding windows of (N, C, *spatial): one (N, C, *out) strided slice per kernel offset, in
    row-major order (``out``: the number of windows per dim; default all that fit)."""
    if out is None:
        out = [(s - d * (k - 1) - 1) // st + 1 for s, k, st, d in zip(x.shape[2:], kernel, stride, dilation)]
    cols = []
    for off in itertools.product(*[range(k) for k in kernel]):
        idx = tuple(slice(o * d, o * d + st * (m - 1) + 1, st) for o, d, st, m in zip(off, dilation, stride, out))
        cols.append(x[(slice(None), slice(None)) + idx])
    return cols


def patches(x, *, kernel, stride, dilation):
    """Sliding windows of (N, C, *spatial): (N, C, prod(kernel), *out), offsets in row-major order."""
    return jnp.stack(window_cols(x, kernel=kernel, stride=stride, dilation=dilation), axis=2)


# ------------------------------------------------------------------------------------ max pool


@_batched
def _max_pool(x, *, kernel, stride, padding, dilation, ceil_mode):
    if any(d > 1 for d in dilation) or lowering.choose("max_pool") == "windows":
        # NOTE: JAX has no VJP for dilated reduce_window max
        return _max_pool_windows(x, kernel, stride, padding, dilation, ceil_mode)
    out, pads = _window_pads(x.shape[2:], kernel, stride, padding, dilation, ceil_mode)
    one = (1, 1)
    y = jax.lax.reduce_window(x, np.array(_neg_inf(x.dtype), x.dtype), jax.lax.max, one + kernel, one + stride,
                              ((0, 0), (0, 0)) + tuple(pads), window_dilation=one + dilation)
    return _crop(y, out)


@_batched
def _max_pool_indices(x, *, kernel, stride, padding, dilation, ceil_mode):
    n = len(kernel)
    sp = x.shape[2:]
    # (the argmax is computed twice, here and in _max_pool_windows; XLA merges the two)
    y = _max_pool_windows(x, kernel, stride, padding, dilation, ceil_mode)
    k = _max_windows(x, kernel, stride, padding, dilation, ceil_mode)[1]
    # the flat input index of the chosen element: sum_d (o_d * s_d - p_d + off_d * dil_d) * stride_d
    flat = jnp.zeros(k.shape, jnp.int64)
    offs = jnp.unravel_index(k, kernel)
    plane_strides = [math.prod(sp[d + 1:]) for d in range(n)]
    for d in range(n):
        o = jax.lax.broadcasted_iota(jnp.int64, k.shape, 2 + d)
        pos = o * stride[d] - padding[d] + offs[d].astype(jnp.int64) * dilation[d]
        flat = flat + pos * plane_strides[d]
    return y, flat


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2, 3, 4, 5))
def _max_pool_windows(x, kernel, stride, padding, dilation, ceil_mode):
    """Max pooling over explicit windows; the derivative is each window's first maximum's (PyTorch's
    rule).  A ``custom_jvp``, so forward mode works too; reverse mode transposes the tangent map
    (strided slices -> interior pads), which routes each cotangent to its window's argmax without
    XLA:CPU's slow ``select_and_scatter``."""
    # NOTE: non-overlapping windows as tiles of a reshape (N, C, H/2, 2, W/2, 2) were measured:
    # ~1.2 ms faster inside the whole cnn step, but 15 ms instead of 1 ms as an eager op (XLA:CPU
    # reduces over the strided tile axes slowly).  Not adopted.
    return _max_windows(x, kernel, stride, padding, dilation, ceil_mode)[0]


def _window_slices(x, kernel, stride, padding, dilation, ceil_mode, fill):
    """The input's window elements (padded with ``fill``): one (N, C, *out) array per kernel offset."""
    out, pads = _window_pads(x.shape[2:], kernel, stride, padding, dilation, ceil_mode)
    xp = jax.lax.pad(x, np.array(fill, x.dtype), [(0, 0, 0)] * 2 + [(lo, hi, 0) for lo, hi in pads])
    return window_cols(xp, kernel=kernel, stride=stride, dilation=dilation, out=out)


def _max_windows(x, kernel, stride, padding, dilation, ceil_mode):
    win = jnp.stack(_window_slices(x, kernel, stride, padding, dilation, ceil_mode, _neg_inf(x.dtype)), axis=2)
    k = jnp.argmax(win, axis=2)  # first maximum, NaN wins (as PyTorch)
    return jnp.take_along_axis(win, k[:, :, None], axis=2)[:, :, 0], k


@_max_pool_windows.defjvp
def _max_windows_jvp(kernel, stride, padding, dilation, ceil_mode, primals, tangents):
    (x,), (t,) = primals, tangents
    y, k = _max_windows(x, kernel, stride, padding, dilation, ceil_mode)
    # the tangent at each window's argmax, as a sum of selects (linear in t; its transpose is
    # a select and an interior pad per kernel offset, not a scatter)
    tw = _window_slices(t, kernel, stride, padding, dilation, ceil_mode, 0)
    zero = jnp.zeros((), t.dtype)
    dt = sum(jnp.where(k == j, col, zero) for j, col in enumerate(tw))
    return y, dt


def _register_max(n):
    def max_pool(x, *, kernel, stride, padding, dilation, ceil_mode):
        return _max_pool(x, n=n, kernel=kernel, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode)

    def max_pool_with_indices(x, *, kernel, stride, padding, dilation, ceil_mode):
        return _max_pool_indices(x, n=n, kernel=kernel, stride=stride, padding=padding, dilation=dilation,
                                 ceil_mode=ceil_mode)

    max_pool.__doc__ = f"{n}-d max pooling (implicit -inf padding)."
    max_pool_with_indices.__doc__ = f"{n}-d max pooling and the flat index of each maximum in its input plane."
    op(f"max_pool{n}d")(max_pool)
    op(f"max_pool{n}d_with_indices")(max_pool_with_indices)


# ------------------------------------------------------------------------------------ avg pool


def _avg_divisor(sp, kernel, stride, padding, out, count_include_pad, divisor_override):
    if divisor_override:
        return float(divisor_override)
    per_dim = []
    for size, k, s, p, o in zip(sp, kernel, stride, padding, out):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, size + p)
        pool = end - start
        count = np.minimum(end, size) - np.maximum(start, 0)
        per_dim.append(pool if count_include_pad else count)
    div = per_dim[0]
    for v in per_dim[1:]:
        div = np.multiply.outer(div, v)
    return div


@_batched
def _avg_pool(x, *, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    dtype = x.dtype
    ct = opmath(dtype)
    ones = (1,) * len(kernel)
    out, pads = _window_pads(x.shape[2:], kernel, stride, padding, ones, ceil_mode)
    s = jax.lax.reduce_window(x.astype(ct), np.array(0, ct), jax.lax.add, (1, 1) + kernel, (1, 1) + stride,
                              ((0, 0), (0, 0)) + tuple(pads))
    div = _avg_divisor(x.shape[2:], kernel, stride, padding, out, count_include_pad, divisor_override)
    y = _crop(s, out) / jnp.asarray(div, ct)
    return y.astype(dtype)


def _register_avg(n):
    def avg_pool(x, *, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
        return _avg_pool(x, n=n, kernel=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode,
                         count_include_pad=count_include_pad, divisor_override=divisor_override)

    avg_pool.__doc__ = f"{n}-d average pooling with PyTorch's divisor rules."
    op(f"avg_pool{n}d")(avg_pool)


@op()
def lp_pool(x, *, p, kernel, stride, ceil_mode):
    """Power-average pooling: ``(sum over window of x^p)^(1/p)``, computed as PyTorch does."""
    n = len(kernel)
    y = _avg_pool(x ** p, n=n, kernel=kernel, stride=stride, padding=(0,) * n, ceil_mode=ceil_mode,
                  count_include_pad=True, divisor_override=None)
    y = jnp.sign(y) * jax.nn.relu(jnp.abs(y))
    return (y * math.prod(kernel)) ** (1.0 / p)


for _n in (1, 2, 3):
    _register_max(_n)
    _register_avg(_n)


# ------------------------------------------------------------------------------ adaptive pools


def _adaptive_windows(size, out):
    """Start indices and lengths of PyTorch's adaptive windows along one dim."""
    i = np.arange(out)
    start = (i * size) // out
    end = -((-(i + 1) * size) // out)
    return start, end - start


def _gather_windows(x, axis, out):
    """(.., L, ..) -> (.., out, K, ..): the taps of each adaptive window, and a validity mask (out, K)."""
    start, length = _adaptive_windows(x.shape[axis], out)
    kmax = int(length.max())
    idx = start[:, None] + np.arange(kmax)[None, :]
    valid = np.arange(kmax)[None, :] < length[:, None]
    idx = np.minimum(idx, x.shape[axis] - 1)
    g = jnp.take(x, jnp.asarray(idx.reshape(-1), np.int32), axis=axis, mode="clip")
    return g.reshape(x.shape[:axis] + (out, kmax) + x.shape[axis + 1:]), valid, idx


def adaptive_avg(x, size):
    """Adaptive average pooling of the last ``len(size)`` dims (separable: one dim at a time)."""
    dtype = x.dtype
    x = x.astype(opmath(dtype))
    n = len(size)
    for i in range(n):
        axis = x.ndim - n + i
        L, o = x.shape[axis], size[i]
        if L % o == 0:
            x = x.reshape(x.shape[:axis] + (o, L // o) + x.shape[axis + 1:]).mean(axis + 1)
            continue
        g, valid, _ = _gather_windows(x, axis, o)
        mask = jnp.asarray(valid).reshape(valid.shape + (1,) * (x.ndim - axis - 1))
        x = jnp.sum(jnp.where(mask, g, 0), axis=axis + 1) / jnp.asarray(valid.sum(1), x.dtype).reshape(
            (o,) + (1,) * (x.ndim - axis - 1))
    return x.astype(dtype)


@op()
def adaptive_avg_pool(x, *, size):
    """Adaptive average pooling to ``size`` over the last ``len(size)`` dims."""
    return adaptive_avg(x, size)


@op()
def adaptive_max_pool(x, *, size):
    """Adaptive max pooling to ``size``: values and flat indices into each input plane."""
    n = len(size)
    lead = x.shape[:-n]
    sp = x.shape[-n:]
    g = x
    masks, idxs = [], []
    for i in range(n):  # (.., o1, K1, o2, K2, ..)
        g, valid, idx = _gather_windows(g, len(lead) + 2 * i, size[i])
        masks.append(valid)
        idxs.append(idx)
    b = len(lead)
    perm = tuple(range(b)) + tuple(b + 2 * i for i in range(n)) + tuple(b + 2 * i + 1 for i in range(n))
    g = jnp.transpose(g, perm)
    kshape = tuple(m.shape[1] for m in masks)
    # validity of every (o1, .., on, k1, .., kn) tap
    valid = np.ones(tuple(size) + kshape, bool)
    for i, m in enumerate(masks):
        shape = [1] * (2 * n)
        shape[i], shape[n + i] = m.shape
        valid = valid & m.reshape(shape)
    g = jnp.where(jnp.asarray(valid), g, jnp.asarray(_neg_inf(x.dtype), x.dtype))
    g = g.reshape(g.shape[: len(lead) + n] + (-1,))
    k = jnp.argmax(g, axis=-1)
    y = jnp.take_along_axis(g, k[..., None], axis=-1)[..., 0]
    # flat index: sum_d idx_d[o_d, k_d] * plane_stride_d
    flat = np.zeros(tuple(size) + (math.prod(kshape),), np.int64)
    for i, idx in enumerate(idxs):
        shape = [1] * (2 * n)
        shape[i], shape[n + i] = idx.shape
        term = np.broadcast_to(idx.reshape(shape), tuple(size) + kshape) * math.prod(sp[i + 1:])
        flat = flat + term.reshape(flat.shape)
    ind = jnp.take_along_axis(jnp.broadcast_to(jnp.asarray(flat), g.shape), k[..., None], axis=-1)[..., 0]
    return y, ind


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _unpool_rows(x, idx, size):
    """(R, K) values scattered to their indices in (R, size) zero rows."""
    rows = jnp.arange(x.shape[0])[:, None]
    return jnp.zeros((x.shape[0], size), x.dtype).at[rows, idx].set(x, mode="drop")


def _unpool_fwd(x, idx, size):
    return _unpool_rows(x, idx, size), idx


def _unpool_bwd(size, idx, ct):
    # NOTE: PyTorch's gradient is a gather, so every input whose index repeats gets the full
    # cotangent (the autodiff transpose of a scatter-set would pick one of them).
    valid = (idx >= 0) & (idx < size)
    g = jnp.take_along_axis(ct, jnp.clip(idx, 0, size - 1), axis=1)
    return jnp.where(valid, g, 0), None


_unpool_rows.defvjp(_unpool_fwd, _unpool_bwd)


@op()
def max_unpool(x, indices, *, output_size):
    """Scatter each value to its flat index in a zero (N, C, *output_size) array."""
    n = len(output_size)
    lead = x.shape[:-n]
    out = _unpool_rows(x.reshape(-1, math.prod(x.shape[-n:])), indices.reshape(-1, math.prod(x.shape[-n:])),
                       math.prod(output_size))
    return out.reshape(lead + tuple(output_size))
