"""Level-1 ops for vision layers: ``F.pad``, ``F.interpolate``, ``pixel_shuffle``/``unshuffle``.

Resampling is separable: each spatial axis is resampled in turn with gathers at static
(NumPy-computed) source indices, using PyTorch's source-index and weight formulas
(``aten/src/ATen/native/UpSample.h``) in the same precision, so results match PyTorch's
closely and gradients are scatter-adds.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

from .._registry import op, opmath
from .pooling import adaptive_avg

# ------------------------------------------------------------------------------------ padding

_JNP_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad_array(x, pad, mode, value):
    """``F.pad``: ``pad`` is (last_lo, last_hi, prev_lo, prev_hi, ...); negative entries crop.

    NOTE: as in PyTorch, negative padding crops first and the non-constant modes then pad
    from the cropped array.
    """
    m = len(pad) // 2
    pairs = [(0, 0)] * (x.ndim - m) + [(pad[2 * i], pad[2 * i + 1]) for i in reversed(range(m))]
    if mode == "constant":
        return jax.lax.pad(x, jnp.asarray(value).astype(x.dtype), [(lo, hi, 0) for lo, hi in pairs])
    if any(lo < 0 or hi < 0 for lo, hi in pairs):
        x = x[tuple(slice(-min(lo, 0), s + min(hi, 0)) for (lo, hi), s in zip(pairs, x.shape))]
    return jnp.pad(x, [(max(lo, 0), max(hi, 0)) for lo, hi in pairs], mode=_JNP_MODE[mode])


@op()
def nn_pad(x, value, *, pad, mode):
    """``F.pad(x, pad, mode, value)`` (``value`` is used by ``mode='constant'`` only)."""
    return pad_array(x, pad, mode, value)


# ------------------------------------------------------------------------------ interpolation


def _scale(n_in, n_out, align_corners, scale, ct):
    """PyTorch's ``area_pixel_compute_scale`` in compute precision ``ct``."""
    if align_corners:
        return ct(n_in - 1) / ct(n_out - 1) if n_out > 1 else ct(0)
    if scale is not None and scale > 0:
        return ct(1.0 / scale)
    return ct(n_in) / ct(n_out)


def _source(n_in, n_out, align_corners, scale, ct, cubic=False):
    s = _scale(n_in, n_out, align_corners, scale, ct)
    dst = np.arange(n_out, dtype=ct)
    if align_corners:
        return s * dst
    src = s * (dst + ct(0.5)) - ct(0.5)
    return src if cubic else np.maximum(src, ct(0))


def _take(x, idx, axis):
    return jnp.take(x, jnp.asarray(idx, np.int32), axis=axis, mode="clip")


def _bcast(w, axis, ndim):
    return jnp.asarray(w).reshape((-1,) + (1,) * (ndim - axis - 1))


def _nearest_axis(x, axis, n_out, scale, exact):
    n_in = x.shape[axis]
    if n_out == n_in:
        return x
    dst = np.arange(n_out)
    if n_out == 2 * n_in and not exact:
        return _take(x, dst >> 1, axis)
    s = np.float32(1.0 / scale) if scale is not None and scale > 0 else np.float32(n_in) / np.float32(n_out)
    src = (dst.astype(np.float32) + np.float32(0.5)) * s if exact else dst.astype(np.float32) * s
    return _take(x, np.minimum(np.floor(src).astype(np.int64), n_in - 1), axis)


def _linear_axis(x, axis, n_out, scale, align_corners, ct):
    n_in = x.shape[axis]
    src = _source(n_in, n_out, align_corners, scale, ct)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    lam = np.clip(src - i0.astype(ct), 0, 1).astype(ct)
    i1 = i0 + (i0 < n_in - 1)
    w1 = _bcast(lam, axis, x.ndim)
    w0 = _bcast((1 - lam).astype(ct), axis, x.ndim)
    return w0 * _take(x, i0, axis) + w1 * _take(x, i1, axis)


def _cubic_weights(t, ct, a=-0.75):
    def c1(z):  # |z| <= 1
        return ((a + 2) * z - (a + 3)) * z * z + 1

    def c2(z):  # 1 < |z| < 2
        return ((a * z - 5 * a) * z + 8 * a) * z - 4 * a

    one = ct(1)
    return [c2(t + one), c1(t), c1(one - t), c2(one - t + one)]


