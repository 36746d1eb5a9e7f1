"""PyTorch's dtypes and type-promotion rules, mapped onto NumPy/JAX dtypes.

A ``dtype`` object (``torchish.float32`` ...) wraps the NumPy dtype that JAX uses for it.
``result_type`` implements PyTorch's promotion: operands are ranked as dimensioned tensors >
zero-dim tensors > Python scalars, and a lower-ranked operand only changes the result when it
belongs to a higher *category* (bool < integer < floating).  A Python ``float`` then promotes an
integer tensor to the default float dtype (``float32``), not to ``float64`` as NumPy would.
"""

from __future__ import annotations

import builtins

import jax.numpy as jnp
import ml_dtypes
import numpy as np

from . import _config


class dtype:
    """A tensor element type, as ``torch.dtype``."""

    __slots__ = ("name", "np", "is_floating_point", "is_complex", "is_signed", "itemsize", "_rank")

    def __init__(self, name: str, np_dtype, rank: int):
        self.name = name
        self.np = np.dtype(np_dtype)
        kind = self.np.kind
        self.is_floating_point = kind == "f" or self.np == ml_dtypes.bfloat16
        self.is_complex = kind == "c"
        self.is_signed = kind in "ifc" or self.is_floating_point
        self.itemsize = self.np.itemsize
        self._rank = rank

    def __repr__(self) -> str:
        return f"torchish.{self.name}"

    def __reduce__(self):
        return self.name

    def to_real(self) -> "dtype":
        return self

    @property
    def is_integer(self) -> bool:
        return not (self.is_floating_point or self.is_complex or self is bool)


# NOTE: with the x64 opt-out, 64-bit dtypes keep their names (so code and checkpoints agree)
# but hold 32-bit arrays.
_f64 = np.float64 if _config.X64 else np.float32
_i64 = np.int64 if _config.X64 else np.int32

bool = dtype("bool", np.bool_, 0)  # noqa: A001 - PyTorch's name
uint8 = dtype("uint8", np.uint8, 1)
int8 = dtype("int8", np.int8, 2)
int16 = dtype("int16", np.int16, 3)
int32 = dtype("int32", np.int32, 4)
int64 = dtype("int64", _i64, 5)
float16 = dtype("float16", np.float16, 6)
bfloat16 = dtype("bfloat16", ml_dtypes.bfloat16, 7)
float32 = dtype("float32", np.float32, 8)
float64 = dtype("float64", _f64, 9)
uint16 = dtype("uint16", np.uint16, 3)
uint32 = dtype("uint32", np.uint32, 4)
uint64 = dtype("uint64", np.uint64, 5)

# PyTorch's aliases.
half = float16
float = float32  # noqa: A001
double = float64
short = int16
int = int32  # noqa: A001
long = int64

ALL = (bool, uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64, uint16, uint32, uint64)
_BY_NAME = {d.name: d for d in ALL}
_BY_NAME.update(half=half, float=float32, double=float64, short=int16, int=int32, long=int64)

_FROM_NP: dict = {}
for _d in reversed(ALL):  # with the x64 opt-out, 32-bit numpy types map to the 32-bit names
    _FROM_NP[_d.np] = _d
_FROM_NP[np.dtype(np.int64)] = int64
_FROM_NP[np.dtype(np.float64)] = float64
if not _config.X64:
    _FROM_NP[np.dtype(np.int32)] = int32
    _FROM_NP[np.dtype(np.float32)] = float32

_default_float = float32


def get_default_dtype() -> dtype:
    """The dtype of floating-point tensors created from Python floats (``float32`` unless set)."""
    return _default_float


def set_default_dtype(d: dtype) -> None:
    """Set the default floating-point dtype (``float32`` or ``float64``, as in PyTorch)."""
    global _default_float
    d = as_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"set_default_dtype only supports floating-point dtypes as default type, got {d}")
    _default_float = d


def as_dtype(d) -> dtype:
    """Convert a torchish dtype, NumPy dtype, type, or string name to a torchish ``dtype``."""
    if type(d) is dtype:
        return d
    if isinstance(d, str):
        name = d[6:] if d.startswith("torch.") else d
        name = name[9:] if name.startswith("torchish.") else name
        try:
            return _BY_NAME[name]
        except KeyError:
            raise TypeError(f"unknown dtype name {d!r}; expected one of {sorted(_BY_NAME)}") from None
    if d is builtins.float:
        return float64
    if d is builtins.int:
        return int64
    if d is builtins.bool:
        return bool
    try:
        return _FROM_NP[np.dtype(d)]
    except (KeyError, TypeError):
        raise TypeError(f"cannot interpret {d!r} as a torchish dtype") from None


def from_np(np_dtype) -> dtype:
    """The torchish dtype of an array's NumPy dtype (fast path for ``Tensor.dtype``)."""
    try:
        return _FROM_NP[np_dtype]
    except KeyError:
        return as_dtype(np_dtype)


# ---------------------------------------------------------------------------------------------
# Promotion
# ---------------------------------------------------------------------------------------------

_ORDER = (bool, uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64)


def _category(d: dtype) -> builtins.int:
    if d is bool:
        return 0
    if d.is_floating_point:
        return 2
    return 1


def _promote_pair(a: dtype, b: dtype) -> dtype:
    if a is b:
        return a
    ca, cb = _category(a), _category(b)
    if ca != cb:
        return a if ca > cb else b
    if ca == 2:
        if {a, b} == {float16, bfloat16}:
            return float32
        return a if a._rank > b._rank else b
    if ca == 1:
        unsigned = [d for d in (a, b) if not d.is_signed]
        if unsigned and len(unsigned) == 1:
            u = unsigned[0]
            s = b if u is a else a
            if s.itemsize > u.itemsize:
                return s
            # uint8 with int8 -> int16 (PyTorch); wider unsigned types promote to the next signed.
            return {1: int16, 2: int32, 4: int64}.get(u.itemsize, int64)
        return a if a.itemsize > b.itemsize else b
    return a


_PROMOTE = {(a, b): _promote_pair(a, b) for a in ALL for b in ALL}


def promote_types(a, b) -> dtype:
    """PyTorch's ``promote_types``."""
    return _PROMOTE[(as_dtype(a), as_dtype(b))]


def scalar_dtype(x) -> dtype:
    """The dtype PyTorch gives a Python scalar wrapped into an operation."""
    if isinstance(x, builtins.bool):
        return bool
    if isinstance(x, builtins.int):
        return int64
    return _default_float


def _combine(higher, lower):
    # PyTorch's combine_categories (c10/core/ScalarType.h), without complex.
    if higher is None:
        return lower
    if lower is None:
        return higher
    if higher.is_floating_point:
        return higher
    if higher is bool or lower.is_floating_point:
        return _PROMOTE[(higher, lower)]
    return higher


def result_type_of(dims, zero_dims, scalars) -> dtype:
    """Combine the promoted dtypes of dimensioned tensors, zero-dim tensors and Python scalars."""
    return _combine(dims, _combine(zero_dims, scalars))
