"""Gradient clipping, as ``torch.nn.utils.clip_grad``: one fused op over all gradients."""

from __future__ import annotations

import functools
import types
import warnings

from ..._autograd.grad_mode import no_grad
from ..._ops import OPS
from ..._tensor import Tensor, apply_op, wrap

__all__ = ["clip_grad_norm", "clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_"]

_NONFINITE = ("The total norm of order {} for gradients from `parameters` is non-finite, so it cannot be clipped. "
              "To disable this error and scale the gradients by the non-finite norm anyway, set "
              "`error_if_nonfinite=False`")


def _no_grad(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with no_grad():
            return func(*args, **kwargs)

    return wrapper


def _as_list(tensors):
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _check_finite(total: Tensor, norm_type: float) -> None:
    if not bool(total.isfinite()):
        raise RuntimeError(_NONFINITE.format(norm_type))


def _store(grads, new) -> None:
    # NOTE: like PyTorch's in-place ``mul_``/``clamp_``: the same grad boxes get the new values.
    for g, n in zip(grads, new):
        g.data = n


@_no_grad
def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """The ``norm_type``-norm of all ``tensors`` viewed as one vector (norm of the per-tensor norms)."""
    tensors = _as_list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return wrap(__import__("jax.numpy").numpy.asarray(0.0, "float32"))
    total = apply_op(OPS["grad_total_norm"], (("norm_type", norm_type),), *tensors)
    if error_if_nonfinite:
        _check_finite(total, norm_type)
    return total


@_no_grad
def clip_grads_with_norm_(parameters, max_norm: float, total_norm: Tensor, foreach=None) -> None:
    """Scale the gradients of ``parameters`` by ``min(1, max_norm / (total_norm + 1e-6))`` in place."""
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return
    _store(grads, apply_op(OPS["clip_grads_with_norm"], (), float(max_norm), total_norm, *grads))


@_no_grad
def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None) -> Tensor:
    """Clip the gradients of ``parameters`` so their total ``norm_type``-norm is at most ``max_norm``.

    Gradients are scaled in place by ``min(1, max_norm / (total_norm + 1e-6))``; returns the total
    norm (before clipping).  The whole computation is one fused op.  ``foreach`` is accepted and ignored.
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)
        if is_generator and not parameters:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.", stacklevel=3)
    grads = [p.grad for p in parameters if p.grad is not None]
    norm_type = float(norm_type)
    if not grads:
        return wrap(__import__("jax.numpy").numpy.asarray(0.0, "float32"))
    total, *new = apply_op(OPS["clip_grad_norm"], (("norm_type", norm_type),), float(max_norm), *grads)
    if error_if_nonfinite:
        _check_finite(total, norm_type)  # before touching the grads, as PyTorch
    _store(grads, new)
    return total


def clip_grad_norm(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach=None) -> Tensor:
    """Deprecated alias of ``clip_grad_norm_``."""
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of `torch.nn.utils.clip_grad_norm_`.",
                  FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


@_no_grad
def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient of ``parameters`` to ``[-clip_value, clip_value]`` in place (one fused op)."""
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return
    _store(grads, apply_op(OPS["clip_grad_value"], (), float(clip_value), *grads))
