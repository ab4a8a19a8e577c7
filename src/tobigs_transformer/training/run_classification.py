"""Sequence classification fine-tuning (BERT §4.1: the pooled ``[CLS]`` state → a linear layer; GPT: last token;
BART: final ``</s>`` state) with accuracy and macro-F1.

    tobigs train classification --model_name_or_path runs/bert --train_file cls/rotten_tomatoes_train.jsonl \
        --validation_file cls/rotten_tomatoes_validation.jsonl --text_column text --label_column label \
        --do_train --do_eval --output_dir runs/bert-rt

``--text_pair_column`` classifies sentence pairs (``[CLS] A [SEP] B [SEP]``).  Labels may be ints or strings; the
label names are stored in the config (``id2label``).  Starting from a pretraining checkpoint
(``TobigsForPreTraining``/``TobigsForMaskedLM``) keeps its encoder and pooler and adds a new classifier.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from transformers import DataCollatorWithPadding

from ..model.modeling_tobigs import TobigsForSequenceClassification
from ..tooling.cli import run_cli
from .arguments import DataArguments
from .metrics import classification_metrics
from .recipe import ClassifierRecipe
from .tasks import Task
from .validation import ArgumentError

CLASSIFICATION = Task(name="classification", title="sequence classification",
                      model_class=TobigsForSequenceClassification, metrics=classification_metrics)


@dataclass
class ClassificationDataArguments(DataArguments):
    text_column: str = field(default="text", metadata={"help": "Column holding the text."})
    text_pair_column: str | None = field(default=None, metadata={"help": "Optional second text (sentence pairs)."})
    label_column: str = field(default="label", metadata={"help": "Column holding the label (int or string)."})
    max_seq_length: int = field(default=128, metadata={"help": "Tokens kept per example (truncated beyond)."})


def _labelled(batch, tokenizer, data_args, label2id: dict[str, int]) -> dict:
    pair = batch[data_args.text_pair_column] if data_args.text_pair_column else None
    out = tokenizer(batch[data_args.text_column], pair, truncation=True, max_length=data_args.max_seq_length)
    if data_args.label_column in batch:  # a test split may come without labels
        unknown = sorted({str(v) for v in batch[data_args.label_column]} - set(label2id))
        if unknown:
            raise ArgumentError(f"labels {unknown[:5]} do not occur in the training data")
        out["labels"] = [label2id[str(v)] for v in batch[data_args.label_column]]
    return dict(out)


class SequenceClassification(ClassifierRecipe):
    data_arguments = ClassificationDataArguments
    label_option = "--label_column"
    task = CLASSIFICATION
    preprocess = staticmethod(_labelled)

    def columns(self, split: str, present: list[str]) -> list[str]:
        args = self.data_args
        if split == "test" and args.label_column not in present:
            return []  # a test split may come without labels (then: predictions only)
        return [args.text_column, args.label_column] + ([args.text_pair_column] if args.text_pair_column else [])

    def label_values(self, rows) -> set:
        values = set(rows[self.data_args.label_column])
        if len(values) < 2:
            raise ArgumentError(f"--label_column {self.data_args.label_column!r} has {len(values)} distinct "
                                "value(s); need >= 2")
        return values

    def collator(self, tokenizer, config, model) -> DataCollatorWithPadding:
        return DataCollatorWithPadding(tokenizer)


COMMAND = SequenceClassification.command(__doc__)


def main(args: list[str] | None = None) -> dict:
    """``tobigs train classification`` from Python: the run's metrics (errors raise)."""
    return SequenceClassification.run_args(args)


if __name__ == "__main__":
    raise SystemExit(run_cli(main, "tobigs train classification", sys.argv[1:]))
