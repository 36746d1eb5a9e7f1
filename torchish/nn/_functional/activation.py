"""nn.functional: activation functions (``relu`` ... ``softmax``, ``glu``, ``prelu``, ``rrelu``).

Each function computes static arguments and calls one op from ``_ops/nn/activation.py`` or
``_ops/elementwise.py``.  ``inplace=True`` (and the ``name_`` variants) store the result in the
input's box (``Tensor._inplace``), so the input tensor itself is modified, as in PyTorch.
"""

from __future__ import annotations

import warnings

from ... import _dtype as D
from ... import _random
from ..._functions._common import as_tensor_arg, np_dtype
from ..._ops import OPS
from ..._tensor import Tensor, _short, _wrap_dim, apply_op

__all__ = [
    "threshold", "threshold_", "relu", "relu_", "relu6", "hardtanh", "hardtanh_", "leaky_relu", "leaky_relu_",
    "elu", "elu_", "selu", "selu_", "celu", "celu_", "gelu", "silu", "mish", "hardsigmoid", "hardswish",
    "hardshrink", "softshrink", "tanhshrink", "logsigmoid", "softplus", "softsign", "sigmoid", "tanh",
    "softmax", "log_softmax", "softmin", "gumbel_softmax", "glu", "prelu", "rrelu", "rrelu_",
]

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _is_float(dt) -> bool:
    return dt.kind == "f" or dt == D.bfloat16.np


def _run(name, input, inplace=False, kernel=None, **static):
    """Apply elementwise op ``name`` keeping ``input``'s dtype; float-only unless ``kernel`` is None."""
    input = as_tensor_arg(input)
    dt = input._data.dtype
    if kernel is not None and not _is_float(dt):
        raise NotImplementedError(f'"{kernel}" not implemented for \'{_short(dt)}\'')
    out = apply_op(OPS[name], (("dtype", dt),) + tuple(static.items()), input)
    return input._inplace(out) if inplace else out


# ------------------------------------------------------------------------ rectifiers and clamps
def threshold(input, threshold, value, inplace=False):
    """``value`` where ``input <= threshold``, else ``input``."""
    return _run("threshold", input, inplace, threshold=float(threshold), value=float(value))


def threshold_(input, threshold, value):
    return _run("threshold", input, True, threshold=float(threshold), value=float(value))


def relu(input, inplace=False):
    """``max(0, x)`` elementwise (gradient 0 at 0, as PyTorch)."""
    input = as_tensor_arg(input)
    if input._data.dtype == D.bool.np:
        raise RuntimeError("Boolean inputs not supported for relu")
    return _run("relu", input, inplace)


def relu_(input):
    return relu(input, inplace=True)


def relu6(input, inplace=False):
    """``min(max(0, x), 6)`` elementwise."""
    return _run("relu6", input, inplace)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """Clamp to ``[min_val, max_val]`` (gradient 0 at both ends)."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _run("hardtanh", input, inplace, min_val=float(min_val), max_val=float(max_val))


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, inplace=True)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """``x`` if ``x > 0`` else ``negative_slope * x``."""
    return _run("leaky_relu", input, inplace, "leaky_relu_cpu", negative_slope=float(negative_slope))


def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, inplace=True)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Randomized leaky ReLU: negative slope ~ U(lower, upper) per element in training, else their mean."""
    if not training:
        return _run("leaky_relu", input, inplace, "rrelu_with_noise_cpu", negative_slope=(lower + upper) / 2)
    input = as_tensor_arg(input)
    dt = input._data.dtype
    if not _is_float(dt):
        raise NotImplementedError(f'"rrelu_with_noise_cpu" not implemented for \'{_short(dt)}\'')
    static = (("dtype", dt), ("lower", float(lower)), ("upper", float(upper)))
    out = apply_op(OPS["rrelu_train"], static, input, _random.next_key())
    return input._inplace(out) if inplace else out


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    return rrelu(input, lower, upper, training, inplace=True)


def prelu(input, weight):
    """``x`` if ``x > 0`` else ``weight * x``; ``weight`` has 1 or ``input.size(1)`` elements."""
    input, weight = as_tensor_arg(input), as_tensor_arg(weight)
    if weight.ndim > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.ndim}")
    channels = input.shape[1] if input.ndim >= 2 else 1
    if weight.numel() != 1 and weight.numel() != channels:
        raise RuntimeError(
            "Mismatch of parameter numbers and input channel size. Found parameter numbers = "
            f"{weight.numel()} and channel size = {channels}."
        )
    dt = input._data.dtype
    if not _is_float(dt):
        raise NotImplementedError(f'"prelu_cpu" not implemented for \'{_short(dt)}\'')
    return apply_op(OPS["prelu"], (("dtype", dt),), input, weight)


# --------------------------------------------------------------------------- smooth activations
def elu(input, alpha=1.0, inplace=False):
    """``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``."""
    return _run("elu", input, inplace, "elu_cpu", alpha=float(alpha))


def elu_(input, alpha=1.0):
    return elu(input, alpha, inplace=True)


def selu(input, inplace=False):
    """``scale * elu(x, alpha)`` with SELU's fixed constants."""
    return _run("elu", input, inplace, "elu_cpu", alpha=SELU_ALPHA, scale=SELU_SCALE)


def selu_(input):
    return selu(input, inplace=True)


def celu(input, alpha=1.0, inplace=False):
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    return _run("elu", input, inplace, "elu_cpu", alpha=float(alpha), input_scale=1.0 / float(alpha))


def celu_(input, alpha=1.0):
    return celu(input, alpha, inplace=True)


