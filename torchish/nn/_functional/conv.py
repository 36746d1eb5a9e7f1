"""nn.functional: convolutions (``conv1d``..``conv_transpose3d``) and ``unfold``/``fold``."""

from __future__ import annotations

from ..._ops import OPS
from ..._functions._common import as_tensor_arg
from ..._tensor import apply_op
from .vision import check_pad

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
           "unfold", "fold"]

_AXES = {1: ("width",), 2: ("height", "width"), 3: ("depth", "height", "width")}
_TYPE = {"float32": "float", "float64": "double", "float16": "c10::Half", "bfloat16": "c10::BFloat16"}


def ntuple(value, n: int, name: str, fn: str = "convolution") -> tuple:
    """``value`` (an int or a sequence of ``n`` ints) as an ``n``-tuple of ints."""
    if isinstance(value, (list, tuple)):
        if len(value) == 1:
            return (int(value[0]),) * n
        if len(value) != n:
            raise RuntimeError(f"expected {name} to be a single integer value or a list of {n} values to match the "
                               f"{fn} dimensions, but got {name}={list(value)}")
        return tuple(int(v) for v in value)
    return (int(value),) * n


def _tname(t) -> str:
    return _TYPE.get(str(t._data.dtype), str(t._data.dtype))


def _check_common(name, input, weight, bias, n, transposed):
    if input.ndim not in (n + 1, n + 2):
        raise RuntimeError(f"Expected {n + 1}D (unbatched) or {n + 2}D (batched) input to {name}, but got input of "
                           f"size: {list(input.shape)}")
    if weight.ndim != n + 2:
        raise RuntimeError(f"{name}: expected weight to be {n + 2}-dimensional (out, in/groups, *kernel), "
                           f"but got weight of size {list(weight.shape)}")
    if input._data.dtype != weight._data.dtype:
        raise RuntimeError(f"Input type ({_tname(input)}) and weight type ({_tname(weight)}) should be the same")
    if bias is not None and bias._data.dtype != input._data.dtype:
        raise RuntimeError(f"Input type ({_tname(input)}) and bias type ({_tname(bias)}) should be the same")


