"""Elementwise math: ``torchish.exp``/``Tensor.exp``, operators, in-place variants."""

from __future__ import annotations

import builtins

import numpy as np

from .. import _dtype as D
from .._ops import OPS
from .._tensor import Tensor, apply_op, wrap
from ._common import SCALARS, as_tensor_arg, method, promote

_FLOAT_KEYS: dict = {}


def _key(np_dtype):
    k = _FLOAT_KEYS.get(np_dtype)
    if k is None:
        k = _FLOAT_KEYS[np_dtype] = (("dtype", np_dtype),)
    return k


def _float_dtype(x: Tensor):
    d = x._data.dtype
    if d.kind == "f" or d == D.bfloat16.np:
        return d
    return D.get_default_dtype().np


def _make_unary_float(name):
    op = OPS[name]

    def fn(input, *, out=None):
        input = as_tensor_arg(input)
        return _out(apply_op(op, _key(_float_dtype(input)), input), out)

    fn.__name__ = name
    fn.__doc__ = f"Elementwise ``{name}``; integer inputs give the default float dtype."
    return fn


def _make_unary_same(name):
    op = OPS[name]

    def fn(input, *, out=None):
        input = as_tensor_arg(input)
        return _out(apply_op(op, _key(input._data.dtype), input), out)

    fn.__name__ = name
    fn.__doc__ = f"Elementwise ``{name}``, keeping the input dtype."
    return fn


def _make_predicate(name):
    op = OPS[name]

    def fn(input):
        return apply_op(op, (), as_tensor_arg(input))

    fn.__name__ = name
    fn.__doc__ = f"Elementwise ``{name}`` (bool result)."
    return fn


def _out(result, out):
    if out is None:
        return result
    out._inplace(result)
    return out


UNARY_FLOAT = ["exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "sin", "cos",
               "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "sigmoid",
               "erf", "erfc", "erfinv", "lgamma", "digamma", "i0", "sinc", "reciprocal", "deg2rad", "rad2deg"]
UNARY_SAME = ["neg", "abs", "sign", "square", "floor", "ceil", "trunc", "frac", "bitwise_not", "positive"]
PREDICATES = ["isnan", "isinf", "isfinite", "isposinf", "isneginf", "signbit", "logical_not", "isreal"]

_ns = globals()
for _n in UNARY_FLOAT:
    _ns[_n] = method(_make_unary_float(_n))
for _n in UNARY_SAME:
    _ns[_n] = method(_make_unary_same(_n))
for _n in PREDICATES:
    _ns[_n] = method(_make_predicate(_n))

# PyTorch's aliases
arcsin, arccos, arctan, arcsinh, arccosh, arctanh = asin, acos, atan, asinh, acosh, atanh  # noqa: F821
negative, absolute, fix = neg, abs, trunc  # noqa: F821
for _a, _t in dict(arcsin=asin, arccos=acos, arctan=atan, arcsinh=asinh, arccosh=acosh, arctanh=atanh,  # noqa: F821
                   negative=neg, absolute=abs, fix=trunc).items():  # noqa: F821
    method(_t, name=_a)


@method
def sgn(input):
    return sign(input)  # noqa: F821


@method
def square_(input):
    return input._inplace(square(input))  # noqa: F821


@method
def round(input, *, decimals=0):
    input = as_tensor_arg(input)
    return apply_op(OPS["round"], (("dtype", input._data.dtype), ("decimals", int(decimals))), input)


@method
def logit(input, eps=None):
    input = as_tensor_arg(input)
    return apply_op(OPS["logit"], (("dtype", _float_dtype(input)), ("eps", None if eps is None else float(eps))), input)


@method
def polygamma(n, input):
    input = as_tensor_arg(input)
    return apply_op(OPS["polygamma"], (("dtype", _float_dtype(input)), ("n", int(n))), input)


@method
def mvlgamma(input, p):
    return apply_op(OPS["mvlgamma"], (("dtype", _float_dtype(input)), ("p", int(p))), input)


