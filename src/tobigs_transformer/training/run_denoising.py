"""BART-style denoising pretraining (Lewis et al. 2019): corrupt a document, reconstruct all of it.

The noising is :class:`tobigs_transformer.data.DataCollatorForDenoising`.  ``--noising`` picks the recipe, one of the
collator's named constructors: ``paper`` (text infilling of 30 % of the words with Poisson(λ = 3) spans, the
collator's defaults), ``bart-large`` (fairseq's BART-large recipe: λ = 3.5, 10 % random replacements, all sentences
permuted) or ``pegasus`` (gap-sentence generation, no other noise).  Each knob of the collator is also a flag with
fairseq's name that overrides the recipe's value (``--mask``, ``--mask_random``, ``--insert``, ``--rotate``,
``--permute_sentences``, ``--replace_length``, ``--mask_length``, ``--poisson_lambda``, ``--gap_sentence_ratio``).

    tobigs train denoising --noising bart-large --preset bart-base \
        --config_overrides d_model=256,encoder_layers=3,decoder_layers=3 --tokenizer_name tok/bart \
        --train_file docs_train.jsonl --validation_file docs_val.jsonl --max_seq_length 256 \
        --do_train --do_eval --output_dir runs/bart

Input: documents as lists of sentences (``--sentences_column``), or text split at newlines into sentences (a .txt
file is read one blank-line separated paragraph per document).  Reports ``eval_loss`` and its perplexity.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

from ..data.denoising import DataCollatorForDenoising, tokenize_for_denoising
from ..modeling_tobigs import TobigsForConditionalGeneration
from ..tooling.cli import run_cli
from .arguments import DocumentDataArguments
from .common import map_examples
from .recipe import DocumentRecipe
from .tasks import Task
from .validation import ArgumentError

Noising = Literal["paper", "bart-large", "pegasus"]

#: --noising → the collator's named constructor; each takes (tokenizer, **overrides).
NOISING_RECIPES = {
    "paper": DataCollatorForDenoising,
    "bart-large": DataCollatorForDenoising.bart_large,
    "pegasus": DataCollatorForDenoising.pegasus,
}

#: One task per --noising (the title of its plots and logs).
DENOISING = {
    name: Task(name="denoising", title=f"BART denoising ({name})", model_class=TobigsForConditionalGeneration,
               language_model=True)
    for name in NOISING_RECIPES
}


@dataclass
class NoisingArguments:
    """Overrides of the recipe's noising knobs: each field is a keyword of ``DataCollatorForDenoising`` (checked by
    ``tests/test_front_door.py``), so a knob is declared by the collator and here, nowhere else."""

    mask: float | None = field(default=None, metadata={"help": "Fraction of words/tokens to corrupt."})
    mask_random: float | None = field(default=None, metadata={"help": "Probability a replacement is a random token."})
    insert: float | None = field(default=None, metadata={"help": "Fraction of extra tokens inserted."})
    rotate: float | None = field(default=None, metadata={"help": "Probability of rotating a document."})
    permute_sentences: float | None = field(default=None, metadata={"help": "Fraction of sentences permuted."})
    replace_length: int | None = field(
        default=None, metadata={"help": "1: one mask per span, 0: delete, -1: per token."}
    )
    mask_length: str | None = field(default=None, metadata={"help": "subword, word or span-poisson."})
    poisson_lambda: float | None = field(default=None, metadata={"help": "Mean span length of text infilling."})
    gap_sentence_ratio: float | None = field(
        default=None, metadata={"help": "Pegasus: fraction of sentences removed and generated."}
    )

    def overrides(self) -> dict:
        """The knobs given on the command line."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(NoisingArguments)
                if getattr(self, f.name) is not None}


@dataclass
class DenoisingDataArguments(NoisingArguments, DocumentDataArguments):
    noising: Noising = field(
        default="paper",
        metadata={"help": "paper: text infilling of 0.3 of the words, λ=3; bart-large: fairseq's BART-large "
                          "recipe; pegasus: gap-sentence generation. The knob flags override single values of "
                          "the recipe."},
    )
    max_seq_length: int = field(default=256, metadata={"help": "Tokens per document block (<s> ... </s>)."})
    noise_seed: int | None = field(default=None, metadata={"help": "Seed of the noising (default: --seed)."})


class Denoising(DocumentRecipe):
    data_arguments = DenoisingDataArguments
    default_preset = "bart-base"
    pads = "the denoising collator (documents of unequal length)"
    no_training_examples = "no documents in the training data ({source})"

    @property
    def task(self) -> Task:
        return DENOISING[self.data_args.noising]

    def tokenize(self, raw, tokenizer, config) -> dict:
        tokenize = partial(tokenize_for_denoising, tokenizer=tokenizer, max_length=self.data_args.max_seq_length)
        return map_examples(raw, tokenize, self.data_args, "tokenize", batch_size=1000, remove_columns=["sentences"])

    def collator(self, tokenizer, config, model) -> DataCollatorForDenoising:
        args = self.data_args
        seed = self.training_args.seed if args.noise_seed is None else args.noise_seed
        try:
            return NOISING_RECIPES[args.noising](tokenizer, seed=seed, **args.overrides(),
                                                 decoder_start_token_id=int(config.decoder_start_token_id))
        except (TypeError, ValueError) as exc:
            raise ArgumentError(f"--noising {args.noising} with {args.overrides()}: {exc}") from exc


COMMAND = Denoising.command(__doc__)


def main(args: list[str] | None = None) -> dict:
    """``tobigs train denoising`` from Python: the run's metrics (errors raise)."""
    return Denoising.run_args(args)


if __name__ == "__main__":
    raise SystemExit(run_cli(main, "tobigs train denoising", sys.argv[1:]))
