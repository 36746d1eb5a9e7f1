"""Recurrent layers: the whole RNN / LSTM / GRU stack as one op, built on ``jax.lax.scan``.

``rnn`` runs every (layer, direction) of a stack inside one jitted program, so an eager LSTM
forward is one dispatch and its backward one jitted VJP.  The input projection of a layer
(``x @ W_ih.T + b_ih`` for all time steps) is one matmul before the scan; only the recurrent
part (``h @ W_hh.T``) runs inside it.

Variable-length batches (PackedSequence) run on the padded batch with a per-sequence length
mask: past its length a sequence's carry is frozen and its outputs are zero, and the reverse
direction reads each sequence backwards from its own last element.  That is exactly what
PyTorch's packed kernels compute.

Weights are PyTorch's, in ``_flat_weights`` order: per layer, per direction,
``w_ih, w_hh[, b_ih, b_hh][, w_hr]``; gate order i,f,g,o (LSTM) and r,z,n (GRU).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from .._registry import op, opmath


def _mm(x, w):
    return jnp.matmul(x, w.T)


def _cell(mode, gi, h, c, w_hh, b_hh, w_hr):
    """One time step given the precomputed input projection ``gi``; returns (h', c')."""
    gh = _mm(h, w_hh)
    if b_hh is not None:
        gh = gh + b_hh
    if mode == "LSTM":
        i, f, g, o = jnp.split(gi + gh, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        if w_hr is not None:
            h = _mm(h, w_hr)
        return h, c
    if mode == "GRU":
        ir, iz, in_ = jnp.split(gi, 3, axis=-1)
        hr, hz, hn = jnp.split(gh, 3, axis=-1)
        r = jax.nn.sigmoid(ir + hr)
        z = jax.nn.sigmoid(iz + hz)
        n = jnp.tanh(in_ + r * hn)
        return (1 - z) * n + z * h, c
    pre = gi + gh
    return (jnp.tanh(pre) if mode == "RNN_TANH" else jax.nn.relu(pre)), c


def _direction(mode, x, h0, c0, mask, w):
    """Scan one direction of one layer over time-major ``x`` (T, B, I); ``mask`` (T, B) or None."""
    w_ih, w_hh, b_ih, b_hh, w_hr = w
    gi = _mm(x, w_ih)  # (T, B, G*H): the input projection for all steps at once
    if b_ih is not None:
        gi = gi + b_ih

    def step(carry, inp):
        h, c = carry
        g, m = inp
        h2, c2 = _cell(mode, g, h, c, w_hh, b_hh, w_hr)
        if m is None:
            return (h2, c2), h2
        m = m[:, None]
        # NOTE: past a sequence's length its state is frozen and its output is zero (PyTorch's
        # packed semantics); the h/c of a finished sequence is its value at its last element.
        h2 = jnp.where(m, h2, h)
        out = jnp.where(m, h2, jnp.zeros((), h2.dtype))
        if c is not None:
            c2 = jnp.where(m, c2, c)
        return (h2, c2), out

    (hT, cT), out = jax.lax.scan(step, (h0, c0), (gi, mask))
    return out, hT, cT


def _reverse_time(x, rev_idx):
    """``x`` (T, B, ...) with each sequence reversed within its own length (or plainly flipped)."""
    if rev_idx is None:
        return jnp.flip(x, 0)
    idx = rev_idx.reshape(rev_idx.shape + (1,) * (x.ndim - 2))
    return jnp.take_along_axis(x, idx, axis=0)


def _split_weights(weights, *, num_layers, num_dirs, has_bias, proj_size):
    per = 2 + 2 * has_bias + (proj_size > 0)
    if len(weights) != per * num_layers * num_dirs:
        raise ValueError(f"rnn expected {per * num_layers * num_dirs} weight tensors, got {len(weights)}")
    out = []
    for k in range(num_layers * num_dirs):
        ws = list(weights[k * per:(k + 1) * per])
        w_ih, w_hh = ws[0], ws[1]
        b_ih, b_hh = (ws[2], ws[3]) if has_bias else (None, None)
        w_hr = ws[-1] if proj_size > 0 else None
        out.append((w_ih, w_hh, b_ih, b_hh, w_hr))
    return out


def _time_major(x, pad_idx, batch_first):
    """The input as (T, B, I), and whether it was unbatched."""
    if pad_idx is not None:
        # (N, I) packed rows -> (T, B, I) padded batch; index N (out of range) fills with zeros.
        return jnp.take(x, pad_idx, axis=0, mode="fill", fill_value=0), False
    if x.ndim == 2:
        return x[:, None], True
    return (jnp.swapaxes(x, 0, 1) if batch_first else x), False


def _initial_state(s, shape, ct, unbatched, perm):
    if s is None:
        return jnp.zeros(shape, ct)
    s = s.astype(ct)
    if unbatched:
        s = s[:, None]
    return s if perm is None else jnp.take(s, perm, axis=1)


def _layer(mode, x, h0, c0, mask, rev_idx, ws):
    """One layer, one or two directions; returns (output (T, B, D*H), h (D, B, H), c or None)."""
    if len(ws) == 1:
        o, h, c = _direction(mode, x, h0[0], None if c0 is None else c0[0], mask, ws[0])
        return o, h[None], (None if c is None else c[None])
    # Both directions in one scan: the reverse one reads each sequence backwards, and its
    # inputs, weights and states are stacked with the forward one's on a leading axis.
    xs = jnp.stack([x, _reverse_time(x, rev_idx)])
    w2 = jax.tree_util.tree_map(lambda a, b: jnp.stack([a, b]), ws[0], ws[1])
    o, h, c = jax.vmap(functools.partial(_direction, mode), in_axes=(0, 0, 0, None, 0))(xs, h0, c0, mask, w2)
    return jnp.concatenate([o[0], _reverse_time(o[1], rev_idx)], axis=-1), h, c


@op()
def rnn(x, hx, cx, lengths, pad_idx, pack_idx, perm, unperm, key, *weights,
        mode, num_layers, bidirectional, batch_first, has_bias, proj_size, hidden_size, dropout):
    """A stack of RNN/LSTM/GRU layers (PyTorch's ``_VF.rnn_tanh``/``lstm``/``gru``).

    ``x``: (T, B, I) (or (B, T, I) with ``batch_first``; (T, I) unbatched) or, when
    ``pad_idx`` is given, packed data (N, I).  ``hx``/``cx``: (L*D, B, H_out)/(L*D, B, H) or
    None for zeros.  ``lengths`` (B,): per-sequence lengths (masking) or None.  ``pad_idx``
    (T, B) / ``pack_idx`` (N,): gather indices from packed data to the padded batch and back.
    ``perm``/``unperm``: batch permutations applied to the initial / final states (packed
    sequences with ``enforce_sorted=False``).  ``key``: dropout key between layers, or None.

    Returns ``(output, h_n)`` or, for LSTM, ``(output, h_n, c_n)``.
    """
    dtype, ct = x.dtype, opmath(x.dtype)
    D = 2 if bidirectional else 1
    x, unbatched = _time_major(x, pad_idx, batch_first)
    x = x.astype(ct)
    T, B = x.shape[0], x.shape[1]
    hx = _initial_state(hx, (num_layers * D, B, proj_size or hidden_size), ct, unbatched, perm)
    cx = _initial_state(cx, (num_layers * D, B, hidden_size), ct, unbatched, perm) if mode == "LSTM" else None
    ws = _split_weights([w.astype(ct) for w in weights], num_layers=num_layers, num_dirs=D, has_bias=has_bias,
                        proj_size=proj_size)
    mask = rev_idx = None
    if lengths is not None:
        t = jnp.arange(T)[:, None]
        mask = t < lengths[None, :]  # (T, B)
        rev_idx = jnp.where(mask, lengths[None, :] - 1 - t, t)

    h_n, c_n = [], []
    for layer in range(num_layers):
        k = slice(layer * D, (layer + 1) * D)
        x, h, c = _layer(mode, x, hx[k], None if cx is None else cx[k], mask, rev_idx, ws[k])
        h_n.append(h)
        c_n.append(c)
        if key is not None and dropout > 0 and layer < num_layers - 1:
            keep = jax.random.bernoulli(jax.random.fold_in(key, layer), 1.0 - dropout, x.shape)
            x = jnp.where(keep, x / (1.0 - dropout), jnp.zeros((), ct))

    states = [jnp.concatenate(h_n)] + ([jnp.concatenate(c_n)] if mode == "LSTM" else [])
    if pad_idx is not None:
        out = jnp.take(x.reshape((T * B,) + x.shape[2:]), pack_idx, axis=0)  # back to packed rows
    elif unbatched:
        out, states = x[:, 0], [s[:, 0] for s in states]
    else:
        out = jnp.swapaxes(x, 0, 1) if batch_first else x
    if unperm is not None:
        states = [jnp.take(s, unperm, axis=1) for s in states]
    return tuple(a.astype(dtype) for a in [out] + states)


@op()
def rnn_cell(x, hx, cx, w_ih, w_hh, b_ih, b_hh, *, mode):
    """One step of an RNNCell / LSTMCell / GRUCell; ``x`` (B, I) or unbatched (I,).

    ``hx``/``cx`` may be None (zeros).  Returns ``h'`` or, for LSTM, ``(h', c')``.
    """
    dtype = x.dtype
    ct = opmath(dtype)
    unbatched = x.ndim == 1
    x = x.astype(ct)
    if unbatched:
        x = x[None]
    hidden = w_hh.shape[1]
    B = x.shape[0]

    def state(s):
        if s is None:
            return jnp.zeros((B, hidden), ct)
        s = s.astype(ct)
        return s[None] if unbatched else s

    h, c = state(hx), (state(cx) if mode == "LSTM" else None)
    gi = _mm(x, w_ih.astype(ct))
    if b_ih is not None:
        gi = gi + b_ih.astype(ct)
    h, c = _cell(mode, gi, h, c, w_hh.astype(ct), None if b_hh is None else b_hh.astype(ct), None)
    if unbatched:
        h, c = h[0], (c[0] if c is not None else None)
    if mode == "LSTM":
        return h.astype(dtype), c.astype(dtype)
    return h.astype(dtype)


# ------------------------------------------------------------------ packing (nn.utils.rnn)


@op()
def gather_rows(x, idx, *, lead, fill):
    """Flatten ``x``'s first ``lead`` dims into rows and gather ``idx`` (any shape); rows out of
    range (index == number of rows) are ``fill``.  Packs and unpacks PackedSequence data."""
    rows = x.reshape((-1,) + x.shape[lead:])
    return jnp.take(rows, idx, axis=0, mode="fill", fill_value=fill)


@op()
def pad_sequence(*seqs, batch_first, padding_value, padding_side, dtype):
    """Stack variable-length ``seqs`` (L_i, *) into (T, B, *) (or (B, T, *)), padding each."""
    T = max(s.shape[0] for s in seqs)
    out = []
    for s in seqs:
        pad = [(0, 0)] * s.ndim
        pad[0] = (0, T - s.shape[0]) if padding_side == "right" else (T - s.shape[0], 0)
        out.append(jnp.pad(s.astype(dtype), pad, constant_values=jnp.asarray(padding_value, dtype)))
    return jnp.stack(out, axis=0 if batch_first else 1)


@op(differentiable=False)
def uniform_many(key, *, shapes, bound, dtype):
    """U(-bound, bound) samples for several shapes at once (one program for all of a layer's
    parameters, instead of one compile per parameter shape)."""
    ct = opmath(dtype)
    sizes = [math.prod(s) for s in shapes]
    # NOTE: one draw split into pieces: each random.uniform call adds a threefry kernel, and
    # a program with 20 of them takes seconds to compile on CPU.
    flat = jax.random.uniform(key, (sum(sizes),), ct, -bound, bound).astype(dtype)
    out, start = [], 0
    for n, s in zip(sizes, shapes):
        out.append(flat[start:start + n].reshape(s))
        start += n
    return tuple(out)
