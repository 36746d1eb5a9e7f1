"""Random sampling.  Every op takes a raw threefry ``key`` (uint32[2]) as its first argument and
is a pure function of it; the Generator (``torchish._random``) owns and advances the key."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._registry import op


@op(differentiable=False)
def uniform(key, lo, hi, *, shape, dtype):
    ct = jnp.float32 if dtype in (jnp.float16, jnp.bfloat16) else dtype
    u = jax.random.uniform(key, shape, ct)
    return (jnp.asarray(lo, ct) + u * (jnp.asarray(hi, ct) - jnp.asarray(lo, ct))).astype(dtype)


@op(differentiable=False)
def normal(key, mean, std, *, shape, dtype):
    ct = jnp.float32 if dtype in (jnp.float16, jnp.bfloat16) else dtype
    z = jax.random.normal(key, shape, ct)
    return (jnp.asarray(mean).astype(ct) + z * jnp.asarray(std).astype(ct)).astype(dtype)


@op(differentiable=False)
def randint(key, low, high, *, shape, dtype):
    return jax.random.randint(key, shape, low, high, dtype=jnp.int64).astype(dtype)


@op(differentiable=False)
def randperm(key, *, n, dtype):
    return jax.random.permutation(key, n).astype(dtype)


@op(differentiable=False)
def bernoulli(key, p, *, shape, dtype):
    return jax.random.bernoulli(key, p, shape).astype(dtype)


@op(differentiable=False)
def multinomial(key, probs, *, num_samples, replacement):
    logits = jnp.log(probs.astype(jnp.float32))
    if replacement:
        batch = probs.shape[:-1]
        s = jax.random.categorical(key, logits, axis=-1, shape=(num_samples,) + batch)
        return jnp.moveaxis(s, 0, -1).astype(jnp.int64)
    # Gumbel top-k: sampling without replacement in proportion to probs
    g = jax.random.gumbel(key, probs.shape, jnp.float32)
    return jax.lax.top_k(logits + g, num_samples)[1].astype(jnp.int64)


@op(differentiable=False)
def exponential(key, lambd, *, shape, dtype):
    return (jax.random.exponential(key, shape, jnp.float32) / lambd).astype(dtype)


@op(differentiable=False)
def geometric(key, p, *, shape, dtype):
    return jax.random.geometric(key, p, shape).astype(dtype)


@op(differentiable=False)
def cauchy(key, median, sigma, *, shape, dtype):
    return (median + sigma * jax.random.cauchy(key, shape, jnp.float32)).astype(dtype)


@op(differentiable=False)
def log_normal(key, mean, std, *, shape, dtype):
    return jnp.exp(mean + std * jax.random.normal(key, shape, jnp.float32)).astype(dtype)


@op(differentiable=False)
def poisson(key, rate, *, dtype):
    return jax.random.poisson(key, rate, rate.shape).astype(dtype)
