"""``Adam`` and ``AdamW``: adaptive moment estimation, with L2 or decoupled weight decay."""

from __future__ import annotations

import jax.numpy as jnp
import optax

from . import _rules as R
from .optimizer import Optimizer, scalar_dtype

__all__ = ["Adam", "AdamW"]


def check_betas(lr, eps, betas, weight_decay):
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


class Adam(Optimizer):
    """Adam (``torch.optim.Adam``), with optional AMSGrad and decoupled weight decay (= AdamW).

    ``m = lerp(m, g, 1 - beta1)``, ``v = beta2 * v + (1 - beta2) * g * g``,
    ``p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)`` (``optax.scale_by_adam``);
    with ``amsgrad`` the running maximum of ``v`` replaces ``v`` in the denominator (a local
    rule).  State: ``step``, ``exp_avg``, ``exp_avg_sq`` (and ``max_exp_avg_sq``).
    """

    _hyper_keys = ("lr", "betas", "eps", "weight_decay")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        check_betas(lr, eps, betas, weight_decay)
        betas = tuple(float(b) if hasattr(b, "item") and not isinstance(b, float) else b for b in betas)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
                        foreach=foreach, capturable=capturable, differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _flags(self, g):
        return (bool(g["amsgrad"]), bool(g["maximize"]), g["weight_decay"] != 0, bool(g["decoupled_weight_decay"]))

    def _state_keys(self, flags):
        return ("step", "exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if flags[0] else ())

    def _init_state(self, group, p, flags):
        z = jnp.zeros_like(p)
        st = {"step": jnp.zeros((), scalar_dtype()), "exp_avg": z, "exp_avg_sq": z}
        if flags[0]:
            st["max_exp_avg_sq"] = z
        return st

    @staticmethod
    def _rule(flags, h, p, g, st):
        amsgrad, maximize, has_wd, decoupled = flags
        lr, eps = R.scalar(h["lr"]), R.scalar(h["eps"])
        b1, b2 = R.scalar(h["betas"][0]), R.scalar(h["betas"][1])
        dt = p.dtype
        if maximize:
            g = -g
        if has_wd:
            if decoupled:
                p = R.decoupled_decay(p, lr, h["weight_decay"])
            else:
                g = R.weight_decay(g, p, h["weight_decay"])
        if not amsgrad:
            tx = optax.scale_by_adam(R.cast(b1, dt), R.cast(b2, dt), R.cast(eps, dt))
            u, s = tx.update(g, optax.ScaleByAdamState(R.count(st["step"]), st["exp_avg"], st["exp_avg_sq"]))
            return R.add_scaled(p, u, -lr), {"step": R.uncount(s.count, st["step"]), "exp_avg": s.mu,
                                             "exp_avg_sq": s.nu}
        # Local rule: PyTorch's AMSGrad keeps the running max of the raw second moment
        # (optax.scale_by_amsgrad keeps it of the bias-corrected one).
        step, t = R.next_step(st["step"])
        m = R.lerp(st["exp_avg"], g, 1 - b1)
        v = R.ema_sq(st["exp_avg_sq"], g, b2)
        vmax = jnp.maximum(st["max_exp_avg_sq"], v)
        denom = jnp.sqrt(vmax) / R.cast(jnp.sqrt(1 - b2 ** t), dt) + R.cast(eps, dt)
        p = R.addcdiv(p, m, denom, -lr / (1 - b1 ** t))
        return p, {"step": step, "exp_avg": m, "exp_avg_sq": v, "max_exp_avg_sq": vmax}


class AdamW(Adam):
    """AdamW (``torch.optim.AdamW``): Adam with decoupled weight decay ``p *= 1 - lr * weight_decay``."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)
