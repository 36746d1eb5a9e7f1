"""Data-parallel training throughput on 1, 2, 4 and 8 devices (weak scaling: fixed batch per device).

    python benchmarks/data_parallel.py [--model cnn|mlp] [--strategy pmap|sharded|fsdp]
                                       [--per-device-batch 16] [--steps 10] [--repeats 3]

For each device count k it wraps the same model in ``DistributedDataParallel(devices=first k)``,
compiles the ordinary PyTorch-style training step with ``torchish.compile`` and prints the
median step time and images per second for a global batch of k x per-device batch.

NOTE: with only a CPU, this script asks XLA for 8 fake host devices.  They share the same CPU
cores, so the numbers show the *overhead* of data parallelism (splitting the batch, averaging
gradients, more programs on the same cores), not a speedup: images/s stays flat or drops.  On
GPUs or TPUs the script runs unchanged and measures real scaling.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()

import jax  # noqa: E402
import numpy as np  # noqa: E402

import torchish  # noqa: E402
import torchish.nn as nn  # noqa: E402
import torchish.nn.functional as F  # noqa: E402
from torchish.nn.parallel import DistributedDataParallel  # noqa: E402


def make_model(kind: str):
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                             nn.Linear(512, 10))
    return nn.Sequential(  # (B, 1, 28, 28)
        nn.Conv2d(1, 32, 3), nn.BatchNorm2d(32), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Linear(128, 10))


def bench(k: int, args) -> tuple[float, int]:
    """Median seconds per step on the first ``k`` devices, and the global batch size."""
    torchish.manual_seed(0)
    model = DistributedDataParallel(make_model(args.model), strategy=args.strategy, devices=jax.devices()[:k])
    opt = torchish.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    @torchish.compile
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    batch = k * args.per_device_batch
    g = np.random.default_rng(0)
    x = torchish.tensor(g.standard_normal((batch, 1, 28, 28)).astype(np.float32))
    y = torchish.tensor(g.integers(0, 10, batch))
    for _ in range(3):  # compile, lazily created state, warm caches
        step(x, y).item()
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for _ in range(args.steps):
            loss = step(x, y)
        loss.item()  # wait for the device
        times.append((time.perf_counter() - t0) / args.steps)
    return statistics.median(times), batch


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=["cnn", "mlp"], default="cnn")
    p.add_argument("--strategy", choices=["pmap", "sharded", "fsdp"], default="pmap")
    p.add_argument("--per-device-batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    devices = jax.devices()
    platform = devices[0].platform
    counts = [k for k in (1, 2, 4, 8) if k <= len(devices)]
    print(f"{args.model}, strategy={args.strategy}, {args.per_device_batch} images per device, "
          f"{len(devices)} {platform} devices ({devices[0].device_kind})")
    if platform == "cpu":
        print("NOTE: fake CPU devices share the same cores: these numbers show data-parallel overhead, not speedup.")
    print(f"{'devices':>7} {'batch':>6} {'step ms':>9} {'images/s':>10} {'per device':>11}")
    for k in counts:
        t, batch = bench(k, args)
        print(f"{k:>7} {batch:>6} {t * 1e3:>9.2f} {batch / t:>10.0f} {batch / t / k:>11.0f}")


if __name__ == "__main__":
    main()
