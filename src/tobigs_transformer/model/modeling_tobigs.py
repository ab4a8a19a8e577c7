"""The models users load: the bare stacks and one class per task, for every family of the lecture.

Where Figure 1 of "Attention Is All You Need" lives in this package:

    Input/Output Embedding, ×√d_model ........ embeddings.py            TransformerEmbeddings
    Positional Encoding (sin/cos, learned) ... positional_encoding.py   SinusoidalPositionalEncoding, Learned...
    Multi-Head Attention (Eq. 1, §3.2) ........ attention.py             scaled_dot_product_attention, MultiHeadAttention
    Masked Multi-Head Attention .............. attention.py (is_causal=True) + the look-ahead mask in stacks.py
    Feed Forward (Eq. 2) ..................... feed_forward.py          PositionwiseFeedForward
    Add & Norm (post-LN / pre-LN) ............ layers.py                add_and_norm
    Encoder layer / Decoder layer ............ layers.py                TobigsEncoderLayer, TobigsDecoderLayer
    N× stacks ................................ stacks.py                TobigsEncoder, TobigsDecoder
    Linear + Softmax ......................... this file                lm_head of the generating models

`TobigsConfig.architecture` picks the stacks: both (original Transformer, BART), the decoder alone (GPT) or the
encoder alone (BERT). Each task class below says which architectures it takes.
"""

