"""Elementwise ops.  ``dtype`` (static) is the result dtype the caller computed with PyTorch's
promotion rules; inputs are cast to it (via float32 for half types) inside the program."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.scipy.special as jss

from ._registry import op, opmath

# --------------------------------------------------------------------------- unary, float math


def _unary(name, fn):
    def impl(x, *, dtype):
        ct = opmath(dtype)
        return fn(x.astype(ct)).astype(dtype)

    impl.__name__ = name
    impl.__doc__ = f"Elementwise {name}."
    return op(name)(impl)


def _sigmoid(x):
    return jax.nn.sigmoid(x)


# NOTE: piecewise activations use `where` on the comparisons PyTorch's backward kernels use, so
# gradients at the kinks are PyTorch's one-sided ones (jnp.clip/maximum split ties 50/50).
def _hardswish(x):
    m = jnp.where((x > -3) & (x < 3), x, jnp.zeros((), x.dtype))  # finite when unselected (NaN input)
    return jnp.where(x <= -3, jnp.zeros((), x.dtype), jnp.where(x < 3, m * (m + 3) / 6, x))


def _hardsigmoid(x):
    out = jnp.where(x <= -3, jnp.zeros((), x.dtype), jnp.ones((), x.dtype))
    out = jnp.where((x > -3) & (x < 3), (x + 3) / 6, out)
    return jnp.where(jnp.isnan(x), jax.lax.stop_gradient(x), out)  # NaN propagates, gradient 0


def _relu6(x):
    return jnp.where(x <= 0, jnp.zeros((), x.dtype), jnp.where(x >= 6, jnp.asarray(6, x.dtype), x))


_UNARY = {
    "exp": jnp.exp, "exp2": jnp.exp2, "expm1": jnp.expm1, "log": jnp.log, "log2": jnp.log2,
    "log10": jnp.log10, "log1p": jnp.log1p, "sqrt": jnp.sqrt, "rsqrt": jax.lax.rsqrt,
    "sin": jnp.sin, "cos": jnp.cos, "tan": jnp.tan, "asin": jnp.arcsin, "acos": jnp.arccos,
    "atan": jnp.arctan, "sinh": jnp.sinh, "cosh": jnp.cosh, "tanh": jnp.tanh,
    "asinh": jnp.arcsinh, "acosh": jnp.arccosh, "atanh": jnp.arctanh, "sigmoid": _sigmoid,
    "erf": jss.erf, "erfc": jss.erfc, "erfinv": jss.erfinv, "lgamma": jss.gammaln,
    "digamma": jss.digamma, "i0": jss.i0, "sinc": jnp.sinc, "reciprocal": lambda x: 1 / x,
    "deg2rad": jnp.deg2rad, "rad2deg": jnp.rad2deg, "log_sigmoid": jax.nn.log_sigmoid,
    "silu": jax.nn.silu, "mish": lambda x: x * jnp.tanh(jax.nn.softplus(x)),
    "selu": jax.nn.selu, "softsign": lambda x: x / (1 + jnp.abs(x)),
    "tanhshrink": lambda x: x - jnp.tanh(x), "hardswish": _hardswish, "hardsigmoid": _hardsigmoid,
}
for _n, _f in _UNARY.items():
    globals()[_n] = _unary(_n, _f)

# ------------------------------------------------------------ unary, dtype-preserving (any type)


def _unary_same(name, fn):
    def impl(x, *, dtype):
        return fn(x).astype(dtype)

    impl.__name__ = name
    impl.__doc__ = f"Elementwise {name} (keeps integer dtypes)."
    return op(name)(impl)


def _sign(x):
    return jnp.sign(x)


_SAME = {
    "neg": jnp.negative, "abs": jnp.abs, "sign": _sign, "square": jnp.square,
    "floor": jnp.floor, "ceil": jnp.ceil, "trunc": jnp.trunc, "frac": lambda x: x - jnp.trunc(x),
    "relu": lambda x: jnp.where(x <= 0, jnp.zeros((), x.dtype), x), "relu6": _relu6, "bitwise_not": jnp.invert, "positive": lambda x: x,
}
for _n, _f in _SAME.items():
    globals()[_n] = _unary_same(_n, _f)


@op()
def round(x, *, dtype, decimals=0):
    """Round half to even, with ``decimals`` as torch.round."""
    if decimals == 0 or not jnp.issubdtype(x.dtype, jnp.floating):
        return jnp.round(x).astype(dtype)
    ct = opmath(dtype)
    s = 10.0 ** decimals
    return (jnp.round(x.astype(ct) * s) / s).astype(dtype)


def _predicate(name, fn):
    def impl(x):
        return fn(x)

    impl.__name__ = name
    impl.__doc__ = f"Elementwise {name}, returning bool."
    return op(name, differentiable=False)(impl)


for _n, _f in {
    "isnan": jnp.isnan, "isinf": jnp.isinf, "isfinite": jnp.isfinite, "isposinf": jnp.isposinf,
    "isneginf": jnp.isneginf, "signbit": jnp.signbit, "logical_not": jnp.logical_not,
    "isreal": lambda x: jnp.ones(x.shape, bool),
}.items():
    globals()[_n] = _predicate(_n, _f)


@op()
def nan_to_num(x, *, nan=0.0, posinf=None, neginf=None):
    """Replace NaN and infinities (defaults: the dtype's largest finite values)."""
    return jnp.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)


