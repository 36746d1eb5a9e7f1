"""``ASGD``: averaged stochastic gradient descent."""

from __future__ import annotations

import jax.numpy as jnp

from . import _rules as R
from .optimizer import Optimizer, scalar_dtype

__all__ = ["ASGD"]


class ASGD(Optimizer):
    """Averaged SGD (``torch.optim.ASGD``).

    ``p = p * (1 - lambd * eta) - eta * g``; the average ``ax`` follows ``p`` with weight ``mu``;
    ``eta = lr / (1 + lambd * lr * t)**alpha`` and ``mu = 1 / max(1, t - t0)``.  State: ``step``,
    ``eta``, ``mu``, ``ax``.  Local rule.
    """

    _hyper_keys = ("lr", "lambd", "alpha", "t0", "weight_decay")

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None, maximize=False,
                 differentiable=False, capturable=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _flags(self, g):
        return (bool(g["maximize"]), g["weight_decay"] != 0)

    def _state_keys(self, flags):
        return ("step", "eta", "mu", "ax")

    def _init_state(self, group, p, flags):
        dt = scalar_dtype()
        lr = group["lr"]
        lr = lr._value() if hasattr(lr, "_value") else lr
        return {"step": jnp.zeros((), dt), "eta": jnp.asarray(lr, dt), "mu": jnp.ones((), dt),
                "ax": jnp.zeros_like(p)}

    @staticmethod
    def _rule(flags, h, p, g, st):
        maximize, has_wd = flags
        lr, lambd, alpha, t0 = (R.scalar(h[k]) for k in ("lr", "lambd", "alpha", "t0"))
        dt = p.dtype
        if maximize:
            g = -g
        step, t = R.next_step(st["step"])
        if has_wd:
            g = R.weight_decay(g, p, h["weight_decay"])
        eta, mu = st["eta"], st["mu"]
        eta64 = eta.astype(R.F64)
        p = p * R.cast(1 - lambd * eta64, dt)
        p = R.add_scaled(p, g, -eta64)
        # NOTE: PyTorch copies p into ax while mu == 1 (a Python branch on mu.item()).
        ax = jnp.where(mu != 1, st["ax"] + (p - st["ax"]) * mu.astype(dt), p)
        new_eta = (lr / ((1 + lambd * lr * t) ** alpha)).astype(eta.dtype)
        new_mu = (1 / jnp.maximum(1, t - t0)).astype(mu.dtype)
        return p, {"step": step, "eta": new_eta, "mu": new_mu, "ax": ax}
