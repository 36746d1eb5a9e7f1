"""One eager ``optimizer.step()`` on a 50-tensor model: torchish vs torch.optim vs raw optax.

The model is a 25-layer MLP's parameters (25 weights of (H, H) and 25 biases) with fixed
gradients; only the optimizer step is timed (median of repeats, after warm-up).

    python benchmarks/optim_step.py [--hidden 64] [--repeats 200]
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import torchish


def shapes(hidden, layers=25):
    return [s for _ in range(layers) for s in ((hidden, hidden), (hidden,))]


def timeit(fn, repeats, sync=lambda: None):
    for _ in range(10):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_torchish(name, kwargs, arrays, grads, repeats):
    params = [torchish.tensor(a).requires_grad_(True) for a in arrays]
    for p, g in zip(params, grads):
        p.grad = torchish.tensor(g)
    opt = getattr(torchish.optim, name)(params, **kwargs)
    return timeit(opt.step, repeats, lambda: params[-1]._data.block_until_ready())


def bench_torch(name, kwargs, arrays, grads, repeats, foreach):
    import torch

    params = [torch.tensor(a, requires_grad=True) for a in arrays]
    for p, g in zip(params, grads):
        p.grad = torch.tensor(g)
    opt = getattr(torch.optim, name)(params, foreach=foreach, **kwargs)
    return timeit(opt.step, repeats)


def bench_optax(tx, arrays, grads, repeats):
    params = [jnp.asarray(a) for a in arrays]
    gs = [jnp.asarray(g) for g in grads]
    state = tx.init(params)

    @jax.jit
    def update(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    box = [params, state]

    def step():
        box[0], box[1] = update(box[0], box[1], gs)

    return timeit(step, repeats, lambda: jax.block_until_ready(box[0]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=200)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes(args.hidden)]
    grads = [rng.standard_normal(s).astype(np.float32) for s in shapes(args.hidden)]
    try:
        import torch  # noqa: F401

        have_torch = True
    except ImportError:
        have_torch = False

    cases = [("Adam", dict(lr=1e-3), optax.adam(1e-3)), ("SGD", dict(lr=1e-2, momentum=0.9), optax.sgd(1e-2, 0.9))]
    print(f"{len(arrays)} tensors, hidden={args.hidden}, median of {args.repeats} steps (microseconds)")
    for name, kwargs, tx in cases:
        row = {"torchish": bench_torchish(name, kwargs, arrays, grads, args.repeats),
               "optax (jit)": bench_optax(tx, arrays, grads, args.repeats)}
        if have_torch:
            row["torch"] = bench_torch(name, kwargs, arrays, grads, args.repeats, foreach=False)
            row["torch foreach"] = bench_torch(name, kwargs, arrays, grads, args.repeats, foreach=True)
        base = row["torchish"]
        cells = "  ".join(f"{k}: {v * 1e6:8.1f} ({v / base:4.2f}x)" for k, v in row.items())
        print(f"{name:5s} {cells}")
    print("(x = time relative to torchish; >1 means slower than torchish)")


if __name__ == "__main__":
    main()
