"""``Adadelta``: step sizes from running averages of squared gradients and squared updates."""

from __future__ import annotations

import jax.numpy as jnp
import optax

from . import _rules as R
from .optimizer import Optimizer, scalar_dtype

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """Adadelta (``torch.optim.Adadelta``).

    ``s = rho * s + (1 - rho) * g * g``, ``d = sqrt(a + eps) / sqrt(s + eps) * g``,
    ``a = rho * a + (1 - rho) * d * d``, ``p -= lr * d``.  State: ``step``, ``square_avg``,
    ``acc_delta``.  Same rule as ``optax.scale_by_adadelta``; written locally to round like
    PyTorch.
    """

    _hyper_keys = ("lr", "rho", "eps", "weight_decay")

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize, capturable=capturable,
                        foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    def _flags(self, g):
        return (bool(g["maximize"]), g["weight_decay"] != 0)

    def _state_keys(self, flags):
        return ("step", "square_avg", "acc_delta")

    def _init_state(self, group, p, flags):
        z = jnp.zeros_like(p)
        return {"step": jnp.zeros((), scalar_dtype()), "square_avg": z, "acc_delta": z}

    @staticmethod
    def _rule(flags, h, p, g, st):
        maximize, has_wd = flags
        dt = p.dtype
        step, _ = R.next_step(st["step"])
        if maximize:
            g = -g
        if has_wd:
            g = R.weight_decay(g, p, h["weight_decay"])
        tx = optax.scale_by_adadelta(R.cast(h["rho"], dt), R.cast(h["eps"], dt))
        u, s = tx.update(g, optax.ScaleByAdaDeltaState(e_g=st["square_avg"], e_x=st["acc_delta"]))
        p = R.add_scaled(p, u, -R.scalar(h["lr"]))
        return p, {"step": step, "square_avg": s.e_g, "acc_delta": s.e_x}
