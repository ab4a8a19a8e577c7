"""`generate()` for the generating models: transformers' `GenerationMixin`, with the prompt checked first."""

import copy
from typing import Any

import torch
from transformers.cache_utils import Cache
from transformers.generation import GenerationConfig, GenerationMixin

from .memory import check_prompt_memory
from .pretrained import TobigsPreTrainedModel


def position_limit(stack: torch.nn.Module) -> int | None:
    """How many positions a stack's embeddings cover (`TransformerEmbeddings.max_positions`, so the rule cannot
    drift from the forward's own check): `max_position_embeddings` for learned and sinusoidal tables and for rotary
    positions, None for relative positions (Transformer-XL: distances, no table, no limit)."""
    return getattr(getattr(stack, "embeddings", None), "max_positions", None)


def _prompt_tensors(inputs: torch.Tensor | None, kwargs: dict) -> list[tuple[str, Any]]:
    return [(n, v) for n, v in (("inputs", inputs), ("input_ids", kwargs.get("input_ids")),
                                ("inputs_embeds", kwargs.get("inputs_embeds"))) if v is not None]


def check_source_length(model: TobigsPreTrainedModel, inputs: torch.Tensor | None, kwargs: dict) -> None:
    """Encoder-decoder: the source must fit the encoder's positions (checked before the encoder runs)."""
    if not model.config.is_encoder_decoder or kwargs.get("encoder_outputs") is not None:
        return
    limit = position_limit(model.get_encoder())
    if limit is None:
        return
    for name, value in _prompt_tensors(inputs, kwargs):
        if torch.is_tensor(value) and value.dim() >= 2 and value.shape[1] > limit:
            raise ValueError(
                f"generate() got a source of {value.shape[1]} tokens ({name} of shape {tuple(value.shape)}), which "
                f"exceeds the encoder's max_position_embeddings={limit}; truncate the source to at most {limit} "
                "tokens (e.g. the tokenizer's truncation=True, max_length=...)"
            )


def check_memory_batch(inputs: torch.Tensor | None, kwargs: dict) -> None:
    """Transformer-XL: `mems` hold one stream per prompt (see `memory.check_prompt_memory`)."""
    if kwargs.get("mems") is None:
        return
    batch = [v.shape[0] for _, v in _prompt_tensors(inputs, kwargs) if torch.is_tensor(v) and v.dim() >= 2]
    mask = kwargs.get("attention_mask")
    # no prompt: transformers starts from bos, one row unless another input (the mask) gives the batch
    prompts = batch[0] if batch else (mask.shape[0] if torch.is_tensor(mask) and mask.dim() == 2 else 1)
    check_prompt_memory(kwargs["mems"], prompts)


def check_prompt(model: TobigsPreTrainedModel, inputs: torch.Tensor | None, generation_config: GenerationConfig | None,
                 kwargs: dict) -> None:
    """What `generate` needs to start from, checked before transformers prepares anything: a prompt of at least
    one token per row, or (decoder-only, no prompt at all) a `bos_token_id` to start from."""
    bos = kwargs.get("bos_token_id")
    if bos is None:
        bos = (generation_config or model.generation_config).bos_token_id
    given = [(n, v) for n, v in (("inputs", inputs), ("input_ids", kwargs.get("input_ids")),
                                 ("inputs_embeds", kwargs.get("inputs_embeds"))) if v is not None]
    for name, value in given:
        if torch.is_tensor(value) and value.dim() >= 2 and (value.shape[0] == 0 or value.shape[1] == 0):
            start = ""
            if not model.config.is_encoder_decoder:
                start = (f"; to start from bos_token_id={bos}, pass no prompt" if bos is not None else
                         "; this model has no bos_token_id (None) to start from")
            raise ValueError(
                f"generate() got an empty prompt: {name} has shape {tuple(value.shape)}; the batch size and the "
                f"prompt length must both be >= 1{start}"
            )
    if not given and not model.config.is_encoder_decoder and bos is None:
        raise ValueError(
            "generate() got no prompt and bos_token_id=None, so there is no token to start from; pass input_ids "
            "of shape (batch >= 1, length >= 1) or set generation_config.bos_token_id"
        )


# What transformers' `prepare_inputs_for_generation` never forwards to the model (step 5 of its body).
NOT_FORWARDED = ("labels", "next_sequence_length")
# generate()'s model_kwargs entry, set after the prefill, naming the inputs a decode step leaves out because they say
# nothing the forward does not compute from the cache (`implied_inputs`): the forward then skips counting positions
# over a mask, checking the mask's and the positions' values and building masks from them.
IMPLIED_INPUTS = "_tobigs_implied_inputs"
MASK_KEYS = ("attention_mask", "decoder_attention_mask")


