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

CTRL (Keskar et al. 2019): ``--control_code_column domain`` reads each row's control code; the codes become special
tokens of the tokenizer (saved with the model), and every block starts with its row's code (blocks do not cross
rows, so a short row is a short block).  ``--sample_control_codes "<play>" "<bible>"`` generates from each code
followed by each ``--sample_prompts`` (or by nothing); CTRL's penalized sampling is ``generate(...,
repetition_penalty=1.2)``.

Transformer-XL (Dai et al. 2019): a model with segment memory (``config.mem_len > 0``, e.g. ``--preset
transformer-xl``) is trained on the paper's LM iterator (:mod:`.lm_streams`; ``--parallel_streams``, on by default
with memory): the text is cut into ``per_device_train_batch_size`` × processes parallel streams of ``--block_size``
segments so that row b of every batch continues row b of the batch before, and the trainer
(:mod:`.segment_memory`) carries the memory from step to step, in order.  Evaluation uses
``per_device_eval_batch_size`` × processes streams and reports ``eval_perplexity`` with memory and
``eval_perplexity_no_memory`` without.

    tobigs train clm --preset transformer-xl --tokenizer_name tok/gpt \
        --config_overrides d_model=128,decoder_layers=4,decoder_attention_heads=4,decoder_ffn_dim=512,mem_len=64 \
        --train_file shakespeare_train.jsonl --validation_file shakespeare_validation.jsonl \
        --block_size 64 --per_device_train_batch_size 8 --do_train --do_eval --output_dir runs/xl
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import partial

import datasets
import torch

from ..model.modeling_tobigs import TobigsForCausalLM
from ..tooling.cli import run_cli
from .arguments import DataArguments, TobigsTrainingArguments
from .clm_data import DataCollatorForShiftedBlocks, coded_blocks, group_shifted_blocks, tokenize_documents
from .lm_streams import plan_streams, stream_segments
from .logging_setup import logger
from .metrics import argmax_logits, next_token_accuracy
from .raw_data import data_files, load_raw_datasets, map_examples, require_columns, split_source, text_builder
from .recipe import Recipe
from .segment_memory import SegmentMemoryTrainer
from .tasks import Task
from .validation import ArgumentError


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
    control_code_column: str | None = field(
        default=None,
        metadata={"help": "CTRL: column of each row's control code (JSON/CSV). The codes become special tokens of "
                          "the tokenizer and every example starts with its code (blocks never cross documents)."},
    )
    sample_control_codes: list[str] = field(
        default_factory=list,
        metadata={"help": "CTRL: generate after training from each of these codes followed by each --sample_prompts "
                          "(or by nothing)."},
    )
    parallel_streams: bool | None = field(
        default=None,
        metadata={"help": "Transformer-XL's LM iterator: cut the text into per-device batch size x processes "
                          "parallel streams of --block_size segments, row b of each batch continuing row b of the "
                          "batch before, trained in order (true/false; default: true when the model has segment "
                          "memory, mem_len > 0)."},
    )
    sample_prompts: list[str] = field(default_factory=list, metadata={"help": "Prompts to continue after training."})
    sample_max_new_tokens: int = field(default=48, metadata={"help": "Tokens generated per sample prompt."})
    sample_top_k: int = field(default=40, metadata={"help": "Top-k of the sampling (0 = greedy)."})

    def __post_init__(self):
        super().__post_init__()
        if self.sample_control_codes and not self.control_code_column:
            raise ArgumentError("--sample_control_codes needs --control_code_column (the codes the model learns)")
        if self.parallel_streams and self.control_code_column:
            raise ArgumentError("--parallel_streams runs streams across documents, but --control_code_column keeps "
                                "every block inside its document: choose one")


@dataclass
class CLMTrainingArguments(TobigsTrainingArguments):
    label_names: list[str] | None = field(
        default_factory=lambda: ["shift_labels"],
        metadata={"help": "Batch keys handed to compute_metrics as label_ids: the next-token targets, which align "
                          "with the logits."},
    )


# The memory trainer is the plain language-model trainer for a model without segment memory (mem_len == 0).
CAUSAL_LM = Task(name="clm", title="causal LM", model_class=TobigsForCausalLM, language_model=True,
                 metrics=next_token_accuracy, logits_to_predictions=argmax_logits, trainer=SegmentMemoryTrainer)


