"""The model's config for a run: a preset or config file with `--config_overrides`, or a checkpoint's config;
checked against the task and the tokenizer."""

from __future__ import annotations

import os
from typing import Any

import yaml
from huggingface_hub.errors import StrictDataclassError
from transformers import AutoConfig

from ..model.configuration_tobigs import TobigsConfig
from ..model.presets import PRESETS
from .validation import ArgumentError, check_architecture, check_tokenizer_matches, not_found_message


# ------------------------------------------------------------------------------------------------ model
def parse_overrides(text: str | dict | None) -> dict[str, Any]:
    """``"d_model=256,encoder_layers=3,dropout=0.1"`` → ``{"d_model": 256, ...}`` (values parsed as YAML scalars).
    A mapping gives the same result: ``{"d_model": 256, ...}`` itself, or its text (``{d_model: 256}``, JSON or YAML
    flow style: what a config file's ``config_overrides:`` mapping becomes on the command line).

    Only the syntax is checked here; the keys and values are the config's to judge (``TobigsConfig.check_keys`` and
    its validation, through :func:`build_config`), so ``d_modle=48`` fails naming the key and the closest field."""
    if not text:
        return {}
    if isinstance(text, dict):
        return _override_mapping(text, repr(text))
    if text.lstrip().startswith("{"):
        try:
            mapping = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ArgumentError(f"--config_overrides {text!r} is not a mapping: {' '.join(str(exc).split())}") from exc
        if not isinstance(mapping, dict):
            raise ArgumentError(f"--config_overrides {text!r} is not a mapping")
        return _override_mapping(mapping, text)
    out = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        if "=" not in item:
            raise ArgumentError(f"--config_overrides item {item!r} is not key=value (or give a mapping: "
                                "{d_model: 256, dropout: 0.1})")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = yaml.safe_load(value.strip())
        except yaml.YAMLError as exc:
            raise ArgumentError(f"--config_overrides {key.strip()}={value.strip()!r} is not a value") from exc
    return out


def _override_mapping(mapping: dict, shown: str) -> dict[str, Any]:
    bad = [k for k in mapping if not isinstance(k, str)]
    if bad:
        raise ArgumentError(f"--config_overrides {shown}: keys must be config field names, got {bad}")
    return dict(mapping)



def _override(config: TobigsConfig, values: dict[str, Any], origin: str) -> None:
    """Set user overrides on a loaded config after the config's own key check, then validate the result."""
    if not values:
        return
    try:
        type(config).check_keys(values)
        for key, value in values.items():
            setattr(config, key, value)
        config.validate_architecture()
    except (TypeError, ValueError, StrictDataclassError) as exc:  # the last: a value of the wrong type
        raise ArgumentError(f"--config_overrides on {origin}: {' '.join(str(exc).split())}") from exc


def _ids_from_tokenizer(preset_values: dict, tokenizer) -> dict[str, Any]:
    """The vocabulary size and special ids a new model takes from its tokenizer.  They are passed to
    ``TobigsConfig.from_preset`` as explicit values (the tokenizer is the authority on its own ids, also where it has
    none), so the preset's rule for ids outside a smaller vocabulary leaves them alone and one code path decides."""
    ids: dict[str, Any] = {"vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id}
    ids["bos_token_id"] = tokenizer.bos_token_id
    ids["eos_token_id"] = tokenizer.eos_token_id
    if preset_values.get("architecture", "encoder-decoder") == "encoder-decoder":
        eos_start = preset_values.get("decoder_start_token_id") == preset_values.get("eos_token_id")
        start = tokenizer.eos_token_id if eos_start else tokenizer.bos_token_id
        if start is None:
            start = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.pad_token_id
        ids["decoder_start_token_id"] = start
    return ids


def build_config(model_args, tokenizer, task: str, default_preset: str, **task_values) -> tuple[TobigsConfig, str]:
    """The model's config and a phrase naming where it came from (for error messages).

    New weights (``--preset``/``--config_name``): the preset with ``--config_overrides``, vocabulary size and special
    ids taken from the tokenizer.  ``--model_name_or_path``: the checkpoint's config (only ``label_smoothing``,
    dropout-style overrides and ``task_values`` change)."""
    overrides = parse_overrides(model_args.config_overrides)
    if model_args.model_name_or_path:
        origin = f"--model_name_or_path {model_args.model_name_or_path!r}"
        try:
            config = AutoConfig.from_pretrained(
                model_args.model_name_or_path, cache_dir=model_args.cache_dir,
                trust_remote_code=model_args.trust_remote_code,
            )
        except (OSError, ValueError) as exc:
            raise ArgumentError(not_found_message("--model_name_or_path", model_args.model_name_or_path, exc)) from exc
        if not isinstance(config, TobigsConfig):
            raise ArgumentError(
                f"{origin} is a {type(config).__name__} checkpoint, not tobigs_transformer; convert it first "
                "(tobigs convert --from-hf DIR --output_dir DIR)"
            )
        _override(config, overrides, origin)
        for key, value in task_values.items():
            setattr(config, key, value)
    else:
        name = model_args.config_name or model_args.preset or default_preset
        if name in PRESETS:
            origin = f"preset {name!r}"
            values = {**_ids_from_tokenizer(PRESETS[name], tokenizer), **overrides, **task_values}
            try:
                config = TobigsConfig.from_preset(name, **values)
            except (TypeError, ValueError, StrictDataclassError) as exc:  # the last: a value of the wrong type
                raise ArgumentError(f"{origin} with {values}: {' '.join(str(exc).split())}") from exc
        else:
            origin = f"--config_name {name!r}"
            if not os.path.exists(name):
                raise ArgumentError(
                    f"{origin}: no such file or directory, and not a preset ({TobigsConfig.presets()})"
                )
            try:
                config = TobigsConfig.from_pretrained(name)
            except (OSError, ValueError) as exc:
                raise ArgumentError(f"could not load {origin}: {' '.join(str(exc).split())}") from exc
            _override(config, overrides, origin)
            for key, value in task_values.items():
                setattr(config, key, value)
    if model_args.label_smoothing is not None:
        config.label_smoothing = float(model_args.label_smoothing)
    check_architecture(config, task, origin)
    check_tokenizer_matches(tokenizer, config, origin)
    return config, origin
