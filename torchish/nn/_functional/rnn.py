"""The functional core of the recurrent layers (PyTorch's ``_VF.lstm``/``gru``/``rnn_*``).

``torch.nn.functional`` has no public RNN functions, so nothing here is exported; the modules in
``nn/modules/rnn.py`` validate their arguments and call :func:`rnn_stack` / :func:`rnn_cell`,
each one dispatch of a registered op (``_ops/nn/rnn.py``).
"""

from __future__ import annotations

from ..._ops import OPS
from ..._random import next_key
from ..._tensor import apply_op
from ..utils.rnn import packed_plan

__all__: list = []


def rnn_stack(mode, input, hx, cx, weights, *, num_layers, bidirectional, batch_first, has_bias, proj_size,
              hidden_size, dropout, training, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
    """Run a whole RNN/LSTM/GRU stack as one op; returns ``(output, h_n)`` or ``(output, h_n, c_n)``.

    ``input`` is a padded tensor, or packed data when ``batch_sizes`` (a tuple of ints) is given.
    ``hx``/``cx`` may be None (zeros).  ``weights`` is PyTorch's ``_flat_weights`` list.
    Dropout between layers uses a fresh key from the default generator in training mode.
    """
    use_dropout = training and dropout > 0 and num_layers > 1
    key = next_key() if use_dropout else None
    lengths = pad_idx = pack_idx = None
    if batch_sizes is not None:
        plan = packed_plan(tuple(batch_sizes))
        lengths, pad_idx, pack_idx = plan["lengths"], plan["pad_idx"], plan["pack_idx"]
    else:
        sorted_indices = unsorted_indices = None
    static = (("mode", mode), ("num_layers", int(num_layers)), ("bidirectional", bool(bidirectional)),
              ("batch_first", bool(batch_first)), ("has_bias", bool(has_bias)), ("proj_size", int(proj_size)),
              ("hidden_size", int(hidden_size)), ("dropout", float(dropout) if use_dropout else 0.0))
    return apply_op(OPS["rnn"], static, input, hx, cx, lengths, pad_idx, pack_idx, sorted_indices,
                    unsorted_indices, key, *weights)


def rnn_cell(mode, input, hx, cx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One step of an RNN/LSTM/GRU cell; returns ``h'`` or, for LSTM, ``(h', c')``."""
    return apply_op(OPS["rnn_cell"], (("mode", mode),), input, hx, cx, w_ih, w_hh, b_ih, b_hh)
