"""The encoder and decoder stacks of Figure 1: embeddings, N identical layers and (pre-LN only, unless
`config.final_layer_norm=False`) a final LayerNorm.

This is where the masks are made, once per stack, by transformers' mask helpers (they emit the right object for each
attention kernel, and none at all when sdpa's `is_causal` alone does the job):
  - the encoder's padding mask: `create_bidirectional_mask` (a token may attend to every real token);
  - the decoder's look-ahead mask: `create_causal_mask` (position t attends to positions <= t, and to no padding);
  - the cross-attention mask: `create_bidirectional_mask` over the encoder's padding.

Masks given by the user are 2-D (batch, length) with 1 for a token to attend to and 0 for padding, in any dtype (a
custom 4-D mask is passed on as transformers' models do). Any other value is an error in eager mode: the mask also
counts positions (a left-padded prompt gets the positions of the prompt alone), so a 2 or an additive -10000 would
silently shift or invert them. The values are checked (`checks.py`) from the embeddings, in the one host sync that
also checks the ids; under torch.compile nothing data-dependent is checked and any non-zero value attends.
"""

import torch
from torch import nn
from transformers.cache_utils import Cache, DynamicCache, EncoderDecoderCache
from transformers.masking_utils import (
    create_bidirectional_mask,
    create_causal_mask,
    find_packed_sequence_indices,
    packed_sequence_mask_function,
)
from transformers.modeling_outputs import BaseModelOutput
from transformers.processing_utils import Unpack
from transformers.utils import TransformersKwargs
from transformers.utils.deprecation import deprecate_kwarg
from transformers.utils.output_capturing import OutputRecorder, capture_outputs

from .attention import MultiHeadAttention
from .checks import check_decoder_inputs, check_encoder_inputs, check_relative_packing
from .configuration_tobigs import TobigsConfig
from .embeddings import TransformerEmbeddings
from .layers import TobigsDecoderLayer, TobigsEncoderLayer, layer_plan
from .memory import DecoderOutputWithMemory, Memory, update_memory
from .positional_encoding import compute_position_ids
from .relative_attention import GlobalBiases, relative_positions
from .rotary import RotaryEmbedding
from .pretrained import TobigsPreTrainedModel


# v5.24 renamed the cache argument `past_key_values` to `cache`; the old name still works, with a FutureWarning, on
# every forward that takes a cache, and passing both is an error rather than a silent choice.
accepts_past_key_values = deprecate_kwarg(
    "past_key_values", "5.40.0", new_name="cache", raise_if_both_names=True,
    additional_message="Pass the cache as `cache` only.",
)


def stack_position_ids(
    config: TobigsConfig,
    input_ids: torch.Tensor | None,
    inputs_embeds: torch.Tensor | None,
    position_ids: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    past_length: int | torch.Tensor = 0,
) -> torch.Tensor:
    """The positions of one forward, computed once per stack and shared by its embeddings and its attention layers:
    the caller's `position_ids` if given, otherwise the family's rule (`compute_position_ids`)."""
    if position_ids is not None:
        return position_ids
    given = input_ids if input_ids is not None else inputs_embeds
    pad_position = (
        None if config.position_padding_idx is None else config.position_padding_idx - config.position_offset
    )
    return compute_position_ids(
        input_ids, given.shape[1], given.device, attention_mask, past_length, config.pad_token_id, pad_position
    )


def packed_sequences_mask(
    position_ids: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    batch_size: int,
    cache: Cache | None = None,
    past_length: int | torch.Tensor = 0,
):
    """Padding-free rows: several sequences packed in one row, their given `position_ids` restarting at 0 where each
    begins (as `DataCollatorWithFlattening` makes them). Returns the mask function that keeps each sequence to itself
    (combined with the causal or the bidirectional mask), or None for ordinary rows.

    As transformers' mask helpers: only without a 2-D mask (a mask says where padding is, so rows are not packed) and
    before anything is cached (a packed prompt is a training input, not a prefix to continue)."""
    if position_ids is None or position_ids.dim() != 2 or attention_mask is not None:
        return None
    if cache is not None and (cache.is_compileable or not isinstance(past_length, int) or past_length != 0):
        return None
    packed = find_packed_sequence_indices(position_ids.expand(batch_size, -1))  # (B, T) sequence index per token
    return None if packed is None else packed_sequence_mask_function(packed)


def sdpa_needs_no_mask(config: TobigsConfig, attention_mask: torch.Tensor | None, seq_length: int,
                       cache: Cache | None) -> bool:
    """A decode step of one new token per row over a dynamic cache, without padding: the token attends to every
    cached key, so sdpa needs no mask, which is what `create_causal_mask` returns there too (after a few dozen
    microseconds of preparing its arguments, per step). Static caches hold unfilled slots and always get a mask."""
    return (attention_mask is None and seq_length == 1 and config._attn_implementation == "sdpa"
            and isinstance(cache, DynamicCache))


