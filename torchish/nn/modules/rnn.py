"""Recurrent layers: RNN, LSTM, GRU and their single-step cells, as ``torch.nn``.

Parameter names, shapes and gate order are PyTorch's (``weight_ih_l0``, ``weight_hh_l0``,
``bias_ih_l0``, ``bias_hh_l0``, ``weight_hr_l0`` for LSTM projections, ``*_reverse`` for the
backward direction; gates i,f,g,o for LSTM and r,z,n for GRU), so torch state_dicts load
directly.  A whole stack runs as one op built on ``jax.lax.scan`` (``_ops/nn/rnn.py``).
"""

from __future__ import annotations

import math
import numbers
import warnings

from ..._autograd.grad_mode import no_grad
from ..._dtype import as_dtype, get_default_dtype
from ..._ops import OPS
from ..._random import next_key
from ..._tensor import apply_op
from .._functional.rnn import rnn_cell, rnn_stack
from ..parameter import Parameter
from ..utils.rnn import PackedSequence, batch_sizes_tuple
from .module import Module

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}
_NAMES = {"LSTM": "LSTM", "GRU": "GRU", "RNN_TANH": "RNN", "RNN_RELU": "RNN"}


def _uniform(shapes, bound, dtype) -> tuple:
    """Tensors of the given shapes drawn from U(-bound, bound): one op for all of them."""
    static = (("shapes", tuple(tuple(s) for s in shapes)), ("bound", float(bound)), ("dtype", dtype))
    return apply_op(OPS["uniform_many"], static, next_key())


def _uniform_all(params, bound) -> None:
    """``init.uniform_(p, -bound, bound)`` for every parameter, as one op per dtype."""
    by_dtype: dict = {}
    for p in params:
        by_dtype.setdefault(p._data.dtype, []).append(p)
    for dtype, ps in by_dtype.items():
        with no_grad():
            for p, v in zip(ps, _uniform([p.shape for p in ps], bound, dtype)):
                p.copy_(v)


def _make_params(module, named_shapes, bound, device, dtype) -> None:
    """Register uniformly initialised Parameters (NOTE: drawn in one op, not ``empty`` + a
    fill per shape, since each distinct shape costs a compile)."""
    dt = as_dtype(dtype).np if dtype is not None else get_default_dtype().np
    for (name, _), v in zip(named_shapes, _uniform([s for _, s in named_shapes], bound, dt)):
        setattr(module, name, Parameter(v if device is None else v.to(device)))


class _Meta:
    """The shape and dtype of an unsqueezed tensor, for PyTorch's argument checks without a dispatch."""

    def __init__(self, shape, dtype):
        self.shape, self.dtype = tuple(shape), dtype

    @classmethod
    def unsqueezed(cls, t, dim):
        shape = list(t.shape)
        shape.insert(dim, 1)
        return cls(shape, t.dtype)

    def dim(self) -> int:
        return len(self.shape)

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]


