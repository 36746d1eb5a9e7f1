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
from jax._src.core import jaxprs_in_params as _jaxprs_in_params
from jax._src.core import trace_state_clean as _trace_state_clean

# op -> {backend: lowering}; "default" applies to backends not listed.
DEFAULTS: dict = {
    # XLA:CPU lowers reduce_window's gradient to select_and_scatter, ~50x slower than routing the
    # gradient through the argmax of explicit windows.
    "max_pool": {"cpu": "windows", "default": "xla"},
    # XLA:CPU's convolution (forward and weight gradient) is ~3x slower when a spatial dim has no
    # padding; "padded" adds one stride of zeros there and crops the extra output.
    "conv": {"cpu": "padded", "default": "xla"},
    # Not an op: how XLA orders the kernels of the programs torchish compiles.  XLA:CPU's
    # default (concurrency-optimised) schedule lets the runtime hand independent kernels to
    # other threads; for small kernels those hand-offs cost more than the kernels (a tiny
    # training step: 51-66 us -> 33 us with the memory-optimised schedule; mlp and gpt steps
    # equal or faster).  Convolutions run asynchronously and overlap with other kernels only
    # under the concurrency-optimised schedule (cnn step 50 -> 42 ms), so "auto" keeps XLA's
    # schedule for programs that contain a convolution.
    "scheduler": {"cpu": "auto", "default": "xla"},
}
CHOICES: dict = {
    "max_pool": ("xla", "windows"),
    "conv": ("xla", "padded"),
    "scheduler": ("xla", "memory", "auto"),
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


def compiler_options(convolutions: bool = False):
    """XLA compiler options for a program compiled now (None: XLA's defaults); ``convolutions``:
    whether the program contains one (see the "scheduler" entry of DEFAULTS)."""
    choice = choose("scheduler")
    if choice == "auto":
        choice = "xla" if convolutions else "memory"
    return _SCHEDULER_OPTIONS.get((choice, jax.default_backend()))


def has_convolution(jaxpr) -> bool:
    """Whether ``jaxpr`` (or a jaxpr nested in it) contains a convolution."""
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "conv_general_dilated":
            return True
        if any(has_convolution(sub) for sub in _jaxprs_in_params(eqn.params)):
            return True
    return False


def jit(fn, *, convolutions: bool = False, top_level_only: bool = False, **kwargs):
    """``jax.jit`` with torchish's per-backend compiler options, for programs that usually run at
    top level (compiled steps, optimizer updates).  JAX accepts compiler options only on a
    top-level jit, so a call made while tracing (a compiled model inside a compiled step) goes
    to a plain ``jax.jit`` of the same function (``top_level_only``: a program never called
    while tracing needs none)."""
    opts = compiler_options(convolutions)
    if not opts:
        return jax.jit(fn, **kwargs)
    if top_level_only:
        return jax.jit(fn, compiler_options=opts, **kwargs)
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
