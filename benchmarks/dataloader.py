"""DataLoader throughput: torchish vs PyTorch, and the effect of device prefetching on a jitted step.

Data: an in-memory dataset of 60,000 x 784 float32 images and int64 labels (MNIST-sized),
``TensorDataset`` + ``DataLoader(batch_size=256, shuffle=True)``, with 0 and 2 workers.
Reported: steady-state batches/s (persistent workers, epochs after the first) and the first
epoch's wall time (which includes starting the workers).

Run:  python benchmarks/dataloader.py [--epochs 3] [--workers 0 2] [--quick]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


def _epochs(make_loader, epochs):
    loader = make_loader()
    t0 = time.perf_counter()
    n = sum(1 for _ in loader)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(epochs):
        for x, y in loader:
            pass
    steady = epochs * n / (time.perf_counter() - t0)
    return first, steady


def bench_torch(X, Y, workers, epochs, batch):
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    ds = TensorDataset(torch.from_numpy(X), torch.from_numpy(Y))
    kw = dict(num_workers=workers, persistent_workers=workers > 0)
    return _epochs(lambda: DataLoader(ds, batch_size=batch, shuffle=True, **kw), epochs)


def bench_torchish(X, Y, workers, epochs, batch):
    import torchish
    from torchish.utils.data import DataLoader, TensorDataset

    ds = TensorDataset(torchish.from_numpy(X), torchish.from_numpy(Y))
    kw = dict(num_workers=workers, persistent_workers=workers > 0)
    return _epochs(lambda: DataLoader(ds, batch_size=batch, shuffle=True, **kw), epochs)


def bench_prefetch(X, Y, batch, steps, repeats=3):
    """A jitted step fed by the loader, with and without DevicePrefetcher (best of ``repeats``, interleaved)."""
    import jax
    import jax.numpy as jnp
    import torchish
    from torchish.utils.data import DataLoader, DevicePrefetcher, TensorDataset

    w = jnp.zeros((784, 512), jnp.float32)

    @jax.jit
    def step(w, x, y):
        h = jnp.tanh(x @ w)
        return w - 1e-3 * (x.T @ h) / x.shape[0], h.sum() + y.sum()

    # the data starts in host memory, as a real dataset does; batches must cross to the device
    ds = TensorDataset(torchish.utils.data._utils.host.host_tensor(X), torchish.utils.data._utils.host.host_tensor(Y))
    dev = jax.devices()[0]
    variants = (("plain", lambda it: it), ("DevicePrefetcher", lambda it: DevicePrefetcher(it, dev, size=2)))
    results = {name: 0.0 for name, _ in variants}
    for _ in range(repeats):
        for name, wrap in variants:
            loader = DataLoader(ds, batch_size=batch, shuffle=True, drop_last=True)
            ww, n, t0 = w, 0, None
            for x, y in wrap(loader):
                ww, out = step(ww, x._value(), y._value())
                n += 1
                if n == 5:  # skip compilation and warm-up
                    jax.block_until_ready(out)
                    t0 = time.perf_counter()
                if n == steps + 5:
                    break
            jax.block_until_ready(ww)
            results[name] = max(results[name], steps / (time.perf_counter() - t0))
    return results, dev


def main():
    # PyTorch's workers fork this process, which has started JAX; they never use JAX, so JAX's warning is moot here
    warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--quick", action="store_true", help="10,000 samples instead of 60,000")
    a = p.parse_args()
    n = 10_000 if a.quick else 60_000
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 784), dtype=np.float32)
    Y = rng.integers(0, 10, n).astype(np.int64)
    print(f"dataset {n} x 784 float32 + int64 labels, batch {a.batch}, {a.epochs} steady epochs")
    print(f"{'workers':>8} {'library':>9} {'batches/s':>10} {'first epoch s':>14}")
    for workers in a.workers:
        for name, fn in (("torch", bench_torch), ("torchish", bench_torchish)):
            first, steady = fn(X, Y, workers, a.epochs, a.batch)
            print(f"{workers:>8} {name:>9} {steady:>10.0f} {first:>14.2f}")
    res, dev = bench_prefetch(X, Y, a.batch, steps=100)
    for k, v in res.items():
        print(f"jitted step on {dev.platform}, {k:>17}: {v:.0f} steps/s")


if __name__ == "__main__":
    main()
