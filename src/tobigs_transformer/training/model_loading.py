"""Loading the tokenizer and the model of a run (`--tokenizer_name`, `--model_name_or_path`, new weights)."""

from __future__ import annotations

from typing import Any

from transformers import AutoTokenizer

from .validation import ArgumentError, not_found_message


def require_pad_token(tokenizer, model_args, why: str) -> None:
    """Batches of unequal length are padded: say so before any tokenizing when the tokenizer cannot pad."""
    if tokenizer.pad_token_id is None:
        name = model_args.tokenizer_name or model_args.model_name_or_path
        raise ArgumentError(
            f"the tokenizer {name!r} has no pad token, but {why} pads batches; give --tokenizer_name a tokenizer "
            "with one (tobigs-train-tokenizer adds <pad>/[PAD]), or add it with "
            "tokenizer.add_special_tokens({'pad_token': '<pad>'}) and save the tokenizer"
        )



def _option_of(model_args, value: str) -> str:
    return "--tokenizer_name" if value == model_args.tokenizer_name else "--model_name_or_path"


def load_tokenizer(model_args):
    name = model_args.tokenizer_name or model_args.model_name_or_path
    try:
        return AutoTokenizer.from_pretrained(
            name, cache_dir=model_args.cache_dir, trust_remote_code=model_args.trust_remote_code
        )
    except (OSError, ValueError) as exc:
        raise ArgumentError(not_found_message(_option_of(model_args, name), name, exc)) from exc


def load_model(model_class, model_args, config, generation: dict[str, Any] | None = None):
    """The model: ``--model_name_or_path``'s weights, or new weights for ``config``.  ``generation`` goes into its
    ``generation_config`` (saved with it), so a plain ``generate()`` decodes as the run evaluated."""
    model = _load_weights(model_class, model_args, config)
    if generation:
        model.generation_config.update(**generation)
    return model


def _load_weights(model_class, model_args, config):
    kwargs = {}
    if model_args.attn_implementation:
        kwargs["attn_implementation"] = model_args.attn_implementation
    if model_args.model_name_or_path:
        return model_class.from_pretrained(
            model_args.model_name_or_path, config=config, cache_dir=model_args.cache_dir,
            trust_remote_code=model_args.trust_remote_code, **kwargs,
        )
    if model_args.attn_implementation:
        config._attn_implementation = model_args.attn_implementation
    return model_class(config)
