"""BART-style denoising pretraining (Lewis et al. 2019): corrupt a document, reconstruct all of it.

The noising is a :class:`tobigs_transformer.data.NoisingConfig` read by
:class:`~tobigs_transformer.data.DataCollatorForDenoising`.  ``--noising`` picks one of its presets: ``paper`` (text
infilling of 30 % of the words with Poisson(λ = 3) spans), ``bart-large`` (fairseq's BART-large recipe: λ = 3.5, 10 %
random replacements, all sentences permuted) or ``pegasus`` (gap-sentence generation of 30 % of the sentences).  Every
field of NoisingConfig is also a flag of the same name that overrides the preset's value (``--mask``,
``--poisson_lambda``, ``--gap_sentence_ratio``, ``--mlm_probability`` ...; see ``--help``).  The lecture's Pegasus
objective, gap sentences together with MLM on the encoder input, needs two mask tokens in the tokenizer:
``--noising pegasus --mlm_probability 0.15 --gap_sentence_token "<mask_1>"``.

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
import typing
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from ..data.denoising import DataCollatorForDenoising, NoisingConfig, tokenize_for_denoising
from ..model.modeling_tobigs import TobigsForConditionalGeneration
from ..tooling.cli import run_cli
from .arguments import DocumentDataArguments
from .raw_data import map_examples
from .recipe import DocumentRecipe
from .tasks import Task
from .validation import ArgumentError

#: --noising: the presets of NoisingConfig (each a named constructor).
Noising = Literal[NoisingConfig.PRESETS]

#: One task per --noising (the title of its plots and logs).
DENOISING = {
    name: Task(name="denoising", title=f"BART denoising ({name})", model_class=TobigsForConditionalGeneration,
               language_model=True)
    for name in NoisingConfig.PRESETS
}


def _override(knob: dataclasses.Field, annotation: Any) -> tuple[str, Any, dataclasses.Field]:
    """``--KNOB``: a field of NoisingConfig whose default None keeps the preset's value."""
    return knob.name, annotation | None, field(default=None, metadata=knob.metadata)


#: One flag per NoisingConfig field, generated from it (a knob added there is a flag here and reaches the collator).
NoisingArguments = dataclasses.make_dataclass(
    "NoisingArguments",
    [_override(knob, typing.get_type_hints(NoisingConfig)[knob.name]) for knob in dataclasses.fields(NoisingConfig)],
    namespace={
        "__module__": __name__,
        "__doc__": "Overrides of the --noising preset's knobs, one per field of NoisingConfig.",
        "overrides": lambda self: {knob.name: getattr(self, knob.name) for knob in dataclasses.fields(NoisingConfig)
                                   if getattr(self, knob.name) is not None},
    },
)


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

    def __post_init__(self):
        super().__post_init__()
        try:
            self.noising_config  # noqa: B018 - the knobs are checked where they are declared, NoisingConfig
        except ValueError as exc:
            raise ArgumentError(f"--noising {self.noising} with {self.overrides()}: {exc}") from exc

    @property
    def noising_config(self) -> NoisingConfig:
        """The --noising preset with the knob flags given."""
        return NoisingConfig.preset(self.noising, **self.overrides())


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
            return DataCollatorForDenoising(tokenizer, args.noising_config, seed=seed,
                                            max_length=config.max_position_embeddings,
                                            decoder_start_token_id=int(config.decoder_start_token_id))
        except ValueError as exc:  # the tokenizer lacks a token the recipe needs
            raise ArgumentError(f"--noising {args.noising} with {args.overrides()}: {exc}") from exc


COMMAND = Denoising.command(__doc__)


def main(args: list[str] | None = None) -> dict:
    """``tobigs train denoising`` from Python: the run's metrics (errors raise)."""
    return Denoising.run_args(args)


if __name__ == "__main__":
    raise SystemExit(run_cli(main, "tobigs train denoising", sys.argv[1:]))
