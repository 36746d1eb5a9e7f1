"""Process-wide switches read once from the environment.

``TORCHISH_X64=0`` opts out of 64-bit dtypes: ``float64``/``int64`` then map to 32-bit JAX
dtypes (for accelerators without fast 64-bit support).  By default torchish enables
``jax_enable_x64`` so that ``int64`` (PyTorch's default integer) and ``float64`` exist;
torchish always passes explicit dtypes to JAX, so no float64 appears unless asked for.
"""

from __future__ import annotations

import os

import jax

X64: bool = os.environ.get("TORCHISH_X64", "1").lower() not in ("0", "false", "no", "off")

if X64:
    jax.config.update("jax_enable_x64", True)
