"""Data read as documents of sentences: the input of NSP/SOP pairing, RoBERTa packing and BART noising."""

from __future__ import annotations

from functools import partial

import datasets

from .raw_data import load_raw_datasets, map_examples, split_source
from .validation import ArgumentError


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



def read_documents(data_args, model_args=None) -> datasets.DatasetDict:
    """The splits as documents of sentences (a .txt file: one blank-line separated paragraph per document)."""
    return load_documents(data_args, load_raw_datasets(data_args, model_args, text_sample_by="paragraph"))
