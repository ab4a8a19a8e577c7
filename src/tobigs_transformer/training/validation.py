"""Checks that run before any weights are built or data is tokenised, so bad arguments fail in seconds with a
message that names the value and what would fit.

Checks of one arguments dataclass run in its ``__post_init__`` (:mod:`.arguments`): a bad value is a usage error
at parse time.  Checks that need two of them, or the contents of the data files, run here before anything loads.
"""

from __future__ import annotations

import os
from functools import partial

from ..model.configuration_tobigs import TobigsConfig
from ..tooling import paths
from ..tooling.cli import UsageError
from ..tooling.data_files import Column, Columns, DataFileError, check_data_file
from ..tooling.paths import looks_like_local_path, not_found_message


DATA_EXTENSIONS = {".txt": "text", ".text": "text", ".json": "json", ".jsonl": "json", ".csv": "csv", ".tsv": "csv"}
DATA_FILE_OPTIONS = ("train_file", "validation_file", "test_file")

#: Architectures each training task takes (presets that fit are listed in errors).
TASK_ARCHITECTURES = {
    "clm": ("decoder-only",),
    "mlm": ("encoder-only",),
    "denoising": ("encoder-decoder",),
    "translation": ("encoder-decoder",),
    "summarization": ("encoder-decoder",),
    "classification": ("encoder-only", "decoder-only", "encoder-decoder"),
    "token-classification": ("encoder-only", "decoder-only"),
}


class ArgumentError(UsageError):
    """A command-line argument that cannot work; raised before training starts (a command line exits with 2)."""


def presets_for(task: str) -> list[str]:
    from ..model.presets import PRESETS

    return [name for name, values in PRESETS.items() if values.get("architecture") in TASK_ARCHITECTURES[task]]


# ------------------------------------------------------------------------------------------ one dataclass each
def check_data_file_options(data_args) -> None:
    """Data files exist, are files and have a known extension; a data source and its percentages fit."""
    for name in DATA_FILE_OPTIONS:
        path = getattr(data_args, name, None)
        if path is None:
            continue
        if not os.path.exists(path):
            raise ArgumentError(f"--{name} {path!r}: no such file (the path does not exist)")
        if os.path.isdir(path):
            raise ArgumentError(f"--{name} {path!r} is a directory; give a data file")
        ext = os.path.splitext(path)[1].lower()
        if ext not in DATA_EXTENSIONS:
            raise ArgumentError(
                f"--{name} {path!r} has extension {ext!r}; use one of {sorted(DATA_EXTENSIONS)} (text, JSON lines, "
                "CSV)"
            )
    if getattr(data_args, "dataset_name", None) and data_args.train_file:
        raise ArgumentError("give either --dataset_name or --train_file/--validation_file, not both")
    pct = data_args.validation_split_percentage
    if not 0 <= pct < 100:
        raise ArgumentError(f"--validation_split_percentage must be in [0, 100), got {pct}")


def check_model_sources(model_args) -> None:
    """One source of weights/config, known presets, local paths that exist, label smoothing in [0, 1)."""
    sources = [n for n in ("model_name_or_path", "preset", "config_name") if getattr(model_args, n)]
    if "model_name_or_path" in sources and len(sources) > 1:
        raise ArgumentError(
            "--model_name_or_path continues from a checkpoint and brings its own config; drop "
            + ", ".join(f"--{n}" for n in sources if n != "model_name_or_path")
        )
    if model_args.preset and model_args.preset not in TobigsConfig.presets():
        raise ArgumentError(f"--preset {model_args.preset!r} is unknown; choose from {TobigsConfig.presets()}")
    check_local_dir("--model_name_or_path", model_args.model_name_or_path)
    check_local_dir("--tokenizer_name", model_args.tokenizer_name)
    config_name = model_args.config_name
    if config_name and config_name not in TobigsConfig.presets() and looks_like_local_path(config_name) \
            and not os.path.exists(config_name):
        raise ArgumentError(f"--config_name {config_name!r}: no such file or directory, and not a preset "
                            f"({TobigsConfig.presets()})")
    if model_args.label_smoothing is not None and not 0.0 <= model_args.label_smoothing < 1.0:
        raise ArgumentError(f"--label_smoothing must be in [0, 1), got {model_args.label_smoothing}")


# ------------------------------------------------------------------------------------------ across dataclasses
def check_run(model_args, data_args, training_args) -> None:
    """Before anything loads: a tokenizer for new weights, data for every action asked for, and one read of each
    local data file (its name and line in the error of anything unreadable)."""
    if model_args.tokenizer_name is None and model_args.model_name_or_path is None:
        raise ArgumentError("--tokenizer_name is required when starting from a preset (train one with tobigs "
                            "tokenizer)")
    for name in DATA_FILE_OPTIONS:
        path = getattr(data_args, name, None)
        if path is not None:
            check_data_file(path, DATA_EXTENSIONS[os.path.splitext(path)[1].lower()], data_columns(data_args, name))
    has_hub = bool(getattr(data_args, "dataset_name", None))
    do_predict = getattr(training_args, "do_predict", False)
    if training_args.do_train and not (has_hub or data_args.train_file):
        raise ArgumentError("--do_train needs training data: --train_file PATH or --dataset_name NAME")
    if training_args.do_eval and not (has_hub or data_args.validation_file or data_args.train_file):
        raise ArgumentError("--do_eval needs evaluation data: --validation_file PATH (or --dataset_name)")
    if do_predict and not (has_hub or data_args.test_file):
        raise ArgumentError("--do_predict needs --test_file PATH (or --dataset_name with a test split)")
    if not (training_args.do_train or training_args.do_eval or do_predict):
        raise ArgumentError("nothing to do: pass --do_train, --do_eval and/or --do_predict")


