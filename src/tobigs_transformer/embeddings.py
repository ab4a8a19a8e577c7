"""The input of every stack: token embedding (× √d_model) + position (+ segment), then LayerNorm and dropout
(and, for ALBERT's factorized embeddings, a projection from their width E to d_model).

Paper §3.4-3.5: "we multiply those weights by √d_model" and "add positional encodings to the input embeddings".
BERT adds a segment (token type) embedding and a LayerNorm; BART keeps the LayerNorm; GPT only adds positions.
"""

import math
from typing import NamedTuple

import torch
from torch import nn
from transformers.utils import is_torchdynamo_compiling

from .configuration_tobigs import TobigsConfig
from .positional_encoding import LearnedPositionalEmbedding, SinusoidalPositionalEncoding


class ValueCheck(NamedTuple):
    """One tensor whose values a forward checks: `bad` marks its offending entries, `rule` says what is allowed."""

    name: str
    tensor: torch.Tensor
    bad: torch.Tensor  # bool, the shape of `tensor`
    rule: str


def ids_in_range(ids: torch.Tensor | None, limit: int, name: str, limit_name: str) -> ValueCheck | None:
    """Ids index a table of `limit` rows: outside [0, limit) they would fail as an opaque error inside a kernel."""
    if ids is None:
        return None
    return ValueCheck(name, ids, (ids < 0) | (ids >= limit), f", outside [0, {limit_name}={limit})")


def binary_mask(mask: torch.Tensor | None, name: str) -> ValueCheck | None:
    """A 2-D attention mask holds 1 (attend) and 0 (padding) only: it also counts positions, so a 2 would shift every
    later position and an additive 0/-10000 mask would be read inverted."""
    if mask is None or mask.dim() != 2 or mask.dtype == torch.bool:
        return None
    return ValueCheck(name, mask, (mask != 0) & (mask != 1),
                      "; a mask holds only 1 (attend) and 0 (padding), in any dtype (not an additive mask)")


def check_values(*checks: ValueCheck | None) -> None:
    """Raise a ValueError naming the first bad entry and the rule it breaks, instead of a wrong result or an index
    error deep inside a kernel. All the checks of a forward share ONE host sync (the `any()` of their stacked flags);
    callers skip this under torch.compile, where a data-dependent branch would break the graph."""
    checks = [check for check in checks if check is not None and check.tensor.numel()]
    if not checks:
        return
    device = checks[0].bad.device
    if not torch.stack([check.bad.any().to(device) for check in checks]).any():  # the one host sync
        return
    for check in checks:  # an error is being raised: more syncs no longer matter
        if check.bad.any():
            value = check.tensor[check.bad][0].item()
            raise ValueError(f"{check.name} contains {value}{check.rule}")


def check_embeddings(inputs_embeds: torch.Tensor, weight: torch.Tensor, name: str = "inputs_embeds") -> None:
    """Embeddings given instead of ids must be what the token embedding would give: (batch, length, d_model) in the
    dtype of the model's parameters (a float64 or float16 tensor into a float32 model fails deep inside a kernel).
    Under autocast the kernels cast for themselves, so the dtype may differ there."""
    if is_torchdynamo_compiling():
        return
    if inputs_embeds.dim() != 3 or inputs_embeds.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"{name} must have shape (batch, length, d_model={weight.shape[1]}), got {tuple(inputs_embeds.shape)}"
        )
    if inputs_embeds.dtype != weight.dtype and not torch.is_autocast_enabled(inputs_embeds.device.type):
        raise ValueError(
            f"{name} have dtype {inputs_embeds.dtype} but the model's parameters are {weight.dtype}; "
            f"cast them with .to({weight.dtype})"
        )


def positions_from_mask(attention_mask: torch.Tensor, past_length: int, seq_length: int) -> torch.Tensor:
    """Position of each new token counted over real (unpadded) tokens only, so a left-padded prompt gets the same
    positions as the prompt alone. Padding positions keep their plain index (their outputs are never used)."""
    plain = torch.arange(attention_mask.shape[-1], device=attention_mask.device).expand_as(attention_mask)
    counted = attention_mask.long().cumsum(-1) - 1
    position_ids = torch.where(attention_mask.bool(), counted, plain)
    return position_ids[:, past_length : past_length + seq_length]  # (B, T)


def positions_skipping_padding(input_ids: torch.Tensor, pad_token_id: int, pad_position: int) -> torch.Tensor:
    """RoBERTa's (fairseq's) positions, read from the ids: real tokens count 0, 1, ... over the non-padding ids, and
    padding gets `pad_position` (the table's padding row, counted from its offset)."""
    real = input_ids != pad_token_id
    counted = real.long().cumsum(-1) - 1
    return torch.where(real, counted, torch.full_like(counted, pad_position))  # (B, T)


