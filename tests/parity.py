"""PyTorch as the oracle: run the same computation in ``torch`` and ``torchish`` and compare.

``fn(lib, *args)`` is written once against either library (``lib`` is the ``torch`` or the
``torchish`` module).  ``check(fn, *args)`` converts NumPy inputs to each library's tensors,
runs both, and compares shapes, dtypes and values of every output; with ``grad=True`` it also
backpropagates the same random cotangent through both and compares input gradients.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import torchish

try:
    import torch
except ImportError:  # pragma: no cover - CI installs torch
    torch = None

requires_torch = pytest.mark.skipif(
    torch is None, reason="PyTorch is not installed: parity tests need it (pip install torch==2.13.0)"
)


def to_lib(lib, x, requires_grad=False):
    """NumPy arrays (and nested lists/tuples/dicts of them) as ``lib`` tensors."""
    if isinstance(x, np.ndarray):
        t = lib.tensor(x)
        if requires_grad and x.dtype.kind == "f":
            t.requires_grad_(True)
        return t
    if isinstance(x, (list, tuple)):
        return type(x)(to_lib(lib, v, requires_grad) for v in x)
    if isinstance(x, dict):
        return {k: to_lib(lib, v, requires_grad) for k, v in x.items()}
    return x


def to_numpy(x):
    if torch is not None and isinstance(x, torch.Tensor):
        if x.dtype == torch.bfloat16:
            x = x.float()
        return x.detach().cpu().numpy()
    if isinstance(x, torchish.Tensor):
        if x.dtype == torchish.bfloat16:
            x = x.float()
        return x.detach().numpy()
    if isinstance(x, (list, tuple)):
        return type(x)(to_numpy(v) for v in x) if not hasattr(x, "_fields") else tuple(to_numpy(v) for v in x)
    return x


def dtype_name(x):
    return str(x.dtype).split(".")[-1]


def _flat(x):
    if isinstance(x, (list, tuple)):
        out = []
        for v in x:
            out += _flat(v)
        return out
    return [x]


def assert_close(t_out, i_out, rtol=1e-5, atol=1e-6, check_dtype=True, what="output"):
    """Compare two (nested) results: same structure, shapes, dtypes and values."""
    tf, jf = _flat(t_out), _flat(i_out)
    assert len(tf) == len(jf), f"{what}: torch gave {len(tf)} values, torchish {len(jf)}"
    for k, (a, b) in enumerate(zip(tf, jf)):
        if isinstance(a, torch.Tensor):
            assert isinstance(b, torchish.Tensor), f"{what}[{k}]: torchish returned {type(b).__name__}, not a Tensor"
            assert tuple(a.shape) == tuple(b.shape), f"{what}[{k}]: shape {tuple(b.shape)} != torch {tuple(a.shape)}"
            if check_dtype:
                assert dtype_name(a) == dtype_name(b), f"{what}[{k}]: dtype {b.dtype} != torch {a.dtype}"
            na, nb = to_numpy(a), to_numpy(b)
            if na.dtype.kind in "fc" or nb.dtype.kind in "fc":
                np.testing.assert_allclose(nb.astype(np.float64), na.astype(np.float64), rtol=rtol, atol=atol,
                                           err_msg=f"{what}[{k}]", equal_nan=True)
            else:
                np.testing.assert_array_equal(nb, na, err_msg=f"{what}[{k}]")
        elif isinstance(a, float):
            assert b == pytest.approx(a, rel=rtol, abs=atol), f"{what}[{k}]: {b} != torch {a}"
        else:
            assert a == b or (isinstance(a, torch.Size) and tuple(a) == tuple(b)), f"{what}[{k}]: {b!r} != torch {a!r}"


def check(fn, *args, grad=True, rtol=1e-5, atol=1e-6, grad_rtol=None, grad_atol=None, check_dtype=True, seed=0):
    """Run ``fn(lib, *args)`` in torch and torchish; compare outputs and (optionally) input grads."""
    t_in = to_lib(torch, args, requires_grad=grad)
    i_in = to_lib(torchish, args, requires_grad=grad)
    t_out = fn(torch, *t_in)
    i_out = fn(torchish, *i_in)
    assert_close(t_out, i_out, rtol, atol, check_dtype)
    if not grad:
        return t_out, i_out
    t_leaves = [x for x in _flat(t_in) if isinstance(x, torch.Tensor) and x.requires_grad]
    i_leaves = [x for x in _flat(i_in) if isinstance(x, torchish.Tensor) and x.requires_grad]
    t_outs = [o for o in _flat(t_out) if isinstance(o, torch.Tensor) and o.requires_grad]
    i_outs = [o for o in _flat(i_out) if isinstance(o, torchish.Tensor) and o.requires_grad]
    if not t_leaves or not t_outs:
        return t_out, i_out
    assert len(t_outs) == len(i_outs), f"torch has {len(t_outs)} differentiable outputs, torchish {len(i_outs)}"
    rng = np.random.default_rng(seed)
    cts = [rng.standard_normal(tuple(o.shape)).astype(to_numpy(o).dtype if to_numpy(o).dtype.kind == "f" else np.float32) for o in t_outs]
    t_g = torch.autograd.grad(t_outs, t_leaves, [torch.tensor(c).to(o.dtype) for c, o in zip(cts, t_outs)], allow_unused=True)
    i_g = torchish.autograd.grad(i_outs, i_leaves, [torchish.tensor(c).to(o.dtype) for c, o in zip(cts, i_outs)], allow_unused=True)
    t_g = [g if g is not None else torch.zeros_like(x) for g, x in zip(t_g, t_leaves)]
    i_g = [g if g is not None else torchish.zeros_like(x) for g, x in zip(i_g, i_leaves)]
    assert_close(t_g, i_g, grad_rtol or rtol * 10, grad_atol or atol * 10, check_dtype, what="grad")
    return t_out, i_out


def check_raises(fn, *args, exc=Exception, match=None):
    """Both libraries raise ``exc`` (torchish's message must match ``match`` when given)."""
    with pytest.raises(exc):
        fn(torch, *to_lib(torch, args))
    with pytest.raises(exc, match=match):
        fn(torchish, *to_lib(torchish, args))


def rnd(*shape, dtype=np.float32, low=None, seed=None):
    """Deterministic random NumPy data for tests."""
    # NOTE: a stable seed (hash() of a str changes per process): failures must reproduce.
    rng = np.random.default_rng(zlib.crc32(repr((shape, np.dtype(dtype).str, seed)).encode()))
    if np.dtype(dtype).kind == "f":
        a = rng.standard_normal(shape)
        if low is not None:
            a = np.abs(a) + low
        return a.astype(dtype)
    if np.dtype(dtype) == np.bool_:
        return rng.random(shape) > 0.5
    return rng.integers(-5 if low is None else low, 6, shape).astype(dtype)
