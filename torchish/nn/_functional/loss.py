"""nn.functional: losses (``torch.nn.functional`` signatures, PyTorch's checks and messages).

Each function validates shapes and dtypes, maps PyTorch's legacy ``size_average``/``reduce``
arguments (with PyTorch's deprecation warning), computes the static arguments and the result
dtype, and calls one fused op from ``_ops/nn/loss.py``: an eager loss is one jitted dispatch.
"""

from __future__ import annotations

import os
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from ... import _dtype as D
from ..._functions._common import as_tensor_arg, promote
from ..._ops import OPS
from ..._tensor import Tensor, _short, apply_op

__all__ = [
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cosine_embedding_loss", "cross_entropy",
    "ctc_loss", "gaussian_nll_loss", "hinge_embedding_loss", "huber_loss", "kl_div", "l1_loss",
    "margin_ranking_loss", "mse_loss", "multi_margin_loss", "multilabel_margin_loss",
    "multilabel_soft_margin_loss", "nll_loss", "poisson_nll_loss", "smooth_l1_loss", "soft_margin_loss",
    "triplet_margin_loss", "triplet_margin_with_distance_loss",
]

_REDUCTIONS = ("none", "mean", "sum")


# ------------------------------------------------------------------------------------- helpers
_PKG = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # .../torchish


def _warn(msg: str) -> None:
    """Warn, attributed to the first caller outside torchish (the user's line)."""
    level, f = 2, sys._getframe(1)
    while f is not None and os.path.abspath(f.f_code.co_filename).startswith(_PKG + os.sep):
        f, level = f.f_back, level + 1
    warnings.warn(msg, UserWarning, stacklevel=level)


def legacy_get_string(size_average, reduce, emit_warning=True) -> str:
    """PyTorch's mapping of the deprecated ``size_average``/``reduce`` flags to ``reduction``."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    ret = ("mean" if size_average else "sum") if reduce else "none"
    if emit_warning:
        _warn(f"size_average and reduce args will be deprecated, please use reduction='{ret}' instead.")
    return ret


def _reduction(reduction, size_average=None, reduce=None) -> str:
    if size_average is not None or reduce is not None:
        return legacy_get_string(size_average, reduce)
    if reduction == "elementwise_mean":
        _warn("reduction='elementwise_mean' is deprecated. Please use reduction='mean' instead.")
        return "mean"
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _np(t):
    return t._data.dtype


def _is_float(d) -> bool:
    return d.kind == "f" or d == D.bfloat16.np


def _float_or_default(d):
    """A float result dtype, or the default float dtype for integer/bool math (exp, log, sqrt)."""
    return d if _is_float(d) else D.get_default_dtype().np


def _promote(*xs):
    return promote(*xs).np


def _tensor(x):
    x = as_tensor_arg(x)
    if not isinstance(x, Tensor):
        raise TypeError(f"expected a Tensor, got {type(x).__name__}")
    return x


def _bshape(*shapes) -> tuple:
    """Broadcast shape, with PyTorch's message for incompatible sizes."""
    out: tuple = ()
    for s in shapes:
        a, b = tuple(out), tuple(s)
        n = max(len(a), len(b))
        a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
        res = []
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y and x != 1 and y != 1:
                raise RuntimeError(
                    f"The size of tensor a ({x}) must match the size of tensor b ({y}) at non-singleton dimension {i}")
            res.append(y if x == 1 else x)
        out = tuple(res)
    return out


def _into(shape, *others):
    """``others`` must broadcast into ``shape`` (PyTorch's in-place kernels require it)."""
    b = _bshape(shape, *others)
    if b != tuple(shape):
        raise RuntimeError(f"output with shape {list(shape)} doesn't match the broadcast shape {list(b)}")


def _require_float_input(x, kernel):
    if not _is_float(_np(x)):
        raise NotImplementedError(f'"{kernel}" not implemented for \'{_short(_np(x))}\'')


def _size_warning(input, target):
    if tuple(target.shape) != tuple(input.shape):
        _warn(f"Using a target size ({target.size()}) that is different to the input size ({input.size()}). "
              "This will likely lead to incorrect results due to broadcasting. Please ensure they have the same size.")