def _cubic_axis(x, axis, n_out, scale, align_corners, ct):
    n_in = x.shape[axis]
    src = _source(n_in, n_out, align_corners, scale, ct, cubic=True)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    t = np.clip(src - i0.astype(ct), 0, 1).astype(ct)
    out = 0
    for k, w in enumerate(_cubic_weights(t, ct)):
        idx = np.clip(i0 - 1 + k, 0, n_in - 1)
        out = out + _bcast(w.astype(ct), axis, x.ndim) * _take(x, idx, axis)
    return out


@op()
def interpolate(x, *, size, mode, align_corners, scales):
    """Resample the spatial dims of (N, C, *spatial) to ``size``; ``scales`` are the user's scale
    factors (or None), which PyTorch uses instead of in/out sizes when given."""
    dtype = x.dtype
    n = len(size)
    if mode == "area":
        return adaptive_avg(x, size)
    if mode in ("nearest", "nearest-exact"):
        for i in range(n):
            x = _nearest_axis(x, x.ndim - n + i, size[i], scales[i], mode == "nearest-exact")
        return x
    ct = np.dtype(opmath(dtype))
    x = x.astype(ct)
    axis_fn = _cubic_axis if mode == "bicubic" else _linear_axis
    for i in reversed(range(n)):
        x = axis_fn(x, x.ndim - n + i, size[i], scales[i], align_corners, ct.type)
    return x.astype(dtype)


# ------------------------------------------------------------------------------ pixel shuffle


