"""Transformer-XL's relative positional attention (Dai et al. 2019, §3.3).

No position is added to the input. Instead every attention score between query i and key j carries the distance
i - j, through four terms (the paper's Eq. in §3.3, with E the content and R the sinusoid of a distance):

    A_ij = q_i^T k_j                  (a) content
         + q_i^T W_{k,R} R_{i-j}      (b) content-dependent position bias
         + u^T k_j                    (c) global content bias
         + v^T W_{k,R} R_{i-j}        (d) global position bias

(a) + (c) = (q_i + u)^T k_j and (b) + (d) = (q_i + v)^T W_{k,R} R_{i-j}, which is how they are computed. R are the
fixed sinusoids of §3.5 evaluated at distances (not positions), W_{k,R} a learned projection per layer, u and v
learned vectors per head, shared across layers or per layer (`config.untie_r`, both exist in published checkpoints).

The position scores are computed once per distance, (q + v) against the D + 1 projected encodings, and then looked up
for every (i, j) pair (`gather`): the same O(T_q x T_k) tensor the paper's "relative shift" produces, without ever
building an O(T_q x T_k x d) tensor of per-pair encodings. Distances beyond `clamp_len` share the encoding of
`clamp_len`; negative distances are the future, masked (that is the causal mask).

Keys and values are computed over [memory; cached tokens; current segment] (`memory.py`): memory holds the previous
segments' hidden states, so the keys of a query reach back past its own segment (segment-level recurrence, §3.2).
"""

from typing import NamedTuple

import torch
from torch import nn
from transformers.cache_utils import Cache
from transformers.utils import logging

from .attention import MultiHeadAttention
from .configuration_tobigs import TobigsConfig
from .memory import kept_on_cache, parameter_versions, same_parameters

logger = logging.get_logger(__name__)


class RelativePositions(NamedTuple):
    """What a stack computes once per forward for the relative attention of its layers."""

    encodings: torch.Tensor  # (D + 1, d_model): R_0 .. R_D, the sinusoids of distances 0..D
    query_start: int  # index of the first query among the keys [memory; cached; current]
    shared_bias: "GlobalBiases | None"  # u, v shared by every layer (untie_r=False), else None
    dropped: bool = False  # True when dropout (training) changed the encodings: then they are not the sinusoids


class KeptEncodings(NamedTuple):
    """One layer's W_{k,R} R_d for d = 0 .. len(table) - 1, with the weight (and its version) it was computed with."""

    parameters: tuple[tuple[torch.Tensor, int | None], ...]  # `memory.parameter_versions` of W_{k,R}
    table: torch.Tensor  # (D' + 1, d_model)


def relative_sinusoids(num_distances: int, dim: int, device: torch.device) -> torch.Tensor:
    """R_0 .. R_{num_distances - 1}: (num_distances, dim), all sines then all cosines (the layout of the paper's code):
    R_d = [sin(d / 10000^(2i/dim)); cos(d / 10000^(2i/dim))]."""
    # float32 whatever torch's default dtype is; `relative_positions` casts the result to the hidden states' dtype.
    frequencies = 1.0 / (10000 ** (torch.arange(0.0, dim, 2.0, device=device, dtype=torch.float32) / dim))  # (dim/2,)
    angles = torch.arange(num_distances, device=device, dtype=torch.float32)[:, None] * frequencies  # (D + 1, dim / 2)
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def relative_positions(config: TobigsConfig, query_start: int, q_length: int, dtype: torch.dtype,
                       device: torch.device, shared_bias: "GlobalBiases | None") -> RelativePositions:
    """The encodings of every distance some query of this forward has to some key: 0 .. query_start + q_length - 1,
    clamped at `config.clamp_len`."""
    max_distance = query_start + q_length - 1
    if config.clamp_len is not None:
        max_distance = min(max_distance, config.clamp_len)
    encodings = relative_sinusoids(max_distance + 1, config.d_model, device).to(dtype)
    return RelativePositions(encodings, query_start, shared_bias)


class GlobalBiases(nn.Module):
    """u and v of §3.3: one learned vector per head that every query adds before scoring content (u) and distance (v)
    ("the attentive bias towards different words should remain the same regardless of the query position")."""

    def __init__(self, num_heads: int, head_dim: int):
        super().__init__()
        self.content_bias = nn.Parameter(torch.zeros(num_heads, head_dim))  # u
        self.position_bias = nn.Parameter(torch.zeros(num_heads, head_dim))  # v


