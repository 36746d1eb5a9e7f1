"""Level-1 ops of the linear family: ``linear`` (x @ W^T + b) and ``bilinear``.

Each layer is one op (the bias add is fused), so an eager forward is one dispatch.
"""

from __future__ import annotations

import jax.numpy as jnp

from .._registry import op, opmath


def _acc(dtype):
    """``preferred_element_type`` for a product: float32 accumulation for half types."""
    return jnp.float32 if opmath(dtype) != dtype else None


@op()
def linear(x, weight, bias, *, dtype):
    """``x @ weight.T + bias``; ``x`` (*, in), ``weight`` (out, in) or (in,), ``bias`` (out,) or None."""
    y = jnp.matmul(x, weight.T, preferred_element_type=_acc(dtype))
    if bias is not None:
        y = y + bias.astype(y.dtype)
    return y.astype(dtype)


@op()
def bilinear(x1, x2, weight, bias, *, dtype):
    """``y[..., o] = sum_ij x1[..., i] W[o, i, j] x2[..., j] + b[o]``."""
    ct = opmath(dtype)
    y = jnp.einsum("...i,oij,...j->...o", x1.astype(ct), weight.astype(ct), x2.astype(ct))
    if bias is not None:
        y = y + bias.astype(ct)
    return y.astype(dtype)