@op()
def pixel_shuffle(x, *, r):
    """(*, C r^2, H, W) -> (*, C, H r, W r)."""
    *b, c, h, w = x.shape
    y = x.reshape(tuple(b) + (c // (r * r), r, r, h, w))
    k = len(b)
    y = jnp.transpose(y, tuple(range(k)) + (k, k + 3, k + 1, k + 4, k + 2))
    return y.reshape(tuple(b) + (c // (r * r), h * r, w * r))


@op()
def pixel_unshuffle(x, *, r):
    """(*, C, H r, W r) -> (*, C r^2, H, W)."""
    *b, c, h, w = x.shape
    k = len(b)
    y = x.reshape(tuple(b) + (c, h // r, r, w // r, r))
    y = jnp.transpose(y, tuple(range(k)) + (k, k + 2, k + 4, k + 1, k + 3))
    return y.reshape(tuple(b) + (c * r * r, h // r, w // r))



@op()
def channel_shuffle(x, *, groups):
    """(N, g * k, *) -> (N, k * g, *): interleave the channels of ``groups`` groups."""
    n, c = x.shape[:2]
    y = x.reshape((n, groups, c // groups) + x.shape[2:]).swapaxes(1, 2)
    return y.reshape(x.shape)


# ------------------------------------------------------------------------ affine_grid / grid_sample


def _base_coords(n, align_corners, dtype):
    if n <= 1:
        return np.zeros((max(n, 1),), dtype)
    r = np.linspace(-1, 1, n).astype(dtype)
    return r if align_corners else (r * dtype.type(n - 1) / dtype.type(n)).astype(dtype)


@op()
def affine_grid(theta, *, size, align_corners):
    """Sampling grid (N, *spatial, k) for batch of affine matrices ``theta`` (N, k, k + 1)."""
    sp = size[2:]
    dt = np.dtype(theta.dtype)
    axes = [_base_coords(s, align_corners, dt) for s in reversed(sp)]  # x (last dim) first
    mesh = np.meshgrid(*[axes[len(sp) - 1 - d] for d in range(len(sp))], indexing="ij")  # in spatial order
    base = np.stack([mesh[len(sp) - 1 - i] for i in range(len(sp))] + [np.ones(mesh[0].shape, dt)], -1)
    base = jnp.asarray(base.reshape(-1, len(sp) + 1))
    grid = jnp.einsum("pk,njk->npj", base, theta)
    return grid.reshape((size[0],) + tuple(sp) + (len(sp),))


def _unnormalize(c, size, align_corners):
    if align_corners:
        return (c + 1) / 2 * (size - 1)
    return ((c + 1) * size - 1) / 2


def _clip(c, size):
    # NOTE: where-based, so the gradient at the clip boundary is 1, as PyTorch's clip_coordinates
    return jnp.where(c < 0, 0, jnp.where(c > size - 1, size - 1, c)).astype(c.dtype)


def _reflect(c, lo2, hi2):
    if lo2 == hi2:
        return jnp.zeros_like(c)
    mn, span = lo2 / 2, (hi2 - lo2) / 2
    c = jnp.abs(c - mn)
    extra = jnp.fmod(c, span)
    flips = jnp.floor(c / span)
    return jnp.where(jnp.fmod(flips, 2) == 0, extra + mn, span - extra + mn)


def _pad_coord(c, size, padding_mode, align_corners):
    if padding_mode == "border":
        return _clip(c, size)
    if padding_mode == "reflection":
        c = _reflect(c, 0, 2 * (size - 1)) if align_corners else _reflect(c, -1, 2 * size - 1)
        return _clip(c, size)
    return c


def _gather_taps(flat, sp, idx):
    """Values of ``flat`` (N, C, prod(sp)) at integer coordinates ``idx`` (one (N, *Q) array per
    spatial dim): (N, C, *Q), zero where a coordinate is out of range.  One gather for all taps."""
    valid = jnp.ones(idx[0].shape, bool)
    lin = jnp.zeros(idx[0].shape, jnp.int32)
    for i, s in zip(idx, sp):
        valid = valid & (i >= 0) & (i < s)
        lin = lin * s + jnp.clip(i, 0, s - 1).astype(jnp.int32)
    q = lin.shape[1:]
    lin = lin.reshape(lin.shape[0], 1, -1)
    v = jnp.take_along_axis(flat, jnp.broadcast_to(lin, flat.shape[:2] + lin.shape[2:]), axis=2)
    return jnp.where(valid[:, None], v.reshape(flat.shape[:2] + q), 0)


@op()
def grid_sample(x, grid, *, mode, padding_mode, align_corners):
    """Sample (N, C, *S) at the normalised ``grid`` (N, *O, n) locations ((x, y[, z]) order)."""
    dtype = x.dtype
    ct = opmath(dtype)
    n = grid.shape[-1]
    sp = x.shape[2:]
    out_sp = grid.shape[1:-1]
    nb, c = x.shape[:2]
    flat = x.astype(ct).reshape(nb, c, -1)
    g = grid.astype(ct).reshape(nb, -1, n)
    coords = [_unnormalize(g[..., n - 1 - d], sp[d], align_corners) for d in range(n)]  # spatial order
    if mode == "bicubic":
        out = _bicubic(flat, sp, coords, padding_mode, align_corners, np.dtype(ct).type)
    else:
        coords = [_pad_coord(cd, s, padding_mode, align_corners) for cd, s in zip(coords, sp)]
        if mode == "nearest":
            out = _gather_taps(flat, sp, [jnp.round(cd).astype(jnp.int32) for cd in coords])
        else:
            lo = [jnp.floor(cd) for cd in coords]
            corners = list(itertools.product((0, 1), repeat=n))
            # weights (N, T, P) and taps (N, C, T, P) of the 2^n corners, PyTorch's corner order
            w = jnp.stack([math.prod([(cd - f) if b else (f + 1 - cd) for cd, f, b in zip(coords, lo, bits)])
                           for bits in corners], axis=1)
            idx = [jnp.stack([f.astype(jnp.int32) + bits[d] for bits in corners], axis=1) for d, f in enumerate(lo)]
            out = jnp.sum(w[:, None] * _gather_taps(flat, sp, idx), axis=2)
    return out.reshape((nb, c) + tuple(out_sp)).astype(dtype)


def _bicubic(flat, sp, coords, padding_mode, align_corners, ct):
    (iy, ix), (h, w) = coords, sp
    y0, x0 = jnp.floor(iy), jnp.floor(ix)
    wy = jnp.stack(_cubic_weights(iy - y0, ct), axis=1)  # (N, 4, P)
    wx = jnp.stack(_cubic_weights(ix - x0, ct), axis=1)
    ys = jnp.stack([_pad_coord(y0 - 1 + i, h, padding_mode, align_corners) for i in range(4)], axis=1)
    xs = jnp.stack([_pad_coord(x0 - 1 + j, w, padding_mode, align_corners) for j in range(4)], axis=1)
    grid_shape = ys.shape[:2] + (4,) + ys.shape[2:]  # (N, 4 rows, 4 columns, P)
    taps = _gather_taps(flat, sp, [jnp.broadcast_to(ys[:, :, None], grid_shape).astype(jnp.int32),
                                   jnp.broadcast_to(xs[:, None], grid_shape).astype(jnp.int32)])
    rows = jnp.sum(wx[:, None, None] * taps, axis=3)  # (N, C, 4, P)
    return jnp.sum(wy[:, None] * rows, axis=2)
