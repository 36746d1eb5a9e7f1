"""Indexing, gather/scatter and masking.

Index expressions are split by the caller into a static *template* and dynamic index arrays:
the template is a tuple whose items are ``('i', n)`` (an int), ``('s', start, stop, step)``,
``None`` (new axis), ``...`` or ``('t',)`` (the next dynamic index array, in order).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._registry import op


def build_index(template, arrays):
    it = iter(arrays)
    out = []
    for t in template:
        if t is None or t is Ellipsis:
            out.append(t)
        elif t[0] == "i":
            out.append(t[1])
        elif t[0] == "s":
            out.append(slice(t[1], t[2], t[3]))
        else:
            out.append(next(it))
    return tuple(out)


@op()
def getitem(x, *idx, template):
    return x[build_index(template, idx)]


@op()
def setitem(x, v, *idx, template):
    """``x[index] = v`` as a new array (``v`` broadcast and cast to ``x``'s dtype)."""
    return x.at[build_index(template, idx)].set(jnp.asarray(v).astype(x.dtype))


@op()
def index_put(x, v, *idx, accumulate):
    """``x.index_put_(indices, v, accumulate)``: indices are full advanced-index arrays."""
    v = jnp.asarray(v).astype(x.dtype)
    return x.at[idx].add(v) if accumulate else x.at[idx].set(v)


@op()
def masked_fill(x, mask, value, *, dtype):
    return jnp.where(mask, jnp.asarray(value).astype(dtype), x.astype(dtype))


def _grid(index, dim):
    # full index tuple for torch's gather/scatter: index along `dim`, iota elsewhere
    idx = []
    for d in range(index.ndim):
        if d == dim:
            idx.append(index)
        else:
            shape = [1] * index.ndim
            shape[d] = index.shape[d]
            idx.append(jnp.arange(index.shape[d]).reshape(shape))
    return tuple(idx)


@op()
def gather(x, index, *, dim):
    return x[_grid(index, dim)]


@op()
def scatter(x, index, src, *, dim, reduce):
    src = jnp.broadcast_to(jnp.asarray(src).astype(x.dtype), index.shape) if jnp.ndim(src) == 0 else src[tuple(slice(0, s) for s in index.shape)].astype(x.dtype)
    at = x.at[_grid(index, dim)]
    if reduce is None:
        return at.set(src)
    if reduce in ("add", "sum"):
        return at.add(src)
    if reduce in ("multiply", "prod"):
        return at.multiply(src)
    if reduce == "amax":
        return at.max(src)
    if reduce == "amin":
        return at.min(src)
    raise ValueError(f"unknown reduce {reduce!r}")


@op()
def scatter_reduce_incl(x, index, src, *, dim, reduce):
    """scatter_reduce with include_self=False semantics for 'mean' and the others."""
    src = src[tuple(slice(0, s) for s in index.shape)].astype(x.dtype)
    grid = _grid(index, dim)
    if reduce == "mean":
        total = jnp.zeros_like(x).at[grid].add(src)
        cnt = jnp.zeros(x.shape, x.dtype).at[grid].add(1)
        return jnp.where(cnt > 0, total / jnp.maximum(cnt, 1), x).astype(x.dtype)
    hit = jnp.zeros(x.shape, bool).at[grid].set(True)
    init = {"sum": 0, "prod": 1, "amax": -jnp.inf, "amin": jnp.inf}[reduce]
    if not jnp.issubdtype(x.dtype, jnp.floating) and reduce in ("amax", "amin"):
        info = jnp.iinfo(x.dtype)
        init = info.min if reduce == "amax" else info.max
    base = jnp.full(x.shape, init, x.dtype)
    at = base.at[grid]
    r = {"sum": at.add, "prod": at.multiply, "amax": at.max, "amin": at.min}[reduce](src)
    return jnp.where(hit, r, x)


@op()
def scatter_mean_incl_self(x, index, src, *, dim):
    src = src[tuple(slice(0, s) for s in index.shape)].astype(x.dtype)
    grid = _grid(index, dim)
    total = x.at[grid].add(src)
    cnt = jnp.ones(x.shape, x.dtype).at[grid].add(1)
    if jnp.issubdtype(x.dtype, jnp.integer):
        return jnp.floor_divide(total, cnt)
    return total / cnt


@op()
def index_select(x, index, *, dim):
    return jnp.take(x, index, axis=dim)


@op()
def index_add(x, index, src, alpha, *, dim):
    idx = (slice(None),) * dim + (index,)
    return x.at[idx].add((jnp.asarray(alpha) * src).astype(x.dtype))


@op()
def index_copy(x, index, src, *, dim):
    idx = (slice(None),) * dim + (index,)
    return x.at[idx].set(src.astype(x.dtype))


@op()
def index_fill(x, index, value, *, dim):
    idx = (slice(None),) * dim + (index,)
    return x.at[idx].set(jnp.asarray(value).astype(x.dtype))


@op()
def take(x, index):
    return jnp.take(x.reshape(-1), index)


@op()
def take_along_dim(x, index, *, dim):
    if dim is None:
        return jnp.take(x.reshape(-1), index.reshape(-1))
    shape = jnp.broadcast_shapes(
        tuple(s for i, s in enumerate(x.shape) if i != dim), tuple(s for i, s in enumerate(index.shape) if i != dim)
    )
    xs = list(shape)
    xs.insert(dim, x.shape[dim])
    ishape = list(shape)
    ishape.insert(dim, index.shape[dim])
    return jnp.take_along_axis(jnp.broadcast_to(x, xs), jnp.broadcast_to(index, ishape), axis=dim)


# ------------------------------------------------------------------ data-dependent shapes (eager)


@op(jit=False, differentiable=False)
def nonzero(x):
    """Indices of non-zero elements, shape (n, ndim); needs concrete values."""
    return jnp.stack(jnp.nonzero(np.asarray(x)), axis=-1).astype(jnp.int64).reshape(-1, x.ndim)


@op(jit=False)
def masked_select(x, mask):
    m = np.broadcast_to(np.asarray(mask), jnp.broadcast_shapes(x.shape, mask.shape))
    return jnp.broadcast_to(x, m.shape)[np.nonzero(m)]


@op(jit=False, differentiable=False)
def unique(x, *, sorted, return_inverse, return_counts, dim):
    xv = np.asarray(x)
    vals, inv, cnt = np.unique(xv, return_inverse=True, return_counts=True, axis=dim)
    out = [jnp.asarray(vals)]
    if return_inverse:
        out.append(jnp.asarray(inv.reshape(xv.shape if dim is None else (xv.shape[dim],)), dtype=jnp.int64))
    if return_counts:
        out.append(jnp.asarray(cnt, dtype=jnp.int64))
    return tuple(out)


@op(jit=False, differentiable=False)
def unique_consecutive(x, *, return_inverse, return_counts, dim):
    xv = np.asarray(x)
    if dim is None:
        flat = xv.reshape(-1)
        if flat.size == 0:
            keep = np.zeros(0, bool)
        else:
            keep = np.concatenate([[True], flat[1:] != flat[:-1]])
        vals = flat[keep]
        inv = np.cumsum(keep) - 1
        cnt = np.diff(np.append(np.nonzero(keep)[0], flat.size))
        inv = inv.reshape(xv.shape)
    else:
        m = np.moveaxis(xv, dim, 0)
        keep = np.concatenate([[True], np.any((m[1:] != m[:-1]).reshape(m.shape[0] - 1, -1), axis=1)]) if m.shape[0] else np.zeros(0, bool)
        vals = np.moveaxis(m[keep], 0, dim)
        inv = np.cumsum(keep) - 1
        cnt = np.diff(np.append(np.nonzero(keep)[0], m.shape[0]))
    out = [jnp.asarray(vals)]
    if return_inverse:
        out.append(jnp.asarray(inv, dtype=jnp.int64))
    if return_counts:
        out.append(jnp.asarray(cnt, dtype=jnp.int64))
    return tuple(out)


@op()
def bincount(x, weights, *, minlength, length):
    return jnp.bincount(x, weights, minlength=minlength, length=length)


@op(differentiable=False)
def searchsorted(sorted_seq, values, *, right):
    side = "right" if right else "left"
    if sorted_seq.ndim == 1:
        return jnp.searchsorted(sorted_seq, values, side=side).astype(jnp.int64)
    f = lambda s, v: jnp.searchsorted(s, v, side=side)
    for _ in range(sorted_seq.ndim - 1):
        f = jax.vmap(f)
    return f(sorted_seq, values).astype(jnp.int64)


@op(differentiable=False)
def bucketize(x, boundaries, *, right):
    return jnp.searchsorted(boundaries, x, side="right" if right else "left").astype(jnp.int64)


# ------------------------------------------------------- basic indexing with dynamic offsets
# NOTE: ints and slice starts are *dynamic* arguments (only sizes are static), so x[i] for
# every i in a loop reuses one compiled program instead of compiling one per index.


def _strided(y, steps):
    if any(s != 1 for s in steps):
        y = y[tuple(slice(None, None, s) for s in steps)]
    return y


@op()
def basic_getitem(x, *starts, sizes, steps, out_shape):
    """``x[ints, slices, None, ...]``: a dynamic slice, a static stride, a reshape."""
    y = jax.lax.dynamic_slice(x, [jnp.asarray(s, jnp.int64) for s in starts], sizes) if x.ndim else x
    return jnp.reshape(_strided(y, steps), out_shape)


@op()
def basic_setitem(x, v, *starts, sizes, steps, out_shape):
    """``x[ints, slices, None, ...] = v`` as a new array."""
    if not x.ndim:
        return jnp.broadcast_to(jnp.asarray(v), out_shape).reshape(()).astype(x.dtype)
    region = tuple(-(-n // s) if n else 0 for n, s in zip(sizes, steps))
    v = jnp.broadcast_to(jnp.asarray(v).astype(x.dtype), out_shape).reshape(region)
    starts = [jnp.asarray(s, jnp.int64) for s in starts]
    if all(s == 1 for s in steps):
        return jax.lax.dynamic_update_slice(x, v, starts)
    idx = jnp.ix_(*[st + s * jnp.arange(r) for st, s, r in zip(starts, steps, region)])
    return x.at[idx].set(v)