class RNNBase(Module):
    """Base class of RNN, LSTM and GRU: parameters, argument checks and the shared forward.

    All weights and biases are initialised from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
    """

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        if not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an element "
                             "being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout expects "
                          f"num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                          stacklevel=2)
        if not isinstance(bias, bool):
            raise TypeError(f"bias should be of type bool, got: {type(bias).__name__}")
        if not isinstance(batch_first, bool):
            raise TypeError(f"batch_first should be of type bool, got: {type(batch_first).__name__}")
        if not isinstance(input_size, int):
            raise TypeError(f"input_size should be of type int, got: {type(input_size).__name__}")
        if input_size <= 0:
            raise ValueError("input_size must be greater than zero")
        if not isinstance(hidden_size, int):
            raise TypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        gate_size = _GATES[mode] * hidden_size
        num_dirs = 2 if bidirectional else 1
        real_hidden = proj_size if proj_size > 0 else hidden_size
        self._flat_weights_names = []
        self._all_weights = []
        all_named = []
        for layer in range(num_layers):
            for direction in range(num_dirs):
                layer_in = input_size if layer == 0 else real_hidden * num_dirs
                suffix = "_reverse" if direction == 1 else ""
                shapes = [("weight_ih_l{}{}", (gate_size, layer_in)), ("weight_hh_l{}{}", (gate_size, real_hidden))]
                if bias:
                    shapes += [("bias_ih_l{}{}", (gate_size,)), ("bias_hh_l{}{}", (gate_size,))]
                if proj_size > 0:
                    shapes += [("weight_hr_l{}{}", (proj_size, hidden_size))]
                named = [(fmt.format(layer, suffix), shape) for fmt, shape in shapes]
                self._flat_weights_names.extend(n for n, _ in named)
                self._all_weights.append([n for n, _ in named])
                all_named += named
        _make_params(self, all_named, 1.0 / math.sqrt(hidden_size), device, dtype)
        self.reset_parameters()

    @property
    def _flat_weights(self) -> list:
        # NOTE: read at every call (not cached) so reassigned parameters and functional_call
        # swaps are always seen.
        return [getattr(self, n, None) for n in self._flat_weights_names]

    @property
    def all_weights(self) -> list:
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def flatten_parameters(self) -> None:
        """A no-op (PyTorch packs weights for cuDNN here; XLA needs no such layout)."""

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        _uniform_all(list(self.parameters()), stdv)

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if self.proj_size != 0:
            s += ", proj_size={proj_size}"
        if self.num_layers != 1:
            s += ", num_layers={num_layers}"
        if self.bias is not True:
            s += ", bias={bias}"
        if self.batch_first is not False:
            s += ", batch_first={batch_first}"
        if self.dropout != 0:
            s += ", dropout={dropout}"
        if self.bidirectional is not False:
            s += ", bidirectional={bidirectional}"
        return s.format(**self.__dict__)

    # ------------------------------------------------------------------ checks (PyTorch's)
    def check_input(self, input, batch_sizes) -> None:
        w0 = self._flat_weights[0]
        if input.dtype != w0.dtype:
            raise ValueError(f"RNN input dtype ({input.dtype}) does not match weight dtype ({w0.dtype}). "
                             f"Convert input: input.to({w0.dtype}), or convert model: model.to({input.dtype})")
        expected_dim = 2 if batch_sizes is not None else 3
        if input.dim() != expected_dim:
            raise RuntimeError(f"input must have {expected_dim} dimensions, got {input.dim()}")
        if self.input_size != input.size(-1):
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {input.size(-1)}")

    def get_expected_hidden_size(self, input, batch_sizes) -> tuple:
        if batch_sizes is not None:
            mini_batch = int(batch_sizes[0])
        else:
            mini_batch = input.size(0) if self.batch_first else input.size(1)
        num_dirs = 2 if self.bidirectional else 1
        size = self.proj_size if self.proj_size > 0 else self.hidden_size
        return (self.num_layers * num_dirs, mini_batch, size)

    def get_expected_cell_size(self, input, batch_sizes) -> tuple:
        n, b, _ = self.get_expected_hidden_size(input, batch_sizes)
        return (n, b, self.hidden_size)

    def check_hidden_size(self, hx, expected_hidden_size, msg="Expected hidden size {}, got {}") -> None:
        if tuple(hx.size()) != tuple(expected_hidden_size):
            raise RuntimeError(msg.format(tuple(expected_hidden_size), list(hx.size())))

    # ------------------------------------------------------------------ forward
    def _run(self, input, hx, cx):
        """Shared forward: checks, then one ``rnn`` op.  ``hx``/``cx`` are in the user's layout."""
        name = _NAMES[self.mode]
        is_lstm = self.mode == "LSTM"
        packed = isinstance(input, PackedSequence)
        if packed:
            data, _, sorted_indices, unsorted_indices = input
            batch_sizes = batch_sizes_tuple(input)
            x3 = data
            is_batched = True
        else:
            batch_sizes = sorted_indices = unsorted_indices = None
            if input.dim() not in (2, 3):
                sp = " tensor" if self.mode.startswith("RNN") else ""
                raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D{sp} instead")
            is_batched = input.dim() == 3
            x3 = input if is_batched else _Meta.unsqueezed(input, 0 if self.batch_first else 1)
            data = input
            if hx is not None:
                want = 3 if is_batched else 2
                if is_lstm and (hx.dim() != want or cx.dim() != want):
                    kind = "batched 3-D" if is_batched else "unbatched 2-D"
                    raise RuntimeError(f"For {kind} input, hx and cx should also be {want}-D but got "
                                       f"({hx.dim()}-D, {cx.dim()}-D) tensors")
                if not is_lstm and hx.dim() != want:
                    kind = "batched 3-D" if is_batched else "unbatched 2-D"
                    raise RuntimeError(f"For {kind} input, hx should also be {want}-D but got {hx.dim()}-D tensor")
        self.check_input(x3, batch_sizes)
        if hx is not None:
            h3 = hx if is_batched else _Meta.unsqueezed(hx, 1)
            if is_lstm:
                c3 = cx if is_batched else _Meta.unsqueezed(cx, 1)
                self.check_hidden_size(h3, self.get_expected_hidden_size(x3, batch_sizes), "Expected hidden[0] size {}, got {}")
                self.check_hidden_size(c3, self.get_expected_cell_size(x3, batch_sizes), "Expected hidden[1] size {}, got {}")
            else:
                self.check_hidden_size(h3, self.get_expected_hidden_size(x3, batch_sizes))
        res = rnn_stack(self.mode, data, hx, cx, self._flat_weights, num_layers=self.num_layers,
                        bidirectional=self.bidirectional, batch_first=self.batch_first, has_bias=self.bias,
                        proj_size=self.proj_size, hidden_size=self.hidden_size, dropout=self.dropout,
                        training=self.training, batch_sizes=batch_sizes, sorted_indices=sorted_indices,
                        unsorted_indices=unsorted_indices)
        out = res[0]
        if packed:
            out = PackedSequence(out, input.batch_sizes, sorted_indices, unsorted_indices)
        return (out, (res[1], res[2])) if is_lstm else (out, res[1])


