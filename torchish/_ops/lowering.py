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
    # With YNNPACK's convolutions (conv_kernels="xla" below), XLA:CPU runs a convolution with no
    # spatial padding ~3x slower (forward and weight gradient); "padded" adds one stride of zeros
    # there and crops the extra output.  XLA's own kernels (the CPU default) need no such trick:
    # the cnn step takes 24.8 ms with "xla" and 28.0 ms with "padded".
    "conv": {"default": "xla"},
    # Not an op: how XLA orders the kernels of the programs torchish compiles.  XLA:CPU's
    # default (concurrency-optimised) schedule lets the runtime hand independent kernels to
    # other threads; for small kernels those hand-offs cost more than the kernels (a tiny
    # training step: 51-66 us -> 33 us with the memory-optimised schedule; mlp and gpt steps
    # equal or faster).  Convolutions run asynchronously and overlap with other kernels only
    # under the concurrency-optimised schedule (cnn step 50 -> 42 ms), so "auto" keeps XLA's
    # schedule for programs that contain a convolution.
    "scheduler": {"cpu": "auto", "default": "xla"},
    # Not an op either: which kernels run the convolutions of a program.  XLA:CPU (jaxlib 0.10)
    # hands convolutions to YNNPACK; its own (Eigen) kernels run the cnn's 32->64 convolution
    # forward + backward in 14-15 ms instead of 21-22 ms (cnn step 31-32 -> 27-28 ms).  "eigen"
    # compiles programs that contain a convolution with YNNPACK kept for dots and reductions only.
    "conv_kernels": {"cpu": "eigen", "default": "xla"},
}
CHOICES: dict = {
    "max_pool": ("xla", "windows"),
    "conv": ("xla", "padded"),
    "scheduler": ("xla", "memory", "auto"),
    "conv_kernels": ("xla", "eigen"),
}
# XLA compiler options of each "scheduler" / "conv_kernels" choice, per backend
_SCHEDULER_OPTIONS: dict = {
    ("memory", "cpu"): {"xla_cpu_scheduler_type": "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED"},
}
# (XLA's default list is INDIVIDUAL_DOT, REDUCE, INDIVIDUAL_CONVOLUTION; a list replaces it)
_CONV_KERNEL_OPTIONS: dict = {
    ("eigen", "cpu"): {"xla_cpu_experimental_ynn_fusion_type":
                       "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE"},
}
# option dicts (as sorted item tuples) -> whether the installed XLA accepts them
_ACCEPTED: dict = {}
# registry op names whose programs depend on each switch
AFFECTS: dict = {
    "max_pool": ("max_pool1d", "max_pool2d", "max_pool3d"),
    "conv": ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "unfold", "fold"),
}

_override: dict = {}


def _parse_env() -> None:
    """Apply ``TORCHISH_LOWERING`` (read once, when this module is imported: nothing is compiled
    yet, so there are no cached programs to drop)."""
    spec = os.environ.get("TORCHISH_LOWERING", "")
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, choice = item.partition("=")
        try:
            _override[name.strip()] = _checked(name.strip(), choice.strip())
        except ValueError as e:
            raise ValueError(f"TORCHISH_LOWERING={spec!r}: {e}") from None


def choose(name: str) -> str:
    """The lowering of ``name`` for the backend being compiled for."""
    c = _override.get(name)
    if c is not None:
        return c
    table = DEFAULTS[name]
    return table.get(jax.default_backend(), table["default"])


def set_lowering(name: str, choice) -> None:
    """Force ``choice`` for op family ``name`` (None: the per-backend default)."""
    if choice is None:
        _checked(name, None)
        _override.pop(name, None)
    else:
        _override[name] = _checked(name, choice)
    from ._registry import OPS

    if name in ("scheduler", "conv_kernels"):  # program-wide: drop the cached eager-op and optimizer programs
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


def _checked(name: str, choice):
    if name not in CHOICES:
        raise ValueError(f"unknown op family {name!r} for set_lowering; expected one of {sorted(CHOICES)}")
    if choice is not None and choice not in CHOICES[name]:
        raise ValueError(f"unknown lowering {choice!r} for {name!r}; expected one of {CHOICES[name]}")
    return choice


def get_lowering(name: str) -> str:
    return choose(name)


def compiler_options(convolutions: bool = False):
    """XLA compiler options for a program compiled now (None: XLA's defaults); ``convolutions``:
    whether the program contains one (see the "scheduler" and "conv_kernels" entries of DEFAULTS)."""
    backend = jax.default_backend()
    choice = choose("scheduler")
    if choice == "auto":
        choice = "xla" if convolutions else "memory"
    opts = dict(_SCHEDULER_OPTIONS.get((choice, backend), {}))
    if convolutions:
        conv = _CONV_KERNEL_OPTIONS.get((choose("conv_kernels"), backend))
        if conv and _accepted(conv):
            opts.update(conv)
    return opts or None


def _accepted(opts: dict) -> bool:
    """Whether this jaxlib's XLA knows ``opts`` (an option missing from an older or newer XLA
    would fail every compilation; it is then left out)."""
    key = tuple(sorted(opts.items()))
    ok = _ACCEPTED.get(key)
    if ok is None:
        try:
            jax.jit(lambda a: a + 1, compiler_options=opts).lower(jax.numpy.zeros((), "float32")).compile()
            ok = True
        except Exception:  # noqa: BLE001  (XLA raises its own error types for unknown options)
            ok = False
        _ACCEPTED[key] = ok
    return ok


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


_parse_env()
