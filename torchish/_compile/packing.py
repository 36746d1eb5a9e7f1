"""Small arrays a compiled step keeps in one flat buffer: fewer program inputs and outputs.

Every input and output of an XLA program costs host time per call (on CPU about 0.2 us per
input and 0.3-1.4 us per output, with its Python bookkeeping), which dominates a small model's
step.  So the reduced program of a compiled step (``compiled._WrittenIO``) keeps the small
state it writes every step (parameters, optimizer moments, step counters) as one flat buffer
per dtype between calls (:class:`StatePack`: one input, one output), and returns small new
``.grad`` arrays as one buffer (:class:`GradPack`).

A packed tensor keeps its identity and its class's behaviour: its class is switched to a
subclass (``Packed<Class>``) whose ``_data`` property fetches the tensor's part of the buffer
(all members of a pack are split in one jitted call) and switches the class back.  Reading a
member does not invalidate the buffer; writing one (``_data`` set, so any in-place op) does,
and the next call packs the members' current values anew.  While packed, a member's version
counter (``_v``) follows the pack's, so views and saved-tensor checks see every step's write.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._tensor import Tensor, _new
from .._tensor import _flatten as _tensor_flatten
from .._tensor import _unflatten as _tensor_unflatten
from ..nn.parameter import Parameter
from ..nn.parameter import _flatten as _param_flatten
from ..nn.parameter import _unflatten as _param_unflatten

_slot_get = Tensor.__dict__["_data"].__get__
_slot_set = Tensor.__dict__["_data"].__set__

PACK_MAX = 4096  # elements of one packed array: ~1 us saved per array vs a copy at ~10 GB/s (16 KB)
PACK_TOTAL = 1 << 20  # elements of one buffer


def _detach(self, arr):
    """A packed member becomes a plain tensor holding ``arr`` (None: its part of the buffer)."""
    d = self.__dict__
    d["_v"] = _get_v(self)
    pack, i, _ = d.pop("_pk")
    wrote = arr is not None
    if not wrote:
        arr = pack.array(i)
    _slot_set(self, arr)
    self.__class__ = self._plain_cls
    pack.detach(self, i, wrote)
    return arr


def _get_data(self):
    return _detach(self, None)


def _set_data(self, arr):
    _detach(self, arr)


def _get_v(self):
    """A packed member's version: its own count when attached plus the pack's writes since."""
    d = self.__dict__
    pack, _, pv = d["_pk"]
    return d.get("_v", 0) + pack.version - pv


def _set_v(self, v):
    d = self.__dict__
    pack, _, pv = d["_pk"]
    d["_v"] = v - (pack.version - pv)


def _packed_class(base, flatten, unflatten):
    cls = type(f"Packed{base.__name__}", (base,), {
        "__slots__": (), "__module__": base.__module__, "_packed": True, "_plain_cls": base,
        "_data": property(_get_data, _set_data), "_v": property(_get_v, _set_v),
    })
    jax.tree_util.register_pytree_node(cls, flatten, unflatten)
    return cls


# the classes whose instances can be packed (a user's subclass keeps its own arrays)
PACKED = {
    Tensor: _packed_class(Tensor, _tensor_flatten, _tensor_unflatten),
    Parameter: _packed_class(Parameter, _param_flatten, _param_unflatten),
}


def _attach(t, pack, i) -> None:
    """``t`` becomes element ``i`` of ``pack``, counting as written once now."""
    d = t.__dict__
    cls = t.__class__
    if cls._packed:  # attached to an older pack
        d["_v"] = _get_v(t)
    else:
        _slot_set(t, None)  # (its old array is freed now, not kept behind the pack)
        t.__class__ = PACKED[cls]
    d["_pk"] = (pack, i, pack.version - 1)


def packable(t) -> bool:
    arr = t._data
    return (type(t) in PACKED and t._base is None and isinstance(arr, jax.Array) and arr.size <= PACK_MAX
            and not arr.weak_type and len(arr.sharding.device_set) == 1)


def groups(indices, arrays):
    """``indices`` grouped for packing: by dtype (and placement, for arrays), at most
    ``PACK_TOTAL`` elements per group, groups of two or more."""
    by_dtype = {}
    for i, a in zip(indices, arrays):
        device = next(iter(a.devices())) if isinstance(a, jax.Array) else None
        by_dtype.setdefault((np.dtype(a.dtype), device), []).append((i, a.size))
    out = []
    for members in by_dtype.values():
        cur, total = [], 0
        for i, n in members:
            if cur and total + n > PACK_TOTAL:
                out.append(cur)
                cur, total = [], 0
            cur.append(i)
            total += n
        out.append(cur)
    return [g for g in out if len(g) > 1]


def splitter(shapes):
    """A jitted function: a flat buffer -> arrays of ``shapes`` (one call for all)."""
    return jax.jit(lambda buf: unpack(buf, shapes))


def unpack(buf, shapes):
    """The arrays of ``shapes`` laid end to end in ``buf`` (traceable)."""
    out, o = [], 0
    for s in shapes:
        n = int(np.prod(s, dtype=np.int64))
        out.append(buf[o:o + n].reshape(s))
        o += n
    return out


def pack_arrays(arrays):
    """One flat buffer of ``arrays`` (traceable)."""
    return jnp.concatenate([a.reshape(-1) for a in arrays])


_concat = jax.jit(pack_arrays)


class _Pack:
    """A flat buffer ``buf`` and the member arrays ``split`` makes of it (once, when first read)."""

    __slots__ = ()

    def array(self, i):
        if self.arrays is None:
            with jax.ensure_compile_time_eval():  # (concrete arrays, also when first read while tracing)
                self.arrays = self.split(self.buf)
        return self.arrays[i]


class GradPack(_Pack):
    """New ``.grad`` arrays of one step, returned as one buffer (see ``set_packed_grad``)."""

    __slots__ = ("buf", "split", "arrays")
    version = 0  # (written once: its members count one write each)

    def __init__(self, buf, split):
        self.buf, self.split, self.arrays = buf, split, None

    def detach(self, t, i, wrote):
        pass


def set_packed_grad(box, pack, i) -> bool:
    """``box.grad`` becomes element ``i`` of ``pack`` (an existing grad tensor keeps its
    identity).  Returns whether a ``.grad`` appeared."""
    g = box._grad
    if g is None:
        g = _new(Tensor)
        g._requires_grad = False
        g._grad_fn = None
        _attach(g, pack, i)
        box._grad = g
        return True
    if g.__class__._packed or g.__class__ in PACKED:
        _attach(g, pack, i)
    else:  # a Tensor subclass the user assigned: its own array
        g._data = pack.array(i)
        g._v += 1
    return False


class StatePack(_Pack):
    """State tensors (``members``) a compiled step writes every call, kept in one flat buffer.

    ``input()`` gives the buffer to pass in: the current one while it holds every member's
    value (members read since the last call still hold their part of it), else the members'
    values packed anew.  ``written(buf)`` takes the program's output and attaches every
    member to it.
    """

    __slots__ = ("members", "buf", "arrays", "split", "version", "valid", "detached")

    def __init__(self, members, shapes):
        self.members = members
        self.split = splitter(shapes)
        self.buf = self.arrays = None
        self.version = 0
        self.valid = False
        self.detached = list(zip(members, range(len(members))))

    def detach(self, t, i, wrote):
        self.detached.append((t, i))
        if wrote:
            self.valid = False

    def input(self):
        if self.valid:
            arrays = self.arrays
            for t, i in self.detached:  # read since the last call: still the buffer's value?
                if _slot_get(t) is not arrays[i]:
                    self.valid = False
                    break
            else:
                return self.buf
        values = [t._data for t in self.members]  # (attached members are split out of the old buffer)
        self.buf = _concat(values)
        self.arrays = values
        self.valid = True
        return self.buf

    def written(self, buf):
        self.buf = buf
        self.arrays = None
        self.version += 1
        for t, i in self.detached:
            _attach(t, self, i)
        self.detached = []