class TransformerEmbeddings(nn.Module):
    """Token (+ segment) + position embeddings of one stack (the bottom boxes of Figure 1)."""

    def __init__(self, config: TobigsConfig, use_token_types: bool = False):
        super().__init__()
        # ALBERT/ELECTRA factorize the embeddings: E-wide tables, one projection to d_model after them.
        width = config.embedding_size or config.d_model
        self.word_embeddings = nn.Embedding(config.vocab_size, width, padding_idx=config.pad_token_id)
        # Paper §3.4 scales token embeddings by sqrt(d_model); GPT/BERT/BART do not (scale_embedding=False).
        self.embed_scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
        if config.position_embedding_type == "sinusoidal":
            self.position_embeddings = SinusoidalPositionalEncoding(
                config.max_position_embeddings, width, config.sinusoidal_layout
            )
        else:
            self.position_embeddings = LearnedPositionalEmbedding(
                config.max_position_embeddings, width, config.position_offset, config.position_padding_idx
            )
        self.token_type_embeddings = (
            nn.Embedding(config.type_vocab_size, width) if use_token_types and config.type_vocab_size else None
        )
        self.layer_norm = nn.LayerNorm(width, eps=config.layer_norm_eps) if config.layernorm_embedding else None
        self.dropout = nn.Dropout(config.dropout)
        self.projection = nn.Linear(width, config.d_model) if config.embedding_size is not None else None
        self.max_positions = config.max_position_embeddings
        # RoBERTa: padding tokens read the padding row of the position table (see `positions_skipping_padding`).
        self.pad_position = (
            None if config.position_padding_idx is None else config.position_padding_idx - config.position_offset
        )
        self.pad_token_id = config.pad_token_id
        self.type_vocab_size = config.type_vocab_size

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        past_length: int = 0,
        attention_mask_name: str = "attention_mask",
    ) -> torch.Tensor:
        seq_length = (input_ids if inputs_embeds is None else inputs_embeds).shape[1]
        if not is_torchdynamo_compiling() and past_length + seq_length > self.max_positions:
            raise ValueError(
                f"sequence length {past_length + seq_length} (cached {past_length} + new {seq_length}) exceeds "
                f"max_position_embeddings={self.max_positions}; shorten or truncate the input explicitly"
            )
        if token_type_ids is not None and self.token_type_embeddings is None:
            raise ValueError("token_type_ids were given but this model has no segment embeddings (type_vocab_size=0)")
        if not is_torchdynamo_compiling():
            # Read the sizes from the tables themselves: resize_token_embeddings swaps the token table.
            check_values(
                ids_in_range(input_ids if inputs_embeds is None else None, self.word_embeddings.num_embeddings,
                             "input_ids", "vocab_size"),
                ids_in_range(position_ids, self.max_positions, "position_ids", "max_position_embeddings"),
                ids_in_range(token_type_ids, self.type_vocab_size, "token_type_ids", "type_vocab_size"),
                binary_mask(attention_mask, attention_mask_name),
            )
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)  # (B, T) -> (B, T, d_model)
        else:
            check_embeddings(inputs_embeds, self.word_embeddings.weight)
        if position_ids is None and self.pad_position is not None:
            if input_ids is not None:
                position_ids = positions_skipping_padding(input_ids, self.pad_token_id, self.pad_position)
            else:  # as RoBERTa: embeddings give no padding to skip, the positions are sequential
                position_ids = torch.arange(seq_length, device=inputs_embeds.device).unsqueeze(0)  # (1, T)
        if position_ids is None:
            if attention_mask is not None and attention_mask.dim() == 2:
                position_ids = positions_from_mask(attention_mask, past_length, seq_length)
            else:
                # past_length may be a tensor (static cache): add it rather than pass it to arange, for torch.compile.
                position_ids = torch.arange(seq_length, device=inputs_embeds.device) + past_length
                position_ids = position_ids.unsqueeze(0)  # (1, T), broadcast over the batch

        if self.embed_scale != 1.0:  # a config constant, not data: no graph break under torch.compile
            inputs_embeds = inputs_embeds * self.embed_scale
        hidden_states = inputs_embeds + self.position_embeddings(position_ids)
        if self.token_type_embeddings is not None:
            if token_type_ids is None:
                hidden_states = hidden_states + self.token_type_embeddings.weight[0]  # every token in segment A
            else:
                hidden_states = hidden_states + self.token_type_embeddings(token_type_ids)
        if self.layer_norm is not None:
            hidden_states = self.layer_norm(hidden_states)
        hidden_states = self.dropout(hidden_states)
        if self.projection is not None:
            hidden_states = self.projection(hidden_states)  # (B, T, E) -> (B, T, d_model)
        return hidden_states
