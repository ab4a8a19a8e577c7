"""Token classification (BERT §4.3, e.g. named entities): one label per word, predicted on its first sub-token.

    tobigs train token-classification --model_name_or_path runs/bert --train_file ner_train.jsonl \
        --validation_file ner_val.jsonl --tokens_column tokens --tags_column tags --do_train --do_eval \
        --output_dir runs/bert-ner

Data: JSON lines with a list of words and a list of tags per example.  Continuation sub-tokens and specials get
label -100 (ignored).  Reports word-level accuracy and macro-F1 over the tags (and over entity tags only, i.e.
without ``O``); ``--do_predict`` reports the same on ``--test_file`` (whose tags may be missing: then predictions
only).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from functools import partial

import datasets
import numpy as np
from transformers import DataCollatorForTokenClassification

from ..model.modeling_tobigs import TobigsForTokenClassification
from ..tooling.cli import run_cli
from .arguments import DataArguments
from .metrics import TokenClassificationMetrics
from .raw_data import map_examples, split_source
from .recipe import ClassifierRecipe
from .tasks import Task
from .validation import ArgumentError

TOKEN_CLASSIFICATION = Task(name="token-classification", title="token classification",
                            model_class=TobigsForTokenClassification)


@dataclass
class TokenClassificationDataArguments(DataArguments):
    tokens_column: str = field(default="tokens", metadata={"help": "Column holding the list of words."})
    tags_column: str = field(default="tags", metadata={"help": "Column holding the list of tags (str or int)."})
    max_seq_length: int = field(default=128, metadata={"help": "Sub-tokens kept per example."})
    label_all_tokens: bool = field(default=False, metadata={"help": "Label every sub-token, not only the first."})


def _word_labels(word_ids, tags, label2id: dict[str, int], every_sub_token: bool) -> list[int]:
    """The label of each sub-token: its word's tag id on the word's first sub-token (every one with
    ``every_sub_token``), -100 on specials and the other sub-tokens."""
    previous, row = None, []
    for word in word_ids:
        if word is None or (word == previous and not every_sub_token):
            row.append(-100)
        elif str(tags[word]) not in label2id:
            raise ArgumentError(f"tag {tags[word]!r} does not occur in the training data")
        else:
            row.append(label2id[str(tags[word])])
        previous = word
    return row


def _first_sub_tokens(word_ids) -> list[int]:
    previous, row = None, []
    for word in word_ids:
        row.append(-1 if word is None or word == previous else word)
        previous = word
    return row


def word_predictions(logits: np.ndarray, word_starts: list[list[int]], id2label: dict[int, str]) -> list[list[str]]:
    """One predicted tag per word that fits ``--max_seq_length`` (the argmax on its first sub-token)."""
    rows = []
    for row_logits, starts in zip(logits, word_starts):
        starts = np.asarray(starts)
        positions = np.flatnonzero(starts >= 0)
        rows.append([id2label[int(i)] for i in row_logits[positions].argmax(-1)])
    return rows


def _tagged(batch, indices: list[int], tokenizer, data_args, label2id: dict[str, int], source: str) -> dict:
    """Sub-tokens, word starts and labels of a batch of rows; ``indices``: the rows' indices in their split
    (``with_indices=True``) and ``source``: where the split came from, so that a bad row is named as the user knows
    it, not by its place in a map batch."""
    words = batch[data_args.tokens_column]
    enc = tokenizer(words, is_split_into_words=True, truncation=True, max_length=data_args.max_seq_length)
    # the word each first sub-token starts (-1 elsewhere): how --do_predict reads one tag per word (the Trainer
    # drops this column before the model sees the batch)
    enc["word_starts"] = [_first_sub_tokens(enc.word_ids(i)) for i in range(len(words))]
    # a test split may come without tags (a JSON split read next to tagged ones has the column, all None)
    if any(tags is not None for tags in batch.get(data_args.tags_column, [None])):
        labels = []
        for i, tags in enumerate(batch[data_args.tags_column]):
            # data files were checked record by record before (file and line); a --dataset_name split is not
            if tags is None or len(tags) != len(words[i]):
                given = "no tags (null)" if tags is None else f"{len(tags)} tags"
                raise ArgumentError(f"{source}, row {indices[i]}: column {data_args.tags_column!r} holds {given} for "
                                    f"{len(words[i])} words in column {data_args.tokens_column!r}: one tag per word")
            labels.append(_word_labels(enc.word_ids(i), tags, label2id, data_args.label_all_tokens))
        enc["labels"] = labels
    return dict(enc)


class TokenClassification(ClassifierRecipe):
    data_arguments = TokenClassificationDataArguments
    label_option = "--tags_column"
    task = TOKEN_CLASSIFICATION
    preprocess = staticmethod(_tagged)  # called by tokenize below, with the rows' indices and their source

    def columns(self, split: str, present: list[str]) -> list[str]:
        # a test split may come without tags (then: predictions only)
        return [self.data_args.tokens_column] + ([self.data_args.tags_column] if split != "test" else [])

    def label_values(self, rows) -> set:
        return {tag for tags in rows[self.data_args.tags_column] for tag in tags}

    def tokenize(self, raw, tokenizer, config) -> dict[str, datasets.Dataset]:
        # with the rows' indices, so that _tagged names a bad row by its split and index
        return {split: map_examples(ds, partial(_tagged, tokenizer=tokenizer, data_args=self.data_args,
                                                label2id=dict(config.label2id),
                                                source=split_source(self.data_args, split)),
                                    self.data_args, f"tokenize {split}", remove_columns=ds.column_names,
                                    with_indices=True)
                for split, ds in raw.items()}

    def collator(self, tokenizer, config, model) -> DataCollatorForTokenClassification:
        return DataCollatorForTokenClassification(tokenizer)

    def compute_metrics(self, tokenizer, config) -> TokenClassificationMetrics:
        return TokenClassificationMetrics(config.num_labels, config.label2id.get("O"))

    def after_predict(self, trainer, tokenizer, test, result) -> dict:
        """``predictions.txt`` as transformers' ``run_ner`` writes it: one line per test example, its words' tags."""
        logits = result.predictions[0] if isinstance(result.predictions, tuple) else result.predictions
        id2label = {int(i): label for i, label in trainer.model.config.id2label.items()}
        tags = word_predictions(np.asarray(logits), test["word_starts"], id2label)
        with open(os.path.join(self.training_args.output_dir, "predictions.txt"), "w", encoding="utf-8") as f:
            f.writelines(" ".join(row) + "\n" for row in tags)
        return {"test_predictions": tags[:5]}


COMMAND = TokenClassification.command(__doc__)


def main(args: list[str] | None = None) -> dict:
    """``tobigs train token-classification`` from Python: the run's metrics (errors raise)."""
    return TokenClassification.run_args(args)


if __name__ == "__main__":
    raise SystemExit(run_cli(main, "tobigs train token-classification", sys.argv[1:]))
