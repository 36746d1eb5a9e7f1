"""Schedulers built from others (``SequentialLR``, ``ChainedScheduler``) and ``ReduceLROnPlateau``."""

from __future__ import annotations

import warnings
from bisect import bisect_right
from math import inf

import jax.numpy as jnp

from . import _num
from ._lr_base import EPOCH_DEPRECATION_WARNING, LRScheduler, _set, _vals

__all__ = ["SequentialLR", "ChainedScheduler", "ReduceLROnPlateau"]


def _check_schedulers(self, optimizer, schedulers):
    name = type(self).__name__
    for i, s in enumerate(schedulers):
        if not hasattr(s, "optimizer"):
            raise TypeError(f"{name} at index {i} should have `optimizer` as its attribute.")
        if isinstance(s, ReduceLROnPlateau):
            raise ValueError(
                f"{name} does not support `ReduceLROnPlateau` scheduler as it requires additional kwargs to be "
                f"specified when calling `step`, but got one at index {i} in the given schedulers sequence."
            )
        if optimizer != s.optimizer:
            raise ValueError(
                f"{name} expects all schedulers to belong to the same optimizer, but got scheduler "
                f"{s.__class__.__name__} at index {i} has {s.optimizer}, which is different from "
                f"{optimizer.__class__.__name__}."
            )


def _deep_numbers(objs):
    """Every (container, key) number of ``objs``, their sub-schedulers and optimizers, once each."""
    seen, out = set(), []

    def visit(o):
        if id(o) in seen:
            return
        seen.add(id(o))
        for c, k in o._torchish_numbers_():
            if (id(c), k) not in seen:
                seen.add((id(c), k))
                out.append((c, k))
        for s in getattr(o, "_schedulers", ()):
            visit(s)
        opt = getattr(o, "optimizer", None)
        if opt is not None:
            visit(opt)

    for o in objs:
        visit(o)
    return out


def _run_if(pred, obj, fn):
    """``if pred: fn()``; for a traced ``pred``, run ``fn`` and keep its effect on numbers where ``pred``."""
    if not _num.is_traced(pred):
        if pred:
            fn()
        return
    pairs = _deep_numbers([obj])
    old = [c[k] for c, k in pairs]
    fn()
    for (c, k), before in zip(pairs, old):
        after = c[k]
        if isinstance(after, tuple):
            c[k] = tuple(jnp.where(pred, a, b) for a, b in zip(after, before))
        else:
            c[k] = jnp.where(pred, after, before)


def _composite_state_dict(self):
    sd = LRScheduler.state_dict(self)
    sd["_schedulers"] = [s.state_dict() for s in self._schedulers]
    return sd


def _composite_load_state_dict(self, state_dict):
    scheds = state_dict.pop("_schedulers")
    self.__dict__.update(state_dict)
    state_dict["_schedulers"] = scheds
    for s, sd in zip(self._schedulers, scheds):
        s.load_state_dict(sd)
    self._after_load()


class SequentialLR(LRScheduler):
    """Run ``schedulers`` one after another, switching at the ``milestones`` epochs."""

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        if len(schedulers) < 1:
            raise ValueError(f"{self.__class__.__name__} expects at least one scheduler, but got no scheduler.")
        _check_schedulers(self, optimizer, schedulers)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                "Sequential Schedulers expects number of schedulers provided to be one more than the number of "
                f"milestone points, but got number of schedulers {len(schedulers)} and the number of milestones "
                f"to be equal to {len(milestones)}"
            )
        self._schedulers = schedulers
        self._milestones = milestones
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in self.optimizer.param_groups:
            _set(group, "lr", group["initial_lr"])
        self.recursive_undo()
        idx = bisect_right(self._milestones, 0)
        self._schedulers[idx]._initial_step()
        self._last_lr = tuple(schedulers[idx].get_last_lr())

    def recursive_undo(self, sched=None):
        scheds = self if sched is None else sched
        if hasattr(scheds, "_schedulers"):
            for s in scheds._schedulers:
                self.recursive_undo(s)
        elif hasattr(scheds, "last_epoch"):
            scheds.last_epoch -= 1

    def _torchish_state_(self):
        return {"optimizer": self.optimizer, "schedulers": list(self._schedulers)}

    def step(self):
        self.last_epoch += 1
        e = _num.concrete(self.last_epoch)
        if e is not None:
            idx = bisect_right(self._milestones, e)
            scheduler = self._schedulers[idx]
            if idx > 0 and self._milestones[idx - 1] == e:
                scheduler._update_lr(0)
            else:
                scheduler.step()
            self._last_lr = tuple(scheduler.get_last_lr())
            return
        # Traced epoch: every scheduler steps, and only the active one's effect is kept.
        e = self.last_epoch
        idx = sum(jnp.where(e >= m, 1, 0) for m in self._milestones)
        last = self._last_lr
        for i, s in enumerate(self._schedulers):
            active = idx == i
            if i > 0:
                at = self._milestones[i - 1] == e
                _run_if(jnp.logical_and(active, at), s, lambda s=s: s._update_lr(0))
                _run_if(jnp.logical_and(active, jnp.logical_not(at)), s, s.step)
            else:
                _run_if(active, s, s.step)
            last = tuple(jnp.where(active, a, b) for a, b in zip(s._last_lr, last))
        self._last_lr = last

    def state_dict(self):
        return _composite_state_dict(self)

    def load_state_dict(self, state_dict):
        _composite_load_state_dict(self, state_dict)


