"""Level-1 ops for lookups: ``embedding`` (+ ``embedding_renorm``), ``embedding_bag``, ``one_hot``."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from .._registry import op


def _lookup(w, idx):
    # NOTE: out-of-range indices give NaN rows (PyTorch raises; a check would need a host sync).
    fill = jnp.nan if jnp.issubdtype(w.dtype, jnp.floating) else 0
    return jnp.take(w, idx, axis=0, mode="fill", fill_value=fill)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _embed(w, idx, num, padding_idx, by_freq):
    return _lookup(w, idx)


def _embed_fwd(w, idx, num, padding_idx, by_freq):
    return _lookup(w, idx), idx


def _embed_bwd(num, padding_idx, by_freq, idx, ct):
    flat = idx.reshape(-1)
    g = ct.reshape(flat.shape[0], -1)
    if by_freq:
        counts = jnp.zeros((num,), g.dtype).at[flat].add(1, mode="drop")
        g = g / jnp.take(counts, flat, mode="fill", fill_value=1)[:, None]
    grad = jnp.zeros((num, g.shape[1]), g.dtype).at[flat].add(g, mode="drop")
    if padding_idx is not None:
        grad = grad.at[padding_idx].set(0)  # the padding row gets no gradient
    return grad.reshape((num,) + ct.shape[idx.ndim:]), None


_embed.defvjp(_embed_fwd, _embed_bwd)


@op()
def embedding(weight, indices, *, padding_idx, scale_grad_by_freq):
    """``weight[indices]``; the ``padding_idx`` row gets no gradient; ``scale_grad_by_freq`` divides
    each row's gradient by how often its index occurs in ``indices``."""
    if padding_idx is None and not scale_grad_by_freq:
        # the plain lookup: JAX's own derivative (a scatter-add backward, the same as _embed_bwd),
        # which unlike the custom_vjp also has a forward mode (jvp / jacfwd / hessian)
        return _lookup(weight, indices)
    return _embed(weight, indices, weight.shape[0], padding_idx, scale_grad_by_freq)


@op(differentiable=False)
def embedding_renorm(weight, indices, *, max_norm, norm_type):
    """``weight`` with every row referenced by ``indices`` rescaled to norm at most ``max_norm``."""
    used = jnp.zeros((weight.shape[0],), bool).at[indices.reshape(-1)].set(True, mode="drop")
    wf = weight.astype(jnp.float32) if weight.dtype in (jnp.float16, jnp.bfloat16) else weight
    if norm_type == float("inf"):
        norms = jnp.max(jnp.abs(wf), axis=1)
    else:
        norms = jnp.sum(jnp.abs(wf) ** norm_type, axis=1) ** (1.0 / norm_type)
    scale = jnp.where(used & (norms > max_norm), max_norm / (norms + 1e-7), 1.0)
    return (wf * scale[:, None].astype(wf.dtype)).astype(weight.dtype)


@op()
def embedding_bag(weight, indices, offsets, per_sample_weights, *, mode, num_bags, padding_idx,
                  scale_grad_by_freq):
    """Sum / mean / max of the embeddings of each bag: (B, D).

    Bags are the rows of a 2-D ``indices`` (``offsets`` None) or, for a 1-D ``indices``, the runs
    starting at each ``offsets`` entry.  Entries equal to ``padding_idx`` are left out; empty
    bags give zeros.
    """
    if offsets is None:
        seg = jnp.arange(indices.size) // indices.shape[1]
    else:
        seg = jnp.searchsorted(offsets, jnp.arange(indices.size), side="right") - 1
    flat = indices.reshape(-1)
    rows = _embed(weight, flat, weight.shape[0], None, scale_grad_by_freq)
    valid = jnp.ones(flat.shape, bool) if padding_idx is None else flat != padding_idx
    if per_sample_weights is not None:
        rows = rows * per_sample_weights.reshape(-1, 1).astype(rows.dtype)
    if mode == "max":
        masked = jnp.where(valid[:, None], rows, -jnp.inf)
        out = jax.ops.segment_max(masked, seg, num_segments=num_bags)
        return jnp.where(jnp.isneginf(out), 0, out).astype(weight.dtype)
    out = jax.ops.segment_sum(jnp.where(valid[:, None], rows, 0), seg, num_segments=num_bags)
    if mode == "mean":
        count = jax.ops.segment_sum(valid.astype(out.dtype), seg, num_segments=num_bags)
        out = out / jnp.maximum(count, 1)[:, None]
    return out.astype(weight.dtype)


@op(differentiable=False)
def one_hot(x, *, num_classes):
    """(*,) int64 -> (*, num_classes) int64 with a 1 at each value."""
    return (x[..., None] == jnp.arange(num_classes, dtype=x.dtype)).astype(jnp.int64)
