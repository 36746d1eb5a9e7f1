"""Shape ops.  Those PyTorch documents as views (``view``, ``transpose``, ``split``, ...) return
views that alias their base (see NOTE [ Views ] in ``_tensor.py``)."""

from __future__ import annotations

import math

from .. import _dtype as D
from .._ops import OPS
from .._tensor import Size, Tensor, _make_view, _wrap_dim, apply_op
from ._common import as_tensor_arg, method, promote, shape_arg
from ._common import dim1 as _nd


def _infer_shape(shape, numel, src_shape):
    shape = list(shape)
    neg = [i for i, s in enumerate(shape) if s == -1]
    if len(neg) > 1:
        raise RuntimeError("only one dimension can be inferred")
    if neg:
        rest = math.prod(s for s in shape if s != -1)
        if rest == 0 or numel % rest:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape[neg[0]] = numel // rest
    if math.prod(shape) != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return tuple(shape)


def _reshape_view(input: Tensor, shape) -> Tensor:
    shape = _infer_shape(shape, input.numel(), input.shape)
    return _make_view(apply_op(OPS["reshape"], (("shape", shape),), input), input, ("reshape", shape))


@method
def reshape(input, *shape):
    """A tensor with the same elements and shape ``shape`` (one dim may be -1); a view."""
    return _reshape_view(input, shape_arg(shape))


def _view(self, *shape):
    if len(shape) == 1 and (isinstance(shape[0], D.dtype) or isinstance(shape[0], str)):
        raise NotImplementedError("Tensor.view(dtype) (bit reinterpretation) is not supported; use .to(dtype)")
    return _reshape_view(self, shape_arg(shape))


Tensor.view = _view
Tensor.view_as = lambda self, other: _reshape_view(self, tuple(other.shape))
Tensor.reshape_as = lambda self, other: _reshape_view(self, tuple(other.shape))


@method
def flatten(input, start_dim=0, end_dim=-1):
    n = input.ndim
    if n == 0:
        return _reshape_view(input, (1,))
    s, e = _nd(start_dim, n), _nd(end_dim, n)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shp = tuple(input.shape)
    return _reshape_view(input, shp[:s] + (math.prod(shp[s:e + 1]),) + shp[e + 1:])


@method
def unflatten(input, dim, sizes):
    d = _nd(dim, input.ndim)
    shp = tuple(input.shape)
    sizes = tuple(sizes)
    if -1 in sizes:
        sizes = _infer_shape(sizes, shp[d], sizes)
    if math.prod(sizes) != shp[d]:
        raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim {dim} ({shp[d]}) in the input tensor")
    return _reshape_view(input, shp[:d] + sizes + shp[d + 1:])


@method
def ravel(input):
    return _reshape_view(input, (-1,))


@method
def squeeze(input, dim=None):
    shp = tuple(input.shape)
    if dim is None:
        new = tuple(s for s in shp if s != 1)
    else:
        ds = {_nd(d, input.ndim) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))}
        new = tuple(s for i, s in enumerate(shp) if not (i in ds and s == 1))
    return _reshape_view(input, new)


@method
def unsqueeze(input, dim):
    d = _wrap_dim(dim, input.ndim + 1)
    shp = tuple(input.shape)
    return _reshape_view(input, shp[:d] + (1,) + shp[d:])


def _permute_view(input, perm):
    perm = tuple(perm)
    return _make_view(apply_op(OPS["permute"], (("dims", perm),), input), input, ("permute", perm))


@method
def permute(input, *dims):
    dims = shape_arg(dims)
    if len(dims) != input.ndim:
        raise RuntimeError(
            f"permute(sparse_coo): number of dimensions in the tensor input does not match the length of the desired ordering of dimensions i.e. input.dim() = {input.ndim} is not equal to len(dims) = {len(dims)}"
        )
    perm = tuple(_nd(d, input.ndim) for d in dims)
    if len(set(perm)) != len(perm):
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return _permute_view(input, perm)


@method
def transpose(input, dim0, dim1):
    n = input.ndim
    if n == 0:
        return _permute_view(input, ())
    a, b = _nd(dim0, n), _nd(dim1, n)
    perm = list(range(n))
    perm[a], perm[b] = perm[b], perm[a]
    return _permute_view(input, perm)


