"""``RAdam``: Adam with a rectified adaptive learning rate (SGD with momentum while rho_t <= 5)."""

from __future__ import annotations

import jax.numpy as jnp

from . import _rules as R
from .adam import check_betas
from .optimizer import Optimizer, scalar_dtype

__all__ = ["RAdam"]


class RAdam(Optimizer):
    """RAdam (``torch.optim.RAdam``), optionally with decoupled weight decay.

    With ``rho_t = rho_inf - 2 t beta2**t / (1 - beta2**t)``: if ``rho_t > 5`` the Adam step is
    scaled by the rectification term, otherwise the bias-corrected momentum is applied
    directly.  The choice is a ``jnp.where`` on the step count, so it also traces.  State:
    ``step``, ``exp_avg``, ``exp_avg_sq``.  Local rule (optax's RAdam differs in eps placement).
    """

    _hyper_keys = ("lr", "betas", "eps", "weight_decay")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False):
        check_betas(lr, eps, betas, weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize, foreach=foreach,
                        capturable=capturable, decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def _flags(self, g):
        return (bool(g["maximize"]), g["weight_decay"] != 0, bool(g["decoupled_weight_decay"]))

    def _state_keys(self, flags):
        return ("step", "exp_avg", "exp_avg_sq")

    def _init_state(self, group, p, flags):
        z = jnp.zeros_like(p)
        return {"step": jnp.zeros((), scalar_dtype()), "exp_avg": z, "exp_avg_sq": z}

    @staticmethod
    def _rule(flags, h, p, g, st):
        maximize, has_wd, decoupled = flags
        lr, eps = R.scalar(h["lr"]), R.scalar(h["eps"])
        b1, b2 = R.scalar(h["betas"][0]), R.scalar(h["betas"][1])
        dt = p.dtype
        if maximize:
            g = -g
        step, t = R.next_step(st["step"])
        if has_wd:
            if decoupled:
                p = R.decoupled_decay(p, lr, h["weight_decay"])
            else:
                g = R.weight_decay(g, p, h["weight_decay"])
        m = R.lerp(st["exp_avg"], g, 1 - b1)
        v = R.ema_sq(st["exp_avg_sq"], g, b2)
        bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
        m_hat = m / R.cast(bc1, dt)
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * t * (b2 ** t) / bc2
        rect = jnp.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        # NOTE: PyTorch computes `scalar / tensor` as `tensor.reciprocal() * scalar`.
        adaptive = (1 / (jnp.sqrt(v) + R.cast(eps, dt))) * R.cast(jnp.sqrt(bc2), dt)
        rectified = m_hat * R.cast(lr, dt) * adaptive * R.cast(rect, dt)
        p = p - jnp.where(rho_t > 5.0, rectified, m_hat * R.cast(lr, dt))
        return p, {"step": step, "exp_avg": m, "exp_avg_sq": v}