def gelu(input, approximate="none"):
    """``x * Phi(x)``; ``approximate='tanh'`` uses the tanh approximation."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    return _run("gelu", input, False, "GeluKernelImpl", approximate=approximate)


def silu(input, inplace=False):
    """``x * sigmoid(x)``."""
    return _run("silu", input, inplace, "silu_cpu")


def mish(input, inplace=False):
    """``x * tanh(softplus(x))``."""
    return _run("mish", input, inplace, "mish_cpu")


def hardsigmoid(input, inplace=False):
    """``0`` below -3, ``1`` above 3, ``x / 6 + 1/2`` between."""
    return _run("hardsigmoid", input, inplace, "hardsigmoid_cpu")


def hardswish(input, inplace=False):
    """``x * hardsigmoid(x)``."""
    return _run("hardswish", input, inplace, "hardswish_cpu")


def hardshrink(input, lambd=0.5):
    """0 where ``|x| <= lambd``, else ``x``."""
    return _run("hardshrink", input, False, "hardshrink_cpu", lambd=float(lambd))


def softshrink(input, lambd=0.5):
    """0 where ``|x| <= lambd``, else ``x - lambd * sign(x)``."""
    if lambd < 0:
        raise RuntimeError(f"lambda must be in range [0, inf) for softshrink, but found {lambd}")
    return _run("softshrink", input, False, "softshrink_cpu", lambd=float(lambd))


def softplus(input, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta * x)) / beta``, linear where ``beta * x > threshold``."""
    return _run("softplus", input, False, "softplus_cpu", beta=float(beta), threshold=float(threshold))


def logsigmoid(input):
    """``log(sigmoid(x))``, computed stably."""
    return _run("log_sigmoid", input, False, "log_sigmoid_cpu")


def _float_result(name, input):
    input = as_tensor_arg(input)
    dt = input._data.dtype
    return apply_op(OPS[name], (("dtype", dt if _is_float(dt) else D.get_default_dtype().np),), input)


def softsign(input):
    """``x / (1 + |x|)``."""
    return _float_result("softsign", input)


def tanhshrink(input):
    """``x - tanh(x)``."""
    return _float_result("tanhshrink", input)


def sigmoid(input):
    """``1 / (1 + exp(-x))``."""
    return input.sigmoid()


def tanh(input):
    return input.tanh()


# --------------------------------------------------------------------------------- softmaxes
def _get_softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. "
        "Change the call to include dim=X as an argument.",
        stacklevel=stacklevel,
    )
    return 0 if ndim in (0, 1, 3) else 1


def _softmax(name, input, dim, dtype, negate=False):
    input = as_tensor_arg(input)
    dt = np_dtype(dtype) or input._data.dtype
    if not _is_float(dt):
        raise NotImplementedError(f'"{name}_lastdim_kernel_impl" not implemented for \'{_short(dt)}\'')
    static = (("dim", _wrap_dim(int(dim), input.ndim)), ("dtype", dt))
    if negate:
        static += (("negate", True),)
    return apply_op(OPS[name], static, input)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """``exp(x) / sum(exp(x))`` along ``dim``; ``dtype`` casts the input first."""
    if dim is None:
        dim = _get_softmax_dim("softmax", as_tensor_arg(input).ndim, _stacklevel)
    return _softmax("softmax", input, dim, dtype)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """``softmax(-x)`` along ``dim``."""
    if dim is None:
        dim = _get_softmax_dim("softmin", as_tensor_arg(input).ndim, _stacklevel)
    return _softmax("softmax", input, dim, dtype, negate=True)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """``log(softmax(x))`` along ``dim``, computed stably."""
    if dim is None:
        dim = _get_softmax_dim("log_softmax", as_tensor_arg(input).ndim, _stacklevel)
    return _softmax("log_softmax", input, dim, dtype)


def gumbel_softmax(logits, tau=1, hard=False, eps=1e-10, dim=-1):
    """Sample from the Gumbel-softmax distribution; ``hard`` gives one-hot with soft gradients."""
    from ..._functions.creation import empty_like

    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
    gumbels = -empty_like(logits).exponential_().log()
    y_soft = softmax((logits + gumbels) / tau, dim)
    if not hard:
        return y_soft
    index = y_soft.max(dim, keepdim=True)[1]
    y_hard = empty_like(logits).zero_().scatter_(dim, index, 1.0)
    return y_hard - y_soft.detach() + y_soft


def glu(input, dim=-1):
    """Gated linear unit: halves ``a, b`` of ``input`` along ``dim``; ``a * sigmoid(b)``."""
    input = as_tensor_arg(input)
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    d = _wrap_dim(int(dim), input.ndim)
    if input.shape[d] % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {d} is size {input.shape[d]}")
    return _run("glu", input, False, "glu_cpu", dim=d)


# ------------------------------------------------- Tensor methods and torchish.* functions
# PyTorch code calls these on tensors (x.relu(), x.softmax(-1)) and as torch.softmax(x, dim).
def _tensor_softmax(input, dim, dtype=None):
    return _softmax("softmax", input, dim, dtype)


def _tensor_log_softmax(input, dim, dtype=None):
    return _softmax("log_softmax", input, dim, dtype)


for _name, _fn in {"relu": relu, "relu_": relu_, "softmax": _tensor_softmax, "log_softmax": _tensor_log_softmax,
                   "hardshrink": hardshrink, "prelu": prelu}.items():
    if not hasattr(Tensor, _name):
        setattr(Tensor, _name, _fn)
