"""``torchish.nn.utils.rnn``: PackedSequence and padding helpers, as ``torch.nn.utils.rnn``.

A PackedSequence stores variable-length sequences time-major without padding: ``data`` holds,
for each time step ``t``, the ``batch_sizes[t]`` sequences still running (longest first).
``batch_sizes`` (and the sorting permutation) are bookkeeping that fixes the shapes of the
program, so they must be concrete: pack in eager code, or from Python lists of lengths inside
``torchish.compile``.  Each packing/unpacking call is one gather op whose index array is
computed here with NumPy from those concrete values.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..._ops import OPS
from ..._tensor import Tensor, apply_op, wrap
from ...errors import TracedValueError

__all__ = [
    "PackedSequence",
    "invert_permutation",
    "pack_padded_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpad_sequence",
    "pack_sequence",
    "unpack_sequence",
]


class PackedSequence_(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(PackedSequence_):
    """Holds the data and ``batch_sizes`` of a packed batch of sequences (``torch.nn.utils.rnn.PackedSequence``).

    Create one with :func:`pack_padded_sequence` or :func:`pack_sequence`; all RNN modules
    accept it as input and return one.

    Attributes:
        data: the packed rows, shape ``(sum(lengths), *)``.
        batch_sizes: int64 tensor, the number of sequences running at each time step.
        sorted_indices: the permutation that sorted the batch by decreasing length, or None.
        unsorted_indices: its inverse, or None.
    """

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:
            if not (isinstance(data, (list, tuple)) and len(data) == 2):
                raise ValueError("PackedSequence(data) expects data to be a (data, batch_sizes) pair")
            data, batch_sizes = data
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs) -> "PackedSequence":
        """Convert ``data`` (dtype and/or device); the index tensors follow its device."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self

        def move(t):
            return None if t is None else t.to(data.device)

        return type(self)(data, self.batch_sizes, move(self.sorted_indices), move(self.unsorted_indices))

    def cuda(self, *args, **kwargs) -> "PackedSequence":
        return self.to(*args, device="cuda", **kwargs)

    def cpu(self, *args, **kwargs) -> "PackedSequence":
        return self.to(*args, device="cpu", **kwargs)

    def pin_memory(self) -> "PackedSequence":
        return self

    def double(self):
        return self.to(dtype=_dt("float64"))

    def float(self):
        return self.to(dtype=_dt("float32"))

    def half(self):
        return self.to(dtype=_dt("float16"))

    def long(self):
        return self.to(dtype=_dt("int64"))

    def int(self):
        return self.to(dtype=_dt("int32"))

    def short(self):
        return self.to(dtype=_dt("int16"))

    def char(self):
        return self.to(dtype=_dt("int8"))

    def byte(self):
        return self.to(dtype=_dt("uint8"))

    @property
    def is_cuda(self) -> bool:
        return self.data.is_cuda

    def is_pinned(self) -> bool:
        return False


def _dt(name):
    from ... import _dtype as D

    return D.as_dtype(name)


# ------------------------------------------------------------------------ concrete bookkeeping
def _concrete_ints(x, what: str) -> np.ndarray:
    """``x`` (a Tensor, array or sequence of ints) as a NumPy int64 array; traced -> clear error."""
    if isinstance(x, Tensor):
        x = x._value()
    if isinstance(x, jax.core.Tracer):
        raise TracedValueError(
            f"{what} needs concrete values (they fix the shapes of the packed batch), but it is being "
            "traced inside torchish.compile or a jax transform.\n"
            "  Fix: pass the lengths as a Python list (or a tensor created outside the compiled "
            "function is not enough: compute the PackedSequence outside, or pad and mask instead)."
        )
    return np.asarray(x).astype(np.int64)