import copy
import os
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn
from transformers.cache_utils import Cache
from transformers.modeling_outputs import (
    BaseModelOutput,
    BaseModelOutputWithPoolingAndCrossAttentions,
    MaskedLMOutput,
    ModelOutput,
    MultipleChoiceModelOutput,
    NextSentencePredictorOutput,
    QuestionAnsweringModelOutput,
    Seq2SeqLMOutput,
    Seq2SeqModelOutput,
    Seq2SeqSequenceClassifierOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from transformers.processing_utils import Unpack
from transformers.utils import TransformersKwargs, can_return_tuple

from .adaptive import ProjectedAdaptiveLogSoftmax, adaptive_tied_weights
from .configuration_tobigs import TobigsConfig
from .generation_tobigs import TobigsGenerationMixin
from .heads import TobigsClassificationHead, TobigsDiscriminatorHead, TobigsMaskedLMHead, TobigsPooler
from .losses import check_targets, next_token_targets, token_cross_entropy
from .memory import BaseModelOutputWithPastAndMemory, CausalLMOutputWithMemory, Memory
from .pretrained import TobigsPreTrainedModel
from .stacks import TobigsDecoder, TobigsEncoder, accepts_past_key_values

ENCODER_DECODER, DECODER_ONLY, ENCODER_ONLY = "encoder-decoder", "decoder-only", "encoder-only"


def shift_tokens_right(labels: torch.Tensor, pad_token_id: int | None, decoder_start_token_id: int | None) -> torch.Tensor:
    """Teacher forcing: the decoder reads the target shifted one step right behind `decoder_start_token_id`;
    ignored labels (-100) become padding."""
    if decoder_start_token_id is None:
        raise ValueError("config.decoder_start_token_id must be set to build decoder_input_ids from labels")
    if pad_token_id is None:
        raise ValueError("config.pad_token_id must be set to build decoder_input_ids from labels")
    # A roll rather than a copy of `labels[:, :-1]` into `shifted[:, 1:]`: under torch.export a slice of length
    # (dynamic length - 1) guards the length away from 1 and 2, so a 1- or 2-token input could not run the program.
    shifted = labels.roll(1, dims=1)  # (B, T); the last label wraps round to position 0, replaced here
    first = torch.arange(labels.shape[1], device=labels.device) == 0  # (T,)
    shifted = shifted.masked_fill(first, decoder_start_token_id)
    return shifted.masked_fill(shifted == -100, pad_token_id)


def check_labels(labels: torch.Tensor | None, expected: tuple, what: str, limit: int | None = None,
                 limit_name: str | None = None, name: str = "labels") -> None:
    """Labels must have the shape of what they label and (with `limit`) integer values in [0, limit) or -100."""
    if labels is None:
        return
    if tuple(labels.shape) != tuple(expected):
        raise ValueError(f"{name} have shape {tuple(labels.shape)} but {what} needs {tuple(expected)}")
    if limit is not None:
        check_targets(labels, limit, limit_name, name)


def last_token_index(input_ids: torch.Tensor | None, batch_size: int, seq_length: int, token_id: int | None,
                     device: torch.device, match: bool) -> torch.Tensor:
    """Per row, the last position whose id is (match=True) or is not (match=False) `token_id`; the last position
    when ids are not available. Works with left and right padding and without data-dependent Python branches."""
    if input_ids is None or token_id is None:
        return torch.full((batch_size,), seq_length - 1, device=device)
    hits = (input_ids == token_id) if match else (input_ids != token_id)
    positions = torch.arange(seq_length, device=device)
    return (positions * hits).argmax(-1)


# Where a saved encoder-decoder model with tied embeddings keeps the shared embedding (once, under the encoder's name).
# Where a causal LM's adaptive input lives (its tied parameters are named from here).
ADAPTIVE_INPUT = "model.decoder.embeddings.word_embeddings"
SHARED_EMBEDDING_PATTERN = r"^model\.encoder\.embeddings\.word_embeddings\.weight$"
# The `from_pretrained` arguments that say where a config is read from.
HUB_KWARGS = ("cache_dir", "force_download", "proxies", "token", "revision", "local_files_only", "subfolder")


def decoder_alone(config: TobigsConfig) -> TobigsConfig:
    """The config of an encoder-decoder config's decoder used on its own (transformers' `BartForCausalLM`): a copy
    that is not `is_encoder_decoder`, so that `generate()` and the stacks treat the model as decoder-only, while
    `architecture` still says which layers it has (cross-attention included). Other configs are returned as they
    are. Saved and reloaded, the config is an encoder-decoder one again until a causal LM copies it here."""
    if config.architecture != ENCODER_DECODER or not config.is_encoder_decoder:
        return config
    config = copy.deepcopy(config)
    config.is_encoder_decoder = False
    config.is_decoder = True  # transformers' flag for a model that decodes causally
    return config


def is_decoder_alone(config: TobigsConfig) -> bool:
    return config.architecture == ENCODER_DECODER and not config.is_encoder_decoder


@dataclass
class BaseModelOutputWithMemoryAndCrossAttentions(BaseModelOutputWithPastAndMemory):
    r"""cross_attentions: a decoder with cross-attention given `encoder_hidden_states` (with `output_attentions`):
    one (batch, heads, target length, source length) tensor per layer."""

    cross_attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class CausalLMOutputWithMemoryAndCrossAttentions(CausalLMOutputWithMemory):
    r"""cross_attentions: as `BaseModelOutputWithMemoryAndCrossAttentions` (transformers' `EncoderDecoderModel` reads
    them from its decoder)."""

    cross_attentions: tuple[torch.FloatTensor, ...] | None = None


def run_backbone(head: TobigsPreTrainedModel, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                 **kwargs) -> ModelOutput:
    """The stacks under a scoring head (classification, tagging, QA): the head reads the hidden states once, so no
    key/value cache is built whatever the architecture (an encoder-only model has none to build)."""
    kwargs["use_cache"] = False
    return head.model(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds=inputs_embeds, **kwargs)


class TobigsModel(TobigsPreTrainedModel):
    """The bare stacks, returning hidden states: encoder and decoder, decoder only, or encoder only (with BERT's
    pooler unless `add_pooling_layer=False`, or `config.add_pooling_layer=False` when the argument is not given).

    Attention masks are (batch, length) with 1 for a token and 0 for padding, in any dtype; other values raise a
    ValueError (they would shift positions), see `stacks.py`. The cache is passed as `cache` (`past_key_values` is
    accepted with a FutureWarning).

    A decoder without an encoder of its own (decoder-only with `add_cross_attention`, or an encoder-decoder config's
    decoder alone, see `decoder_alone`) takes another model's output as `encoder_hidden_states` (and its padding as
    `encoder_attention_mask`), as the decoder of transformers' `EncoderDecoderModel`."""

    def __init__(self, config: TobigsConfig, add_pooling_layer: bool | None = None):
        super().__init__(config)
        self.encoder = TobigsEncoder(config) if config.has_encoder and not is_decoder_alone(config) else None
        self.decoder = TobigsDecoder(config) if config.has_decoder else None
        if add_pooling_layer is None:  # the config says (ELECTRA's encoder has no pooler), so a reload agrees
            add_pooling_layer = config.add_pooling_layer
        self.pooler = TobigsPooler(config) if add_pooling_layer and config.architecture == ENCODER_ONLY else None
        if self.encoder is not None and self.decoder is not None:
            # Paper §3.4: one embedding matrix for source and target (and the output projection, see the heads).
            self._tied_weights_keys = {
                "decoder.embeddings.word_embeddings.weight": "encoder.embeddings.word_embeddings.weight"
            }
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return (self.encoder or self.decoder).get_input_embeddings()

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        if self.encoder is not None:
            self.encoder.set_input_embeddings(value)
        if self.decoder is not None:
            if self.encoder is not None and not self.config.tie_word_embeddings:
                # Untied source and target embeddings are resized separately, to the same vocabulary.
                value = self._get_resized_embeddings(self.decoder.get_input_embeddings(), value.num_embeddings)
            self.decoder.set_input_embeddings(value)

    @can_return_tuple
    @accepts_past_key_values
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        decoder_position_ids: torch.LongTensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        mems: Memory | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> (Seq2SeqModelOutput | BaseModelOutputWithMemoryAndCrossAttentions
          | BaseModelOutputWithPoolingAndCrossAttentions):
        r"""
        mems: Transformer-XL's memory (decoder-only, `config.mem_len > 0`): the `mems` a previous forward returned,
            one (batch, length, d_model) tensor per layer; None starts without memory.
        encoder_hidden_states: (batch, source length, d_model) output of another model's encoder for the
            cross-attention of a decoder without an encoder of its own (`add_cross_attention=True`, or the decoder
            alone of an encoder-decoder config); `encoder_attention_mask`: its (batch, source length) padding mask.
        """
        seq2seq = self.encoder is not None and self.decoder is not None
        kind = ("the decoder alone of an encoder-decoder config" if is_decoder_alone(self.config)
                else repr(self.config.architecture))
        if not seq2seq:
            given = [n for n, v in [("decoder_input_ids", decoder_input_ids), ("encoder_outputs", encoder_outputs),
                                    ("decoder_inputs_embeds", decoder_inputs_embeds)] if v is not None]
            if given:
                raise ValueError(f"{', '.join(given)} only apply to encoder-decoder models, not {kind}")
        if self.encoder is not None and (encoder_hidden_states is not None or encoder_attention_mask is not None):
            raise ValueError(
                f"encoder_hidden_states/encoder_attention_mask are the input of a decoder without an encoder of its "
                f"own, not of {kind}: an encoder-decoder model encodes input_ids (or takes encoder_outputs)"
            )
        if mems is not None and self.config.architecture != DECODER_ONLY:
            raise ValueError(f"mems (Transformer-XL's memory) apply to decoder-only models, not {kind}")
        if self.decoder is None:
            return self._encoder_only_forward(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                                              cache, **kwargs)
        if self.encoder is None:
            return self._decoder_only_forward(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                                              cache, use_cache, mems, encoder_hidden_states, encoder_attention_mask,
                                              **kwargs)
        return self._encoder_decoder_forward(
            input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, decoder_input_ids,
            decoder_attention_mask, decoder_position_ids, decoder_inputs_embeds, encoder_outputs, cache, use_cache,
            **kwargs,
        )

    def _encoder_only_forward(self, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, cache,
                              **kwargs) -> BaseModelOutputWithPoolingAndCrossAttentions:
        """BERT: the encoder alone, and the pooled first token."""
        if cache is not None:
            raise ValueError("an encoder-only model keeps no cache")
        outputs = self.encoder(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, **kwargs)
        pooled = self.pooler(outputs.last_hidden_state) if self.pooler is not None else None
        return BaseModelOutputWithPoolingAndCrossAttentions(
            last_hidden_state=outputs.last_hidden_state,
            pooler_output=pooled,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )

    def _decoder_only_forward(self, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, cache,
                              use_cache, mems, encoder_hidden_states, encoder_attention_mask,
                              **kwargs) -> BaseModelOutputWithMemoryAndCrossAttentions:
        """GPT: the decoder alone, masked self-attention with a key/value cache (and, for Transformer-XL, the memory
        of the previous segments; with cross-attention, another model's encoder output)."""
        if token_type_ids is not None:
            raise ValueError("token_type_ids apply to encoder-only (BERT-style) models only")
        outputs = self.decoder(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                               encoder_hidden_states=encoder_hidden_states,
                               encoder_attention_mask=encoder_attention_mask, cache=cache,
                               inputs_embeds=inputs_embeds, use_cache=use_cache, mems=mems, **kwargs)
        return BaseModelOutputWithMemoryAndCrossAttentions(
            last_hidden_state=outputs.last_hidden_state,
            cache=outputs.cache,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            mems=outputs.mems,
            cross_attentions=outputs.cross_attentions,
        )

    def _encoder_decoder_forward(self, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                                 decoder_input_ids, decoder_attention_mask, decoder_position_ids,
                                 decoder_inputs_embeds, encoder_outputs, cache, use_cache,
                                 **kwargs) -> Seq2SeqModelOutput:
        """Figure 1: encode the source once, then decode with cross-attention to it."""
        if encoder_outputs is None and input_ids is None and inputs_embeds is None:
            raise ValueError(
                "an encoder-decoder model needs the source (input_ids or inputs_embeds) or encoder_outputs; "
                "decoder_input_ids alone have no encoder output to attend to"
            )
        if decoder_input_ids is None and decoder_inputs_embeds is None:
            if input_ids is None:
                raise ValueError("pass decoder_input_ids (or labels) together with encoder_outputs")
            # As BART: denoising pre-training reconstructs the input, so the decoder reads it shifted right.
            decoder_input_ids = shift_tokens_right(
                input_ids, self.config.pad_token_id, self.config.decoder_start_token_id
            )
        if encoder_outputs is None:
            encoder_outputs = self.encoder(
                input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, **kwargs
            )
        elif not isinstance(encoder_outputs, BaseModelOutput):
            encoder_outputs = BaseModelOutput(
                last_hidden_state=encoder_outputs[0],
                hidden_states=encoder_outputs[1] if len(encoder_outputs) > 1 else None,
                attentions=encoder_outputs[2] if len(encoder_outputs) > 2 else None,
            )
        decoder_outputs = self.decoder(
            input_ids=decoder_input_ids,
            attention_mask=decoder_attention_mask,
            position_ids=decoder_position_ids,
            encoder_hidden_states=encoder_outputs.last_hidden_state,
            encoder_attention_mask=attention_mask,
            cache=cache,
            inputs_embeds=decoder_inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )
        return Seq2SeqModelOutput(
            last_hidden_state=decoder_outputs.last_hidden_state,
            cache=decoder_outputs.cache,
            decoder_hidden_states=decoder_outputs.hidden_states,
            decoder_attentions=decoder_outputs.attentions,
            cross_attentions=decoder_outputs.cross_attentions,
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_hidden_states=encoder_outputs.hidden_states,
            encoder_attentions=encoder_outputs.attentions,
        )


# ---------------------------------------------------------------------------------------------------------------
# Generating models: the paper's "Linear + Softmax" on top of the decoder.
# ---------------------------------------------------------------------------------------------------------------


class TobigsForConditionalGeneration(TobigsPreTrainedModel, TobigsGenerationMixin):
    """Encoder-decoder with a language-model head: translation (original Transformer), denoising/summarisation (BART).

    With `labels`, `decoder_input_ids` are the labels shifted right and the loss is the (label-smoothed) cross-entropy.
    """

    supported_architectures = (ENCODER_DECODER,)
    loss_kind = "seq2seq_lm"
    _tied_weights_keys = {"lm_head.weight": "model.encoder.embeddings.word_embeddings.weight"}

    def __init__(self, config: TobigsConfig):
        super().__init__(config)
        self.model = TobigsModel(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=config.lm_head_bias)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.lm_head = value

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        return shift_tokens_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)

    @can_return_tuple
    @accepts_past_key_values
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        decoder_position_ids: torch.LongTensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        return_logits: bool | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> Seq2SeqLMOutput:
        r"""
        return_logits: with `labels`, whether to build the (batch, length, vocab) logits; by default only in eval
            mode: in training mode with `config.loss_chunk_size > 0` the loss is computed chunk by chunk with the
            output projection fused in and `logits` is None (see `TobigsPreTrainedModel.uses_chunked_loss`).
            With `config.adaptive_softmax`, `logits` are log-probabilities over the whole vocabulary, float32 (as
            transformers 4.x TransfoXL's `prediction_scores`): a softmax over them is the model's distribution
            again, so generate (greedy, sampling, beam search) and pipeline("text-generation") use them unchanged.
            In training mode its loss is computed per cluster (and per chunk with `loss_chunk_size > 0`), never
            from them, even with `loss_chunk_size=0`.
        mems: Transformer-XL (`config.mem_len > 0`): the `mems` of the forward over the previous segment of the same
            streams (row b continues row b); the output's `mems` is the memory for the next one. None: no memory.
            In `generate(..., mems=mems)` it is the context before the prompt (kept fixed; the cache holds the rest).
        """
        if labels is not None:
            use_cache = False
            target = decoder_input_ids if decoder_input_ids is not None else decoder_inputs_embeds
            check_labels(labels, labels.shape if target is None else target.shape[:2],
                         "the decoder input (batch, target length)", self.config.vocab_size, "vocab_size")
            if decoder_input_ids is None and decoder_inputs_embeds is None:
                decoder_input_ids = self.prepare_decoder_input_ids_from_labels(labels)
        outputs = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            decoder_input_ids=decoder_input_ids,
            decoder_attention_mask=decoder_attention_mask,
            decoder_position_ids=decoder_position_ids,
            encoder_outputs=encoder_outputs,
            cache=cache,
            inputs_embeds=inputs_embeds,
            decoder_inputs_embeds=decoder_inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )
        loss, logits = self.loss_or_logits(
            outputs.last_hidden_state, self.lm_head, labels,
            lambda: self.chunked_lm_loss(outputs.last_hidden_state, self.lm_head, labels, **kwargs),
            lambda logits: self.loss_function(logits, labels, self.config.vocab_size, **kwargs),
            return_logits, logits_to_keep,
        )
        return Seq2SeqLMOutput(
            loss=loss,
            logits=logits,
            cache=outputs.cache,
            decoder_hidden_states=outputs.decoder_hidden_states,
            decoder_attentions=outputs.decoder_attentions,
            cross_attentions=outputs.cross_attentions,
            encoder_last_hidden_state=outputs.encoder_last_hidden_state,
            encoder_hidden_states=outputs.encoder_hidden_states,
            encoder_attentions=outputs.encoder_attentions,
        )


