"""nn.functional: normalization (batch, instance, layer, group, RMS, local response).

Each function validates shapes with PyTorch's messages and calls one fused op from
``_ops/nn/normalization.py``.  In training mode ``batch_norm``/``instance_norm`` update the
given running buffers in place: the op returns their new values and they are stored with a
box update under ``no_grad`` (so the buffers never join the autograd graph, and the update is
ordinary state inside ``torchish.compile``).
"""

from __future__ import annotations

import math

from ..._autograd.grad_mode import no_grad
from ..._functions._common import as_tensor_arg
from ..._ops import OPS
from ..._stateful import PARALLEL
from ..._tensor import apply_op

__all__ = ["batch_norm", "instance_norm", "layer_norm", "group_norm", "rms_norm", "local_response_norm"]


def _store(buffer, new) -> None:
    """Write ``new`` into ``buffer``'s box without recording autograd history."""
    with no_grad():
        buffer._inplace(new)


def _check_channels(c: int, **tensors) -> None:
    for name, t in tensors.items():
        if t is not None and t.numel() != c:
            raise RuntimeError(f"{name} should contain {c} elements not {t.numel()}")


def _verify_batch_size(shape) -> None:
    if shape[0] * math.prod(shape[2:]) == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {shape}")


def _sync_axis_name(process_group=None):
    """The named device axis SyncBatchNorm averages batch statistics over, or None (no sync).

    NOTE: the data-parallel hook.  A data-parallel runner that traces the per-device program
    under a named axis (pmap / shard_map) makes this return that axis name (or passes a
    ``process_group`` with an ``axis_name`` attribute); ``_batch_moments`` in
    ``_ops/nn/normalization.py`` then averages the statistics across devices.
    """
    axis = getattr(process_group, "axis_name", None)
    return axis if axis is not None else PARALLEL.axis


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalise each channel (dim 1) over the batch and spatial dims.

    In training, batch statistics are used and, when given, ``running_mean``/``running_var``
    are updated in place: ``(1 - momentum) * running + momentum * batch_stat``, with the
    unbiased batch variance.  In evaluation the running statistics are used.
    """
    input = as_tensor_arg(input)
    if training:
        _verify_batch_size(input.shape)
    if training and eps <= 0.0:
        raise ValueError(f"batch_norm eps must be positive during training, but got {eps}")
    if eps < 0.0:
        raise ValueError(f"batch_norm eps must be non-negative, but got {eps}")
    return _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps, axis_name=None):
    """``batch_norm`` without argument checks; ``axis_name`` syncs statistics across devices.

    NOTE: ``momentum`` may be a Tensor (BatchNorm's cumulative average, ``1 / num_batches``); it
    is a dynamic input of the op, so changing it never recompiles.
    """
    if not training and (running_mean is None or running_var is None):
        raise RuntimeError("running_mean must be defined in evaluation mode")
    if input.ndim < 2:
        raise ValueError(f"batch_norm expected input with at least 2 dims (N, C, *), got shape {tuple(input.shape)}")
    _check_channels(input.shape[1], running_mean=running_mean, running_var=running_var, weight=weight, bias=bias)
    update = training and running_mean is not None
    static = (("training", bool(training)), ("eps", float(eps)), ("axis_name", axis_name))
    res = apply_op(OPS["batch_norm"], static, input, weight, bias, running_mean, running_var,
                   momentum if update else None)
    if not update:
        return res
    out, new_mean, new_var = res
    _store(running_mean, new_mean)
    _store(running_var, new_var)
    return out


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Normalise each (sample, channel) plane over its spatial dims.

    With ``use_input_stats`` and running buffers, the buffers are updated in place with the
    batch average of the per-instance statistics.
    """
    input = as_tensor_arg(input)
    if use_input_stats and math.prod(input.shape[2:]) == 1:
        raise ValueError(f"Expected more than 1 spatial element when training, got input size {input.shape}")
    if not use_input_stats and (running_mean is None or running_var is None):
        raise RuntimeError("Expected running_mean and running_var to be defined when use_input_stats is false")
    c = input.shape[1]
    _check_channels(c, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias)
    update = use_input_stats and running_mean is not None
    static = (("use_input_stats", bool(use_input_stats)), ("eps", float(eps)))
    res = apply_op(OPS["instance_norm"], static, input, weight, bias, running_mean, running_var,
                   momentum if update else None)
    if not update:
        return res
    out, new_mean, new_var = res
    _store(running_mean, new_mean)
    _store(running_var, new_var)
    return out


def _normalized_shape(input, normalized_shape, sep: str):
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(int(s) for s in normalized_shape)
    if not ns or tuple(input.shape[input.ndim - len(ns):]) != ns or len(ns) > input.ndim:
        raise RuntimeError(
            f"Given normalized_shape={list(ns)}, expected input with shape [*{sep}{', '.join(map(str, ns))}], "
            f"but got input of size{list(input.shape)}"
        )
    return ns


def _check_param(name, t, ns) -> None:
    if t is not None and tuple(t.shape) != ns:
        raise RuntimeError(
            f"Expected {name} to be of same shape as normalized_shape, but got {name} of shape "
            f"{list(t.shape)} and normalized_shape = {list(ns)}"
        )


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing ``normalized_shape`` dims, then ``* weight + bias`` elementwise."""
    input = as_tensor_arg(input)
    ns = _normalized_shape(input, normalized_shape, ", ")
    _check_param("weight", weight, ns)
    _check_param("bias", bias, ns)
    return apply_op(OPS["layer_norm"], (("normalized_ndim", len(ns)), ("eps", float(eps))), input, weight, bias)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """``x / sqrt(mean(x**2) + eps) * weight`` over the trailing ``normalized_shape`` dims.

    ``eps=None`` uses the machine epsilon of the compute dtype (float32 for half inputs).
    """
    input = as_tensor_arg(input)
    ns = _normalized_shape(input, normalized_shape, "")
    _check_param("weight", weight, ns)
    static = (("normalized_ndim", len(ns)), ("eps", None if eps is None else float(eps)))
    return apply_op(OPS["rms_norm"], static, input, weight)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise each group of ``C // num_groups`` channels (with all spatial dims) per sample."""
    input = as_tensor_arg(input)
    if input.ndim < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.ndim}")
    shape = list(input.shape)
    if shape[1] % num_groups:
        raise RuntimeError(
            "Expected number of channels in input to be divisible by num_groups, but got input of shape "
            f"{shape} and num_groups={num_groups}"
        )
    _verify_batch_size([shape[0] * shape[1] // num_groups, num_groups] + shape[2:])
    _check_channels(shape[1], weight=weight, bias=bias)
    return apply_op(OPS["group_norm"], (("num_groups", int(num_groups)), ("eps", float(eps))), input, weight, bias)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Divide each element by ``(k + alpha * mean of squares over `size` neighbouring channels) ** beta``."""
    input = as_tensor_arg(input)
    if input.ndim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {input.ndim} dimensions)")
    if input.numel() == 0:
        return input
    static = (("size", int(size)), ("alpha", float(alpha)), ("beta", float(beta)), ("k", float(k)))
    return apply_op(OPS["local_response_norm"], static, input)


# -------------------------------------------- torchish.* forms (torch.batch_norm's argument order)
def torch_batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn_enabled=True):
    return batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def torch_instance_norm(input, weight, bias, running_mean, running_var, use_input_stats, momentum, eps,
                        cudnn_enabled=True):
    return instance_norm(input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)


def torch_layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
    return layer_norm(input, normalized_shape, weight, bias, eps)


def torch_group_norm(input, num_groups, weight=None, bias=None, eps=1e-5, cudnn_enabled=True):
    return group_norm(input, num_groups, weight, bias, eps)