def _const(a: np.ndarray, dtype):
    # NOTE: inside a trace, jnp.asarray would make a tracer; bookkeeping arrays must stay concrete
    # so that later packing/unpacking calls (and the cached plans) can read them.
    with jax.ensure_compile_time_eval():
        return jnp.asarray(np.asarray(a, dtype=dtype))


def _int64(a: np.ndarray) -> Tensor:
    return wrap(_const(a, np.int64))


@functools.lru_cache(maxsize=512)
def packed_plan(batch_sizes: tuple) -> dict:
    """Index arrays for a packed batch with these ``batch_sizes`` (sorted batch order).

    ``pad_idx`` (T, B): the packed row of (t, b), or N (out of range: padding);
    ``pack_idx`` (N,): the flat ``t * B + b`` position of each packed row;
    ``lengths`` (B,): each sorted sequence's length.
    """
    bs = np.asarray(batch_sizes, dtype=np.int64)
    T, B, N = len(bs), int(bs[0]), int(bs.sum())
    offsets = np.concatenate([[0], np.cumsum(bs)[:-1]])
    b = np.arange(B)
    pad_idx = np.where(b[None, :] < bs[:, None], offsets[:, None] + b[None, :], N)
    pack_idx = np.concatenate([t * B + np.arange(n) for t, n in enumerate(bs)])
    lengths = (bs[:, None] > b[None, :]).sum(0)
    return {"T": T, "B": B, "N": N, "offsets": offsets, "lengths_np": lengths,
            "pad_idx": _const(pad_idx, np.int32), "pack_idx": _const(pack_idx, np.int32),
            "lengths": _const(lengths, np.int32)}


def batch_sizes_tuple(packed: PackedSequence) -> tuple:
    return tuple(int(v) for v in _concrete_ints(packed.batch_sizes, "PackedSequence.batch_sizes"))


def invert_permutation(permutation):
    """The inverse of a 1-D permutation tensor (None stays None)."""
    if permutation is None:
        return None
    p = permutation._value() if isinstance(permutation, Tensor) else jnp.asarray(permutation)
    if isinstance(p, jax.core.Tracer):
        return wrap(jnp.zeros_like(p).at[p].set(jnp.arange(p.shape[0], dtype=p.dtype)))
    p = np.asarray(p)
    inv = np.empty_like(p)
    inv[p] = np.arange(len(p), dtype=p.dtype)
    with jax.ensure_compile_time_eval():
        return wrap(jnp.asarray(inv))