def _is_traced(t) -> bool:
    return isinstance(t._value(), jax.core.Tracer)


# ------------------------------------------------------------------------ classification losses
def _check_class_index(input, target, weight, prefix=""):
    """PyTorch's nll_loss_nd checks; returns the target (a (1,) target of a (C,) input squeezed)."""
    nd = input.ndim
    ts = tuple(target.shape)
    if nd < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {nd})")
    if nd != 1 and input.shape[0] != (ts[0] if ts else 0):
        raise ValueError(
            f"Expected input batch_size ({input.shape[0]}) to match target batch_size ({ts[0] if ts else 0}).")
    if nd <= 2:
        if target.ndim > 1:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        if nd == 1 and target.ndim == 1:
            if ts[0] != 1:
                raise ValueError(f"For 1D input, 1D target must have size 1, but got target size: {ts[0]}")
            target = target.reshape(())
    elif nd == 4:
        if target.ndim != 3:
            raise RuntimeError(
                f"only batches of spatial targets supported (3D tensors) but got targets of dimension: {target.ndim}")
        if ts != (input.shape[0],) + tuple(input.shape[2:]):
            raise RuntimeError(f"size mismatch (got input: {list(input.shape)} , target: {list(ts)}")
    elif ts[1:] != tuple(input.shape[2:]):
        raise RuntimeError(f"Expected target size {[input.shape[0], *input.shape[2:]]}, got {list(ts)}")
    if _np(target) not in (D.int64.np, np.dtype(np.uint8)):
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {_short(_np(target))}")
    _check_class_weight(input, weight, prefix)
    if weight is not None and _np(weight) != _np(input):
        raise RuntimeError(f"expected scalar type {_short(_np(input))} but found {_short(_np(weight))}")
    return target