def data_columns(data_args, option: str = "train_file") -> Columns | None:
    """What every record of a command's data file (``option``: ``train_file``, ``validation_file`` or ``test_file``)
    must hold, from the column options its data-arguments dataclass declares: one table for every task, checked by
    :func:`check_run` before anything loads (see :class:`~tobigs_transformer.tooling.data_files.Column`).

    Labels and tags may be left out of a test file (then: predictions only), in every row or in none.  Causal-LM
    and document texts may be blank (a blank document is skipped, nothing is trained on it); the texts of a
    classifier, a translation or a summary may not (an empty source or target would be trained on as such)."""
    test = option == "test_file"
    get = partial(getattr, data_args)
    if hasattr(data_args, "tokens_column"):  # token classification
        return [Column(get("tokens_column"), "words"),
                Column(get("tags_column"), "tags", optional=test, same_length_as=get("tokens_column"))]
    if hasattr(data_args, "label_column"):  # sequence classification
        pair = [Column(get("text_pair_column"))] if get("text_pair_column", None) else []
        return [Column(get("text_column")), *pair, Column(get("label_column"), "label", optional=test)]
    if hasattr(data_args, "source_lang"):  # translation / summarization
        return partial(_seq2seq_columns, data_args)
    if hasattr(data_args, "block_size"):  # causal LM (CTRL: and the control code of every row)
        code = [Column(get("control_code_column"))] if get("control_code_column", None) else []
        return [Column(get("text_column"), allow_empty=True), *code]
    if hasattr(data_args, "sentences_column"):  # documents: NSP/SOP pairs, packing, denoising
        return partial(_document_columns, data_args)
    return None


def _seq2seq_columns(data_args, keys: list[str]) -> list[Column]:
    """The columns :func:`~.run_translation._columns` will read from a file whose first record has ``keys``."""
    if data_args.task == "translation":
        if "translation" in keys:
            return [Column("translation", key=data_args.source_lang), Column("translation", key=data_args.target_lang)]
        return [Column(data_args.source_lang), Column(data_args.target_lang)]
    text = data_args.text_column or ("document" if "document" in keys else "text")
    summary = data_args.summary_column or ("summary" if "summary" in keys else None)
    return [Column(text)] + ([Column(summary)] if summary else [])


def _document_columns(data_args, keys: list[str]) -> list[Column]:
    """A list of sentences where the file has ``--sentences_column``, else text split at its line breaks."""
    if data_args.sentences_column in keys:
        return [Column(data_args.sentences_column, "sentences")]
    return [Column(data_args.text_column, allow_empty=True)]


#: ``--resume_from_checkpoint`` values that mean "the newest complete checkpoint in --output_dir".
LAST_CHECKPOINT = ("last", "true", "auto")


def check_resume_arg(value) -> None:
    """``--resume_from_checkpoint PATH`` must be an existing directory (a checkpoint is always local: a missing path
    is never tried as a Hub repo id)."""
    if value is not None and str(value).lower() not in LAST_CHECKPOINT and not os.path.isdir(value):
        check_local_dir("--resume_from_checkpoint", str(value))
        raise ArgumentError(f"--resume_from_checkpoint {value!r}: no such directory")


def check_local_dir(option: str, value: str | None) -> None:
    """See :func:`tobigs_transformer.tooling.paths.check_local_dir` (raised here as :class:`ArgumentError`)."""
    paths.check_local_dir(option, value, error=ArgumentError)


def check_architecture(config: TobigsConfig, task: str, origin: str) -> None:
    allowed = TASK_ARCHITECTURES[task]
    if config.architecture not in allowed:
        raise ArgumentError(
            f"{origin} is a {config.architecture} model, but the {task} script trains "
            f"{' or '.join(allowed)} models; presets that fit: {presets_for(task)}"
        )


def check_tokenizer_matches(tokenizer, config: TobigsConfig, origin: str) -> None:
    """The tokenizer's ids must all be embeddable and its padding id must be the model's."""
    n = len(tokenizer)
    if n > config.vocab_size:
        raise ArgumentError(
            f"the tokenizer has {n} tokens but {origin} embeds only vocab_size={config.vocab_size}: ids >= "
            f"{config.vocab_size} would index past the embedding table. Use the tokenizer the model was trained with."
        )
    pads = (tokenizer.pad_token_id, config.pad_token_id)
    if None not in pads and pads[0] != pads[1]:
        raise ArgumentError(
            f"the tokenizer pads with id {tokenizer.pad_token_id} ({tokenizer.pad_token!r}) but {origin} has "
            f"pad_token_id={config.pad_token_id}: they come from different vocabularies"
        )


def check_length(length: int, config: TobigsConfig, what: str) -> None:
    if length > config.max_position_embeddings:
        raise ArgumentError(
            f"{what}={length} exceeds the model's max_position_embeddings={config.max_position_embeddings}"
        )
    if length < 2:
        raise ArgumentError(f"{what} must be at least 2, got {length}")


__all__ = [
    "ArgumentError",
    "DATA_EXTENSIONS",
    "LAST_CHECKPOINT",
    "DataFileError",
    "TASK_ARCHITECTURES",
    "check_architecture",
    "check_data_file_options",
    "check_length",
    "check_local_dir",
    "check_model_sources",
    "check_resume_arg",
    "check_run",
    "check_tokenizer_matches",
    "data_columns",
    "looks_like_local_path",
    "not_found_message",
    "presets_for",
]
