"""`convert_from_hf` / `convert_to_hf`: exact conversion between transformers' GPT-1, GPT-2, CTRL, BERT, RoBERTa,
ALBERT, ELECTRA, BART, Marian and Pegasus classes and ours, config and generation config included.

Which family a transformers model belongs to is read from `config.model_type`; which family one of our models is
exported to is inferred from its config (each family lists the config values it needs) or named with `target`.
"""

from __future__ import annotations

import copy

import torch
import transformers
from transformers import PreTrainedConfig, PreTrainedModel

from ..integrity import check_model_weights
from ..model import modeling_tobigs
from ..model.configuration_tobigs import TobigsConfig
from ..model.pretrained import TobigsPreTrainedModel
from . import albert, bart, bert, ctrl, electra, gpt2, marian, openai_gpt, pegasus, roberta
from .engine import convert_state_dict, load_exactly
from .errors import ConversionError
from .families import ClassPair, Family

FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        gpt2.FAMILY, openai_gpt.FAMILY, ctrl.FAMILY,  # decoder-only
        bert.FAMILY, roberta.FAMILY, albert.FAMILY, electra.FAMILY,  # encoder-only
        bart.FAMILY, marian.FAMILY, pegasus.FAMILY,  # encoder-decoder
    )
}
_BY_MODEL_TYPE = {model_type: family for family in FAMILIES.values() for model_type in family.model_types}
_UNSUPPORTED = {
    "fsmt": "FSMT keeps separate source and target vocabularies, which one TobigsConfig cannot express; "
            "Marian (opus-mt) checkpoints are the supported paper-style family",
    "mbart": "mBART is pre-LN with a final LayerNorm per stack and a different key layout; not supported yet",
}


def supported_classes() -> dict[str, str]:
    """transformers class name -> tobigs class name, for every supported pair."""
    return {pair.hf_class: pair.ours_class for family in FAMILIES.values() for pair in family.pairs}


def family_of_hf_config(config: PreTrainedConfig) -> Family:
    model_type = getattr(config, "model_type", None)
    if model_type in _BY_MODEL_TYPE:
        return _BY_MODEL_TYPE[model_type]
    reason = _UNSUPPORTED.get(model_type, "")
    raise ConversionError(
        f"model_type={model_type!r} cannot be converted{': ' + reason if reason else ''}; "
        f"supported: {', '.join(sorted(_BY_MODEL_TYPE))}"
    )


def convert_config_from_hf(config: PreTrainedConfig) -> TobigsConfig:
    """A transformers config of a supported family (`FAMILIES`) -> the TobigsConfig that computes the same function."""
    if isinstance(config, TobigsConfig):
        raise TypeError("convert_config_from_hf takes a transformers config, got a TobigsConfig")
    tobigs_config = TobigsConfig(**family_of_hf_config(config).config_from_hf(config))
    attn = getattr(config, "_attn_implementation", None)
    if attn in ("eager", "sdpa"):
        tobigs_config._attn_implementation = attn
    return tobigs_config


def infer_family(config: TobigsConfig, ours_class: str | None = None) -> Family:
    """The transformers family that can express `config` exactly (and that has a twin of `ours_class`)."""
    reasons = {}
    for family in FAMILIES.values():
        if ours_class is not None and all(pair.ours_class != ours_class for pair in family.pairs):
            reasons[family.name] = [f"no transformers twin of {ours_class}"]
            continue
        problems = family.incompatibilities(config)
        if not problems:
            return family
        reasons[family.name] = problems
    details = "\n".join(f"  {name}: " + "; ".join(problems) for name, problems in reasons.items())
    raise ConversionError(f"no transformers family expresses this config exactly:\n{details}")


def convert_config_to_hf(config: TobigsConfig, family: str | None = None) -> PreTrainedConfig:
    """TobigsConfig -> transformers config of `family` (a key of `FAMILIES`; inferred when None)."""
    if family is None:
        chosen = infer_family(config)
    elif family in FAMILIES:
        chosen = FAMILIES[family]
    else:
        raise ValueError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    hf_config = chosen.config_to_hf(config)
    attn = getattr(config, "_attn_implementation", None)
    if attn in ("eager", "sdpa"):
        hf_config._attn_implementation = attn
    return hf_config