class RNN(RNNBase):
    """An Elman RNN: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (or ReLU), stacked.

    Args:
        input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True, batch_first=False,
        dropout=0.0 (between layers, training only), bidirectional=False.

    Shape:
        input (L, N, H_in) / (N, L, H_in) with ``batch_first`` / (L, H_in) unbatched, or a
        PackedSequence; h_0 (D*num_layers, N, H_out).  Returns ``(output, h_n)``.

    Weights and biases are initialised from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).

    Example:
        >>> rnn = torchish.nn.RNN(10, 20, 2)
        >>> out, h = rnn(torchish.randn(5, 3, 10))
        >>> out.shape, h.shape
        (torchish.Size([5, 3, 20]), torchish.Size([2, 3, 20]))
    """

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            self_nonlin = args[3]
            args = args[:3] + args[4:]
        else:
            self_nonlin = kwargs.pop("nonlinearity", "tanh")
        if self_nonlin == "tanh":
            mode = "RNN_TANH"
        elif self_nonlin == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{self_nonlin}'. Select from 'tanh' or 'relu'.")
        super().__init__(mode, *args, **kwargs)
        self.nonlinearity = self_nonlin

    def forward(self, input, hx=None):
        return self._run(input, hx, None)


class LSTM(RNNBase):
    """A multi-layer long short-term memory RNN (gates i, f, g, o), optionally with projections.

    Args:
        input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
        bidirectional=False, proj_size=0 (``h_t`` projected to this size by ``weight_hr``).

    Shape:
        input (L, N, H_in) / (N, L, H_in) / (L, H_in) or a PackedSequence; ``hx = (h_0, c_0)``
        with h_0 (D*num_layers, N, H_out) and c_0 (D*num_layers, N, hidden_size).
        Returns ``(output, (h_n, c_n))``.

    Weights and biases are initialised from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
    """

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)

    def forward(self, input, hx=None):
        if hx is None:
            return self._run(input, None, None)
        return self._run(input, hx[0], hx[1])


