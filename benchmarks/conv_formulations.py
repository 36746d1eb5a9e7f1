"""Convolution formulations on XLA:CPU, behind benchmarks/README.md ("Where the cnn step goes").

    python benchmarks/conv_formulations.py

Times the forward pass and the weight gradient of the cnn workload's second convolution
(32 -> 64 channels, 3x3, 26x26 input, batch 64, NCHW) written several ways in plain JAX, each
compiled as its own program, and checks each against the reference.  The padded convolution is
what torchish's ``padded`` lowering does.  Then both cnn convolutions (unpadded and padded by one)
on YNNPACK's and on XLA's own kernels (torchish's ``conv_kernels`` switch): forward, weight
gradient, input gradient, forward + backward.  torchish is imported for its host-memory policy.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import torchish  # noqa: F401  (the host-memory policy every torchish process runs with)
from cpu_ops import tj as timed  # (benchmarks/ is the script's directory)
from torchish._ops import lowering

DN = ("NCHW", "OIHW", "NCHW")


def conv_padded(x, w):
    ho = x.shape[2] - 2
    return lax.conv_general_dilated(x, w, (1, 1), [(0, 1), (0, 1)], dimension_numbers=DN)[:, :, :ho, :ho]


def forwards():
    def valid(x, w):
        return lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=DN)

    def patches(x, w):
        xh = jnp.transpose(x, (0, 2, 3, 1))
        p = lax.conv_general_dilated_patches(xh, (3, 3), (1, 1), "VALID", dimension_numbers=("NHWC", "OIHW", "NHWC"))
        n, h, ww, _ = p.shape
        y = p.reshape(-1, p.shape[-1]) @ w.reshape(w.shape[0], -1).T
        return jnp.transpose(y.reshape(n, h, ww, -1), (0, 3, 1, 2))

    def im2col(x, w):
        xh = jnp.transpose(x, (0, 2, 3, 1))
        ho = x.shape[2] - 2
        cols = jnp.concatenate([xh[:, i:i + ho, j:j + ho, :] for i in range(3) for j in range(3)], -1)
        y = cols.reshape(-1, cols.shape[-1]) @ jnp.transpose(w, (2, 3, 1, 0)).reshape(-1, w.shape[0])
        return jnp.transpose(y.reshape(x.shape[0], ho, ho, -1), (0, 3, 1, 2))

    def tap_sum(x, w):
        xh = jnp.transpose(x, (0, 2, 3, 1))
        ho = x.shape[2] - 2
        y = sum(xh[:, i:i + ho, j:j + ho, :].reshape(-1, x.shape[1]) @ w[:, :, i, j].T for i in range(3) for j in range(3))
        return jnp.transpose(y.reshape(x.shape[0], ho, ho, -1), (0, 3, 1, 2))

    def pad2(x, w):
        ho = x.shape[2] - 2
        return lax.conv_general_dilated(x, w, (1, 1), [(2, 2), (2, 2)], dimension_numbers=DN)[:, :, 2:2 + ho, 2:2 + ho]

    return {"unpadded (VALID)": valid, "padded by one, cropped (torchish)": conv_padded, "padded by two, cropped": pad2,
            "patches + matmul": patches, "im2col + matmul": im2col, "sum of 9 tap matmuls": tap_sum}


def weight_grads(w):
    def autodiff_padded(x, dy):
        return jax.vjp(lambda w: conv_padded(x, w), w)[1](dy)[0]

    def taps_nhwc(x, dy):
        xh, dyh = jnp.transpose(x, (0, 2, 3, 1)), jnp.transpose(dy, (0, 2, 3, 1))
        ho, o, c = dy.shape[2], dy.shape[1], x.shape[1]
        dyf = dyh.reshape(-1, o)
        taps = [dyf.T @ xh[:, i:i + ho, j:j + ho, :].reshape(-1, c) for i in range(3) for j in range(3)]
        return jnp.stack(taps, -1).reshape(o, c, 3, 3)

    def im2col(x, dy):
        xh = jnp.transpose(x, (0, 2, 3, 1))
        ho, o, c = dy.shape[2], dy.shape[1], x.shape[1]
        cols = jnp.concatenate([xh[:, i:i + ho, j:j + ho, :] for i in range(3) for j in range(3)], -1).reshape(-1, 9 * c)
        return (jnp.transpose(dy, (0, 2, 3, 1)).reshape(-1, o).T @ cols).reshape(o, 3, 3, c).transpose(0, 3, 1, 2)

    def conv_of_x_and_dy(x, dy):  # x as (batch=C, feature=N) convolved with dy as the kernel
        out = lax.conv_general_dilated(x, dy, (1, 1), [(0, 1), (0, 1)], dimension_numbers=("CNHW", "IOHW", "NCHW"))
        return out[:, :, :3, :3].transpose(1, 0, 2, 3)

    return {"autodiff of the padded conv (torchish)": autodiff_padded, "9 tap matmuls, NHWC": taps_nhwc,
            "im2col + matmul": im2col, "conv of x with dy, padded": conv_of_x_and_dy}


def main():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((64, 32, 26, 26)).astype(np.float32))
    w = jnp.asarray(rng.standard_normal((64, 32, 3, 3)).astype(np.float32))
    dy = jnp.asarray(rng.standard_normal((64, 64, 24, 24)).astype(np.float32))
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}: conv 32->64 3x3, 26x26, batch 64")
    ref = jax.jit(forwards()["unpadded (VALID)"])(x, w)
    for name, f in forwards().items():
        jf = jax.jit(f)
        err = float(jnp.max(jnp.abs(jf(x, w) - ref)) / jnp.max(jnp.abs(ref)))
        print(f"forward          {name:40s} {timed(jf, x, w):7.2f} ms  (rel. err {err:.1e})")
    ref = jax.jit(weight_grads(w)["autodiff of the padded conv (torchish)"])(x, dy)
    for name, f in weight_grads(w).items():
        jf = jax.jit(f)
        err = float(jnp.max(jnp.abs(jf(x, dy) - ref)) / jnp.max(jnp.abs(ref)))
        print(f"weight gradient  {name:40s} {timed(jf, x, dy):7.2f} ms  (rel. err {err:.1e})")


def kernels():
    rng = np.random.default_rng(0)
    eigen = lowering._CONV_KERNEL_OPTIONS[("eigen", "cpu")]
    for n, c, o, h in [(64, 32, 64, 26), (64, 1, 32, 28)]:
        x = jnp.asarray(rng.standard_normal((n, c, h, h)).astype(np.float32))
        w = jnp.asarray(rng.standard_normal((o, c, 3, 3)).astype(np.float32) * 0.1)
        ct = jnp.asarray(rng.standard_normal((n, o, h - 2, h - 2)).astype(np.float32))
        print(f"conv {c}->{o} 3x3 on {h}x{h}, batch {n}: forward / weight grad / input grad / forward + backward")
        for kernels, opts in (("YNNPACK", None), ("XLA (Eigen)", eigen)):
            for name, f in (("unpadded", forwards()["unpadded (VALID)"]), ("padded by one", conv_padded)):
                jit = functools.partial(jax.jit, compiler_options=opts)
                parts = [jit(f), jit(lambda x, w, ct, f=f: jax.vjp(lambda w: f(x, w), w)[1](ct)),
                         jit(lambda x, w, ct, f=f: jax.vjp(lambda x: f(x, w), x)[1](ct)),
                         jit(lambda x, w, ct, f=f: jax.vjp(f, x, w)[1](ct))]
                ts = [timed(parts[0], x, w)] + [timed(p, x, w, ct) for p in parts[1:]]
                print(f"  {kernels:12s} {name:14s} " + " / ".join(f"{t:6.2f}" for t in ts) + " ms")


if __name__ == "__main__":
    main()
    kernels()
