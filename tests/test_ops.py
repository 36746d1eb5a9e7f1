"""Table-driven parity of the core op registry against PyTorch: values, dtypes, shapes, grads.

Each row is ``(id, fn, args, options)`` with ``fn(lib, *tensors)`` written once for both
libraries.  ``COVERS`` maps registry op names to the rows that exercise them; a test checks
that every core op in the registry is covered, so coverage is data.
"""

import numpy as np
import pytest

from parity import check, requires_torch, rnd

pytestmark = requires_torch

F32, F64, I64, I32, B = np.float32, np.float64, np.int64, np.int32, np.bool_

UNARY_FLOAT = ["exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "sin", "cos", "tan",
               "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "sigmoid", "erf",
               "erfc", "erfinv", "lgamma", "digamma", "i0", "sinc", "reciprocal", "deg2rad", "rad2deg"]
# inputs inside each function's domain
DOMAIN = {"log": 0.1, "log2": 0.1, "log10": 0.1, "sqrt": 0.1, "rsqrt": 0.1, "log1p": 0.1, "acosh": 1.1,
          "lgamma": 0.1, "digamma": 0.1, "reciprocal": 0.5}
BOUNDED = {"asin", "acos", "atanh", "erfinv"}
UNARY_SAME = ["neg", "abs", "sign", "square", "floor", "ceil", "trunc", "frac", "positive"]
PREDICATES = ["isnan", "isinf", "isfinite", "isposinf", "isneginf", "signbit", "logical_not"]


def _unary_input(name):
    if name in BOUNDED:
        return (np.random.default_rng(1).uniform(-0.9, 0.9, (3, 4))).astype(F32)
    return rnd(3, 4, low=DOMAIN.get(name))


ROWS = []


def row(id, fn, *args, **opts):
    ROWS.append(pytest.param(fn, args, opts, id=id))


for n in UNARY_FLOAT:
    row(n, lambda L, x, n=n: getattr(L, n)(x), _unary_input(n), rtol=2e-5, atol=1e-5)
    row(n + "_method", lambda L, x, n=n: getattr(x, n)(), _unary_input(n), rtol=2e-5, atol=1e-5)
    if n not in BOUNDED and n not in DOMAIN:
        row(n + "_int", lambda L, x, n=n: getattr(L, n)(x), rnd(5, dtype=I64), grad=False, rtol=2e-5, atol=1e-5)
for n in UNARY_SAME:
    row(n, lambda L, x, n=n: getattr(L, n)(x), rnd(3, 4) * 3, grad=n not in ("floor", "ceil", "trunc", "sign"))
    if n != "frac":
        row(n + "_int", lambda L, x, n=n: getattr(L, n)(x), rnd(5, dtype=I64), grad=False)
for n in PREDICATES:
    x = np.array([1.0, -np.inf, np.inf, np.nan, 0.0, -2.0], F32)
    row(n, lambda L, x, n=n: getattr(L, n)(x), x, grad=False)
row("bitwise_not", lambda L, x: L.bitwise_not(x), rnd(6, dtype=I64), grad=False)
row("round", lambda L, x: L.round(x), np.array([0.5, 1.5, 2.5, -0.5, 1.2], F32), grad=False)
row("round_decimals", lambda L, x: L.round(x, decimals=2), np.array([0.125, 1.555, -2.3333], F32), grad=False)
row("logit", lambda L, x: L.logit(x), np.array([0.2, 0.5, 0.9], F32))
row("logit_eps", lambda L, x: L.logit(x, eps=0.3), np.array([0.2, 0.5, 0.9], F32))
row("nan_to_num", lambda L, x: L.nan_to_num(x, nan=1.0, posinf=2.0), np.array([np.nan, np.inf, -np.inf, 3.0], F32), grad=False)
row("polygamma", lambda L, x: L.polygamma(1, x), rnd(4, low=0.5), rtol=1e-4)
row("mvlgamma", lambda L, x: L.mvlgamma(x, 2), rnd(4, low=1.0), rtol=1e-4)
row("cast", lambda L, x: (x.to(L.int32), x.double(), x.half(), x.bool(), x.long()), rnd(3, 2) * 4, grad=False)
row("cast_grad", lambda L, x: x.double() * 2, rnd(3, 2))

