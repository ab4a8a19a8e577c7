"""Causal language modelling (GPT, Radford et al. 2018/2019): predict each token from the ones before it.

    tobigs train clm --preset gpt2 --config_overrides d_model=256,decoder_layers=4 --tokenizer_name tok/gpt \
        --train_file shakespeare_train.jsonl --validation_file shakespeare_validation.jsonl --block_size 128 \
        --do_train --do_eval --output_dir runs/gpt --sample_prompts "ROMEO." "To be, or not"

The data becomes one token stream per split (:mod:`.clm_data`):

* JSON/CSV: every row's ``--text_column`` is a document; documents are separated by the tokenizer's end-of-text
  token (``--add_eos``, when it has one).
* ``.txt``: the file is one document whose line breaks are kept (``--keep_linebreaks``, default, as transformers'
  ``run_clm``); the end-of-text token follows the last line.  ``--keep_linebreaks false`` reads every line as a
  document of its own (no ``\n``, an end-of-text token after each).

The stream is cut into blocks of ``--block_size`` inputs whose targets are the next ``--block_size`` tokens
(``shift_labels``; consecutive blocks overlap by one token), so every position of a block, the last included, is
trained and every target of the stream is counted exactly once in ``eval_loss``.  Reports ``eval_loss``,
``eval_perplexity = exp(eval_loss)`` and next-token ``eval_accuracy``; ``--sample_prompts`` are continued with top-k
sampling after training.  No pad token is needed (blocks are full).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import partial

import datasets
import torch

from ..modeling_tobigs import TobigsForCausalLM
from ..tooling.cli import run_cli
from .arguments import DataArguments, TobigsTrainingArguments
from .clm_data import DataCollatorForShiftedBlocks, group_shifted_blocks, tokenize_documents
from .common import data_files, load_raw_datasets, logger, map_examples, require_columns, split_source, text_builder
from .metrics import argmax_logits, next_token_accuracy
from .recipe import Recipe
from .tasks import Task


@dataclass
class CLMDataArguments(DataArguments):
    text_column: str = field(default="text", metadata={"help": "Column holding the text (JSON/CSV)."})
    block_size: int = field(default=128, metadata={"help": "Tokens per training block."})
    add_eos: bool = field(
        default=True, metadata={"help": "Separate documents with the tokenizer's end-of-text token (if it has one)."}
    )
    keep_linebreaks: bool = field(
        default=True,
        metadata={"help": "Plain-text files: keep every line break (the file is one document); false reads each "
                          "line as a document without its line break."},
    )
    sample_prompts: list[str] = field(default_factory=list, metadata={"help": "Prompts to continue after training."})
    sample_max_new_tokens: int = field(default=48, metadata={"help": "Tokens generated per sample prompt."})
    sample_top_k: int = field(default=40, metadata={"help": "Top-k of the sampling (0 = greedy)."})


@dataclass
class CLMTrainingArguments(TobigsTrainingArguments):
    label_names: list[str] | None = field(
        default_factory=lambda: ["shift_labels"],
        metadata={"help": "Batch keys handed to compute_metrics as label_ids: the next-token targets, which align "
                          "with the logits."},
    )


CAUSAL_LM = Task(name="clm", title="causal LM", model_class=TobigsForCausalLM, language_model=True,
                 metrics=next_token_accuracy, logits_to_predictions=argmax_logits)


def generate_samples(model, tokenizer, prompts, max_new_tokens: int = 48, top_k: int = 40,
                     seed: int = 0) -> list[dict]:
    """Continue each prompt (top-k sampling, or greedy with ``top_k=0``); the global RNG state is left as it was."""
    model.eval()
    samples = []
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        for prompt in prompts:
            ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt").to(model.device)
            with torch.no_grad():
                out = model.generate(
                    **ids, max_new_tokens=max_new_tokens, do_sample=top_k > 0, top_k=top_k or None,
                    pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                )
            samples.append({"prompt": prompt, "text": tokenizer.decode(out[0], skip_special_tokens=True)})
    finally:
        torch.random.set_rng_state(generator_state)
    return samples


def read_clm_text(data_args, model_args=None) -> datasets.DatasetDict:
    """The raw splits; a plain-text file is read with its line breaks kept unless ``--keep_linebreaks false``."""
    keep_linebreaks = text_builder(data_args) and data_args.keep_linebreaks
    raw = load_raw_datasets(data_args, model_args, keep_linebreaks=keep_linebreaks)
    for split, ds in raw.items():
        require_columns(ds, [data_args.text_column], "--text_column", split_source(data_args, split))
    return raw


def clm_blocks(data_args, tokenizer, model_args=None, raw: datasets.DatasetDict | None = None) -> dict:
    """``{split: Dataset}`` of ``input_ids`` blocks and their ``shift_labels`` from the data options (see the module
    docstring for what a document is); logs what was done."""
    raw = read_clm_text(data_args, model_args) if raw is None else raw
    plain_text = text_builder(data_args)
    keep_linebreaks = plain_text and data_args.keep_linebreaks
    eos = tokenizer.eos_token_id if data_args.add_eos else None
    # With line breaks kept a split is the lines of one file: the EOS goes after its last line only, and not after
    # a train split whose end was held out for validation.
    train_cut = "validation" in raw and "validation" not in data_files(data_args)
    _log_layout(tokenizer, plain_text, keep_linebreaks, eos)
    blocks = {}
    for split, ds in raw.items():
        last_index = None  # every row is a document
        if keep_linebreaks:
            last_index = -1 if split == "train" and train_cut else len(ds) - 1
        tokenize = partial(tokenize_documents, tokenizer=tokenizer, column=data_args.text_column, eos_token_id=eos,
                           last_index=last_index, keep_blank=keep_linebreaks)
        tokenized = map_examples(ds, tokenize, data_args, f"tokenize {split}", with_indices=True,
                                 remove_columns=ds.column_names)
        blocks[split] = _group(tokenized, data_args, split)
    return blocks


def _group(tokenized: datasets.Dataset, data_args, split: str) -> datasets.Dataset:
    """The whole split in one batch: blocks run across documents, and only the stream's tail is dropped."""
    if "input_ids" not in tokenized.column_names:  # every row was blank: datasets keeps no column
        logger.warning(f"{split}: {split_source(data_args, split)} holds no text in --text_column")
        return datasets.Dataset.from_dict({"input_ids": [], "shift_labels": []})
    blocks = map_examples(tokenized, partial(group_shifted_blocks, block_size=data_args.block_size), data_args,
                          f"group {split} into blocks", batch_size=None, num_proc=None,
                          remove_columns=tokenized.column_names)
    n_tokens = sum(len(ids) for ids in tokenized["input_ids"])
    n_targets = sum(len(t) for t in blocks["shift_labels"])
    logger.info(
        f"{split}: {n_tokens} tokens -> {len(blocks)} blocks of up to {data_args.block_size} inputs with their "
        f"next-token targets ({n_targets} targets; the last {max(n_tokens - 1 - n_targets, 0)} tokens fill no block "
        "and are dropped)"
    )
    return blocks