def is_plain_decode_step(cache: Cache | None, next_sequence_length: int | None, is_first_iteration: bool | None,
                         kwargs: dict) -> bool:
    """A step of the decode loop that `TobigsGenerationMixin.prepare_inputs_for_generation` prepares itself: after
    the prefill, with a dynamic cache (a static, compileable cache gets transformers' 4-D masks for the compiled
    step) and the new ids sliced off `input_ids`; nothing multimodal or token-type-like to slice."""
    return (not is_first_iteration and next_sequence_length is not None and isinstance(cache, Cache)
            and not cache.is_compileable and not any(k in kwargs for k in SLICED_INPUTS))


# Inputs of multimodal models, which transformers' version slices or drops after the prefill: not ours, but a
# model_kwargs entry of that name gets transformers' treatment.
SLICED_INPUTS = ("mm_token_type_ids", "moe_mm_token_type_ids", "pixel_values", "pixel_mask", "input_features",
                 "input_features_mask", "mm_encoder_outputs")
# Per-token inputs that grow with the sequence: the decode step takes their last `next_sequence_length` columns.
PER_TOKEN_INPUTS = ("position_ids", "decoder_position_ids", "token_type_ids")


def holds_only_ones(mask: torch.Tensor) -> bool:
    return bool(mask.all()) if mask.dtype == torch.bool else bool((mask == 1).all())


def implied_inputs(model_kwargs: dict, counts_positions: bool) -> tuple[str, ...]:
    """The model_kwargs entries that a decode step may leave out because the forward computes the same from the
    cache alone: 2-D masks of only ones, and the positions transformers counted over such a mask (or over no mask),
    0 .. L-1 in every row (a step then gets the cache length, as the forward counts without them), when the model
    counts positions plainly (`counts_positions`; RoBERTa's rule reads the ids instead). One host sync per entry,
    once per `generate` call."""
    implied = [key for key in MASK_KEYS if torch.is_tensor(model_kwargs.get(key))
               and model_kwargs[key].dim() == 2 and holds_only_ones(model_kwargs[key])]
    for positions_key, mask_key in (("position_ids", "attention_mask"),
                                    ("decoder_position_ids", "decoder_attention_mask")):
        positions = model_kwargs.get(positions_key)
        if not counts_positions or not torch.is_tensor(positions) or positions.dim() != 2:
            continue
        if model_kwargs.get(mask_key) is not None and mask_key not in implied:
            continue  # positions counted over padding: the forward must be given them
        counted = torch.arange(positions.shape[-1], device=positions.device)
        if bool((positions == counted).all()):
            implied.append(positions_key)
    return tuple(implied)


