"""The input checks of the model's forwards, gathered here so that the stacks, layers and embeddings read like the
lecture's boxes. Each forward calls one of them at its top (`check_encoder_inputs`, `check_decoder_inputs`,
`check_embedding_inputs`); they raise a clear ValueError naming the value and the limit instead of a wrong result or
an opaque error deep inside a kernel.

Under torch.compile nothing data-dependent is checked: shape checks read static shapes only, and the checks that
read tensor values (`check_values`, one host sync for all of a forward's values) are skipped while compiling, so the
compiled graph never breaks on them.
"""

from typing import TYPE_CHECKING, NamedTuple

import torch
from transformers.cache_utils import Cache
from transformers.utils import is_torchdynamo_compiling

from .configuration_tobigs import TobigsConfig
from .memory import Memory, check_memory

if TYPE_CHECKING:
    from .embeddings import TransformerEmbeddings


# --- values: ids in their table, masks of 0/1, positions in the position table (one host sync per forward) ---

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
    if len(checks) == 1:  # a decode step checks its new ids alone: no stack to build
        if not checks[0].bad.any():  # the one host sync
            return
    else:
        device = checks[0].bad.device
        if not torch.stack([check.bad.any().to(device) for check in checks]).any():  # the one host sync
            return
    for check in checks:  # an error is being raised: more syncs no longer matter
        if check.bad.any():
            value = check.tensor[check.bad][0].item()
            raise ValueError(f"{check.name} contains {value}{check.rule}")


