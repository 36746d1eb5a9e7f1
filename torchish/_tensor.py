"""``Tensor``: a mutable box around an immutable ``jax.Array``, and dispatch into ``_ops``.

Everything stateful in torchish is one of these boxes: parameters, buffers, ``.grad``,
optimizer state, generator keys.  An in-place op computes a new array and puts it in the same
box, so ``torchish.compile`` can turn any stateful program into a pure one by swapping the
boxes' contents (see ``_compile/README.md``).

``apply_op(op, static, *args)`` is the one entry from Tensors into the op registry: it unwraps
boxes, calls the op's cached jitted forward, and, when grad mode is on and an input requires
grad, records a ``Node`` on the tape.  Methods and ``torchish.*`` functions (``_functions/``)
are thin wrappers that compute static arguments (dims, promoted dtype) and call it.

NOTE [ Views ]
A view (``x[0]``, ``x.view(...)``, ``x.t()``, ``x.detach()``, ...) remembers its *root* base
and the chain of steps that derive it.  It shares the root's version counter: an in-place op
on the root bumps the version, and a view whose recorded version is behind re-derives its
value (``_sync``) before use.  An in-place op on a view computes the view's new value, pushes
it back through the inverse steps (``setitem``, inverse reshape/permutation) into a new root
value, and stores that in the root.  Views made by ``detach()``/``.data`` write through
without recording autograd history.  All of this runs on tracers too, so it is the same
functionalization inside ``torchish.compile``.
"""

from __future__ import annotations

import math
import operator

import jax
import jax.numpy as jnp
import numpy as np

from . import _dtype as D
from . import _device
from ._autograd import graph as _graph
from ._stateful import GRADS as _GRADS
from ._stateful import TRACE as _TRACE
from ._autograd.grad_mode import STATE as _GRAD
from ._ops import OPS
from .errors import TracedValueError

_Tracer = jax.core.Tracer
# NOTE: not ``type(jnp.zeros(()))``: making an array at import would start the XLA backend, and
# jax.distributed.initialize (torchish.distributed.init_process_group) must run before that.
from jax._src.array import ArrayImpl as _ArrayImpl  # noqa: E402
_new = object.__new__
_FLOAT_NP = {np.dtype(d) for d in (np.float16, np.float32, np.float64, D.bfloat16.np)}

LEAF_INPLACE_MSG = "a leaf Variable that requires grad is being used in an in-place operation."
VIEW_LEAF_INPLACE_MSG = "a view of a leaf Variable that requires grad is being used in an in-place operation."


class Size(tuple):
    """A tensor shape: a tuple of ints with ``numel()`` (``torch.Size``)."""

    __slots__ = ()

    def numel(self) -> int:
        return math.prod(self)

    def __repr__(self) -> str:
        return f"torchish.Size({list(self)})"

    def __getitem__(self, i):
        r = tuple.__getitem__(self, i)
        return Size(r) if isinstance(i, slice) else r


def _traced_msg(what: str) -> str:
    return (
        f"{what} needs a concrete value, but this tensor is being traced (inside torchish.compile "
        "or a torchish.func / jax transform), where values are not known yet.\n"
        "  Pattern:  `if loss > 0:` / `float(t)` / `t.item()` / `t.tolist()` on a traced tensor.\n"
        "  Fix:      keep the value as a tensor (`torchish.where(cond, a, b)` instead of `if`), return it "
        "from the compiled function and call .item() outside, or use torchish.compile(fn, fullgraph=False) "
        "to fall back to eager execution."
    )