class TobigsForCausalLM(TobigsPreTrainedModel, TobigsGenerationMixin):
    """Decoder-only language model (GPT): predicts every next token; `labels` are the inputs (shifted inside).

    Over an encoder-decoder config it is that config's decoder stack alone with the LM head, no encoder
    (transformers' `BartForCausalLM`; `decoder_alone`): it loads the decoder of a saved encoder-decoder model, and
    its cross-attention reads `encoder_hidden_states` when they are given. With those, or over a decoder-only config
    with `add_cross_attention=True` (GPT-2's "BERT2GPT"), it is the decoder of transformers' `EncoderDecoderModel`.

    With `config.adaptive_softmax` (and/or `adaptive_input`, `adaptive.py`) the head is Transformer-XL's adaptive
    softmax and `logits` are log-probabilities over the whole vocabulary, float32, with or without labels (as
    transformers 4.x TransfoXL's `prediction_scores`): a softmax over them gives the same distribution back, so
    generate (greedy, sampling, beam search) and pipeline("text-generation") work unchanged."""

    supported_architectures = (DECODER_ONLY, ENCODER_DECODER)
    loss_kind = "causal_lm"
    _tied_weights_keys = {"lm_head.weight": "model.decoder.embeddings.word_embeddings.weight"}
    # The decoder alone of a saved encoder-decoder model: its encoder is left behind on purpose.
    _keys_to_ignore_on_load_unexpected = [r"^model\.encoder\."]

    def __init__(self, config: TobigsConfig):
        config = decoder_alone(config)
        super().__init__(config)
        self.model = TobigsModel(config)
        if config.adaptive_softmax:
            # Log-probabilities over the vocabulary from per-cluster softmaxes (`adaptive.py`).
            self.lm_head = ProjectedAdaptiveLogSoftmax(config.vocab_size, config.embedding_size or config.d_model,
                                                       config.d_model, config.cutoffs, config.div_val)
        else:
            self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=config.lm_head_bias)
        if config.uses_adaptive:
            # Per cluster instead of one matrix (and saved once, under the adaptive input's names).
            self._tied_weights_keys = adaptive_tied_weights(config, "lm_head", ADAPTIVE_INPUT)
        self.post_init()

    def get_expanded_tied_weights_keys(self, all_submodels: bool = False) -> dict:
        """transformers' tied keys; with adaptive input and softmax the authors' ties, whose projections
        (`tie_projs`) are tied whatever `tie_word_embeddings` says (transformers would drop every tie without it)."""
        if all_submodels or not self.config.uses_adaptive:
            return super().get_expanded_tied_weights_keys(all_submodels)
        return adaptive_tied_weights(self.config, "lm_head", ADAPTIVE_INPUT)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """transformers' `from_pretrained`; from a saved encoder-decoder model with tied embeddings, whose file holds
        the shared embedding once under the encoder's name, the decoder alone reads it from there."""
        config = kwargs.get("config")
        if config is None or isinstance(config, (str, os.PathLike)):
            hub = {k: kwargs[k] for k in HUB_KWARGS if k in kwargs}
            config = TobigsConfig.from_pretrained(config or pretrained_model_name_or_path, **hub)
        # By model_type, not isinstance: loaded as remote code, the config and the model may come from two copies of
        # configuration_tobigs.py (transformers caches each file under its own hash).
        rename = (getattr(config, "model_type", None) == TobigsConfig.model_type
                  and config.architecture == ENCODER_DECODER
                  and config.tie_word_embeddings and "key_mapping" not in kwargs)
        if rename:
            kwargs["key_mapping"] = {SHARED_EMBEDDING_PATTERN: "model.decoder.embeddings.word_embeddings.weight"}
        loaded = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded  # (model, loading info) with output_loading_info
        if rename and getattr(model, "_weight_conversions", None):
            # A reading aid, not this model's layout: save_pretrained would otherwise undo it and write the decoder's
            # embedding under the encoder's name.
            model._weight_conversions = [conversion for conversion in model._weight_conversions
                                         if SHARED_EMBEDDING_PATTERN not in getattr(conversion, "source_patterns", ())]
        return loaded

    def get_output_embeddings(self) -> nn.Linear | None:
        """The output projection; None with `adaptive_softmax` (per-cluster layers, no one matrix to resize)."""
        return None if self.config.adaptive_softmax else self.lm_head

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.lm_head = value

    @can_return_tuple
    @accepts_past_key_values
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        return_logits: bool | None = None,
        mems: Memory | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> CausalLMOutputWithMemoryAndCrossAttentions:
        r"""
        labels: (batch, length) targets in input order, usually the input ids themselves (-100 = no target); the
            model shifts them, so position t is scored against `labels[t + 1]` and the last position gets no target.
        shift_labels: (batch, length) targets already shifted, as transformers' `ForCausalLMLoss` takes them (the
            Trainer passes them under context/sequence parallelism): position t is scored against
            `shift_labels[t]` and nothing is shifted again; `labels` may then be None and, if given, is not used by
            the loss. This is how every position of a block is trained, the last one included: pass the token that
            follows each position, e.g. `torch.cat([input_ids[:, 1:], next_tokens[:, None]], dim=1)`.
            A keyword read from `kwargs`, as on transformers' own causal LMs: a named parameter with "label" in its
            name would make the Trainer's `find_labels` expect it in every evaluation batch and skip
            `compute_metrics` whenever it is missing.
        return_logits: with labels, whether to build the (batch, length, vocab) logits; by default only in eval
            mode: in training mode with `config.loss_chunk_size > 0` the loss is computed chunk by chunk with the
            output projection fused in and `logits` is None (see `TobigsPreTrainedModel.uses_chunked_loss`).
            With `config.adaptive_softmax`, `logits` are log-probabilities over the whole vocabulary, float32 (as
            transformers 4.x TransfoXL's `prediction_scores`): a softmax over them is the model's distribution
            again, so generate (greedy, sampling, beam search) and pipeline("text-generation") use them unchanged.
            In training mode its loss is computed per cluster (and per chunk with `loss_chunk_size > 0`), never
            from them, even with `loss_chunk_size=0`.
        mems: Transformer-XL (`config.mem_len > 0`): the `mems` of the forward over the previous segment of the same
            streams (row b continues row b); the output's `mems` is the memory for the next one. None: no memory.
            In `generate(..., mems=mems)` it is the context before the prompt (kept fixed; the cache holds the rest).
        encoder_hidden_states: (batch, source length, d_model) encoder output for the cross-attention (a decoder
            with `add_cross_attention=True` or over an encoder-decoder config); `encoder_attention_mask`: its
            (batch, source length) padding mask. transformers' `EncoderDecoderModel` passes both.
        """
        shift_labels = kwargs.pop("shift_labels", None)
        inputs = input_ids if input_ids is not None else inputs_embeds
        for name, targets in (("labels", labels), ("shift_labels", shift_labels)):
            if targets is not None:
                check_labels(targets, targets.shape if inputs is None else inputs.shape[:2],
                             "input_ids (batch, length)", self.config.vocab_size, "vocab_size", name)
        outputs = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            mems=mems,
            encoder_hidden_states=encoder_hidden_states,
            encoder_attention_mask=encoder_attention_mask,
            **kwargs,
        )
        loss, logits = self.loss_or_logits(
            outputs.last_hidden_state, self.lm_head, labels if labels is not None else shift_labels,
            lambda: self.chunked_lm_loss(
                outputs.last_hidden_state, self.lm_head,
                next_token_targets(labels, shift_labels, kwargs.get("ignore_index", -100)), **kwargs,
            ),
            lambda logits: self.loss_function(logits, labels, self.config.vocab_size, shift_labels=shift_labels,
                                              **kwargs),
            return_logits, logits_to_keep,
        )
        return CausalLMOutputWithMemoryAndCrossAttentions(
            loss=loss, logits=logits, cache=outputs.cache, hidden_states=outputs.hidden_states,
            attentions=outputs.attentions, mems=outputs.mems, cross_attentions=outputs.cross_attentions,
        )

    def prepare_inputs_for_generation(self, input_ids: torch.LongTensor, *args,
                                      inputs_embeds: torch.Tensor | None = None, mems: Memory | None = None,
                                      **kwargs) -> dict:
        """transformers' preparation, plus Transformer-XL's memory: given once per prompt, repeated for the beams
        and returned sequences of that prompt (they share its context); it stays fixed while the cache grows.
        `inputs_embeds` is named so that generate (and its tests) see that a prompt may be given as embeddings."""
        model_inputs = super().prepare_inputs_for_generation(input_ids, *args, inputs_embeds=inputs_embeds, **kwargs)
        if mems is not None:
            copies = input_ids.shape[0] // mems[0].shape[0]
            model_inputs["mems"] = tuple(m.repeat_interleave(copies, dim=0) for m in mems) if copies > 1 else mems
        return model_inputs


