"""Shape and layout ops (reshape, permute, cat, ...).  All static arguments are normalised by
the caller (non-negative dims, concrete shapes)."""

from __future__ import annotations

import jax.numpy as jnp

from ._registry import op


@op()
def reshape(x, *, shape):
    return jnp.reshape(x, shape)


@op()
def permute(x, *, dims):
    return jnp.transpose(x, dims)


@op()
def expand(x, *, shape):
    return jnp.broadcast_to(x, shape)


@op()
def cat(*xs, dim, dtype):
    return jnp.concatenate([x.astype(dtype) for x in xs], axis=dim)


@op()
def stack(*xs, dim, dtype):
    return jnp.stack([x.astype(dtype) for x in xs], axis=dim)


@op()
def split(x, *, sizes, dim):
    """Split into pieces of the given sizes along ``dim`` (a tuple of arrays)."""
    out, start = [], 0
    for s in sizes:
        idx = [slice(None)] * x.ndim
        idx[dim] = slice(start, start + s)
        out.append(x[tuple(idx)])
        start += s
    return tuple(out)


@op()
def unbind(x, *, dim):
    return tuple(jnp.moveaxis(x, dim, 0))


@op()
def flip(x, *, dims):
    return jnp.flip(x, dims)


@op()
def roll(x, *, shifts, dims):
    return jnp.roll(x, shifts, dims)


@op()
def tile(x, *, reps):
    return jnp.tile(x, reps)


@op()
def repeat_interleave(x, *, repeats, dim, total):
    return jnp.repeat(x, repeats, axis=dim, total_repeat_length=total)


@op()
def repeat_interleave_tensor(x, repeats, *, dim, total):
    return jnp.repeat(x, repeats, axis=dim, total_repeat_length=total)


@op()
def tril(x, *, diagonal):
    return jnp.tril(x, diagonal)


@op()
def triu(x, *, diagonal):
    return jnp.triu(x, diagonal)


@op()
def diagonal(x, *, offset, dim1, dim2):
    return jnp.diagonal(x, offset, dim1, dim2)


@op()
def diag_embed(x, *, offset, dim1, dim2):
    n = x.shape[-1] + abs(offset)
    base = jnp.zeros(x.shape[:-1] + (n, n), x.dtype)
    i = jnp.arange(x.shape[-1])
    r, c = (i, i + offset) if offset >= 0 else (i - offset, i)
    out = base.at[..., r, c].set(x)
    return jnp.moveaxis(out, (-2, -1), (dim1, dim2)) if (dim1, dim2) != (out.ndim - 2, out.ndim - 1) else out


@op()
def diag(x, *, diagonal):
    return jnp.diag(x, diagonal)


@op()
def contiguous_copy(x):
    """A copy (``clone``)."""
    return jnp.copy(x)