def _log_layout(tokenizer, plain_text: bool, keep_linebreaks: bool, eos: int | None) -> None:
    """Say how the text became a token stream (what is a document, what separates documents)."""
    if plain_text:
        what = ("line breaks kept, the file is one document" if keep_linebreaks
                else "line breaks dropped (--keep_linebreaks false), every line is a document")
    else:
        what = "every row of --text_column is a document"
    if eos is not None:
        sep = f"{tokenizer.convert_ids_to_tokens(eos)!r} (id {eos}) ends every document"
        logger.info(f"causal-LM data: {what}; {sep}")
    elif not plain_text or not keep_linebreaks:
        reason = "--add_eos false" if tokenizer.eos_token_id is not None else "the tokenizer has no end-of-text token"
        logger.warning(f"causal-LM data: {what}; documents are concatenated with no separator ({reason})")
    else:
        logger.info(f"causal-LM data: {what}; no end-of-text token after it")


class CausalLanguageModelling(Recipe):
    data_arguments = CLMDataArguments
    training_arguments = CLMTrainingArguments
    default_preset = "gpt2"
    lengths = ("block_size",)
    no_training_examples = "the training text of {source} has fewer than 2 tokens: nothing to predict"
    task = CAUSAL_LM

    def read(self) -> datasets.DatasetDict:
        return read_clm_text(self.data_args, self.model_args)

    def tokenize(self, raw, tokenizer, config) -> dict:
        return clm_blocks(self.data_args, tokenizer, raw=raw)

    def collator(self, tokenizer, config, model) -> DataCollatorForShiftedBlocks:
        return DataCollatorForShiftedBlocks(tokenizer)

    def samples(self, trainer, tokenizer) -> dict:
        args = self.data_args
        if not args.sample_prompts:
            return {}
        samples = generate_samples(trainer.model, tokenizer, args.sample_prompts, args.sample_max_new_tokens,
                                   args.sample_top_k, self.training_args.seed)
        for s in samples:
            print(f"[sample] {s['text']!r}")
        return {"samples": samples}


COMMAND = CausalLanguageModelling.command(__doc__)


def main(args: list[str] | None = None) -> dict:
    """``tobigs train clm`` from Python: the run's metrics (errors raise; see :mod:`tobigs_transformer.tooling`)."""
    return CausalLanguageModelling.run_args(args)


if __name__ == "__main__":
    raise SystemExit(run_cli(main, "tobigs train clm", sys.argv[1:]))
