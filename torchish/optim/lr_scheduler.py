"""Learning-rate schedulers (``torch.optim.lr_scheduler``), traceable by ``torchish.compile``.

Each scheduler reproduces PyTorch's values step by step: eager code with Python numbers runs
PyTorch's own (recursive, "chainable") formulas in Python floats.  Inside ``torchish.compile``
``last_epoch``, the scheduler's numeric attributes and the optimizer's group values are 0-d
tracers (``_torchish_numbers_``), so the formulas are written with ``_num`` helpers: ``_num.cond``
is a Python ``if`` for concrete conditions and a ``jnp.where`` of both branches for traced
ones.  ``ReduceLROnPlateau`` needs the metric's value and ``LambdaLR``/``MultiplicativeLR``
call user functions: those work in compiled code only when the lambdas are traceable.
"""

from __future__ import annotations

import math
import types
from bisect import bisect_right
from collections import Counter

import jax.numpy as jnp

from . import _num
from ._lr_base import (  # noqa: F401
    EPOCH_DEPRECATION_WARNING, LRScheduler, _enable_get_lr_call, _LRScheduler, _set, _vals,
    _warn_get_lr_called_within_step,
)
from ._lr_compose import ChainedScheduler, ReduceLROnPlateau, SequentialLR
from ._lr_cyclic import CyclicLR, OneCycleLR

__all__ = [
    "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR", "ExponentialLR",
    "SequentialLR", "CosineAnnealingLR", "ChainedScheduler", "ReduceLROnPlateau", "CyclicLR",
    "CosineAnnealingWarmRestarts", "OneCycleLR", "PolynomialLR", "LRScheduler",
]


class _LambdaBase(LRScheduler):
    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        self.optimizer = optimizer
        if not isinstance(lr_lambda, (list, tuple)):
            self.lr_lambdas = [lr_lambda] * len(optimizer.param_groups)
        else:
            if len(lr_lambda) != len(optimizer.param_groups):
                raise ValueError(f"Expected {len(optimizer.param_groups)} lr_lambdas, but got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        super().__init__(optimizer, last_epoch)

    def state_dict(self):
        sd = super().state_dict()
        sd.pop("lr_lambdas", None)
        sd["lr_lambdas"] = [None if isinstance(fn, types.FunctionType) else fn.__dict__.copy()
                            for fn in self.lr_lambdas]
        return sd

    def load_state_dict(self, state_dict):
        lr_lambdas = state_dict.pop("lr_lambdas")
        self.__dict__.update(state_dict)
        state_dict["lr_lambdas"] = lr_lambdas
        for idx, fn in enumerate(lr_lambdas):
            if fn is not None:
                self.lr_lambdas[idx].__dict__.update(fn)
        self._after_load()


class LambdaLR(_LambdaBase):
    """``lr = base_lr * lr_lambda(epoch)``.  In compiled code ``lr_lambda`` receives a traced epoch."""

    def get_lr(self):
        _warn_get_lr_called_within_step(self)
        return [base_lr * lmbda(self.last_epoch) for lmbda, base_lr in zip(self.lr_lambdas, self.base_lrs)]


class MultiplicativeLR(_LambdaBase):
    """``lr = lr * lr_lambda(epoch)`` on every step after the first."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        lambdas = lr_lambda if isinstance(lr_lambda, (list, tuple)) else [lr_lambda]
        for fn in lambdas:
            if not callable(fn):
                raise TypeError(f"lr_lambda should be a function, but got {type(fn).__name__}")
        super().__init__(optimizer, lr_lambda, last_epoch)

    def get_lr(self):
        _warn_get_lr_called_within_step(self)
        if self._is_initial:
            return self._keep()
        return [g["lr"] * lmbda(self.last_epoch) for lmbda, g in zip(self.lr_lambdas, self.optimizer.param_groups)]


class StepLR(LRScheduler):
    """Decay each group's lr by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        _warn_get_lr_called_within_step(self)
        e = self.last_epoch
        keep = _num.logical_or(e == 0, e % self.step_size != 0)
        return _num.cond(keep, self._keep, lambda: [g["lr"] * self.gamma for g in self.optimizer.param_groups])

    def _get_closed_form_lr(self):
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Decay each group's lr by ``gamma`` at each milestone epoch."""

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        _warn_get_lr_called_within_step(self)
        e = self.last_epoch
        if _num.is_traced(e):
            hits = sum(jnp.where(e == m, c, 0) for m, c in self.milestones.items())
        else:
            hits = self.milestones.get(_num.concrete(e), 0)
        return _num.cond(hits == 0, self._keep,
                         lambda: [g["lr"] * self.gamma ** hits for g in self.optimizer.param_groups])

    def _get_closed_form_lr(self):
        milestones = sorted(self.milestones.elements())
        return [base_lr * self.gamma ** bisect_right(milestones, self.last_epoch) for base_lr in self.base_lrs]


class ConstantLR(LRScheduler):
    """Multiply the lr by ``factor`` until epoch ``total_iters``."""

    def __init__(self, optimizer, factor=1.0 / 3, total_iters=5, last_epoch=-1):
        if factor > 1.0 or factor < 0:
            raise ValueError("Constant multiplicative factor expected to be between 0 and 1.")
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        _warn_get_lr_called_within_step(self)
        e, groups = self.last_epoch, self.optimizer.param_groups
        return _num.cond(
            e == 0, lambda: [g["lr"] * self.factor for g in groups],
            lambda: _num.cond(e != self.total_iters, self._keep,
                              lambda: [g["lr"] * (1.0 / self.factor) for g in groups]))

    def _get_closed_form_lr(self):
        return [base_lr * (self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor))
                for base_lr in self.base_lrs]


