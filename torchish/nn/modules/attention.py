"""``MultiheadAttention``, as ``torch.nn.MultiheadAttention`` (its forward is one op)."""

from __future__ import annotations

from ..._functions.creation import empty
from .. import init
from .._functional.attention import mha
from ..parameter import Parameter
from .linear import Linear
from .module import Module

__all__ = ["MultiheadAttention"]


class NonDynamicallyQuantizableLinear(Linear):
    """A Linear (PyTorch uses this subclass for ``out_proj`` to steer its quantization tools)."""


class MultiheadAttention(Module):
    """Attention over ``num_heads`` parallel heads: ``softmax(Q K^T / sqrt(d)) V`` then an output projection.

    Args:
        embed_dim, num_heads, dropout=0.0 (on attention weights, training only), bias=True,
        add_bias_kv=False, add_zero_attn=False, kdim=None, vdim=None, batch_first=False.

    Parameters are PyTorch's: ``in_proj_weight`` (3E, E) and ``in_proj_bias`` (3E), or
    ``q_proj_weight``/``k_proj_weight``/``v_proj_weight`` when ``kdim``/``vdim`` differ from
    ``embed_dim``; ``out_proj`` (a Linear); ``bias_k``/``bias_v`` (1, 1, E) with ``add_bias_kv``.
    Init: xavier_uniform_ for the input projections, zeros for ``in_proj_bias`` and
    ``out_proj.bias``, xavier_normal_ for ``bias_k``/``bias_v``; ``out_proj.weight`` keeps
    Linear's default init.

    Shape:
        query (L, N, E) (or (N, L, E) with ``batch_first``; (L, E) unbatched), key (S, N, kdim),
        value (S, N, vdim).  Returns ``(attn_output, attn_weights)``: (L, N, E) and (N, L, S)
        (averaged over heads) or (N, H, L, S); the weights are None with ``need_weights=False``.

    Example:
        >>> mha = torchish.nn.MultiheadAttention(8, 2)
        >>> x = torchish.randn(5, 3, 8)
        >>> out, w = mha(x, x, x)
        >>> out.shape, w.shape
        (torchish.Size([5, 3, 8]), torchish.Size([3, 5, 5]))
    """

    __constants__ = ["batch_first"]

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None) -> None:
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and "
                             f"num_heads={num_heads} instead")
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != self.embed_dim:
            raise ValueError(f"embed_dim must be divisible by num_heads (got embed_dim={embed_dim}, "
                             f"num_heads={num_heads})")
        if not self._qkv_same_embed_dim:
            self.q_proj_weight = Parameter(empty((embed_dim, embed_dim), **kw))
            self.k_proj_weight = Parameter(empty((embed_dim, self.kdim), **kw))
            self.v_proj_weight = Parameter(empty((embed_dim, self.vdim), **kw))
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = Parameter(empty((3 * embed_dim, embed_dim), **kw))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(empty(3 * embed_dim, **kw))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, **kw)
        if add_bias_kv:
            self.bias_k = Parameter(empty((1, 1, embed_dim), **kw))
            self.bias_v = Parameter(empty((1, 1, embed_dim), **kw))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            init.xavier_normal_(self.bias_v)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        """Attend from ``query`` to ``key``/``value``; boolean masks drop positions where True."""
        return mha(query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight, self.in_proj_bias,
                   self.bias_k, self.bias_v, self.add_zero_attn, self.dropout, self.out_proj.weight,
                   self.out_proj.bias, training=self.training, key_padding_mask=key_padding_mask,
                   need_weights=need_weights, attn_mask=attn_mask,
                   use_separate_proj_weight=not self._qkv_same_embed_dim, q_proj_weight=self.q_proj_weight,
                   k_proj_weight=self.k_proj_weight, v_proj_weight=self.v_proj_weight,
                   average_attn_weights=average_attn_weights, is_causal=is_causal, batch_first=self.batch_first)