class Tensor:
    """A multi-dimensional array with autograd, as ``torch.Tensor``.

    Example:
        >>> x = torchish.tensor([[1., 2.], [3., 4.]], requires_grad=True)
        >>> (x * x).sum().backward()
        >>> x.grad
        tensor([[2., 4.],
                [6., 8.]])
    """

    __slots__ = ("_data", "_requires_grad", "_grad_fn", "__dict__", "__weakref__")
    # Rarely-set fields live in the instance __dict__ with these class-level defaults, so creating
    # a tensor on the hot path sets three slots only.
    _grad = None
    _output_nr = 0
    _v = 0  # version counter of a root box (views read their root's: see `_version`)
    _base = None  # root base of a view
    _view_chain = ()
    _view_version = 0
    _view_detached = False
    _hooks = None
    _post_accumulate_hooks = None
    _accum = None
    _retains_grad = False
    _is_param = False
    _packed = False  # a compiled step's packed state (see _compile/packing.py)
    __array_priority__ = 1000  # numpy defers to Tensor's reflected operators

    def __new__(cls, *args, **kwargs):
        return _new(cls)

    def __init__(self, *args, dtype=None, device=None):
        """``Tensor(data)`` (default float dtype) or ``Tensor(*sizes)`` (zeros), as torch.Tensor."""
        from ._functions.creation import tensor_from_data

        if len(args) == 1 and isinstance(args[0], (jax.Array, np.ndarray)) and dtype is None:
            arr = jnp.asarray(args[0])
        elif args and all(isinstance(a, int) for a in args) or (len(args) == 1 and isinstance(args[0], (tuple, Size)) and all(isinstance(a, int) for a in args[0]) and isinstance(args[0], Size)):
            shape = args[0] if len(args) == 1 and isinstance(args[0], tuple) else args
            arr = jnp.zeros(shape, (dtype and D.as_dtype(dtype).np) or D.get_default_dtype().np)
        elif not args:
            arr = jnp.zeros((0,), D.get_default_dtype().np)
        else:
            arr = tensor_from_data(args[0], dtype=dtype or D.get_default_dtype())._data
        dev = _device.jax_device_or_none(device)
        if dev is not None:
            arr = jax.device_put(arr, dev)
        self._data = arr
        self._requires_grad = False
        self._grad_fn = None

    # ----------------------------------------------------------------------- basic properties
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_wrap_dim(dim, self._data.ndim)]

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    ndimension = dim

    def numel(self) -> int:
        return math.prod(self._data.shape)

    nelement = numel

    @property
    def dtype(self):
        return D.from_np(self._data.dtype)

    @property
    def device(self):
        a = self._data
        if isinstance(a, _Tracer):
            return _device.get_default_device()
        if isinstance(a, np.ndarray):  # NumPy-backed tensors of the data pipeline live in host memory
            return _device.device("cpu")
        try:
            return _device.from_jax(next(iter(a.devices())))
        except Exception:  # noqa: BLE001 - deleted/donated buffers, foreign array types
            return _device.get_default_device()

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def is_cpu(self) -> bool:
        return self.device.type == "cpu"

    @property
    def layout(self):
        return "torchish.strided"

    @property
    def itemsize(self) -> int:
        return self._data.dtype.itemsize

    def element_size(self) -> int:
        return self._data.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self._data.dtype.itemsize * self.numel()

    def is_floating_point(self) -> bool:
        return self._data.dtype in _FLOAT_NP

    def is_complex(self) -> bool:
        return False

    def is_contiguous(self, memory_format=None) -> bool:
        return True

    def is_signed(self) -> bool:
        return self.dtype.is_signed

    def data_ptr(self) -> int:
        return id(self._base if self._base is not None else self)

    def get_device(self) -> int:
        d = self.device
        return -1 if d.type == "cpu" else (d.index or 0)

    # ----------------------------------------------------------------------- autograd surface
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if self._grad_fn is not None and not requires_grad:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a computed "
                "variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach()."
            )
        if requires_grad and self._data.dtype not in _FLOAT_NP:
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        new = bool(requires_grad) or self._grad_fn is not None
        if new != self._requires_grad:
            _GRADS.value += 1  # (a compiled step keyed on it checks its state's flags: see _stateful)
            self._requires_grad = new
        return self

    @property
    def grad(self):
        g = self._grad
        if g is not None and g._packed:
            g._data  # noqa: B018  (a grad a compiled step returned packed: now a plain Tensor)
        return g

    @grad.setter
    def grad(self, value) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of type {type(value).__name__}")
            if tuple(value.shape) != tuple(self.shape):
                raise RuntimeError(f"assigned grad has data of a different size: expected {list(self.shape)}, got {list(value.shape)}")
            if value._data.dtype != self._data.dtype:
                raise RuntimeError(f"assigned grad has data of a different type: expected {self.dtype}, got {value.dtype}")
        if (value is None) != (self._grad is None):
            _GRADS.value += 1
        self._grad = value

    @grad.deleter
    def grad(self) -> None:
        if self._grad is not None:
            _GRADS.value += 1
        self._grad = None

    @property
    def grad_fn(self):
        return self._grad_fn

    @property
    def is_leaf(self) -> bool:
        return self._grad_fn is None

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    @property
    def output_nr(self) -> int:
        return self._output_nr

    def _edge(self):
        if self._grad_fn is not None:
            return (self._grad_fn, self._output_nr)
        acc = self._accum
        if acc is None:
            acc = self._accum = _graph.AccumulateGrad(self)
        return (acc, 0)

    def register_hook(self, hook):
        """``hook(grad) -> Tensor or None`` runs when this tensor's gradient is computed."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._grad_fn is not None:
            return self._grad_fn._add_pre(self._output_nr, hook)
        if self._hooks is None:
            self._hooks = {}
        return _graph.add_hook(self._hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """``hook(tensor)`` runs on a leaf after its ``.grad`` was accumulated."""
        if self._grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        if self._post_accumulate_hooks is None:
            self._post_accumulate_hooks = {}
        return _graph.add_hook(self._post_accumulate_hooks, hook)

    def retain_grad(self) -> None:
        """Keep ``.grad`` for a non-leaf tensor after backward."""
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self._grad_fn is None or self._retains_grad:
            return
        self._retains_grad = True

        # NOTE: as in PyTorch, retain_grad sees the gradient after every other hook ran.
        node = self._grad_fn
        if node.metadata is None:
            node.metadata = {}
        node.metadata.setdefault("retain", {})[self._output_nr] = self

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` (see ``torchish.autograd.backward``)."""
        from .autograd import backward as _backward

        _backward([self], None if gradient is None else [gradient], retain_graph, create_graph, inputs=inputs)

    def detach(self) -> "Tensor":
        """A view sharing this tensor's value, cut from the autograd graph."""
        return _make_view(wrap(self._value()), self, ("alias", None), detached=True)

    def detach_(self) -> "Tensor":
        if self._base is not None and not self._view_detached:
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self._grad_fn = None
        self._requires_grad = False
        return self

    @property
    def data(self) -> "Tensor":
        return self.detach()

    @data.setter
    def data(self, value) -> None:
        value = value if isinstance(value, Tensor) else wrap(jnp.asarray(value))
        if _TRACE.log is not None and not isinstance(self._data, _Tracer):
            _TRACE.log.append((self, "data", self._data))
        self._data = value._value()
        self._v += 1

    # ----------------------------------------------------------------------- values
    def _value(self):
        """The current array (re-derived first if this is a stale view)."""
        return self._data if self._base is None else self._sync()

    def _concrete(self, what: str):
        a = self._value()
        if isinstance(a, _Tracer):
            raise TracedValueError(_traced_msg(what))
        return a

    def item(self):
        """The value of a one-element tensor as a Python number."""
        a = self._concrete("Tensor.item()")
        if a.size != 1:
            raise RuntimeError(f"a Tensor with {a.size} elements cannot be converted to Scalar")
        return np.asarray(a).reshape(()).item()

    def tolist(self):
        return np.asarray(self._concrete("Tensor.tolist()")).tolist()

    def numpy(self, *, force: bool = False) -> np.ndarray:
        """A NumPy copy of the value (PyTorch returns a view sharing memory; JAX arrays are immutable)."""
        if self._requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return np.array(self._concrete("Tensor.numpy()"))

    def __array__(self, dtype=None, copy=None):
        a = np.asarray(self._concrete("np.asarray(tensor)"))
        return a.astype(dtype) if dtype is not None else a

    def __jax_array__(self):
        return self._value()

    def __bool__(self) -> bool:
        a = self._concrete("bool(tensor) (e.g. `if tensor:` or `while tensor > 0:`)")
        if a.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with more than one value is ambiguous")
        return bool(np.asarray(a).reshape(()))

    def __float__(self) -> float:
        a = self._concrete("float(tensor)")
        if a.size != 1:
            raise TypeError("only one element tensors can be converted to Python scalars")
        return float(np.asarray(a).reshape(()))

    def __int__(self) -> int:
        a = self._concrete("int(tensor)")
        if a.size != 1:
            raise TypeError("only one element tensors can be converted to Python scalars")
        return int(np.asarray(a).reshape(()))

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self)

    def __complex__(self):
        return complex(self.item())

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __hash__(self) -> int:
        return id(self)

    def __contains__(self, element) -> bool:
        return bool((self == element).any())

    def __reversed__(self):
        return self.flip(0)

    def __format__(self, spec: str) -> str:
        if self._data.ndim == 0 and type(self) is Tensor:
            return self.item().__format__(spec)
        return object.__format__(self, spec)

    def __repr__(self) -> str:
        from ._tensor_str import tensor_repr

        return tensor_repr(self)

    def __reduce_ex__(self, protocol):
        return (_rebuild, (np.asarray(self._concrete("pickling a tensor")), self._requires_grad, type(self)))

    def __deepcopy__(self, memo):
        if self._grad_fn is not None:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the deepcopy protocol at the moment."
            )
        data = self._value()  # (first: a packed tensor becomes its plain class)
        t = _new(type(self))
        t._data = data
        t._requires_grad = self._requires_grad
        t._grad_fn = None
        if self.__dict__:
            for k, v in self.__dict__.items():
                if not k.startswith("_") or k == "_is_param":
                    t.__dict__[k] = v
        if self._grad is not None:
            t._grad = wrap(self._grad._data)
        memo[id(self)] = t
        return t

    # ----------------------------------------------------------------------- in-place machinery
    def _check_inplace(self) -> None:
        if _GRAD.enabled and self._requires_grad and self._grad_fn is None:
            if self._base is None:
                raise RuntimeError(LEAF_INPLACE_MSG)

    def _inplace(self, result: "Tensor") -> "Tensor":
        """Store ``result`` (computed from ``self``) into this box, as an in-place op does."""
        rd, sd = result._data.dtype, self._data.dtype
        if rd != sd:
            if not _can_cast(rd, sd):
                raise RuntimeError(f"result type {_short(rd)} can't be cast to the desired output type {_short(sd)}")
            result = apply_op(OPS["cast"], (("dtype", sd),), result)
        if result._data.shape != self._data.shape:
            if jnp.broadcast_shapes(result._data.shape, self._data.shape) != self._data.shape:
                raise RuntimeError(
                    f"output with shape {list(self._data.shape)} doesn't match the broadcast shape {list(result._data.shape)}"
                )
            result = apply_op(OPS["expand"], (("shape", self._data.shape),), result)
        self._assign(result)
        return self

    def _assign(self, result: "Tensor") -> None:
        if self._base is not None:
            _write_through(self, result)
            return
        if _TRACE.log is not None and not isinstance(self._data, _Tracer):
            _TRACE.log.append((self, "data", self._data))
        if _GRAD.enabled:
            if self._requires_grad and self._grad_fn is None:
                raise RuntimeError(LEAF_INPLACE_MSG)
            if result._requires_grad:
                self._grad_fn = result._grad_fn
                self._output_nr = result._output_nr
                self._requires_grad = True
            elif self._grad_fn is not None:
                self._grad_fn = None
                self._requires_grad = False
        self._data = result._data
        self._v += 1

    def _sync(self):
        root = self._base
        rv = root._v
        if self._view_version == rv and root._base is None:
            return self._data
        base_val = root._value()
        if self._view_detached or not (_GRAD.enabled and root._requires_grad):
            arr = base_val
            for step in self._view_chain:
                arr = _step_forward_array(step, arr)
            self._data = arr
        else:
            t = root
            for step in self._view_chain:
                t = _step_forward(step, t)
            self._data = t._data
            self._grad_fn, self._output_nr, self._requires_grad = t._grad_fn, t._output_nr, t._requires_grad
        self._view_version = rv
        return self._data

    @property
    def _version(self) -> int:
        """PyTorch's version counter: bumped by every in-place change; views share their base's."""
        b = self._base
        return (b if b is not None else self)._v

    @_version.setter
    def _version(self, value: int) -> None:
        b = self._base
        (b if b is not None else self)._v = value

    @property
    def _is_view(self) -> bool:
        return self._base is not None

    def _is_view_of(self, other) -> bool:
        return self._base is (other._base if other._base is not None else other)