def generate_samples(model, tokenizer, prompts, max_new_tokens: int = 48, top_k: int = 40,
                     seed: int = 0, control_code: str | None = None, repetition_penalty: float = 1.0,
                     num_samples: int = 1, min_new_tokens: int = 0) -> list[dict]:
    """Continue each prompt (top-k sampling, or greedy with ``top_k=0``); the global RNG state is left as it was.
    With a CTRL ``control_code`` every prompt (an empty one too) follows the code's token.  ``repetition_penalty``
    is CTRL's penalized sampling (θ = 1.2 in the paper; 1.0 = off); ``num_samples`` sampled continuations per prompt
    are drawn in one batch; ``min_new_tokens`` keeps the end-of-text token out until that many were written."""
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive int, got {num_samples!r}")
    if num_samples > 1 and top_k <= 0:
        raise ValueError(f"num_samples={num_samples} needs sampling (top_k > 0): greedy decoding gives one text")
    if not repetition_penalty > 0:
        raise ValueError(f"repetition_penalty must be > 0 (1.0 = no penalty), got {repetition_penalty!r}")
    model.eval()
    samples = []
    code = [] if control_code is None else [control_token_id(tokenizer, control_code)]
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        for prompt in prompts:
            ids = torch.tensor([code + tokenizer(prompt, add_special_tokens=False)["input_ids"]], device=model.device)
            with torch.no_grad():
                out = model.generate(
                    input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                    do_sample=top_k > 0, top_k=top_k or None, pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id, repetition_penalty=repetition_penalty,
                    num_return_sequences=num_samples, **({"min_new_tokens": min_new_tokens} if min_new_tokens else {}),
                )
            for row in out:  # (num_samples, prompt + generated)
                sample = {"prompt": prompt, "text": tokenizer.decode(row, skip_special_tokens=True)}
                samples.append(sample if control_code is None else {"control_code": control_code, **sample})
    finally:
        torch.random.set_rng_state(generator_state)
    return samples


def control_token_id(tokenizer, code: str) -> int:
    """The id of a CTRL control code (a special token of the tokenizer), or an error naming the known codes."""
    if code not in tokenizer.all_special_tokens:
        raise ArgumentError(f"control code {code!r} is not a special token of the tokenizer (its special tokens: "
                            f"{tokenizer.all_special_tokens})")
    return int(tokenizer.convert_tokens_to_ids(code))


def read_clm_text(data_args, model_args=None) -> datasets.DatasetDict:
    """The raw splits; a plain-text file is read with its line breaks kept unless ``--keep_linebreaks false``."""
    keep_linebreaks = text_builder(data_args) and data_args.keep_linebreaks
    raw = load_raw_datasets(data_args, model_args, keep_linebreaks=keep_linebreaks)
    for split, ds in raw.items():
        require_columns(ds, [data_args.text_column], "--text_column", split_source(data_args, split))
    return raw


def clm_blocks(data_args, tokenizer, model_args=None, raw: datasets.DatasetDict | None = None,
               streams: dict[str, int] | None = None) -> dict:
    """``{split: Dataset}`` of ``input_ids`` blocks and their ``shift_labels`` from the data options (see the module
    docstring for what a document is); logs what was done.  ``streams`` (``{split: number of parallel streams}``):
    Transformer-XL's LM iterator instead of consecutive blocks (:mod:`.lm_streams`)."""
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
        blocks[split] = (_group(tokenized, data_args, split) if streams is None
                         else _stream(tokenized, data_args, split, streams[split]))
    return blocks


def coded_clm_blocks(data_args, tokenizer, raw: datasets.DatasetDict) -> dict:
    """CTRL's blocks: every row is a document (its text, then EOS) that starts with its control code."""
    column, eos = data_args.control_code_column, tokenizer.eos_token_id if data_args.add_eos else None
    codes = {code: control_token_id(tokenizer, code) for code in tokenizer.all_special_tokens}
    blocks = {}
    for split, ds in raw.items():
        ds = ds.filter(lambda row: bool(row[data_args.text_column] and row[data_args.text_column].strip()))
        tokenize = partial(tokenize_documents, tokenizer=tokenizer, column=data_args.text_column, eos_token_id=eos)
        tokenized = map_examples(ds, tokenize, data_args, f"tokenize {split}", with_indices=True,
                                 remove_columns=[c for c in ds.column_names if c != column])
        tokenized = tokenized.map(lambda row: {"control_code": str(row[column])}, remove_columns=[column])
        blocks[split] = map_examples(tokenized, partial(coded_blocks, block_size=data_args.block_size,
                                                        code_ids=codes), data_args, f"blocks {split}",
                                     remove_columns=tokenized.column_names)
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


def _stream(tokenized: datasets.Dataset, data_args, split: str, num_streams: int) -> datasets.Dataset:
    """The whole split as ``num_streams`` parallel streams of ``--block_size`` segments, segment-major."""
    documents = tokenized["input_ids"] if "input_ids" in tokenized.column_names else []  # all blank: no column
    n_tokens = sum(len(ids) for ids in documents)
    try:
        plan = plan_streams(n_tokens, num_streams, data_args.block_size)
    except ValueError as error:
        batch = "per_device_train_batch_size" if split == "train" else "per_device_eval_batch_size"
        raise ArgumentError(f"{split} ({split_source(data_args, split)}): {error}; the streams are --{batch} x "
                            f"processes = {num_streams}, the segments --block_size={data_args.block_size}") from error
    streams = map_examples(tokenized, partial(stream_segments, segment_length=data_args.block_size,
                                              num_streams=num_streams), data_args, f"{split} into parallel streams",
                           batch_size=None, num_proc=None, remove_columns=tokenized.column_names)
    logger.info(f"{split}: LM iterator (Transformer-XL): {plan.describe()}")
    return _whole_rows(streams, data_args, split, num_streams)


