"""Exception classes raised by torchish.

User input errors are plain ``ValueError``/``TypeError``/``RuntimeError`` with messages that
say which value was wrong, what was expected and what to do.  The classes here name misuse
patterns specific to torchish (mostly around ``torchish.compile``): each message shows the
pattern, why it breaks, and the fix.
"""

from __future__ import annotations


class TorchishError(RuntimeError):
    """Base class of torchish's own errors."""


class TracedValueError(TorchishError):
    """A Python value was requested from a tensor whose value is not known while tracing.

    Inside ``torchish.compile`` tensors hold abstract values (JAX tracers): ``.item()``,
    ``.tolist()``, ``bool(t)``, ``if t > 0:`` and ``float(t)`` need a concrete number.
    """


class TracerLeakError(TorchishError):
    """A tensor computed inside ``torchish.compile`` was stored outside the tracked state."""


class CompileError(TorchishError):
    """``torchish.compile`` could not turn the function into one XLA program."""