def _rebuild(arr, requires_grad, cls):
    t = _new(cls)
    t._data = jnp.asarray(arr)
    t._requires_grad = requires_grad
    t._grad_fn = None
    return t


def _short(np_dtype) -> str:
    return {"float32": "Float", "float64": "Double", "int64": "Long", "int32": "Int", "bool": "Bool",
            "float16": "Half", "bfloat16": "BFloat16", "int16": "Short", "int8": "Char", "uint8": "Byte"}.get(
        str(np_dtype), str(np_dtype))


def _kind_rank(np_dtype) -> int:
    if np_dtype == np.bool_:
        return 0
    if np_dtype in _FLOAT_NP:
        return 2
    return 1


def _can_cast(src, dst) -> bool:
    # PyTorch's canCast: never float -> integral, never non-bool -> bool.
    return _kind_rank(src) <= _kind_rank(dst)


def _wrap_dim(dim: int, ndim: int) -> int:
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim % n


def wrap(arr) -> Tensor:
    """A new leaf Tensor holding ``arr`` (no copy, no autograd)."""
    t = _new(Tensor)
    t._data = arr
    t._requires_grad = False
    t._grad_fn = None
    return t


_graph.wrap = wrap


# --------------------------------------------------------------------------------- dispatch
def apply_op(op, static: tuple, *args):
    """Run registered ``op`` on Tensors/arrays/scalars ``args``; record autograd if needed."""
    arrays = []
    need = False
    for a in args:
        if isinstance(a, Tensor):
            arrays.append(a._data if a._base is None else a._sync())
            if a._requires_grad:
                need = True
        else:
            arrays.append(a)
    if need and _GRAD.enabled and op.differentiable:
        return _record(op, static, args, arrays)
    out = op.forward(static)(*arrays)
    if type(out) is tuple:
        return tuple([wrap(o) for o in out])
    return wrap(out)


