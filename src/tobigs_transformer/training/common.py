"""What every training command shares: logging, data loading, tokenizer/config/model construction.  The flow that
strings them together is :class:`~.recipe.Recipe`."""

from __future__ import annotations

import logging
import math
import os
import sys
from functools import partial
from typing import Any

import datasets
import numpy as np
import transformers
import yaml
from huggingface_hub.errors import StrictDataclassError
from transformers import AutoConfig, AutoTokenizer, set_seed

from ..model.configuration_tobigs import TobigsConfig
from ..model.presets import PRESETS
from .callbacks import last_good_checkpoint
from .checkpoints import resumable_checkpoints
from .validation import (
    DATA_EXTENSIONS,
    ArgumentError,
    LAST_CHECKPOINT,
    check_architecture,
    check_resume_arg,
    check_tokenizer_matches,
    not_found_message,
)


logger = logging.getLogger("tobigs_transformer.training")


def setup(training_args, *dataclasses_to_log) -> None:
    """Logging as transformers' examples do it (INFO on the main process), then the seed."""
    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        datefmt="%m/%d/%Y %H:%M:%S",
        handlers=[logging.StreamHandler(sys.stdout)],
    )
    level = training_args.get_process_log_level()
    logger.setLevel(level)
    datasets.utils.logging.set_verbosity(max(level, logging.WARNING))
    transformers.utils.logging.set_verbosity(level)
    transformers.utils.logging.enable_default_handler()
    transformers.utils.logging.enable_explicit_format()
    logger.warning(
        f"process rank {training_args.process_index}/{training_args.world_size}, device {training_args.device}, "
        f"distributed: {training_args.parallel_mode.value}, bf16: {training_args.bf16}, fp16: {training_args.fp16}"
    )
    for obj in dataclasses_to_log:
        logger.info(f"{type(obj).__name__}: {obj}")
    set_seed(training_args.seed)


# ------------------------------------------------------------------------------------------------ data
def data_files(data_args) -> dict[str, str]:
    """``{split: path}`` of the local data files given on the command line."""
    files = {}
    for split, name in (("train", "train_file"), ("validation", "validation_file"), ("test", "test_file")):
        if getattr(data_args, name, None):
            files[split] = getattr(data_args, name)
    return files


def text_builder(data_args) -> bool:
    """True when the local data files are plain text (read by ``datasets``' text builder)."""
    files = data_files(data_args)
    return not data_args.dataset_name and bool(files) and all(
        DATA_EXTENSIONS.get(os.path.splitext(p)[1].lower()) == "text" for p in files.values()
    )


def load_raw_datasets(data_args, model_args=None, text_sample_by: str = "line",
                      keep_linebreaks: bool = False) -> datasets.DatasetDict:
    """A ``DatasetDict`` from ``--dataset_name`` or local files; without a validation split, ``train`` is split by
    ``--validation_split_percentage``.  ``text_sample_by="paragraph"`` reads .txt files one blank-line separated
    paragraph (document) per example; ``keep_linebreaks`` keeps each line's ``\n`` (one example per line)."""
    cache_dir = getattr(model_args, "cache_dir", None) if model_args is not None else None
    if data_args.dataset_name:
        raw = datasets.load_dataset(data_args.dataset_name, data_args.dataset_config_name, cache_dir=cache_dir)
    else:
        files = data_files(data_args)
        builders = {DATA_EXTENSIONS[os.path.splitext(p)[1].lower()] for p in files.values()}
        if len(builders) != 1:
            raise ArgumentError(f"all data files must have the same format, got {files}")
        builder = builders.pop()
        kwargs = {"sample_by": text_sample_by, "keep_linebreaks": keep_linebreaks} if builder == "text" else {}
        if builder == "csv" and any(p.endswith(".tsv") for p in files.values()):
            kwargs["delimiter"] = "\t"
        raw = datasets.load_dataset(builder, data_files=files, cache_dir=cache_dir, **kwargs)
    if "validation" not in raw and "train" in raw and data_args.validation_split_percentage > 0:
        if len(raw["train"]) < 2:
            raise ArgumentError(
                f"{split_source(data_args, 'train')} has {len(raw['train'])} example(s): too few to hold out "
                f"--validation_split_percentage {data_args.validation_split_percentage} for evaluation; give "
                "--validation_file or --validation_split_percentage 0"
            )
        if keep_linebreaks:
            # the lines of one text: hold out its end and keep the order (shuffled lines would be a different text)
            n = len(raw["train"])
            cut = n - math.ceil(n * data_args.validation_split_percentage / 100)
            raw["validation"] = raw["train"].select(range(cut, n))
            raw["train"] = raw["train"].select(range(cut))
        else:
            split = raw["train"].train_test_split(test_size=data_args.validation_split_percentage / 100, seed=42)
            raw["train"], raw["validation"] = split["train"], split["test"]
    return raw


def select(ds, n: int | None):
    return ds if n is None else ds.select(range(min(n, len(ds))))


def map_examples(ds, function, data_args, desc: str, **options):
    """``ds.map(function, batched=True)`` with the options every command shares (``--preprocessing_num_workers``,
    ``--overwrite_cache``); ``options`` adds or overrides (``batch_size``, ``with_indices``, ``remove_columns``)."""
    options = {"batched": True, "num_proc": data_args.preprocessing_num_workers,
               "load_from_cache_file": not data_args.overwrite_cache, "desc": desc, **options}
    return ds.map(function, **options)