class ChainedScheduler(LRScheduler):
    """Step several schedulers together (their effects multiply/compose on the same lrs)."""

    def __init__(self, schedulers, optimizer=None):
        if len(schedulers) < 1:
            raise ValueError(
                f"{self.__class__.__name__} expects at least one scheduler to be chained, but got no scheduler.")
        optimizer = optimizer or schedulers[0].optimizer
        _check_schedulers(self, optimizer, schedulers)
        self._schedulers = schedulers
        self.optimizer = optimizer
        self._last_lr = tuple(_vals(self._schedulers[-1].optimizer, "lr"))

    def _torchish_state_(self):
        return {"optimizer": self.optimizer, "schedulers": list(self._schedulers)}

    def step(self):
        for s in self._schedulers:
            s.step()
        self._last_lr = tuple(_vals(self._schedulers[-1].optimizer, "lr"))

    def state_dict(self):
        return _composite_state_dict(self)

    def load_state_dict(self, state_dict):
        _composite_load_state_dict(self, state_dict)


class ReduceLROnPlateau(LRScheduler):
    """Reduce the lr by ``factor`` when a metric stops improving for ``patience`` epochs.

    Eager only: ``step(metric)`` needs the metric's value (``float(metric)``), so call it
    outside ``torchish.compile`` (its counters are not declared as traced numbers).
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0, eps=1e-8):
        from .optimizer import Optimizer

        if factor >= 1.0:
            raise ValueError("Factor should be < 1.0.")
        self.factor = factor
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != len(optimizer.param_groups):
                raise ValueError(f"expected {len(optimizer.param_groups)} min_lrs, got {len(min_lr)}")
            self.default_min_lr = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = tuple(_vals(self.optimizer, "lr"))
        self._init_is_better(mode=mode, threshold=threshold, threshold_mode=threshold_mode)
        self._reset()

    def _torchish_numbers_(self):
        return []

    def _reset(self):
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def step(self, metrics, epoch=None):
        current = float(metrics)
        if epoch is None:
            epoch = self.last_epoch + 1
        else:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self.last_epoch = epoch
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce_lr(epoch)
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = tuple(_vals(self.optimizer, "lr"))

    def _reduce_lr(self, epoch):
        if len(self.optimizer.param_groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(
                    "The number of param groups in the `optimizer` "
                    f"({len(self.optimizer.param_groups)}) differs from when `ReduceLROnPlateau` was initialized "
                    f"({len(self.min_lrs)}), usually due to a new param group being added to the optimizer. Please "
                    "modify the `min_lrs` field to match the length of the `optimizer` param groups."
                )
            self.min_lrs = [self.default_min_lr] * len(self.optimizer.param_groups)
        for i, group in enumerate(self.optimizer.param_groups):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, self.min_lrs[i])
            if old_lr - new_lr > self.eps:
                _set(group, "lr", new_lr)

    @property
    def in_cooldown(self):
        return self.cooldown_counter > 0

    def _is_better(self, a, best):
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min" and self.threshold_mode == "abs":
            return a < best - self.threshold
        if self.mode == "max" and self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def _init_is_better(self, mode, threshold, threshold_mode):
        if mode not in {"min", "max"}:
            raise ValueError("mode " + mode + " is unknown!")
        if threshold_mode not in {"rel", "abs"}:
            raise ValueError("threshold mode " + threshold_mode + " is unknown!")
        self.mode_worse = inf if mode == "min" else -inf
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)
        self._init_is_better(mode=self.mode, threshold=self.threshold, threshold_mode=self.threshold_mode)
        self._after_load()