class GRU(RNNBase):
    """A multi-layer gated recurrent unit RNN (gates r, z, n).

    Args:
        input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
        bidirectional=False.

    Shape:
        as :class:`RNN`.  Returns ``(output, h_n)``.

    Weights and biases are initialised from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
    """

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)

    def forward(self, input, hx=None):
        return self._run(input, hx, None)


# ------------------------------------------------------------------------------------ cells
class RNNCellBase(Module):
    """Base class of the single-step cells: ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``.

    All initialised from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
    """

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        g = num_chunks * hidden_size
        named = [("weight_ih", (g, input_size)), ("weight_hh", (g, hidden_size))]
        if bias:
            named += [("bias_ih", (g,)), ("bias_hh", (g,))]
        _make_params(self, named, 1.0 / math.sqrt(hidden_size), device, dtype)
        if not bias:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if "bias" in self.__dict__ and self.bias is not True:
            s += ", bias={bias}"
        if "nonlinearity" in self.__dict__ and self.nonlinearity != "tanh":
            s += ", nonlinearity={nonlinearity}"
        return s.format(**self.__dict__)

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        _uniform_all(list(self.parameters()), stdv)

    def _step(self, mode, name, input, hx, cx):
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        states = [] if hx is None else ([hx, cx] if mode == "LSTM" else [hx])
        for i, s in enumerate(states):
            if s.dim() not in (1, 2):
                what = f"hx[{i}]" if mode == "LSTM" else "hidden"
                raise ValueError(f"{name}: Expected {what} to be 1D or 2D, got {s.dim()}D instead")
        if input.size(-1) != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.size(-1)} expected {self.input_size}")
        for i, s in enumerate(states):
            if s.dim() != input.dim():
                raise RuntimeError(f"{name}: input is {input.dim()}-D but hidden state {i} is {s.dim()}-D; "
                                   "use both batched (2-D) or both unbatched (1-D)")
            if s.size(-1) != self.hidden_size:
                raise RuntimeError(f"hidden{i} has inconsistent hidden_size: got {s.size(-1)}, "
                                   f"expected {self.hidden_size}")
            if input.dim() == 2 and s.size(0) != input.size(0):
                raise RuntimeError(f"Input batch size {input.size(0)} doesn't match hidden{i} batch size {s.size(0)}")
        return rnn_cell(mode, input, hx, cx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class RNNCell(RNNCellBase):
    """One Elman RNN step: ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or ReLU).

    Shape: input (N, H_in) or (H_in,); hx like the output (N, H) or (H,), zeros when omitted.
    Weights are initialised from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        mode = "RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU"
        return self._step(mode, "RNNCell", input, hx, None)


class LSTMCell(RNNCellBase):
    """One LSTM step; returns ``(h', c')``.

    Shape: input (N, H_in) or (H_in,); ``hx = (h, c)`` each (N, H) or (H,), zeros when omitted.
    Weights are initialised from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        if hx is None:
            return self._step("LSTM", "LSTMCell", input, None, None)
        return self._step("LSTM", "LSTMCell", input, hx[0], hx[1])


class GRUCell(RNNCellBase):
    """One GRU step.

    Shape: input (N, H_in) or (H_in,); hx (N, H) or (H,), zeros when omitted.
    Weights are initialised from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        return self._step("GRU", "GRUCell", input, hx, None)