BINARY = ["add", "sub", "mul", "div", "remainder", "fmod", "maximum", "minimum", "fmax", "fmin", "atan2",
          "hypot", "copysign", "logaddexp", "logaddexp2", "xlogy", "pow", "floor_divide"]
NONDIFF_BIN = {"remainder", "fmod", "floor_divide", "copysign"}
for n in BINARY:
    a, b = rnd(3, 4), rnd(4, seed=1)
    if n in ("pow", "xlogy"):
        a = np.abs(a) + 0.5
        b = np.abs(b) + 0.5
    if n in ("div", "remainder", "fmod", "floor_divide"):
        b = np.abs(b) + 0.5
    row(n, lambda L, a, b, n=n: getattr(L, n)(a, b), a, b, grad=n not in NONDIFF_BIN, rtol=2e-5, atol=1e-5)
    if n not in ("maximum", "minimum", "fmax", "fmin", "atan2", "hypot", "logaddexp", "logaddexp2", "copysign"):
        row(n + "_scalar", lambda L, a, n=n: getattr(L, n)(a, 1.5), np.abs(a) + 0.5, grad=n not in NONDIFF_BIN, rtol=2e-5)
    if n not in ("atan2", "hypot", "logaddexp", "logaddexp2", "xlogy", "copysign", "fmax", "fmin"):
        row(n + "_int", lambda L, a, b, n=n: getattr(L, n)(a, b), rnd(3, 4, dtype=I64, low=1), rnd(4, dtype=I64, low=1), grad=False)
for n in ["eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor"]:
    row(n, lambda L, a, b, n=n: getattr(L, n)(a, b), rnd(3, 4, dtype=I64), rnd(3, 4, dtype=I64, seed=2), grad=False)
    row(n + "_mixed", lambda L, a, b, n=n: getattr(L, n)(a, b), rnd(3, 4), rnd(4, dtype=I64), grad=False)
for n in ["bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift", "bitwise_right_shift", "gcd", "lcm"]:
    row(n, lambda L, a, b, n=n: getattr(L, n)(a, b), rnd(6, dtype=I64, low=1), rnd(6, dtype=I64, low=1), grad=False)
row("nextafter", lambda L, a, b: L.nextafter(a, b), rnd(4), rnd(4, seed=1), grad=False)
row("heaviside", lambda L, a, b: L.heaviside(a, b), np.array([-1.0, 0.0, 2.0], F32), np.array([0.5], F32), grad=False)
row("ldexp", lambda L, a, b: L.ldexp(a, b), rnd(4), rnd(4, dtype=I64), grad=False)
row("float_power", lambda L, a: L.float_power(a, 2), rnd(4))
row("add_alpha", lambda L, a, b: L.add(a, b, alpha=2.5), rnd(3), rnd(3, seed=1))
row("sub_alpha", lambda L, a, b: a.sub(b, alpha=0.5), rnd(3), rnd(3, seed=1))
row("div_trunc", lambda L, a, b: L.div(a, b, rounding_mode="trunc"), rnd(5) * 5, np.abs(rnd(5, seed=3)) + 0.5, grad=False)
row("div_floor_int", lambda L, a, b: L.div(a, b, rounding_mode="floor"), rnd(5, dtype=I64), rnd(5, dtype=I64, low=1), grad=False)
row("true_div_int", lambda L, a, b: a / b, rnd(5, dtype=I64), rnd(5, dtype=I64, low=1), grad=False)
row("addcmul", lambda L, x, a, b: L.addcmul(x, a, b, value=0.5), rnd(3), rnd(3, seed=1), rnd(3, seed=2))
row("addcdiv", lambda L, x, a, b: L.addcdiv(x, a, b, value=0.5), rnd(3), rnd(3, seed=1), rnd(3, seed=2, low=0.5))
row("lerp", lambda L, a, b: L.lerp(a, b, 0.3), rnd(3), rnd(3, seed=1))
row("lerp_tensor_w", lambda L, a, b, w: L.lerp(a, b, w), rnd(3), rnd(3, seed=1), rnd(3, seed=2))
row("where", lambda L, c, a, b: L.where(c, a, b), rnd(3, 4, dtype=B), rnd(3, 4), rnd(4))
row("where_scalar", lambda L, c, a: L.where(c, a, 0.0), rnd(3, 4, dtype=B), rnd(3, 4))
row("clamp", lambda L, x: L.clamp(x, -0.5, 0.5), rnd(3, 4))
row("clamp_min", lambda L, x: x.clamp(min=0.1), rnd(3, 4))
row("clamp_tensor", lambda L, x, lo: L.clamp(x, min=lo), rnd(3, 4), rnd(4))
row("clamp_int", lambda L, x: L.clamp(x, -2, 2), rnd(6, dtype=I64), grad=False)
row("isclose", lambda L, a, b: L.isclose(a, b, rtol=0.1), rnd(4), rnd(4) * 1.05, grad=False)

