"""Attention: ``scaled_dot_product_attention`` and ``multi_head_attention_forward``.

Both validate shapes and masks with PyTorch's messages, resolve PyTorch's mask/causal rules to
static arguments, and call one registered op (``_ops/nn/attention.py``).
"""

from __future__ import annotations

import warnings

import numpy as np

from ..._ops import OPS
from ..._random import next_key
from ..._tensor import apply_op

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]

_C_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half", "bfloat16": "c10::BFloat16",
            "int64": "long int", "int32": "int", "bool": "bool", "int16": "short int", "int8": "signed char",
            "uint8": "unsigned char"}


class MHAShapeError(ValueError, AssertionError):
    """Bad query/key/value/mask shapes for attention (PyTorch raises AssertionError here)."""


def _cname(t) -> str:
    return _C_NAMES.get(str(t._data.dtype), str(t._data.dtype))


def _is_float(t) -> bool:
    return t._data.dtype.kind == "f" or str(t._data.dtype) == "bfloat16"


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """``softmax(Q K^T * scale + mask) V`` with optional causal masking and dropout, as one op.

    A boolean ``attn_mask`` keeps positions where True; a float mask is added to the scores.
    Rows with every position masked give zeros.  ``scale`` defaults to ``1/sqrt(E)``.

    Shape:
        query (N..., L, E), key (N..., S, E), value (N..., S, Ev) -> (N..., L, Ev).
    """
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise RuntimeError(
            "Expected query, key, and value to all be  at least 2 dimensional, but got query.dim: "
            f"{query.ndim} key.dim: {key.ndim} and value.dim: {value.ndim} instead."
        )
    if not (query.dtype == key.dtype == value.dtype):
        raise RuntimeError(
            "Expected query, key, and value to have the same dtype, but got query.dtype: "
            f"{_cname(query)} key.dtype: {_cname(key)} and value.dtype: {_cname(value)} instead."
        )
    if attn_mask is not None:
        md = attn_mask._data.dtype
        if not (md == np.bool_ or str(md) == "float32" or md == query._data.dtype):
            raise RuntimeError(
                "Expected attn_mask dtype to be bool or float or to match query dtype, but got attn_mask.dtype: "
                f"{_cname(attn_mask)} and  query.dtype: {_cname(query)} instead."
            )
        if is_causal:
            raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True")
    if key.shape[-1] != query.shape[-1]:
        raise RuntimeError(
            f"scaled_dot_product_attention: query has embedding size {query.shape[-1]} but key has "
            f"{key.shape[-1]}; they must match"
        )
    if key.shape[-2] != value.shape[-2]:
        raise RuntimeError(
            f"scaled_dot_product_attention: key has {key.shape[-2]} positions but value has {value.shape[-2]}; "
            "they must match"
        )
    if enable_gqa and query.ndim >= 3:
        hq, hk, hv = query.shape[-3], key.shape[-3], value.shape[-3]
        if hq % hk or hq % hv:
            raise RuntimeError(
                f"scaled_dot_product_attention with enable_gqa=True needs the number of query heads ({hq}) to be "
                f"divisible by the key ({hk}) and value ({hv}) heads"
            )
    elif query.ndim >= 3 and key.ndim >= 3 and query.shape[-3] != key.shape[-3] and 1 not in (query.shape[-3], key.shape[-3]):
        raise RuntimeError(
            f"The size of tensor a ({query.shape[-3]}) must match the size of tensor b ({key.shape[-3]}) at "
            f"non-singleton dimension {query.ndim - 3}"
        )
    dropout_p = float(dropout_p)
    drop_key = next_key() if dropout_p > 0 else None
    static = (("is_causal", bool(is_causal)), ("scale", None if scale is None else float(scale)),
              ("dropout_p", dropout_p), ("enable_gqa", bool(enable_gqa)))
    return apply_op(OPS["scaled_dot_product_attention"], static, query, key, value, attn_mask, drop_key)


