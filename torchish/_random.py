"""``Generator``: random-number state as an ordinary box.

A Generator owns one Tensor holding a raw threefry key (``uint32[2]``).  Each draw splits the
key inside the same jitted program that samples (``sample``), stores the new key in the box,
and uses the other half; so eager sampling is one dispatch, and inside ``torchish.compile``
the key box is threaded through like any other state: dropout gets a fresh mask every step.

Values differ from PyTorch's for the same seed (different algorithm); distributions and
reproducibility (same seed, same numbers) are the same.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from ._tensor import Tensor, apply_op, wrap

_DEFAULT_SEED = 67280421310721  # PyTorch's default_generator seed


def _key_from_seed(seed: int):
    # NOTE: a NumPy array (moved to the device on first use): seeding, and the default generator
    # made at import, must not start the XLA backend before jax.distributed.initialize.
    seed = int(seed) & 0xFFFFFFFFFFFFFFFF
    hi, lo = (seed >> 32) & 0xFFFFFFFF, seed & 0xFFFFFFFF
    return np.array([hi, lo], dtype=np.uint32)


class Generator:
    """A seedable source of random numbers, as ``torch.Generator``.

    Example:
        >>> g = torchish.Generator().manual_seed(0)
        >>> torchish.rand(2, generator=g).shape
        torchish.Size([2])
    """

    def __init__(self, device="cpu"):
        self.device = device
        self._seed = _DEFAULT_SEED
        self._key = wrap(_key_from_seed(self._seed))
        self._fold = None  # set by data-parallel: a per-device index folded into each draw

    def manual_seed(self, seed) -> "Generator":
        seed = int(seed)
        self._seed = seed
        self._key._data = _key_from_seed(seed)
        self._key._v += 1
        return self

    def seed(self) -> int:
        s = int.from_bytes(os.urandom(8), "little") & ((1 << 63) - 1)
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> Tensor:
        """The key as a ``uint32`` tensor of shape (2,) (not PyTorch's byte layout)."""
        return wrap(jnp.asarray(self._key._value()))

    def set_state(self, state) -> "Generator":
        arr = state._value() if isinstance(state, Tensor) else jnp.asarray(state)
        if arr.shape != (2,):
            raise ValueError(f"Generator.set_state expected a key of shape (2,), got shape {tuple(arr.shape)}")
        self._key._data = arr.astype(jnp.uint32)
        self._key._v += 1
        return self

    def __repr__(self) -> str:
        return f"<torchish.Generator seed={self._seed}>"

    # compile protocol: the boxes this object owns
    def _torchish_state_(self):
        return {"key": self._key}

    def state_dict(self):
        return {"key": self.get_state(), "seed": self._seed}

    def load_state_dict(self, sd):
        self._seed = int(sd["seed"])
        self.set_state(sd["key"])


default_generator = Generator()

_SAMPLERS: dict = {}


def _sampler(op, static, fold):
    key = (op, static, fold)
    fn = _SAMPLERS.get(key)
    if fn is None:
        impl = op.bind(static)

        def run(k, idx, *args):
            new, sub = jax.random.split(k)
            if fold:
                sub = jax.random.fold_in(sub, idx)
            return new, impl(sub, *args)

        fn = _SAMPLERS[key] = jax.jit(run)
    return fn


def sample(op, static: tuple, generator, *args):
    """Draw from random op ``op`` with ``generator`` (default: the global one); one dispatch."""
    g = generator if generator is not None else default_generator
    arrays = [a._value() if isinstance(a, Tensor) else a for a in args]
    fold = g._fold
    idx = fold() if fold is not None else 0
    new, out = _sampler(op, static, fold is not None)(g._key._value(), idx, *arrays)
    g._key._data = new
    return wrap(out)


def next_key(generator=None):
    """A fresh raw key from ``generator`` (advancing it), for ops that take a key input."""
    g = generator if generator is not None else default_generator
    new, sub = _split(g._key._value())
    if g._fold is not None:
        sub = jax.random.fold_in(sub, g._fold())
    g._key._data = new
    return sub


@jax.jit
def _split(k):
    a, b = jax.random.split(k)
    return a, b


def manual_seed(seed) -> Generator:
    """Seed the default generator (and return it)."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    return default_generator.get_state()


def set_rng_state(state) -> None:
    default_generator.set_state(state)


__all__ = ["Generator", "default_generator", "sample", "next_key", "manual_seed", "seed", "initial_seed",
           "get_rng_state", "set_rng_state", "apply_op"]