def _to_documents(batch, sentences_column: str, text_column: str):
    if sentences_column in batch:
        docs = [[s for s in doc if s and s.strip()] for doc in batch[sentences_column]]
    else:
        docs = [[s for s in (t or "").split("\n") if s.strip()] for t in batch[text_column]]
    return {"sentences": [d for d in docs if d]}


def load_documents(data_args, raw: datasets.DatasetDict) -> datasets.DatasetDict:
    """Documents as lists of sentences (column `sentences`), from a `--sentences_column` of lists or a
    `--text_column` with one sentence per line: the input of NSP/SOP pairing, RoBERTa packing and BART noising."""
    for split, ds in raw.items():
        if data_args.sentences_column not in ds.column_names and data_args.text_column not in ds.column_names:
            raise ArgumentError(
                f"neither --sentences_column {data_args.sentences_column!r} nor --text_column "
                f"{data_args.text_column!r} is in the data of {split_source(data_args, split)} "
                f"(columns: {ds.column_names})"
            )
    first = next(iter(raw.values()))
    return map_examples(
        raw, partial(_to_documents, sentences_column=data_args.sentences_column, text_column=data_args.text_column),
        data_args, "documents", remove_columns=first.column_names,
    )


def label_names(values, option: str) -> list[str]:
    """The class names, list index = label id: ``0 .. max`` for integer labels (ids kept as given), otherwise the
    sorted distinct names.  Every label value ``v`` has the id ``names.index(str(v))``."""
    values = set(values)
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        if min(values) < 0:
            raise ArgumentError(f"{option}: integer labels must be >= 0, got {sorted(values)[:10]}")
        return [str(i) for i in range(max(values) + 1)]
    return sorted({str(v) for v in values})


def label_config(names: list[str]) -> dict[str, Any]:
    """The config values of a classifier over ``names``."""
    return {"num_labels": len(names), "id2label": dict(enumerate(names)),
            "label2id": {name: i for i, name in enumerate(names)}}


def read_documents(data_args, model_args=None) -> datasets.DatasetDict:
    """The splits as documents of sentences (a .txt file: one blank-line separated paragraph per document)."""
    return load_documents(data_args, load_raw_datasets(data_args, model_args, text_sample_by="paragraph"))


def require_columns(ds, columns, what: str, source: str | None = None) -> None:
    """Every one of ``columns`` is in ``ds``; else an error naming the missing ones, the columns present and the
    file (``source``) they were read from."""
    missing = [c for c in columns if c not in ds.column_names]
    if missing:
        where = f" of {source}" if source else ""
        raise ArgumentError(f"{what}: column(s) {missing} not in the data{where} (columns: {ds.column_names})")


def split_source(data_args, split: str) -> str:
    """Where a split came from, for error messages: its file, or the dataset name and split."""
    files = data_files(data_args)
    if split in files:
        return files[split]
    if split == "validation" and "train" in files:
        return f"{files['train']} (validation part)"
    return f"{data_args.dataset_name or 'the data'} [{split}]"


def require_pad_token(tokenizer, model_args, why: str) -> None:
    """Batches of unequal length are padded: say so before any tokenizing when the tokenizer cannot pad."""
    if tokenizer.pad_token_id is None:
        name = model_args.tokenizer_name or model_args.model_name_or_path
        raise ArgumentError(
            f"the tokenizer {name!r} has no pad token, but {why} pads batches; give --tokenizer_name a tokenizer "
            "with one (tobigs-train-tokenizer adds <pad>/[PAD]), or add it with "
            "tokenizer.add_special_tokens({'pad_token': '<pad>'}) and save the tokenizer"
        )


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


def resolve_checkpoint(training_args) -> str | None:
    """``--resume_from_checkpoint last`` (or ``true``) → the newest checkpoint in ``--output_dir`` that verifies
    (marked complete, or a plain transformers one that loads).  Without the option, a folder that holds checkpoints
    of an earlier run is refused unless ``--overwrite_output_dir`` says to start again from step 0."""
    value = training_args.resume_from_checkpoint
    if value is None:
        found = resumable_checkpoints(training_args.output_dir)
        if found and not getattr(training_args, "overwrite_output_dir", False):
            names = [os.path.basename(p) for p in found]
            raise ArgumentError(
                f"--output_dir {training_args.output_dir} holds checkpoints of an earlier run ({', '.join(names)}): "
                "pass --resume_from_checkpoint last to continue it, --overwrite_output_dir to train from step 0 and "
                "replace them, or choose another --output_dir"
            )
        return None
    if str(value).lower() in LAST_CHECKPOINT:
        found = last_good_checkpoint(training_args.output_dir)
        if found is None:
            logger.warning(f"no checkpoint in {training_args.output_dir} to resume from; training from the start")
        return found
    check_resume_arg(value)
    return value


__all__ = [
    "build_config",
    "data_files",
    "label_config",
    "label_names",
    "load_documents",
    "load_model",
    "load_raw_datasets",
    "load_tokenizer",
    "map_examples",
    "parse_overrides",
    "read_documents",
    "require_columns",
    "require_pad_token",
    "resolve_checkpoint",
    "select",
    "setup",
    "split_source",
    "text_builder",
]
