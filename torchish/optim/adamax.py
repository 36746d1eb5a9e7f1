"""``Adamax``: Adam with the infinity norm of past gradients in the denominator."""

from __future__ import annotations

import jax.numpy as jnp
import optax

from . import _rules as R
from .adam import check_betas
from .optimizer import Optimizer, scalar_dtype

__all__ = ["Adamax"]


class Adamax(Optimizer):
    """Adamax (``torch.optim.Adamax``).

    ``m = lerp(m, g, 1 - beta1)``, ``u = max(beta2 * u, |g| + eps)``,
    ``p -= lr / (1 - beta1**t) * m / u``.  State: ``step``, ``exp_avg``, ``exp_inf``.
    Same rule as ``optax.scale_by_adamax``; written locally to round like PyTorch.
    """

    _hyper_keys = ("lr", "betas", "eps", "weight_decay")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        check_betas(lr, eps, betas, weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _flags(self, g):
        return (bool(g["maximize"]), g["weight_decay"] != 0)

    def _state_keys(self, flags):
        return ("step", "exp_avg", "exp_inf")

    def _init_state(self, group, p, flags):
        z = jnp.zeros_like(p)
        return {"step": jnp.zeros((), scalar_dtype()), "exp_avg": z, "exp_inf": z}

    @staticmethod
    def _rule(flags, h, p, g, st):
        maximize, has_wd = flags
        b1, b2 = h["betas"]
        dt = p.dtype
        if maximize:
            g = -g
        if has_wd:
            g = R.weight_decay(g, p, h["weight_decay"])
        tx = optax.scale_by_adamax(R.cast(b1, dt), R.cast(b2, dt), R.cast(h["eps"], dt))
        u, s = tx.update(g, optax.ScaleByAdamState(R.count(st["step"]), st["exp_avg"], st["exp_inf"]))
        p = R.add_scaled(p, u, -R.scalar(h["lr"]))
        return p, {"step": R.uncount(s.count, st["step"]), "exp_avg": s.mu, "exp_inf": s.nu}
