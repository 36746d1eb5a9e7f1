"""nn.functional: ``pad``, ``interpolate`` (and the ``upsample*`` aliases), ``pixel_shuffle``/``unshuffle``,
``affine_grid``/``grid_sample``."""

from __future__ import annotations

import math
import warnings

from ..._ops import OPS
from ..._functions._common import as_tensor_arg
from ..._tensor import apply_op

__all__ = ["pad", "interpolate", "upsample", "upsample_nearest", "upsample_bilinear", "pixel_shuffle",
           "pixel_unshuffle", "channel_shuffle", "affine_grid", "grid_sample"]

_MODES = ("constant", "reflect", "replicate", "circular")
_PAD_HELP = ("Supported combinations for non-constant padding:\n"
             "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
             "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
             "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")


def check_pad(input, pad, mode, value=None) -> tuple:
    """Validate ``F.pad`` arguments as PyTorch does; returns ``pad`` as a tuple of ints."""
    pad = tuple(int(p) for p in pad)
    if mode not in _MODES:
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > input.ndim:
        raise RuntimeError(f"Padding length should be less than or equal to two times the input dimension but got "
                           f"padding length {len(pad)} and input of dimension {input.ndim}")
    m = len(pad) // 2
    if mode == "constant":
        for i in range(m):
            d = input.ndim - 1 - i
            if input.shape[d] + pad[2 * i] + pad[2 * i + 1] < 0:
                raise RuntimeError(f"The input size {input.shape[d]}, plus negative padding {pad[2 * i]} and "
                                   f"{pad[2 * i + 1]} resulted in a negative output size, which is invalid. Check "
                                   f"dimension {d} of your input.")
        return pad
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    if m not in (1, 2, 3) or input.ndim not in (m + 1, m + 2):
        raise NotImplementedError(f"Padding size {len(pad)} is not supported for {input.ndim}D input tensor.\n{_PAD_HELP}")
    for i in range(m):
        d = input.ndim - 1 - i
        lo, hi, size = pad[2 * i], pad[2 * i + 1], input.shape[d]
        if mode == "reflect" and (lo >= size or hi >= size):
            raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding input dimension, but "
                               f"got: padding ({lo}, {hi}) at dimension {d} of input {list(input.shape)}")
        if mode == "circular" and (lo > size or hi > size):
            raise RuntimeError("Padding value causes wrapping around more than once.")
    return pad


def pad(input, pad, mode="constant", value=None):
    """Pad the last ``len(pad) // 2`` dims: ``pad = (last_lo, last_hi, prev_lo, prev_hi, ...)``.

    ``mode`` is ``'constant'`` (fill with ``value``, default 0), ``'reflect'``, ``'replicate'`` or
    ``'circular'``.  Negative padding crops.
    """
    input = as_tensor_arg(input)
    p = check_pad(input, pad, mode, value)
    fill = 0 if value is None else value
    return apply_op(OPS["nn_pad"], (("pad", p), ("mode", mode)), input, fill)


_pad = pad  # NOTE: the argument ``pad`` shadows the function inside functions that take one


# ------------------------------------------------------------------------------ interpolation

_ALIGN_MODES = ("linear", "bilinear", "bicubic", "trilinear")
_RANK = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}
_ALL = "nearest | linear | bilinear | bicubic | trilinear | area | nearest-exact"