@op()
def logit(x, *, dtype, eps=None):
    ct = opmath(dtype)
    x = x.astype(ct)
    if eps is not None:
        x = jnp.clip(x, eps, 1 - eps)
    return (jnp.log(x) - jnp.log1p(-x)).astype(dtype)


@op()
def polygamma(x, *, dtype, n):
    return jss.polygamma(n, x.astype(opmath(dtype))).astype(dtype)


@op()
def mvlgamma(x, *, dtype, p):
    return jss.multigammaln(x.astype(opmath(dtype)), p).astype(dtype)


@op()
def cast(x, *, dtype):
    """Convert to ``dtype`` (float -> int truncates toward zero, as PyTorch)."""
    return x.astype(dtype)


# -------------------------------------------------------------------------------------- binary


def _binary(name, fn, out_dtype=None):
    def impl(a, b, *, dtype):
        ct = opmath(dtype)
        r = fn(jnp.asarray(a).astype(ct), jnp.asarray(b).astype(ct))
        return r.astype(out_dtype or dtype)

    impl.__name__ = name
    impl.__doc__ = f"Elementwise {name} with broadcasting; ``dtype`` is the promoted type."
    return op(name, differentiable=out_dtype is None)(impl)


def _floor_divide(a, b):
    if jnp.issubdtype(a.dtype, jnp.integer):
        return jnp.floor_divide(a, b)
    return jnp.floor(a / b)


def _pow(a, b):
    return jnp.power(a, b)


_BINARY = {
    "add": jnp.add, "sub": jnp.subtract, "mul": jnp.multiply, "div": jnp.true_divide,
    "floor_divide": _floor_divide, "trunc_divide": lambda a, b: jnp.trunc(a / b) if jnp.issubdtype(a.dtype, jnp.floating) else jax.lax.div(a, b),
    "remainder": jnp.remainder, "fmod": jnp.fmod, "pow": _pow,
    "atan2": jnp.arctan2, "maximum": jnp.maximum, "minimum": jnp.minimum, "fmax": jnp.fmax,
    "fmin": jnp.fmin, "hypot": jnp.hypot, "copysign": jnp.copysign, "logaddexp": jnp.logaddexp,
    "logaddexp2": jnp.logaddexp2, "xlogy": jss.xlogy, "nextafter": jnp.nextafter,
    "heaviside": jnp.heaviside, "bitwise_and": jnp.bitwise_and, "bitwise_or": jnp.bitwise_or,
    "bitwise_xor": jnp.bitwise_xor, "bitwise_left_shift": jnp.left_shift,
    "bitwise_right_shift": jnp.right_shift, "gcd": jnp.gcd, "lcm": jnp.lcm,
    "float_power": jnp.power, "ldexp": lambda a, b: a * jnp.exp2(b),
}
for _n, _f in _BINARY.items():
    globals()[_n] = _binary(_n, _f)

for _n, _f in {
    "eq": jnp.equal, "ne": jnp.not_equal, "lt": jnp.less, "le": jnp.less_equal,
    "gt": jnp.greater, "ge": jnp.greater_equal, "logical_and": jnp.logical_and,
    "logical_or": jnp.logical_or, "logical_xor": jnp.logical_xor,
}.items():
    globals()[_n] = _binary(_n, _f, out_dtype=jnp.bool_)


@op()
def add_scaled(a, b, alpha, *, dtype):
    """``a + alpha * b`` (torch.add with ``alpha``)."""
    ct = opmath(dtype)
    return (jnp.asarray(a).astype(ct) + jnp.asarray(alpha).astype(ct) * jnp.asarray(b).astype(ct)).astype(dtype)


@op()
def addcmul(x, t1, t2, value, *, dtype):
    ct = opmath(dtype)
    return (x.astype(ct) + jnp.asarray(value).astype(ct) * t1.astype(ct) * t2.astype(ct)).astype(dtype)


@op()
def addcdiv(x, t1, t2, value, *, dtype):
    ct = opmath(dtype)
    return (x.astype(ct) + jnp.asarray(value).astype(ct) * t1.astype(ct) / t2.astype(ct)).astype(dtype)


@op()
def lerp(a, b, w, *, dtype):
    ct = opmath(dtype)
    a, b, w = jnp.asarray(a).astype(ct), jnp.asarray(b).astype(ct), jnp.asarray(w).astype(ct)
    return (a + w * (b - a)).astype(dtype)


@op()
def where(cond, a, b, *, dtype):
    """``a`` where ``cond`` else ``b``."""
    return jnp.where(cond, jnp.asarray(a).astype(dtype), jnp.asarray(b).astype(dtype))


@op()
def clamp(x, lo, hi, *, dtype):
    """``min(max(x, lo), hi)``; ``lo``/``hi`` may be None (static absence), scalars or arrays."""
    x = x.astype(dtype)
    if lo is not None:
        x = jnp.maximum(x, jnp.asarray(lo).astype(dtype))
    if hi is not None:
        x = jnp.minimum(x, jnp.asarray(hi).astype(dtype))
    return x


@op()
def isclose(a, b, *, rtol, atol, equal_nan):
    return jnp.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)


@op(jit=False)
def to_device(x, *, device):
    """Move to a JAX device (eager only; differentiable)."""
    return jax.device_put(x, device)
