"""``repr(tensor)`` in PyTorch's format: ``tensor([[1., 2.]], requires_grad=True)``.

Follows ``torch/_tensor_str.py``: floats print with 4 decimals, or as ``1.`` when every finite
value is integral, or in scientific notation when the range is wide; columns are padded to a
common width; more than 1000 elements are summarised with ``...`` (3 edge items).
"""

from __future__ import annotations

import math

import jax
import numpy as np

from . import _dtype as D

PRECISION = 4
THRESHOLD = 1000
EDGEITEMS = 3
LINEWIDTH = 80


class _Formatter:
    def __init__(self, values: np.ndarray):
        self.floating = values.dtype.kind == "f" or values.dtype == D.bfloat16.np
        self.int_mode = True
        self.sci_mode = False
        self.width = 1
        if values.dtype == np.bool_:
            self.width = max((len(str(v)) for v in values.reshape(-1)), default=1)
            return
        if not self.floating:
            self.width = max((len(str(v)) for v in values.reshape(-1).tolist()), default=1)
            return
        v = values.astype(np.float64).reshape(-1)
        finite = v[np.isfinite(v)]
        nonzero = np.abs(finite[finite != 0])
        if nonzero.size == 0:
            self.width = max(self.width, 2)
            return
        mx, mn = nonzero.max(), nonzero.min()
        self.int_mode = bool(np.all(finite == np.ceil(finite)))
        if self.int_mode:
            if mx / mn > 1000.0 or mx > 1.0e8:
                self.sci_mode = True
        elif mx / mn > 1000.0 or mx > 1.0e8 or mn < 1.0e-4:
            self.sci_mode = True
        for x in finite:
            self.width = max(self.width, len(self.format(x)))

    def format(self, x) -> str:
        if not self.floating:
            return str(x.item() if hasattr(x, "item") else x)
        x = float(x)
        if not math.isfinite(x):
            return _fmt_nonfinite(x)
        if self.sci_mode:
            return f"{x:.{PRECISION}e}"
        if self.int_mode:
            return f"{x:.0f}."
        return f"{x:.{PRECISION}f}"


def _fmt_nonfinite(x) -> str:
    if math.isnan(x):
        return "nan"
    return "inf" if x > 0 else "-inf"


def _summarize(a: np.ndarray) -> np.ndarray:
    if a.ndim == 0:
        return a.reshape(-1)
    if a.shape[0] > 2 * EDGEITEMS:
        parts = [a[:EDGEITEMS], a[-EDGEITEMS:]]
    else:
        parts = [a]
    return np.concatenate([_summarize_rest(p) for p in parts]) if parts else a.reshape(-1)


def _summarize_rest(a):
    if a.ndim <= 1:
        return a.reshape(-1)
    return np.concatenate([_summarize(x) for x in a]) if len(a) else a.reshape(-1)


def _tensor_str(a: np.ndarray, indent: int, fmt: _Formatter, summarize: bool) -> str:
    if a.ndim == 0:
        return fmt.format(a[()])
    if a.ndim == 1:
        items = [fmt.format(x).rjust(fmt.width) for x in a]
        if summarize and a.shape[0] > 2 * EDGEITEMS:
            items = items[:EDGEITEMS] + [" ..."] + items[-EDGEITEMS:]
        per_line = max(math.floor((LINEWIDTH - indent) / (fmt.width + 2)), 1)
        lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"
    rows = range(a.shape[0])
    if summarize and a.shape[0] > 2 * EDGEITEMS:
        idx = list(range(EDGEITEMS)) + [None] + list(range(a.shape[0] - EDGEITEMS, a.shape[0]))
    else:
        idx = list(rows)
    parts = ["..." if i is None else _tensor_str(a[i], indent + 1, fmt, summarize) for i in idx]
    sep = "," + "\n" * (a.ndim - 1) + " " * (indent + 1)
    return "[" + sep.join(parts) + "]"


def tensor_repr(t, prefix: str = "tensor(") -> str:
    arr = t._data if t._base is None else t._sync()
    suffixes = []
    if isinstance(arr, jax.core.Tracer):
        body = f"<traced {arr.aval.str_short()}>" if hasattr(arr, "aval") else "<traced>"
        return f"{prefix}{body})"
    dev = t.device
    if dev.type != "cpu":
        suffixes.append(f"device='{dev}'")
    a = np.asarray(arr)
    dt = t.dtype
    numel = a.size
    summarize = numel > THRESHOLD
    indent = len(prefix)
    if numel == 0:
        body = "[]"
        if a.ndim != 1:
            suffixes.append(f"size={tuple(a.shape)}")
        if dt is not D.get_default_dtype() and dt is not D.int64:
            suffixes.append(f"dtype={dt}")
    else:
        fmt = _Formatter(_summarize(a) if summarize else a)
        body = _tensor_str(a, indent, fmt, summarize)
        if dt not in (D.get_default_dtype(), D.int64, D.bool):
            suffixes.append(f"dtype={dt}")
    if t._grad_fn is not None:
        suffixes.append(f"grad_fn=<{t._grad_fn.name()}>")
    elif t._requires_grad:
        suffixes.append("requires_grad=True")
    out = prefix + body
    for s in suffixes:
        out += ", " + s
    return out + ")"
