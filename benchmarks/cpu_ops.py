"""Per-op CPU micro-benchmarks behind benchmarks/README.md ("Where the CPU time goes").

    python benchmarks/cpu_ops.py

Times forward and gradient programs of the ops that dominate the cnn and gpt workloads of
train_step.py, for torchish's op implementations (XLA, and each lowering of
``torchish.backends.set_lowering``) against PyTorch eager, at those workloads' shapes.
"""

from __future__ import annotations

import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import torchish
from torchish._ops import OPS, lowering

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None


def tt(f, n=9):
    """Median ms of ``n`` calls of ``f()`` (after one warm-up call)."""
    f()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1e3


def tj(f, *a, n=9):
    """Median ms of a JAX function ``f(*a)``, waiting for its result each time."""
    return tt(lambda: jax.block_until_ready(f(*a)), n)


def grad_of(f, argnums=0):
    """Gradients of ``f`` pulled back from a fixed random cotangent.  (Not of ``sum(f)``: its
    all-ones cotangent lets XLA simplify, e.g. a convolution's weight gradient into window sums.)"""
    argnums = argnums if isinstance(argnums, tuple) else (argnums,)

    @jax.jit
    def pull(ct, *a):
        def part(*d):
            full = list(a)
            for i, v in zip(argnums, d):
                full[i] = v
            return f(*full)

        return jax.vjp(part, *[a[i] for i in argnums])[1](ct)

    cts = {}

    def run(*a):
        out = jax.eval_shape(f, *a)
        key = (out.shape, str(out.dtype))
        if key not in cts:
            cts[key] = jax.random.normal(jax.random.PRNGKey(0), out.shape, out.dtype)
        return pull(cts[key], *a)

    return run


_TORCH_CTS: dict = {}


def torch_backward(out):
    """``out.backward`` with a fixed random cotangent (as ``grad_of``; made once per shape)."""
    ct = _TORCH_CTS.get(tuple(out.shape))
    if ct is None:
        ct = _TORCH_CTS[tuple(out.shape)] = torch.randn(out.shape, generator=torch.Generator().manual_seed(0))
    out.backward(ct)


def row(name, ish, ref=None):
    r = f"{ish / ref:6.2f}x" if ref else ""
    print(f"{name:44s} {ish:8.2f} ms " + (f"{ref:8.2f} ms {r}" if ref else ""), flush=True)


def main():
    rng = np.random.default_rng(0)
    f32 = np.float32
    print(f"{'op (cnn/gpt shapes)':44s} {'torchish':>11s} {'torch':>11s}  ratio")
    # convolutions of the cnn workload, through torchish's conv2d op, each lowering
    for cin, cout, hw in ((1, 32, 28), (32, 64, 26)):
        x = rng.standard_normal((64, cin, hw, hw)).astype(f32)
        w = rng.standard_normal((cout, cin, 3, 3)).astype(f32)
        jx, jw = jnp.asarray(x), jnp.asarray(w)
        tf = tfb = None
        if torch is not None:
            tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
            tf = tt(lambda: torch.nn.functional.conv2d(tx, tw))
            tfb = tt(lambda: torch_backward(torch.nn.functional.conv2d(tx, tw)))
        for choice in lowering.CHOICES["conv"]:
            lowering.set_lowering("conv", choice)
            c = OPS["conv2d"].bind((("stride", (1, 1)), ("padding", ((0, 0), (0, 0))), ("dilation", (1, 1)),
                                    ("groups", 1), ("dtype", np.dtype("float32")), ("padding_mode", "zeros")))

            def cw(x, w, c=c):
                return c(x, w, None)

            row(f"conv {cin}->{cout} 3x3 {hw}x{hw} b64 [{choice}]: forward", tj(jax.jit(cw), jx, jw), tf)
            row("    forward+backward (input and weight grads)", tj(grad_of(cw, (0, 1)), jx, jw), tfb)
            row("    weight gradient alone", tj(grad_of(cw, 1), jx, jw))
            row("    input gradient alone", tj(grad_of(cw, 0), jx, jw))
        lowering.set_lowering("conv", None)
    # max pooling, each lowering
    x = jnp.asarray(rng.standard_normal((64, 64, 24, 24)).astype(f32))
    for choice in lowering.CHOICES["max_pool"]:
        lowering.set_lowering("max_pool", choice)
        mp = OPS["max_pool2d"].bind((("kernel", (2, 2)), ("stride", (2, 2)), ("padding", (0, 0)), ("dilation", (1, 1)),
                                     ("ceil_mode", False)))
        ref = None
        if torch is not None:
            tx = torch.tensor(np.asarray(x), requires_grad=True)
            ref = tt(lambda: torch_backward(torch.nn.functional.max_pool2d(tx, 2)))
        row(f"max_pool2d 2x2 fwd+bwd, lowering={choice}", tj(grad_of(mp), x), ref)
    lowering.set_lowering("max_pool", None)
    # gpt pieces
    h = jnp.asarray(rng.standard_normal((16, 128, 512)).astype(f32))
    xg = jnp.asarray(rng.standard_normal((16, 128, 128)).astype(f32))
    q = jnp.asarray(rng.standard_normal((16, 4, 128, 32)).astype(f32))
    gelu = OPS["gelu"].bind((("dtype", np.dtype("float32")), ("approximate", "none")))
    ln = OPS["layer_norm"].bind((("normalized_ndim", 1), ("eps", 1e-5)))
    sdpa = OPS["scaled_dot_product_attention"].bind((("is_causal", True), ("scale", None), ("dropout_p", 0.0),
                                                     ("enable_gqa", False)))
    ones, zeros = jnp.ones(128, jnp.float32), jnp.zeros(128, jnp.float32)
    logits = jnp.asarray(rng.standard_normal((2048, 256)).astype(f32))
    labels = rng.integers(0, 256, 2048)
    ce = OPS["cross_entropy"].bind((("class_dim", 1), ("reduction", "mean"), ("ignore_index", -100),
                                    ("label_smoothing", 0.0), ("dtype", np.dtype("float32"))))
    pieces = [
        ("gelu (erf) fwd+bwd 16x128x512", lambda: tj(grad_of(gelu), h),
         lambda t: torch.nn.functional.gelu(t), np.asarray(h)),
        ("layer_norm fwd+bwd 16x128x128", lambda: tj(grad_of(lambda x: ln(x, ones, zeros)), xg),
         lambda t: torch.nn.functional.layer_norm(t, (128,)), np.asarray(xg)),
        ("softmax cross-entropy fwd+bwd 2048x256", lambda: tj(grad_of(lambda z: ce(z, jnp.asarray(labels), None)), logits),
         lambda t: torch.nn.functional.cross_entropy(t, torch.tensor(labels)), np.asarray(logits)),
        ("causal attention (sdpa) fwd+bwd 16x4x128x32", lambda: tj(grad_of(lambda q: sdpa(q, q, q, None, None)), q),
         lambda t: torch.nn.functional.scaled_dot_product_attention(t, t, t, is_causal=True), np.asarray(q)),
    ]
    for name, ish, tfn, arr in pieces:
        ref = None
        if torch is not None:
            t = torch.tensor(arr, requires_grad=True)
            ref = tt(lambda: torch_backward(tfn(t)))
        row(name, ish(), ref)


if __name__ == "__main__":
    main()