def _whole_rows(streams: datasets.Dataset, data_args, split: str, num_streams: int) -> datasets.Dataset:
    """``--max_*_samples`` as whole rows of segments (one per stream): a cut inside a row would leave a batch that
    continues only some streams."""
    option = {"train": "max_train_samples", "validation": "max_eval_samples", "test": "max_predict_samples"}.get(split)
    limit = getattr(data_args, option) if option else None
    if limit is None or limit >= len(streams):
        return streams
    if limit < num_streams:
        raise ArgumentError(f"--{option}={limit} is less than one segment per stream ({num_streams} parallel "
                            "streams): the LM iterator needs whole rows")
    kept = limit - limit % num_streams
    logger.info(f"{split}: --{option}={limit} keeps the first {kept // num_streams} segments of every stream "
                f"({kept} examples)")
    return streams.select(range(kept))


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
        raw = read_clm_text(self.data_args, self.model_args)
        if self.data_args.control_code_column:
            for split, ds in raw.items():
                require_columns(ds, [self.data_args.control_code_column], "--control_code_column",
                                split_source(self.data_args, split))
        return raw

    def check_config(self, config) -> None:
        """Relative positions (Transformer-XL) have no longest length: any --block_size of at least 2 fits."""
        if getattr(config, "position_embedding_type", None) != "relative":
            return super().check_config(config)
        if self.data_args.block_size < 2:
            raise ArgumentError(f"--block_size must be at least 2, got {self.data_args.block_size}")
        return None

    def data_tokens(self, tokenizer, raw):
        """CTRL: the control codes of the data become special tokens (never split, never a target)."""
        column = self.data_args.control_code_column
        if not column:
            return tokenizer
        codes = sorted({str(code) for ds in raw.values() for code in ds[column] if code is not None})
        new = [code for code in codes if code not in tokenizer.all_special_tokens]
        if new:
            tokenizer.add_special_tokens({"extra_special_tokens": new}, replace_extra_special_tokens=False)
        logger.info(f"control codes ({column}): {codes}")
        return tokenizer

    def tokenize(self, raw, tokenizer, config) -> dict:
        if self.data_args.control_code_column:
            return coded_clm_blocks(self.data_args, tokenizer, raw)
        return clm_blocks(self.data_args, tokenizer, raw=raw, streams=self.streams(config, raw))

    def streams(self, config, raw) -> dict[str, int] | None:
        """``{split: parallel streams}`` when the LM iterator is used (``--parallel_streams``, by default when the
        model has segment memory), else None; logs the choice."""
        mem_len = int(getattr(config, "mem_len", 0) or 0)
        wanted = self.data_args.parallel_streams
        if not (mem_len > 0 if wanted is None else wanted):
            if mem_len > 0:
                logger.warning(f"the model has segment memory (mem_len={mem_len}) but --parallel_streams false: "
                               "a row's memory is the previous batch's row, not its own left context")
            return None
        args, world = self.training_args, max(1, self.training_args.world_size)
        streams = {split: (args.per_device_train_batch_size if split == "train" else args.per_device_eval_batch_size)
                   * world for split in raw}
        order = (f"batches in order, segment memory mem_len={mem_len} carried from batch to batch" if mem_len else
                 f"no segment memory: the batch order is --train_sampling_strategy "
                 f"{args.train_sampling_strategy!r}")
        logger.info(f"LM iterator: {streams} parallel streams (per-device batch size x {world} processes) of "
                    f"--block_size={self.data_args.block_size} segments; {order}")
        return streams

    def collator(self, tokenizer, config, model) -> DataCollatorForShiftedBlocks:
        return DataCollatorForShiftedBlocks(tokenizer)

    def samples(self, trainer, tokenizer) -> dict:
        args = self.data_args
        if not (args.sample_prompts or args.sample_control_codes):
            return {}
        samples = [sample for code in args.sample_control_codes or [None]
                   for sample in generate_samples(trainer.model, tokenizer, args.sample_prompts or [""],
                                                  args.sample_max_new_tokens, args.sample_top_k,
                                                  self.training_args.seed, control_code=code)]
        for s in samples:
            logger.info(f"sample: {s['text']!r}")
        return {"samples": samples}


COMMAND = CausalLanguageModelling.command(__doc__)


def main(args: list[str] | None = None) -> dict:
    """``tobigs train clm`` from Python: the run's metrics (errors raise; see :mod:`tobigs_transformer.tooling`)."""
    return CausalLanguageModelling.run_args(args)


if __name__ == "__main__":
    raise SystemExit(run_cli(main, "tobigs train clm", sys.argv[1:]))
