"""The host-memory policy (torchish/_malloc.py): memory a step frees is reused by the next one
instead of coming back from the kernel as fresh pages.  Each case runs in a fresh interpreter,
since the policy is set once, at ``import torchish``, before JAX starts its threads."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

import torchish

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
needs_glibc = pytest.mark.skipif(not GLIBC, reason="the host-memory policy applies to glibc's malloc on Linux only")

# page faults per call of a jitted program whose output (40 MB) is allocated by XLA's threads
# and freed again, and per allocation of a 40 MB NumPy array
_PROBE = """
import resource, torchish, jax, jax.numpy as jnp, numpy as np
f = jax.jit(lambda a: a * 2)
a = jnp.ones(10_000_000, jnp.float32)
def faults(fn, n=4):
    for _ in range(12):  # (XLA's pool threads each take their arena's heap once)
        fn()
    r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n):
        fn()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0) / n
xla = faults(lambda: f(a).block_until_ready())
host = faults(lambda: np.ones(10_000_000, np.float32).sum())
print(torchish.backends.host_memory_policy(), xla, host)
"""


def _probe(policy):
    env = dict(os.environ, TORCHISH_MALLOC=policy)
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    name, xla, host = out.stdout.split()
    return name, float(xla), float(host)


@needs_glibc
def test_freed_memory_is_reused_between_calls():
    pages = 40e6 / 4096  # ~9,800 pages per 40 MB buffer
    for policy in ("keep", "keep-one-arena"):
        name, xla, host = _probe(policy)
        assert name == policy
        assert xla < 0.1 * pages and host < 0.1 * pages, (policy, xla, host)
    # and the opt-out leaves glibc's behaviour: every 40 MB block is a fresh mapping (NumPy's
    # arrays too, but NumPy asks for transparent huge pages: fewer, larger faults)
    name, xla, host = _probe("system")
    assert name == "system"
    assert xla > 0.5 * pages, xla


def test_bad_policy_is_a_clear_error():
    env = dict(os.environ, TORCHISH_MALLOC="sometimes")
    out = subprocess.run([sys.executable, "-c", "import torchish"], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode != 0
    assert "TORCHISH_MALLOC='sometimes' is not a host-memory policy; expected 'keep'" in out.stderr


def test_release_host_memory():
    assert torchish.backends.host_memory_policy() in ("keep", "system")
    assert torchish.backends.release_host_memory() in (True, False)
    if GLIBC and os.environ.get("TORCHISH_MALLOC", "keep") == "keep":
        assert torchish.backends.host_memory_policy() == "keep"
