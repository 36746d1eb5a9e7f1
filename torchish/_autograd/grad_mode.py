"""Grad mode: ``no_grad``, ``enable_grad``, ``set_grad_enabled``, ``inference_mode``.

One process-wide flag (PyTorch's is per thread; torchish's data loader uses processes, and the
flag is read on every op, so a plain attribute keeps dispatch cheap).
"""

from __future__ import annotations

import functools
import inspect


class _GradState:
    __slots__ = ("enabled", "inference")

    def __init__(self):
        self.enabled = True
        self.inference = False


STATE = _GradState()


def is_grad_enabled() -> bool:
    return STATE.enabled


def is_inference_mode_enabled() -> bool:
    return STATE.inference


class _DecoratorContextManager:
    """A context manager that is also a decorator (of functions and generator functions)."""

    def __call__(self, func):
        if inspect.isclass(func):
            raise TypeError(f"{type(self).__name__} cannot decorate a class")
        if inspect.isgeneratorfunction(func):
            @functools.wraps(func)
            def gen(*args, **kwargs):
                g = func(*args, **kwargs)
                with self.clone():
                    try:
                        item = g.send(None)
                    except StopIteration as e:
                        return e.value
                while True:
                    try:
                        with self.clone():
                            sent = yield item
                        with self.clone():
                            item = g.send(sent)
                    except StopIteration as e:
                        return e.value
            return gen

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self.clone():
                return func(*args, **kwargs)

        return wrapper

    def clone(self):
        return type(self)()


class no_grad(_DecoratorContextManager):
    """Disable gradient recording inside the block (or the decorated function)."""

    def __init__(self):
        self.prev = None

    def __enter__(self):
        self.prev = STATE.enabled
        STATE.enabled = False

    def __exit__(self, *exc):
        STATE.enabled = self.prev
        return False


class enable_grad(_DecoratorContextManager):
    """Enable gradient recording inside the block (e.g. within a ``no_grad`` region)."""

    def __init__(self):
        self.prev = None

    def __enter__(self):
        self.prev = STATE.enabled
        STATE.enabled = True

    def __exit__(self, *exc):
        STATE.enabled = self.prev
        return False


class set_grad_enabled(_DecoratorContextManager):
    """Set grad mode: immediately (as a function call), or for a block / decorated function."""

    def __init__(self, mode: bool):
        self.prev = STATE.enabled
        self.mode = bool(mode)
        STATE.enabled = self.mode

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        STATE.enabled = self.prev
        return False

    def clone(self):
        return _SetGradBlock(self.mode)


class _SetGradBlock(_DecoratorContextManager):
    def __init__(self, mode):
        self.mode = mode
        self.prev = None

    def __enter__(self):
        self.prev = STATE.enabled
        STATE.enabled = self.mode

    def __exit__(self, *exc):
        STATE.enabled = self.prev
        return False

    def clone(self):
        return _SetGradBlock(self.mode)


class inference_mode(_DecoratorContextManager):
    """``no_grad`` that is also reported by ``is_inference_mode_enabled`` (no extra speed-up in JAX)."""

    def __init__(self, mode: bool = True):
        self.mode = bool(mode)
        self.prev = None

    def __call__(self, func=None):
        if isinstance(func, bool):  # @inference_mode(False) style handled by __init__
            return inference_mode(func)
        return super().__call__(func)

    def __enter__(self):
        self.prev = (STATE.enabled, STATE.inference)
        if self.mode:
            STATE.enabled, STATE.inference = False, True

    def __exit__(self, *exc):
        STATE.enabled, STATE.inference = self.prev
        return False

    def clone(self):
        return inference_mode(self.mode)
