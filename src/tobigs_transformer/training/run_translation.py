"""Sequence-to-sequence fine-tuning/training with ``Seq2SeqTrainer``: translation (the original Transformer, Vaswani
et al. 2017) and summarization (BART), ``--task translation|summarization``.

    tobigs-train-translation --preset transformer-base \
        --config_overrides d_model=256,encoder_layers=3,decoder_layers=3,encoder_ffn_dim=1024,decoder_ffn_dim=1024 \
        --tokenizer_name tok/translation --train_file ko_en/train.jsonl --validation_file ko_en/validation.jsonl \
        --source_lang ko --target_lang en --label_smoothing 0.1 --lr_scheduler_type noam --warmup_steps 400 \
        --learning_rate 1.0 --adam_beta2 0.98 --adam_epsilon 1e-9 --predict_with_generate --generation_num_beams 4 \
        --do_train --do_eval --output_dir runs/transformer --sample_sentences "투빅아, 나는 너를 많이 사랑해."

Data: JSON/CSV with one column per language (``{"ko": ..., "en": ...}``) or a ``translation`` dict column (the
Hub's translation datasets); for summarization ``--text_column``/``--summary_column``.  With
``--predict_with_generate`` evaluation decodes with beam search (``--generation_num_beams``) and reports BLEU and
chrF from the package's own ``evaluate`` module (``tobigs_transformer.metrics``), plus the mean generated length.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch
from transformers import DataCollatorForSeq2Seq

from ..metrics import load_sacrebleu
from ..modeling_tobigs import TobigsForConditionalGeneration
from ..tooling.cli import run_cli
from .arguments import DataArguments, ModelArguments, TobigsSeq2SeqTrainingArguments, parse_args
from .common import (
    artifacts_callback,
    build_config,
    load_model,
    load_raw_datasets,
    load_tokenizer,
    prepare,
    require_pad_token,
    run,
    select,
    setup,
    split_source,
)
from .trainers import TobigsSeq2SeqTrainer
from .validation import ArgumentError, check_length


@dataclass
class Seq2SeqDataArguments(DataArguments):
    task: str = field(default="translation", metadata={"help": "translation or summarization."})
    source_lang: str | None = field(default=None, metadata={"help": "Source language column/key (translation)."})
    target_lang: str | None = field(default=None, metadata={"help": "Target language column/key (translation)."})
    text_column: str | None = field(default=None, metadata={"help": "Summarization: document column."})
    summary_column: str | None = field(default=None, metadata={"help": "Summarization: summary column."})
    source_prefix: str = field(default="", metadata={"help": "Text put before every source (T5-style prompts)."})
    max_source_length: int = field(default=128, metadata={"help": "Source tokens kept (longer ones truncated)."})
    max_target_length: int = field(default=128, metadata={"help": "Target tokens kept (longer ones truncated)."})
    sample_sentences: list[str] = field(
        default_factory=list, metadata={"help": "Sources to translate/summarise and print after training."}
    )


def _columns(data_args, column_names, source: str = "the data"):
    if data_args.task == "translation":
        if not data_args.source_lang or not data_args.target_lang:
            raise ArgumentError("--task translation needs --source_lang and --target_lang")
        if "translation" in column_names:
            return "translation", None
        missing = [c for c in (data_args.source_lang, data_args.target_lang) if c not in column_names]
        if missing:
            raise ArgumentError(f"language column(s) {missing} not in {source} (columns: {column_names})")
        return data_args.source_lang, data_args.target_lang
    text = data_args.text_column or ("document" if "document" in column_names else "text")
    summary = data_args.summary_column or ("summary" if "summary" in column_names else None)
    missing = [c for c in (text, summary) if c is None or c not in column_names]
    if missing:
        raise ArgumentError(
            f"summarization needs --text_column and --summary_column present in {source} (columns: {column_names})"
        )
    return text, summary


def _preprocess(batch, tokenizer, data_args, src_col, tgt_col):
    if src_col == "translation":
        sources = [ex[data_args.source_lang] for ex in batch["translation"]]
        targets = [ex[data_args.target_lang] for ex in batch["translation"]]
    else:
        sources, targets = batch[src_col], batch[tgt_col]
    sources = [data_args.source_prefix + (s or "") for s in sources]
    return dict(tokenizer(
        sources, text_target=[t or "" for t in targets], max_length=data_args.max_source_length,
        truncation=True,
    ) if data_args.max_source_length == data_args.max_target_length else _two_lengths(
        tokenizer, sources, targets, data_args))


def _two_lengths(tokenizer, sources, targets, data_args):
    out = tokenizer(sources, max_length=data_args.max_source_length, truncation=True)
    out["labels"] = tokenizer(text_target=[t or "" for t in targets], max_length=data_args.max_target_length,
                              truncation=True)["input_ids"]
    return out


def make_compute_metrics(tokenizer, holder: dict):
    metric = load_sacrebleu(experiment_id=uuid.uuid4().hex, keep_in_memory=True)

    def compute_metrics(eval_pred):
        preds, labels = eval_pred.predictions, eval_pred.label_ids
        if isinstance(preds, tuple):
            preds = preds[0]
        n = holder.get("n") or len(preds)
        preds, labels = preds[:n], labels[:n]  # Seq2SeqTrainer gathers DDP padding duplicates at the end
        preds = np.where(preds < 0, tokenizer.pad_token_id, preds)
        labels = np.where(labels < 0, tokenizer.pad_token_id, labels)
        hyps = [s.strip() for s in tokenizer.batch_decode(preds, skip_special_tokens=True)]
        refs = [[s.strip()] for s in tokenizer.batch_decode(labels, skip_special_tokens=True)]
        scores = metric.compute(predictions=hyps, references=refs)
        lengths = [int(np.count_nonzero(p != tokenizer.pad_token_id)) for p in preds]
        return {"bleu": scores["bleu"], "chrf": scores["chrf"], "gen_len": float(np.mean(lengths)) if lengths else 0.0}

    return compute_metrics


def translate(model, tokenizer, sources, num_beams: int = 4, max_new_tokens: int = 64, prefix: str = "") -> list[str]:
    """Beam-search outputs for a list of source strings."""
    model.eval()
    batch = tokenizer([prefix + s for s in sources], return_tensors="pt", padding=True).to(model.device)
    batch.pop("token_type_ids", None)
    with torch.no_grad():
        out = model.generate(**batch, num_beams=num_beams, max_new_tokens=max_new_tokens)
    return [s.strip() for s in tokenizer.batch_decode(out, skip_special_tokens=True)]


def main(args: list[str] | None = None) -> dict:
    model_args, data_args, training_args = parse_args(
        (ModelArguments, Seq2SeqDataArguments, TobigsSeq2SeqTrainingArguments), args
    )
    if data_args.task not in ("translation", "summarization"):
        raise ArgumentError(f"--task must be translation or summarization, got {data_args.task!r}")
    if data_args.task == "translation" and (not data_args.source_lang or not data_args.target_lang):
        raise ArgumentError("--task translation needs --source_lang and --target_lang")
    prepare(model_args, data_args, training_args, data_args.task)
    setup(training_args, model_args, data_args)
    tokenizer = load_tokenizer(model_args)
    require_pad_token(tokenizer, model_args, f"{data_args.task} (DataCollatorForSeq2Seq, sentences of unequal length)")
    config, origin = build_config(model_args, tokenizer, data_args.task, default_preset="transformer-base")
    check_length(data_args.max_source_length, config, "--max_source_length")
    check_length(data_args.max_target_length, config, "--max_target_length")
    if training_args.generation_max_length is None:
        training_args.generation_max_length = data_args.max_target_length
    if training_args.generation_max_length > config.max_position_embeddings:
        raise ArgumentError(
            f"--generation_max_length {training_args.generation_max_length} exceeds max_position_embeddings="
            f"{config.max_position_embeddings}"
        )

    raw = load_raw_datasets(data_args, model_args)
    first = next(iter(raw.values()))
    for split, ds in raw.items():  # every split, so that the message names the file that lacks a column
        _columns(data_args, ds.column_names, split_source(data_args, split))
    src_col, tgt_col = _columns(data_args, first.column_names)
    # cut before tokenising: examples map one-to-one
    for split, limit in (("train", data_args.max_train_samples), ("validation", data_args.max_eval_samples),
                         ("test", data_args.max_predict_samples)):
        if split in raw and limit is not None:
            raw[split] = select(raw[split], limit)
    with training_args.main_process_first(desc="tokenize"):
        tokenized = raw.map(
            partial(_preprocess, tokenizer=tokenizer, data_args=data_args, src_col=src_col, tgt_col=tgt_col),
            batched=True, remove_columns=first.column_names, num_proc=data_args.preprocessing_num_workers,
            load_from_cache_file=not data_args.overwrite_cache, desc="tokenize",
        )
    train_dataset = select(tokenized["train"], data_args.max_train_samples) if training_args.do_train else None
    eval_dataset = select(tokenized["validation"], data_args.max_eval_samples) if "validation" in tokenized else None
    test_dataset = select(tokenized["test"], data_args.max_predict_samples) if "test" in tokenized else None
    raw_test = select(raw["test"], data_args.max_predict_samples) if "test" in raw else None

    model = load_model(TobigsForConditionalGeneration, model_args, config)
    holder = {"n": len(eval_dataset) if eval_dataset is not None else None}
    trainer = TobigsSeq2SeqTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset if training_args.do_eval else None,
        processing_class=tokenizer,
        data_collator=DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100),
        compute_metrics=make_compute_metrics(tokenizer, holder) if training_args.predict_with_generate else None,
        callbacks=[artifacts_callback(True, data_args, f"{data_args.task} (Seq2SeqTrainer)")],
    )
    trainer.report_perplexity = True
    num_beams = training_args.generation_num_beams or 1

    def predict():
        metrics, extra = {}, {}
        if training_args.do_predict and test_dataset is not None:
            holder["n"] = len(test_dataset)
            result = trainer.predict(test_dataset, metric_key_prefix="test")
            holder["n"] = len(eval_dataset) if eval_dataset is not None else None
            metrics.update(result.metrics)
            trainer.log_metrics("test", result.metrics)
            trainer.save_metrics("test", result.metrics)
            if trainer.is_world_process_zero() and training_args.predict_with_generate:
                preds = np.where(result.predictions < 0, tokenizer.pad_token_id, result.predictions)[: len(test_dataset)]
                hyps = [s.strip() for s in tokenizer.batch_decode(preds, skip_special_tokens=True)]
                with open(os.path.join(training_args.output_dir, "generated_predictions.txt"), "w", encoding="utf-8") as f:
                    f.write("\n".join(hyps) + "\n")
                if raw_test is not None and src_col != "translation":
                    extra["test_examples"] = [
                        {"source": s, "reference": r, "prediction": h}
                        for s, r, h in zip(raw_test[src_col][:5], raw_test[tgt_col][:5], hyps[:5])
                    ]
        if data_args.sample_sentences and trainer.is_world_process_zero():
            outputs = translate(trainer.model, tokenizer, data_args.sample_sentences, num_beams,
                                training_args.generation_max_length, data_args.source_prefix)
            extra["samples"] = [{"source": s, "output": o} for s, o in zip(data_args.sample_sentences, outputs)]
            for s, o in zip(data_args.sample_sentences, outputs):
                print(f"[sample] {s}  →  {o}")
        return metrics, extra

    return run(trainer, training_args, data_args, lm=True, train_dataset=train_dataset, eval_dataset=eval_dataset,
               title=f"{data_args.task}", predict=predict)


def cli(argv: list[str] | None = None) -> int:
    """Console-script entry point: exit status 0, 1 (runtime error) or 2 (usage error), one line on stderr."""
    return run_cli(main, "tobigs-train-translation", argv)


if __name__ == "__main__":
    raise SystemExit(cli())
