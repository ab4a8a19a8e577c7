"""The input of every stack: token embedding (× √d_model) + position (+ segment), then LayerNorm and dropout.

Paper §3.4-3.5: "we multiply those weights by √d_model" and "add positional encodings to the input embeddings".
BERT adds a segment (token type) embedding and a LayerNorm; BART keeps the LayerNorm; GPT only adds positions.
"""

import math

import torch
from torch import nn
from transformers.utils import is_torchdynamo_compiling

from .configuration_tobigs import TobigsConfig
from .positional_encoding import LearnedPositionalEmbedding, SinusoidalPositionalEncoding


def check_ids_in_range(ids: torch.Tensor, limit: int, name: str, limit_name: str) -> None:
    """Raise a ValueError naming the bad id and the limit, instead of an opaque index error deep inside a kernel."""
    if is_torchdynamo_compiling() or ids.numel() == 0:
        return
    out_of_range = (ids < 0) | (ids >= limit)
    if out_of_range.any():
        bad = ids[out_of_range][0].item()
        raise ValueError(f"{name} contains {bad}, outside [0, {limit_name}={limit})")


def positions_from_mask(attention_mask: torch.Tensor, past_length: int, seq_length: int) -> torch.Tensor:
    """Position of each new token counted over real (unpadded) tokens only, so a left-padded prompt gets the same
    positions as the prompt alone. Padding positions keep their plain index (their outputs are never used)."""
    plain = torch.arange(attention_mask.shape[-1], device=attention_mask.device).expand_as(attention_mask)
    counted = attention_mask.long().cumsum(-1) - 1
    position_ids = torch.where(attention_mask.bool(), counted, plain)
    return position_ids[:, past_length : past_length + seq_length]  # (B, T)


class TransformerEmbeddings(nn.Module):
    """Token (+ segment) + position embeddings of one stack (the bottom boxes of Figure 1)."""

    def __init__(self, config: TobigsConfig, use_token_types: bool = False):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_token_id)
        # Paper §3.4 scales token embeddings by sqrt(d_model); GPT/BERT/BART do not (scale_embedding=False).
        self.embed_scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
        if config.position_embedding_type == "sinusoidal":
            self.position_embeddings = SinusoidalPositionalEncoding(
                config.max_position_embeddings, config.d_model, config.sinusoidal_layout
            )
        else:
            self.position_embeddings = LearnedPositionalEmbedding(
                config.max_position_embeddings, config.d_model, config.position_offset
            )
        self.token_type_embeddings = (
            nn.Embedding(config.type_vocab_size, config.d_model) if use_token_types and config.type_vocab_size else None
        )
        self.layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps) if config.layernorm_embedding else None
        self.dropout = nn.Dropout(config.dropout)
        self.max_positions = config.max_position_embeddings

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        past_length: int = 0,
    ) -> torch.Tensor:
        if inputs_embeds is None:
            # Read the size from the table itself: resize_token_embeddings swaps it.
            check_ids_in_range(input_ids, self.word_embeddings.num_embeddings, "input_ids", "vocab_size")
            inputs_embeds = self.word_embeddings(input_ids)  # (B, T) -> (B, T, d_model)
        batch_size, seq_length = inputs_embeds.shape[:2]
        if not is_torchdynamo_compiling() and past_length + seq_length > self.max_positions:
            raise ValueError(
                f"sequence length {past_length + seq_length} (cached {past_length} + new {seq_length}) exceeds "
                f"max_position_embeddings={self.max_positions}; shorten or truncate the input explicitly"
            )
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
                check_ids_in_range(token_type_ids, self.token_type_embeddings.num_embeddings, "token_type_ids",
                                   "type_vocab_size")
                hidden_states = hidden_states + self.token_type_embeddings(token_type_ids)
        elif token_type_ids is not None:
            raise ValueError("token_type_ids were given but this model has no segment embeddings (type_vocab_size=0)")
        if self.layer_norm is not None:
            hidden_states = self.layer_norm(hidden_states)
        return self.dropout(hidden_states)