# ---------------------------------------------------------------------------------------------------------------
# BERT-style pre-training heads (encoder only).
# ---------------------------------------------------------------------------------------------------------------


class TobigsForMaskedLM(TobigsPreTrainedModel):
    """Masked language model (BERT/RoBERTa): predicts the original token at every position whose label is not -100."""

    supported_architectures = (ENCODER_ONLY,)
    loss_kind = "masked_lm"
    _tied_weights_keys = {"lm_head.decoder.weight": "model.encoder.embeddings.word_embeddings.weight"}

    def __init__(self, config: TobigsConfig):
        super().__init__(config)
        self.model = TobigsModel(config, add_pooling_layer=False)
        self.lm_head = TobigsMaskedLMHead(config)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head.decoder

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.lm_head.decoder = value

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        return_logits: bool | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> MaskedLMOutput:
        r"""
        return_logits: with `labels`, whether to build the (batch, length, vocab) logits; by default only in eval
            mode: in training mode with `config.loss_chunk_size > 0` the loss is computed chunk by chunk, over the
            masked positions only, and `logits` is None (see `TobigsPreTrainedModel.uses_chunked_loss`).
        """
        outputs = self.model(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds=inputs_embeds,
                             **kwargs)
        hidden_states = outputs.last_hidden_state  # (B, T, d_model)
        if labels is not None:
            check_labels(labels, hidden_states.shape[:2], "the input (batch, length)", self.config.vocab_size,
                         "vocab_size")
        loss, logits = self.loss_or_logits(
            hidden_states, self.lm_head, labels,
            lambda: self.lm_head.chunked_loss(hidden_states, labels, partial(self.chunked_lm_loss, **kwargs),
                                              kwargs.get("ignore_index", -100)),
            lambda logits: self.loss_function(logits, labels, self.config.vocab_size, **kwargs),
            return_logits,
        )
        return MaskedLMOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                              attentions=outputs.attentions)


