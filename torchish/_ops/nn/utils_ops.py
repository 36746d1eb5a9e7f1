"""Ops behind ``nn.init`` and ``nn.utils``: initializers that need more than one fill, and the
fused gradient-norm clipping (one program over all gradients, not a Python loop of ops)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._registry import op, opmath


# ----------------------------------------------------------------------------- init
@op(differentiable=False)
def init_trunc_normal(key, mean, std, a, b, *, shape, dtype):
    """Normal(mean, std) truncated to [a, b] (inverse-CDF sampling; exact in distribution)."""
    ct = opmath(dtype)
    mean, std = jnp.asarray(mean, ct), jnp.asarray(std, ct)
    lo, hi = (jnp.asarray(a, ct) - mean) / std, (jnp.asarray(b, ct) - mean) / std
    z = jax.random.truncated_normal(key, lo, hi, shape, ct)
    return jnp.clip(mean + std * z, jnp.asarray(a, ct), jnp.asarray(b, ct)).astype(dtype)


@op(differentiable=False)
def init_orthogonal(key, gain, *, shape, dtype):
    """A (semi-)orthogonal matrix from the QR of a normal matrix, as ``torch.nn.init.orthogonal_``."""
    ct = opmath(dtype)
    rows = shape[0]
    cols = 1
    for s in shape[1:]:
        cols *= s
    flat = jax.random.normal(key, (rows, cols), ct)
    if rows < cols:
        flat = flat.T
    q, r = jnp.linalg.qr(flat)
    q = q * jnp.sign(jnp.diagonal(r))  # makes Q uniform (Haar) over orthogonal matrices
    if rows < cols:
        q = q.T
    return (q.reshape(shape) * jnp.asarray(gain, ct)).astype(dtype)


@op(differentiable=False)
def init_sparse(key, std, *, shape, dtype, num_zeros):
    """Normal(0, std) with ``num_zeros`` random rows of every column set to zero."""
    rows, cols = shape
    k1, k2 = jax.random.split(key)
    ct = opmath(dtype)
    vals = jax.random.normal(k1, shape, ct) * jnp.asarray(std, ct)
    # rank of a random key per column = a random permutation of the rows, one per column
    ranks = jnp.argsort(jnp.argsort(jax.random.uniform(k2, shape), axis=0), axis=0)
    return jnp.where(ranks < num_zeros, 0, vals).astype(dtype)


# ----------------------------------------------------------------------------- grad clipping
def _vector_norm(x, p):
    x = jnp.abs(x.astype(opmath(x.dtype)))
    if p == float("inf"):
        return jnp.max(x, initial=0.0)
    if p == float("-inf"):
        return jnp.min(x)
    if p == 0:
        return jnp.sum(x != 0).astype(x.dtype)
    if p == 1:
        return jnp.sum(x)
    if p == 2:
        return jnp.sqrt(jnp.sum(x * x))
    return jnp.sum(x ** p) ** (1.0 / p)


def _total_norm(tensors, p):
    # NOTE: as torch.nn.utils.get_total_norm: the norm of each tensor (rounded to its dtype),
    # then the norm of the stacked per-tensor norms (in their promoted dtype).
    norms = [_vector_norm(t, p).astype(t.dtype) for t in tensors]
    dt = jnp.result_type(*norms)
    stacked = jnp.stack([n.astype(dt) for n in norms])
    return _vector_norm(stacked, p).astype(dt)


def _scale(grads, max_norm, total):
    coef = jnp.minimum(jnp.asarray(max_norm, total.dtype) / (total + 1e-6), 1.0).astype(total.dtype)
    out = []
    for g in grads:
        ct = opmath(g.dtype)
        out.append((g.astype(ct) * coef.astype(g.dtype).astype(ct)).astype(g.dtype))
    return tuple(out)


@op(differentiable=False)
def grad_total_norm(*tensors, norm_type):
    """The ``norm_type``-norm of all ``tensors`` together (``torch.nn.utils.get_total_norm``)."""
    return _total_norm(tensors, norm_type)


@op(differentiable=False)
def clip_grads_with_norm(max_norm, total_norm, *grads):
    """Every grad scaled by ``min(1, max_norm / (total_norm + 1e-6))``."""
    return _scale(grads, max_norm, total_norm)


@op(differentiable=False)
def clip_grad_norm(max_norm, *grads, norm_type):
    """``(total_norm, *clipped_grads)``: ``clip_grad_norm_`` as one program."""
    total = _total_norm(grads, norm_type)
    return (total,) + _scale(grads, max_norm, total)


@op(differentiable=False)
def clip_grad_value(clip_value, *grads):
    """Every grad clamped to ``[-clip_value, clip_value]``."""
    return tuple(jnp.clip(g, -jnp.asarray(clip_value, g.dtype), jnp.asarray(clip_value, g.dtype)) for g in grads)
