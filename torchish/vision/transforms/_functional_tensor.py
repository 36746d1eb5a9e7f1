"""Image ops on (..., C, H, W) arrays: NumPy arrays (host images, used in DataLoader workers) or
torchish Tensors on a device (through torchish ops, so they also run inside ``torchish.compile``).

Semantics follow torchvision's tensor kernels (``torchvision/transforms/_functional_tensor.py``):
uint8 results of arithmetic are clamped then truncated, resizing is separable with PIL-style
antialiasing, rotation samples an inverse affine grid with zero padding.
"""

from __future__ import annotations

import functools
import math

import numpy as np


# ------------------------------------------------------------------------------ primitives (NumPy | Tensor)


def is_np(a) -> bool:
    return isinstance(a, np.ndarray)


def np_dtype(a):
    return a.dtype if is_np(a) else a._data.dtype


def is_float(a) -> bool:
    return np.dtype(np_dtype(a)).kind == "f" or str(np_dtype(a)) == "bfloat16"


def max_value(dtype) -> float:
    dtype = np.dtype(dtype)
    if dtype.kind == "f" or str(dtype) == "bfloat16":
        return 1.0
    if dtype == np.bool_:
        return 1
    return int(np.iinfo(dtype).max)


def const(a, value, dtype=None):
    """``value`` as an array/tensor on ``a``'s side (host or device), with ``a``'s dtype by default."""
    dtype = np_dtype(a) if dtype is None else dtype
    if is_np(a):
        return np.asarray(value, dtype=dtype)
    from ..._functions.creation import tensor

    return tensor(np.asarray(value, dtype=dtype), device=a.device)


def cast(a, dtype):
    dtype = np.dtype(dtype) if str(dtype) != "bfloat16" else dtype
    if is_np(a):
        return a.astype(dtype, copy=False)
    from ... import _dtype as D

    return a.to(D.from_np(np.dtype(dtype)))


def clamp(a, lo, hi):
    return np.clip(a, lo, hi) if is_np(a) else a.clamp(lo, hi)


def flip(a, axis: int):
    return np.flip(a, axis) if is_np(a) else a.flip(axis)


def take(a, idx: np.ndarray, axis: int):
    if is_np(a):
        return np.take(a, idx, axis=axis)
    return a.index_select(axis, const(a, idx, np.int64))


def cat(xs, axis):
    if is_np(xs[0]):
        return np.concatenate(xs, axis)
    from ..._functions.shape import cat as tcat

    return tcat(list(xs), axis)


def stack(xs, axis):
    if is_np(xs[0]):
        return np.stack(xs, axis)
    from ..._functions.shape import stack as tstack

    return tstack(list(xs), axis)


def where(cond, x, y):
    if is_np(cond):
        return np.where(cond, x, y)
    from ..._functions.math import where as twhere

    return twhere(cond, x, y)


def mean_chw(a):
    """Mean over the last three dims, kept (for contrast)."""
    return a.mean(axis=(-3, -2, -1), keepdims=True) if is_np(a) else a.mean(dim=(-3, -2, -1), keepdim=True)


def floor(a):
    return np.floor(a) if is_np(a) else a.floor()


# ------------------------------------------------------------------------------ dtype conversion