@dataclass
class TobigsForPreTrainingOutput(ModelOutput):
    """Outputs of `TobigsForPreTraining`: MLM logits and NSP logits (names as transformers' BERT)."""

    loss: torch.FloatTensor | None = None
    prediction_logits: torch.FloatTensor | None = None
    seq_relationship_logits: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


class TobigsForPreTraining(TobigsPreTrainedModel):
    """BERT pre-training: masked LM + next sentence prediction (`next_sentence_label` 0 = B follows A, 1 = random B);
    ALBERT's sentence-order prediction is the same two-way head (`sentence_order_label` 0 = in order, 1 = swapped).

    The loss is the sum of the two means, as in BERT; the Trainer therefore passes no token count
    (`accepts_loss_kwargs = False`)."""

    supported_architectures = (ENCODER_ONLY,)
    loss_kind = "masked_lm"
    accepts_loss_kwargs = False
    _tied_weights_keys = {"lm_head.decoder.weight": "model.encoder.embeddings.word_embeddings.weight"}

    def __init__(self, config: TobigsConfig):
        super().__init__(config)
        self.model = TobigsModel(config, add_pooling_layer=True)
        self.lm_head = TobigsMaskedLMHead(config)
        self.next_sentence_head = nn.Linear(config.d_model, 2)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head.decoder

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.lm_head.decoder = value

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        next_sentence_label: torch.LongTensor | None = None,
        return_logits: bool | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> TobigsForPreTrainingOutput:
        r"""
        return_logits: with `labels`, whether to build the (batch, length, vocab) MLM logits; by default only in eval
            mode: in training mode with `config.loss_chunk_size > 0` the MLM loss is computed chunk by chunk, over
            the masked positions only, and `prediction_logits` is None (the NSP logits are always returned).
        sentence_order_label: ALBERT's sentence-order prediction (0 = segments in order, 1 = swapped), transformers'
            name for the second objective; the same head and loss as `next_sentence_label` (pass one of the two).
            Read from `kwargs` so that the Trainer's `find_labels` does not expect it in every BERT batch.
        """
        sentence_order_label = kwargs.pop("sentence_order_label", None)
        if sentence_order_label is not None:
            if next_sentence_label is not None:
                raise ValueError("pass next_sentence_label (BERT's NSP) or sentence_order_label (ALBERT's SOP), not "
                                 "both: they train the same two-way head")
            next_sentence_label = sentence_order_label
        outputs = self.model(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds=inputs_embeds,
                             **kwargs)
        hidden_states = outputs.last_hidden_state  # (B, T, d_model)
        if labels is not None:
            check_labels(labels, hidden_states.shape[:2], "the input (batch, length)", self.config.vocab_size,
                         "vocab_size")
        mlm_loss, prediction_logits = self.loss_or_logits(
            hidden_states, self.lm_head, labels,
            lambda: self.lm_head.chunked_loss(hidden_states, labels, self.chunked_lm_loss),
            lambda logits: self.loss_function(logits, labels, self.config.vocab_size),
            return_logits,
        )
        seq_relationship_logits = self.next_sentence_head(outputs.pooler_output)  # (B, 2)
        loss = None
        if labels is not None or next_sentence_label is not None:
            loss = 0.0
            if labels is not None:
                loss = loss + mlm_loss
            if next_sentence_label is not None:
                check_labels(next_sentence_label, hidden_states.shape[:1], "next sentence prediction (batch,)",
                             2, "NSP classes", "next_sentence_label")
                loss = loss + token_cross_entropy(seq_relationship_logits, next_sentence_label, 2)
        return TobigsForPreTrainingOutput(
            loss=loss,
            prediction_logits=prediction_logits,
            seq_relationship_logits=seq_relationship_logits,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )


