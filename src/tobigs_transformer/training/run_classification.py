"""Sequence classification fine-tuning (BERT §4.1: the pooled ``[CLS]`` state → a linear layer; GPT: last token;
BART: final ``</s>`` state) with accuracy and macro-F1.

    tobigs-train-classification --model_name_or_path runs/bert --train_file cls/rotten_tomatoes_train.jsonl \
        --validation_file cls/rotten_tomatoes_validation.jsonl --text_column text --label_column label \
        --do_train --do_eval --output_dir runs/bert-rt

``--text_pair_column`` classifies sentence pairs (``[CLS] A [SEP] B [SEP]``).  Labels may be ints or strings; the
label names are stored in the config (``id2label``).  Starting from a pretraining checkpoint
(``TobigsForPreTraining``/``TobigsForMaskedLM``) keeps its encoder and pooler and adds a new classifier.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from transformers import DataCollatorWithPadding

from ..modeling_tobigs import TobigsForSequenceClassification
from ..tooling.cli import run_cli
from .arguments import DataArguments, ModelArguments, TobigsTrainingArguments, parse_args
from .common import (
    artifacts_callback,
    build_config,
    load_model,
    load_raw_datasets,
    load_tokenizer,
    prepare,
    require_pad_token,
    require_columns,
    run,
    select,
    setup,
    split_source,
)
from .trainers import TobigsTrainer
from .validation import ArgumentError, check_length


@dataclass
class ClassificationDataArguments(DataArguments):
    text_column: str = field(default="text", metadata={"help": "Column holding the text."})
    text_pair_column: str | None = field(default=None, metadata={"help": "Optional second text (sentence pairs)."})
    label_column: str = field(default="label", metadata={"help": "Column holding the label (int or string)."})
    max_seq_length: int = field(default=128, metadata={"help": "Tokens kept per example (truncated beyond)."})


def classification_metrics(eval_pred) -> dict[str, float]:
    """Accuracy and macro-averaged F1 (mean of per-class F1 over the classes present in labels or predictions)."""
    logits, labels = eval_pred.predictions, eval_pred.label_ids
    if isinstance(logits, tuple):
        logits = logits[0]
    preds = np.asarray(logits).argmax(-1) if np.asarray(logits).ndim > 1 else np.asarray(logits)
    labels = np.asarray(labels)
    keep = labels != -100
    preds, labels = preds[keep], labels[keep]
    f1s = []
    for c in np.union1d(np.unique(labels), np.unique(preds)):
        tp = np.sum((preds == c) & (labels == c))
        fp = np.sum((preds == c) & (labels != c))
        fn = np.sum((preds != c) & (labels == c))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return {
        "accuracy": float((preds == labels).mean()) if labels.size else float("nan"),
        "f1": float(np.mean(f1s)) if f1s else float("nan"),
    }


def main(args: list[str] | None = None) -> dict:
    model_args, data_args, training_args = parse_args(
        (ModelArguments, ClassificationDataArguments, TobigsTrainingArguments), args
    )
    prepare(model_args, data_args, training_args, "classification")
    setup(training_args, model_args, data_args)
    tokenizer = load_tokenizer(model_args)
    require_pad_token(tokenizer, model_args, "sequence classification (DataCollatorWithPadding)")
    raw = load_raw_datasets(data_args, model_args)
    first = next(iter(raw.values()))
    columns = [data_args.text_column, data_args.label_column] + (
        [data_args.text_pair_column] if data_args.text_pair_column else []
    )
    for split, ds in raw.items():
        if split != "test" or data_args.label_column in ds.column_names:
            require_columns(ds, columns, f"{split} split", split_source(data_args, split))
    # label set from the training split (or whatever split is there)
    label_source = raw["train"] if "train" in raw else first
    values = sorted(set(label_source[data_args.label_column]), key=lambda v: (str(type(v)), v))
    if len(values) < 2:
        raise ArgumentError(f"--label_column {data_args.label_column!r} has {len(values)} distinct value(s); need >= 2")
    if all(isinstance(v, (int, np.integer)) for v in values):
        if min(values) < 0:
            raise ArgumentError(f"integer labels must be >= 0, got {values[:10]}")
        label_names = [str(i) for i in range(max(values) + 1)]
        to_id = {v: int(v) for v in values}
    else:
        label_names = [str(v) for v in values]
        to_id = {v: i for i, v in enumerate(values)}
    num_labels = len(label_names)
    config, origin = build_config(
        model_args, tokenizer, "classification", default_preset="bert-base", num_labels=num_labels,
        id2label=dict(enumerate(label_names)), label2id={n: i for i, n in enumerate(label_names)},
    )
    check_length(data_args.max_seq_length, config, "--max_seq_length")

    def preprocess(batch):
        pair = batch[data_args.text_pair_column] if data_args.text_pair_column else None
        out = tokenizer(batch[data_args.text_column], pair, truncation=True, max_length=data_args.max_seq_length)
        if data_args.label_column in batch:
            unknown = [v for v in batch[data_args.label_column] if v not in to_id]
            if unknown:
                raise ArgumentError(f"labels {sorted(set(map(str, unknown)))[:5]} do not occur in the training data")
            out["labels"] = [to_id[v] for v in batch[data_args.label_column]]
        return dict(out)

    with training_args.main_process_first(desc="tokenize"):
        tokenized = raw.map(preprocess, batched=True, remove_columns=first.column_names, desc="tokenize",
                            num_proc=data_args.preprocessing_num_workers)
    train_dataset = select(tokenized["train"], data_args.max_train_samples) if training_args.do_train else None
    eval_dataset = select(tokenized["validation"], data_args.max_eval_samples) if "validation" in tokenized else None
    test_dataset = select(tokenized["test"], data_args.max_predict_samples) if "test" in tokenized else None

    model = load_model(TobigsForSequenceClassification, model_args, config)
    trainer = TobigsTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset if training_args.do_eval else None,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=classification_metrics,
        callbacks=[artifacts_callback(False, data_args, "sequence classification")],
    )

    def predict():
        if not (training_args.do_predict and test_dataset is not None):
            return {}, {}
        result = trainer.predict(test_dataset, metric_key_prefix="test")
        trainer.log_metrics("test", result.metrics)
        trainer.save_metrics("test", result.metrics)
        return result.metrics, {}

    return run(trainer, training_args, data_args, lm=False, train_dataset=train_dataset, eval_dataset=eval_dataset,
               title="sequence classification", predict=predict)


def cli(argv: list[str] | None = None) -> int:
    """Console-script entry point: exit status 0, 1 (runtime error) or 2 (usage error), one line on stderr."""
    return run_cli(main, "tobigs-train-classification", argv)


if __name__ == "__main__":
    raise SystemExit(cli())