@method
def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    return apply_op(OPS["nan_to_num"], (("nan", nan), ("posinf", posinf), ("neginf", neginf)), as_tensor_arg(input))


# --------------------------------------------------------------------------------- binary ops


def _result(a, b):
    """Fast PyTorch promotion for two operands; returns (a, b, numpy result dtype)."""
    ta, tb = type(a), type(b)
    if ta is not Tensor and not isinstance(a, Tensor):
        a = as_tensor_arg(a)
    if tb is not Tensor and not isinstance(b, Tensor):
        b = as_tensor_arg(b)
    if isinstance(a, Tensor):
        da = a._data.dtype
        if isinstance(b, Tensor):
            if b._data.dtype == da:
                return a, b, da
        elif type(b) is float:
            if da.kind == "f" or da == D.bfloat16.np:
                return a, b, da
        elif type(b) is int:
            if da.kind in "iuf" or da == D.bfloat16.np:
                return a, b, da
    return a, b, promote(a, b).np


def _make_binary(name, float_result=False):
    op = OPS[name]

    def fn(input, other, *, out=None):
        a, b, dt = _result(input, other)
        if float_result and dt.kind not in "f" and dt != D.bfloat16.np:
            dt = D.get_default_dtype().np
        return _out(apply_op(op, _key(dt), a, b), out)

    fn.__name__ = name
    fn.__doc__ = f"Elementwise ``{name}`` with broadcasting and PyTorch's type promotion."
    return fn


BINARY = ["mul", "remainder", "fmod", "maximum", "minimum", "fmax", "fmin", "copysign",
          "nextafter", "heaviside", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift",
          "bitwise_right_shift", "gcd", "lcm", "eq", "ne", "lt", "le", "gt", "ge", "logical_and",
          "logical_or", "logical_xor", "floor_divide"]
BINARY_FLOAT = ["atan2", "hypot", "logaddexp", "logaddexp2", "xlogy", "ldexp"]
for _n in BINARY:
    _ns[_n] = method(_make_binary(_n))
for _n in BINARY_FLOAT:
    _ns[_n] = method(_make_binary(_n, float_result=True))

multiply, greater, greater_equal, less, less_equal, not_equal = mul, gt, ge, lt, le, ne  # noqa: F821
arctan2 = atan2  # noqa: F821
for _a, _t in dict(multiply=mul, greater=gt, greater_equal=ge, less=lt, less_equal=le,  # noqa: F821
                   not_equal=ne, arctan2=atan2).items():  # noqa: F821
    method(_t, name=_a)


@method
def add(input, other, *, alpha=1, out=None):
    """``input + alpha * other``."""
    a, b, dt = _result(input, other)
    if alpha == 1:
        return _out(apply_op(OPS["add"], _key(dt), a, b), out)
    return _out(apply_op(OPS["add_scaled"], _key(dt), a, b, alpha), out)


@method
def sub(input, other, *, alpha=1, out=None):
    """``input - alpha * other``."""
    a, b, dt = _result(input, other)
    if _is_bool(a) or _is_bool(b):
        if _is_bool(a) and _is_bool(b):
            raise RuntimeError(
                "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or "
                "`logical_xor()` operator instead."
            )
        raise RuntimeError(
            "Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a "
            "mask, use the `~` or `logical_not()` operator instead."
        )
    if alpha == 1:
        return _out(apply_op(OPS["sub"], _key(dt), a, b), out)
    return _out(apply_op(OPS["add_scaled"], _key(dt), a, b, -alpha), out)


def _is_bool(x) -> bool:
    return x is True or x is False or (isinstance(x, Tensor) and x._data.dtype == np.bool_)


subtract = method(sub, name="subtract")