def _check_class_weight(input, weight, prefix=""):
    if weight is None:
        return
    c = input.shape[0 if input.ndim == 1 else 1]
    if weight.ndim != 1 or weight.numel() != c:
        raise RuntimeError(f"{prefix}weight tensor should be defined either for all {c} classes or no classes but got "
                           f"weight tensor of shape: {list(weight.shape)}")


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """Negative log likelihood of log-probabilities ``input`` (N, C, d1, ...) at class indices.

    'mean' divides by the summed ``weight`` of the non-ignored targets, as PyTorch.
    """
    reduction = _reduction(reduction, size_average, reduce)
    input, target = _tensor(input), _tensor(target)
    weight = None if weight is None else _tensor(weight)
    _require_float_input(input, "nll_loss_out_frame")
    target = _check_class_index(input, target, weight)
    static = (("class_dim", 0 if input.ndim == 1 else 1), ("reduction", reduction),
              ("ignore_index", int(ignore_index)), ("dtype", _np(input)))
    return apply_op(OPS["nll_loss"], static, input, target, weight)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                  label_smoothing=0.0):
    """Cross entropy of logits ``input`` (C), (N, C) or (N, C, d1, ...) and class indices or probabilities.

    A ``target`` with the input's shape holds class probabilities; otherwise class indices
    (int64 or uint8).  Supports class ``weight``, ``ignore_index`` and ``label_smoothing``.
    """
    reduction = _reduction(reduction, size_average, reduce)
    input, target = _tensor(input), _tensor(target)
    weight = None if weight is None else _tensor(weight)
    _require_float_input(input, "log_softmax_lastdim_kernel_impl")
    class_dim = 0 if input.ndim == 1 else 1
    ls = float(label_smoothing)
    if ls > 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    ls = max(ls, 0.0)  # PyTorch ignores a negative label_smoothing
    if tuple(input.shape) == tuple(target.shape):
        if not _is_float(_np(target)):
            raise RuntimeError(
                f"Expected floating point type for target with class probabilities, got {_short(_np(target))}")
        if ignore_index >= 0:
            raise RuntimeError("ignore_index is not supported for floating point target")
        _check_class_weight(input, weight, "cross_entropy: ")
        static = (("class_dim", class_dim), ("reduction", reduction), ("label_smoothing", ls),
                  ("dtype", _promote(input, target, weight)))
        return apply_op(OPS["cross_entropy_probs"], static, input, target, weight)
    target = _check_class_index(input, target, weight)
    static = (("class_dim", class_dim), ("reduction", reduction), ("ignore_index", int(ignore_index)),
              ("label_smoothing", ls), ("dtype", _np(input)))
    return apply_op(OPS["cross_entropy"], static, input, target, weight)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """Binary cross entropy of probabilities ``input``; each log is clamped to >= -100 as PyTorch."""
    reduction = _reduction(reduction, size_average, reduce)
    input, target = _tensor(input), _tensor(target)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Using a target size ({target.size()}) that is different to the input size ({input.size()}) "
            "is deprecated. "
            "Please ensure they have the same size.")
    _require_float_input(input, "binary_cross_entropy")
    if _np(target) != _np(input):
        raise RuntimeError(f"Found dtype {_short(_np(target))} but expected {_short(_np(input))}")
    if weight is not None:
        weight = _tensor(weight)
        _into(input.shape, weight.shape)
    static = (("reduction", reduction), ("dtype", _np(input)))
    return apply_op(OPS["binary_cross_entropy"], static, input, target, weight)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                                     pos_weight=None):
    """Binary cross entropy of logits (numerically stable); ``pos_weight`` weighs positives."""
    reduction = _reduction(reduction, size_average, reduce)
    input, target = _tensor(input), _tensor(target)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({target.size()}) must be the same as input size ({input.size()})")
    _require_float_input(input, "log_sigmoid_cpu")
    td = _np(target)
    if td == np.bool_:
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. "
                           "Use the `^` or `logical_xor()` operator instead.")
    if not _is_float(td):
        raise RuntimeError(f"result type Float can't be cast to the desired output type {_short(td)}")
    weight = None if weight is None else _tensor(weight)
    pos_weight = None if pos_weight is None else _tensor(pos_weight)
    _into(input.shape, *[w.shape for w in (weight, pos_weight) if w is not None])
    # NOTE: PyTorch's kernel writes into a buffer of the target's dtype, so that is the result dtype.
    static = (("reduction", reduction), ("dtype", td))
    return apply_op(OPS["binary_cross_entropy_with_logits"], static, input, target, weight, pos_weight)


