"""``Rprop``: resilient backpropagation (sign-based steps with per-coordinate step sizes)."""

from __future__ import annotations

import jax.numpy as jnp

from . import _rules as R
from .optimizer import Optimizer, scalar_dtype

__all__ = ["Rprop"]


class Rprop(Optimizer):
    """Rprop (``torch.optim.Rprop``).

    Where ``g * prev > 0`` the step size grows by ``etas[1]``, where ``< 0`` it shrinks by
    ``etas[0]`` (and that coordinate's gradient is zeroed), clamped to ``step_sizes``; then
    ``p -= sign(g) * step_size``.  State: ``step``, ``prev``, ``step_size`` (starts at ``lr``).
    Local rule (PyTorch's variant of Rprop without weight backtracking).
    """

    _hyper_keys = ("lr", "etas", "step_sizes")

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, capturable=False, foreach=None,
                 maximize=False, differentiable=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        defaults = dict(lr=lr, etas=etas, step_sizes=step_sizes, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _flags(self, g):
        return (bool(g["maximize"]),)

    def _state_keys(self, flags):
        return ("step", "prev", "step_size")

    def _init_state(self, group, p, flags):
        lr = group["lr"]
        lr = lr._value() if hasattr(lr, "_value") else lr
        return {"step": jnp.zeros((), scalar_dtype()), "prev": jnp.zeros_like(p),
                "step_size": jnp.full_like(p, lr)}

    @staticmethod
    def _rule(flags, h, p, g, st):
        (maximize,) = flags
        dt = p.dtype
        em, ep = (R.cast(e, dt) for e in h["etas"])
        lo, hi = (R.cast(s, dt) for s in h["step_sizes"])
        if maximize:
            g = -g
        step, _ = R.next_step(st["step"])
        sign = jnp.sign(g * st["prev"])
        sign = jnp.where(sign > 0, ep, jnp.where(sign < 0, em, jnp.ones((), dt)))
        size = jnp.clip(st["step_size"] * sign, lo, hi)
        g = jnp.where(sign == em, jnp.zeros((), dt), g)
        p = p + R.cast(-1, dt) * jnp.sign(g) * size
        return p, {"step": step, "prev": g, "step_size": size}