def _record(op, static, args, arrays):
    mask = []
    diff = []
    rest = []
    edges = []
    traced = False
    for a, x in zip(args, arrays):
        if type(x) is not _ArrayImpl and isinstance(x, _Tracer):
            traced = True
        if isinstance(a, Tensor) and a._requires_grad:
            mask.append(True)
            diff.append(x)
            edges.append((a._grad_fn, a._output_nr) if a._grad_fn is not None else a._edge())
        else:
            mask.append(False)
            rest.append(x)
    mask = tuple(mask)
    diff, rest, edges = tuple(diff), tuple(rest), tuple(edges)
    if traced or not op.jit:
        f = op.bind(static)

        def g(*d):
            di, ri = iter(d), iter(rest)
            return f(*[next(di) if m else next(ri) for m in mask])

        out, pullback = jax.vjp(g, *diff)
        multi = type(out) is tuple
        outs = out if multi else (out,)
        node = _graph.Node(op, static, mask, None, pullback, edges, len(outs),
                           tuple([(o.shape, o.dtype) for o in outs]), multi)
    else:
        out = op.forward(static)(*arrays)
        multi = type(out) is tuple
        outs = out if multi else (out,)
        node = _graph.Node(op, static, mask, (diff, rest), None, edges, len(outs))
    if not multi:
        t = _new(Tensor)
        t._data = out
        if out.dtype in _FLOAT_NP:
            t._requires_grad = True
            t._grad_fn = node
        else:
            t._requires_grad = False
            t._grad_fn = None
        return t
    res = []
    for i, o in enumerate(outs):
        t = _new(Tensor)
        t._data = o
        if o.dtype in _FLOAT_NP:
            t._requires_grad = True
            t._grad_fn = node
            if i:
                t._output_nr = i
        else:
            t._requires_grad = False
            t._grad_fn = None
        res.append(t)
    return tuple(res)