swapaxes = method(transpose, name="swapaxes")
swapdims = method(transpose, name="swapdims")


@method
def t(input):
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input.ndim}D")
    return transpose(input, 0, 1) if input.ndim == 2 else _permute_view(input, tuple(range(input.ndim)))


Tensor.T = property(lambda self: _permute_view(self, tuple(reversed(range(self.ndim)))))
Tensor.mT = property(lambda self: transpose(self, -2, -1))
Tensor.H = property(lambda self: self.T)
Tensor.mH = property(lambda self: transpose(self, -2, -1))


@method
def adjoint(input):
    return transpose(input, -2, -1)


@method
def movedim(input, source, destination):
    n = input.ndim
    src = [_nd(s, n) for s in (source if isinstance(source, (tuple, list)) else (source,))]
    dst = [_nd(d, n) for d in (destination if isinstance(destination, (tuple, list)) else (destination,))]
    order = [i for i in range(n) if i not in src]
    perm = [None] * n
    for s, d in zip(src, dst):
        perm[d] = s
    it = iter(order)
    perm = [p if p is not None else next(it) for p in perm]
    return _permute_view(input, perm)


moveaxis = method(movedim, name="moveaxis")


@method
def expand(input, *sizes):
    sizes = shape_arg(sizes)
    shp = tuple(input.shape)
    if len(sizes) < len(shp):
        raise RuntimeError(
            f"expand(torch.FloatTensor{{{list(shp)}}}, size={list(sizes)}): the number of sizes provided ({len(sizes)}) must be greater or equal to the number of dimensions in the tensor ({len(shp)})"
        )
    lead = len(sizes) - len(shp)
    out = []
    for i, s in enumerate(sizes):
        cur = shp[i - lead] if i >= lead else None
        if s == -1:
            if cur is None:
                raise RuntimeError("expand: -1 is not allowed in a leading, non-existing dimension")
            out.append(cur)
        else:
            if cur is not None and cur != 1 and cur != s:
                raise RuntimeError(
                    f"The expanded size of the tensor ({s}) must match the existing size ({cur}) at non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: {list(shp)}"
                )
            out.append(s)
    out = tuple(out)
    return _make_view(apply_op(OPS["expand"], (("shape", out),), input), input, ("expand", out))


Tensor.expand_as = lambda self, other: expand(self, tuple(other.shape))


@method
def broadcast_to(input, size):
    return expand(input, tuple(size))


def broadcast_tensors(*tensors):
    import jax.numpy as jnp

    shape = jnp.broadcast_shapes(*[tuple(t.shape) for t in tensors])
    return tuple(expand(t, shape) for t in tensors)


def broadcast_shapes(*shapes):
    import jax.numpy as jnp

    return Size(jnp.broadcast_shapes(*[tuple(s) if not isinstance(s, int) else (s,) for s in shapes]))


def _index_view(input, template):
    from .indexing import basic_view

    return basic_view(input, template)


def _slice_template(ndim, dim, start, stop, step=1):
    return tuple(("s", None, None, None) for _ in range(dim)) + (("s", start, stop, step),)


@method
def narrow(input, dim, start, length):
    d = _nd(dim, input.ndim)
    n = input.shape[d]
    start = int(start)
    if start < 0:
        start += n
    if not (0 <= start and start + length <= n):
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return _index_view(input, _slice_template(input.ndim, d, start, start + int(length)))


@method
def select(input, dim, index):
    d = _nd(dim, input.ndim)
    n = input.shape[d]
    i = int(index)
    if not -n <= i < n:
        raise IndexError(f"select(): index {i} out of range for tensor of size {list(input.shape)} at dimension {d}")
    return _index_view(input, tuple(("s", None, None, None) for _ in range(d)) + (("i", i % n),))


@method
def unbind(input, dim=0):
    d = _nd(dim, input.ndim)
    return tuple(select(input, d, i) for i in range(input.shape[d]))


