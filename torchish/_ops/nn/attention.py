"""Attention: ``scaled_dot_product_attention`` and the whole ``multi_head_attention`` forward,
each one op (one jitted dispatch eagerly, one jitted VJP for its backward).

Masks reach these ops already in *additive* form or as booleans with a stated meaning:
SDPA's boolean mask keeps positions where True; MHA's boolean masks drop positions where True
(PyTorch's two conventions).  Rows whose every key is masked give 0 in SDPA (PyTorch's
"safe softmax") and NaN in MHA's ``need_weights=True`` path (a plain softmax), as in PyTorch.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from .._registry import op, opmath


def _attend(q, k, v, bias, key, *, scale, is_causal, dropout_p, safe):
    """softmax(q k^T * scale + bias) v over the last two dims; returns (out, weights).

    ``safe``: fully masked rows give 0 (SDPA); otherwise a plain softmax (NaN there), with
    ``q`` scaled before the product as MHA's ``need_weights`` path does.
    """
    kt = jnp.swapaxes(k, -1, -2)
    s = jnp.matmul(q, kt) * scale if safe else jnp.matmul(q * scale, kt)
    if bias is not None:
        s = s + bias
    L, S = s.shape[-2], s.shape[-1]
    if is_causal:
        s = jnp.where(jnp.tril(jnp.ones((L, S), bool)), s, -jnp.inf)
    if safe:
        # NOTE: a row with every key masked gives weights 0 (not NaN).  The -inf row is replaced
        # by zeros before the softmax so that its gradient is 0 rather than NaN.
        dead = jnp.all(s == -jnp.inf, axis=-1, keepdims=True)
        w = jax.nn.softmax(jnp.where(dead, 0.0, s), axis=-1)
        w = jnp.where(dead, 0.0, w)
    else:
        w = jax.nn.softmax(s, axis=-1)
    if key is not None and dropout_p > 0:
        keep = jax.random.bernoulli(key, 1.0 - dropout_p, w.shape)
        w_used = jnp.where(keep, w / (1.0 - dropout_p), 0.0)
    else:
        w_used = w
    return jnp.matmul(w_used, v), w_used


@op()
def scaled_dot_product_attention(q, k, v, mask, key, *, is_causal, scale, dropout_p, enable_gqa):
    """``softmax(q @ k^T * scale + mask) @ v`` (``F.scaled_dot_product_attention``).

    ``mask``: bool (keep where True), float (added), or None.  ``key``: dropout key or None.
    ``scale``: None for ``1/sqrt(E)``.  With ``enable_gqa`` key/value heads (dim -3) are repeated
    to match the query's.
    """
    dtype = q.dtype
    ct = opmath(dtype)
    q, k, v = q.astype(ct), k.astype(ct), v.astype(ct)
    if enable_gqa and k.ndim >= 3 and k.shape[-3] != q.shape[-3]:
        rep = q.shape[-3] // k.shape[-3]
        k = jnp.repeat(k, rep, axis=-3)
        v = jnp.repeat(v, q.shape[-3] // v.shape[-3], axis=-3)
    sc = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    bias = None
    if mask is not None:
        if mask.dtype == jnp.bool_:
            bias = jnp.where(mask, 0.0, -jnp.inf).astype(ct)
        else:
            bias = mask.astype(ct)
    out, _ = _attend(q, k, v, bias, key, scale=sc, is_causal=is_causal, dropout_p=dropout_p, safe=True)
    return out.astype(dtype)


def _linear(x, w, b):
    y = jnp.matmul(x, w.T)
    return y if b is None else y + b


def _additive(mask, ct):
    """A boolean 'drop where True' mask as 0/-inf; float masks unchanged."""
    if mask is None:
        return None
    if mask.dtype == jnp.bool_:
        return jnp.where(mask, -jnp.inf, 0.0).astype(ct)
    return mask.astype(ct)


@op()
def multi_head_attention(query, key, value, in_proj_weight, in_proj_bias, q_proj_weight, k_proj_weight,
                         v_proj_weight, bias_k, bias_v, out_proj_weight, out_proj_bias, key_padding_mask,
                         attn_mask, static_k, static_v, drop_key, *, num_heads, add_zero_attn, dropout_p,
                         need_weights, average_attn_weights, is_causal, batch_first):
    """The whole ``F.multi_head_attention_forward``: in-projection, attention, out-projection.

    Inputs are (L, N, E) (or (N, L, E) with ``batch_first``; (L, E) unbatched).  Boolean masks
    drop positions where True; float masks are added.  ``attn_mask`` is (L, S) or (N*H, L, S);
    ``key_padding_mask`` (N, S).  ``is_causal`` applies only when ``attn_mask`` is None (the
    caller resolved PyTorch's rules).  Returns ``(attn_output, weights)`` with weights (N, L, S)
    (averaged) or (N, H, L, S), or ``attn_output`` alone when ``need_weights`` is False.
    """
    dtype = query.dtype
    ct = opmath(dtype)
    unbatched = query.ndim == 2
    if unbatched:
        query, key, value = query[:, None], key[:, None], value[:, None]
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask[None]
    elif batch_first:
        query, key, value = (jnp.swapaxes(t, 0, 1) for t in (query, key, value))
    cast = lambda t: None if t is None else t.astype(ct)  # noqa: E731
    query, key, value = cast(query), cast(key), cast(value)
    L, N, E = query.shape
    H = num_heads
    hd = E // H

    if in_proj_weight is not None:
        w_q, w_k, w_v = jnp.split(cast(in_proj_weight), 3)
    else:
        w_q, w_k, w_v = cast(q_proj_weight), cast(k_proj_weight), cast(v_proj_weight)
    b_q, b_k, b_v = jnp.split(cast(in_proj_bias), 3) if in_proj_bias is not None else (None, None, None)
    q, k, v = _linear(query, w_q, b_q), _linear(key, w_k, b_k), _linear(value, w_v, b_v)

    kpm = _additive(key_padding_mask, ct)
    am = _additive(attn_mask, ct)
    if am is not None and am.ndim == 2:
        am = am[None]
    pad1 = lambda m: None if m is None else jnp.pad(m, [(0, 0)] * (m.ndim - 1) + [(0, 1)])  # noqa: E731
    if bias_k is not None:
        k = jnp.concatenate([k, jnp.broadcast_to(cast(bias_k), (1, N, E))])
        v = jnp.concatenate([v, jnp.broadcast_to(cast(bias_v), (1, N, E))])
        am, kpm = pad1(am), pad1(kpm)

    q = jnp.swapaxes(q.reshape(L, N * H, hd), 0, 1)  # (N*H, L, hd)
    k = jnp.swapaxes(k.reshape(k.shape[0], N * H, hd), 0, 1) if static_k is None else cast(static_k)
    v = jnp.swapaxes(v.reshape(v.shape[0], N * H, hd), 0, 1) if static_v is None else cast(static_v)
    if add_zero_attn:
        k = jnp.concatenate([k, jnp.zeros((N * H, 1, hd), ct)], axis=1)
        v = jnp.concatenate([v, jnp.zeros((N * H, 1, hd), ct)], axis=1)
        am, kpm = pad1(am), pad1(kpm)
    S = k.shape[1]
    if kpm is not None:
        kpm = jnp.broadcast_to(kpm.reshape(N, 1, 1, S), (N, H, 1, S)).reshape(N * H, 1, S)
        am = kpm if am is None else am + kpm

    sc = 1.0 / math.sqrt(hd)
    if need_weights:
        out, w = _attend(q, k, v, am, drop_key, scale=sc, is_causal=False, dropout_p=dropout_p, safe=False)
    else:
        out, w = _attend(q, k, v, am, drop_key, scale=sc, is_causal=is_causal and am is None,
                         dropout_p=dropout_p, safe=True)
    out = jnp.swapaxes(out, 0, 1).reshape(L, N, E)  # (L, N, E)
    out = _linear(out, cast(out_proj_weight), cast(out_proj_bias))
    if unbatched:
        out = out[:, 0]
    elif batch_first:
        out = jnp.swapaxes(out, 0, 1)
    out = out.astype(dtype)
    if not need_weights:
        return out
    # NOTE: PyTorch returns the weights after dropout (what multiplied v).
    w = w.reshape(N, H, L, S)
    if average_attn_weights:
        w = w.mean(axis=1)
    if unbatched:
        w = w[0]
    return out, w.astype(dtype)