def _check_mask_dtype(mask, name, other, other_name):
    if mask is None:
        return
    if mask._data.dtype != np.bool_ and not _is_float(mask):
        raise MHAShapeError(f"only bool and floating types of {name} are supported")
    if other is not None and other._data.dtype != mask._data.dtype:
        warnings.warn(f"Support for mismatched {name} and {other_name} is deprecated. Use same type for both instead.",
                      stacklevel=3)


def _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads) -> bool:
    if query.ndim == 3:
        if key.ndim != 3 or value.ndim != 3:
            raise MHAShapeError(
                "For batched (3-D) `query`, expected `key` and `value` to be 3-D but found "
                f"{key.ndim}-D and {value.ndim}-D tensors respectively"
            )
        if key_padding_mask is not None and key_padding_mask.ndim != 2:
            raise MHAShapeError(
                "For batched (3-D) `query`, expected `key_padding_mask` to be `None` or 2-D but found "
                f"{key_padding_mask.ndim}-D tensor instead"
            )
        if attn_mask is not None and attn_mask.ndim not in (2, 3):
            raise MHAShapeError(
                "For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D but found "
                f"{attn_mask.ndim}-D tensor instead"
            )
        return True
    if query.ndim == 2:
        if key.ndim != 2 or value.ndim != 2:
            raise MHAShapeError(
                "For unbatched (2-D) `query`, expected `key` and `value` to be 2-D but found "
                f"{key.ndim}-D and {value.ndim}-D tensors respectively"
            )
        if key_padding_mask is not None and key_padding_mask.ndim != 1:
            raise MHAShapeError(
                "For unbatched (2-D) `query`, expected `key_padding_mask` to be `None` or 1-D but found "
                f"{key_padding_mask.ndim}-D tensor instead"
            )
        if attn_mask is not None:
            if attn_mask.ndim not in (2, 3):
                raise MHAShapeError(
                    "For unbatched (2-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D but found "
                    f"{attn_mask.ndim}-D tensor instead"
                )
            if attn_mask.ndim == 3:
                expected = (num_heads, query.shape[0], key.shape[0])
                if tuple(attn_mask.shape) != expected:
                    raise MHAShapeError(f"Expected `attn_mask` shape to be {expected} but got {attn_mask.shape}")
        return False
    raise MHAShapeError(f"query should be unbatched 2D or batched 3D tensor but received {query.ndim}-D query tensor")