class TobigsForNextSentencePrediction(TobigsPreTrainedModel):
    """Next sentence prediction alone: does segment B follow segment A? (label 0 = yes, 1 = random sentence)."""

    supported_architectures = (ENCODER_ONLY,)
    loss_kind = "multiple_choice"  # plain cross-entropy over the two classes

    def __init__(self, config: TobigsConfig):
        super().__init__(config)
        self.model = TobigsModel(config, add_pooling_layer=True)
        self.next_sentence_head = nn.Linear(config.d_model, 2)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> NextSentencePredictorOutput:
        outputs = self.model(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds=inputs_embeds,
                             **kwargs)
        logits = self.next_sentence_head(outputs.pooler_output)  # (B, 2)
        loss = None
        if labels is not None:
            check_labels(labels, logits.shape[:1], "next sentence prediction (batch,)", 2, "NSP classes")
            loss = self.loss_function(logits, labels, **kwargs)
        return NextSentencePredictorOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                           attentions=outputs.attentions)


@dataclass
class TobigsForReplacedTokenDetectionOutput(ModelOutput):
    """Outputs of `TobigsForReplacedTokenDetection`: one logit per token (names as transformers' ELECTRA)."""

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


class TobigsForReplacedTokenDetection(TobigsPreTrainedModel):
    """ELECTRA's discriminator (Clark et al. 2020): for every token, was it replaced by the generator's sample?

    `labels` (batch, length) hold 1 for replaced and 0 for original tokens; the loss is the binary cross-entropy over
    the real tokens (attention_mask == 1), as transformers' `ElectraForPreTraining`. After pre-training this is the
    model that is fine-tuned: its encoder loads into any encoder-only head with `from_pretrained`."""

    supported_architectures = (ENCODER_ONLY,)
    loss_kind = "replaced_token_detection"

    def __init__(self, config: TobigsConfig):
        super().__init__(config)
        self.model = TobigsModel(config, add_pooling_layer=False)
        self.discriminator_head = TobigsDiscriminatorHead(config)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> TobigsForReplacedTokenDetectionOutput:
        outputs = self.model(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds=inputs_embeds,
                             **kwargs)
        logits = self.discriminator_head(outputs.last_hidden_state)  # (B, T)
        loss = None
        if labels is not None:
            check_labels(labels, logits.shape, "replaced token detection (batch, length)", 2, "classes (0 original, "
                         "1 replaced)")
            loss = self.loss_function(logits, labels, attention_mask)
        return TobigsForReplacedTokenDetectionOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                                     attentions=outputs.attentions)


