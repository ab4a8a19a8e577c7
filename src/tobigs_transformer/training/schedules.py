"""The learning-rate schedule of "Attention Is All You Need" (Vaswani et al. 2017, §5.3), usable from ``Trainer``.

    lrate = d_model^-0.5 · min(step^-0.5, step · warmup_steps^-1.5)

It rises linearly for ``warmup_steps`` steps and then decays with the inverse square root of the step number (the
schedule is often called "Noam" after its author in the Annotated Transformer).  Here the formula is a multiplier
of ``--learning_rate``: ``--learning_rate 1.0`` is the paper's schedule exactly, ``2.0`` doubles it, and so on.  The
paper's optimiser settings go with it: ``--adam_beta1 0.9 --adam_beta2 0.98 --adam_epsilon 1e-9``.

``transformers.SchedulerType`` is a closed enum, so ``--lr_scheduler_type noam`` works through
:class:`~tobigs_transformer.training.arguments.TobigsTrainingArguments` (its field also accepts ``noam`` /
``transformer``) together with :class:`~tobigs_transformer.training.trainers.TobigsTrainer` /
``TobigsSeq2SeqTrainer``, whose ``create_scheduler`` builds this schedule.  With a plain ``Trainer`` pass
``optimizers=(optimizer, get_noam_schedule(optimizer, d_model, warmup_steps))`` instead.

Step numbering: the k-th optimiser update (k = 1, 2, ...) uses ``step = k``, as in the paper (``LambdaLR`` calls the
multiplier with ``k - 1``).
"""

from __future__ import annotations

import math
from functools import partial

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


#: Names ``--lr_scheduler_type`` accepts for the paper's schedule (in addition to transformers' own schedulers).
NOAM_SCHEDULER_NAMES = ("noam", "transformer")


def is_noam(name) -> bool:
    return str(getattr(name, "value", name)).lower() in NOAM_SCHEDULER_NAMES


def noam_factor(step: int, d_model: int, warmup_steps: int) -> float:
    """d_model^-0.5 · min(step^-0.5, step · warmup_steps^-1.5) for ``step >= 1`` (smaller steps count as 1)."""
    step = max(int(step), 1)
    return d_model ** -0.5 * min(step ** -0.5, step * warmup_steps ** -1.5)


def _lr_lambda(current_step: int, d_model: int, warmup_steps: int) -> float:
    return noam_factor(current_step + 1, d_model, warmup_steps)


def get_noam_schedule(optimizer: Optimizer, d_model: int, warmup_steps: int, last_epoch: int = -1) -> LambdaLR:
    """``LambdaLR`` with the paper's multiplier; the optimiser's learning rate is the scale (1.0 = the paper)."""
    if isinstance(d_model, bool) or not isinstance(d_model, int) or d_model < 1:
        raise ValueError(f"d_model must be a positive int, got {d_model!r}")
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 1:
        raise ValueError(
            f"the paper's schedule needs warmup_steps >= 1 (the paper uses 4000), got {warmup_steps!r}; "
            "pass --warmup_steps N (or a fraction of the training steps, e.g. 0.1)"
        )
    return LambdaLR(optimizer, partial(_lr_lambda, d_model=d_model, warmup_steps=warmup_steps), last_epoch)


def peak_learning_rate(d_model: int, warmup_steps: int, scale: float = 1.0) -> float:
    """The schedule's maximum, reached at ``step = warmup_steps``: scale · (d_model · warmup_steps)^-0.5."""
    return scale / math.sqrt(d_model * warmup_steps)


__all__ = ["NOAM_SCHEDULER_NAMES", "get_noam_schedule", "is_noam", "noam_factor", "peak_learning_rate"]