# promotion rules
row("promote_int_float_scalar", lambda L, a: (a + 1.5, a * 2, a / 2), rnd(3, dtype=I64), grad=False)
row("promote_bool_int", lambda L, a: (a + 1, a & True, a * 2.0), rnd(3, dtype=B), grad=False)
row("promote_int32_int64", lambda L, a, b: a + b, rnd(3, dtype=I32), rnd(3, dtype=I64), grad=False)
row("promote_zero_dim", lambda L, a, b: (a + b, b + a), rnd(3, dtype=I32), np.array(5, I64), grad=False)
row("promote_zero_dim_float", lambda L, a, b: a * b, rnd(3, dtype=I64), np.array(1.5, F64), grad=False)
row("promote_f16_f32", lambda L, a, b: a + b, rnd(3).astype(np.float16), rnd(3), grad=False)
row("promote_f32_f64", lambda L, a, b: a * b, rnd(3), rnd(3, dtype=F64), grad=False)
row("half_math", lambda L, a: (a.exp(), a * 0.1, a.sum()), rnd(4).astype(np.float16), grad=False, rtol=1e-3, atol=1e-3)
row("bf16_math", lambda L, a: (a.bfloat16() * 0.1, a.bfloat16().sum()), rnd(4), grad=False, rtol=1e-2, atol=1e-2)
row("reflected", lambda L, a: (2 - a, 3 / a, 2 ** a, 1 + a, 2 * a, 7 // (a.abs() + 1), 5 % (a.abs() + 1)), rnd(3) + 3, grad=False)
row("operators", lambda L, a, b: (a @ b, -a, a ** 2, a % 1.5, a // 0.7, a > b.T, a <= 0, abs(a)), rnd(3, 3), rnd(3, 3, seed=1), grad=False)
row("int_operators", lambda L, a, b: (a & b, a | b, a ^ b, ~a, a << 1, a >> 1, a // b, a % b), rnd(4, dtype=I64, low=1), rnd(4, dtype=I64, low=1), grad=False)

# reductions
RED = ["sum", "mean", "prod", "amax", "amin", "logsumexp", "nansum", "nanmean"]
for n in RED:
    x = rnd(3, 4, 5)
    row(n + "_all", lambda L, x, n=n: getattr(L, n)(x) if n != "logsumexp" else L.logsumexp(x, (0, 1, 2)), x, rtol=2e-5)
    row(n + "_dim", lambda L, x, n=n: getattr(L, n)(x, 1), x, rtol=2e-5)
    row(n + "_negdim_keep", lambda L, x, n=n: getattr(L, n)(x, -1, keepdim=True), x, rtol=2e-5)
    if n not in ("prod",):
        row(n + "_tuple", lambda L, x, n=n: getattr(L, n)(x, (0, 2)), x, rtol=2e-5)
row("sum_int", lambda L, x: (x.sum(), x.sum(0), x.prod(1)), rnd(3, 4, dtype=I32), grad=False)
row("sum_bool", lambda L, x: (x.sum(), x.sum(1)), rnd(3, 4, dtype=B), grad=False)
row("sum_dtype", lambda L, x: x.sum(dtype=L.float64), rnd(3, 4))
row("sum_empty", lambda L, x: (x.sum(), x.sum(0), x.mean(1)), np.zeros((0, 3), F32), grad=False)
row("mean_dtype", lambda L, x: x.mean(dtype=L.float64), rnd(3, 4))
row("max_dim", lambda L, x: L.max(x, 1), rnd(3, 4))
row("min_dim_keep", lambda L, x: x.min(dim=0, keepdim=True), rnd(3, 4))
row("max_all", lambda L, x: (x.max(), x.min()), rnd(3, 4))
row("max_binary", lambda L, a, b: L.max(a, b), rnd(3), rnd(3, seed=1))
row("argmax", lambda L, x: (x.argmax(), x.argmax(1), x.argmin(0, keepdim=True), x.argmax(1, keepdim=True)), rnd(3, 4), grad=False)
row("argmax_ties", lambda L, x: (x.argmax(1), x.argmin(1), x.max(1).indices), np.array([[1, 3, 3], [2, 2, 0]], F32), grad=False)
row("aminmax", lambda L, x: L.aminmax(x, dim=1), rnd(3, 4), grad=False)
for n in ["std", "var"]:
    row(n, lambda L, x, n=n: getattr(L, n)(x), rnd(3, 4), rtol=2e-5)
    row(n + "_dim", lambda L, x, n=n: getattr(x, n)(1, keepdim=True), rnd(3, 4), rtol=2e-5)
    row(n + "_correction0", lambda L, x, n=n: getattr(x, n)((0, 1), correction=0), rnd(3, 4), rtol=2e-5)
    row(n + "_unbiased_false", lambda L, x, n=n: getattr(x, n)(0, unbiased=False), rnd(3, 4), rtol=2e-5)
row("std_mean", lambda L, x: L.std_mean(x, 1), rnd(3, 4), rtol=2e-5)
row("var_mean", lambda L, x: L.var_mean(x, 0, correction=0), rnd(3, 4), rtol=2e-5)
row("norm", lambda L, x: (x.norm(), x.norm(1), x.norm(float("inf")), x.norm(dim=1), x.norm(3, dim=0, keepdim=True)), rnd(3, 4), rtol=2e-5)
row("vector_norm", lambda L, x: (L.linalg.vector_norm(x), L.linalg.vector_norm(x, 1, dim=0), L.linalg.vector_norm(x, 0)), rnd(3, 4), rtol=2e-5)
row("cumsum", lambda L, x: (x.cumsum(1), L.cumsum(x, 0), x.cumprod(-1)), rnd(3, 4), rtol=2e-5)
row("cumsum_int", lambda L, x: (x.cumsum(0), x.cumprod(0)), rnd(4, dtype=I32), grad=False)
row("cummax", lambda L, x: (x.cummax(1), L.cummin(x, 0)), np.array([[1, 3, 2, 3], [0, -1, 5, 5]], F32))
row("logcumsumexp", lambda L, x: x.logcumsumexp(1), rnd(3, 4))
row("all_any", lambda L, x: (x.all(), x.any(), x.all(1), L.any(x, 0, keepdim=True)), rnd(3, 4, dtype=B), grad=False)
row("all_float", lambda L, x: (x.all(), x.any(1)), np.array([[0.0, 1.0], [2.0, 3.0]], F32), grad=False)
row("count_nonzero", lambda L, x: (L.count_nonzero(x), x.count_nonzero(1)), rnd(3, 4, dtype=I64), grad=False)
row("median", lambda L, x: (x.median(), L.median(x, 1)), rnd(3, 4))
row("median_even", lambda L, x: (x.median(), x.median(0)), np.array([[4.0, 1.0], [2.0, 3.0]], F32), grad=False)
row("nanmedian", lambda L, x: x.nanmedian(), np.array([4.0, np.nan, 2.0, 3.0], F32), grad=False)
row("quantile", lambda L, x: (L.quantile(x, 0.3), x.quantile(0.5, dim=1)), rnd(3, 4))
row("mode", lambda L, x: x.mode(1), np.array([[1, 2, 2, 3], [4, 4, 1, 1]], F32), grad=False)
row("kthvalue", lambda L, x: x.kthvalue(2, 1), rnd(3, 4))
row("sort", lambda L, x: (x.sort(), x.sort(0, descending=True), L.sort(x, stable=True)), rnd(3, 4))
row("argsort", lambda L, x: (x.argsort(1), L.argsort(x, 0, descending=True)), rnd(3, 4), grad=False)
row("msort", lambda L, x: L.msort(x), rnd(3, 4))
row("topk", lambda L, x: (x.topk(2), L.topk(x, 1, dim=0, largest=False)), rnd(3, 4))
row("unique", lambda L, x: (L.unique(x), L.unique(x, return_inverse=True, return_counts=True)), np.array([3, 1, 2, 3, 1], I64), grad=False)
row("unique_dim", lambda L, x: L.unique(x, dim=0), np.array([[1, 2], [0, 1], [1, 2]], I64), grad=False)
row("unique_consecutive", lambda L, x: L.unique_consecutive(x, return_inverse=True, return_counts=True), np.array([1, 1, 2, 2, 3, 1, 1], I64), grad=False)
row("diff", lambda L, x: (L.diff(x), x.diff(dim=0), L.diff(x, n=2, dim=1)), rnd(3, 4))

# shape ops
row("reshape_view", lambda L, x: (x.reshape(4, 3), x.view(-1), x.view(2, -1, 2), x.flatten(), x.unflatten(1, (2, 2))), rnd(3, 4))
row("squeeze", lambda L, x: (x.squeeze(), x.squeeze(1), x.unsqueeze(0), x.unsqueeze(-1), L.squeeze(x, (1, 3))), rnd(3, 1, 4, 1))
row("permute", lambda L, x: (x.permute(2, 0, 1), x.transpose(0, 2), x.mT, x.movedim(0, -1), L.swapaxes(x, 0, 1)), rnd(2, 3, 4))
row("t", lambda L, x: (x.t(), x.T, L.t(x)), rnd(3, 4))
row("expand", lambda L, x: (x.expand(2, 3, 4), x.expand(-1, 4), x.expand_as(L.zeros(5, 3, 4)), L.broadcast_to(x, (2, 3, 4))), rnd(3, 1))
row("repeat", lambda L, x: (x.repeat(2, 3), x.repeat(2, 1, 1), x.tile((2,)), L.tile(x, (1, 2))), rnd(2, 3))
row("repeat_interleave", lambda L, x: (x.repeat_interleave(2), L.repeat_interleave(x, 3, dim=1)), rnd(2, 3))
row("repeat_interleave_tensor", lambda L, x, r: L.repeat_interleave(x, r, dim=0), rnd(3, 2), np.array([1, 0, 2], I64))
row("flip_roll", lambda L, x: (x.flip(0), L.flip(x, (0, 1)), x.roll(1, 0), L.roll(x, (1, -1), (0, 1)), x.roll(2), x.fliplr(), x.rot90()), rnd(3, 4))
row("narrow_select", lambda L, x: (x.narrow(1, 1, 2), x.select(0, -1), x.unbind(1), L.unbind(x)), rnd(3, 4))
row("split_chunk", lambda L, x: (x.split(2), x.split([1, 3], 1), x.chunk(2, 1), L.chunk(x, 3), x.tensor_split(3, 1)), rnd(5, 4))
row("cat_stack", lambda L, a, b: (L.cat([a, b]), L.cat((a, b), 1), L.stack([a, b]), L.stack([a, b], -1), L.hstack([a, b]),
                                  L.vstack([a, b]), L.dstack([a, b]), L.column_stack([a, b])), rnd(2, 3), rnd(2, 3, seed=1))
row("cat_promote", lambda L, a, b: L.cat([a, b]), rnd(2, dtype=I64), rnd(3), grad=False)
row("cat_empty", lambda L, a, b: L.cat([a, b]), np.zeros((0,), F32), rnd(3), grad=False)
row("tril_triu", lambda L, x: (x.tril(), L.triu(x, 1), x.tril(-1)), rnd(4, 4))
row("diagonal", lambda L, x: (x.diagonal(), L.diagonal(x, 1), L.diag(x), L.diag(x[0]), L.diag_embed(x), L.trace(x)), rnd(3, 3))
row("meshgrid", lambda L, a, b: (L.meshgrid(a, b, indexing="ij"), L.meshgrid(a, b, indexing="xy"), L.cartesian_prod(a, b)), rnd(3), rnd(2))
row("atleast", lambda L, x: (L.atleast_1d(x), L.atleast_2d(x), L.atleast_3d(x)), np.array(3.0, F32))
row("clone_contig", lambda L, x: (x.clone(), x.contiguous(), x.t().contiguous()), rnd(3, 4))

# indexing
row("getitem_basic", lambda L, x: (x[0], x[-1, 1:], x[:, None, ::2], x[..., 1], x[1:2, ...]), rnd(3, 4, 5))
row("getitem_int_tensor", lambda L, x, i: (x[i], x[:, i], x[i, i]), rnd(4, 4), np.array([0, 2, -1], I64))
row("getitem_list", lambda L, x: (x[[0, 2]], x[[0, 1], [1, 2]]), rnd(4, 4))
row("getitem_bool_mask", lambda L, x, m: (x[m], x[m[:, 0]], x[x > 0]), rnd(3, 4), rnd(3, 4, dtype=B))
row("gather", lambda L, x, i: (L.gather(x, 1, i), x.gather(0, i % 3)), rnd(3, 4), np.array([[0, 1], [3, 2], [1, 1]], I64))
row("scatter", lambda L, x, i, s: (x.scatter(1, i, s), L.scatter(x, 1, i, 2.0), x.scatter_add(1, i, s)),
    rnd(3, 4), np.array([[0, 1], [3, 2], [1, 0]], I64), rnd(3, 2))  # unique per row: set-scatter order is unspecified
row("scatter_reduce_arg", lambda L, x, i: x.scatter(1, i, 1.5, reduce="add"), rnd(3, 4), np.array([[0, 1], [3, 2], [1, 1]], I64), grad=False)
row("scatter_reduce", lambda L, x, i, s: [x.scatter_reduce(1, i, s, r, include_self=inc) for r in ("sum", "prod", "mean", "amax", "amin") for inc in (True, False)],
    rnd(3, 4), np.array([[0, 1], [3, 3], [1, 1]], I64), rnd(3, 2), grad=False)
row("index_select", lambda L, x, i: (x.index_select(0, i), L.index_select(x, 1, i)), rnd(3, 4), np.array([2, 0], I64))
row("index_add_copy_fill", lambda L, x, i, s: (x.index_add(0, i, s), x.index_copy(0, i, s), x.index_fill(1, i, -1.0), x.index_add(0, i, s, alpha=2)),
    rnd(3, 4), np.array([2, 0], I64), rnd(2, 4))
row("masked_fill", lambda L, x, m: (x.masked_fill(m, 0.0), L.masked_fill(x, m[0], -1.0)), rnd(3, 4), rnd(3, 4, dtype=B))
row("masked_select", lambda L, x, m: L.masked_select(x, m), rnd(3, 4), rnd(3, 4, dtype=B))
row("masked_scatter", lambda L, x, m, s: x.masked_scatter(m, s), rnd(3, 4), rnd(3, 4, dtype=B), rnd(12), grad=False)
row("take", lambda L, x, i: (L.take(x, i), L.take_along_dim(x[:, :3], i.reshape(1, -1) % 3, 0), L.take_along_dim(x, i)), rnd(3, 4), np.array([0, 5, 11], I64))
row("nonzero", lambda L, x: (x.nonzero(), L.nonzero(x, as_tuple=True), L.argwhere(x), L.where(x > 0)), rnd(3, 4, dtype=I64), grad=False)
row("bincount", lambda L, x, w: (L.bincount(x), x.bincount(w), L.bincount(x, minlength=10)), np.array([0, 1, 1, 3], I64), rnd(4), grad=False)
row("searchsorted", lambda L, s, v: (L.searchsorted(s, v), L.searchsorted(s, v, right=True), L.bucketize(v, s), L.bucketize(v, s, right=True)),
    np.array([1.0, 2.0, 2.0, 5.0], F32), np.array([2.0, 0.0, 6.0, 3.0], F32), grad=False)
row("index_put", lambda L, x, i, v: (x.index_put((i,), v), x.index_put((i,), v, accumulate=True)), rnd(4, 2), np.array([0, 0, 3], I64), rnd(3, 2), grad=False)

# linalg
row("matmul", lambda L, a, b: (a @ b, L.matmul(a, b), L.mm(a, b)), rnd(3, 4), rnd(4, 2), rtol=1e-5, atol=1e-5)
row("matmul_1d", lambda L, a, b: (a @ b, a[0] @ b, a @ b[:, 0], L.dot(a[0], a[1])), rnd(3, 4), rnd(4, 2), rtol=1e-5, atol=1e-5)
row("matmul_batched", lambda L, a, b: (a @ b, L.bmm(a, b), L.matmul(a, b[0])), rnd(2, 3, 4), rnd(2, 4, 5), rtol=1e-5, atol=1e-5)
row("matmul_int", lambda L, a, b: a @ b, rnd(3, 4, dtype=I64), rnd(4, 2, dtype=I64), grad=False)
row("mv_outer", lambda L, a, v: (L.mv(a, v), L.outer(v, v), L.ger(v, v), L.inner(v, v), L.vdot(v, v)), rnd(3, 4), rnd(4), atol=1e-5)
row("einsum", lambda L, a, b: (L.einsum("ij,jk->ik", a, b), L.einsum("ij->j", a), L.einsum("bi,bi->b", a, a)), rnd(3, 4), rnd(4, 2), atol=1e-5)
row("tensordot", lambda L, a, b: (L.tensordot(a, b, 1), L.tensordot(a, b, dims=([1], [0]))), rnd(3, 4), rnd(4, 2), atol=1e-5)
row("addmm", lambda L, c, a, b: (L.addmm(c, a, b), L.addmm(c, a, b, beta=0.5, alpha=2), L.baddbmm(c[None], a[None], b[None])), rnd(3, 2), rnd(3, 4), rnd(4, 2), atol=1e-5)
row("addmv_addr", lambda L, c, a, v: (L.addmv(c, a, v), L.addr(a, c, v)), rnd(3), rnd(3, 4), rnd(4), atol=1e-5)
row("kron_cross", lambda L, a, b: (L.kron(a, b), L.cross(a, b, dim=1)), rnd(2, 3), rnd(2, 3, seed=1), atol=1e-5)
row("cdist", lambda L, a, b: (L.cdist(a, b), L.cdist(a, b, p=1)), rnd(3, 4), rnd(2, 4), atol=1e-5)
SPD = (lambda a: (a @ a.T + 3 * np.eye(3)).astype(F32))(rnd(3, 3))
row("inv_solve_det", lambda L, a, b: (L.linalg.inv(a), L.linalg.solve(a, b), L.linalg.det(a), L.linalg.slogdet(a)), SPD, rnd(3, 2), rtol=1e-4, atol=1e-4)
row("cholesky", lambda L, a: (L.linalg.cholesky(a), L.linalg.cholesky(a, upper=True)), SPD, rtol=1e-4, atol=1e-4)
row("eigh", lambda L, a: (L.linalg.eigh(a).eigenvalues, L.linalg.eigvalsh(a)), SPD, rtol=1e-4, atol=1e-4)
row("svdvals_pinv", lambda L, a: (L.linalg.svdvals(a), L.linalg.pinv(a)), rnd(3, 2), rtol=1e-4, atol=1e-4)
row("qr_abs", lambda L, a: tuple(t.abs() for t in L.linalg.qr(a)), rnd(4, 3), rtol=1e-4, atol=1e-4)
row("svd_abs", lambda L, a: (L.linalg.svd(a, full_matrices=False).S, L.linalg.svd(a, full_matrices=False).U.abs()), rnd(4, 3), rtol=1e-4, atol=1e-4)
row("matrix_norm", lambda L, a: (L.linalg.matrix_norm(a), L.linalg.matrix_norm(a, 1), L.linalg.matrix_norm(a, "nuc"), L.linalg.norm(a), L.linalg.norm(a, 2)), rnd(3, 3), rtol=1e-4, atol=1e-4)
row("matrix_power", lambda L, a: (L.linalg.matrix_power(a, 3), L.linalg.matrix_rank(a)), rnd(3, 3), rtol=1e-4, atol=1e-4, grad=False)
row("solve_triangular", lambda L, a, b: L.linalg.solve_triangular(a.triu() + 3 * L.eye(3), b, upper=True), rnd(3, 3), rnd(3, 2), rtol=1e-4, atol=1e-4)

# creation (no inputs)
row("creation", lambda L: (L.zeros(2, 3), L.ones((2,)), L.full((2, 2), 3), L.full((2,), 1.5), L.full((1,), True), L.eye(3), L.eye(2, 3),
                           L.arange(5), L.arange(1, 4, 0.5), L.arange(0, 1, 0.1), L.linspace(0, 1, 7), L.logspace(0, 2, 3),
                           L.empty(2).shape, L.zeros(2, dtype=L.int32), L.tensor([1, 2]), L.tensor([1.0, 2]), L.tensor(True),
                           L.tensor([[1, 2], [3, 4]], dtype=L.float64), L.tril_indices(3, 3), L.triu_indices(3, 4, 1),
                           L.as_tensor([1, 2]), L.scalar_tensor(2)), grad=False)
row("like", lambda L, x: (L.zeros_like(x), L.ones_like(x, dtype=L.int64), L.full_like(x, 7), L.empty_like(x).shape, x.new_zeros(2), x.new_ones((1, 2)),
                          x.new_full((2,), 3.0), x.new_tensor([1, 2])), rnd(2, 3), grad=False)
row("from_numpy", lambda L: (L.from_numpy(np.arange(3)), L.from_numpy(np.ones(2, np.float64)), L.tensor(np.ones(2, np.float32))), grad=False)


@pytest.mark.parametrize("fn,args,opts", ROWS)
def test_op_parity(fn, args, opts):
    check(fn, *args, **opts)


# Registry ops exercised indirectly by the rows above (name -> how); nn ops have their own tests.
COVERED_ELSEWHERE = {
    "add_scaled": "add_alpha", "trunc_divide": "div_trunc", "setitem": "test_tensor.py", "getitem": "getitem_basic",
    "contiguous_copy": "clone", "masked_fill": "masked_fill", "scatter_reduce_incl": "scatter_reduce",
    "scatter_mean_incl_self": "scatter_reduce", "repeat_interleave_tensor": "repeat_interleave_tensor",
    "median_all": "median", "nanmedian_all": "nanmedian", "median_dim": "median", "max_dim": "max_dim",
    "min_dim": "min_dim_keep", "vector_norm": "norm", "matrix_norm": "matrix_norm", "svdvals": "svdvals_pinv",
    "eigvalsh": "eigh", "triangular_solve": "solve_triangular", "to_device": "test_tensor.py", "expand": "expand", "permute": "permute", "reshape": "reshape_view", "split": "split_chunk",
    "lstsq": "test_tensor.py", "diag_embed": "diagonal", "isreal": "test_tensor.py", "relu": "nn tests",
    "relu6": "nn tests", "silu": "nn tests", "selu": "nn tests", "mish": "nn tests", "softsign": "nn tests",
    "tanhshrink": "nn tests", "hardswish": "nn tests", "hardsigmoid": "nn tests", "log_sigmoid": "nn tests",
    "dropout": "nn tests", "uniform": "test_random.py", "normal": "test_random.py", "randint": "test_random.py",
    "randperm": "test_random.py", "bernoulli": "test_random.py", "multinomial": "test_random.py",
    "exponential": "test_random.py", "geometric": "test_random.py", "cauchy": "test_random.py",
    "log_normal": "test_random.py", "poisson": "test_random.py", "outer": "mv_outer", "addmm": "addmm",
    "any": "all_any", "argmin": "argmax", "bucketize": "searchsorted", "cross": "kron_cross", "cummin": "cummax",
    "cumprod": "cumsum", "det": "inv_solve_det", "slogdet": "inv_solve_det", "index_copy": "index_add_copy_fill",
    "index_fill": "index_add_copy_fill", "matrix_rank": "matrix_power", "pinv": "svdvals_pinv", "roll": "flip_roll",
    "stack": "cat_stack", "take_along_dim": "take", "tile": "repeat", "trace": "diagonal", "triu": "tril_triu",
    "unbind": "narrow_select", "basic_getitem": "getitem_basic", "basic_setitem": "test_tensor.py",
}


def test_registry_is_covered():
    """Every core op in the registry is named by a parity row or listed above."""
    import torchish._ops.elementwise as E
    import torchish._ops.indexing as IX
    import torchish._ops.linalg as LA
    import torchish._ops.random as R
    import torchish._ops.reduction as RE
    import torchish._ops.shape as S
    from torchish._ops import OPS

    core = {n for n, o in OPS.items() if o.impl.__module__ in {m.__name__ for m in (E, IX, LA, R, RE, S)}}
    row_ids = {p.id.split("_method")[0] for p in ROWS} | {p.id for p in ROWS}
    prefixes = {i.split("_")[0] for i in row_ids}
    missing = sorted(n for n in core if n not in row_ids and n not in COVERED_ELSEWHERE and n not in prefixes
                     and not any(r.startswith(n) for r in row_ids))
    assert not missing, f"registry ops without a parity row: {missing}"
