"""BART-style denoising pretraining (Lewis et al. 2019): corrupt a document, reconstruct all of it.

The noising is :class:`tobigs_transformer.data.DataCollatorForDenoising`; every knob is a flag with fairseq's name
(``--mask``, ``--mask_random``, ``--insert``, ``--rotate``, ``--permute_sentences``, ``--replace_length``,
``--mask_length``, ``--poisson_lambda``).  ``--noising bart-large`` selects the BART-large recipe (text infilling of
30 % with Poisson(3.5) spans, 10 % random replacements, all sentences permuted); ``--noising paper`` (default) is
text infilling 30 %, λ = 3; ``--noising custom`` uses the flags alone.

    tobigs-train-denoising --preset bart-base --config_overrides d_model=256,encoder_layers=3,decoder_layers=3 \
        --tokenizer_name tok/bart --train_file docs_train.jsonl --validation_file docs_val.jsonl \
        --noising bart-large --max_seq_length 256 --do_train --do_eval --output_dir runs/bart

Input: documents as lists of sentences (``--sentences_column``), or text split at newlines into sentences (a .txt
file is read one blank-line separated paragraph per document).  Reports ``eval_loss`` and its perplexity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from ..data.denoising import BART_LARGE_NOISING, DataCollatorForDenoising, tokenize_for_denoising
from ..modeling_tobigs import TobigsForConditionalGeneration
from ..tooling.cli import run_cli
from .arguments import DataArguments, ModelArguments, TobigsTrainingArguments, parse_args
from .common import (
    artifacts_callback,
    build_config,
    load_model,
    load_documents,
    load_raw_datasets,
    load_tokenizer,
    prepare,
    require_pad_token,
    run,
    select,
    setup,
)
from .trainers import TobigsTrainer
from .validation import ArgumentError, check_length


NOISING_PRESETS = {
    "paper": {"mask": 0.3, "mask_random": 0.0, "insert": 0.0, "rotate": 0.0, "permute_sentences": 0.0,
              "replace_length": 1, "mask_length": "span-poisson", "poisson_lambda": 3.0},
    "bart-large": dict(BART_LARGE_NOISING),
}


@dataclass
class DenoisingDataArguments(DataArguments):
    sentences_column: str = field(default="sentences", metadata={"help": "Column of documents as sentence lists."})
    text_column: str = field(default="text", metadata={"help": "Text column used when there is no sentences column."})
    max_seq_length: int = field(default=256, metadata={"help": "Tokens per document block (<s> ... </s>)."})
    noising: str = field(
        default="paper", metadata={"help": "paper (infilling 30%, λ=3), bart-large (fairseq recipe) or custom."}
    )
    mask: float | None = field(default=None, metadata={"help": "Fraction of words/tokens to corrupt."})
    mask_random: float | None = field(default=None, metadata={"help": "Probability a replacement is a random token."})
    insert: float | None = field(default=None, metadata={"help": "Fraction of extra tokens inserted."})
    rotate: float | None = field(default=None, metadata={"help": "Probability of rotating a document."})
    permute_sentences: float | None = field(default=None, metadata={"help": "Fraction of sentences permuted."})
    replace_length: int | None = field(default=None, metadata={"help": "1: one mask per span, 0: delete, -1: per token."})
    mask_length: str | None = field(default=None, metadata={"help": "subword, word or span-poisson."})
    poisson_lambda: float | None = field(default=None, metadata={"help": "Mean span length of text infilling."})
    noise_seed: int | None = field(default=None, metadata={"help": "Seed of the noising (default: --seed)."})


def noising_kwargs(data_args) -> dict:
    if data_args.noising not in (*NOISING_PRESETS, "custom"):
        raise ArgumentError(f"--noising must be one of {[*NOISING_PRESETS, 'custom']}, got {data_args.noising!r}")
    kwargs = dict(NOISING_PRESETS.get(data_args.noising, NOISING_PRESETS["paper"]))
    for key in ("mask", "mask_random", "insert", "rotate", "permute_sentences", "replace_length", "mask_length",
                "poisson_lambda"):
        value = getattr(data_args, key)
        if value is not None:
            kwargs[key] = value
    return kwargs


def main(args: list[str] | None = None) -> dict:
    model_args, data_args, training_args = parse_args(
        (ModelArguments, DenoisingDataArguments, TobigsTrainingArguments), args
    )
    noise = noising_kwargs(data_args)
    prepare(model_args, data_args, training_args, "denoising")
    training_args.remove_unused_columns = False  # the collator needs sentence_ends
    setup(training_args, model_args, data_args)
    tokenizer = load_tokenizer(model_args)
    require_pad_token(tokenizer, model_args, "the denoising collator (documents of unequal length)")
    try:
        collator = DataCollatorForDenoising(
            tokenizer, seed=training_args.seed if data_args.noise_seed is None else data_args.noise_seed, **noise
        )
    except (TypeError, ValueError) as exc:
        raise ArgumentError(f"noising options {noise}: {exc}") from exc
    config, origin = build_config(model_args, tokenizer, "denoising", default_preset="bart-base")
    collator.decoder_start_token_id = int(config.decoder_start_token_id)
    check_length(data_args.max_seq_length, config, "--max_seq_length")

    raw = load_raw_datasets(data_args, model_args, text_sample_by="paragraph")
    with training_args.main_process_first(desc="tokenize documents"):
        docs = load_documents(data_args, raw)
        blocks = docs.map(
            partial(tokenize_for_denoising, tokenizer=tokenizer, max_length=data_args.max_seq_length),
            batched=True, batch_size=1000, remove_columns=["sentences"],
            num_proc=data_args.preprocessing_num_workers, desc="tokenize",
        )
    train_dataset = select(blocks["train"], data_args.max_train_samples) if training_args.do_train else None
    eval_dataset = select(blocks["validation"], data_args.max_eval_samples) if "validation" in blocks else None
    if training_args.do_train and len(train_dataset) == 0:
        raise ArgumentError("no documents in the training data")

    model = load_model(TobigsForConditionalGeneration, model_args, config)
    trainer = TobigsTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset if training_args.do_eval else None,
        processing_class=tokenizer,
        data_collator=collator,
        callbacks=[artifacts_callback(True, data_args, f"BART denoising ({data_args.noising})")],
    )
    trainer.report_perplexity = True
    return run(trainer, training_args, data_args, lm=True, train_dataset=train_dataset, eval_dataset=eval_dataset,
               title=f"BART denoising ({data_args.noising})")


def cli(argv: list[str] | None = None) -> int:
    """Console-script entry point: exit status 0, 1 (runtime error) or 2 (usage error), one line on stderr."""
    return run_cli(main, "tobigs-train-denoising", argv)


if __name__ == "__main__":
    raise SystemExit(cli())
