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

# how many of 20 calls touch no fresh pages (< 10% of their 40 MB): a jitted program whose
# output XLA's threads allocate and the caller frees, and a 40 MB NumPy array.  (Each of XLA's
# pool threads takes a heap of its own arena once, so some calls fault even when memory is kept.)
_PROBE = """
import resource, torchish, jax, jax.numpy as jnp, numpy as np
f = jax.jit(lambda a: a * 2)
a = jnp.ones(10_000_000, jnp.float32)
def reused(fn, n=20):
    fn()
    free = 0
    for _ in range(n):
        r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        fn()
        free += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0 < 0.1 * 40e6 / 4096
    return free
xla = reused(lambda: f(a).block_until_ready())
host = reused(lambda: np.ones(10_000_000, np.float32).sum())
print(torchish.backends.host_memory_policy(), xla, host)
"""


def _probe(policy):
    env = dict(os.environ, TORCHISH_MALLOC=policy)
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    name, xla, host = out.stdout.split()
    return name, int(xla), int(host)


@needs_glibc
def test_freed_memory_is_reused_between_calls():
    for policy in ("keep", "keep-one-arena"):
        name, xla, host = _probe(policy)
        assert name == policy
        assert xla >= 5 and host >= 15, (policy, xla, host)
    # the opt-out leaves glibc's behaviour: every 40 MB block XLA allocates is a fresh mapping
    # (NumPy's too, but NumPy asks for transparent huge pages: fewer, larger faults)
    name, xla, host = _probe("system")
    assert name == "system"
    assert xla == 0, xla


def test_bad_policy_is_a_clear_error():
    env = dict(os.environ, TORCHISH_MALLOC="sometimes")
    out = subprocess.run([sys.executable, "-c", "import torchish"], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode != 0
    assert "TORCHISH_MALLOC='sometimes' is not a host-memory policy; expected 'keep'" in out.stderr


def test_release_host_memory():
    assert torchish.backends.host_memory_policy() in ("keep", "keep-one-arena", "system")
    assert torchish.backends.release_host_memory() in (True, False)


@needs_glibc
def test_release_host_memory_returns_kept_memory():
    # with "keep" a freed 200 MB block stays resident; release_host_memory() hands it back
    code = """
import numpy as np, torchish
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096
a = np.ones(50_000_000, np.float32); del a
kept = rss()
released = torchish.backends.release_host_memory()
print(torchish.backends.host_memory_policy(), released, (kept - rss()) / 1e6)
"""
    env = dict(os.environ, TORCHISH_MALLOC="keep")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    name, released, freed_mb = out.stdout.split()
    assert name == "keep" and released == "True" and float(freed_mb) > 150, out.stdout
