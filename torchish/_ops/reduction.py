"""Reductions, scans, sorting.  ``dims`` is a tuple of non-negative axes or None (all axes)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._registry import op, opmath


@op()
def sum(x, *, dims, keepdim, dtype):
    return jnp.sum(x.astype(dtype), axis=dims, keepdims=keepdim)


@op()
def mean(x, *, dims, keepdim, dtype):
    ct = opmath(dtype)
    return jnp.mean(x.astype(ct), axis=dims, keepdims=keepdim).astype(dtype)


@op()
def prod(x, *, dims, keepdim, dtype):
    return jnp.prod(x.astype(dtype), axis=dims, keepdims=keepdim)


@op()
def nansum(x, *, dims, keepdim, dtype):
    return jnp.nansum(x.astype(dtype), axis=dims, keepdims=keepdim)


@op()
def nanmean(x, *, dims, keepdim, dtype):
    ct = opmath(dtype)
    return jnp.nanmean(x.astype(ct), axis=dims, keepdims=keepdim).astype(dtype)


@op()
def amax(x, *, dims, keepdim):
    return jnp.max(x, axis=dims, keepdims=keepdim)


@op()
def amin(x, *, dims, keepdim):
    return jnp.min(x, axis=dims, keepdims=keepdim)


def _arg_first(x, dim, keepdim, largest):
    # NOTE: PyTorch returns the index of the first extreme value; NaN counts as the extreme.
    return (jnp.argmax if largest else jnp.argmin)(x, axis=dim, keepdims=keepdim).astype(jnp.int64)


@op()
def max_dim(x, *, dim, keepdim):
    """(values, indices) of the maximum along ``dim``."""
    return jnp.max(x, axis=dim, keepdims=keepdim), _arg_first(x, dim, keepdim, True)


@op()
def min_dim(x, *, dim, keepdim):
    return jnp.min(x, axis=dim, keepdims=keepdim), _arg_first(x, dim, keepdim, False)


@op(differentiable=False)
def argmax(x, *, dim, keepdim):
    if dim is None:
        r = jnp.argmax(x.reshape(-1))
        return (r.reshape((1,) * x.ndim) if keepdim else r).astype(jnp.int64)
    return _arg_first(x, dim, keepdim, True)


@op(differentiable=False)
def argmin(x, *, dim, keepdim):
    if dim is None:
        r = jnp.argmin(x.reshape(-1))
        return (r.reshape((1,) * x.ndim) if keepdim else r).astype(jnp.int64)
    return _arg_first(x, dim, keepdim, False)


@op()
def var(x, *, dims, correction, keepdim, dtype):
    ct = opmath(dtype)
    return jnp.var(x.astype(ct), axis=dims, ddof=correction, keepdims=keepdim).astype(dtype)


@op()
def std(x, *, dims, correction, keepdim, dtype):
    ct = opmath(dtype)
    return jnp.std(x.astype(ct), axis=dims, ddof=correction, keepdims=keepdim).astype(dtype)


@op()
def var_mean(x, *, dims, correction, keepdim, dtype):
    ct = opmath(dtype)
    xc = x.astype(ct)
    return (jnp.var(xc, axis=dims, ddof=correction, keepdims=keepdim).astype(dtype),
            jnp.mean(xc, axis=dims, keepdims=keepdim).astype(dtype))


@op()
def std_mean(x, *, dims, correction, keepdim, dtype):
    ct = opmath(dtype)
    xc = x.astype(ct)
    return (jnp.std(xc, axis=dims, ddof=correction, keepdims=keepdim).astype(dtype),
            jnp.mean(xc, axis=dims, keepdims=keepdim).astype(dtype))


@op()
def vector_norm(x, *, ord, dims, keepdim, dtype):
    """``torch.linalg.vector_norm``: (sum |x|^ord)^(1/ord), with inf/-inf/0 as max/min/count."""
    ct = opmath(dtype)
    a = jnp.abs(x.astype(ct))
    if ord == float("inf"):
        r = jnp.max(a, axis=dims, keepdims=keepdim)
    elif ord == float("-inf"):
        r = jnp.min(a, axis=dims, keepdims=keepdim)
    elif ord == 0:
        r = jnp.sum((a != 0).astype(ct), axis=dims, keepdims=keepdim)
    elif ord == 2:
        # NOTE: the safe-sqrt form keeps the gradient at 0 finite (PyTorch gives 0 there).
        s = jnp.sum(a * a, axis=dims, keepdims=keepdim)
        pos = s > 0
        r = jnp.where(pos, jnp.sqrt(jnp.where(pos, s, 1)), 0)
    elif ord == 1:
        r = jnp.sum(a, axis=dims, keepdims=keepdim)
    else:
        s = jnp.sum(a ** ord, axis=dims, keepdims=keepdim)
        pos = s > 0
        r = jnp.where(pos, jnp.where(pos, s, 1) ** (1.0 / ord), 0)
    return r.astype(dtype)


@op()
def logsumexp(x, *, dims, keepdim, dtype):
    ct = opmath(dtype)
    return jax.nn.logsumexp(x.astype(ct), axis=dims, keepdims=keepdim).astype(dtype)


@op()
def cumsum(x, *, dim, dtype):
    return jnp.cumsum(x.astype(dtype), axis=dim)


@op()
def cumprod(x, *, dim, dtype):
    return jnp.cumprod(x.astype(dtype), axis=dim)


@op()
def cummax(x, *, dim):
    # NOTE: values are gathered at the indices so the gradient goes to the element PyTorch picks.
    idx = _cum_index(x, jax.lax.cummax(x, axis=dim), dim)
    return jnp.take_along_axis(x, idx, axis=dim), idx


@op()
def cummin(x, *, dim):
    idx = _cum_index(x, jax.lax.cummin(x, axis=dim), dim)
    return jnp.take_along_axis(x, idx, axis=dim), idx


def _cum_index(x, vals, dim):
    # index of the last position where the running extreme was attained (PyTorch's choice)
    n = x.shape[dim]
    shape = [1] * x.ndim
    shape[dim] = n
    pos = jnp.arange(n, dtype=jnp.int64).reshape(shape)
    hit = jnp.where(x == vals, pos, -1)
    return jax.lax.cummax(hit, axis=dim)


@op()
def logcumsumexp(x, *, dim):
    return jax.lax.cumlogsumexp(x, axis=dim)


@op(differentiable=False)
def all(x, *, dims, keepdim):
    return jnp.all(x, axis=dims, keepdims=keepdim)


@op(differentiable=False)
def any(x, *, dims, keepdim):
    return jnp.any(x, axis=dims, keepdims=keepdim)


@op(differentiable=False)
def count_nonzero(x, *, dims):
    return jnp.count_nonzero(x, axis=dims).astype(jnp.int64)


@op()
def sort(x, *, dim, descending, stable):
    """(values, indices); descending order keeps equal elements in input order when stable."""
    idx = jnp.argsort(x, axis=dim, stable=True, descending=descending)
    return jnp.take_along_axis(x, idx, axis=dim), idx.astype(jnp.int64)


@op()
def topk(x, *, k, dim, largest, sorted):
    xm = jnp.moveaxis(x, dim, -1)
    if largest:
        v, i = jax.lax.top_k(xm, k)
    else:
        v, i = jax.lax.top_k(-xm, k)
        v = -v
    return jnp.moveaxis(v, -1, dim), jnp.moveaxis(i.astype(jnp.int64), -1, dim)


@op()
def kthvalue(x, *, k, dim, keepdim):
    idx = jnp.argsort(x, axis=dim, stable=True)
    i = jnp.take(idx, jnp.array([k - 1]), axis=dim)
    v = jnp.take_along_axis(x, i, axis=dim)
    if not keepdim:
        v, i = jnp.squeeze(v, dim), jnp.squeeze(i, dim)
    return v, i.astype(jnp.int64)


@op()
def median_dim(x, *, dim, keepdim):
    """The lower median and its index along ``dim`` (PyTorch does not average the middle pair)."""
    n = x.shape[dim]
    idx = jnp.argsort(x, axis=dim, stable=True)
    i = jnp.take(idx, jnp.array([(n - 1) // 2]), axis=dim)
    v = jnp.take_along_axis(x, i, axis=dim)
    if not keepdim:
        v, i = jnp.squeeze(v, dim), jnp.squeeze(i, dim)
    return v, i.astype(jnp.int64)


@op()
def median_all(x):
    flat = jnp.sort(x.reshape(-1))
    return flat[(flat.shape[0] - 1) // 2]


@op()
def nanmedian_all(x):
    flat = jnp.sort(x.reshape(-1))  # NaNs sort last
    n = jnp.sum(~jnp.isnan(flat))
    return flat[jnp.maximum((n - 1) // 2, 0)]


@op()
def quantile(x, q, *, dim, keepdim, interpolation):
    return jnp.quantile(x, q, axis=dim, keepdims=keepdim, method=interpolation).astype(x.dtype)


@op()
def mode(x, *, dim, keepdim):
    """Most frequent value along ``dim`` (smallest on ties) and the index of its last occurrence."""
    xm = jnp.moveaxis(x, dim, -1)
    eq = xm[..., :, None] == xm[..., None, :]
    counts = eq.sum(-1)
    best = counts.max(-1, keepdims=True)
    cand = jnp.where(counts == best, xm, jnp.inf if jnp.issubdtype(x.dtype, jnp.floating) else jnp.iinfo(x.dtype).max)
    v = cand.min(-1)
    n = xm.shape[-1]
    pos = jnp.where(xm == v[..., None], jnp.arange(n), -1).max(-1).astype(jnp.int64)
    if keepdim:
        v, pos = jnp.expand_dims(v, -1), jnp.expand_dims(pos, -1)
        return jnp.moveaxis(v, -1, dim), jnp.moveaxis(pos, -1, dim)
    return v, pos


@op()
def aminmax(x, *, dims, keepdim):
    return jnp.min(x, axis=dims, keepdims=keepdim), jnp.max(x, axis=dims, keepdims=keepdim)


@op()
def diff(x, *, n, dim):
    return jnp.diff(x, n=n, axis=dim)
