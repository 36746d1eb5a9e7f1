"""``SGD``: stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from . import _rules as R
from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent (``torch.optim.SGD``), optionally with (Nesterov) momentum.

    Per parameter: ``g = grad (+ weight_decay * p)``; with momentum,
    ``buf = momentum * buf + (1 - dampening) * g`` (``buf = g`` on the first step) and
    ``g = g + momentum * buf`` (Nesterov) or ``g = buf``; then ``p -= lr * g``.
    State: ``momentum_buffer`` (only when ``momentum != 0``).  Local rule: ``optax.trace`` has
    no dampening and starts from a zero buffer.
    """

    _hyper_keys = ("lr", "momentum", "dampening", "weight_decay")
    _lazy_keys = ("momentum_buffer",)

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov,
                        maximize=maximize, foreach=foreach, differentiable=differentiable, fused=fused)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def _flags(self, g):
        return (g["momentum"] != 0, bool(g["nesterov"]), bool(g["maximize"]), g["weight_decay"] != 0)

    def _state_keys(self, flags):
        return ("momentum_buffer",) if flags[0] else ()

    @staticmethod
    def _rule(flags, h, p, g, st):
        has_momentum, nesterov, maximize, has_wd = flags
        lr, momentum = R.scalar(h["lr"]), R.scalar(h["momentum"])
        if maximize:
            g = -g
        if has_wd:
            g = R.weight_decay(g, p, h["weight_decay"])
        if not has_momentum:
            return R.add_scaled(p, g, -lr), {}
        buf = st["momentum_buffer"]
        if buf is None:  # the first step: PyTorch clones the gradient
            buf = g
        else:
            buf = buf * R.cast(momentum, p.dtype) + R.cast(1 - R.scalar(h["dampening"]), p.dtype) * g
        g = R.add_scaled(g, buf, momentum) if nesterov else buf
        return R.add_scaled(p, g, -lr), {"momentum_buffer": buf}
