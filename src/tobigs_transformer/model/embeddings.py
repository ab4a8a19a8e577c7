"""The input of every stack: token embedding (× √d_model) + position (+ segment), then LayerNorm and dropout
(and, for ALBERT's factorized embeddings, a projection from their width E to d_model). With `adaptive_input` the
token table is Baevski & Auli's adaptive input (`adaptive.py`), d_model wide and already scaled by sqrt(d_model).

Paper §3.4-3.5: "we multiply those weights by √d_model" and "add positional encodings to the input embeddings".
BERT adds a segment (token type) embedding and a LayerNorm; BART keeps the LayerNorm; GPT only adds positions.
"""

import math

import torch
from torch import nn

from .adaptive import AdaptiveEmbedding
from .checks import check_compute_dtype, check_embedding_inputs  # noqa: F401  (check_compute_dtype used to live here)
from .configuration_tobigs import TobigsConfig
from .positional_encoding import (  # noqa: F401  (the position rules used to live here)
    LearnedPositionalEmbedding,
    SinusoidalPositionalEncoding,
    compute_position_ids,
    positions_from_mask,
    positions_skipping_padding,
)


class TransformerEmbeddings(nn.Module):
    """Token (+ segment) + position embeddings of one stack (the bottom boxes of Figure 1)."""

    def __init__(self, config: TobigsConfig, use_token_types: bool = False):
        super().__init__()
        # ALBERT/ELECTRA factorize the embeddings: E-wide tables, one projection to d_model after them. Adaptive
        # input (Transformer-XL's d_embed = embedding_size) projects each cluster to d_model itself.
        factorized = config.embedding_size is not None and not config.adaptive_input
        width = config.embedding_size if factorized else config.d_model
        if config.adaptive_input:
            # Per-cluster tables and projections, scaled by sqrt(d_model) inside (the authors' emb_scale).
            self.word_embeddings = AdaptiveEmbedding(config.vocab_size, config.embedding_size or config.d_model,
                                                     config.d_model, config.cutoffs, config.div_val)
        else:
            self.word_embeddings = nn.Embedding(config.vocab_size, width, padding_idx=config.pad_token_id)
        # Paper §3.4 scales token embeddings by sqrt(d_model); GPT/BERT/BART do not (scale_embedding=False).
        scaled = config.scale_embedding and not config.adaptive_input
        self.embed_scale = math.sqrt(config.d_model) if scaled else 1.0
        if config.position_embedding_type in ("rotary", "relative"):
            # Rotary: the positions rotate query and key inside attention; relative (Transformer-XL): the distances
            # enter every attention score. Nothing is added here.
            self.position_embeddings = None
        elif config.position_embedding_type == "sinusoidal":
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
        self.projection = nn.Linear(width, config.d_model) if factorized else None
        # Relative positions have no table and no limit: a Transformer-XL evaluates past its training length.
        self.max_positions = None if config.position_embedding_type == "relative" else config.max_position_embeddings
        # RoBERTa: padding tokens read the padding row of the position table (see `positions_skipping_padding`).
        self.pad_position = (
            None if config.position_padding_idx is None else config.position_padding_idx - config.position_offset
        )
        self.pad_token_id = config.pad_token_id
        self.type_vocab_size = config.type_vocab_size

    def forward(
        self,
        input_ids: torch.Tensor | None,
        inputs_embeds: torch.Tensor | None,
        position_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        past_length: int = 0,
        attention_mask_name: str = "attention_mask",
        positions_given: bool = False,
    ) -> torch.Tensor:
        """`position_ids` are the stack's, computed once per forward (`stack_position_ids`) and shared with its
        attention layers; `positions_given` says whether the user gave them (then they are checked as given)."""
        check_embedding_inputs(self, input_ids, inputs_embeds, position_ids, token_type_ids, attention_mask,
                               past_length, attention_mask_name, positions_given)
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)  # (B, T) -> (B, T, d_model)

        if self.embed_scale != 1.0:  # a config constant, not data: no graph break under torch.compile
            inputs_embeds = inputs_embeds * self.embed_scale
        hidden_states = inputs_embeds
        if isinstance(self.position_embeddings, SinusoidalPositionalEncoding):
            hidden_states = hidden_states + self.position_embeddings(position_ids, hidden_states.dtype)
        elif self.position_embeddings is not None:
            hidden_states = hidden_states + self.position_embeddings(position_ids)
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
