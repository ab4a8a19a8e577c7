"""Token classification (BERT §4.3, e.g. named entities): one label per word, predicted on its first sub-token.

    tobigs-train-token-classification --model_name_or_path runs/bert --train_file ner_train.jsonl \
        --validation_file ner_val.jsonl --tokens_column tokens --tags_column tags --do_train --do_eval \
        --output_dir runs/bert-ner

Data: JSON lines with a list of words and a list of tags per example.  Continuation sub-tokens and specials get
label -100 (ignored).  Reports word-level accuracy and macro-F1 over the tags (and over entity tags only, i.e.
without ``O``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from transformers import DataCollatorForTokenClassification

from ..modeling_tobigs import TobigsForTokenClassification
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
from .run_classification import classification_metrics
from .trainers import TobigsTrainer
from .validation import ArgumentError, check_length


@dataclass
class TokenClassificationDataArguments(DataArguments):
    tokens_column: str = field(default="tokens", metadata={"help": "Column holding the list of words."})
    tags_column: str = field(default="tags", metadata={"help": "Column holding the list of tags (str or int)."})
    max_seq_length: int = field(default=128, metadata={"help": "Sub-tokens kept per example."})
    label_all_tokens: bool = field(default=False, metadata={"help": "Label every sub-token, not only the first."})


def main(args: list[str] | None = None) -> dict:
    model_args, data_args, training_args = parse_args(
        (ModelArguments, TokenClassificationDataArguments, TobigsTrainingArguments), args
    )
    prepare(model_args, data_args, training_args, "token-classification")
    setup(training_args, model_args, data_args)
    tokenizer = load_tokenizer(model_args)
    require_pad_token(tokenizer, model_args, "token classification (DataCollatorForTokenClassification)")
    raw = load_raw_datasets(data_args, model_args)
    for split, ds in raw.items():
        require_columns(ds, [data_args.tokens_column, data_args.tags_column], f"{split} split",
                        split_source(data_args, split))
    source = raw["train"] if "train" in raw else next(iter(raw.values()))
    tags = sorted({t for row in source[data_args.tags_column] for t in row}, key=str)
    if all(isinstance(t, (int, np.integer)) for t in tags):
        label_names = [str(i) for i in range(max(tags) + 1)]
        to_id = {t: int(t) for t in tags}
    else:
        label_names = [str(t) for t in tags]
        to_id = {t: i for i, t in enumerate(tags)}
    config, origin = build_config(
        model_args, tokenizer, "token-classification", default_preset="bert-base", num_labels=len(label_names),
        id2label=dict(enumerate(label_names)), label2id={n: i for i, n in enumerate(label_names)},
    )
    check_length(data_args.max_seq_length, config, "--max_seq_length")
    outside = to_id.get("O")

    def preprocess(batch):
        enc = tokenizer(batch[data_args.tokens_column], is_split_into_words=True, truncation=True,
                        max_length=data_args.max_seq_length)
        labels = []
        for i, word_tags in enumerate(batch[data_args.tags_column]):
            if len(word_tags) != len(batch[data_args.tokens_column][i]):
                raise ArgumentError(f"example {i}: {len(word_tags)} tags for {len(batch[data_args.tokens_column][i])} words")
            previous, row = None, []
            for word in enc.word_ids(i):
                if word is None:
                    row.append(-100)
                elif word != previous or data_args.label_all_tokens:
                    if word_tags[word] not in to_id:
                        raise ArgumentError(f"tag {word_tags[word]!r} does not occur in the training data")
                    row.append(to_id[word_tags[word]])
                else:
                    row.append(-100)
                previous = word
            labels.append(row)
        enc["labels"] = labels
        return dict(enc)

    with training_args.main_process_first(desc="tokenize"):
        tokenized = raw.map(preprocess, batched=True, remove_columns=source.column_names, desc="tokenize")
    train_dataset = select(tokenized["train"], data_args.max_train_samples) if training_args.do_train else None
    eval_dataset = select(tokenized["validation"], data_args.max_eval_samples) if "validation" in tokenized else None

    def metrics(eval_pred):
        out = classification_metrics(eval_pred)
        if outside is not None:
            preds = np.asarray(eval_pred.predictions).argmax(-1)
            labels = np.asarray(eval_pred.label_ids)
            keep = (labels != -100) & ((labels != outside) | (preds != outside))
            f1s = []
            for c in range(len(label_names)):
                if c == outside:
                    continue
                tp = np.sum((preds == c) & (labels == c) & keep)
                fp = np.sum((preds == c) & (labels != c) & keep)
                fn = np.sum((preds != c) & (labels == c) & keep)
                if tp + fp + fn:
                    f1s.append(2 * tp / (2 * tp + fp + fn))
            out["entity_f1"] = float(np.mean(f1s)) if f1s else float("nan")
        return out

    model = load_model(TobigsForTokenClassification, model_args, config)
    trainer = TobigsTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset if training_args.do_eval else None,
        processing_class=tokenizer,
        data_collator=DataCollatorForTokenClassification(tokenizer),
        compute_metrics=metrics,
        callbacks=[artifacts_callback(False, data_args, "token classification")],
    )
    return run(trainer, training_args, data_args, lm=False, train_dataset=train_dataset, eval_dataset=eval_dataset,
               title="token classification")


def cli(argv: list[str] | None = None) -> int:
    """Console-script entry point: exit status 0, 1 (runtime error) or 2 (usage error), one line on stderr."""
    return run_cli(main, "tobigs-train-token-classification", argv)


if __name__ == "__main__":
    raise SystemExit(cli())
