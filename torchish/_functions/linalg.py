"""Matrix products (``matmul``, ``bmm``, ``einsum`` ...) and ``torchish.linalg``."""

from __future__ import annotations

import collections

from .._ops import OPS
from .._tensor import Tensor, apply_op
from ._common import as_tensor_arg, dims, method, promote
from .reduction import slogdet_rt


def _key(*ts):
    return (("dtype", promote(*ts).np),)


def _check_dtypes(a, b, name):
    if a._data.dtype != b._data.dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {a.dtype} != {b.dtype}")


@method
def matmul(input, other, *, out=None):
    """Matrix product with NumPy's broadcasting and 1-D rules (``@``)."""
    input, other = as_tensor_arg(input), as_tensor_arg(other)
    a, b = tuple(input.shape), tuple(other.shape)
    if input.ndim == 0 or other.ndim == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {input.ndim}D and {other.ndim}D")
    ka = a[-1]
    kb = b[0] if other.ndim == 1 else b[-2]
    if ka != kb:
        if input.ndim <= 2 and other.ndim <= 2:
            ra = "x".join(map(str, a if input.ndim == 2 else (1,) + a))
            rb = "x".join(map(str, b if other.ndim == 2 else b + (1,)))
            raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({ra} and {rb})")
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: [{a[:-2]}, {ka}] but got: {list(b)}.")
    _check_dtypes(input, other, "matmul")
    return apply_op(OPS["matmul"], (("dtype", input._data.dtype),), input, other)


Tensor.__matmul__ = matmul
Tensor.__rmatmul__ = lambda self, other: matmul(other, self)


@method
def mm(input, mat2, *, out=None):
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"self must be a matrix" if input.ndim != 2 else "mat2 must be a matrix")
    return matmul(input, mat2)


@method
def bmm(input, mat2, *, out=None):
    if input.ndim != 3 or mat2.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor" if input.ndim != 3 else "batch2 must be a 3D tensor")
    if input.shape[0] != mat2.shape[0] or input.shape[2] != mat2.shape[1]:
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{input.shape[0]}, {input.shape[2]}] but got: [{mat2.shape[0]}, {mat2.shape[1]}]."
        )
    return matmul(input, mat2)


@method
def mv(input, vec):
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {input.ndim}, {vec.ndim}")
    return matmul(input, vec)


@method
def dot(input, tensor):
    if input.ndim != 1 or tensor.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {tensor.ndim}D tensors")
    if input.shape[0] != tensor.shape[0]:
        raise RuntimeError(
            f"inconsistent tensor size, expected tensor [{input.shape[0]}] and src [{tensor.shape[0]}] to have the same number of elements, but got {input.shape[0]} and {tensor.shape[0]} elements respectively"
        )
    return matmul(input, tensor)


vdot = method(dot, name="vdot")


@method
def inner(input, other):
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    return tensordot(input, other, dims=([-1], [-1]))


@method
def outer(input, vec2):
    return apply_op(OPS["outer"], _key(input, vec2), input, vec2)


ger = method(outer, name="ger")