def check_embeddings(inputs_embeds: torch.Tensor, weight: torch.Tensor, name: str = "inputs_embeds",
                     width: int | None = None) -> None:
    """Embeddings given instead of ids must be what the token embedding would give: (batch, length, d_model) in the
    dtype of the model's parameters (a float64 or float16 tensor into a float32 model fails deep inside a kernel).
    Under autocast the kernels cast for themselves, so the dtype may differ there."""
    if is_torchdynamo_compiling():
        return
    width = weight.shape[1] if width is None else width  # the table's width, unless its output is wider
    if inputs_embeds.dim() != 3 or inputs_embeds.shape[-1] != width:
        raise ValueError(
            f"{name} must have shape (batch, length, d_model={width}), got {tuple(inputs_embeds.shape)}"
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



# --- shapes: what the stacks are given ---


def check_inputs(input_ids: torch.Tensor | None, inputs_embeds: torch.Tensor | None, ids_name: str = "input_ids",
                 embeds_name: str = "inputs_embeds") -> tuple[int, int]:
    """Exactly one of ids or embeddings, shaped (batch, length), neither of them empty; returns that shape."""
    if (input_ids is None) == (inputs_embeds is None):
        raise ValueError(f"pass exactly one of {ids_name} or {embeds_name}")
    if input_ids is not None and input_ids.dim() != 2:
        raise ValueError(f"{ids_name} must have shape (batch, length), got {tuple(input_ids.shape)}")
    name, given = (ids_name, input_ids) if input_ids is not None else (embeds_name, inputs_embeds)
    shape = tuple(given.shape[:2])
    if shape[0] == 0 or shape[1] == 0:  # static shapes: no host sync, no graph break
        raise ValueError(
            f"{name} is empty, shape {tuple(given.shape)}; the batch size and the length must both be >= 1"
        )
    return shape


def check_shape(tensor: torch.Tensor | None, expected: tuple[int, int], name: str, against: str) -> None:
    """A per-token tensor (mask, token types) must have the (batch, length) shape of what it belongs to."""
    if is_torchdynamo_compiling() or tensor is None:
        return
    expected = tuple(int(n) for n in expected)
    if tuple(tensor.shape) != expected:
        kind = "" if tensor.dim() == 2 else " (a 2-D (batch, length) tensor)"
        raise ValueError(f"{name} has shape {tuple(tensor.shape)} but {against} needs {expected}{kind}")


def check_mask(mask: torch.Tensor | None, expected: tuple[int, int], name: str, against: str) -> None:
    """A 2-D mask has the shape of what it masks (its 0/1 values are checked with the ids, in the embeddings, in the
    same host sync); a custom 4-D mask is passed on as transformers' models do."""
    if mask is not None and mask.dim() != 4:
        check_shape(mask, expected, name, against)


def check_encoder_hidden_states(config: TobigsConfig, states: torch.Tensor, batch_size: int) -> None:
    """What a decoder's cross-attention reads: (batch, source length, d_model) encoder states, and only a decoder
    that has cross-attention (they are never silently ignored)."""
    if not config.has_cross_attention:
        raise ValueError(
            "encoder_hidden_states were given, but this decoder has no cross-attention to read them "
            f"(architecture={config.architecture!r}, add_cross_attention=False); build it with "
            "add_cross_attention=True (EncoderDecoderModel.from_encoder_decoder_pretrained sets it)"
        )
    if is_torchdynamo_compiling():
        return
    if states.dim() != 3:
        raise ValueError(f"encoder_hidden_states must have shape (batch, source length, d_model), got "
                         f"{tuple(states.shape)}")
    if states.shape[-1] != config.d_model:
        raise ValueError(
            f"encoder_hidden_states are {states.shape[-1]} wide but the decoder's cross-attention takes "
            f"d_model={config.d_model}; project the encoder output to d_model first (EncoderDecoderModel adds "
            "enc_to_dec_proj when the encoder's hidden_size differs from the decoder's)"
        )
    if states.shape[0] != batch_size:
        raise ValueError(f"encoder_hidden_states have batch size {states.shape[0]} but the decoder input has "
                         f"{batch_size}")


def check_encoder_inputs(
    input_ids: torch.Tensor | None,
    inputs_embeds: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    token_type_ids: torch.Tensor | None,
) -> tuple[int, int]:
    """The shapes of an encoder forward's inputs; returns (batch, length)."""
    shape = check_inputs(input_ids, inputs_embeds)
    check_mask(attention_mask, shape, "attention_mask", "input_ids")
    check_shape(token_type_ids, shape, "token_type_ids", "input_ids")
    return shape


class DecoderInputs(NamedTuple):
    """What `check_decoder_inputs` learnt about a decoder forward's inputs."""

    batch_size: int
    seq_length: int
    past_length: int | torch.Tensor  # tokens already in the cache
    memory_length: int  # Transformer-XL memory tokens (0 without memory)
    prefix: str  # "decoder_" in an encoder-decoder model: the names the user passed the inputs under


def check_decoder_inputs(
    config: TobigsConfig,
    input_ids: torch.Tensor | None,
    inputs_embeds: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    encoder_hidden_states: torch.Tensor | None,
    encoder_attention_mask: torch.Tensor | None,
    cache: Cache | None,
    mems: Memory | None,
    dtype: torch.dtype,
) -> DecoderInputs:
    """The shapes of a decoder forward's inputs: ids or embeddings, the encoder output its cross-attention reads
    (never silently ignored), Transformer-XL's memory, and the masks over cached + new tokens and over the encoder
    output. `dtype` is that of the token embedding (the memory must match it)."""
    prefix = "decoder_" if config.is_encoder_decoder else ""
    ids_name, embeds_name = f"{prefix}input_ids", f"{prefix}inputs_embeds"
    batch_size, seq_length = check_inputs(input_ids, inputs_embeds, ids_name, embeds_name)
    if config.is_encoder_decoder and encoder_hidden_states is None:
        raise ValueError("the decoder of an encoder-decoder model needs encoder_hidden_states to attend to")
    if encoder_hidden_states is not None:
        check_encoder_hidden_states(config, encoder_hidden_states, batch_size)
    elif encoder_attention_mask is not None:
        raise ValueError("encoder_attention_mask was given without encoder_hidden_states to mask")
    # A cache the forward creates itself is empty: its length is 0 as without a cache.
    past_length = cache.get_seq_length() if cache is not None else 0
    memory_length = check_memory(config, mems, batch_size, dtype,
                                 (input_ids if input_ids is not None else inputs_embeds).device)
    check_mask(attention_mask, (batch_size, past_length + seq_length), f"{prefix}attention_mask",
               "cached + new tokens")
    if encoder_hidden_states is not None:
        # Its values were checked when the encoder ran on it.
        check_mask(encoder_attention_mask, tuple(encoder_hidden_states.shape[:2]), "encoder attention_mask",
                   "the encoder output")
    return DecoderInputs(batch_size, seq_length, past_length, memory_length, prefix)


def check_relative_packing(config: TobigsConfig, packed) -> None:
    """Transformer-XL's distances come from the token order: packed rows would attend across their sequences."""
    if config.position_embedding_type == "relative" and packed is not None:
        raise ValueError(
            "packed rows (position_ids restarting inside a row) are not supported with "
            "position_embedding_type='relative'; pass one sequence per row with an attention_mask"
        )


# --- the embeddings: ids, positions, segments and masks of one stack's input ---


def check_embedding_inputs(
    embeddings: "TransformerEmbeddings",
    input_ids: torch.Tensor | None,
    inputs_embeds: torch.Tensor | None,
    position_ids: torch.Tensor,
    token_type_ids: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    past_length: int,
    attention_mask_name: str,
    positions_given: bool,
) -> None:
    """What the embeddings look up must lie in their tables: token ids in the vocabulary, positions in the position
    table (checked on the positions themselves, so padding and packed rows do not use it up), token types in the
    segment table, and a 2-D mask must hold 0/1 (it counts the positions). Sizes are read from the tables
    themselves: resize_token_embeddings swaps the token table."""
    seq_length = (input_ids if inputs_embeds is None else inputs_embeds).shape[1]
    max_positions = embeddings.max_positions
    # Counting the tokens only (no mask, no padding rule): the largest position is known without looking at it.
    counted_plainly = not positions_given and embeddings.pad_position is None and (
        attention_mask is None or attention_mask.dim() != 2
    )
    limited = max_positions is not None
    too_long = limited and counted_plainly and past_length + seq_length > max_positions
    if not is_torchdynamo_compiling() and too_long:
        raise ValueError(
            f"sequence length {past_length + seq_length} (cached {past_length} + new {seq_length}) exceeds "
            f"max_position_embeddings={max_positions}; shorten or truncate the input explicitly"
        )
    if token_type_ids is not None and embeddings.token_type_embeddings is None:
        raise ValueError("token_type_ids were given but this model has no segment embeddings (type_vocab_size=0)")
    if is_torchdynamo_compiling():
        return
    check_values(
        ids_in_range(input_ids if inputs_embeds is None else None, embeddings.word_embeddings.num_embeddings,
                     "input_ids", "vocab_size"),
        *positions_in_table(position_ids if positions_given and limited else None, max_positions, "position_ids"),
        ids_in_range(token_type_ids, embeddings.type_vocab_size, "token_type_ids", "type_vocab_size"),
        binary_mask(attention_mask, attention_mask_name),
        # After the mask's values: a bad mask would count bad positions.
        *positions_in_table(
            None if positions_given or counted_plainly or not limited else position_ids, max_positions,
            f"the positions counted over {attention_mask_name if embeddings.pad_position is None else 'input_ids'}"
            f" (cached {past_length} + new {seq_length} tokens)",
        ),
    )
    # A dtype compare, no sync: free next to the checks above.
    # The first parameter of the token table: its weight, or an adaptive input's first cluster table.
    table = next(embeddings.word_embeddings.parameters())
    check_compute_dtype(table.dtype, "the dtype of the model's parameters")
    if inputs_embeds is not None:
        check_embeddings(inputs_embeds, table, width=embeddings.word_embeddings.embedding_dim)


def check_adaptive_label_smoothing(label_smoothing: float) -> None:
    """The adaptive softmax's loss scores each target's cluster only; smoothing would need every word's
    log-probability (the config refuses it too; this catches `label_smoothing=` passed to a forward)."""
    if label_smoothing:
        raise ValueError(f"label_smoothing={label_smoothing} is not supported with adaptive_softmax=True: smoothing "
                         "spreads mass over every token, which the adaptive softmax's loss never scores; use 0.0")


def check_resizable(config: TobigsConfig) -> None:
    """resize_token_embeddings grows one table; adaptive input and softmax have one per cluster, cut at `cutoffs`."""
    if getattr(config, "uses_adaptive", False):
        raise ValueError("resize_token_embeddings is not supported with adaptive_input / adaptive_softmax: the "
                         f"vocabulary is cut into clusters at cutoffs={config.cutoffs}, each with its own table; "
                         "build a new model with the new vocab_size (and cutoffs) instead")
