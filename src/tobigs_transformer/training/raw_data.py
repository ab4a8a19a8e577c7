"""Reading the data a run trains on: `--dataset_name` or local files into a `DatasetDict`, the shared `map`
options, and where a split came from (for error messages)."""

from __future__ import annotations

import math
import os

import datasets

from .validation import DATA_EXTENSIONS, ArgumentError


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
