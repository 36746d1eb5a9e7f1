"""Training-step speed: torchish eager / torchish.compile / hand-written JAX + optax / PyTorch.

    python benchmarks/train_step.py [--workloads mlp,cnn,gpt,tiny] [--repeats 5] [--steps 20]

Prints the median step time of each implementation and its ratio to hand-written JAX + optax
(pure functions, ``jax.jit``, donated state), all measured in one process with the repeats
interleaved (each implementation once per round).  The torch and
torchish models are the *same code* (written against a library ``L``); Flax NNX (``nnx.jit``)
and ``torch.compile`` columns appear when available (``--torch-compile`` to include the latter).
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

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None


# ----------------------------------------------------------------------------- models (torch API)
def mlp_model(L, sizes):
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [L.nn.Linear(a, b), L.nn.ReLU()]
    return L.nn.Sequential(*layers[:-1])


def cnn_model(L):
    return L.nn.Sequential(
        L.nn.Conv2d(1, 32, 3), L.nn.ReLU(), L.nn.Conv2d(32, 64, 3), L.nn.ReLU(), L.nn.MaxPool2d(2),
        L.nn.Flatten(), L.nn.Linear(9216, 128), L.nn.ReLU(), L.nn.Linear(128, 10))


def gpt_model(L, vocab=256, d=128, layers=2, heads=4, mlp=512, seq=128, sdpa=False):
    nn, F = L.nn, L.nn.functional

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.fc, self.out = nn.Linear(d, mlp), nn.Linear(mlp, d)

        def forward(self, x):  # (B, T, C)
            B, T, C = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
            q, k, v = (t.view(B, T, heads, C // heads).transpose(1, 2) for t in (q, k, v))  # (B, H, T, hd)
            if sdpa:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:
                att = (q @ k.transpose(-2, -1)) * (1.0 / (C // heads) ** 0.5)
                mask = L.ones(T, T, dtype=L.bool).tril()
                att = att.masked_fill(~mask, float("-inf")).softmax(-1)
                y = att @ v
            x = x + self.proj(y.transpose(1, 2).reshape(B, T, C))
            return x + self.out(F.gelu(self.fc(self.ln2(x))))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(seq, d)
            self.blocks = nn.ModuleList([Block() for _ in range(layers)])
            self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, vocab)

        def forward(self, idx):
            x = self.tok(idx) + self.pos(L.arange(idx.shape[1]))
            for b in self.blocks:
                x = b(x)
            return self.head(self.ln(x))

    return GPT()


WORKLOADS = {
    "mlp": dict(make=lambda L: mlp_model(L, [784, 1024, 1024, 10]), x=(256, 784), classes=10, opt="Adam", lr=1e-3),
    "cnn": dict(make=cnn_model, x=(64, 1, 28, 28), classes=10, opt="Adam", lr=1e-3),
    "gpt": dict(make=gpt_model, x=(16, 128), classes=256, opt="AdamW", lr=3e-4, tokens=True),
    "tiny": dict(make=lambda L: mlp_model(L, [32, 64, 10]), x=(8, 32), classes=10, opt="Adam", lr=1e-3),
}


def data(w, seed=0):
    g = np.random.default_rng(seed)
    if w.get("tokens"):
        x = g.integers(0, w["classes"], w["x"]).astype(np.int64)
        y = g.integers(0, w["classes"], w["x"]).astype(np.int64)
    else:
        x = g.standard_normal(w["x"]).astype(np.float32)
        y = g.integers(0, w["classes"], w["x"][0]).astype(np.int64)
    return x, y


def lib_step(L, model, opt, tokens):
    F = L.nn.functional

    def step(x, y):
        opt.zero_grad()
        out = model(x)
        loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1)) if tokens else F.cross_entropy(out, y)
        loss.backward()
        opt.step()
        return loss

    return step


# -------------------------------------------------------------------- hand-written JAX + optax
def _linear_init(key, a, b):
    k1, k2 = jax.random.split(key)
    bound = 1 / np.sqrt(a)
    return {"w": jax.random.uniform(k1, (a, b), jnp.float32, -bound, bound),
            "b": jax.random.uniform(k2, (b,), jnp.float32, -bound, bound)}


def jax_mlp(sizes):
    def init(key):
        keys = jax.random.split(key, len(sizes) - 1)
        return [_linear_init(k, a, b) for k, a, b in zip(keys, sizes[:-1], sizes[1:])]

    def apply(p, x):
        for i, l in enumerate(p):
            x = x @ l["w"] + l["b"]
            if i < len(p) - 1:
                x = jax.nn.relu(x)
        return x

    return init, apply


def jax_cnn():
    def conv_init(key, cin, cout):
        k1, k2 = jax.random.split(key)
        bound = 1 / np.sqrt(cin * 9)
        return {"w": jax.random.uniform(k1, (cout, cin, 3, 3), jnp.float32, -bound, bound),
                "b": jax.random.uniform(k2, (cout,), jnp.float32, -bound, bound)}

    def init(key):
        k = jax.random.split(key, 4)
        return {"c1": conv_init(k[0], 1, 32), "c2": conv_init(k[1], 32, 64),
                "f1": _linear_init(k[2], 9216, 128), "f2": _linear_init(k[3], 128, 10)}

    def conv(x, p):
        y = jax.lax.conv_general_dilated(x, p["w"], (1, 1), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return y + p["b"][None, :, None, None]

    def apply(p, x):
        x = jax.nn.relu(conv(x, p["c1"]))
        x = jax.nn.relu(conv(x, p["c2"]))
        x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
        x = x.reshape(x.shape[0], -1)
        x = jax.nn.relu(x @ p["f1"]["w"] + p["f1"]["b"])
        return x @ p["f2"]["w"] + p["f2"]["b"]

    return init, apply


def jax_gpt(vocab=256, d=128, layers=2, heads=4, mlp=512, seq=128):
    def ln_init():
        return {"g": jnp.ones(d, jnp.float32), "b": jnp.zeros(d, jnp.float32)}

    def init(key):
        ks = iter(jax.random.split(key, 4 + 4 * layers))
        # NOTE: explicit float32 everywhere: torchish enables jax_enable_x64 (PyTorch's int64/float64 exist).
        p = {"tok": jax.random.normal(next(ks), (vocab, d), jnp.float32), "pos": jax.random.normal(next(ks), (seq, d), jnp.float32),
             "ln": ln_init(), "head": _linear_init(next(ks), d, vocab), "blocks": []}
        for _ in range(layers):
            p["blocks"].append({"ln1": ln_init(), "ln2": ln_init(), "qkv": _linear_init(next(ks), d, 3 * d),
                                "proj": _linear_init(next(ks), d, d), "fc": _linear_init(next(ks), d, mlp),
                                "out": _linear_init(next(ks), mlp, d)})
        return p

    def ln(x, p):
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) * jax.lax.rsqrt(v + 1e-5) * p["g"] + p["b"]

    def lin(x, p):
        return x @ p["w"] + p["b"]

    def apply(p, idx):
        B, T = idx.shape
        x = p["tok"][idx] + p["pos"][jnp.arange(T)]
        mask = jnp.tril(jnp.ones((T, T), bool))
        for b in p["blocks"]:
            q, k, v = jnp.split(lin(ln(x, b["ln1"]), b["qkv"]), 3, axis=-1)
            q, k, v = (t.reshape(B, T, heads, d // heads).transpose(0, 2, 1, 3) for t in (q, k, v))
            att = (q @ k.transpose(0, 1, 3, 2)) * np.float32(1 / np.sqrt(d // heads))
            att = jax.nn.softmax(jnp.where(mask, att, -jnp.inf), -1)
            y = (att @ v).transpose(0, 2, 1, 3).reshape(B, T, d)
            x = x + lin(y, b["proj"])
            x = x + lin(jax.nn.gelu(lin(ln(x, b["ln2"]), b["fc"]), approximate=False), b["out"])
        return lin(ln(x, p["ln"]), p["head"])

    return init, apply


JAX_MODELS = {"mlp": lambda: jax_mlp([784, 1024, 1024, 10]), "cnn": jax_cnn, "gpt": jax_gpt, "tiny": lambda: jax_mlp([32, 64, 10])}


def jax_step(name, w):
    init, apply = JAX_MODELS[name]()
    params = init(jax.random.PRNGKey(0))
    tx = optax.adam(w["lr"]) if w["opt"] == "Adam" else optax.adamw(w["lr"], weight_decay=0.01)
    state = (params, tx.init(params))

    def loss_fn(p, x, y):
        logits = apply(p, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).mean()

    @jax.jit
    def _step(st, x, y):
        p, o = st
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        upd, o = tx.update(g, o, p)
        return (optax.apply_updates(p, upd), o), loss

    step = jax.jit(_step.__wrapped__ if hasattr(_step, "__wrapped__") else _step, donate_argnums=0)
    box = [state]

    def run(x, y):
        box[0], loss = step(box[0], x, y)
        return loss

    return run


class _PerStep:
    """Time a K-steps-per-call function per step: ``timed`` divides by the calls it makes."""

    def __init__(self, fn, k):
        self.fn, self.k = fn, k

    def __call__(self, x, y):
        return self.fn(x, y)


# ------------------------------------------------------------------------------- Flax NNX (nnx.jit)
def nnx_step(name, w):
    """The workload as Flax NNX modules and an ``nnx.jit`` step (the stateful-module baseline)."""
    from flax import nnx

    rngs = nnx.Rngs(0)
    f32 = jnp.float32

    class MLP(nnx.Module):
        def __init__(self, sizes):
            self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs, param_dtype=f32) for a, b in zip(sizes[:-1], sizes[1:])])

        def __call__(self, x):
            for i, l in enumerate(self.layers):
                x = l(x)
                if i < len(self.layers) - 1:
                    x = jax.nn.relu(x)
            return x

    class CNN(nnx.Module):
        def __init__(self):
            self.c1 = nnx.Conv(1, 32, (3, 3), padding="VALID", rngs=rngs, param_dtype=f32)
            self.c2 = nnx.Conv(32, 64, (3, 3), padding="VALID", rngs=rngs, param_dtype=f32)
            self.f1 = nnx.Linear(9216, 128, rngs=rngs, param_dtype=f32)
            self.f2 = nnx.Linear(128, 10, rngs=rngs, param_dtype=f32)

        def __call__(self, x):  # NCHW input, NHWC inside (Flax's layout)
            x = x.transpose(0, 2, 3, 1)
            x = jax.nn.relu(self.c2(jax.nn.relu(self.c1(x))))
            x = nnx.max_pool(x, (2, 2), (2, 2))
            return self.f2(jax.nn.relu(self.f1(x.reshape(x.shape[0], -1))))

    class Block(nnx.Module):
        def __init__(self, d=128, heads=4, mlp=512):
            self.ln1, self.ln2 = nnx.LayerNorm(d, rngs=rngs), nnx.LayerNorm(d, rngs=rngs)
            self.qkv, self.proj = nnx.Linear(d, 3 * d, rngs=rngs), nnx.Linear(d, d, rngs=rngs)
            self.fc, self.out = nnx.Linear(d, mlp, rngs=rngs), nnx.Linear(mlp, d, rngs=rngs)
            self.heads = heads

        def __call__(self, x):
            B, T, C = x.shape
            q, k, v = jnp.split(self.qkv(self.ln1(x)), 3, axis=-1)
            q, k, v = (t.reshape(B, T, self.heads, C // self.heads).transpose(0, 2, 1, 3) for t in (q, k, v))
            att = (q @ k.transpose(0, 1, 3, 2)) * np.float32(1 / np.sqrt(C // self.heads))
            att = jax.nn.softmax(jnp.where(jnp.tril(jnp.ones((T, T), bool)), att, -jnp.inf), -1)
            x = x + self.proj((att @ v).transpose(0, 2, 1, 3).reshape(B, T, C))
            return x + self.out(jax.nn.gelu(self.fc(self.ln2(x)), approximate=False))

    class GPT(nnx.Module):
        def __init__(self, vocab=256, d=128, seq=128):
            self.tok, self.pos = nnx.Embed(vocab, d, rngs=rngs), nnx.Embed(seq, d, rngs=rngs)
            self.blocks = nnx.List([Block() for _ in range(2)])
            self.ln, self.head = nnx.LayerNorm(d, rngs=rngs), nnx.Linear(d, vocab, rngs=rngs)

        def __call__(self, idx):
            x = self.tok(idx) + self.pos(jnp.arange(idx.shape[1]))
            for b in self.blocks:
                x = b(x)
            return self.head(self.ln(x))

    model = {"mlp": lambda: MLP([784, 1024, 1024, 10]), "tiny": lambda: MLP([32, 64, 10]), "cnn": CNN, "gpt": GPT}[name]()
    tx = optax.adam(w["lr"]) if w["opt"] == "Adam" else optax.adamw(w["lr"], weight_decay=0.01)
    opt = nnx.Optimizer(model, tx, wrt=nnx.Param)

    @nnx.jit
    def step(model, opt, x, y):
        def loss_fn(model):
            logits = model(x)
            return optax.softmax_cross_entropy_with_integer_labels(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return loss

    return lambda x, y: step(model, opt, x, y)


# ----------------------------------------------------------------------------------- timing
def _block(r):
    if isinstance(r, torchish.Tensor):
        r = r._data
    if torch is not None and isinstance(r, torch.Tensor):
        return r.item()
    return jax.block_until_ready(r)


def timed(runs, repeats, warmup=3):
    """Median step time of each ``(run, x, y, steps)`` in ``runs``.  Repeats are interleaved
    (every implementation once per round) so that a change of machine state during the run
    affects all implementations alike."""
    for run, x, y, _, sync in runs.values():
        for _ in range(warmup):
            _block(run(x, y))
        sync()
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, (run, x, y, n, sync) in runs.items():
            k = getattr(run, "k", 1)
            n = max(n // k, 1)
            t = time.perf_counter()
            for _ in range(n):
                r = run(x, y)
            _block(r)
            sync()  # torchish eager: the last step's backward and update run after its loss is ready
            times[name].append((time.perf_counter() - t) / (n * k))
    return {name: statistics.median(ts) for name, ts in times.items()}


def _no_sync():
    pass


def build(name, impl, w, x, y):
    """``(run, x, y, sync)``: ``sync()`` waits for everything the last ``run`` started (a loss
    being ready does not mean an eager torchish step's backward and update have finished)."""
    if impl == "jax":  # (the loss comes from the one program that also updates the state)
        return jax_step(name, w), jnp.asarray(x), jnp.asarray(y), _no_sync
    if impl == "flax nnx":
        return nnx_step(name, w), jnp.asarray(x), jnp.asarray(y), _no_sync
    L = torchish if impl.startswith("torchish") else torch
    L.manual_seed(0)
    model = w["make"](L)
    opt = getattr(L.optim, w["opt"])(model.parameters(), lr=w["lr"])
    step = lib_step(L, model, opt, w.get("tokens", False))
    sync = _no_sync
    if L is torchish:
        params = list(model.parameters())

        def sync():
            jax.block_until_ready([p._data for p in params])
    if impl == "torchish.compile":
        step = torchish.compile(step)
    if impl.startswith("torchish.compile K="):
        # K steps per call over a stacked batch (lax.scan): reported per step
        k = int(impl.split("=")[1])
        stepk = torchish.compile(step, steps_per_call=k)
        xs, ys = L.tensor(np.stack([x] * k)), L.tensor(np.stack([y] * k))
        return _PerStep(stepk, k), xs, ys, sync
    if impl == "torch.compile":
        step = torch.compile(step)
    return step, L.tensor(x), L.tensor(y), sync


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", default="mlp,cnn,gpt,tiny")
    ap.add_argument("--impls", default="torchish eager,torchish.compile,jax,torch")
    ap.add_argument("--torch-compile", action="store_true", help="also time torch.compile")
    ap.add_argument("--steps-per-call", type=int, default=0,
                    help="also time torchish.compile(steps_per_call=K) on the tiny workload")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=0, help="steps per repeat (default: per workload)")
    ap.add_argument("--sdpa", action="store_true", help="gpt: F.scaled_dot_product_attention instead of explicit attention")
    args = ap.parse_args(argv)
    impls = [i.strip() for i in args.impls.split(",")]
    if args.sdpa:
        WORKLOADS["gpt"]["make"] = lambda L: gpt_model(L, sdpa=True)
    if args.torch_compile:
        impls.append("torch.compile")
    if args.steps_per_call > 1:
        impls.append(f"torchish.compile K={args.steps_per_call}")
    if torch is None:
        impls = [i for i in impls if not i.startswith("torch") or i.startswith("torchish")]
    try:
        import flax.nnx  # noqa: F401

        impls.append("flax nnx")
    except ImportError:
        pass
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}; torch {getattr(torch, '__version__', 'absent')}; "
          f"host memory policy {torchish.backends.host_memory_policy()} (applies to every column: one process)")
    rows = []
    for name in args.workloads.split(","):
        w = WORKLOADS[name]
        steps = args.steps or {"mlp": 20, "cnn": 5, "gpt": 5, "tiny": 500}[name]
        x, y = data(w)
        runs = {}
        for impl in impls:
            if "K=" in impl and name != "tiny":
                continue
            run, xx, yy, sync = build(name, impl, w, x, y)
            runs[impl] = (run, xx, yy, steps if impl != "torchish eager" or name != "tiny" else 100, sync)
        res = timed(runs, args.repeats)
        rows.append((name, res))
        base = res.get("jax")
        cells = "  ".join(f"{k}: {v * 1e3:8.3f} ms" + (f" ({v / base:5.2f}x)" if base else "") for k, v in res.items())
        print(f"{name:5s} {cells}", flush=True)
    return rows


if __name__ == "__main__":
    main()
