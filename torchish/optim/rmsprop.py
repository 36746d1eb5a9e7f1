"""``RMSprop``: gradients scaled by a running RMS, optionally centered and with momentum."""

from __future__ import annotations

import jax.numpy as jnp
import optax

from . import _rules as R
from .optimizer import Optimizer, scalar_dtype

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop (``torch.optim.RMSprop``).

    ``s = alpha * s + (1 - alpha) * g * g``; ``avg = sqrt(s - m_g**2) + eps`` when centered
    (``m_g = lerp(m_g, g, 1 - alpha)``), else ``sqrt(s) + eps``; then ``p -= lr * g / avg``, or
    with momentum ``buf = momentum * buf + g / avg`` and ``p -= lr * buf``.  Note eps is outside
    the square root.  State: ``step``, ``square_avg`` (and ``momentum_buffer``, ``grad_avg``).
    Local rule: ``optax.rmsprop`` applies lr before momentum and eps inside the root by default.
    """

    _hyper_keys = ("lr", "alpha", "eps", "weight_decay", "momentum")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered, weight_decay=weight_decay,
                        capturable=capturable, foreach=foreach, maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    def _flags(self, g):
        return (bool(g["maximize"]), g["weight_decay"] != 0, bool(g["centered"]), g["momentum"] > 0)

    def _state_keys(self, flags):
        _, _, centered, has_momentum = flags
        return ("step", "square_avg") + (("momentum_buffer",) if has_momentum else ()) + (
            ("grad_avg",) if centered else ())

    def _init_state(self, group, p, flags):
        z = jnp.zeros_like(p)
        st = {"step": jnp.zeros((), scalar_dtype()), "square_avg": z}
        if flags[3]:
            st["momentum_buffer"] = z
        if flags[2]:
            st["grad_avg"] = z
        return st

    @staticmethod
    def _rule(flags, h, p, g, st):
        maximize, has_wd, centered, has_momentum = flags
        dt = p.dtype
        alpha, eps = R.cast(h["alpha"], dt), R.cast(h["eps"], dt)
        if maximize:
            g = -g
        step, _ = R.next_step(st["step"])
        if has_wd:
            g = R.weight_decay(g, p, h["weight_decay"])
        new = {"step": step}
        if centered:
            tx = optax.scale_by_stddev(alpha, eps, eps_in_sqrt=False)
            u, s = tx.update(g, optax.ScaleByRStdDevState(mu=st["grad_avg"], nu=st["square_avg"]))
            new["square_avg"], new["grad_avg"] = s.nu, s.mu
        else:
            tx = optax.scale_by_rms(alpha, eps, eps_in_sqrt=False)
            u, s = tx.update(g, optax.ScaleByRmsState(nu=st["square_avg"]))
            new["square_avg"] = s.nu
        if has_momentum:
            u, s = optax.trace(R.cast(h["momentum"], dt)).update(u, optax.TraceState(trace=st["momentum_buffer"]))
            new["momentum_buffer"] = s.trace
        return R.add_scaled(p, u, -R.scalar(h["lr"])), new