class TobigsStack(TobigsPreTrainedModel):
    """What the encoder and decoder stacks share: their token embedding is the model's input embedding, and rotary
    positions (computed once per forward, for every layer) when the config asks for them."""

    def rotary_embedding(self, heads: int) -> RotaryEmbedding | None:
        if self.config.position_embedding_type != "rotary":
            return None
        return RotaryEmbedding(self.config.d_model // heads)

    def rotary_angles(self, position_ids: torch.Tensor, hidden_states: torch.Tensor):
        """cos, sin of the positions for rotary attention; None for absolute positions (added at the input)."""
        if self.rotary is None:
            return None
        return self.rotary(position_ids, hidden_states.dtype)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings.word_embeddings = value


class TobigsEncoder(TobigsStack):
    """N encoder layers over token (+ segment) + position embeddings."""

    _can_record_outputs = {
        "hidden_states": TobigsEncoderLayer,
        "attentions": OutputRecorder(MultiHeadAttention, index=1, layer_name="self_attn"),
    }

    def __init__(self, config: TobigsConfig):
        super().__init__(config)
        self.embeddings = TransformerEmbeddings(config, use_token_types=True)
        self.rotary = self.rotary_embedding(config.encoder_attention_heads)
        # ALBERT shares parameters across layers (`layer_plan`); every other family has N independent layers.
        plan = layer_plan(config)
        self.layers = nn.ModuleList([TobigsEncoderLayer(config, i) for i in range(plan.num_layers)])
        for layer, owner, names in plan.borrowed:
            self.layers[layer].borrow(self.layers[owner], names)
        self.layer_order = plan.order
        self.final_layer_norm = (
            nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
            if config.normalize_before and config.final_layer_norm else None
        )
        self.gradient_checkpointing = False
        self.post_init()

    @capture_outputs
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> BaseModelOutput:
        shape = check_encoder_inputs(input_ids, inputs_embeds, attention_mask, token_type_ids)
        positions_given = position_ids is not None
        position_ids = stack_position_ids(self.config, input_ids, inputs_embeds, position_ids, attention_mask)
        hidden_states = self.embeddings(
            input_ids, inputs_embeds, position_ids, token_type_ids, attention_mask, positions_given=positions_given
        )
        packed = packed_sequences_mask(position_ids if positions_given else None, attention_mask, shape[0])
        attention_mask = create_bidirectional_mask(
            config=self.config, inputs_embeds=hidden_states, attention_mask=attention_mask, and_mask_function=packed
        )
        rotary = self.rotary_angles(position_ids, hidden_states)
        for index in self.layer_order:
            hidden_states = self.layers[index](
                hidden_states, attention_mask, position_ids=position_ids, position_embeddings=rotary, **kwargs
            )
        if self.final_layer_norm is not None:
            hidden_states = self.final_layer_norm(hidden_states)
        return BaseModelOutput(last_hidden_state=hidden_states)


class TobigsDecoder(TobigsStack):
    """N decoder layers: masked self-attention (+ cross-attention to the encoder) with a key/value cache.

    The decoder of an encoder-decoder model (`config.is_encoder_decoder`) always reads `encoder_hidden_states`; a
    decoder with cross-attention on its own (decoder-only with `add_cross_attention`, or an encoder-decoder config's
    decoder under `TobigsForCausalLM`) reads them when they are given, as the decoder of transformers'
    `EncoderDecoderModel`, and runs as a plain decoder without them."""

    _can_record_outputs = {
        "hidden_states": TobigsDecoderLayer,
        "attentions": OutputRecorder(MultiHeadAttention, index=1, layer_name="self_attn"),
        "cross_attentions": OutputRecorder(MultiHeadAttention, index=1, layer_name="cross_attn"),
    }

    def __init__(self, config: TobigsConfig):
        super().__init__(config)
        self.embeddings = TransformerEmbeddings(config)
        self.rotary = self.rotary_embedding(config.decoder_attention_heads)
        self.layers = nn.ModuleList([TobigsDecoderLayer(config, i) for i in range(config.decoder_layers)])
        # Transformer-XL with untie_r=False: one pair of global biases u, v for every layer.
        relative = config.position_embedding_type == "relative"
        self.global_bias = (
            GlobalBiases(config.decoder_attention_heads, config.d_model // config.decoder_attention_heads)
            if relative and not config.untie_r else None
        )
        self.final_layer_norm = (
            nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
            if config.normalize_before and config.final_layer_norm else None
        )
        # Transformer-XL also drops (in training) the relative encodings R, once per forward for every layer, and the
        # stack's output before the softmax, as the authors' MemTransformerLM (`self.drop(pos_emb)`,
        # `self.drop(core_out)`) and transformers 4.x's TransfoXLModel do.
        self.position_dropout = nn.Dropout(config.dropout) if relative else None
        self.output_dropout = nn.Dropout(config.dropout) if relative else None
        self.gradient_checkpointing = False
        self.post_init()

    @capture_outputs
    @accepts_past_key_values
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        mems: Memory | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> DecoderOutputWithMemory:
        """mems: Transformer-XL's memory of the previous segment(s), as the previous forward returned it (`memory.py`);
        the output's `mems` is the memory for the next segment (config.mem_len > 0)."""
        batch_size, seq_length, past_length, memory_length, prefix = check_decoder_inputs(
            self.config, input_ids, inputs_embeds, attention_mask, encoder_hidden_states, encoder_attention_mask,
            cache, mems, next(self.get_input_embeddings().parameters()).dtype,
        )
        if use_cache is None:
            use_cache = self.config.use_cache and not self.training
        if use_cache and cache is None:
            # With an encoder output, the cross-attention keys/values are cached too (computed once per source).
            cache = (
                EncoderDecoderCache(DynamicCache(config=self.config), DynamicCache(config=self.config))
                if encoder_hidden_states is not None
                else DynamicCache(config=self.config)
            )

        positions_given = position_ids is not None
        position_ids = stack_position_ids(
            self.config, input_ids, inputs_embeds, position_ids, attention_mask, past_length
        )
        hidden_states = self.embeddings(
            input_ids, inputs_embeds, position_ids, attention_mask=attention_mask, past_length=past_length,
            attention_mask_name=f"{prefix}attention_mask", positions_given=positions_given,
        )
        self_attention_cache = cache.self_attention_cache if isinstance(cache, EncoderDecoderCache) else cache
        packed = packed_sequences_mask(
            position_ids if positions_given else None, attention_mask, batch_size, self_attention_cache, past_length
        )
        check_relative_packing(self.config, packed)
        if self.config.position_embedding_type == "relative":
            # The relative attention masks by distance (i - j < 0 is the future) over memory + cache + segment; it
            # takes the 2-D padding mask as it is.
            causal_mask = attention_mask
            rotary = None
            distances = relative_positions(self.config, memory_length + int(past_length), seq_length,
                                           hidden_states.dtype, hidden_states.device, self.global_bias)
            if self.training and self.position_dropout.p > 0:
                # Drawn over the distances from the farthest to 0, the authors' row order, so that one seed drops
                # the same entries as their code (after the embeddings' dropout, as theirs).
                dropped = self.position_dropout(distances.encodings.flip(0)).flip(0)  # (D + 1, d_model)
                distances = distances._replace(encodings=dropped, dropped=True)
        elif sdpa_needs_no_mask(self.config, attention_mask, seq_length, self_attention_cache):
            causal_mask = None
            rotary, distances = self.rotary_angles(position_ids, hidden_states), None
        else:
            causal_mask = create_causal_mask(
                config=self.config, inputs_embeds=hidden_states, attention_mask=attention_mask,
                cache=self_attention_cache, and_mask_function=packed,
            )
            rotary, distances = self.rotary_angles(position_ids, hidden_states), None
        if encoder_hidden_states is not None and (encoder_attention_mask is not None
                                                  or self.config._attn_implementation != "sdpa"):
            encoder_attention_mask = create_bidirectional_mask(
                config=self.config,
                inputs_embeds=hidden_states,
                attention_mask=encoder_attention_mask,
                encoder_hidden_states=encoder_hidden_states,
            )
        new_mems = []
        for index, layer in enumerate(self.layers):
            memory = mems[index] if memory_length else None
            if self.config.mem_len:
                new_mems.append(update_memory(memory, hidden_states, self.config.mem_len))
            hidden_states = layer(
                hidden_states,
                causal_mask,
                encoder_hidden_states,  # positional, as gradient checkpointing requires
                encoder_attention_mask=encoder_attention_mask,
                position_ids=position_ids,
                position_embeddings=rotary,
                relative_positions=distances,
                cache=cache,
                use_cache=use_cache,
                memory=memory,
                **kwargs,
            )
        if self.final_layer_norm is not None:
            hidden_states = self.final_layer_norm(hidden_states)
        if self.output_dropout is not None:
            hidden_states = self.output_dropout(hidden_states)
        return DecoderOutputWithMemory(
            last_hidden_state=hidden_states, cache=cache if use_cache else None, mems=tuple(new_mems) or None
        )