def einsum(equation, *operands):
    """Einstein summation (``torch.einsum``)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = operands[0]
    ops = [as_tensor_arg(o) for o in operands]
    return apply_op(OPS["einsum"], (("equation", equation), ("dtype", promote(*ops).np)), *ops)


def tensordot(a, b, dims=2, out=None):
    if isinstance(dims, int):
        d = dims
    else:
        x, y = dims
        x = [x] if isinstance(x, int) else list(x)
        y = [y] if isinstance(y, int) else list(y)
        d = (tuple(i % a.ndim for i in x), tuple(i % b.ndim for i in y))
    return apply_op(OPS["tensordot"], (("dims", d),) + _key(a, b), a, b)


@method
def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    return apply_op(OPS["addmm"], _key(input, mat1, mat2), input, mat1, mat2, beta, alpha)


@method
def addmv(input, mat, vec, *, beta=1, alpha=1):
    return beta * input + alpha * mv(mat, vec)


@method
def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    return apply_op(OPS["addmm"], _key(input, batch1, batch2), input, batch1, batch2, beta, alpha)


@method
def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    return beta * input + alpha * bmm(batch1, batch2).sum(0)


@method
def addr(input, vec1, vec2, *, beta=1, alpha=1):
    return beta * input + alpha * outer(vec1, vec2)


@method
def kron(input, other):
    return apply_op(OPS["kron"], _key(input, other), input, other)


@method
def cross(input, other, dim=None):
    if dim is None:
        dim = next(i for i, s in enumerate(input.shape) if s == 3)
    return apply_op(OPS["cross"], (("dim", dim % input.ndim),) + _key(input, other), input, other)


def cdist(x1, x2, p=2.0, compute_mode=None):
    return apply_op(OPS["cdist"], (("p", float(p)),), x1, x2)


@method
def trace(input):
    return apply_op(OPS["trace"], (), input)


def chain_matmul(*matrices):
    out = matrices[0]
    for m in matrices[1:]:
        out = out @ m
    return out


# ------------------------------------------------------------------------------ torch.linalg
_SVD = collections.namedtuple("svd", ["U", "S", "Vh"])
_QR = collections.namedtuple("qr", ["Q", "R"])
_EIGH = collections.namedtuple("eigh", ["eigenvalues", "eigenvectors"])


def _square(A, name):
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"linalg.{name}: A must be batches of square matrices, but they are {A.shape[-2] if A.ndim >= 2 else ''} by {A.shape[-1] if A.ndim else ''} matrices")


def inv(A):
    _square(A, "inv")
    return apply_op(OPS["inv"], (), A)


def solve(A, B, *, left=True):
    _square(A, "solve")
    return apply_op(OPS["solve"], (("left", bool(left)),), A, B)


def det(A):
    _square(A, "det")
    return apply_op(OPS["det"], (), A)


def slogdet(A):
    _square(A, "slogdet")
    return slogdet_rt(*apply_op(OPS["slogdet"], (), A))


def cholesky(A, *, upper=False):
    _square(A, "cholesky")
    return apply_op(OPS["cholesky"], (("upper", bool(upper)),), A)


def qr(A, mode="reduced"):
    return _QR(*apply_op(OPS["qr"], (("mode", mode),), A))


def svd(A, full_matrices=True):
    return _SVD(*apply_op(OPS["svd"], (("full_matrices", bool(full_matrices)),), A))


def svdvals(A):
    return apply_op(OPS["svdvals"], (), A)


def eigh(A, UPLO="L"):
    _square(A, "eigh")
    return _EIGH(*apply_op(OPS["eigh"], (("upper", UPLO == "U"),), A))


def eigvalsh(A, UPLO="L"):
    return apply_op(OPS["eigvalsh"], (("upper", UPLO == "U"),), A)


def pinv(A, *, atol=None, rtol=None, hermitian=False):
    return apply_op(OPS["pinv"], (("hermitian", bool(hermitian)), ("rtol", rtol)), A)


def matrix_power(A, n):
    return apply_op(OPS["matrix_power"], (("n", int(n)),), A)


def matrix_rank(A, *, hermitian=False, atol=None, rtol=None):
    return apply_op(OPS["matrix_rank"], (("hermitian", hermitian),), A)


def lstsq(A, B, rcond=None, *, driver=None):
    sol = apply_op(OPS["lstsq"], (), A, B)
    return collections.namedtuple("lstsq", ["solution"])(sol)


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    from .reduction import _is_float
    from ._common import np_dtype
    from .. import _dtype as D

    x = as_tensor_arg(x)
    d = np_dtype(dtype) or (x._data.dtype if _is_float(x._data.dtype) else D.get_default_dtype().np)
    return apply_op(OPS["vector_norm"], (("ord", float(ord)), ("dims", dims(dim, x.ndim)), ("keepdim", keepdim), ("dtype", d)), x)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    d = tuple(i % A.ndim for i in dim)
    if ord == "fro":
        return vector_norm(A, 2, d, keepdim, dtype=dtype)
    o = ord if isinstance(ord, str) else float(ord)
    if o == "nuc" or o in (2.0, -2.0):
        r = apply_op(OPS["matrix_norm"], (("ord", o), ("dims", d), ("keepdim", keepdim)), A)
        return r
    return apply_op(OPS["matrix_norm"], (("ord", o), ("dims", d), ("keepdim", keepdim)), A)


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    if ord is None:
        if dim is not None and not isinstance(dim, int) and len(dim) == 2:
            return matrix_norm(A, "fro", dim, keepdim, dtype=dtype)
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    if isinstance(ord, str) or (dim is not None and not isinstance(dim, int) and len(dim) == 2) or (dim is None and A.ndim == 2):
        return matrix_norm(A, ord, dim if dim is not None else (-2, -1), keepdim, dtype=dtype)
    return vector_norm(A, ord, dim, keepdim, dtype=dtype)


def cross_linalg(input, other, *, dim=-1):
    return cross(input, other, dim)


def solve_triangular(A, B, *, upper, left=True, unitriangular=False):
    return apply_op(OPS["triangular_solve"], (("upper", upper), ("left", left), ("unitriangular", unitriangular)), B, A)


def multi_dot(tensors):
    return chain_matmul(*tensors)


def diagonal_linalg(A, *, offset=0, dim1=-2, dim2=-1):
    return A.diagonal(offset, dim1, dim2)
