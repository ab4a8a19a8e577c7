"""What a training task declares once: its model class, whether it is a language model, its title and metrics.

A command whose recipe is an option value (``--objective``, ``--noising``, ``--task``) declares one :class:`Task` per
value, so choosing the recipe chooses all of these together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .trainers import TobigsSeq2SeqTrainer, TobigsTrainer

__all__ = ["LanguageModelSeq2SeqTrainer", "LanguageModelTrainer", "Task"]


class LanguageModelTrainer(TobigsTrainer):
    """``TobigsTrainer`` that logs ``eval_perplexity = exp(eval_loss)`` next to every evaluation loss."""

    report_perplexity = True


class LanguageModelSeq2SeqTrainer(TobigsSeq2SeqTrainer):
    """``TobigsSeq2SeqTrainer`` that logs ``eval_perplexity = exp(eval_loss)`` next to every evaluation loss."""

    report_perplexity = True


@dataclass(frozen=True)
class Task:
    """One training task, declared once (the run's artefacts, logs and trainer all read it from here)."""

    #: The key of :data:`~.validation.TASK_ARCHITECTURES`: which architectures (and presets) fit.
    name: str
    #: Shown in logs and on ``loss_curve.png``.
    title: str
    model_class: type
    #: exp(loss) is a perplexity: logged next to every loss and written to ``metrics.json``.
    language_model: bool = False
    #: ``compute_metrics`` for ``Trainer`` (None: loss only, or chosen by the command from its data).
    metrics: Callable[[Any], dict[str, float]] | None = None
    #: ``preprocess_logits_for_metrics``: what of the logits evaluation keeps.
    logits_to_predictions: Callable[[Any, Any], Any] | None = None
    #: Evaluation may generate (``Seq2SeqTrainer``, ``--predict_with_generate``).
    generates: bool = False
    #: A trainer of the task's own (e.g. ELECTRA's, which saves the discriminator as the model to keep); None: the
    #: one that ``generates`` and ``language_model`` choose.
    trainer: type | None = None

    @property
    def trainer_class(self) -> type:
        if self.trainer is not None:
            return self.trainer
        if self.generates:
            return LanguageModelSeq2SeqTrainer if self.language_model else TobigsSeq2SeqTrainer
        return LanguageModelTrainer if self.language_model else TobigsTrainer
