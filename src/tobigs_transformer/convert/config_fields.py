"""Config fields that transformers' configs and ours name alike, and the checks of what a family cannot express."""

from __future__ import annotations

from ..model.configuration_tobigs import ACTIVATIONS, TobigsConfig
from .errors import ConversionError


def mismatches(config: TobigsConfig, expected: dict, family: str) -> list[str]:
    """`name=value (FAMILY needs expected)` for every config value that `family` cannot express."""
    return [f"{name}={getattr(config, name)!r} ({family} needs {value!r})" for name, value in expected.items()
            if getattr(config, name) != value]


def token_fields(config) -> dict:
    """The special-token ids and task-head fields (labels, problem type) that both configs name alike, as they are."""
    return dict(pad_token_id=config.pad_token_id, bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id,
                **common_config_fields(config))


def single_stack_fields(hf) -> dict:
    """What a GPT- or BERT-style checkpoint's config (`initializer_range`, no decoder start) gives alike: biased
    projections and no LM-head bias, no training recipe (plain normal init, no label smoothing), the embedding tie
    and the special tokens as it says."""
    return dict(attention_bias=True, lm_head_bias=False, init_std=hf.initializer_range, init_method="normal",
                label_smoothing=0.0, tie_word_embeddings=hf.tie_word_embeddings, decoder_start_token_id=None,
                **token_fields(hf))


def common_config_fields(hf_config) -> dict:
    """Task-head fields every PreTrainedConfig carries (labels, problem type), copied as they are."""
    fields = {}
    id2label = getattr(hf_config, "id2label", None)
    if id2label:
        fields["id2label"] = dict(id2label)
        fields["label2id"] = dict(getattr(hf_config, "label2id", {}) or {v: k for k, v in id2label.items()})
    if getattr(hf_config, "problem_type", None) is not None:
        fields["problem_type"] = hf_config.problem_type
    return fields


def activation_of(name, family: str) -> str:
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ConversionError(
            f"{family} activation {name!r} has no exact tobigs_transformer equivalent; "
            f"supported: {', '.join(ACTIVATIONS)}"
        )
    return name
