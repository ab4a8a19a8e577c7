"""``Trainer`` / ``Seq2SeqTrainer`` with the two things the lecture's recipes need and transformers lacks.

* ``--lr_scheduler_type noam`` (or ``transformer``): the paper's warm-up schedule (:mod:`.schedules`), d_model read
  from the model's config (override with ``--lr_scheduler_kwargs '{"d_model": 512}'``).
* Perplexity next to every language-model loss: ``eval_perplexity = exp(eval_loss)`` is logged with the eval loss
  (and so lands in ``trainer_state.json``, the logs and the metrics JSON).

Everything else is transformers' own: progress bars, logging, checkpointing, resuming, DDP/FSDP/DeepSpeed.
"""

from __future__ import annotations

import math

from transformers import Seq2SeqTrainer, Trainer

from .schedules import get_noam_schedule, is_noam


def perplexity(loss: float | None) -> float | None:
    """exp(loss), ``inf`` on overflow, None without a loss."""
    if loss is None:
        return None
    try:
        return math.exp(loss)
    except OverflowError:
        return float("inf")


class _TobigsTrainerMixin:
    #: Add ``<prefix>_perplexity`` next to ``<prefix>_loss`` in evaluation logs (language models).
    report_perplexity: bool = False

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if not is_noam(self.args.lr_scheduler_type):
            return super().create_scheduler(num_training_steps, optimizer)
        if self.lr_scheduler is None:
            optimizer = self.optimizer if optimizer is None else optimizer
            kwargs = dict(self.args.lr_scheduler_kwargs or {})
            d_model = kwargs.pop("d_model", None)
            if d_model is None:
                d_model = int(getattr(self.accelerator.unwrap_model(self.model).config, "d_model"))
            warmup = kwargs.pop("warmup_steps", None) or self.args.get_warmup_steps(num_training_steps)
            if kwargs:
                raise ValueError(
                    f"the noam schedule takes only d_model/warmup_steps in --lr_scheduler_kwargs, got {sorted(kwargs)}"
                )
            self.lr_scheduler = get_noam_schedule(optimizer, int(d_model), int(warmup))
            self._created_lr_scheduler = True
        return self.lr_scheduler

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        if self.report_perplexity:
            for key in [k for k in logs if k.endswith("_loss") and k != "train_loss"]:
                prefix = key[: -len("_loss")]
                if prefix in ("eval", "test", "predict") or prefix.startswith("eval_"):
                    logs[f"{prefix}_perplexity"] = perplexity(logs[key])
        super().log(logs, *args, **kwargs)


class TobigsTrainer(_TobigsTrainerMixin, Trainer):
    """``transformers.Trainer`` + the paper's schedule + perplexity logging."""


class TobigsSeq2SeqTrainer(_TobigsTrainerMixin, Seq2SeqTrainer):
    """``transformers.Seq2SeqTrainer`` + the paper's schedule + perplexity logging."""


__all__ = ["TobigsSeq2SeqTrainer", "TobigsTrainer", "perplexity"]