def _dtype(model: torch.nn.Module) -> torch.dtype:
    return next(model.parameters()).dtype


def _copy_generation_config(source: PreTrainedModel, target: PreTrainedModel) -> None:
    if getattr(source, "generation_config", None) is not None and target.can_generate():
        target.generation_config = copy.deepcopy(source.generation_config)


def convert_from_hf(model: PreTrainedModel) -> TobigsPreTrainedModel:
    """Convert a transformers model of a supported family (see `FAMILIES`) into the matching tobigs model, exactly.

    Raises `ConversionError` (a ValueError) naming the field or the keys when the conversion cannot be exact, and
    `CorruptWeightsError` (a ValueError) naming the file and tensor when a weight file the model was loaded from
    differs from its recorded checksum or a weight is NaN/inf."""
    if isinstance(model, TobigsPreTrainedModel):
        raise TypeError(f"{type(model).__name__} is already a tobigs model; use convert_to_hf to export it")
    check_model_weights(model)
    family = family_of_hf_config(model.config)
    pair = family.pair_for_hf(type(model).__name__)
    config = convert_config_from_hf(model.config)
    ours_class = getattr(modeling_tobigs, pair.ours_class)
    ours = ours_class(config, **(pair.ours_kwargs(model) if pair.ours_kwargs else {})).to(_dtype(model))
    _transfer(model, ours, family, pair, "from_hf", config)
    _copy_generation_config(model, ours)
    return ours.train(model.training)


def _resolve_target(model: TobigsPreTrainedModel, target) -> tuple[Family, ClassPair]:
    ours_name = type(model).__name__
    if target is None:
        family = infer_family(model.config, ours_name)
        return family, family.pair_for_ours(ours_name)
    if isinstance(target, type):
        target = target.__name__
    if not isinstance(target, str):
        raise TypeError(f"target must be None, a transformers class or its name, or a family name; got {target!r}")
    if target in FAMILIES:
        return FAMILIES[target], FAMILIES[target].pair_for_ours(ours_name)
    for family in FAMILIES.values():
        if any(pair.hf_class == target for pair in family.pairs):
            return family, family.pair_for_ours(ours_name, target)
    raise ConversionError(
        f"unknown target {target!r}; choose a family ({', '.join(FAMILIES)}) or one of "
        f"{', '.join(sorted(supported_classes()))}"
    )


def convert_to_hf(model: TobigsPreTrainedModel, target: str | type | None = None) -> PreTrainedModel:
    """Export a tobigs model to the native transformers class (`target`: a class, its name, or a family name;
    inferred from the config when None), exactly."""
    if not isinstance(model, TobigsPreTrainedModel):
        raise TypeError(f"convert_to_hf takes a tobigs model, got {type(model).__name__}")
    check_model_weights(model)  # a corrupt or NaN source must not become a second, converted, corrupt copy
    family, pair = _resolve_target(model, target)
    hf_config = convert_config_to_hf(model.config, family.name)
    generation_config = getattr(model, "generation_config", None)
    if generation_config is not None and hasattr(hf_config, "forced_eos_token_id"):
        hf_config.forced_eos_token_id = generation_config.forced_eos_token_id
    hf_class = getattr(transformers, pair.hf_class)
    if getattr(hf_config, "_attn_implementation", None) == "sdpa" and not hf_class._supports_sdpa:
        hf_config._attn_implementation = "eager"  # older classes (OpenAI GPT, CTRL) have their own attention only
    hf_model = hf_class(hf_config, **(pair.hf_kwargs(model) if pair.hf_kwargs else {})).to(_dtype(model))
    _transfer(model, hf_model, family, pair, "to_hf", model.config)
    _copy_generation_config(model, hf_model)
    return hf_model.train(model.training)


def _transfer(source, target, family: Family, pair: ClassPair, direction: str, config: TobigsConfig) -> None:
    what = f"{type(source).__name__} -> {type(target).__name__}"
    target_shapes = {key: tensor.shape for key, tensor in target.state_dict().items()}
    tensors = convert_state_dict(source.state_dict(), target_shapes, family.rules_for(pair, config), direction, config,
                                 what)
    load_exactly(target, tensors, what)

