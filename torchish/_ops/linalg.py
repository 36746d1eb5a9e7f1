"""Matrix products and ``torch.linalg``."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._registry import op, opmath


def _mm(a, b, dtype):
    ct = opmath(dtype)
    if ct != dtype:  # half types: accumulate in float32
        return jnp.matmul(a, b, preferred_element_type=jnp.float32).astype(dtype)
    return jnp.matmul(a.astype(dtype), b.astype(dtype))


@op()
def matmul(a, b, *, dtype):
    return _mm(a, b, dtype)


@op()
def einsum(*xs, equation, dtype):
    return jnp.einsum(equation, *[x.astype(dtype) for x in xs])


@op()
def tensordot(a, b, *, dims, dtype):
    return jnp.tensordot(a.astype(dtype), b.astype(dtype), axes=dims)


@op()
def outer(a, b, *, dtype):
    return jnp.outer(a.astype(dtype), b.astype(dtype))


@op()
def addmm(c, a, b, beta, alpha, *, dtype):
    """``beta * c + alpha * (a @ b)``."""
    return (jnp.asarray(beta).astype(dtype) * c.astype(dtype) + jnp.asarray(alpha).astype(dtype) * _mm(a, b, dtype)).astype(dtype)


@op()
def kron(a, b, *, dtype):
    return jnp.kron(a.astype(dtype), b.astype(dtype))


@op()
def cross(a, b, *, dim, dtype):
    return jnp.cross(a.astype(dtype), b.astype(dtype), axis=dim)


@op()
def cdist(a, b, *, p):
    d = a[..., :, None, :] - b[..., None, :, :]
    if p == 2:
        s = jnp.sum(d * d, -1)
        pos = s > 0
        return jnp.where(pos, jnp.sqrt(jnp.where(pos, s, 1)), 0)
    if p == float("inf"):
        return jnp.max(jnp.abs(d), -1)
    if p == 0:
        return jnp.sum(d != 0, -1).astype(a.dtype)
    return jnp.sum(jnp.abs(d) ** p, -1) ** (1.0 / p)


@op()
def trace(x):
    return jnp.trace(x)


@op()
def inv(x):
    return jnp.linalg.inv(x)


@op()
def solve(a, b, *, left):
    if not left:
        return jnp.swapaxes(jnp.linalg.solve(jnp.swapaxes(a, -1, -2), jnp.swapaxes(b, -1, -2)), -1, -2)
    if b.ndim == a.ndim - 1:
        return jnp.linalg.solve(a, b[..., None])[..., 0]
    return jnp.linalg.solve(a, b)


@op()
def det(x):
    return jnp.linalg.det(x)


@op()
def slogdet(x):
    s, l = jnp.linalg.slogdet(x)
    return s, l


@op()
def cholesky(x, *, upper):
    L = jnp.linalg.cholesky(x)
    return jnp.swapaxes(L, -1, -2).conj() if upper else L


@op()
def qr(x, *, mode):
    return tuple(jnp.linalg.qr(x, mode=mode))


@op()
def svd(x, *, full_matrices):
    return tuple(jnp.linalg.svd(x, full_matrices=full_matrices))


@op()
def svdvals(x):
    return jnp.linalg.svd(x, compute_uv=False)


@op()
def eigh(x, *, upper):
    w, v = jnp.linalg.eigh(x, UPLO="U" if upper else "L")
    return w, v


@op()
def eigvalsh(x, *, upper):
    return jnp.linalg.eigvalsh(x, UPLO="U" if upper else "L")


@op()
def pinv(x, *, hermitian, rtol):
    return jnp.linalg.pinv(x, rtol=rtol, hermitian=hermitian)


@op()
def matrix_norm(x, *, ord, dims, keepdim):
    r = jnp.linalg.norm(x, ord=ord, axis=dims, keepdims=keepdim)
    return r.astype(x.dtype)


@op()
def matrix_power(x, *, n):
    return jnp.linalg.matrix_power(x, n)


@op()
def matrix_rank(x, *, hermitian):
    return jnp.linalg.matrix_rank(x).astype(jnp.int64)


@op()
def lstsq(a, b):
    sol, res, rank, sv = jnp.linalg.lstsq(a, b)
    return sol


@op()
def triangular_solve(b, a, *, upper, left, unitriangular):
    return jax.scipy.linalg.solve_triangular(a, b, lower=not upper, unit_diagonal=unitriangular) if left else jnp.swapaxes(
        jax.scipy.linalg.solve_triangular(jnp.swapaxes(a, -1, -2), jnp.swapaxes(b, -1, -2), lower=upper, unit_diagonal=unitriangular), -1, -2)