@method
def split(input, split_size_or_sections, dim=0):
    """Pieces of size ``split_size`` (the last may be smaller) or of the listed sizes; views."""
    d = _nd(dim, input.ndim)
    n = input.shape[d]
    if isinstance(split_size_or_sections, int):
        s = split_size_or_sections
        if s <= 0 and n > 0:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}")
        sizes = [s] * (n // s) + ([n % s] if n % s else []) if s else [0]
    else:
        sizes = [int(x) for x in split_size_or_sections]
        if sum(sizes) != n:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at dimension {d}), but got split_sizes={sizes}"
            )
    out, start = [], 0
    for s in sizes:
        out.append(_index_view(input, _slice_template(input.ndim, d, start, start + s)))
        start += s
    return tuple(out)


@method
def split_with_sizes(input, split_sizes, dim=0):
    return split(input, list(split_sizes), dim)


@method
def chunk(input, chunks, dim=0):
    d = _nd(dim, input.ndim)
    n = input.shape[d]
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0")
    size = -(-n // chunks) if n else 0
    return split(input, size if size else max(n, 1), d) if n else (input,)


@method
def tensor_split(input, indices_or_sections, dim=0):
    d = _nd(dim, input.ndim)
    n = input.shape[d]
    if isinstance(indices_or_sections, int):
        k = indices_or_sections
        q, r = divmod(n, k)
        sizes = [q + 1] * r + [q] * (k - r)
    else:
        idx = [0] + [min(max(int(i), 0), n) for i in indices_or_sections] + [n]
        sizes = [max(b - a, 0) for a, b in zip(idx[:-1], idx[1:])]
    out, start = [], 0
    for s in sizes:
        out.append(_index_view(input, _slice_template(input.ndim, d, start, start + s)))
        start += s
    return tuple(out)


def _seq_args(tensors, name):
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{name}() argument 'tensors' must be tuple of Tensors, not {type(tensors).__name__}")
    ts = [as_tensor_arg(t) for t in tensors]
    if not ts:
        raise RuntimeError(f"{name}(): expected a non-empty list of Tensors")
    return ts


def cat(tensors, dim=0, *, out=None):
    """Concatenate along an existing dim (PyTorch skips 1-D empty tensors)."""
    ts = _seq_args(tensors, "cat")
    ts = [t for t in ts if not (t.ndim == 1 and t.shape[0] == 0)] or ts[:1]
    ref = ts[0]
    d = _nd(dim, ref.ndim)
    for i, t in enumerate(ts):
        if t.ndim != ref.ndim:
            raise RuntimeError(
                f"Tensors must have same number of dimensions: got {ref.ndim} and {t.ndim}"
            )
        for k in range(ref.ndim):
            if k != d and t.shape[k] != ref.shape[k]:
                raise RuntimeError(
                    f"Sizes of tensors must match except in dimension {d}. Expected size {ref.shape[k]} but got size {t.shape[k]} for tensor number {i} in the list."
                )
    r = apply_op(OPS["cat"], (("dim", d), ("dtype", promote(*ts).np)), *ts)
    if out is not None:
        out._inplace(r) if tuple(out.shape) == tuple(r.shape) else out.__setattr__("_data", r._data)
        return out
    return r


concat = cat
concatenate = cat


def stack(tensors, dim=0, *, out=None):
    ts = _seq_args(tensors, "stack")
    for i, t in enumerate(ts):
        if t.shape != ts[0].shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(ts[0].shape)} at entry 0 and {list(t.shape)} at entry {i}"
            )
    d = _wrap_dim(dim, ts[0].ndim + 1)
    return apply_op(OPS["stack"], (("dim", d), ("dtype", promote(*ts).np)), *ts)


def hstack(tensors):
    ts = [atleast_1d(t) for t in _seq_args(tensors, "hstack")]
    return cat(ts, 0 if ts[0].ndim == 1 else 1)


def vstack(tensors):
    return cat([atleast_2d(t) for t in _seq_args(tensors, "vstack")], 0)


row_stack = vstack


def dstack(tensors):
    return cat([atleast_3d(t) for t in _seq_args(tensors, "dstack")], 2)


def column_stack(tensors):
    ts = [t.reshape(-1, 1) if t.ndim <= 1 else t for t in _seq_args(tensors, "column_stack")]
    return cat(ts, 1)


def atleast_1d(t):
    return t.reshape(1) if t.ndim == 0 else t


def atleast_2d(t):
    return t.reshape(1, -1) if t.ndim < 2 else t


