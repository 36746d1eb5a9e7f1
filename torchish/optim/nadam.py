"""``NAdam``: Adam with Nesterov momentum and PyTorch's momentum-decay schedule."""

from __future__ import annotations

import jax.numpy as jnp

from . import _rules as R
from .adam import check_betas
from .optimizer import Optimizer, scalar_dtype

__all__ = ["NAdam"]


class NAdam(Optimizer):
    """NAdam (``torch.optim.NAdam``), optionally with decoupled weight decay.

    ``mu_t = beta1 * (1 - 0.5 * 0.96**(t * momentum_decay))``; the update mixes the current
    gradient and the first moment with PyTorch's ``mu_product`` bias corrections.  State:
    ``step``, ``mu_product``, ``exp_avg``, ``exp_avg_sq``.  Local rule: ``optax.nadam`` has no
    momentum-decay schedule.
    """

    _hyper_keys = ("lr", "betas", "eps", "weight_decay", "momentum_decay")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        check_betas(lr, eps, betas, weight_decay)
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def _flags(self, g):
        return (bool(g["maximize"]), g["weight_decay"] != 0, bool(g["decoupled_weight_decay"]))

    def _state_keys(self, flags):
        return ("step", "mu_product", "exp_avg", "exp_avg_sq")

    def _init_state(self, group, p, flags):
        z = jnp.zeros_like(p)
        dt = scalar_dtype()
        return {"step": jnp.zeros((), dt), "mu_product": jnp.ones((), dt), "exp_avg": z, "exp_avg_sq": z}

    @staticmethod
    def _rule(flags, h, p, g, st):
        maximize, has_wd, decoupled = flags
        lr, eps, md = R.scalar(h["lr"]), R.scalar(h["eps"]), R.scalar(h["momentum_decay"])
        b1, b2 = R.scalar(h["betas"][0]), R.scalar(h["betas"][1])
        dt = p.dtype
        if maximize:
            g = -g
        step, t = R.next_step(st["step"])
        bc2 = 1 - b2 ** t
        if has_wd:
            if decoupled:
                p = R.decoupled_decay(p, lr, h["weight_decay"])
            else:
                g = R.weight_decay(g, p, h["weight_decay"])
        mu = b1 * (1.0 - 0.5 * (0.96 ** (t * md)))
        mu_next = b1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * md)))
        mu_prod = st["mu_product"] * R.cast(mu, st["mu_product"].dtype)  # a float32 tensor, as in PyTorch
        mu_prod64 = mu_prod.astype(R.F64)
        m = R.lerp(st["exp_avg"], g, 1 - b1)
        v = R.ema_sq(st["exp_avg_sq"], g, b2)
        denom = jnp.sqrt(v / R.cast(bc2, dt)) + R.cast(eps, dt)
        p = R.addcdiv(p, g, denom, -lr * (1.0 - mu) / (1.0 - mu_prod64))
        p = R.addcdiv(p, m, denom, (-lr * mu_next) / (1.0 - mu_prod64 * mu_next))
        return p, {"step": step, "mu_product": mu_prod, "exp_avg": m, "exp_avg_sq": v}