# ------------------------------------------------------------------------------------ views
# A step is (kind, arg): ("alias", None), ("reshape", shape), ("permute", dims),
# ("basic", (starts, static)) for basic indexing (ints, slices, None, ...; dynamic starts),
# ("index", template) (static template), ("expand", shape).


def _make_view(result: Tensor, base: Tensor, step, detached: bool = False) -> Tensor:
    root = base._base if base._base is not None else base
    d = result.__dict__
    d["_base"] = root
    d["_view_chain"] = base._view_chain + (step,) if base._base is not None else (step,)
    d["_view_version"] = root._v
    if detached or base._view_detached:
        d["_view_detached"] = True
    return result


def _step_forward_array(step, arr):
    kind, arg = step
    if kind == "alias":
        return arr
    if kind == "reshape":
        return jnp.reshape(arr, arg)
    if kind == "permute":
        return jnp.transpose(arr, arg)
    if kind == "expand":
        return jnp.broadcast_to(arr, arg)
    if kind == "basic":
        return OPS["basic_getitem"].forward(arg[1])(arr, *arg[0])
    return OPS["getitem"].forward((("template", arg),))(arr)


def _step_forward(step, t: Tensor) -> Tensor:
    kind, arg = step
    if kind == "alias":
        return t
    if kind == "reshape":
        return apply_op(OPS["reshape"], (("shape", arg),), t)
    if kind == "permute":
        return apply_op(OPS["permute"], (("dims", arg),), t)
    if kind == "expand":
        return apply_op(OPS["expand"], (("shape", arg),), t)
    if kind == "basic":
        return apply_op(OPS["basic_getitem"], arg[1], t, *arg[0])
    return apply_op(OPS["getitem"], (("template", arg),), t)