def convert_image_dtype(image, dtype):
    """torchvision's ``convert_image_dtype``: rescale values between integer and float ranges."""
    src, dst = np.dtype(np_dtype(image)), np.dtype(dtype)
    if src == dst:
        return image
    if src.kind == "f":
        if dst.kind == "f":
            return cast(image, dst)
        if (src == np.float32 and dst in (np.int32, np.int64)) or (src == np.float64 and dst == np.int64):
            raise RuntimeError(f"The cast from {src} to {dst} cannot be performed safely.")
        eps = 1e-3
        return cast(image * (float(max_value(dst)) + 1.0 - eps), dst)
    input_max = float(max_value(src))
    if dst.kind == "f":
        return cast(image, dst) / input_max
    output_max = float(max_value(dst))
    if input_max > output_max:
        factor = int((input_max + 1) // (output_max + 1))
        return cast(image // factor if is_np(image) else image.div(factor, rounding_mode="floor"), dst)
    factor = int((output_max + 1) // (input_max + 1))
    return cast(image, dst) * factor


def _round_back(result, dtype):
    """After float math on an integer image: round and clamp back (torchvision ``_cast_squeeze_out``)."""
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        result = clamp(result.round() if not is_np(result) else np.round(result), info.min, info.max)
    return cast(result, dtype)


# ------------------------------------------------------------------------------ geometry


def pad_index(n: int, lo: int, hi: int, mode: str) -> np.ndarray:
    """Source indices of a padded axis (``edge``/``reflect``/``symmetric``), from ``np.pad`` itself."""
    return np.pad(np.arange(n), (lo, hi), mode=mode)


def pad(a, left: int, top: int, right: int, bottom: int, fill=0, mode: str = "constant"):
    """Pad the last two dims; negative amounts crop (as torchvision)."""
    if min(left, top, right, bottom) < 0:
        h, w = a.shape[-2], a.shape[-1]
        a = a[..., max(-top, 0): h - max(-bottom, 0), max(-left, 0): w - max(-right, 0)]
        left, top, right, bottom = (max(p, 0) for p in (left, top, right, bottom))
    if mode == "constant":
        if is_np(a):
            width = [(0, 0)] * (a.ndim - 2) + [(top, bottom), (left, right)]
            return np.pad(a, width, mode="constant", constant_values=np.asarray(fill).astype(a.dtype))
        from ...nn._functional.vision import pad as tpad

        return tpad(a, (left, right, top, bottom), mode="constant", value=fill)
    a = take(a, pad_index(a.shape[-2], top, bottom, mode), -2)
    return take(a, pad_index(a.shape[-1], left, right, mode), -1)


def crop(a, top: int, left: int, height: int, width: int):
    h, w = a.shape[-2], a.shape[-1]
    right, bottom = left + width, top + height
    if left < 0 or top < 0 or right > w or bottom > h:  # out of bounds: zero-pad (torchvision)
        pad_ltrb = [max(-left + min(0, right), 0), max(-top + min(0, bottom), 0), max(right - max(w, left), 0),
                    max(bottom - max(h, top), 0)]
        a = a[..., max(top, 0): bottom, max(left, 0): right]
        return pad(a, *pad_ltrb, fill=0)
    return a[..., top:bottom, left:right]


# ------------------------------------------------------------------------------ resize
def _cubic(a):
    def f(x):
        x = np.abs(x)
        return np.where(x <= 1, ((a + 2) * x - (a + 3)) * x * x + 1,
                        np.where(x < 2, (((x - 5) * x + 8) * x - 4) * a, 0.0))
    return f


def _triangle(x):
    return np.maximum(0.0, 1.0 - np.abs(x))


@functools.lru_cache(maxsize=256)
def resize_weights(n_in: int, n_out: int, mode: str, antialias: bool) -> np.ndarray:
    """The (n_out, n_in) matrix of a 1-D resize, as PyTorch's ``interpolate`` (align_corners=False)."""
    scale = n_in / n_out
    W = np.zeros((n_out, n_in), dtype=np.float64)
    if mode == "nearest":
        src = np.minimum(np.floor(np.arange(n_out) * scale).astype(np.int64), n_in - 1)
        W[np.arange(n_out), src] = 1.0
        return W
    if mode == "nearest-exact":
        src = np.minimum(np.floor((np.arange(n_out) + 0.5) * scale).astype(np.int64), n_in - 1)
        W[np.arange(n_out), src] = 1.0
        return W
    if antialias and mode in ("bilinear", "bicubic"):
        # PIL-style separable filter; support widens when downsampling (PyTorch's _upsample_*_aa)
        filt, support = (_triangle, 1.0) if mode == "bilinear" else (_cubic(-0.5), 2.0)
        ss = max(scale, 1.0)
        support *= ss
        for i in range(n_out):
            center = (i + 0.5) * scale
            lo = max(int(center - support + 0.5), 0)
            hi = min(int(center + support + 0.5), n_in)
            j = np.arange(lo, hi)
            w = filt((j - center + 0.5) / ss)
            total = w.sum()
            W[i, lo:hi] = w / total if total != 0 else w
        return W
    src = np.maximum((np.arange(n_out) + 0.5) * scale - 0.5, 0.0 if mode == "bilinear" else -np.inf)
    x0 = np.floor(src).astype(np.int64)
    t = src - x0
    rows = np.arange(n_out)
    if mode == "bilinear":
        taps = [(x0, 1 - t), (x0 + 1, t)]
    elif mode == "bicubic":
        k = _cubic(-0.75)
        taps = [(x0 + d, k(t - d)) for d in (-1, 0, 1, 2)]
    else:
        raise ValueError(f"resize: interpolation mode {mode!r} is not supported for tensors; use nearest, "
                         "nearest-exact, bilinear or bicubic")
    for idx, w in taps:
        np.add.at(W, (rows, np.clip(idx, 0, n_in - 1)), w)
    return W


def resize(a, out_h: int, out_w: int, mode: str = "bilinear", antialias: bool = True):
    """Resize the last two dims, as ``interpolate`` on the image (uint8: round and clamp back)."""
    h, w = a.shape[-2], a.shape[-1]
    if (h, w) == (out_h, out_w):
        return a
    dtype = np_dtype(a)
    wdt = np.float64 if np.dtype(dtype) == np.float64 else np.float32
    Wh = resize_weights(h, out_h, mode, antialias).astype(wdt)
    Ww = resize_weights(w, out_w, mode, antialias).T.astype(wdt)
    x = cast(a, wdt) if not is_float(a) or np.dtype(dtype) != wdt else a
    if is_np(x):
        out = np.matmul(np.matmul(Wh, x), Ww)
    else:
        out = const(x, Wh) @ x @ const(x, Ww)
    if mode.startswith("nearest"):
        return cast(out, dtype)
    return _round_back(out, dtype) if not is_float(a) else cast(out, dtype)


# ------------------------------------------------------------------------------ affine / rotate
def inverse_affine_matrix(center, angle, translate, scale, shear):
    """torchvision's ``_get_inverse_affine_matrix`` (output pixel -> input pixel, centred coordinates)."""
    rot = math.radians(angle)
    sx, sy = math.radians(shear[0]), math.radians(shear[1])
    cx, cy = center
    tx, ty = translate
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    m = [d / scale, -b / scale, 0.0, -c / scale, a / scale, 0.0]
    m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty)
    m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty)
    m[2] += cx
    m[5] += cy
    return m


def affine_output_size(matrix, w: int, h: int):
    pts = np.array([[-0.5 * w, -0.5 * h, 1.0], [-0.5 * w, 0.5 * h, 1.0], [0.5 * w, 0.5 * h, 1.0], [0.5 * w, -0.5 * h, 1.0]],
                   dtype=np.float32)
    new = pts @ np.asarray(matrix, dtype=np.float32).reshape(2, 3).T
    tol = 1e-4
    cmax = np.ceil(np.trunc(new.max(0) / tol) * tol)
    cmin = np.floor(np.trunc(new.min(0) / tol) * tol)
    size = cmax - cmin
    return int(size[0]), int(size[1])


def affine_grid(matrix, w: int, h: int, ow: int, oh: int) -> np.ndarray:
    """Normalised (x, y) sampling grid (oh, ow, 2) for ``grid_sample`` (torchvision ``_gen_affine_grid``)."""
    theta = np.asarray(matrix, dtype=np.float32).reshape(2, 3)
    xs = np.linspace(-ow * 0.5 + 0.5, ow * 0.5 - 0.5, ow, dtype=np.float32)
    ys = np.linspace(-oh * 0.5 + 0.5, oh * 0.5 - 0.5, oh, dtype=np.float32)
    base = np.stack(np.broadcast_arrays(xs[None, :], ys[:, None], np.ones((1, 1), np.float32)), -1)  # (oh, ow, 3)
    return (base @ (theta.T / np.array([0.5 * w, 0.5 * h], dtype=np.float32))).astype(np.float32)


def _grid_sample_np(img, grid, mode):
    """``grid_sample(..., padding_mode='zeros', align_corners=False)`` on a (C, H, W) NumPy image."""
    c, h, w = img.shape
    ix = ((grid[..., 0] + 1) * w - 1) / 2
    iy = ((grid[..., 1] + 1) * h - 1) / 2
    if mode == "nearest":
        xi, yi = np.rint(ix).astype(np.int64), np.rint(iy).astype(np.int64)
        ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
        out = img[:, np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]
        return np.where(ok, out, 0).astype(img.dtype)
    x0, y0 = np.floor(ix).astype(np.int64), np.floor(iy).astype(np.int64)
    out = np.zeros((c,) + ix.shape, dtype=img.dtype)
    for dx in (0, 1):
        for dy in (0, 1):
            xx, yy = x0 + dx, y0 + dy
            wgt = (1 - np.abs(ix - xx)) * (1 - np.abs(iy - yy))
            ok = (xx >= 0) & (xx < w) & (yy >= 0) & (yy < h)
            out += np.where(ok, wgt, 0).astype(img.dtype) * img[:, np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)]
    return out


