"""Per-backend lowering choices: one switch per op where XLA's default lowering is slow on
some backend (see benchmarks/README.md for the measurements behind each default).

    torchish.backends.set_lowering("conv", "xla")       # force a lowering
    torchish.backends.set_lowering("conv", None)        # back to the per-backend default
    TORCHISH_LOWERING="conv=xla,max_pool=windows"       # the same, from the environment

Every lowering of an op computes the same values and gradients (tests/test_lowering.py); the
choice only changes speed.  It is read while an op is traced, so changing it clears the
compiled programs of the ops concerned.
"""

from __future__ import annotations

import os

import jax
from jax._src.core import trace_state_clean as _trace_state_clean

# op -> {backend: lowering}; "default" applies to backends not listed.
DEFAULTS: dict = {
    # XLA:CPU lowers reduce_window's gradient to select_and_scatter, ~50x slower than routing the
    # gradient through the argmax of explicit windows.
    "max_pool": {"cpu": "windows", "default": "xla"},
    # XLA:CPU's convolution (forward and weight gradient) is ~3x slower when a spatial dim has no
    # padding; "padded" adds one stride of zeros there and crops the extra output.
    "conv": {"cpu": "padded", "default": "xla"},
    # Not an op: how XLA orders the kernels of every program torchish compiles.  XLA:CPU's
    # default (concurrency-optimised) schedule lets the runtime hand independent small kernels
    # to other threads; for small programs those hand-offs cost more than the kernels (a tiny
    # training step: 51-66 us -> 33 us).  The memory-optimised schedule keeps them on one
    # thread and was as fast or faster on every workload of benchmarks/train_step.py.
    "scheduler": {"cpu": "memory", "default": "xla"},
}
CHOICES: dict = {
    "max_pool": ("xla", "windows"),
    "conv": ("xla", "padded"),
    "scheduler": ("xla", "memory"),
}
# XLA compiler options of each "scheduler" choice, per backend
_SCHEDULER_OPTIONS: dict = {
    ("memory", "cpu"): {"xla_cpu_scheduler_type": "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED"},
}
# registry op names whose programs depend on each switch
AFFECTS: dict = {
    "max_pool": ("max_pool1d", "max_pool2d", "max_pool3d"),
    "conv": ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "unfold", "fold"),
}

_override: dict = {}


def _parse_env() -> None:
    spec = os.environ.get("TORCHISH_LOWERING", "")
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, choice = item.partition("=")
        set_lowering(name.strip(), choice.strip())


def choose(name: str) -> str:
    """The lowering of ``name`` for the backend being compiled for."""
    c = _override.get(name)
    if c is not None:
        return c
    table = DEFAULTS[name]
    return table.get(jax.default_backend(), table["default"])


def set_lowering(name: str, choice) -> None:
    """Force ``choice`` for op family ``name`` (None: the per-backend default)."""
    if name not in CHOICES:
        raise ValueError(f"unknown op family {name!r} for set_lowering; expected one of {sorted(CHOICES)}")
    if choice is not None and choice not in CHOICES[name]:
        raise ValueError(f"unknown lowering {choice!r} for {name!r}; expected one of {CHOICES[name]}")
    if choice is None:
        _override.pop(name, None)
    else:
        _override[name] = choice
    from ._registry import OPS

    if name == "scheduler":  # every program: drop the cached eager-op and optimizer programs
        from ..optim.optimizer import _JIT_CACHE

        _JIT_CACHE.clear()
        for o in OPS.values():
            o._fwd.clear()
            o._vjp.clear()
        return
    for op_name in AFFECTS.get(name, ()):
        o = OPS.get(op_name)
        if o is not None:
            o._fwd.clear()
            o._vjp.clear()


def get_lowering(name: str) -> str:
    return choose(name)


def compiler_options():
    """XLA compiler options for programs compiled now (None: XLA's defaults)."""
    return _SCHEDULER_OPTIONS.get((choose("scheduler"), jax.default_backend()))


def jit(fn, **kwargs):
    """``jax.jit`` with torchish's per-backend compiler options, for programs that usually run at
    top level (compiled steps, optimizer updates).  JAX accepts compiler options only on a
    top-level jit, so a call made while tracing (a compiled model inside a compiled step) goes
    to a plain ``jax.jit`` of the same function."""
    opts = compiler_options()
    if not opts:
        return jax.jit(fn, **kwargs)
    return _TopLevelJit(jax.jit(fn, compiler_options=opts, **kwargs), jax.jit(fn, **kwargs))


class _TopLevelJit:
    __slots__ = ("top", "nested")

    def __init__(self, top, nested):
        self.top = top
        self.nested = nested

    def __call__(self, *args, **kwargs):
        return (self.top if _trace_state_clean() else self.nested)(*args, **kwargs)

    def trace(self, *args, **kwargs):
        return (self.top if _trace_state_clean() else self.nested).trace(*args, **kwargs)

    def lower(self, *args, **kwargs):
        return (self.top if _trace_state_clean() else self.nested).lower(*args, **kwargs)

    def _cache_size(self):
        return self.top._cache_size() + self.nested._cache_size()

    def __getattr__(self, name):  # the rest of jax.jit's interface
        return getattr(self.top, name)
