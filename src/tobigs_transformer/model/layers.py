"""Encoder and decoder layers (paper §3.1, Figure 1): sublayers wrapped in a residual connection and LayerNorm.

Encoder layer:  self-attention -> Add & Norm -> position-wise FFN -> Add & Norm
Decoder layer:  masked self-attention -> Add & Norm -> [cross-attention -> Add & Norm] -> FFN -> Add & Norm

`normalize_before` decides where the LayerNorm sits (see `add_and_norm`): after the residual addition as in the
paper ("post-LN", also GPT-1, BERT, BART) or before the sublayer ("pre-LN", GPT-2), which trains deeper stacks without
warm-up tricks and (GPT-2; not Transformer-XL's pre-LN, `config.final_layer_norm`) one final LayerNorm at the top of
the stack.
"""

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.utils.checkpoint
from torch import nn
from transformers.cache_utils import Cache
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.processing_utils import Unpack
from transformers.utils import TransformersKwargs

from .attention import MultiHeadAttention
from .configuration_tobigs import TobigsConfig
from .feed_forward import PositionwiseFeedForward
from .memory import projected_memory
from .relative_attention import RelativeMultiHeadAttention, RelativePositions


def residual_dropout(hidden_states: torch.Tensor, sublayer_output: torch.Tensor, dropout: nn.Dropout) -> torch.Tensor:
    """x + Dropout(y), the residual connection's sum.

    In training this calls `torch.native_dropout`, which keeps a one-byte mask for backward; `nn.Dropout` on CPU
    multiplies by a float32 mask and keeps that (4 bytes per element, one d_model-wide tensor per sublayer). Both
    draw the same Bernoulli numbers from the generator, so the output is the same bit for bit under the same seed."""
    if dropout.training and dropout.p > 0 and torch.is_grad_enabled():
        return hidden_states + torch.native_dropout(sublayer_output, dropout.p, True)[0]
    return hidden_states + dropout(sublayer_output)