@method
def div(input, other, *, rounding_mode=None, out=None):
    """True division (integers give the default float dtype), or ``'trunc'``/``'floor'`` rounding."""
    a, b, dt = _result(input, other)
    if rounding_mode is None:
        if dt.kind not in "f" and dt != D.bfloat16.np:
            dt = D.get_default_dtype().np
        return _out(apply_op(OPS["div"], _key(dt), a, b), out)
    if rounding_mode == "floor":
        return _out(apply_op(OPS["floor_divide"], _key(dt), a, b), out)
    if rounding_mode == "trunc":
        return _out(apply_op(OPS["trunc_divide"], _key(dt), a, b), out)
    raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'")


divide = method(div, name="divide")
true_divide = method(div, name="true_divide")


@method
def pow(input, exponent, *, out=None):
    a, b, dt = _result(input, exponent)
    return _out(apply_op(OPS["pow"], _key(dt), a, b), out)


@method
def float_power(input, exponent):
    a, b, _ = _result(input, exponent)
    return apply_op(OPS["float_power"], _key(D.float64.np), a, b)


def where(condition, input=None, other=None):
    """``input`` where ``condition`` else ``other``; ``where(cond)`` is ``nonzero(as_tuple=True)``."""
    if input is None and other is None:
        from .indexing import nonzero

        return nonzero(condition, as_tuple=True)
    condition = as_tensor_arg(condition)
    a, b = as_tensor_arg(input), as_tensor_arg(other)
    dt = promote(a, b).np
    return apply_op(OPS["where"], _key(dt), condition, a, b)


def _tensor_where(self, condition, y):
    return where(condition, self, y)


Tensor.where = _tensor_where