# ---------------------------------------------------------------------------- regression losses
def _regression(name, input, target, weight, reduction, kernel, extra=(), same_dtype=False):
    input, target = _tensor(input), _tensor(target)
    _size_warning(input, target)
    _bshape(input.shape, target.shape)
    if weight is not None:
        weight = _tensor(weight)
        if tuple(weight.shape) != tuple(input.shape):
            raise ValueError("Weights and input must have the same size.")
    if same_dtype:  # huber: PyTorch's kernel writes into a buffer of the input's dtype
        dtype = _np(input)
        if not _is_float(dtype):
            raise RuntimeError(f"result type Float can't be cast to the desired output type {_short(dtype)}")
    else:
        dtype = D.promote_types(input.dtype, target.dtype).np
        if weight is not None:
            dtype = D.promote_types(D.from_np(dtype), weight.dtype).np
    if not _is_float(dtype):
        if np.bool_ in (_np(input), _np(target)) and name == "l1_loss":
            raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. "
                               "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.")
        if name != "l1_loss":
            raise RuntimeError(f'"{kernel}" not implemented for \'{_short(dtype)}\'')
        if reduction == "mean":
            raise RuntimeError("mean(): could not infer output dtype. Input dtype must be either a floating point or "
                               f"complex dtype. Got: {_short(dtype)}")
    args = (input, target) if name == "smooth_l1_loss" else (input, target, weight)
    return apply_op(OPS[name], (("reduction", reduction),) + extra + (("dtype", dtype),), *args)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean squared error; with ``weight`` (input's shape), 'mean' is sum(w e) / sum(w)."""
    reduction = _reduction(reduction, size_average, reduce)
    return _regression("mse_loss", input, target, weight, reduction, "mse_cpu")


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean absolute error; with ``weight`` (input's shape), 'mean' is sum(w e) / sum(w)."""
    reduction = _reduction(reduction, size_average, reduce)
    return _regression("l1_loss", input, target, weight, reduction, "l1_loss")


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """Smooth L1: quadratic below ``beta``, linear above (``beta=0`` is the L1 loss)."""
    reduction = _reduction(reduction, size_average, reduce)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    if beta == 0.0:
        return _regression("l1_loss", input, target, None, reduction, "l1_loss")
    return _regression("smooth_l1_loss", input, target, None, reduction, "smooth_l1_cpu", (("beta", float(beta)),))


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """Huber loss: quadratic below ``delta``, ``delta``-scaled linear above."""
    reduction = _reduction(reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    return _regression("huber_loss", input, target, weight, reduction, "huber_cpu", (("delta", float(delta)),),
                       same_dtype=True)


# ------------------------------------------------------------------ distribution-based losses
def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """Pointwise KL divergence of log-probabilities ``input`` from ``target``.

    ``reduction='batchmean'`` divides the sum by the batch size (the mathematical KL); 'mean'
    divides by the number of elements and warns, as PyTorch.
    """
    if size_average is not None or reduce is not None:
        reduction = legacy_get_string(size_average, reduce)
    elif reduction == "mean":
        _warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
              "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
              "'mean' will be changed to behave the same as 'batchmean' in the next major release.")
    elif reduction != "batchmean":
        reduction = _reduction(reduction)
    input, target = _tensor(input), _tensor(target)
    if not (_is_float(_np(input)) and _is_float(_np(target))):
        raise RuntimeError("kl_div: Integral inputs not supported.")
    _bshape(input.shape, target.shape)
    static = (("reduction", reduction), ("log_target", bool(log_target)), ("dtype", _promote(input, target)))
    return apply_op(OPS["kl_div"], static, input, target)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    """Poisson negative log likelihood (``log_input``: the input is log(rate))."""
    reduction = _reduction(reduction, size_average, reduce)
    input, target = _tensor(input), _tensor(target)
    _bshape(input.shape, target.shape)
    static = (("log_input", bool(log_input)), ("full", bool(full)), ("eps", float(eps)), ("reduction", reduction),
              ("dtype", _float_or_default(_promote(input, target))))
    return apply_op(OPS["poisson_nll_loss"], static, input, target)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """Gaussian negative log likelihood with variance ``var`` (a tensor or a float).

    ``var`` may have the input's shape, lack its last dimension, or have size 1 in exactly one
    dimension (PyTorch's homoscedastic rules).  ``var`` is clamped to >= ``eps``.
    """
    input, target = _tensor(input), _tensor(target)
    unsqueeze = False
    if isinstance(var, (int, float)) and not isinstance(var, bool):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = float(var)
        dtype = _promote(input, target)
    else:
        var = _tensor(var)
        if not _is_traced(var) and bool(np.any(np.asarray(var._value()) < 0)):
            raise ValueError("var has negative entry/entries")
        vs, ins = tuple(var.shape), tuple(input.shape)
        if vs != ins:
            if ins[:-1] == vs:
                unsqueeze = True  # homoscedastic over the last dimension
            elif not (len(ins) == len(vs) and sum(y for x, y in zip(ins, vs) if x != y) == 1):
                raise ValueError("var is of incorrect size")
        dtype = _promote(input, target, var)
    if reduction not in _REDUCTIONS:
        raise ValueError(reduction + " is not valid")
    _bshape(input.shape, target.shape)
    static = (("unsqueeze_var", unsqueeze), ("full", bool(full)), ("eps", float(eps)), ("reduction", reduction),
              ("dtype", _float_or_default(dtype)))
    return apply_op(OPS["gaussian_nll_loss"], static, input, target, var)


# ------------------------------------------------------------------------ margin-based losses
def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    """max(0, -target (input1 - input2) + margin)."""
    reduction = _reduction(reduction, size_average, reduce)
    input1, input2, target = _tensor(input1), _tensor(input2), _tensor(target)
    if input1.ndim != input2.ndim or input1.ndim != target.ndim:
        raise RuntimeError(
            f"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
            f"input1: {input1.size()}, input2: {input2.size()}, target: {target.size()} ")
    _bshape(input1.shape, input2.shape, target.shape)
    static = (("margin", float(margin)), ("reduction", reduction),
              ("dtype", _float_or_default(_promote(input1, input2, target))))
    return apply_op(OPS["margin_ranking_loss"], static, input1, input2, target)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    """``input`` where target is 1, max(0, margin - input) where target is -1."""
    reduction = _reduction(reduction, size_average, reduce)
    input, target = _tensor(input), _tensor(target)
    _require_float_input(input, "clamp_min_scalar_cpu")
    _bshape(input.shape, target.shape)
    static = (("margin", float(margin)), ("reduction", reduction), ("dtype", _np(input)))
    return apply_op(OPS["hinge_embedding_loss"], static, input, target)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """log(1 + exp(-target * input)), for targets in {1, -1}."""
    reduction = _reduction(reduction, size_average, reduce)
    input, target = _tensor(input), _tensor(target)
    _require_float_input(input, "soft_margin_loss")
    _into(input.shape, target.shape)
    return apply_op(OPS["soft_margin_loss"], (("reduction", reduction), ("dtype", _np(input))), input, target)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """Multi-label one-versus-all logistic loss, averaged over the C classes of each sample."""
    if size_average is not None or reduce is not None:
        reduction = legacy_get_string(size_average, reduce)
    if reduction not in _REDUCTIONS:
        raise ValueError(reduction + " is not valid")
    input, target = _tensor(input), _tensor(target)
    weight = None if weight is None else _tensor(weight)
    _require_float_input(input, "log_sigmoid_cpu")
    shape = _bshape(input.shape, target.shape, *([weight.shape] if weight is not None else []))
    if len(shape) != input.ndim:
        raise RuntimeError(f"multilabel_soft_margin_loss: target and weight must broadcast to the input's "
                           f"{input.ndim} dimensions, got broadcast shape {list(shape)}")
    static = (("reduction", reduction), ("dtype", _promote(input, target, weight)))
    return apply_op(OPS["multilabel_soft_margin_loss"], static, input, target, weight)


def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    """1 - cos(x1, x2) for target 1, max(0, cos(x1, x2) - margin) for target -1."""
    reduction = _reduction(reduction, size_average, reduce)
    input1, input2, target = _tensor(input1), _tensor(input2), _tensor(target)
    if target.ndim not in (0, 1):
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if target.ndim == 1 and not (input1.ndim == 2 and input2.ndim == 2):
        raise RuntimeError(f"1D target tensor expects 2D input tensors, but found inputs with sizes "
                           f"{list(input1.shape)} and {list(input2.shape)}.")
    if target.ndim == 0 and not (input1.ndim == 1 and input2.ndim == 1):
        raise RuntimeError(f"0D target tensor expects 1D input tensors, but found inputs with sizes "
                           f"{list(input1.shape)} and {list(input2.shape)}.")
    s = _bshape(input1.shape, input2.shape)
    _bshape(s[:-1], target.shape)
    static = (("margin", float(margin)), ("reduction", reduction),
              ("dtype", _float_or_default(_promote(input1, input2))))
    return apply_op(OPS["cosine_embedding_loss"], static, input1, input2, target)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None, reduction="mean"):
    """Multi-class hinge loss: sum over i != y of max(0, margin - x[y] + x[i])^p / C."""
    reduction = _reduction(reduction, size_average, reduce)
    if p != 1 and p != 2:
        raise ValueError("only p == 1 and p == 2 supported")
    input, target = _tensor(input), _tensor(target)
    weight = None if weight is None else _tensor(weight)
    if weight is not None and weight.ndim != 1:
        raise ValueError("weight must be one-dimensional")
    nd = input.ndim
    if not ((nd == 2 and input.shape[1] != 0) or (nd == 1 and input.shape[0] != 0) or nd == 0):
        raise RuntimeError(
            f"Expected non-empty vector or matrix with optional 0-dim batch size, but got: {list(input.shape)}")
    nframe, dim = (input.shape[0], input.shape[1]) if nd == 2 else (1, input.shape[0] if nd else 1)
    if not (target.ndim <= 1 and target.numel() == nframe):
        raise RuntimeError(
            "multi_margin_loss: target tensor should be 1-D with size equal to the number of input samples "
            "(batch size). "
            f"Expected target size [{nframe}], but got {list(target.shape)}. Input has shape {list(input.shape)}.")
    _require_float_input(input, "multi_margin_loss_cpu_kernel")
    if _np(target) != D.int64.np:
        raise RuntimeError(f"expected scalar type Long but found {_short(_np(target))}")
    if weight is not None:
        if weight.numel() != dim:
            raise RuntimeError(f"inconsistent weight size, expected {dim} but got {list(weight.shape)}")
        if _np(weight) != _np(input):
            raise RuntimeError(f"expected scalar type {_short(_np(input))} but found {_short(_np(weight))}")
    static = (("p", int(p)), ("margin", float(margin)), ("reduction", reduction), ("dtype", _np(input)))
    return apply_op(OPS["multi_margin_loss"], static, input, target, weight)


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Multi-label hinge loss; ``target`` holds class indices, ended by the first -1."""
    reduction = _reduction(reduction, size_average, reduce)
    input, target = _tensor(input), _tensor(target)
    nd = input.ndim
    if not ((nd == 2 and input.shape[1] != 0) or (nd == 1 and input.shape[0] != 0) or nd == 0):
        raise RuntimeError(
            f"Expected non-empty vector or matrix with optional 0-dim batch size, but got: {list(input.shape)}")
    if tuple(target.shape) != tuple(input.shape) and not (nd == 0 and target.numel() == 1):
        raise RuntimeError(f"inconsistent target size: {list(target.shape)} for input of size: {list(input.shape)}")
    _require_float_input(input, "multilabel_margin_loss_forward_out_frame")
    if _np(target) != D.int64.np:
        raise RuntimeError(f"expected scalar type Long but found {_short(_np(target))}")
    return apply_op(OPS["multilabel_margin_loss"], (("reduction", reduction), ("dtype", _np(input))), input, target)


def _check_triplet(anchor, positive, negative, margin):
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    a, p, n = anchor.ndim, positive.ndim, negative.ndim
    if not (a == p and p == n):
        raise RuntimeError(
            f"The anchor, positive, and negative tensors are expected to have the same number of dimensions, "
            f"but got: anchor {a}D, positive {p}D, and negative {n}D inputs")


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction="mean"):
    """max(0, margin + ||a - pos + eps||_p - ||a - neg + eps||_p) (``swap``: min with d(pos, neg))."""
    reduction = _reduction(reduction, size_average, reduce)
    anchor, positive, negative = _tensor(anchor), _tensor(positive), _tensor(negative)
    _check_triplet(anchor, positive, negative, margin)
    _bshape(anchor.shape, positive.shape, negative.shape)
    static = (("margin", float(margin)), ("p", float(p)), ("eps", float(eps)), ("swap", bool(swap)),
              ("reduction", reduction), ("dtype", _float_or_default(_promote(anchor, positive, negative))))
    return apply_op(OPS["triplet_margin_loss"], static, anchor, positive, negative)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None, margin=1.0, swap=False,
                                      reduction="mean"):
    """Triplet margin loss with a custom ``distance_function(x1, x2) -> Tensor`` (default: pairwise_distance)."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    _check_triplet(anchor, positive, negative, margin)
    if distance_function is None:  # pairwise_distance(p=2, eps=1e-6): the fused op
        return triplet_margin_loss(anchor, positive, negative, margin=margin, swap=swap, reduction=reduction)
    import torchish

    dist_pos = distance_function(anchor, positive)
    dist_neg = distance_function(anchor, negative)
    if swap:
        dist_neg = torchish.minimum(dist_neg, distance_function(positive, negative))
    loss = torchish.clamp_min(margin + dist_pos - dist_neg, 0)
    if reduction == "sum":
        return torchish.sum(loss)
    if reduction == "mean":
        return torchish.mean(loss)
    return loss


# ------------------------------------------------------------------------------------------ CTC
def _lengths(x, name):
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (jax.Array, np.ndarray)):
        return as_tensor_arg(x)
    if isinstance(x, int):
        return as_tensor_arg(jnp.asarray(x, D.int64.np))
    try:
        return as_tensor_arg(jnp.asarray([int(v) for v in x], D.int64.np))
    except TypeError:
        raise TypeError(f"ctc_loss: {name} must be a Tensor or a sequence of ints, got {type(x).__name__}") from None