def checkpointed(sublayer: Callable[[torch.Tensor], torch.Tensor], enabled: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    """`sublayer`, or (enabled, training with gradients) the same function recomputed in backward instead of keeping
    its activations (`config.activation_checkpointing`). torch's non-reentrant checkpoint restores the random
    generator's state before recomputing, so attention/activation dropout draws the same masks twice."""
    if not (enabled and torch.is_grad_enabled()):
        return sublayer
    return lambda x: torch.utils.checkpoint.checkpoint(sublayer, x, use_reentrant=False)


def add_and_norm(
    hidden_states: torch.Tensor,
    sublayer: Callable[[torch.Tensor], torch.Tensor],
    layer_norm: nn.LayerNorm,
    dropout: nn.Dropout,
    normalize_before: bool,
    checkpoint: bool = False,
) -> torch.Tensor:
    """The residual connection around one sublayer, with the LayerNorm where the config puts it; `checkpoint`
    recomputes the sublayer in backward (see `checkpointed`)."""
    sublayer = checkpointed(sublayer, checkpoint)
    if normalize_before:  # pre-LN (GPT-2): x + Dropout(Sublayer(LN(x)))
        return residual_dropout(hidden_states, sublayer(layer_norm(hidden_states)), dropout)
    # post-LN (paper §3.1): LN(x + Dropout(Sublayer(x)))
    return layer_norm(residual_dropout(hidden_states, sublayer(hidden_states), dropout))


def mark_residual_projections(num_layers: int, *projections: nn.Linear) -> None:
    """Tag the projections that write into the residual stream with the depth of their stack: GPT-2's initialisation
    (`config.scale_residual_init`) starts them with std / sqrt(2 * num_layers), see
    `TobigsPreTrainedModel._init_weights`. The tag sits on the Linear itself because transformers skips modules
    without parameters of their own (a layer) when it initialises a custom model."""
    for projection in projections:
        projection.residual_stack_layers = num_layers


ATTENTION_SUBLAYER = ("self_attn", "self_attn_layer_norm")
FFN_SUBLAYER = ("feed_forward", "ffn_layer_norm")


class LayerPlan(NamedTuple):
    """Which parameters the N layers of an encoder own (ALBERT's cross-layer sharing, Lan et al. 2020 §3.1).

    `num_layers` layer modules are built; the stack applies `order` (indices into them) bottom to top; each entry of
    `borrowed` is (layer, owner, sublayer names): that layer uses the owner's sublayers instead of its own."""

    num_layers: int
    order: list[int]
    borrowed: list[tuple[int, int, tuple[str, ...]]]


def layer_plan(config: TobigsConfig) -> LayerPlan:
    """The encoder's parameter sharing from `layer_sharing`, `layer_groups` and `inner_group_num`.

    Layer i belongs to group `int(i / (N / groups))` (transformers' ALBERT, also for N not divisible by groups).
    "all": one set of `inner_group_num` layers per group, applied in turn; "attention"/"ffn": every layer keeps the
    other sublayer and borrows the shared one from the first layer of its group; "none": N independent layers."""
    n, sharing = config.encoder_layers, config.layer_sharing
    if sharing == "none":
        return LayerPlan(n, list(range(n)), [])
    group_of = [int(i / (n / config.layer_groups)) for i in range(n)]
    if sharing == "all":
        inner = config.inner_group_num
        order = [group_of[i] * inner + j for i in range(n) for j in range(inner)]
        return LayerPlan(config.layer_groups * inner, order, [])
    names = ATTENTION_SUBLAYER if sharing == "attention" else FFN_SUBLAYER
    first_of_group: dict[int, int] = {}
    borrowed = []
    for i, group in enumerate(group_of):
        owner = first_of_group.setdefault(group, i)
        if owner != i:
            borrowed.append((i, owner, names))
    return LayerPlan(n, list(range(n)), borrowed)


class TobigsEncoderLayer(GradientCheckpointingLayer):
    """Self-attention over the whole input, then the position-wise FFN."""

    def __init__(self, config: TobigsConfig, layer_idx: int):
        super().__init__()
        self.normalize_before = config.normalize_before
        self.self_attn = MultiHeadAttention(config, config.encoder_attention_heads, layer_idx=layer_idx)
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.feed_forward = PositionwiseFeedForward(
            config.d_model, config.encoder_ffn_dim, config.activation_function, config.activation_dropout,
            recompute_activation=config.activation_checkpointing == "ffn_activation",
        )
        self.activation_checkpointing = config.activation_checkpointing
        self.ffn_layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)
        mark_residual_projections(config.encoder_layers, self.self_attn.out_proj, self.feed_forward.fc2)

    def borrow(self, owner: "TobigsEncoderLayer", names: tuple[str, ...]) -> None:
        """Use `owner`'s sublayers `names` instead of this layer's own (ALBERT's shared attention or FFN). They are
        referenced, not registered as children, so each shared tensor is trained, saved and loaded once, under the
        owner's name."""
        for name in names:
            delattr(self, name)
            object.__setattr__(self, name, getattr(owner, name))

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> torch.Tensor:
        what = self.activation_checkpointing if self.training else "none"
        if what == "layer" and torch.is_grad_enabled():
            return torch.utils.checkpoint.checkpoint(
                self._sublayers, hidden_states, attention_mask, position_ids, position_embeddings, "none",
                use_reentrant=False, **kwargs,
            )
        return self._sublayers(hidden_states, attention_mask, position_ids, position_embeddings, what, **kwargs)

    def _sublayers(self, hidden_states, attention_mask, position_ids, position_embeddings, what: str, **kwargs):
        hidden_states = add_and_norm(
            hidden_states,
            lambda x: self.self_attn(
                x, attention_mask=attention_mask, position_ids=position_ids, position_embeddings=position_embeddings,
                **kwargs,
            )[0],
            self.self_attn_layer_norm,
            self.dropout,
            self.normalize_before,
            checkpoint=what == "attention",
        )
        return add_and_norm(hidden_states, self.feed_forward, self.ffn_layer_norm, self.dropout, self.normalize_before,
                            checkpoint=what == "ffn")