def _padding(padding, n, kernel, stride, dilation):
    """PyTorch's padding argument (int, tuple, 'same', 'valid') as ((lo, hi), ...)."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding != "same":
            raise RuntimeError(f"Invalid padding string: '{padding}'")
        if any(s != 1 for s in stride):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        # NOTE: an odd total padding puts the extra element at the end, as PyTorch does.
        tot = [d * (k - 1) for d, k in zip(dilation, kernel)]
        return tuple((t // 2, t - t // 2) for t in tot)
    p = ntuple(padding, n, "padding")
    if any(v < 0 for v in p):
        raise RuntimeError("negative padding is not supported")
    return tuple((v, v) for v in p)


def conv_nd(n, input, weight, bias, stride, padding, dilation, groups, padding_mode="zeros"):
    """``conv{n}d`` with ``padding`` applied in ``padding_mode`` (what ``nn.Conv{n}d`` calls)."""
    name = f"conv{n}d"
    input, weight, bias = as_tensor_arg(input), as_tensor_arg(weight), as_tensor_arg(bias)
    _check_common(name, input, weight, bias, n, False)
    stride, dilation = ntuple(stride, n, "stride"), ntuple(dilation, n, "dilation")
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError("dilation should be greater than zero")
    groups = int(groups)
    kernel = tuple(weight.shape[2:])
    pads = _padding(padding, n, kernel, stride, dilation)
    shape = list(input.shape) if input.ndim == n + 2 else [1] + list(input.shape)
    cout, cin_g = weight.shape[:2]
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    if cout % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, but got "
                           f"weight of size [{list(weight.shape)}] instead")
    if shape[1] != cin_g * groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {list(weight.shape)}, expected input{shape} to have "
                           f"{cin_g * groups} channels, but got {shape[1]} channels instead")
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != cout):
        raise RuntimeError(f"Given weight of size {list(weight.shape)}, expected bias to be 1-dimensional with {cout} "
                           f"elements, but got bias of size {list(bias.shape)} instead")
    if padding_mode != "zeros":  # the F.pad checks (e.g. reflect padding < input size)
        check_pad(input, tuple(p for lo_hi in reversed(pads) for p in lo_hi), padding_mode)
    padded = [s + lo + hi for s, (lo, hi) in zip(shape[2:], pads)]
    eff = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]
    if any(p < k for p, k in zip(padded, eff)):
        raise RuntimeError(f"Calculated padded input size per channel: ({' x '.join(map(str, padded))}). Kernel size: "
                           f"({' x '.join(map(str, eff))}). Kernel size can't be greater than actual input size")
    static = (("stride", stride), ("padding", pads), ("dilation", dilation), ("groups", groups),
              ("dtype", input._data.dtype), ("padding_mode", padding_mode))
    return apply_op(OPS[name], static, input, weight, bias)


def conv_transpose_nd(n, input, weight, bias, stride, padding, output_padding, groups, dilation):
    """``conv_transpose{n}d`` (the gradient of ``conv{n}d`` with respect to its input)."""
    name = f"conv_transpose{n}d"
    input, weight, bias = as_tensor_arg(input), as_tensor_arg(weight), as_tensor_arg(bias)
    if isinstance(padding, str):
        raise TypeError(f"{name}(): argument 'padding' must be tuple of ints, not str")
    _check_common(name, input, weight, bias, n, True)
    stride, dilation = ntuple(stride, n, "stride"), ntuple(dilation, n, "dilation")
    padding, output_padding = ntuple(padding, n, "padding"), ntuple(output_padding, n, "output_padding")
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(p < 0 for p in padding):
        raise RuntimeError("negative padding is not supported")
    groups = int(groups)
    cin, cout_g = weight.shape[:2]
    shape = list(input.shape) if input.ndim == n + 2 else [1] + list(input.shape)
    if groups <= 0 or cin % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, but got "
                           f"weight of size [{list(weight.shape)}] instead")
    if shape[1] != cin:
        raise RuntimeError(f"Given transposed=1, weight of size {list(weight.shape)}, expected input{shape} to have "
                           f"{cin} channels, but got {shape[1]} channels instead")
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != cout_g * groups):
        raise RuntimeError(f"Given transposed=1, weight of size {list(weight.shape)}, expected bias to be 1-dimensional "
                           f"with {cout_g * groups} elements, but got bias of size {list(bias.shape)} instead")
    if any(o >= s and o >= d for o, s, d in zip(output_padding, stride, dilation)):
        axes = _AXES[n]
        parts = [f"output_padding_{a}: {v}" for a, v in zip(axes, output_padding)]
        parts += [f"stride_{a}: {v}" for a, v in zip(axes, stride)]
        parts += [f"dilation_{a}: {v}" for a, v in zip(axes, dilation)]
        raise RuntimeError("output padding must be smaller than either stride or dilation, but got " + " ".join(parts))
    static = (("stride", stride), ("padding", padding), ("output_padding", output_padding), ("dilation", dilation),
              ("groups", groups), ("dtype", input._data.dtype))
    return apply_op(OPS[name], static, input, weight, bias)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-d convolution. Shape: input (N, C_in, L) or (C_in, L), weight (C_out, C_in / groups, k)."""
    return conv_nd(1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-d convolution. Shape: input (N, C_in, H, W) or (C_in, H, W), weight (C_out, C_in / groups, kh, kw).

    ``padding`` is an int, a tuple, ``'valid'`` (none) or ``'same'`` (output size = input size).
    """
    return conv_nd(2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-d convolution. Shape: input (N, C_in, D, H, W) or unbatched, weight (C_out, C_in / groups, kd, kh, kw)."""
    return conv_nd(3, input, weight, bias, stride, padding, dilation, groups)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """1-d transposed convolution. Shape: weight (C_in, C_out / groups, k)."""
    return conv_transpose_nd(1, input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-d transposed convolution. Shape: weight (C_in, C_out / groups, kh, kw); output size per dim is
    ``(in - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1``."""
    return conv_transpose_nd(2, input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """3-d transposed convolution. Shape: weight (C_in, C_out / groups, kd, kh, kw)."""
    return conv_transpose_nd(3, input, weight, bias, stride, padding, output_padding, groups, dilation)


# ----------------------------------------------------------------------------- unfold / fold


def _blocks(spatial, kernel, dilation, padding, stride):
    return tuple((s + 2 * p - d * (k - 1) - 1) // st + 1
                 for s, k, d, p, st in zip(spatial, kernel, dilation, padding, stride))


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Extract sliding blocks (im2col): (N, C, H, W) -> (N, C * prod(kernel_size), L)."""
    input = as_tensor_arg(input)
    if input.ndim not in (3, 4):
        raise RuntimeError("Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and other non-zero "
                           f"dimensions for input, but got: {list(input.shape)}")
    k, d, p, s = (ntuple(v, 2, nm, "unfold") for v, nm in ((kernel_size, "kernel_size"), (dilation, "dilation"),
                                                           (padding, "padding"), (stride, "stride")))
    blocks = _blocks(input.shape[-2:], k, d, p, s)
    if any(b < 1 for b in blocks):
        raise RuntimeError(f"Given input with spatial size {tuple(input.shape[-2:])}, kernel_size={k}, dilation={d}, "
                           f"padding={p}, calculated shape of the array of sliding blocks as {blocks}, but its "
                           "components must be at least one.")
    return apply_op(OPS["unfold"], (("kernel", k), ("stride", s), ("padding", p), ("dilation", d)), input)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Combine sliding blocks into a tensor, summing overlaps (col2im): (N, C * prod(k), L) -> (N, C, *output_size)."""
    input = as_tensor_arg(input)
    if input.ndim not in (2, 3):
        raise RuntimeError("Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size and non-zero "
                           f"dimensions for input, but got: {list(input.shape)}")
    o, k, d, p, s = (ntuple(v, 2, nm, "fold") for v, nm in ((output_size, "output_size"), (kernel_size, "kernel_size"),
                                                             (dilation, "dilation"), (padding, "padding"),
                                                             (stride, "stride")))
    c = input.shape[-2]
    if c % (k[0] * k[1]):
        raise RuntimeError("Expected size of input's dimension 1 to be divisible by the product of kernel_size, but "
                           f"got input.size(1)={c} and kernel_size={k}.")
    blocks = _blocks(o, k, d, p, s)
    if blocks[0] * blocks[1] != input.shape[-1]:
        raise RuntimeError(f"Given output_size={o}, kernel_size={k}, dilation={d}, padding={p}, stride={s}, expected "
                           f"size of input's dimension 2 to match the calculated number of sliding blocks "
                           f"{blocks[0]} * {blocks[1]} = {blocks[0] * blocks[1]}, but got input.size(2)={input.shape[-1]}.")
    static = (("output_size", o), ("kernel", k), ("stride", s), ("padding", p), ("dilation", d))
    return apply_op(OPS["fold"], static, input)
