"""Eager per-call cost of small ops: torchish vs raw ``jax.numpy`` vs PyTorch.

    python benchmarks/eager_ops.py [--n 20000]

Targets (issue 2): torchish forward ops within 1.5x of raw ``jax.numpy`` eager, and the 10-op
forward+backward chain within 3x of PyTorch eager.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp

import torchish

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None


def per_call(fn, n, repeats=5):
    for _ in range(max(n // 20, 10)):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n):
            r = fn()
        if isinstance(r, jax.Array):
            r.block_until_ready()
        times.append((time.perf_counter() - t) / n)
    return statistics.median(times) * 1e6


def chain(x):
    h = x
    for _ in range(5):  # 10 ops: mul + tanh, five times
        h = (h * 1.01).tanh()
    return h.sum()


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    args = ap.parse_args(argv)
    n = args.n
    a16 = torchish.randn(16, 16)
    b16 = torchish.randn(16, 16)
    m64 = torchish.randn(64, 64)
    ja, jb, jm = a16._data, b16._data, m64._data
    if torch:
        ta, tb, tm = torch.tensor(a16.numpy()), torch.tensor(b16.numpy()), torch.tensor(m64.numpy())
    rows = []
    rows.append(("add 16x16", per_call(lambda: a16 + b16, n), per_call(lambda: ja + jb, n),
                 per_call(lambda: ta + tb, n) if torch else None))
    rows.append(("matmul 64x64", per_call(lambda: m64 @ m64, n), per_call(lambda: jm @ jm, n),
                 per_call(lambda: tm @ tm, n) if torch else None))
    rows.append(("sum 16x16", per_call(lambda: a16.sum(), n), per_call(lambda: ja.sum(), n),
                 per_call(lambda: ta.sum(), n) if torch else None))
    x = torchish.randn(16, 16, requires_grad=True)

    def ish_chain():
        x.grad = None
        chain(x).backward()

    jgrad = jax.grad(lambda v: chain_j(v))

    def chain_j(v):
        h = v
        for _ in range(5):
            h = jnp.tanh(h * 1.01)
        return h.sum()

    rows.append(("10-op chain fwd+bwd", per_call(ish_chain, n // 10), per_call(lambda: jax.vjp(chain_j, ja)[1](jnp.float32(1.0))[0], max(n // 200, 20)),
                 None))
    if torch:
        tx = torch.randn(16, 16, requires_grad=True)

        def torch_chain():
            tx.grad = None
            chain(tx).backward()

        rows[-1] = (rows[-1][0], rows[-1][1], rows[-1][2], per_call(torch_chain, n // 10))
    print(f"{'op':24s} {'torchish':>12s} {'jax.numpy':>12s} {'torch':>12s} {'ish/jnp':>8s} {'ish/torch':>9s}")
    for name, t_ish, t_jnp, t_torch in rows:
        tt = f"{t_torch:10.1f}us" if t_torch else "         -"
        r2 = f"{t_ish / t_torch:8.2f}x" if t_torch else "        -"
        print(f"{name:24s} {t_ish:10.1f}us {t_jnp:10.1f}us {tt} {t_ish / t_jnp:7.2f}x {r2}")
    print("(the jax.numpy chain column is an eager jax.vjp, which the tape avoids)")
    return rows


if __name__ == "__main__":
    main()