def apply_grid(a, grid: np.ndarray, mode: str, fill):
    """Sample image(s) ``a`` (..., C, H, W) at ``grid``; outside pixels get ``fill`` (torchvision ``_apply_grid_transform``)."""
    dtype = np_dtype(a)
    lead = a.shape[:-3]
    c, h, w = a.shape[-3:]
    work = np.float64 if np.dtype(dtype) == np.float64 else np.float32
    x = cast(a, work).reshape((-1, c, h, w))
    n = x.shape[0]
    if fill is not None:
        ones = np.ones((n, 1, h, w), work) if is_np(x) else const(x, np.ones((n, 1, h, w), work))
        x = cat([x, ones], 1)
    if is_np(x):
        out = np.stack([_grid_sample_np(img, grid, mode) for img in x])
    else:
        from ...nn._functional.vision import grid_sample

        g = const(x, np.broadcast_to(grid, (n,) + grid.shape).astype(work))
        out = grid_sample(x, g, mode=mode, padding_mode="zeros", align_corners=False)
    if fill is not None:
        mask, out = out[:, -1:], out[:, :-1]
        fills = [float(fill)] * c if isinstance(fill, (int, float)) else [float(f) for f in fill]
        if len(fills) == 1:
            fills = fills * c
        fill_img = np.asarray(fills, dtype=work).reshape(1, c, 1, 1)
        if not is_np(out):
            fill_img = const(out, fill_img)
        if mode == "nearest":
            out = where(mask < 0.5, fill_img + 0 * out, out)
        else:
            out = out * mask + (1.0 - mask) * fill_img
    out = out.reshape(lead + tuple(out.shape[-3:]))
    return _round_back(out, dtype) if not is_float(a) else cast(out, dtype)


