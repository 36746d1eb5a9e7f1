"""Normalization ops: batch, instance, layer, group, RMS and local response norm.

Each layer is one fused op.  Statistics are computed in float32 for half inputs (PyTorch's
``opmath``) and the output is rounded to the input's dtype.  Batch and instance norm in
training mode return ``(output, new_running_mean, new_running_var)`` so that the caller stores
the running statistics with a box update (which also works inside ``torchish.compile``);
``momentum`` is a dynamic argument because ``momentum=None`` (cumulative average) changes it
every step.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from .._registry import op, opmath


def _batch_moments(x, axes, axis_name=None):
    """Mean and biased variance of ``x`` over ``axes`` (kept as size-1 dims), and the count.

    NOTE [ Synchronised batch statistics ]
    This is the one place batch/instance statistics are computed.  With ``axis_name`` (a named
    device axis of a data-parallel program, pmap or shard_map) mean and variance are averaged
    over every device on that axis, two-pass (global mean first, then the mean squared deviation
    from it), assuming equal per-device batches; the count then covers all devices, so the
    unbiased running variance uses the global batch size.  ``SyncBatchNorm`` relies on this.
    """
    n = math.prod(x.shape[a] for a in axes)
    mean = jnp.mean(x, axes, keepdims=True)
    if axis_name is not None:
        mean = jax.lax.pmean(mean, axis_name)
    var = jnp.mean(jnp.square(x - mean), axes, keepdims=True)
    if axis_name is not None:
        var = jax.lax.pmean(var, axis_name)
        n = n * jax.lax.psum(1, axis_name)
    return mean, var, n


def _affine(y, weight, bias, shape):
    if weight is not None:
        y = y * weight.astype(y.dtype).reshape(shape)
    if bias is not None:
        y = y + bias.astype(y.dtype).reshape(shape)
    return y


def _update(running, momentum, stat):
    """``(1 - momentum) * running + momentum * stat`` in the running buffer's dtype."""
    stat = jax.lax.stop_gradient(stat)
    m = jnp.asarray(momentum, stat.dtype)
    return ((1 - m) * running.astype(stat.dtype) + m * stat).astype(running.dtype)


@op()
def batch_norm(x, weight, bias, running_mean, running_var, momentum, *, training, eps, axis_name=None):
    """Normalise ``x`` (N, C, *) per channel over the batch and spatial dims.

    ``training``: use batch statistics (and, if running buffers are given, also return their
    updated values, with the *unbiased* batch variance as PyTorch); otherwise use the running
    statistics.  ``axis_name``: average statistics across devices (see ``_batch_moments``).
    """
    ct = opmath(x.dtype)
    xc = x.astype(ct)
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if training:
        mean, var, n = _batch_moments(xc, axes, axis_name)
    else:
        mean, var = running_mean.astype(ct).reshape(shape), running_var.astype(ct).reshape(shape)
    out = _affine((xc - mean) * jax.lax.rsqrt(var + eps), weight, bias, shape).astype(x.dtype)
    if not training or running_mean is None:
        return out
    new_mean = _update(running_mean, momentum, mean.reshape(-1))
    new_var = _update(running_var, momentum, var.reshape(-1) * (n / (n - 1)))
    return out, new_mean, new_var


@op()
def instance_norm(x, weight, bias, running_mean, running_var, momentum, *, use_input_stats, eps):
    """Normalise each (sample, channel) plane of ``x`` (N, C, *) over its spatial dims.

    With running buffers and ``use_input_stats`` also returns their updated values: the batch
    average of the per-instance mean and unbiased variance (PyTorch's update).
    """
    ct = opmath(x.dtype)
    xc = x.astype(ct)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if use_input_stats:
        mean, var, n = _batch_moments(xc, tuple(range(2, x.ndim)))
    else:
        mean, var = running_mean.astype(ct).reshape(shape), running_var.astype(ct).reshape(shape)
    out = _affine((xc - mean) * jax.lax.rsqrt(var + eps), weight, bias, shape).astype(x.dtype)
    if not use_input_stats or running_mean is None:
        return out
    n_c = x.shape[:2]
    new_mean = _update(running_mean, momentum, jnp.mean(mean.reshape(n_c), 0))
    new_var = _update(running_var, momentum, jnp.mean(var.reshape(n_c), 0) * (n / (n - 1)))
    return out, new_mean, new_var


@op()
def layer_norm(x, weight, bias, *, normalized_ndim, eps):
    """Normalise over the last ``normalized_ndim`` dims; elementwise affine of that shape."""
    ct = opmath(x.dtype)
    xc = x.astype(ct)
    mean, var, _ = _batch_moments(xc, tuple(range(x.ndim - normalized_ndim, x.ndim)))
    shape = x.shape[x.ndim - normalized_ndim:]
    return _affine((xc - mean) * jax.lax.rsqrt(var + eps), weight, bias, shape).astype(x.dtype)


@op()
def group_norm(x, weight, bias, *, num_groups, eps):
    """Normalise ``x`` (N, C, *) over each group of ``C // num_groups`` channels and all spatial dims."""
    ct = opmath(x.dtype)
    g = x.astype(ct).reshape(x.shape[0], num_groups, -1)
    mean, var, _ = _batch_moments(g, (2,))
    y = ((g - mean) * jax.lax.rsqrt(var + eps)).reshape(x.shape)
    return _affine(y, weight, bias, (1, -1) + (1,) * (x.ndim - 2)).astype(x.dtype)


@op()
def rms_norm(x, weight, *, normalized_ndim, eps):
    """``x / sqrt(mean(x**2) + eps) * weight`` over the last ``normalized_ndim`` dims.

    ``eps=None`` is the machine epsilon of the compute dtype (float32 for half inputs), as PyTorch.
    """
    ct = opmath(x.dtype)
    xc = x.astype(ct)
    if eps is None:
        eps = float(jnp.finfo(ct).eps)
    axes = tuple(range(x.ndim - normalized_ndim, x.ndim))
    y = xc * jax.lax.rsqrt(jnp.mean(jnp.square(xc), axes, keepdims=True) + eps)
    return _affine(y, weight, None, x.shape[x.ndim - normalized_ndim:]).astype(x.dtype)


@op()
def local_response_norm(x, *, size, alpha, beta, k):
    """``x / (k + alpha * mean of x**2 over a window of `size` neighbouring channels) ** beta``."""
    ct = opmath(x.dtype)
    xc = x.astype(ct)
    pad = [(0, 0)] * x.ndim
    pad[1] = (size // 2, (size - 1) // 2)  # zero padding counts in the average, as avg_pool's default
    sq = jnp.pad(xc * xc, pad)
    c = x.shape[1]
    total = sum(jax.lax.slice_in_dim(sq, j, j + c, axis=1) for j in range(size))  # window sum
    div = (total / size * alpha + k) ** beta
    return (xc / div).astype(x.dtype)