# ---------------------------------------------------------------------------------------------------------------
# Fine-tuning heads.
# ---------------------------------------------------------------------------------------------------------------


class TobigsForSequenceClassification(TobigsPreTrainedModel):
    """One label (or regression value) per sequence, read from the state that summarises it:
    encoder-only: the pooled [CLS] state (BERT) or, with `classifier_head="dense-tanh"` / `"dense-gelu"`, the first
    token's state through RoBERTa's / ELECTRA's head; decoder-only: the last non-padding token (GPT);
    encoder-decoder: the decoder state at the final end-of-sequence token (BART).

    Encoder-decoder models return a `Seq2SeqSequenceClassifierOutput` (as BART) with the decoder's and the encoder's
    hidden states and attentions and the cross-attentions; the others a `SequenceClassifierOutput`."""

    loss_kind = "sequence_classification"

    def __init__(self, config: TobigsConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        pooled = config.architecture == ENCODER_ONLY and config.classifier_head == "pooler"
        self.model = TobigsModel(config, add_pooling_layer=pooled)
        if pooled:  # BERT: the pooler's dense + tanh, then dropout and a linear layer
            self.dropout = nn.Dropout(config.head_dropout)
            self.classifier = nn.Linear(config.d_model, config.num_labels)
        elif config.architecture == DECODER_ONLY:
            self.dropout = nn.Identity()
            self.classifier = nn.Linear(config.d_model, config.num_labels, bias=False)
        else:  # BART over the EOS state; RoBERTa ("dense-tanh") and ELECTRA ("dense-gelu") over the first token
            self.dropout = nn.Identity()
            self.classifier = TobigsClassificationHead(config, config.num_labels, config.head_dropout)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> SequenceClassifierOutput | Seq2SeqSequenceClassifierOutput:
        architecture = self.config.architecture
        if architecture == ENCODER_DECODER:
            kwargs.update(decoder_input_ids=decoder_input_ids, decoder_attention_mask=decoder_attention_mask)
        outputs = run_backbone(self, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, **kwargs)
        hidden_states = outputs.last_hidden_state  # (B, T, d_model)
        batch_size, seq_length = hidden_states.shape[:2]
        if architecture == ENCODER_ONLY:
            summary = outputs.pooler_output if self.model.pooler is not None else hidden_states[:, 0]  # (B, d_model)
        else:
            if architecture == DECODER_ONLY:
                index = last_token_index(input_ids, batch_size, seq_length, self.config.pad_token_id,
                                         hidden_states.device, match=False)
            else:
                eos = self.config.eos_token_id
                eos = eos[0] if isinstance(eos, list) else eos
                # As BART: the decoder state at the position of the source's last EOS (the decoder reads the source
                # shifted right, so that state has read the whole sentence).
                index = last_token_index(input_ids, batch_size, seq_length, eos, hidden_states.device, match=True)
            summary = hidden_states[torch.arange(batch_size, device=hidden_states.device), index]  # (B, d_model)
        logits = self.classifier(self.dropout(summary))  # (B, num_labels)
        loss = None
        if labels is not None:
            if labels.shape[0] != batch_size:
                raise ValueError(f"labels have batch size {labels.shape[0]} but the input has {batch_size}")
            if self.num_labels > 1 and labels.dim() == 1:  # class indices (not regression or multi-label targets)
                check_targets(labels, self.num_labels, "num_labels")
            loss = self.loss_function(labels, logits, self.config)
        if architecture == ENCODER_DECODER:
            return Seq2SeqSequenceClassifierOutput(
                loss=loss,
                logits=logits,
                decoder_hidden_states=outputs.decoder_hidden_states,
                decoder_attentions=outputs.decoder_attentions,
                cross_attentions=outputs.cross_attentions,
                encoder_last_hidden_state=outputs.encoder_last_hidden_state,
                encoder_hidden_states=outputs.encoder_hidden_states,
                encoder_attentions=outputs.encoder_attentions,
            )
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                        attentions=outputs.attentions)