def _spatial_args(input, size, scale_factor, dim):
    sp = list(input.shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise ValueError(f"Input and output must have the same number of spatial dimensions, but got input "
                                 f"with spatial dimensions of {sp} and output size of {size}. Please provide input "
                                 "tensor in (N, C, d1, d2, ...,dK) format and output size in (o1, o2, ...,oK) format.")
            return [int(s) for s in size], None
        return [int(size)] * dim, None
    if scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    if isinstance(scale_factor, (list, tuple)):
        if len(scale_factor) != dim:
            raise ValueError(f"Input and scale_factor must have the same number of spatial dimensions, but got input "
                             f"with spatial dimensions of {sp} and scale_factor of shape {scale_factor}. Please provide "
                             "input tensor in (N, C, d1, d2, ...,dK) format and scale_factor in (s1, s2, ...,sK) format.")
        return None, [float(s) for s in scale_factor]
    return None, [float(scale_factor)] * dim


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None,
                antialias=False):
    """Resample (N, C, *spatial) to ``size`` or by ``scale_factor``.

    Modes: ``nearest``, ``nearest-exact``, ``linear`` (3-D input), ``bilinear``/``bicubic`` (4-D),
    ``trilinear`` (5-D), ``area`` (adaptive average pooling).  ``align_corners`` (interpolating
    modes only) maps corner pixel centres onto each other.  As in PyTorch, a given
    ``scale_factor`` is used for the source coordinates unless ``recompute_scale_factor=True``.
    """
    input = as_tensor_arg(input)
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating modes: "
                             "linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    dim = input.ndim - 2
    sizes, scales = _spatial_args(input, size, scale_factor, dim)
    if recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if mode == "area" and sizes is None:
        recompute_scale_factor = True
    if sizes is None:
        sizes = [int(math.floor(float(input.shape[i + 2]) * scales[i])) for i in range(dim)]
        if recompute_scale_factor:
            scales = None
    if antialias:
        raise NotImplementedError("torchish: interpolate(antialias=True) is not supported yet")
    if mode not in ("nearest", "nearest-exact", "area") + _ALIGN_MODES or input.ndim not in (3, 4, 5):
        raise NotImplementedError(f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for the "
                                  f"modes: {_ALL} (got {mode})")
    if mode in _RANK and input.ndim != _RANK[mode]:
        raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs {_RANK[mode]}D input")
    if any(s <= 0 for s in sizes) or any(s <= 0 for s in input.shape[2:]):
        names = ("D", "H", "W")[-dim:]
        raise RuntimeError("Input and output sizes should be greater than 0, but got input ("
                           + ", ".join(f"{n}: {s}" for n, s in zip(names, input.shape[2:])) + ") and output ("
                           + ", ".join(f"{n}: {s}" for n, s in zip(names, sizes)) + ")")
    static = (("size", tuple(sizes)), ("mode", mode), ("align_corners", bool(align_corners)),
              ("scales", tuple(scales) if scales is not None else (None,) * dim))
    return apply_op(OPS["interpolate"], static, input)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated alias of :func:`interpolate` (warns, as PyTorch does)."""
    warnings.warn("`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    """Deprecated: ``interpolate(input, size, scale_factor, mode='nearest')``."""
    warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use `nn.functional.interpolate` instead.",
                  stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """Deprecated: ``interpolate(input, size, scale_factor, mode='bilinear', align_corners=True)``."""
    warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use `nn.functional.interpolate` instead.",
                  stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


# ------------------------------------------------------------------------------ pixel shuffle


def pixel_shuffle(input, upscale_factor):
    """Rearrange (*, C r^2, H, W) into (*, C, H r, W r)."""
    input, r = as_tensor_arg(input), int(upscale_factor)
    if input.ndim < 3:
        raise RuntimeError(f"pixel_shuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.ndim} dimension(s)")
    if r <= 0:
        raise RuntimeError(f"pixel_shuffle expects a positive upscale_factor, but got {r}")
    c = input.shape[-3]
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
                           f"upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    return apply_op(OPS["pixel_shuffle"], (("r", r),), input)


def pixel_unshuffle(input, downscale_factor):
    """Rearrange (*, C, H r, W r) into (*, C r^2, H, W) (the inverse of :func:`pixel_shuffle`)."""
    input, r = as_tensor_arg(input), int(downscale_factor)
    if input.ndim < 3:
        raise RuntimeError(f"pixel_unshuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.ndim} dimension(s)")
    if r <= 0:
        raise RuntimeError(f"pixel_unshuffle expects a positive downscale_factor, but got {r}")
    for name, d in (("height", -2), ("width", -1)):
        if input.shape[d] % r:
            raise RuntimeError(f"pixel_unshuffle expects {name} to be divisible by downscale_factor, but "
                               f"input.size({d})={input.shape[d]} is not divisible by {r}")
    return apply_op(OPS["pixel_unshuffle"], (("r", r),), input)


def channel_shuffle(input, groups):
    """Split the channels of (N, C, *) into ``groups`` groups and interleave them (ShuffleNet)."""
    input, groups = as_tensor_arg(input), int(groups)
    if input.ndim <= 2:
        raise RuntimeError(f"channel_shuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.ndim} dimension(s)")
    if groups <= 0:
        raise RuntimeError(f"Number of groups to divide channels in must be positive. Value of groups:{groups}")
    if input.shape[1] % groups:
        raise RuntimeError(f"Number of channels must be divisible by groups. Got {input.shape[1]} channels and "
                           f"{groups} groups.")
    return apply_op(OPS["channel_shuffle"], (("groups", groups),), input)


def torch_constant_pad_nd(input, pad, value=0):
    """``torchish.constant_pad_nd``: ``F.pad(input, pad, 'constant', value)``."""
    return _pad(input, pad, "constant", value)


# ---------------------------------------------------------------------- affine_grid / grid_sample

_ALIGN_WARNING = ("Default grid_sample and affine_grid behavior has changed to align_corners=False since 1.3.0. Please "
                  "specify align_corners=True if the old behavior is desired. See the documentation of grid_sample for "
                  "details.")


def affine_grid(theta, size, align_corners=None):
    """Sampling grid for :func:`grid_sample` from affine matrices ``theta`` (N, 2, 3) or (N, 3, 4).

    ``size`` is the target (N, C, H, W) or (N, C, D, H, W); the grid is (N, H, W, 2) or (N, D, H, W, 3).
    """
    theta = as_tensor_arg(theta)
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    size = tuple(int(s) for s in size)
    if not theta.is_floating_point():
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    if len(size) not in (4, 5):
        raise NotImplementedError(f"affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
                                  f"respectively. Got size {size}.")
    k = len(size) - 2
    if theta.ndim != 3 or tuple(theta.shape[1:]) != (k, k + 1):
        raise ValueError(f"Expected a batch of {k}D affine matrices of shape Nx{k}x{k + 1} for size {size}. Got "
                         f"{theta.shape}.")
    if theta.shape[0] != size[0]:
        raise ValueError(f"Expected theta to have batch size {size[0]} to match size {size}, got {theta.shape[0]}")
    if align_corners and min(size[2:]) == 1:
        warnings.warn("Since version 1.3.0, affine_grid behavior has changed for unit-size grids when "
                      "align_corners=True. This is not an intended use case of affine_grid. See the documentation of "
                      "affine_grid for details.", stacklevel=2)
    if min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    return apply_op(OPS["affine_grid"], (("size", size), ("align_corners", bool(align_corners))), theta)


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """Sample ``input`` (N, C, H, W) / (N, C, D, H, W) at ``grid`` (N, H_out, W_out, 2) / (..., 3) locations.

    Grid values are normalised to [-1, 1] ((x, y[, z]) order).  ``mode``: ``'bilinear'``,
    ``'nearest'``, ``'bicubic'`` (4-D only); ``padding_mode``: ``'zeros'``, ``'border'``,
    ``'reflection'``.  Differentiable in both ``input`` and ``grid``.
    """
    input, grid = as_tensor_arg(input), as_tensor_arg(grid)
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError(f"nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', but "
                         f"got: '{mode}'")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(f"nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
                         f"'reflection', but got: '{padding_mode}'")
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    if input.ndim not in (4, 5):
        raise RuntimeError(f"grid_sampler(): expected 4D or 5D input and grid with same number of dimensions, but got "
                           f"input with sizes {list(input.shape)} and grid with sizes {list(grid.shape)}")
    if grid.ndim != input.ndim:
        raise RuntimeError(f"grid_sampler(): expected grid to have same number of dimensions as input, but got "
                           f"input with sizes {list(input.shape)} and grid with sizes {list(grid.shape)}")
    if grid.shape[-1] != input.ndim - 2:
        raise RuntimeError(f"grid_sampler(): expected grid to have size {input.ndim - 2} in last dimension, but got "
                           f"grid with sizes {list(grid.shape)}")
    if grid.shape[0] != input.shape[0]:
        raise RuntimeError(f"grid_sampler(): expected grid and input to have same batch size, but got input with sizes "
                           f"{list(input.shape)} and grid with sizes {list(grid.shape)}")
    if mode == "bicubic" and input.ndim != 4:
        raise RuntimeError("grid_sampler(): bicubic interpolation only supports 4D input")
    if input._data.dtype != grid._data.dtype:
        raise RuntimeError(f"grid_sampler(): expected input and grid to have the same dtype, but input has "
                           f"{input.dtype} and grid has {grid.dtype}")
    static = (("mode", mode), ("padding_mode", padding_mode), ("align_corners", bool(align_corners)))
    return apply_op(OPS["grid_sample"], static, input, grid)