class LinearLR(LRScheduler):
    """Scale the lr linearly from ``start_factor`` to ``end_factor`` over ``total_iters`` epochs."""

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5, last_epoch=-1):
        if start_factor > 1.0 or start_factor <= 0:
            raise ValueError("Starting multiplicative factor expected to be greater than 0 and less or equal to 1.")
        if end_factor > 1.0 or end_factor < 0:
            raise ValueError("Ending multiplicative factor expected to be between 0 and 1.")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        _warn_get_lr_called_within_step(self)
        e, groups = self.last_epoch, self.optimizer.param_groups
        s, f, n = self.start_factor, self.end_factor, self.total_iters
        return _num.cond(
            e == 0, lambda: [g["lr"] * s for g in groups],
            lambda: _num.cond(_num.logical_or(self._is_initial, e > n), self._keep,
                              lambda: [g["lr"] * (1.0 + (f - s) / (n * s + (e - 1) * (f - s))) for g in groups]))

    def _get_closed_form_lr(self):
        s, f, n = self.start_factor, self.end_factor, self.total_iters
        return [base_lr * (s + (f - s) * _num.minimum(n, self.last_epoch) / n) for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every epoch."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        _warn_get_lr_called_within_step(self)
        if self._is_initial:
            return self._keep()
        return [g["lr"] * self.gamma for g in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [base_lr * self.gamma ** self.last_epoch for base_lr in self.base_lrs]


class PolynomialLR(LRScheduler):
    """Decay the lr with a polynomial of the given ``power`` to zero over ``total_iters`` epochs."""

    def __init__(self, optimizer, total_iters=5, power=1.0, last_epoch=-1):
        self.total_iters = total_iters
        self.power = power
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        _warn_get_lr_called_within_step(self)
        e, n = self.last_epoch, self.total_iters

        def decayed():
            factor = ((1.0 - e / n) / (1.0 - (e - 1) / n)) ** self.power
            return [g["lr"] * factor for g in self.optimizer.param_groups]

        return _num.cond(_num.logical_or(self._is_initial, e > n), self._keep, decayed)

    def _get_closed_form_lr(self):
        n = self.total_iters
        return [base_lr * (1.0 - _num.minimum(n, self.last_epoch) / n) ** self.power for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from the initial lr to ``eta_min`` over ``T_max`` epochs (PyTorch's recursive form)."""

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        _warn_get_lr_called_within_step(self)
        if self._is_initial:
            return self._keep()
        e, T, eta_min, pi = self.last_epoch, self.T_max, self.eta_min, _num.pi
        groups = self.optimizer.param_groups

        def first():
            return [eta_min + (b - eta_min) * (1 + _num.cos(e * pi / T)) / 2 for b in self.base_lrs]

        def restart():
            return [g["lr"] + (b - eta_min) * (1 - _num.cos(pi / T)) / 2 for b, g in zip(self.base_lrs, groups)]

        def recursive():
            return [(1 + _num.cos(pi * e / T)) / (1 + _num.cos(pi * (e - 1) / T)) * (g["lr"] - eta_min) + eta_min
                    for g in groups]

        return _num.cond(_num.logical_and(self._step_count == 1, e > 0), first,
                         lambda: _num.cond((e - 1 - T) % (2 * T) == 0, restart, recursive))

    def _get_closed_form_lr(self):
        e, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        return [eta_min + (b - eta_min) * (1 + _num.cos(_num.pi * e / T)) / 2 for b in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing with warm restarts every ``T_i`` epochs (``T_i`` grows by ``T_mult``)."""

    def __init__(self, optimizer, T_0, T_mult=1, eta_min=0.0, last_epoch=-1):
        if T_0 <= 0 or not isinstance(T_0, int):
            raise ValueError(f"Expected positive integer T_0, but got {T_0}")
        if T_mult < 1 or not isinstance(T_mult, int):
            raise ValueError(f"Expected integer T_mult >= 1, but got {T_mult}")
        if not isinstance(eta_min, (float, int)):
            raise ValueError(f"Expected float or int eta_min, but got {eta_min} of type {type(eta_min)}")
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        _warn_get_lr_called_within_step(self)
        return [self.eta_min + (b - self.eta_min) * (1 + _num.cos(_num.pi * self.T_cur / self.T_i)) / 2
                for b in self.base_lrs]

    def step(self, epoch=None):
        if epoch is None and not _num.is_traced(self.last_epoch) and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            wrap = self.T_cur >= self.T_i
            self.T_cur, self.T_i = _num.cond(wrap, lambda: (self.T_cur % self.T_i, self.T_i * self.T_mult),
                                             lambda: (self.T_cur, self.T_i))
        else:
            if epoch < 0:
                raise ValueError(f"Expected non-negative epoch, but got {epoch}")
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:
                    n = int(math.log((epoch / self.T_0 * (self.T_mult - 1) + 1), self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult ** n
            else:
                self.T_i = self.T_0
                self.T_cur = epoch
        self.last_epoch = _num.floor(epoch)
        with _enable_get_lr_call(self):
            for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
                _set(group, "lr", lr)
        self._last_lr = tuple(_vals(self.optimizer, "lr"))