class TobigsForTokenClassification(TobigsPreTrainedModel):
    """One label per token (named entities, parts of speech) from the final hidden states."""

    supported_architectures = (ENCODER_ONLY, DECODER_ONLY)
    loss_kind = "token_classification"

    def __init__(self, config: TobigsConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = TobigsModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(config.head_dropout)
        self.classifier = nn.Linear(config.d_model, config.num_labels)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> TokenClassifierOutput:
        outputs = run_backbone(self, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, **kwargs)
        logits = self.classifier(self.dropout(outputs.last_hidden_state))  # (B, T, num_labels)
        loss = None
        if labels is not None:
            check_labels(labels, logits.shape[:2], "token classification (batch, length)", self.num_labels,
                         "num_labels")
            loss = self.loss_function(logits, labels, self.config)
        return TokenClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                     attentions=outputs.attentions)


class TobigsForQuestionAnswering(TobigsPreTrainedModel):
    """Extractive QA: a start and an end score for every token of the context."""

    supported_architectures = (ENCODER_ONLY, DECODER_ONLY)
    loss_kind = "question_answering"

    def __init__(self, config: TobigsConfig):
        super().__init__(config)
        self.model = TobigsModel(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.d_model, 2)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        start_positions: torch.LongTensor | None = None,
        end_positions: torch.LongTensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> QuestionAnsweringModelOutput:
        outputs = run_backbone(self, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, **kwargs)
        start_logits, end_logits = self.qa_outputs(outputs.last_hidden_state).unbind(-1)  # 2 x (B, T)
        loss = None
        if start_positions is not None and end_positions is not None:
            check_labels(start_positions, start_logits.shape[:1], "start_positions (batch,)")
            check_labels(end_positions, end_logits.shape[:1], "end_positions (batch,)")
            loss = self.loss_function(start_logits, end_logits, start_positions, end_positions)
        return QuestionAnsweringModelOutput(loss=loss, start_logits=start_logits, end_logits=end_logits,
                                            hidden_states=outputs.hidden_states, attentions=outputs.attentions)


class TobigsForMultipleChoice(TobigsPreTrainedModel):
    """Multiple choice (SWAG-style): every (context, choice) pair is encoded and scored; softmax over the choices."""

    supported_architectures = (ENCODER_ONLY,)
    loss_kind = "multiple_choice"

    def __init__(self, config: TobigsConfig):
        super().__init__(config)
        self.model = TobigsModel(config, add_pooling_layer=True)
        self.dropout = nn.Dropout(config.head_dropout)
        self.classifier = nn.Linear(config.d_model, 1)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> MultipleChoiceModelOutput:
        reference = input_ids if input_ids is not None else inputs_embeds
        if reference is None or reference.dim() < 3:
            raise ValueError("multiple-choice inputs must have shape (batch, num_choices, length)")
        batch_size, num_choices = reference.shape[:2]

        def flat(x):  # (B, C, T, ...) -> (B*C, T, ...)
            return x.flatten(0, 1) if x is not None else None

        outputs = self.model(flat(input_ids), flat(attention_mask), flat(token_type_ids), flat(position_ids),
                             inputs_embeds=flat(inputs_embeds), **kwargs)
        logits = self.classifier(self.dropout(outputs.pooler_output)).view(batch_size, num_choices)  # (B, C)
        loss = None
        if labels is not None:
            check_labels(labels, (batch_size,), "multiple choice (batch,)", num_choices, "num_choices")
            loss = self.loss_function(logits, labels, **kwargs)
        return MultipleChoiceModelOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                         attentions=outputs.attentions)


__all__ = [
    "TobigsModel",
    "TobigsForConditionalGeneration",
    "TobigsForCausalLM",
    "TobigsForMaskedLM",
    "TobigsForPreTraining",
    "TobigsForReplacedTokenDetection",
    "TobigsForNextSentencePrediction",
    "TobigsForSequenceClassification",
    "TobigsForTokenClassification",
    "TobigsForQuestionAnswering",
    "TobigsForMultipleChoice",
    "TobigsPreTrainedModel",
    "shift_tokens_right",
]
