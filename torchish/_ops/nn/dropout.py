"""Dropout ops: one op for plain/feature and standard/alpha dropout.

The mask comes from a raw threefry ``key`` passed as a *dynamic* argument (a fresh one per
call from ``torchish._random.next_key``), so the jitted program is reused every step and the
eager backward, which re-runs the forward with the same key, sees the same mask.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from .._registry import op, opmath

# SELU's negative saturation value, -scale * alpha (PyTorch's constant in Dropout.cpp).
SELU_SATURATION = 1.7580993408473766


@op()
def dropout(x, key, *, p, mask_shape=None, alpha=False):
    """Zero (or, with ``alpha``, set to SELU's saturation) entries with probability ``p``.

    ``mask_shape`` is ``x.shape`` (None) for element-wise dropout, or ``(N, C, 1, ...)`` for feature
    (channel) dropout.  Standard dropout scales kept entries by ``1 / (1 - p)``; alpha dropout
    applies PyTorch's affine correction ``x * a * mask + b`` that keeps zero mean and unit
    variance.  ``p == 1`` gives ``x * 0`` (zero gradient), as PyTorch.
    """
    dtype = x.dtype
    ct = opmath(dtype)
    if p == 1.0:
        return x * jnp.zeros((), dtype)
    keep = jax.random.bernoulli(key, 1.0 - p, x.shape if mask_shape is None else mask_shape).astype(ct)
    if not alpha:
        # NOTE: PyTorch builds the noise tensor in x's dtype (mask * (1/(1-p)) rounded), then
        # multiplies; mirror both roundings so half-precision scaling matches.
        noise = (keep * (1.0 / (1.0 - p))).astype(dtype).astype(ct)
        return (x.astype(ct) * noise).astype(dtype)
    a = 1.0 / math.sqrt((SELU_SATURATION**2 * p + 1) * (1 - p))
    b = (keep - 1.0) * (SELU_SATURATION * a) + SELU_SATURATION * a * p
    return (x.astype(ct) * (keep * a) + b).astype(dtype)