@method
def clamp(input, min=None, max=None, *, out=None):
    """``min(max(input, min), max)``; ``min``/``max`` may be numbers or tensors."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    input = as_tensor_arg(input)
    lo, hi = as_tensor_arg(min), as_tensor_arg(max)
    dt = promote(input, lo, hi).np if (isinstance(lo, Tensor) or isinstance(hi, Tensor) or input._data.dtype.kind in "iub") else input._data.dtype
    return _out(apply_op(OPS["clamp"], _key(dt), input, lo, hi), out)


clip = method(clamp, name="clip")


@method
def clamp_min(input, min):
    return clamp(input, min=min)


@method
def clamp_max(input, max):
    return clamp(input, max=max)


@method
def lerp(input, end, weight):
    dt = promote(as_tensor_arg(input), as_tensor_arg(end)).np
    return apply_op(OPS["lerp"], _key(dt), as_tensor_arg(input), as_tensor_arg(end), as_tensor_arg(weight))


@method
def addcmul(input, tensor1, tensor2, *, value=1):
    dt = promote(input, tensor1, tensor2).np
    return apply_op(OPS["addcmul"], _key(dt), input, tensor1, tensor2, value)


@method
def addcdiv(input, tensor1, tensor2, *, value=1):
    dt = promote(input, tensor1, tensor2).np
    if dt.kind in "iub":
        raise RuntimeError("Integer division with addcdiv is no longer supported, and in a future release addcdiv will perform a true division of tensor1 and tensor2.")
    return apply_op(OPS["addcdiv"], _key(dt), input, tensor1, tensor2, value)


@method
def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    a, b, dt = _result(input, other)
    return apply_op(OPS["isclose"], (("rtol", rtol), ("atol", atol), ("equal_nan", equal_nan)), a, b)


@method
def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    return bool(isclose(input, other, rtol, atol, equal_nan).all())


@method
def equal(input, other) -> bool:
    """True if both have the same shape and elements."""
    input, other = as_tensor_arg(input), as_tensor_arg(other)
    if tuple(input.shape) != tuple(other.shape):
        return False
    return bool(eq(input, other).all())  # noqa: F821


# ------------------------------------------------------------------------------ operators
def _r(fn):
    def rop(self, other):
        return fn(other, self)

    return rop


Tensor.__add__ = add
Tensor.__radd__ = lambda self, other: add(other, self)
Tensor.__sub__ = sub
Tensor.__rsub__ = lambda self, other: sub(other, self)
Tensor.__mul__ = mul  # noqa: F821
Tensor.__rmul__ = lambda self, other: mul(other, self)  # noqa: F821
Tensor.__truediv__ = div
Tensor.__rtruediv__ = lambda self, other: div(other, self)
Tensor.__floordiv__ = floor_divide  # noqa: F821
Tensor.__rfloordiv__ = lambda self, other: floor_divide(other, self)  # noqa: F821
Tensor.__mod__ = remainder  # noqa: F821
Tensor.__rmod__ = lambda self, other: remainder(other, self)  # noqa: F821
Tensor.__pow__ = pow
Tensor.__rpow__ = lambda self, other: pow(other, self)
Tensor.__neg__ = neg  # noqa: F821
Tensor.__pos__ = lambda self: self
Tensor.__abs__ = abs  # noqa: F821
Tensor.__invert__ = lambda self: logical_not(self) if self._data.dtype == np.bool_ else bitwise_not(self)  # noqa: F821
Tensor.__and__ = bitwise_and  # noqa: F821
Tensor.__rand__ = lambda self, other: bitwise_and(other, self)  # noqa: F821
Tensor.__or__ = bitwise_or  # noqa: F821
Tensor.__ror__ = lambda self, other: bitwise_or(other, self)  # noqa: F821
Tensor.__xor__ = bitwise_xor  # noqa: F821
Tensor.__rxor__ = lambda self, other: bitwise_xor(other, self)  # noqa: F821
Tensor.__lshift__ = bitwise_left_shift  # noqa: F821
Tensor.__rshift__ = bitwise_right_shift  # noqa: F821
Tensor.__eq__ = eq  # noqa: F821
Tensor.__ne__ = ne  # noqa: F821
Tensor.__lt__ = lt  # noqa: F821
Tensor.__le__ = le  # noqa: F821
Tensor.__gt__ = gt  # noqa: F821
Tensor.__ge__ = ge  # noqa: F821
Tensor.__hash__ = lambda self: id(self)


def _iop(fn):
    def iop(self, other):
        return self._inplace(fn(self, other))

    return iop


Tensor.__iadd__ = _iop(add)
Tensor.__isub__ = _iop(sub)
Tensor.__imul__ = _iop(mul)  # noqa: F821
Tensor.__itruediv__ = _iop(div)
Tensor.__ifloordiv__ = _iop(floor_divide)  # noqa: F821
Tensor.__imod__ = _iop(remainder)  # noqa: F821
Tensor.__ipow__ = _iop(pow)
Tensor.__iand__ = _iop(bitwise_and)  # noqa: F821
Tensor.__ior__ = _iop(bitwise_or)  # noqa: F821
Tensor.__ixor__ = _iop(bitwise_xor)  # noqa: F821
Tensor.__ilshift__ = _iop(bitwise_left_shift)  # noqa: F821
Tensor.__irshift__ = _iop(bitwise_right_shift)  # noqa: F821

# ------------------------------------------------------------------------- in-place variants
INPLACE = (UNARY_FLOAT + UNARY_SAME + BINARY + BINARY_FLOAT
           + ["add", "sub", "div", "pow", "clamp", "clamp_min", "clamp_max", "lerp", "addcmul", "addcdiv",
              "round", "logit", "nan_to_num", "float_power", "sgn", "subtract", "divide", "true_divide",
              "multiply", "arcsin", "arccos", "arctan", "negative", "absolute", "fix", "clip", "greater",
              "less", "greater_equal", "less_equal", "not_equal", "arctan2", "logical_not", "signbit"])


def _make_inplace(fn):
    def ip(self, *args, **kwargs):
        return self._inplace(fn(self, *args, **kwargs))

    ip.__name__ = fn.__name__ + "_"
    ip.__doc__ = f"In-place version of :meth:`{fn.__name__}`."
    return ip


for _n in set(INPLACE):
    _fn = getattr(Tensor, _n)
    setattr(Tensor, _n + "_", _make_inplace(_fn))

Tensor.square_ = square_