def key_mask(attention_mask: torch.Tensor | None, batch_size: int, q_length: int, memory_length: int,
             k_length: int, device: torch.device) -> torch.Tensor | None:
    """The keys each query may see apart from causality, as bool (B, 1, T_q, M + T_k): memory always; cached and new
    tokens where the 2-D padding mask (B, cached + new) says so, or as a custom 4-D mask says. Slots past the mask's
    length (an unfilled static cache) are left to the causal rule, which masks them."""
    if attention_mask is None:
        return None
    if attention_mask.dim() == 4:  # custom (B, 1, T_q, T_k): bool, or additive with 0 where attention is allowed
        allowed = attention_mask.bool() if attention_mask.dtype == torch.bool else attention_mask == 0
    else:
        allowed = attention_mask.bool()[:, None, None, :].expand(batch_size, 1, q_length, -1)
    memory = allowed.new_ones(batch_size, 1, q_length, memory_length)
    unfilled = allowed.new_ones(batch_size, 1, q_length, k_length - allowed.shape[-1])
    return torch.cat([memory, allowed.expand(batch_size, 1, q_length, -1), unfilled], dim=-1).to(device)


class RelativeMultiHeadAttention(MultiHeadAttention):
    """Masked multi-head self-attention whose scores are the four terms of §3.3, over memory + the current segment.

    The kernel is the eager path below (it returns the weights) or, for any other `attn_implementation`, PyTorch's
    `scaled_dot_product_attention` with the position terms as an additive bias: flash and flex kernels take no bias,
    so they fall back to sdpa (logged once)."""

    def __init__(self, config: TobigsConfig, num_heads: int, *, layer_idx: int | None = None):
        super().__init__(config, num_heads, is_causal=True, layer_idx=layer_idx)
        self.position_proj = nn.Linear(self.d_model, self.d_model, bias=False)  # W_{k,R}
        self.global_bias = GlobalBiases(num_heads, self.head_dim) if config.untie_r else None

    def project_memory(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of the memory (B, M, d_model), each (B, H, M, Dh): this layer's W^K, W^V (the lower two
        thirds of the fused projection). No gradient reaches the memory (it was detached when it was stored)."""
        weight = self.qkv_proj.weight[self.d_model:]
        bias = None if self.qkv_proj.bias is None else self.qkv_proj.bias[self.d_model:]
        return self._split_heads(nn.functional.linear(memory, weight, bias), 2)

    def projected_encodings(self, encodings: torch.Tensor, dropped: bool, cache: Cache | None) -> torch.Tensor:
        """W_{k,R} R_d for the distances d = 0 .. D of `encodings` (D + 1, d_model).

        While decoding with a cache, every step needs the projection of one more distance than the step before, and
        projecting them all again costs (D + 1) x d_model^2 multiply-adds per layer per step, more than the rest of
        the step once D is in the hundreds. So the projected table is kept on the cache object (it lives as long as
        one generate call, `memory.kept_on_cache`) and grown by doubling, projecting only the new rows: the sinusoids
        of a distance do not depend on how many there are. Recomputed whenever W_{k,R} changes; never kept for
        dropped-out encodings (training)."""
        kept = None if dropped else kept_on_cache(cache, self.layer_idx, "_tobigs_projected_encodings")
        if kept is None:
            return self.position_proj(encodings)
        versions = parameter_versions((self.position_proj.weight,))
        entry = kept.get(self.layer_idx)
        if entry is not None and not (same_parameters(entry.parameters, versions) and
                                      (entry.table.dtype, entry.table.device) == (encodings.dtype, encodings.device)):
            entry = None
        rows = encodings.shape[0]
        if entry is None or entry.table.shape[0] < rows:
            filled = 0 if entry is None else entry.table.shape[0]
            capacity = max(rows, 2 * filled, 64)
            if self.config.clamp_len is not None:  # never more than the clamped distances 0 .. clamp_len
                capacity = max(rows, min(capacity, self.config.clamp_len + 1))
            new_rows = relative_sinusoids(capacity, self.d_model, encodings.device)[filled:].to(encodings.dtype)
            projected = self.position_proj(new_rows)  # (capacity - filled, d_model)
            table = projected if entry is None else torch.cat([entry.table, projected])  # (capacity, d_model)
            entry = kept[self.layer_idx] = KeptEncodings(versions, table)
        return entry.table[:rows]

    def forward(
        self,
        hidden_states: torch.Tensor,
        key_value_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: Cache | None = None,
        position_ids: torch.Tensor | None = None,
        relative_positions: RelativePositions | None = None,
        memory: torch.Tensor | None = None,
        memory_key_value: tuple[torch.Tensor, torch.Tensor] | None = None,
        **kwargs,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """hidden_states: (B, T_q, d_model); memory: (B, M, d_model) this layer's input over the previous segment(s)
        (already layer-normed where the layer norms its input); attention_mask: the 2-D padding mask of cached + new
        tokens (or a custom 4-D one); relative_positions: the stack's `RelativePositions`; memory_key_value: the
        memory's keys and values as `project_memory` makes them, if the caller already has them (generate keeps them
        for the fixed memory, `memory.projected_memory`). position_ids are not used: the distances come from the order
        of the tokens."""
        batch_size, q_length = hidden_states.shape[:2]
        query, key, value = self._split_heads(self.qkv_proj(hidden_states), 3)  # 3 x (B, H, T_q, Dh)
        if cache is not None:
            key, value = cache.update(key, value, self.layer_idx)  # (B, H, cached + T_q, Dh)
        k_length = key.shape[-2]
        if memory_key_value is None and memory is not None:
            memory_key_value = self.project_memory(memory)
        memory_length = 0 if memory_key_value is None else memory_key_value[0].shape[-2]
        if memory_length:
            memory_key, memory_value = memory_key_value
            key = torch.cat([memory_key, key], dim=-2)  # (B, H, M + T_k, Dh)
            value = torch.cat([memory_value, value], dim=-2)

        encodings, query_start, shared_bias, dropped = relative_positions
        biases = self.global_bias if self.global_bias is not None else shared_bias
        u = biases.content_bias[:, None]  # (H, 1, Dh), broadcast over batch and queries
        v = biases.position_bias[:, None]
        projected = self.projected_encodings(encodings, dropped, cache)  # (D + 1, d_model): W_{k,R} R_d, every d
        projected = projected.view(-1, self.num_heads, self.head_dim).transpose(0, 1)  # (H, D + 1, Dh)
        # (b) + (d) for every query and every distance, then each (i, j) pair reads the column of its distance.
        by_distance = torch.matmul(query + v, projected.transpose(-2, -1))  # (B, H, T_q, D + 1)
        total = memory_length + k_length
        distance = (query_start + torch.arange(q_length, device=query.device))[:, None] - torch.arange(
            total, device=query.device
        )  # (T_q, M + T_k): i - j over [memory; cached; current]
        position_scores = by_distance.gather(
            -1, distance.clamp(0, by_distance.shape[-1] - 1).expand(batch_size, self.num_heads, q_length, total)
        )  # (B, H, T_q, M + T_k)
        allowed = distance >= 0  # the causal mask: keys at or before the query
        if self.config.same_length:
            # Same-length attention: every query sees itself and the mem_len - 1 tokens before it, however far into
            # its segment it is (the authors' triu(1 + mlen) + tril(-mask_shift_len) mask, written as a distance).
            allowed = allowed & (distance < self.config.mem_len)
        allowed = allowed[None, None]  # (1, 1, T_q, M + T_k)
        padding = key_mask(attention_mask, batch_size, q_length, memory_length, k_length, query.device)
        if padding is not None:
            allowed = allowed & padding  # (B, 1, T_q, M + T_k)

        dropout = self.dropout if self.training else 0.0
        masked = torch.finfo(query.dtype).min
        if self.config._attn_implementation == "eager":
            content_scores = torch.matmul(query + u, key.transpose(-2, -1))  # (a) + (c): (B, H, T_q, M + T_k)
            scores = (content_scores + position_scores) * self.scaling
            scores = scores.masked_fill(~allowed, masked)
            weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
            weights = nn.functional.dropout(weights, p=dropout, training=self.training)
            output = torch.matmul(weights, value)  # (B, H, T_q, Dh)
        else:
            if self.config._attn_implementation != "sdpa":
                logger.warning_once(
                    f"attn_implementation={self.config._attn_implementation!r} cannot add Transformer-XL's position "
                    "terms to the scores; relative attention uses sdpa (with the terms as a bias) instead"
                )
            bias = torch.where(allowed, position_scores * self.scaling, masked)  # (b)+(d), scaled like (a)+(c)
            output = nn.functional.scaled_dot_product_attention(
                query + u, key, value, attn_mask=bias, dropout_p=dropout, scale=self.scaling
            )  # (B, H, T_q, Dh)
            weights = None
        # An explicit copy, not reshape()/contiguous(): sdpa's output already has this layout, so torch.export records
        # a plain view, and the ONNX exporter's decomposition (a math sdpa, other strides) then rejects that view with
        # dynamic lengths ("Cannot view a tensor with shape ..."). One (B, T_q, d_model) copy per layer.
        output = output.transpose(1, 2).clone(memory_format=torch.contiguous_format)  # (B, T_q, H, Dh)
        output = output.reshape(batch_size, q_length, self.d_model)  # (B, T_q, d_model)
        return self.out_proj(output), weights