def atleast_3d(t):
    if t.ndim == 0:
        return t.reshape(1, 1, 1)
    if t.ndim == 1:
        return t.reshape(1, -1, 1)
    if t.ndim == 2:
        return t.unsqueeze(-1)
    return t


@method
def flip(input, dims):
    dims = (dims,) if isinstance(dims, int) else dims
    return apply_op(OPS["flip"], (("dims", tuple(_nd(d, input.ndim) for d in dims)),), input)


@method
def fliplr(input):
    return flip(input, (1,))


@method
def flipud(input):
    return flip(input, (0,))


@method
def rot90(input, k=1, dims=(0, 1)):
    k %= 4
    a, b = dims
    if k == 0:
        return input.clone()
    if k == 1:
        return flip(input, (b,)).transpose(a, b)
    if k == 2:
        return flip(input, (a, b))
    return flip(input.transpose(a, b), (b,))


@method
def roll(input, shifts, dims=None):
    if dims is None:
        return roll(input.flatten(), shifts, 0).view(tuple(input.shape))
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    return apply_op(OPS["roll"], (("shifts", shifts), ("dims", tuple(_nd(d, input.ndim) for d in dims))), input)


def _repeat(self, *sizes):
    sizes = shape_arg(sizes)
    if len(sizes) < self.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor")
    return apply_op(OPS["tile"], (("reps", sizes),), self)


Tensor.repeat = _repeat


@method
def tile(input, dims):
    dims = tuple(dims)
    if len(dims) < input.ndim:
        dims = (1,) * (input.ndim - len(dims)) + dims
    return apply_op(OPS["tile"], (("reps", dims),), input)


@method
def repeat_interleave(input, repeats, dim=None, *, output_size=None):
    if dim is None:
        input = input.flatten()
        dim = 0
    d = _nd(dim, input.ndim)
    if isinstance(repeats, Tensor) and repeats.numel() > 1:
        total = int(output_size) if output_size is not None else int(repeats.sum().item())
        return apply_op(OPS["repeat_interleave_tensor"], (("dim", d), ("total", total)), input, repeats)
    r = int(repeats)
    return apply_op(OPS["repeat_interleave"], (("repeats", r), ("dim", d), ("total", input.shape[d] * r)), input)


@method
def tril(input, diagonal=0):
    return apply_op(OPS["tril"], (("diagonal", int(diagonal)),), input)


@method
def triu(input, diagonal=0):
    return apply_op(OPS["triu"], (("diagonal", int(diagonal)),), input)


@method
def diagonal(input, offset=0, dim1=0, dim2=1):
    return apply_op(OPS["diagonal"], (("offset", int(offset)), ("dim1", _nd(dim1, input.ndim)), ("dim2", _nd(dim2, input.ndim))), input)


@method
def diag(input, diagonal=0):
    return apply_op(OPS["diag"], (("diagonal", int(diagonal)),), input)


@method
def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    n = input.ndim + 1
    return apply_op(OPS["diag_embed"], (("offset", int(offset)), ("dim1", _wrap_dim(dim1, n)), ("dim2", _wrap_dim(dim2, n))), input)


@method
def contiguous(input, memory_format=None):
    """The tensor itself: every torchish tensor is contiguous (arrays have no strides)."""
    return input


@method
def clone(input, *, memory_format=None):
    """A copy that does not alias ``input`` (differentiable)."""
    return apply_op(OPS["contiguous_copy"], (), input)


def meshgrid(*tensors, indexing=None):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tensors[0]
    indexing = indexing or "ij"
    if indexing not in ("ij", "xy"):
        raise ValueError(f"torch.meshgrid: indexing must be one of 'xy' or 'ij', but received: {indexing}")
    n = len(tensors)
    shape = [t.numel() for t in tensors]
    if indexing == "xy" and n >= 2:
        shape[0], shape[1] = shape[1], shape[0]
    out = []
    for i, t in enumerate(tensors):
        view = [1] * n
        pos = i
        if indexing == "xy" and n >= 2 and i < 2:
            pos = 1 - i
        view[pos] = -1
        out.append(t.reshape(view).expand(shape))
    return tuple(out)


def cartesian_prod(*tensors):
    grids = meshgrid(*tensors, indexing="ij")
    return stack([g.reshape(-1) for g in grids], 1) if len(tensors) > 1 else tensors[0]
