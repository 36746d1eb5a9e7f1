"""nn.functional: max / average / power-average / adaptive pooling and max unpooling."""

from __future__ import annotations

from ..._ops import OPS
from ..._ops.nn.pooling import pool_out_size
from ..._functions._common import as_tensor_arg
from ..._tensor import apply_op
from .conv import ntuple

__all__ = [
    "max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices", "max_pool2d_with_indices",
    "max_pool3d_with_indices", "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d",
    "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d",
    "adaptive_max_pool3d", "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices",
    "adaptive_max_pool3d_with_indices", "lp_pool1d", "lp_pool2d", "lp_pool3d", "max_unpool1d", "max_unpool2d",
    "max_unpool3d",
]


def _check_input(name, input, n):
    if input.ndim not in (n + 1, n + 2) or input.numel() == 0 and input.ndim == n + 1:
        raise RuntimeError(f"{name}: Expected {n + 1}D or {n + 2}D (batch mode) tensor for input, but got: "
                           f"{list(input.shape)}")


def _window_args(name, input, n, kernel_size, stride, padding, dilation, ceil_mode):
    """Validated static window arguments and the output spatial size."""
    input = as_tensor_arg(input)
    _check_input(name, input, n)
    k = ntuple(kernel_size, n, "kernel_size", name)
    no_stride = stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0)
    s = k if no_stride else ntuple(stride, n, "stride", name)
    p, d = ntuple(padding, n, "padding", name), ntuple(dilation, n, "dilation", name)
    if any(v <= 0 for v in k):
        raise RuntimeError(f"{name}(): kernel_size must be greater than zero, but got {list(k)}")
    if any(v <= 0 for v in s):
        raise RuntimeError("stride should not be zero")
    if any(v <= 0 for v in d):
        raise RuntimeError(f"{name}() dilation must be greater than zero, but got {list(d)}")
    if any(pp > (dd * (kk - 1) + 1) // 2 for pp, kk, dd in zip(p, k, d)):
        raise RuntimeError(f"pad should be at most half of effective kernel size, but got pad={_one(p)}, "
                           f"kernel_size={_one(k)} and dilation={_one(d)}")
    sp = tuple(input.shape[-n:])
    out = tuple(pool_out_size(*a, bool(ceil_mode)) for a in zip(sp, k, s, p, d))
    if any(o < 1 for o in out):
        c = input.shape[-n - 1]
        raise RuntimeError(f"Given input size: ({'x'.join(map(str, (c,) + sp))}). Calculated output size: "
                           f"({'x'.join(map(str, (c,) + out))}). Output size is too small")
    return input, k, s, p, d


def _one(t):
    return t[0] if len(set(t)) == 1 else list(t)


def _max_pool(n, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    name = f"max_pool{n}d"
    input, k, s, p, d = _window_args(name, input, n, kernel_size, stride, padding, dilation, ceil_mode)
    static = (("kernel", k), ("stride", s), ("padding", p), ("dilation", d), ("ceil_mode", bool(ceil_mode)))
    if return_indices:
        return apply_op(OPS[f"{name}_with_indices"], static, input)
    return apply_op(OPS[name], static, input)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """1-d max pooling over (N, C, L) or (C, L); ``return_indices`` also gives each max's index in L."""
    return _max_pool(1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-d max pooling over (N, C, H, W) or (C, H, W).

    Padding is implicit -inf.  ``return_indices=True`` also returns, for each output, the flat
    index of the chosen element in its (H * W) input plane (what ``max_unpool2d`` takes).
    """
    return _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """3-d max pooling over (N, C, D, H, W) or (C, D, H, W)."""
    return _max_pool(3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    return _max_pool(1, input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    return _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    return _max_pool(3, input, kernel_size, stride, padding, dilation, ceil_mode, True)


def _avg_pool(n, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    name = f"avg_pool{n}d"
    input, k, s, p, _ = _window_args(name, input, n, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and int(divisor_override) == 0:
        raise RuntimeError("divisor must be not zero")
    static = (("kernel", k), ("stride", s), ("padding", p), ("ceil_mode", bool(ceil_mode)),
              ("count_include_pad", bool(count_include_pad)),
              ("divisor_override", None if divisor_override is None else int(divisor_override)))
    return apply_op(OPS[name], static, input)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-d average pooling over (N, C, L) or (C, L) (zero padding counted unless ``count_include_pad=False``)."""
    return _avg_pool(1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2-d average pooling; the divisor is the window size (clipped as PyTorch clips ``ceil_mode``
    windows), the count of non-padding elements (``count_include_pad=False``) or ``divisor_override``."""
    return _avg_pool(2, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """3-d average pooling over (N, C, D, H, W) or (C, D, H, W)."""
    return _avg_pool(3, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def _lp_pool(n, input, norm_type, kernel_size, stride, ceil_mode):
    name = f"lp_pool{n}d"
    input, k, s, _, _ = _window_args(name, input, n, kernel_size, stride, 0, 1, ceil_mode)
    static = (("p", float(norm_type)), ("kernel", k), ("stride", s), ("ceil_mode", bool(ceil_mode)))
    return apply_op(OPS["lp_pool"], static, input)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """1-d power-average pooling: ``(sum over window of x^p)^(1/p)``."""
    return _lp_pool(1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """2-d power-average pooling: ``(sum over window of x^p)^(1/p)``."""
    return _lp_pool(2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """3-d power-average pooling: ``(sum over window of x^p)^(1/p)``."""
    return _lp_pool(3, input, norm_type, kernel_size, stride, ceil_mode)


# ------------------------------------------------------------------------------------- adaptive


def _adaptive_size(name, input, n, output_size):
    input = as_tensor_arg(input)
    if input.ndim not in (n + 1, n + 2):
        raise RuntimeError(f"{name}(): Expected {n + 1}D or {n + 2}D tensor, but got {list(input.shape)}")
    if isinstance(output_size, (list, tuple)):
        if len(output_size) != n and not (n > 1 and len(output_size) == 1):
            raise RuntimeError(f"{name}: output_size must be {n}")
        sizes = tuple(output_size) * (n if len(output_size) == 1 else 1)
    else:
        sizes = (output_size,) * n
    sp = input.shape[-n:]
    sizes = tuple(int(sp[i]) if s is None else int(s) for i, s in enumerate(sizes))
    if any(s < 0 for s in sizes):
        raise RuntimeError(f"{name}: elements of output_size must be greater than or equal to 0 but received {list(sizes)}")
    if any(v == 0 for v in sp):
        raise RuntimeError(f"{name}(): Expected input to have non-zero size for non-batch dimensions, but input has "
                           f"sizes {list(input.shape)} with dimension {list(sp).index(0) + input.ndim - n} being empty")
    return input, sizes


def _adaptive_avg(n, input, output_size):
    input, size = _adaptive_size(f"adaptive_avg_pool{n}d", input, n, output_size)
    return apply_op(OPS["adaptive_avg_pool"], (("size", size),), input)


def adaptive_avg_pool1d(input, output_size):
    """Average pooling to a fixed output length (windows ``[floor(i L / o), ceil((i + 1) L / o))``)."""
    return _adaptive_avg(1, input, output_size)


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed (H_out, W_out); ``None`` keeps that input size."""
    return _adaptive_avg(2, input, output_size)


def adaptive_avg_pool3d(input, output_size):
    """Average pooling to a fixed (D_out, H_out, W_out); ``None`` keeps that input size."""
    return _adaptive_avg(3, input, output_size)


def _adaptive_max(n, input, output_size, return_indices):
    input, size = _adaptive_size(f"adaptive_max_pool{n}d", input, n, output_size)
    out, idx = apply_op(OPS["adaptive_max_pool"], (("size", size),), input)
    return (out, idx) if return_indices else out


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Max pooling to a fixed output length; ``return_indices`` gives each max's index in L."""
    return _adaptive_max(1, input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to a fixed (H_out, W_out); indices are flat into each (H * W) plane."""
    return _adaptive_max(2, input, output_size, return_indices)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """Max pooling to a fixed (D_out, H_out, W_out)."""
    return _adaptive_max(3, input, output_size, return_indices)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=False):
    return _adaptive_max(1, input, output_size, True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=False):
    return _adaptive_max(2, input, output_size, True)


def adaptive_max_pool3d_with_indices(input, output_size, return_indices=False):
    return _adaptive_max(3, input, output_size, True)


# ------------------------------------------------------------------------------------- unpool


def _max_unpool(n, input, indices, kernel_size, stride, padding, output_size):
    name = f"max_unpool{n}d"
    input, indices = as_tensor_arg(input), as_tensor_arg(indices)
    k = ntuple(kernel_size, n, "kernel_size", name)
    s = k if stride is None else ntuple(stride, n, "stride", name)
    p = ntuple(padding, n, "padding", name)
    sp = tuple(input.shape[-n:])
    default = tuple((i - 1) * st - 2 * pp + kk for i, st, pp, kk in zip(sp, s, p, k))
    if output_size is None:
        size = default
    else:
        size = tuple(int(v) for v in output_size)
        if len(size) == n + 2 or (len(size) == n + 1 and input.ndim == n + 1):
            size = size[-n:]
        if len(size) != n:
            raise ValueError(f"output_size should be a sequence containing {n} or {n + 2} elements, but it has a "
                             f"length of '{len(size)}'")
        for i, (v, lo) in enumerate(zip(size, default)):
            if not lo - s[i] < v < lo + s[i]:
                raise ValueError(f'invalid output_size "{size}" (dim {i} must be between {lo - s[i]} and '
                                 f'{lo + s[i]})')
    if tuple(indices.shape) != tuple(input.shape):
        raise RuntimeError(f"Expected shape of indices to be same as that of the input tensor "
                           f"({list(input.shape)}) but got indices tensor with shape: {list(indices.shape)}")
    return apply_op(OPS["max_unpool"], (("output_size", size),), input, indices)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of ``max_pool1d``: put each value at its index, zeros elsewhere."""
    return _max_unpool(1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of ``max_pool2d``: put each value at its flat index, zeros elsewhere.

    NOTE: indices out of range are dropped (PyTorch raises), so this also runs when traced.
    """
    return _max_unpool(2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of ``max_pool3d``."""
    return _max_unpool(3, input, indices, kernel_size, stride, padding, output_size)


def torch_adaptive_max_pool1d(input, output_size):
    """``torchish.adaptive_max_pool1d``: returns ``(values, indices)`` as the ATen op does."""
    return _adaptive_max(1, input, output_size, True)
