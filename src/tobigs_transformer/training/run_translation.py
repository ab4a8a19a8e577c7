"""Sequence-to-sequence training with ``Seq2SeqTrainer``: translation (the original Transformer, Vaswani et al. 2017)
and summarization (BART), ``--task translation|summarization``.

    tobigs train translation --preset transformer-base \
        --config_overrides d_model=256,encoder_layers=3,decoder_layers=3,encoder_ffn_dim=1024,decoder_ffn_dim=1024 \
        --tokenizer_name tok/translation --train_file ko_en/train.jsonl --validation_file ko_en/validation.jsonl \
        --source_lang ko --target_lang en --label_smoothing 0.1 --lr_scheduler_type noam --warmup_steps 400 \
        --learning_rate 1.0 --adam_beta2 0.98 --adam_epsilon 1e-9 --predict_with_generate --generation_num_beams 4 \
        --do_train --do_eval --output_dir runs/transformer --sample_sentences "투빅아, 나는 너를 많이 사랑해."

Data: JSON/CSV with one column per language (``{"ko": ..., "en": ...}``) or a ``translation`` dict column (the
Hub's translation datasets); for summarization ``--text_column``/``--summary_column``.  With
``--predict_with_generate`` evaluation decodes with beam search (``--generation_num_beams``) and reports BLEU and
chrF from the package's own ``evaluate`` module (``tobigs_transformer.metrics``), plus the mean generated length.
The saved ``generation_config.json`` holds the beams and maximum length of that evaluation, so a plain
``model.generate(**inputs)`` decodes as the reported samples and scores were decoded.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import torch
from transformers import DataCollatorForSeq2Seq

from ..model.modeling_tobigs import TobigsForConditionalGeneration
from ..tooling.cli import run_cli
from .arguments import DataArguments, TobigsSeq2SeqTrainingArguments
from .logging_setup import logger
from .metrics import GenerationMetrics, decode_ids
from .raw_data import map_examples, split_source
from .recipe import Recipe
from .tasks import Task
from .validation import ArgumentError

#: One task per --task (both are language models: exp(loss) is the target's perplexity).
SEQ2SEQ_TASKS = {
    name: Task(name=name, title=name, model_class=TobigsForConditionalGeneration, language_model=True, generates=True)
    for name in ("translation", "summarization")
}


@dataclass
class Seq2SeqDataArguments(DataArguments):
    task: Literal["translation", "summarization"] = field(
        default="translation", metadata={"help": "translation or summarization."}
    )
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

    def __post_init__(self):
        super().__post_init__()
        if self.task == "translation" and (not self.source_lang or not self.target_lang):
            raise ArgumentError("--task translation needs --source_lang and --target_lang")


def _columns(data_args, column_names, source: str = "the data") -> tuple[str, str | None]:
    if data_args.task == "translation":
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
    out = tokenizer(sources, max_length=data_args.max_source_length, truncation=True)
    out["labels"] = tokenizer(text_target=[t or "" for t in targets], max_length=data_args.max_target_length,
                              truncation=True)["input_ids"]
    return dict(out)


def translate(model, tokenizer, sources, prefix: str = "", **generate_kwargs) -> list[str]:
    """Outputs for a list of source strings, decoded with the model's ``generation_config`` (or
    ``generate_kwargs``)."""
    model.eval()
    batch = tokenizer([prefix + s for s in sources], return_tensors="pt", padding=True).to(model.device)
    batch.pop("token_type_ids", None)
    with torch.no_grad():
        out = model.generate(**batch, **generate_kwargs)
    return [s.strip() for s in tokenizer.batch_decode(out, skip_special_tokens=True)]


class Seq2Seq(Recipe):
    data_arguments = Seq2SeqDataArguments
    training_arguments = TobigsSeq2SeqTrainingArguments
    default_preset = "transformer-base"
    row_per_example = True
    lengths = ("max_source_length", "max_target_length")

    @property
    def pads(self) -> str:
        return f"{self.data_args.task} (DataCollatorForSeq2Seq, sentences of unequal length)"

    @property
    def task(self) -> Task:
        return SEQ2SEQ_TASKS[self.data_args.task]

    @property
    def generation_max_length(self) -> int:
        """Evaluation and samples decode up to this many tokens (default: --max_target_length)."""
        return self.training_args.generation_max_length or self.data_args.max_target_length

    def read(self):
        raw = super().read()
        for split, ds in raw.items():  # every split, so that the message names the file that lacks a column
            _columns(self.data_args, ds.column_names, split_source(self.data_args, split))
        return raw

    def check_config(self, config) -> None:
        super().check_config(config)
        if self.generation_max_length > config.max_position_embeddings:
            raise ArgumentError(f"--generation_max_length {self.generation_max_length} exceeds "
                                f"max_position_embeddings={config.max_position_embeddings}")

    def tokenize(self, raw, tokenizer, config) -> dict:
        first = next(iter(raw.values()))
        src_col, tgt_col = _columns(self.data_args, first.column_names)
        preprocess = partial(_preprocess, tokenizer=tokenizer, data_args=self.data_args, src_col=src_col,
                             tgt_col=tgt_col)
        return map_examples(raw, preprocess, self.data_args, "tokenize", remove_columns=first.column_names)

    def generation(self, config) -> dict:
        return {"num_beams": self.training_args.generation_num_beams or 1, "max_length": self.generation_max_length}

    def collator(self, tokenizer, config, model) -> DataCollatorForSeq2Seq:
        return DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100)

    def compute_metrics(self, tokenizer, config):
        return GenerationMetrics(tokenizer) if self.training_args.predict_with_generate else None

    def after_predict(self, trainer, tokenizer, test, result) -> dict:
        """``generated_predictions.txt`` (one output per test example) and the first five examples."""
        if not self.training_args.predict_with_generate:
            return {}
        hyps = decode_ids(tokenizer, result.predictions[: len(test)])
        with open(os.path.join(self.training_args.output_dir, "generated_predictions.txt"), "w",
                  encoding="utf-8") as f:
            f.write("\n".join(hyps) + "\n")
        first = test.select(range(min(5, len(test))))
        sources, references = decode_ids(tokenizer, first["input_ids"]), decode_ids(tokenizer, first["labels"])
        return {"test_examples": [{"source": s, "reference": r, "prediction": h}
                                  for s, r, h in zip(sources, references, hyps)]}

    def samples(self, trainer, tokenizer) -> dict:
        sentences = self.data_args.sample_sentences
        if not sentences:
            return {}
        outputs = translate(trainer.model, tokenizer, sentences, self.data_args.source_prefix)
        for s, o in zip(sentences, outputs):
            logger.info(f"sample: {s}  →  {o}")
        return {"samples": [{"source": s, "output": o} for s, o in zip(sentences, outputs)]}


COMMAND = Seq2Seq.command(__doc__)


def main(args: list[str] | None = None) -> dict:
    """``tobigs train translation`` from Python: the run's metrics (errors raise)."""
    return Seq2Seq.run_args(args)


if __name__ == "__main__":
    raise SystemExit(run_cli(main, "tobigs train translation", sys.argv[1:]))
