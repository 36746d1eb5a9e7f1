"""``Adagrad``: per-coordinate learning rates from the running sum of squared gradients."""

from __future__ import annotations

import jax.numpy as jnp

from .._tensor import wrap
from . import _rules as R
from .optimizer import Optimizer, scalar_dtype

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad (``torch.optim.Adagrad``).

    ``clr = lr / (1 + (t - 1) * lr_decay)``, ``s += g * g``, ``p -= clr * g / (sqrt(s) + eps)``.
    State (created in the constructor, as PyTorch does): ``step``, ``sum``
    (``initial_accumulator_value``).  Local rule: ``optax.scale_by_rss`` puts eps inside the
    square root and has no lr decay.
    """

    _hyper_keys = ("lr", "lr_decay", "eps", "weight_decay")

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                st = self.state[p]
                for k, arr in self._init_state(group, p._value(), ()).items():
                    st[k] = wrap(arr)

    def _flags(self, g):
        return (bool(g["maximize"]), g["weight_decay"] != 0)

    def _state_keys(self, flags):
        return ("step", "sum")

    def _init_state(self, group, p, flags):
        # NOTE: PyTorch reads the accumulator's initial value from `defaults`, not the group.
        init = self.defaults["initial_accumulator_value"]
        return {"step": jnp.zeros((), scalar_dtype()), "sum": jnp.full_like(p, init)}

    @staticmethod
    def _rule(flags, h, p, g, st):
        maximize, has_wd = flags
        dt = p.dtype
        step, t = R.next_step(st["step"])
        if maximize:
            g = -g
        if has_wd:
            g = R.weight_decay(g, p, h["weight_decay"])
        clr = R.scalar(h["lr"]) / (1 + (t - 1) * R.scalar(h["lr_decay"]))
        s = st["sum"] + R.cast(1, dt) * g * g
        std = jnp.sqrt(s) + R.cast(h["eps"], dt)
        return R.addcdiv(p, g, std, -clr), {"step": step, "sum": s}