class TobigsGenerationMixin(GenerationMixin):
    """transformers' `GenerationMixin`, with the prompt checked first (an empty prompt fails with a ValueError
    naming its shape, not with a reshape error several calls deep), and the compiled decode step on CPU as well.

    Compiled decoding: with a static cache, transformers compiles the one-token decode step (`torch.compile` of
    the model's forward, the prompt's prefill stays eager) on accelerators only. Here an explicit
    `compile_config` also compiles it on CPU:

        model.generate(ids, cache_implementation="static", compile_config=CompileConfig(mode="default"))

    (or `model.generation_config.compile_config = CompileConfig(...)`); `disable_compile=True` still wins, and
    without a `compile_config` the CPU decodes eagerly as in transformers. It is opt-in because on CPU the compile
    costs seconds on the first call (and again for every new batch size or cache length) while decoding gets only
    1.16-1.29x faster: on the 2-core benchmark machine (d_model 256, 4 layers) 3-8 s of compile paid back after
    about 8k-25k new tokens at batch 1 and 165k-230k at batch 32, i.e. in a server or a long evaluation loop, never
    in one `generate` call (benchmarks/RESULTS.md section 4, docs/gpu.md).
    Tokens are the same as eager decoding (greedy, sampling with a seed); beam search is never compiled by
    transformers. CUDA behaves exactly as in transformers (compiled by default with a static cache).
    """

    def generate(self, inputs: torch.Tensor | None = None, generation_config: GenerationConfig | None = None, *args,
                 **kwargs):
        check_prompt(self, inputs, generation_config, kwargs)
        check_memory_batch(inputs, kwargs)
        check_source_length(self, inputs, kwargs)
        return super().generate(inputs, generation_config, *args, **kwargs)

    def prepare_inputs_for_generation(self, input_ids: torch.LongTensor, next_sequence_length: int | None = None,
                                      cache: Cache | None = None, attention_mask: torch.Tensor | None = None,
                                      inputs_embeds: torch.Tensor | None = None, is_first_iteration: bool | None = False,
                                      **kwargs) -> dict:
        """transformers' preparation for the prefill and for static caches; for the decode steps with a dynamic cache
        (the default `generate` call) the same dictionary built directly: transformers' general version costs about
        as much Python per step as a layer's arithmetic at batch 1 (it inspects the forward's signature every step
        for remote-code models, which ours are once saved)."""
        implied = kwargs.pop(IMPLIED_INPUTS, ())
        if not (is_plain_decode_step(cache, next_sequence_length, is_first_iteration, kwargs)
                and self._ids_on_output_device(input_ids)):
            return super().prepare_inputs_for_generation(
                input_ids, next_sequence_length, cache=cache, attention_mask=attention_mask,
                inputs_embeds=inputs_embeds, is_first_iteration=is_first_iteration, **kwargs,
            )
        new_ids = input_ids[:, -next_sequence_length:].clone(memory_format=torch.contiguous_format)  # (B, 1)
        if self.config.is_encoder_decoder:
            model_inputs = {"decoder_input_ids": new_ids, "cache": cache}
            decoder_mask = kwargs.pop("decoder_attention_mask", None)
            if decoder_mask is not None:
                model_inputs["decoder_attention_mask"] = decoder_mask
            if attention_mask is not None:
                model_inputs["attention_mask"] = attention_mask  # the source's padding, for cross-attention
        else:
            model_inputs = {"input_ids": new_ids, "cache": cache}
            if attention_mask is not None:
                model_inputs["attention_mask"] = attention_mask
        for key, value in kwargs.items():
            if key in NOT_FORWARDED or key in model_inputs or value is None:
                continue
            if key in PER_TOKEN_INPUTS and value.shape[-1] != next_sequence_length:
                value = value[..., -next_sequence_length:].clone(memory_format=torch.contiguous_format)
            model_inputs[key] = value
        for key in implied:
            model_inputs.pop(key, None)
        return model_inputs

    def _ids_on_output_device(self, input_ids: torch.Tensor) -> bool:
        """Whether the ids are where the output layer is (else transformers' version moves what needs moving, as
        with a model split over devices)."""
        head = self.get_output_embeddings()
        device = head.weight.device if isinstance(head, torch.nn.Linear) else self.device
        return input_ids.device == device or device.type == "meta"

    def _update_model_kwargs_for_generation(self, outputs, model_kwargs: dict[str, Any], is_encoder_decoder: bool = False,
                                            num_new_tokens: int = 1) -> dict[str, Any]:
        """transformers' update (the cache, the masks grown by ones), and once per `generate`, after the prefill,
        which 2-D masks hold only ones (one host sync per call, not per step): they stay so, as every step appends
        ones, and the positions counted over them: `prepare_inputs_for_generation` leaves them out of the decode steps
        (see `IMPLIED_INPUTS`)."""
        model_kwargs = super()._update_model_kwargs_for_generation(
            outputs, model_kwargs, is_encoder_decoder=is_encoder_decoder, num_new_tokens=num_new_tokens
        )
        if IMPLIED_INPUTS not in model_kwargs:
            model_kwargs[IMPLIED_INPUTS] = implied_inputs(model_kwargs, self.config.position_padding_idx is None)
        return model_kwargs

    def _validate_generated_length(self, generation_config: GenerationConfig, input_ids_length: int,
                                   has_default_max_length: bool) -> None:
        """transformers' checks, then the position table: with `max_length` settled (the prompt + max_new_tokens),
        and before the cache is built or the first token decoded, the positions the decoding will feed must fit.
        N new tokens after a prompt of L feed positions 0 .. L+N-2 (the last new token is never fed back), so
        L + N - 1 <= max_position_embeddings; relative positions have no limit."""
        super()._validate_generated_length(generation_config, input_ids_length, has_default_max_length)
        limit = position_limit(self.get_decoder())
        if limit is None or generation_config.max_length is None:
            return
        # decoder-only models generate from input_ids only (transformers refuses their inputs_embeds), so the
        # prompt is input_ids_length long; with a left-padded batch the longest row is counted, as its positions
        prompt, new = input_ids_length, generation_config.max_length - input_ids_length
        if prompt + new - 1 <= limit:
            return
        what = "decoder prompt (decoder_input_ids)" if self.config.is_encoder_decoder else "prompt"
        fits = (f"ask for at most max_new_tokens={limit - prompt + 1}" if prompt <= limit else
                f"shorten the {what} to at most {limit} tokens")
        raise ValueError(
            f"generate(): {what} length {prompt} + max_new_tokens {new} exceeds max_position_embeddings={limit}: "
            f"decoding would feed positions up to {prompt + new - 2} (the last new token is never fed back), the "
            f"position table holds 0 .. {limit - 1}; {fits}"
        )

    def _valid_auto_compile_criteria(self, model_kwargs: dict[str, Any], generation_config: GenerationConfig) -> bool:
        # transformers' switch for "compile on CPU too" is CompileConfig's private `_compile_all_devices`; an explicit
        # compile_config is the public request for it. `generation_config` is generate()'s own deep copy, and the
        # user's CompileConfig is copied too, so neither the model's nor the caller's object is changed.
        config = generation_config.compile_config
        if (config is not None and not generation_config.disable_compile and self.device.type == "cpu"
                and not config._compile_all_devices):
            config = copy.copy(config)
            config._compile_all_devices = True
            generation_config.compile_config = config
        return super()._valid_auto_compile_criteria(model_kwargs, generation_config)
