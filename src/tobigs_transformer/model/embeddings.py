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
from .positional_encoding import (  # noqa: F401  (the position rules used to live here)
    LearnedPositionalEmbedding,
    SinusoidalPositionalEncoding,
    compute_position_ids,
    positions_from_mask,
    positions_skipping_padding,
)


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


def positions_in_table(position_ids: torch.Tensor | None, limit: int, name: str) -> list[ValueCheck | None]:
    """Positions index the position table: the check is on each position used, not on the row length, so packed rows
    (positions restarting at 0) and padding that is not counted do not use up the table. Negative ids are checked only
    when the caller gave them (RoBERTa's computed padding position is a reserved row below 0)."""
    if position_ids is None:
        return [None]
    too_far = ValueCheck(name, position_ids, position_ids >= limit,
                         f", outside [0, max_position_embeddings={limit}): the sequence exceeds "
                         f"max_position_embeddings={limit} positions; shorten or truncate the input explicitly")
    if name != "position_ids":
        return [too_far]
    return [ValueCheck(name, position_ids, position_ids < 0, f", outside [0, max_position_embeddings={limit})"),
            too_far]


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


# The dtypes with kernels for every op of a forward and backward (add, matmul, layer norm, softmax, embedding).
# float8/float4 are storage and quantization formats: no add or layer norm runs on them ("add_stub" not implemented
# for 'Float8_e4m3fn'), and transformers cannot even build a model in them ("couldn't find storage object").
COMPUTE_DTYPES = (torch.float32, torch.bfloat16, torch.float16, torch.float64)


def check_compute_dtype(dtype: torch.dtype, what: str) -> None:
    """Raise one clear ValueError for a dtype the model cannot compute in, instead of a kernel error deep inside the
    first op that meets it (or, in `from_pretrained`, a storage error before any weight is read)."""
    if dtype not in COMPUTE_DTYPES:
        kind = "a floating-point storage format without arithmetic kernels" if dtype.is_floating_point else (
            "not a real floating-point dtype")
        raise ValueError(
            f"{what} is {dtype}, {kind}: the model computes in torch.float32, torch.bfloat16 or torch.float16 "
            "(or torch.float64); pass one of those (to store weights in 8 bits, use a quantization_config)"
        )


class TransformerEmbeddings(nn.Module):
    """Token (+ segment) + position embeddings of one stack (the bottom boxes of Figure 1)."""

    def __init__(self, config: TobigsConfig, use_token_types: bool = False):
        super().__init__()
        # ALBERT/ELECTRA factorize the embeddings: E-wide tables, one projection to d_model after them.
        width = config.embedding_size or config.d_model
        self.word_embeddings = nn.Embedding(config.vocab_size, width, padding_idx=config.pad_token_id)
        # Paper §3.4 scales token embeddings by sqrt(d_model); GPT/BERT/BART do not (scale_embedding=False).
        self.embed_scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
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
        self.projection = nn.Linear(width, config.d_model) if config.embedding_size is not None else None
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
        input_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        past_length: int = 0,
        attention_mask_name: str = "attention_mask",
        positions_given: bool | None = None,
    ) -> torch.Tensor:
        """`position_ids` are computed by the stack (`compute_position_ids`, `positions_given=False`) or given by the
        user; None computes them here, by the same rules."""
        seq_length = (input_ids if inputs_embeds is None else inputs_embeds).shape[1]
        if positions_given is None:
            positions_given = position_ids is not None
        if position_ids is None:
            position_ids = compute_position_ids(
                input_ids, seq_length, (input_ids if inputs_embeds is None else inputs_embeds).device,
                attention_mask, past_length, self.pad_token_id, self.pad_position,
            )
        # Counting the tokens only (no mask, no padding rule): the largest position is known without looking at it.
        counted_plainly = not positions_given and self.pad_position is None and (
            attention_mask is None or attention_mask.dim() != 2
        )
        limited = self.max_positions is not None
        too_long = limited and counted_plainly and past_length + seq_length > self.max_positions
        if not is_torchdynamo_compiling() and too_long:
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
                *positions_in_table(position_ids if positions_given and limited else None, self.max_positions,
                                    "position_ids"),
                ids_in_range(token_type_ids, self.type_vocab_size, "token_type_ids", "type_vocab_size"),
                binary_mask(attention_mask, attention_mask_name),
                # After the mask's values: a bad mask would count bad positions.
                *positions_in_table(
                    None if positions_given or counted_plainly or not limited else position_ids, self.max_positions,
                    f"the positions counted over {attention_mask_name if self.pad_position is None else 'input_ids'}"
                    f" (cached {past_length} + new {seq_length} tokens)",
                ),
            )
        if not is_torchdynamo_compiling():  # a dtype compare, no sync: free next to the checks above
            check_compute_dtype(self.word_embeddings.weight.dtype, "the dtype of the model's parameters")
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)  # (B, T) -> (B, T, d_model)
        else:
            check_embeddings(inputs_embeds, self.word_embeddings.weight)

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
