"""Level-1 ops for distances and normalisation: ``normalize``, ``cosine_similarity``,
``pairwise_distance``, ``pdist``.  Norms use the safe form whose gradient at 0 is 0, as PyTorch's."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._registry import op, opmath
from ..reduction import vector_norm as _vector_norm

_norm = _vector_norm.impl


@jax.custom_jvp
def _clamp_min_passthrough(x, lo):
    return jnp.maximum(x, lo)


@_clamp_min_passthrough.defjvp
def _clamp_jvp(primals, tangents):
    # NOTE: PyTorch clamps the norms in cosine_similarity in place under no_grad, so the
    # gradient flows as if there were no clamp.
    x, lo = primals
    return jnp.maximum(x, lo), tangents[0]


@op()
def normalize(x, *, p, dim, eps):
    """``x / max(||x||_p over dim, eps)``."""
    dtype = x.dtype
    ct = opmath(dtype)
    xc = x.astype(ct)
    n = _norm(xc, ord=p, dims=(dim,), keepdim=True, dtype=ct)
    return (xc / jnp.maximum(n, jnp.asarray(eps, ct))).astype(dtype)


@op()
def cosine_similarity(x1, x2, *, dim, eps, dtype):
    """``sum((x1 / max(||x1||, eps)) * (x2 / max(||x2||, eps)), dim)`` (inputs broadcast first)."""
    ct = opmath(dtype)
    x1, x2 = jnp.broadcast_arrays(x1.astype(ct), x2.astype(ct))
    e = jnp.asarray(eps, ct)
    n1 = _clamp_min_passthrough(_norm(x1, ord=2, dims=(dim,), keepdim=True, dtype=ct), e)
    n2 = _clamp_min_passthrough(_norm(x2, ord=2, dims=(dim,), keepdim=True, dtype=ct), e)
    return jnp.sum((x1 / n1) * (x2 / n2), axis=dim).astype(dtype)


@op()
def pairwise_distance(x1, x2, *, p, eps, keepdim, dtype):
    """``||x1 - x2 + eps||_p`` over the last dim of the broadcast inputs."""
    ct = opmath(dtype)
    d = x1.astype(ct) - x2.astype(ct) + jnp.asarray(eps, ct)
    return _norm(d, ord=p, dims=(d.ndim - 1,), keepdim=keepdim, dtype=ct).astype(dtype)


@op()
def pdist(x, *, p):
    """The p-norm distance between each pair of rows of (N, M), upper triangle in row-major order."""
    n = x.shape[0]
    i, j = np.triu_indices(n, k=1)
    ct = opmath(x.dtype)
    xc = x.astype(ct)
    d = xc[i] - xc[j]
    return _norm(d, ord=p, dims=(1,), keepdim=False, dtype=ct).astype(x.dtype)