class TobigsDecoderLayer(GradientCheckpointingLayer):
    """Masked self-attention, cross-attention over the encoder output, then the FFN.

    The cross-attention sublayer exists in an encoder-decoder's decoder and in a decoder-only model with
    `add_cross_attention` (`config.has_cross_attention`); it runs when `encoder_hidden_states` are given and is
    skipped otherwise (a decoder with cross-attention used alone, as transformers' GPT-2 and BartForCausalLM)."""

    def __init__(self, config: TobigsConfig, layer_idx: int):
        super().__init__()
        self.normalize_before = config.normalize_before
        heads = config.decoder_attention_heads
        if config.position_embedding_type == "relative":  # Transformer-XL: the four-term scores, over memory too
            self.self_attn = RelativeMultiHeadAttention(config, heads, layer_idx=layer_idx)
        else:
            self.self_attn = MultiHeadAttention(config, heads, is_causal=True, layer_idx=layer_idx)
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        if config.has_cross_attention:
            self.cross_attn = MultiHeadAttention(config, heads, is_cross_attention=True, layer_idx=layer_idx)
            self.cross_attn_layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        else:
            self.cross_attn = None
        self.feed_forward = PositionwiseFeedForward(
            config.d_model, config.decoder_ffn_dim, config.activation_function, config.activation_dropout,
            recompute_activation=config.activation_checkpointing == "ffn_activation",
        )
        self.activation_checkpointing = config.activation_checkpointing
        self.ffn_layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)
        residual = [self.self_attn.out_proj, self.feed_forward.fc2]
        if self.cross_attn is not None:
            residual.append(self.cross_attn.out_proj)
        mark_residual_projections(config.decoder_layers, *residual)

    def project_memory(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Transformer-XL: the keys and values of this layer's memory (its input over the previous segments)."""
        return self.self_attn.project_memory(self.self_attn_layer_norm(memory) if self.normalize_before else memory)

    @property
    def memory_parameters(self) -> tuple[torch.Tensor, ...]:
        """What `project_memory` reads, so that a kept projection is refreshed when any of them changes."""
        parameters = [self.self_attn.qkv_proj.weight, self.self_attn.qkv_proj.bias]
        if self.normalize_before:
            parameters += [self.self_attn_layer_norm.weight, self.self_attn_layer_norm.bias]
        return tuple(p for p in parameters if p is not None)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
        relative_positions: RelativePositions | None = None,
        cache: Cache | None = None,
        use_cache: bool | None = None,
        memory: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> torch.Tensor:
        """memory: Transformer-XL's (B, M, d_model) input of this layer over the previous segment(s), attended to
        with the current segment; position_embeddings: rotary (cos, sin); relative_positions: Transformer-XL's
        distances (the stack's `RelativePositions`), read by its relative self-attention only."""
        # A cache is updated by the forward pass: recomputing it would append the keys/values twice.
        what = self.activation_checkpointing if self.training and cache is None else "none"
        if what == "layer" and torch.is_grad_enabled():
            return torch.utils.checkpoint.checkpoint(
                self._sublayers, hidden_states, attention_mask, encoder_hidden_states, encoder_attention_mask,
                position_ids, position_embeddings, relative_positions, cache, memory, "none", use_reentrant=False,
                **kwargs,
            )
        return self._sublayers(hidden_states, attention_mask, encoder_hidden_states, encoder_attention_mask,
                               position_ids, position_embeddings, relative_positions, cache, memory, what, **kwargs)

    def _sublayers(self, hidden_states, attention_mask, encoder_hidden_states, encoder_attention_mask, position_ids,
                   position_embeddings, relative_positions, cache, memory, what: str, **kwargs):
        if relative_positions is not None:
            kwargs["relative_positions"] = relative_positions
        if memory is not None:
            # The memory is this layer's input: pre-LN normalizes it like the current input before the projections.
            # Its keys and values are kept with the cache while the memory stays the same (generate's fixed context).
            kwargs["memory_key_value"] = projected_memory(
                cache, self.self_attn.layer_idx, memory, self.project_memory, self.memory_parameters
            )
        hidden_states = add_and_norm(
            hidden_states,
            lambda x: self.self_attn(
                x, attention_mask=attention_mask, position_ids=position_ids, position_embeddings=position_embeddings,
                cache=cache, **kwargs,
            )[0],
            self.self_attn_layer_norm,
            self.dropout,
            self.normalize_before,
            checkpoint=what == "attention",
        )
        if self.cross_attn is not None and encoder_hidden_states is not None:
            hidden_states = add_and_norm(
                hidden_states,
                lambda x: self.cross_attn(
                    x, key_value_states=encoder_hidden_states, attention_mask=encoder_attention_mask, cache=cache,
                    **kwargs,
                )[0],
                self.cross_attn_layer_norm,
                self.dropout,
                self.normalize_before,
                checkpoint=what == "attention",
            )
        return add_and_norm(hidden_states, self.feed_forward, self.ffn_layer_norm, self.dropout, self.normalize_before,
                            checkpoint=what == "ffn")
