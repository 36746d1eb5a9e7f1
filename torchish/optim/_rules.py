"""Small pure building blocks of the update rules (the local rules of docs/optim.md).

PyTorch computes scalar coefficients (``lr / bias_correction1``, ``1 - beta2``) in Python
doubles and converts them to the tensor dtype when they enter a tensor op.  ``scalar`` and
``cast`` do the same here: hyperparameters (Python floats, or float64 tracers under
``torchish.compile``) are combined in float64 and cast to the parameter dtype at the point
PyTorch does, so a float64 hyperparameter never promotes float32 parameters.
"""

from __future__ import annotations

import jax.numpy as jnp
import optax

from .._config import X64

F64 = jnp.float64 if X64 else jnp.float32


def scalar(x):
    """A hyperparameter or step count as a 0-d float64 array (PyTorch's Python double)."""
    return jnp.asarray(x, F64)


def cast(x, dtype):
    """A double coefficient converted to the tensor dtype, as a PyTorch kernel does."""
    return jnp.asarray(x, dtype)


def next_step(step):
    """``state['step'] += 1``: the new float32 step tensor and its value as a double."""
    step = step + jnp.asarray(1, step.dtype)
    return step, step.astype(F64)


def lerp(a, b, w):
    """``a.lerp_(b, w)`` with PyTorch's formula (which of two forms depends on ``|w| < 0.5``)."""
    w = cast(w, a.dtype)
    return jnp.where(jnp.abs(w) < 0.5, a + w * (b - a), b - (b - a) * (1 - w))


def ema_sq(v, g, beta):
    """``v.mul_(beta).addcmul_(g, g, value=1 - beta)``."""
    dt = v.dtype
    beta = scalar(beta)
    return v * cast(beta, dt) + cast(1 - beta, dt) * g * g


def add_scaled(p, x, alpha):
    """``p.add_(x, alpha=alpha)``."""
    return p + cast(alpha, p.dtype) * x


def addcdiv(p, num, den, value):
    """``p.addcdiv_(num, den, value=value)`` (PyTorch evaluates ``p + value * num / den``)."""
    return p + cast(value, p.dtype) * num / den


def weight_decay(g, p, wd):
    """L2 penalty folded into the gradient (PyTorch's ``grad.add(param, alpha=weight_decay)``)."""
    g, _ = optax.add_decayed_weights(cast(wd, g.dtype)).update(g, optax.EmptyState(), p)
    return g


def count(step):
    """``state['step']`` (a float tensor, as PyTorch keeps it) as an optax step count."""
    return step.astype(jnp.int32)


def uncount(count, like):
    """An optax step count back as ``state['step']``."""
    return count.astype(like.dtype)


def decoupled_decay(p, lr, wd):
    """AdamW's ``param.mul_(1 - lr * weight_decay)``."""
    return p * cast(1 - scalar(lr) * scalar(wd), p.dtype)


def results(n_state_keys):
    """Empty output lists for ``n`` state keys."""
    return [[] for _ in range(n_state_keys)]