_CTC_ARGS = "(while checking arguments for ctc_loss_allocate_outputs)"


def _check_ctc_values(il, tl, t_max, targets, batched, concatenated):
    """PyTorch's value checks on the lengths (eager only: lengths are small host-side arrays)."""
    if _is_traced(il) or _is_traced(tl):
        return
    ilv, tlv = np.asarray(il._value()).reshape(-1), np.asarray(tl._value()).reshape(-1)
    for v in ilv:
        if v > t_max:
            raise RuntimeError(f"Expected input_lengths to have value at most {t_max}, but got value {v} {_CTC_ARGS}")
    for v in tlv:
        if v < 0:
            raise RuntimeError(f"Expected target_lengths to have value at least 0, but got value {v} {_CTC_ARGS}")
    if concatenated:
        if targets.shape[0] != int(tlv.sum()):
            raise RuntimeError(f"Expected tensor to have size {int(tlv.sum())} at dimension 0, but got size "
                               f"{targets.shape[0]} for argument #2 'targets' {_CTC_ARGS}")
    else:
        s = targets.shape[-1] if targets.ndim else 0
        m = int(tlv.max()) if tlv.size else 0
        if s < m:
            raise RuntimeError(f"Expected tensor to have size at least {m} at dimension 1, but got size {s} for "
                               f"argument #2 'targets' {_CTC_ARGS}")


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    """Connectionist temporal classification loss.

    Args:
        log_probs: (T, N, C) or unbatched (T, C) log-probabilities (e.g. from ``log_softmax``).
        targets: padded (N, S) class indices, or all targets concatenated into one 1-D tensor.
        input_lengths, target_lengths: (N,) tensors or sequences of ints (0-d/ints when unbatched).
        reduction: 'mean' divides each loss by its target length, then averages over the batch.
        zero_infinity: zero infinite losses (impossible alignments) and their gradients.

    Gradients match PyTorch's, which are taken as if ``log_probs`` came from ``log_softmax``.
    Concatenated targets are padded inside the program to their total length (a static shape).
    """
    reduction = _reduction(reduction)
    log_probs, targets = _tensor(log_probs), _tensor(targets)
    il, tl = _lengths(input_lengths, "input_lengths"), _lengths(target_lengths, "target_lengths")
    if log_probs.ndim not in (2, 3):
        raise RuntimeError(f"ctc_loss: expected log_probs of shape (T, N, C) or (T, C), got {list(log_probs.shape)}")
    _require_float_input(log_probs, "ctc_loss_cpu")
    batched = log_probs.ndim == 3
    t_max, c = log_probs.shape[0], log_probs.shape[-1]
    if not 0 <= blank < c:
        raise RuntimeError("blank must be in label range")
    n = log_probs.shape[1] if batched else 1
    if batched and il.numel() != n:
        raise RuntimeError("input_lengths must be of size batch_size")
    if batched and tl.numel() != n:
        raise RuntimeError("target_lengths must be of size batch_size")
    concatenated = batched and targets.ndim == 1
    if _is_float(_np(targets)):
        targets = targets.long()
    _check_ctc_values(il, tl, t_max, targets, batched, concatenated)
    static = (("blank", int(blank)), ("reduction", reduction), ("zero_infinity", bool(zero_infinity)),
              ("concatenated", concatenated), ("unbatched", not batched), ("dtype", _np(log_probs)))
    return apply_op(OPS["ctc_loss"], static, log_probs, targets, il, tl)