def _step_inverse(step, parent: Tensor, child: Tensor) -> Tensor:
    """The new parent value after its view (by ``step``) was set to ``child``."""
    kind, arg = step
    if kind == "alias":
        return child
    if kind == "reshape":
        return apply_op(OPS["reshape"], (("shape", tuple(parent._data.shape)),), child)
    if kind == "permute":
        inv = tuple(int(i) for i in np.argsort(arg))
        return apply_op(OPS["permute"], (("dims", inv),), child)
    if kind == "expand":
        if tuple(arg) == tuple(parent._data.shape):
            return child
        raise RuntimeError(
            "unsupported operation: more than one element of the written-to tensor refers to a single "
            "memory location. Please clone() the tensor before performing the operation."
        )
    if kind == "basic":
        return apply_op(OPS["basic_setitem"], arg[1], parent, child, *arg[0])
    return apply_op(OPS["setitem"], (("template", arg),), parent, child)


def _write_through(view: Tensor, new: Tensor) -> None:
    root = view._base
    chain = view._view_chain
    detached = view._view_detached
    if not detached and _GRAD.enabled and root._requires_grad and root._grad_fn is None:
        raise RuntimeError(VIEW_LEAF_INPLACE_MSG)
    if detached:
        # NOTE: `.data` / `.detach()` views write through without autograd history.
        from ._autograd.grad_mode import no_grad

        with no_grad():
            new = wrap(new._data)
            _push_back(root, chain, new, record=False)
        view._data = new._data
    else:
        _push_back(root, chain, new, record=True)
        view._data = new._data
        view._grad_fn, view._output_nr, view._requires_grad = new._grad_fn, new._output_nr, new._requires_grad
    view._view_version = root._v


def _push_back(root: Tensor, chain, new: Tensor, record: bool) -> None:
    parents = [root if record else wrap(root._value())]
    for step in chain[:-1]:
        parents.append(_step_forward(step, parents[-1]))
    child = new
    for step, parent in zip(reversed(chain), reversed(parents)):
        child = _step_inverse(step, parent, child)
    if record:
        saved_base = root.__dict__.get("_base")
        root._assign(child)
        if saved_base is not None:
            root.__dict__["_base"] = saved_base
    else:
        if _TRACE.log is not None and not isinstance(root._data, _Tracer):
            _TRACE.log.append((root, "data", root._data))
        root._data = child._data
        root._v += 1


# ------------------------------------------------------------------------------- pytree
def _flatten(t):
    return (t._value(),), (type(t), t._requires_grad)


def _unflatten(aux, children):
    cls, rg = aux
    t = _new(cls)
    t._data = children[0]
    t._requires_grad = rg
    t._grad_fn = None
    return t


jax.tree_util.register_pytree_node(Tensor, _flatten, _unflatten)