def mha(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias, bias_k, bias_v,
        add_zero_attn, dropout_p, out_proj_weight, out_proj_bias, training=True, key_padding_mask=None,
        need_weights=True, attn_mask=None, use_separate_proj_weight=False, q_proj_weight=None, k_proj_weight=None,
        v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True, is_causal=False,
        batch_first=False):
    """``multi_head_attention_forward`` with a ``batch_first`` flag (for MultiheadAttention)."""
    is_batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    _check_mask_dtype(key_padding_mask, "key_padding_mask", attn_mask, "attn_mask")
    _check_mask_dtype(attn_mask, "attn_mask", None, "")
    if is_causal and attn_mask is None:
        raise RuntimeError(
            "Need attn_mask if specifying the is_causal hint. You may use the Transformer module method "
            "`generate_square_subsequent_mask` to create this mask."
        )
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # SDPA applies the causal mask itself
    else:
        is_causal = False
    if is_batched:
        (L, N, E) = query.shape if not batch_first else (query.shape[1], query.shape[0], query.shape[2])
        S = key.shape[1] if batch_first else key.shape[0]
    else:
        (L, E), N, S = tuple(query.shape), 1, key.shape[0]
    if E != embed_dim_to_check:
        raise MHAShapeError(f"was expecting embedding dimension of {embed_dim_to_check}, but got {E}")
    head_dim = E // num_heads
    if head_dim * num_heads != E:
        raise MHAShapeError(f"embed_dim {E} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if tuple(key.shape[:-1]) != tuple(value.shape[:-1]):
            raise MHAShapeError(
                f"key's sequence and batch dims {tuple(key.shape[:2])} do not match value's {tuple(value.shape[:2])}"
            )
        for w, n in ((q_proj_weight, "q"), (k_proj_weight, "k"), (v_proj_weight, "v")):
            if w is None:
                raise MHAShapeError(f"use_separate_proj_weight is True but {n}_proj_weight is None")
        in_proj_weight = None
    else:
        if tuple(key.shape) != tuple(value.shape):
            raise MHAShapeError(f"key shape {key.shape} does not match value shape {value.shape}")
        if in_proj_weight is None:
            raise MHAShapeError("use_separate_proj_weight is False but in_proj_weight is None")
        q_proj_weight = k_proj_weight = v_proj_weight = None
    if attn_mask is not None:
        if attn_mask.ndim == 2 and tuple(attn_mask.shape) != (L, S):
            raise RuntimeError(f"The shape of the 2D attn_mask is {attn_mask.shape}, but should be {(L, S)}.")
        if attn_mask.ndim == 3 and tuple(attn_mask.shape) != (N * num_heads, L, S):
            raise RuntimeError(
                f"The shape of the 3D attn_mask is {attn_mask.shape}, but should be {(N * num_heads, L, S)}."
            )
    if (bias_k is None) != (bias_v is None):
        raise MHAShapeError("bias_k is set but bias_v is None" if bias_v is None else "bias_v is set but bias_k is None")
    if bias_k is not None and (static_k is not None or static_v is not None):
        raise MHAShapeError("bias cannot be added to static key." if static_k is not None
                            else "bias cannot be added to static value.")
    for st, n in ((static_k, "static_k"), (static_v, "static_v")):
        if st is not None:
            if st.shape[0] != N * num_heads:
                raise MHAShapeError(f"expecting {n}.size(0) of {N * num_heads}, but got {st.shape[0]}")
            if st.shape[2] != head_dim:
                raise MHAShapeError(f"expecting {n}.size(2) of {head_dim}, but got {st.shape[2]}")
    if key_padding_mask is not None:
        src = (static_k.shape[1] if static_k is not None else S + (bias_k is not None))
        kb = key_padding_mask.shape[0] if is_batched else 1
        ks = key_padding_mask.shape[-1]
        if kb != N:
            raise MHAShapeError(f"Expected key_padded_mask.shape[0] to be {N}, but got {kb}")
        if ks + (bias_k is not None) != src:
            raise MHAShapeError(f"Expected key_padded_mask.shape[1] to be {src}, but got {ks + (bias_k is not None)}")
    dropout_p = float(dropout_p) if training else 0.0
    drop_key = next_key() if dropout_p > 0 else None
    static = (("num_heads", int(num_heads)), ("add_zero_attn", bool(add_zero_attn)), ("dropout_p", dropout_p),
              ("need_weights", bool(need_weights)), ("average_attn_weights", bool(average_attn_weights)),
              ("is_causal", bool(is_causal)), ("batch_first", bool(batch_first) and is_batched))
    out = apply_op(OPS["multi_head_attention"], static, query, key, value, in_proj_weight, in_proj_bias,
                   q_proj_weight, k_proj_weight, v_proj_weight, bias_k, bias_v, out_proj_weight, out_proj_bias,
                   key_padding_mask, attn_mask, static_k, static_v, drop_key)
    return out if need_weights else (out, None)


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias,
                                 bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias,
                                 training=True, key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None, k_proj_weight=None,
                                 v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False):
    """The forward of ``nn.MultiheadAttention`` on sequence-first inputs (L, N, E), as one op.

    Boolean masks drop positions where True; float masks are added to the scores.  Returns
    ``(attn_output, attn_weights)``; the weights are None when ``need_weights=False``.
    """
    return mha(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias, bias_k, bias_v,
               add_zero_attn, dropout_p, out_proj_weight, out_proj_bias, training, key_padding_mask, need_weights,
               attn_mask, use_separate_proj_weight, q_proj_weight, k_proj_weight, v_proj_weight, static_k, static_v,
               average_attn_weights, is_causal)