# ----------------------------------------------------------------------------- public helpers
def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True) -> PackedSequence:
    """Pack a padded batch ``(T, B, *)`` (or ``(B, T, *)``) of sequences with the given ``lengths``.

    With ``enforce_sorted=True`` the lengths must be decreasing; otherwise the batch is sorted
    (stably, longest first) and the permutation is kept in ``sorted_indices``.
    """
    if isinstance(lengths, Tensor) and lengths.ndim != 1:
        raise RuntimeError(f"'lengths' argument should be a 1D CPU int64 tensor, but got {lengths.ndim}D tensor")
    lens = _concrete_ints(lengths, "pack_padded_sequence(lengths)").reshape(-1)
    if input.ndim < 2:
        raise ValueError(f"pack_padded_sequence expects input of at least 2 dimensions (T, B, *), got shape {tuple(input.shape)}")
    T, B = (input.shape[1], input.shape[0]) if batch_first else (input.shape[0], input.shape[1])
    if len(lens) != B:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got {len(lens)} (batch_size={B})")
    if enforce_sorted:
        if np.any(np.diff(lens) > 0):
            raise RuntimeError(
                "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. You can pass "
                "`enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to sidestep this requirement "
                "if you do not need ONNX exportability."
            )
        order, sorted_indices = np.arange(B), None
    else:
        order = np.argsort(-lens, kind="stable")
        sorted_indices = _int64(order)
    slens = lens[order]
    if B and slens[-1] <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' that is <= 0")
    if B and slens[0] > T:
        raise ValueError(f"pack_padded_sequence: a length of {int(slens[0])} exceeds the padded sequence length {T}")
    bs = (slens[None, :] > np.arange(int(slens[0]))[:, None]).sum(1)
    rows = np.concatenate([order[:n] * T + t if batch_first else t * B + order[:n] for t, n in enumerate(bs)])
    idx = _const(rows, np.int32)
    data = apply_op(OPS["gather_rows"], (("lead", 2), ("fill", 0)), input, idx)
    return PackedSequence(data, _int64(bs), sorted_indices, None)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Pad a PackedSequence back to ``(T, B, *)`` (or ``(B, T, *)``); returns ``(padded, lengths)``.

    The batch is in its original order (before ``pack_padded_sequence`` sorted it); ``lengths``
    is an int64 tensor.  ``total_length`` pads the time dimension further.
    """
    plan = packed_plan(batch_sizes_tuple(sequence))
    T, B, N = plan["T"], plan["B"], plan["N"]
    if total_length is not None:
        if total_length < T:
            raise ValueError(
                "Expected total_length to be at least the length of the longest sequence in input, but got "
                f"total_length={total_length} and max sequence length being {T}"
            )
        T_out = int(total_length)
    else:
        T_out = T
    if sequence.unsorted_indices is not None:
        j = _concrete_ints(sequence.unsorted_indices, "PackedSequence.unsorted_indices")  # sorted position of b
    else:
        j = np.arange(B)
    bs = np.asarray(batch_sizes_tuple(sequence))
    bs_out = np.concatenate([bs, np.zeros(T_out - T, np.int64)])
    off = np.concatenate([plan["offsets"], np.zeros(T_out - T, np.int64)])
    idx = np.where(j[None, :] < bs_out[:, None], off[:, None] + j[None, :], N)  # (T_out, B)
    if batch_first:
        idx = idx.T
    fill = float(padding_value) if not isinstance(padding_value, bool) else padding_value
    padded = apply_op(OPS["gather_rows"], (("lead", 1), ("fill", fill)), sequence.data, _const(idx, np.int32))
    return padded, _int64(plan["lengths_np"][j])


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack a list of ``(L_i, *)`` tensors into ``(T, B, *)`` (or ``(B, T, *)``), padding each.

    Example:
        >>> pad_sequence([torchish.ones(3), torchish.ones(1)]).shape
        torchish.Size([3, 2])
    """
    if isinstance(sequences, Tensor):
        sequences = sequences.unbind(0)
    if not isinstance(sequences, Iterable):
        raise RuntimeError(f"pad_sequence: Expected iterable for input sequences, but got arg of type: {type(sequences)}")
    sequences = tuple(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    trailing = tuple(sequences[0].shape[1:])
    for s in sequences[1:]:
        if tuple(s.shape[1:]) != trailing:
            raise RuntimeError(
                f"pad_sequence: every sequence must have the trailing shape {list(trailing)} of the first one, "
                f"got {list(s.shape)}"
            )
    dtype = sequences[0]._data.dtype
    static = (("batch_first", bool(batch_first)), ("padding_value", padding_value),
              ("padding_side", padding_side), ("dtype", dtype))
    return apply_op(OPS["pad_sequence"], static, *sequences)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """Split a padded batch back into a list of variable-length tensors.

    NOTE: PyTorch transposes ``padded_sequences`` in place when ``batch_first=False``; torchish
    leaves its argument unchanged.
    """
    lens = _concrete_ints(lengths, "unpad_sequence(lengths)").reshape(-1)
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [x[b, : int(n)] for b, n in enumerate(lens)]


def pack_sequence(sequences, enforce_sorted=True) -> PackedSequence:
    """Pack a list of variable-length tensors (``pad_sequence`` then ``pack_padded_sequence``)."""
    lengths = [int(v.size(0)) for v in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences) -> list:
    """Unpack a PackedSequence into a list of variable-length tensors (original order)."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
