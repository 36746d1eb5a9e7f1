"""Activation ops (``nn.functional.relu`` ... ``softmax``), as pure JAX functions.

``dtype`` (static) is the input's dtype; half types compute in float32 and round at the end,
as PyTorch's CPU kernels do.  Scalar hyperparameters (slopes, thresholds) are static: they
select the program and do not change per step.

NOTE: gradients at kinks must be PyTorch's, not JAX's.  ``jnp.maximum``/``jnp.clip`` split the
gradient 50/50 at ties (relu'(0) would be 0.5), so piecewise functions are written with
``jnp.where`` on the same comparison PyTorch's backward kernel uses (``x <= 0`` for relu,
``x > 0`` for leaky_relu, ...); then autodiff gives PyTorch's one-sided derivative, and NaN
inputs take the same branch.  Clamps inside a branch also use ``where`` (never ``minimum``) for
the same reason, and keep the unselected branch finite so its zero cotangent never meets an
``inf`` (the ``where`` NaN trap).  relu, relu6, hardsigmoid, hardswish, silu, selu, mish,
softsign, tanhshrink and log_sigmoid live in ``_ops/elementwise.py``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import jax.scipy.special as jss

from .._registry import op, opmath


@op()
def threshold(x, *, dtype, threshold, value):
    """``value`` where ``x <= threshold``, else ``x`` (gradient 0 at the threshold)."""
    xc = x.astype(opmath(dtype))
    return jnp.where(xc <= threshold, jnp.asarray(value, xc.dtype), xc).astype(dtype)


@op()
def hardtanh(x, *, dtype, min_val, max_val):
    """Clamp to ``[min_val, max_val]``; gradient 0 at and beyond both ends (PyTorch's)."""
    xc = x.astype(opmath(dtype))
    lo, hi = jnp.asarray(min_val, xc.dtype), jnp.asarray(max_val, xc.dtype)
    return jnp.where(xc <= lo, lo, jnp.where(xc >= hi, hi, xc)).astype(dtype)


@op()
def leaky_relu(x, *, dtype, negative_slope):
    """``x`` if ``x > 0`` else ``negative_slope * x`` (slope gradient at 0, as PyTorch)."""
    xc = x.astype(opmath(dtype))
    return jnp.where(xc > 0, xc, xc * negative_slope).astype(dtype)


@op()
def elu(x, *, dtype, alpha, scale=1.0, input_scale=1.0):
    """ELU family: ``scale * x`` if ``x > 0`` else ``alpha * scale * (exp(input_scale * x) - 1)``.

    ``elu`` is (alpha, 1, 1), ``celu`` is (alpha, 1, 1/alpha), ``selu`` its fixed constants.
    """
    xc = x.astype(opmath(dtype))
    neg = jnp.where(xc <= 0, xc, 0)  # finite in the unselected branch
    return jnp.where(xc <= 0, jnp.expm1(neg * input_scale) * (alpha * scale), xc * scale).astype(dtype)


@op()
def gelu(x, *, dtype, approximate):
    """``x * Phi(x)`` (``approximate='none'``) or its tanh approximation (``'tanh'``)."""
    xc = x.astype(opmath(dtype))
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (xc + 0.044715 * xc * xc * xc)
        return (0.5 * xc * (1.0 + jnp.tanh(inner))).astype(dtype)
    return (xc * 0.5 * (1.0 + jss.erf(xc * (1.0 / math.sqrt(2.0))))).astype(dtype)


@op()
def hardshrink(x, *, dtype, lambd):
    """0 where ``-lambd <= x <= lambd``, else ``x``."""
    xc = x.astype(opmath(dtype))
    return jnp.where((xc >= -lambd) & (xc <= lambd), jnp.zeros((), xc.dtype), xc).astype(dtype)


@op()
def softshrink(x, *, dtype, lambd):
    """0 where ``-lambd <= x <= lambd``, else ``x - lambd * sign(x)``."""
    xc = x.astype(opmath(dtype))
    inside = (xc >= -lambd) & (xc <= lambd)
    return jnp.where(inside, jnp.zeros((), xc.dtype), xc - lambd * jnp.sign(xc)).astype(dtype)


@op()
def softplus(x, *, dtype, beta, threshold):
    """``log(1 + exp(beta * x)) / beta``, linear where ``beta * x > threshold``."""
    xc = x.astype(opmath(dtype))
    z = xc * beta
    safe = jnp.where(z > threshold, threshold, z)  # keeps exp finite in the unselected branch
    return jnp.where(z > threshold, xc, jnp.log1p(jnp.exp(safe)) / beta).astype(dtype)


@op()
def softmax(x, *, dim, dtype, negate=False):
    """Softmax over ``dim``; the input is first cast to ``dtype`` (``softmax(..., dtype=)``).

    ``negate``: softmin, the softmax of ``-x``.
    """
    xc = x.astype(dtype).astype(opmath(dtype))
    if negate:
        xc = -xc
    return jax.nn.softmax(xc.reshape(x.shape or (1,)), axis=dim).reshape(x.shape).astype(dtype)


@op()
def log_softmax(x, *, dim, dtype):
    """Log-softmax over ``dim`` (input first cast to ``dtype``)."""
    xc = x.astype(dtype).astype(opmath(dtype))
    return jax.nn.log_softmax(xc.reshape(x.shape or (1,)), axis=dim).reshape(x.shape).astype(dtype)


@op()
def glu(x, *, dim, dtype):
    """Gated linear unit: split ``x`` in halves ``a, b`` along ``dim``; ``a * sigmoid(b)``."""
    a, b = jnp.split(x.astype(opmath(dtype)), 2, axis=dim)
    return (a * jax.nn.sigmoid(b)).astype(dtype)


@op()
def prelu(x, weight, *, dtype):
    """``x`` if ``x > 0`` else ``weight * x``; a 1-D ``weight`` runs along dim 1 (channels)."""
    ct = opmath(dtype)
    xc, w = x.astype(ct), weight.astype(ct)
    if w.size != 1 and x.ndim >= 2:
        w = w.reshape((-1,) + (1,) * (x.ndim - 2))
    elif w.size == 1:
        w = w.reshape(())
    return jnp.where(xc > 0, xc, w * xc).astype(dtype)


@op()
def rrelu_train(x, key, *, dtype, lower, upper):
    """Randomized leaky ReLU in training: each ``x <= 0`` is scaled by its own ``U(lower, upper)``."""
    xc = x.astype(opmath(dtype))
    slope = jax.random.uniform(key, x.shape, xc.dtype, lower, upper)
    return jnp.where(xc <= 0, xc * slope, xc).astype(dtype)
