"""Model cards: YAML metadata (language, license, tags, datasets, metrics, pipeline_tag, base_model, model-index) and
the prose sections (intended use, training data, procedure, evaluation, limitations), rendered from a Jinja template
with `huggingface_hub.ModelCard`.

Metrics come from what the training run recorded: a dict or JSON file such as the Trainer's `eval_results.json`
(`{"eval_bleu": 27.3, "eval_loss": 1.92, "epoch": 3.0, "eval_runtime": 4.1}`), optionally with a `"dataset"` entry
(`{"id": "wmt16", "name": "WMT16 ro-en", "config": "ro-en", "split": "test"}`). Each numeric `eval_*`, `test_*` or
`predict_*` value that is not a timing becomes one model-index result, so that the card's `model-index` round-trips to
exactly the recorded numbers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

#: The template the package ships: a symlink to the repository's `model_card.md` (the one copy of the text), which
#: setuptools follows when it builds a wheel, so an installed package holds the file itself.
PACKAGE_TEMPLATE = Path(__file__).with_name("model_card_template.md")
_METRIC_PREFIXES = {"eval": "validation", "test": "test", "predict": "test"}
_NOT_METRICS = ("runtime", "samples_per_second", "steps_per_second", "epoch", "step", "mem", "flos", "num_samples")
METRIC_NAMES = {
    "bleu": "BLEU", "sacrebleu": "BLEU", "chrf": "chrF", "ter": "TER", "rouge1": "ROUGE-1", "rouge2": "ROUGE-2",
    "rougeL": "ROUGE-L", "rougeLsum": "ROUGE-Lsum", "accuracy": "Accuracy", "f1": "F1", "precision": "Precision",
    "recall": "Recall", "loss": "Loss", "perplexity": "Perplexity", "exact_match": "Exact match",
    "matthews_correlation": "Matthews correlation", "pearson": "Pearson", "spearmanr": "Spearman",
}
TASK_NAMES = {
    "translation": "Translation", "summarization": "Summarization", "text2text-generation": "Text-to-text generation",
    "text-generation": "Text generation", "fill-mask": "Masked language modeling",
    "text-classification": "Text classification", "token-classification": "Token classification",
    "question-answering": "Question answering", "feature-extraction": "Feature extraction",
    "multiple-choice": "Multiple choice",
}
_FAMILY = {"encoder-decoder": "encoder-decoder Transformer", "decoder-only": "GPT-style decoder",
           "encoder-only": "BERT-style encoder"}


@dataclass
class DatasetInfo:
    """The dataset the metrics were computed on (Hub dataset id, display name, configuration, split, revision)."""

    id: str
    name: str | None = None
    config: str | None = None
    split: str | None = None
    revision: str | None = None

    @classmethod
    def coerce(cls, value: DatasetInfo | Mapping | str | None) -> DatasetInfo | None:
        if value is None or isinstance(value, DatasetInfo):
            return value
        if isinstance(value, str):
            return cls(id=value)
        value = dict(value)
        if "id" not in value and "name" in value:
            value["id"] = value["name"]
        unknown = set(value) - {"id", "name", "config", "split", "revision"}
        if unknown or "id" not in value:
            raise ValueError(f"dataset needs 'id' (and optionally name/config/split/revision); got {sorted(value)}")
        return cls(**value)


@dataclass
class ModelCardInfo:
    """What a model card says about a model beyond its config: metadata and prose sections. `export_for_hub` and
    `build_model_card` take one; `tobigs export` fills it from its options. Fields left `None` get defaults from the
    model and the task (`build_model_card`)."""

    #: the model's name in the card and the model-index (the export's default: the folder name)
    model_name: str | None = None
    #: the evaluation/training dataset: a Hub dataset id or `{"id", "name", "config", "split", "revision"}`
    dataset: DatasetInfo | Mapping | str | None = None
    language: str | Iterable[str] | None = None
    license: str = "apache-2.0"
    base_model: str | Iterable[str] | None = None
    tags: Iterable[str] | None = None
    #: default: the task of the model class (`translation` for a seq2seq model given a language pair)
    pipeline_tag: str | None = None
    #: the direction a translation model was trained on
    src_lang: str | None = None
    tgt_lang: str | None = None
    description: str | None = None
    intended_use: str | None = None
    training_data: str | None = None
    training_procedure: str | None = None
    training_hyperparameters: Mapping | None = field(default=None)
    limitations: str | None = None

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def updated(self, **values) -> ModelCardInfo:
        """A copy with `values` set; keywords that are no field raise `TypeError` naming them and the fields."""
        unknown = sorted(set(values) - set(self.field_names()))
        if unknown:
            raise TypeError(f"{unknown} are no ModelCardInfo fields; the fields are {list(self.field_names())}")
        return replace(self, **values)


def load_metrics(metrics: Mapping | str | os.PathLike) -> dict:
    """The recorded metrics as a dict: given as a dict, or read from a JSON file."""
    if isinstance(metrics, Mapping):
        return dict(metrics)
    path = Path(metrics)
    if not path.is_file():
        raise FileNotFoundError(f"metrics file {path} does not exist")
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object of metrics, got {type(data).__name__}")
    return data


def recorded_metrics(metrics: Mapping) -> dict[str, tuple[str, str, float]]:
    """{recorded key: (split prefix, metric type, value)} for the values that go into the model-index."""
    selected = {}
    for key, value in metrics.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        prefix, _, metric = key.partition("_")
        if prefix not in _METRIC_PREFIXES or not metric or any(metric.endswith(n) for n in _NOT_METRICS):
            continue
        selected[key] = (prefix, metric, value)
    return selected


def eval_results_from_metrics(
    metrics: Mapping, dataset: DatasetInfo | Mapping | str | None, task_type: str | None
) -> list[EvalResult]:
    """One `EvalResult` per recorded metric (see `recorded_metrics`); the split is the dataset's if given, otherwise
    `validation` for `eval_*` and `test` for `test_*`/`predict_*`."""
    selected = recorded_metrics(metrics)
    if not selected:
        return []
    info = DatasetInfo.coerce(dataset if dataset is not None else metrics.get("dataset"))
    if info is None:
        info = DatasetInfo(id="custom", name="custom (not recorded)")
    task_type = task_type or "text-generation"
    return [
        EvalResult(
            task_type=task_type,
            task_name=TASK_NAMES.get(task_type, task_type),
            dataset_type=info.id,
            dataset_name=info.name or info.id,
            dataset_config=info.config,
            dataset_split=info.split or _METRIC_PREFIXES[prefix],
            dataset_revision=info.revision,
            metric_type=metric,
            metric_name=METRIC_NAMES.get(metric, metric),
            metric_value=value,
        )
        for prefix, metric, value in selected.values()
    ]


def infer_pipeline_tag(model, src_lang: str | None = None, tgt_lang: str | None = None) -> str | None:
    """The Hub task of a model class: translation/text2text-generation for seq2seq, text-generation for causal LMs,
    fill-mask for masked LMs, and so on."""
    name = type(model).__name__
    if name.endswith("ForConditionalGeneration"):
        return "translation" if (src_lang and tgt_lang) else "text2text-generation"
    for suffix, tag in (
        ("ForCausalLM", "text-generation"), ("ForMaskedLM", "fill-mask"), ("ForPreTraining", "fill-mask"),
        ("ForSequenceClassification", "text-classification"), ("ForNextSentencePrediction", "text-classification"),
        ("ForTokenClassification", "token-classification"), ("ForQuestionAnswering", "question-answering"),
        ("ForMultipleChoice", "multiple-choice"), ("Model", "feature-extraction"),
    ):
        if name.endswith(suffix):
            return tag
    return None


def resolve_template(template: str | os.PathLike | None = None) -> Path:
    """The model-card template: `template` if given, else `$TOBIGS_MODEL_CARD_TEMPLATE`, else the packaged template
    (`PACKAGE_TEMPLATE`: in a source checkout, the repository's `model_card.md` through a symlink)."""
    if template is not None:
        candidate = Path(template)
    elif os.environ.get("TOBIGS_MODEL_CARD_TEMPLATE"):
        candidate = Path(os.environ["TOBIGS_MODEL_CARD_TEMPLATE"])
    else:
        candidate = PACKAGE_TEMPLATE
    if not candidate.is_file():
        raise FileNotFoundError(f"model card template {candidate} does not exist")
    return candidate


def _as_list(value) -> list | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _positions_row(config) -> str:
    """How the model knows the order of its tokens, and how far it reaches."""
    if config.position_embedding_type == "relative":  # Transformer-XL: no table, so no length limit
        memory = f", memory of {config.mem_len} hidden states per layer" if config.mem_len else ""
        return f"relative (Transformer-XL), no length limit{memory}"
    return f"{config.position_embedding_type}, up to {config.max_position_embeddings}"


def _default_sections(pipeline_tag: str | None, family: str, src_lang, tgt_lang) -> dict:
    direction = f" from {src_lang} to {tgt_lang}" if src_lang and tgt_lang else ""
    task = TASK_NAMES.get(pipeline_tag or "", pipeline_tag or "the task it was trained on").lower()
    return dict(
        intended_use=(
            f"{task.capitalize()}{direction} with a small {family}, trained as teaching material for the ToBig's NLP "
            "lecture on the Transformer family. Use it to study how the architecture behaves and to compare it with "
            "its siblings; it is not meant for production use."
        ),
        training_data="Not recorded by the training run.",
        training_procedure="Trained with the `tobigs_transformer` training scripts (transformers `Trainer`).",
        limitations=(
            "A small model trained on a small corpus: expect frequent errors, limited vocabulary coverage and "
            "sensitivity to inputs unlike its training data. It reproduces the biases of its training data and has "
            "not been evaluated for fairness or safety. Inputs longer than `max_position_embeddings` tokens are "
            "rejected (pass `truncation=True` to the seq2seq pipelines to cut them)."
        ),
    )


def usage_snippet(pipeline_tag: str | None, model_id: str, src_lang=None, tgt_lang=None, mask_token=None) -> str:
    """Python code that runs the exported model through `pipeline()` where the package is not installed."""
    examples = {
        "translation": "pipe(['The cat sat on the mat.'], num_beams=4, max_new_tokens=64)",
        "summarization": "pipe(['A long article ...'], num_beams=4, max_new_tokens=64)",
        "text2text-generation": "pipe(['Some input text.'], max_new_tokens=64)",
        "text-generation": "pipe('Once upon a time', max_new_tokens=32)",
        "fill-mask": f"pipe('The cat sat on the {mask_token or '[MASK]'}.')",
        "text-classification": "pipe({'text': 'A first sentence.', 'text_pair': 'A second one.'})",
        "token-classification": "pipe('Some text to tag.')",
        "feature-extraction": "pipe('Some text.')",
    }
    task = pipeline_tag if pipeline_tag in examples else "feature-extraction"
    if task == "translation" and src_lang and tgt_lang:
        task_name = f"translation_{src_lang}_to_{tgt_lang}"
    else:
        task_name = task
    extra = ", aggregation_strategy='simple'" if task == "token-classification" else ""
    return (
        "from transformers import pipeline\n\n"
        f"pipe = pipeline({task_name!r}, model={model_id!r}, trust_remote_code=True{extra})\n"
        f"print({examples[task]})"
    )


def build_model_card(
    model,
    info: ModelCardInfo | None = None,
    *,
    metrics: Mapping | None = None,
    files: Iterable[str] | None = None,
    model_id: str | None = None,
    mask_token: str | None = None,
    template: str | os.PathLike | None = None,
    **card_fields,
) -> ModelCard:
    """A `ModelCard` for `model`, with YAML metadata (including a `model-index` of the recorded metrics) and prose
    sections, rendered from the template (`resolve_template`). `info` says what the card says beyond the config;
    keywords named like its fields (`model_name="x"`, `src_lang="ro"`, ...) set those fields on top of it."""
    info = (info or ModelCardInfo()).updated(**card_fields)
    if not info.model_name:
        raise ValueError("build_model_card needs a model_name (ModelCardInfo.model_name)")
    model_name, license = info.model_name, info.license
    language, base_model, tags, pipeline_tag = info.language, info.base_model, info.tags, info.pipeline_tag
    src_lang, tgt_lang, description = info.src_lang, info.tgt_lang, info.description
    intended_use, training_data, training_procedure = info.intended_use, info.training_data, info.training_procedure
    training_hyperparameters, limitations, dataset = info.training_hyperparameters, info.limitations, info.dataset
    config = model.config
    metrics = dict(metrics or {})
    pipeline_tag = pipeline_tag or infer_pipeline_tag(model, src_lang, tgt_lang)
    dataset_info = DatasetInfo.coerce(dataset if dataset is not None else metrics.get("dataset"))
    eval_results = eval_results_from_metrics(metrics, dataset_info, pipeline_tag)
    family = _FAMILY.get(config.architecture, config.architecture)
    language = _as_list(language)
    if language is None and src_lang and tgt_lang:
        language = [src_lang, tgt_lang]
    all_tags = ["tobigs_transformer", config.architecture, "custom_code"]
    if pipeline_tag:
        all_tags.append(pipeline_tag)
    all_tags += [t for t in (tags or []) if t not in all_tags]

    card_data = ModelCardData(
        language=language,
        license=license,
        library_name="transformers",
        tags=all_tags,
        datasets=[dataset_info.id] if dataset_info is not None else None,
        metrics=sorted({r.metric_type for r in eval_results}) or None,
        pipeline_tag=pipeline_tag,
        base_model=_as_list(base_model),
        model_name=model_name,
        eval_results=eval_results or None,
    )
    defaults = _default_sections(pipeline_tag, family, src_lang, tgt_lang)
    if dataset_info is not None and training_data is None:
        config_name = f", configuration `{dataset_info.config}`" if dataset_info.config else ""
        training_data = f"{dataset_info.name or dataset_info.id} (dataset `{dataset_info.id}`{config_name})."
    hyperparameters = dict(training_hyperparameters or {})
    n_parameters = sum(p.numel() for p in model.parameters())
    model_id = model_id or model_name
    encoder_layers = config.encoder_layers if config.has_encoder else "-"
    decoder_layers = config.decoder_layers if config.has_decoder else "-"
    article = "An" if family[0] in "aeiou" else "A"
    architecture_rows = [
        ("architecture", config.architecture),
        ("parameters", f"{n_parameters:,}"),
        ("d_model", config.d_model),
        ("layers (encoder / decoder)", f"{encoder_layers} / {decoder_layers}"),
        ("attention heads", config.encoder_attention_heads if config.has_encoder else config.decoder_attention_heads),
        ("feed-forward width", config.encoder_ffn_dim if config.has_encoder else config.decoder_ffn_dim),
        ("vocabulary", config.vocab_size),
        ("positions", _positions_row(config)),
        ("layer norm", "pre-LN" if config.normalize_before else "post-LN"),
        ("activation", config.activation_function),
    ]
    return ModelCard.from_template(
        card_data,
        template_path=str(resolve_template(template)),
        model_id=model_id,
        model_name=model_name,
        model_class=type(model).__name__,
        family=family,
        model_description=description
        or f"{article} {family} of the `tobigs_transformer` package (ToBig's NLP lecture), exported with its code.",
        architecture_rows=architecture_rows,
        pipeline_tag=pipeline_tag,
        task_name=TASK_NAMES.get(pipeline_tag or "", pipeline_tag),
        src_lang=src_lang,
        tgt_lang=tgt_lang,
        usage=usage_snippet(pipeline_tag, model_id, src_lang, tgt_lang, mask_token=mask_token),
        intended_use=intended_use or defaults["intended_use"],
        training_data=training_data or defaults["training_data"],
        training_procedure=training_procedure or defaults["training_procedure"],
        training_hyperparameters=hyperparameters,
        eval_results=eval_results,
        limitations=limitations or defaults["limitations"],
        files=list(files or []),
        license=license,
        language=language,
        base_model=_as_list(base_model),
        dataset=dataset_info,
    )


__all__ = [
    "DatasetInfo",
    "ModelCardInfo",
    "METRIC_NAMES",
    "build_model_card",
    "eval_results_from_metrics",
    "infer_pipeline_tag",
    "load_metrics",
    "recorded_metrics",
    "resolve_template",
    "usage_snippet",
]
