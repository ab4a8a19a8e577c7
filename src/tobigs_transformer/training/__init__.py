"""Training and evaluation of every family with ``Trainer``/``Seq2SeqTrainer`` (tooling: imports the model, never
the reverse).

One module per ``tobigs train`` command, each a :class:`.recipe.Recipe` with ``main(args=None)``: :mod:`.run_clm`
(GPT), :mod:`.run_mlm` (``--objective mlm+nsp`` BERT, ``mlm`` RoBERTa, ``mlm+sop`` ALBERT), :mod:`.run_denoising`
(BART, ``--noising paper|bart-large|pegasus``), :mod:`.run_translation` (``--task translation|summarization``),
:mod:`.run_classification`, :mod:`.run_token_classification`.  :mod:`.recipe` is the one shape they share,
:mod:`.tasks` what each task declares once, :mod:`.metrics` their metrics (the lecture's main job that runs them on
real data is :mod:`tobigs_transformer.experiments.demo`).  :mod:`.schedules` holds the Transformer paper's warm-up
schedule (``--lr_scheduler_type noam``).
"""

from .arguments import DataArguments, ModelArguments, TobigsSeq2SeqTrainingArguments, TobigsTrainingArguments, parse_args
from .callbacks import RunArtifactsCallback, last_good_checkpoint, plot_loss_curve, write_metrics_json
from .schedules import NOAM_SCHEDULER_NAMES, get_noam_schedule, noam_factor
from .trainers import TobigsSeq2SeqTrainer, TobigsTrainer, perplexity
from .validation import ArgumentError


__all__ = [
    "NOAM_SCHEDULER_NAMES",
    "ArgumentError",
    "DataArguments",
    "ModelArguments",
    "RunArtifactsCallback",
    "TobigsSeq2SeqTrainer",
    "TobigsSeq2SeqTrainingArguments",
    "TobigsTrainer",
    "TobigsTrainingArguments",
    "get_noam_schedule",
    "last_good_checkpoint",
    "noam_factor",
    "parse_args",
    "perplexity",
    "plot_loss_curve",
    "write_metrics_json",
]