# ------------------------------------------------------------------------------ colour
def _float(a):
    """Integer images compute in float32 (what ``uint8_tensor * python_float`` gives in PyTorch)."""
    return a if is_float(a) else cast(a, np.float32)


def blend(img1, img2, ratio: float):
    bound = max_value(np_dtype(img1))
    out = clamp(ratio * _float(img1) + (1.0 - ratio) * _float(img2), 0, bound)
    return cast(out, np_dtype(img1))


def rgb_to_grayscale(img, num_output_channels: int = 1):
    if img.shape[-3] == 1:
        out = img
    else:
        x = _float(img)
        r, g, b = x[..., 0, :, :], x[..., 1, :, :], x[..., 2, :, :]
        gray = cast(0.2989 * r + 0.587 * g + 0.114 * b, np_dtype(img))
        out = gray[..., None, :, :]
    if num_output_channels == 3:
        out = cat([out] * 3, -3)
    return out


def _rgb2hsv(img):
    r, g, b = img[..., 0, :, :], img[..., 1, :, :], img[..., 2, :, :]
    maxc = np.max(img, axis=-3) if is_np(img) else img.amax(dim=-3)
    minc = np.min(img, axis=-3) if is_np(img) else img.amin(dim=-3)
    eqc = maxc == minc
    cr = maxc - minc
    ones = maxc * 0 + 1
    s = cr / where(eqc, ones, maxc)
    cr_divisor = where(eqc, ones, cr)
    rc, gc, bc = (maxc - r) / cr_divisor, (maxc - g) / cr_divisor, (maxc - b) / cr_divisor
    hr = (maxc == r) * (bc - gc)
    hg = ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
    hb = ((maxc != g) & (maxc != r)) * (4.0 + gc - rc)
    h = (hr + hg + hb) / 6.0 + 1.0
    h = h - floor(h)  # torch.fmod(h, 1.0) of a positive number
    return stack([h, s, maxc], -3)


def _hsv2rgb(img):
    h, s, v = img[..., 0, :, :], img[..., 1, :, :], img[..., 2, :, :]
    i = floor(h * 6.0)
    f = (h * 6.0) - i
    i = cast(i, np.int32) % 6
    p = clamp(v * (1.0 - s), 0.0, 1.0)
    q = clamp(v * (1.0 - s * f), 0.0, 1.0)
    t = clamp(v * (1.0 - s * (1.0 - f)), 0.0, 1.0)
    table = {0: (v, t, p), 1: (q, v, p), 2: (p, v, t), 3: (p, q, v), 4: (t, p, v), 5: (v, p, q)}
    chans = []
    for ch in range(3):
        acc = v * 0
        for k, vals in table.items():
            acc = where(i == k, vals[ch], acc)
        chans.append(acc)
    return stack(chans, -3)


def adjust_hue(img, hue_factor: float):
    dtype = np_dtype(img)
    x = convert_image_dtype(img, np.float32)
    hsv = _rgb2hsv(x)
    h = hsv[..., 0, :, :] + hue_factor
    h = h - floor(h)
    hsv = stack([h, hsv[..., 1, :, :], hsv[..., 2, :, :]], -3)
    return convert_image_dtype(_hsv2rgb(hsv), dtype)
