"""Scaled dot-product attention (paper Eq. 1) and multi-head attention (§3.2.2).

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V
    MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O,   head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)

One `MultiHeadAttention` class serves the three uses of Figure 1:
  - encoder self-attention (every token sees every token),
  - masked (causal) decoder self-attention (`is_causal=True`: a token sees only itself and earlier tokens),
  - encoder-decoder cross-attention (`is_cross_attention=True`: queries from the decoder, keys/values from the encoder).
The kernel is chosen through transformers' `ALL_ATTENTION_FUNCTIONS` (`sdpa` by default, `flex_attention`,
`flash_attention_2`); `scaled_dot_product_attention` below is the readable "eager" path that also returns the weights.
"""

from collections.abc import Callable

import torch
from torch import nn
from transformers.cache_utils import Cache, EncoderDecoderCache
from transformers.modeling_flash_attention_utils import FlashAttentionKwargs
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.processing_utils import Unpack

from .configuration_tobigs import TobigsConfig
from .rotary import apply_rotary


def scaled_dot_product_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 1 written out. query: (B, H, Tq, Dh); key, value: (B, H, Tk, Dh); attention_mask: additive (B, 1, Tq, Tk)
    with 0 where attention is allowed and a large negative number where it is masked. Returns the output as
    (B, Tq, H, Dh) and the attention weights (B, H, Tq, Tk), whose rows sum to 1."""
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    # Without the 1/sqrt(d_k) scaling the dot products grow with d_k and push the softmax into saturation (§3.2.1).
    scores = torch.matmul(query, key.transpose(-2, -1)) * scaling  # (B, H, Tq, Tk)
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
        else:
            scores = scores + attention_mask[..., : key.shape[-2]]
    weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = nn.functional.dropout(weights, p=dropout, training=module.training)
    output = torch.matmul(weights, value)  # (B, H, Tq, Dh)
    return output.transpose(1, 2).contiguous(), weights  # (B, Tq, H, Dh)


class MultiHeadAttention(nn.Module):
    """h heads of scaled dot-product attention over learned projections W^Q, W^K, W^V, followed by W^O.

    Self-attention projects Q, K and V with one fused matmul (`qkv_proj` holds W^Q, W^K, W^V stacked); cross-attention
    projects the decoder states with `q_proj` and the encoder states with one fused `kv_proj` (W^K, W^V stacked), so
    the encoder's keys and values are computed once per generation and cached.
    """

    def __init__(
        self,
        config: TobigsConfig,
        num_heads: int,
        *,
        is_causal: bool = False,
        is_cross_attention: bool = False,
        layer_idx: int | None = None,
    ):
        super().__init__()
        self.config = config
        self.d_model = config.d_model
        self.num_heads = num_heads
        self.head_dim = config.d_model // num_heads  # d_k = d_v = d_model / h
        self.scaling = self.head_dim**-0.5
        self.dropout = config.attention_dropout
        # transformers' sdpa/flash kernels read `is_causal` from the module: it must be False for encoder and
        # cross-attention or they silently become causal.
        self.is_causal = is_causal
        self.is_cross_attention = is_cross_attention
        self.layer_idx = layer_idx
        bias = config.attention_bias
        if is_cross_attention:
            self.q_proj = nn.Linear(self.d_model, self.d_model, bias=bias)
            self.kv_proj = nn.Linear(self.d_model, 2 * self.d_model, bias=bias)
            self.kv_proj.fused_parts = 2  # read by Xavier init: two d_model x d_model matrices side by side
        else:
            self.qkv_proj = nn.Linear(self.d_model, 3 * self.d_model, bias=bias)
            self.qkv_proj.fused_parts = 3
        self.out_proj = nn.Linear(self.d_model, self.d_model, bias=bias)

    def _split_heads(self, projected: torch.Tensor, parts: int) -> tuple[torch.Tensor, ...]:
        batch_size, seq_length = projected.shape[:2]
        projected = projected.view(batch_size, seq_length, parts, self.num_heads, self.head_dim)  # (B, T, parts, H, Dh)
        return projected.permute(2, 0, 3, 1, 4).unbind(0)  # parts x (B, H, T, Dh)

    def forward(
        self,
        hidden_states: torch.Tensor,
        key_value_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: Cache | None = None,
        position_ids: torch.Tensor | None = None,
        position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
        **kwargs: Unpack[FlashAttentionKwargs],
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """hidden_states: (B, Tq, d_model) queries (and keys/values for self-attention); key_value_states:
        (B, Tk, d_model) encoder output for cross-attention; position_ids: (B or 1, Tq) positions of the queries,
        computed by the stack (absolute position types added them at the input already); position_embeddings:
        rotary cos, sin (B or 1, Tq, Dh) of those positions. Returns (B, Tq, d_model) and the weights (eager only)."""
        batch_size, q_length = hidden_states.shape[:2]
        if self.is_cross_attention:
            (query,) = self._split_heads(self.q_proj(hidden_states), 1)
            cross_cache = cache.cross_attention_cache if isinstance(cache, EncoderDecoderCache) else None
            if cross_cache is not None and cache.is_updated.get(self.layer_idx):
                # The encoder output does not change while decoding: reuse its projected keys and values.
                key = cross_cache.layers[self.layer_idx].keys
                value = cross_cache.layers[self.layer_idx].values
            else:
                key, value = self._split_heads(self.kv_proj(key_value_states), 2)
                if cross_cache is not None:
                    key, value = cross_cache.update(key, value, self.layer_idx)
                    cache.is_updated[self.layer_idx] = True
        else:
            query, key, value = self._split_heads(self.qkv_proj(hidden_states), 3)
            if position_embeddings is not None:
                # Rotary: rotate before caching, so cached keys keep the rotation of their own positions.
                cos, sin = position_embeddings
                query, key = apply_rotary(query, cos, sin), apply_rotary(key, cos, sin)
            if cache is not None:
                self_cache = cache.self_attention_cache if isinstance(cache, EncoderDecoderCache) else cache
                key, value = self_cache.update(key, value, self.layer_idx)  # append to earlier steps' keys/values
            if position_ids is not None:
                # The flash kernels read packed (padding-free) rows from the positions; the others ignore them.
                kwargs["position_ids"] = position_ids

        attention: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, scaled_dot_product_attention
        )
        output, weights = attention(
            self,
            query,
            key,
            value,
            attention_mask,
            dropout=self.dropout if self.training else 0.0,
            scaling=self.scaling,
            **kwargs,
        )
        output = output.reshape(batch_size, q_length, self.d_model)  # Concat(head_1..head_h): (B, Tq, d_model)
        return self.out_proj(output), weights
