"""``Trainer`` / ``Seq2SeqTrainer`` with the two things the lecture's recipes need and transformers lacks.

* ``--lr_scheduler_type noam`` (or ``transformer``): the paper's warm-up schedule (:mod:`.schedules`), d_model read
  from the model's config (override with ``--lr_scheduler_kwargs '{"d_model": 512}'``).
* Perplexity next to every language-model loss: ``eval_perplexity = exp(eval_loss)`` is logged with the eval loss
  (and so lands in ``trainer_state.json``, the logs and the metrics JSON).
* Checkpoints that are never lost (:mod:`.checkpoints`): the completion marker (a sha256 manifest) is the last write
  of a save and rotation (``--save_total_limit``) runs only after it; resuming verifies the checkpoint and falls back
  to the previous complete one; one run per ``--output_dir`` (a lock the OS releases when the run dies).
* Resuming checks what a checkpoint cannot silently absorb: a model of another size is refused naming both shapes,
  and a ``--learning_rate`` / schedule that differs from the checkpoint's is warned about (transformers restores the
  old optimizer and scheduler state) or, with ``--override_lr_scheduler_on_resume``, applied from the resumed step.

Everything else is transformers' own: progress bars, logging, checkpointing, resuming, DDP/FSDP/DeepSpeed.
"""

from __future__ import annotations

import json
import logging
import math
import os

import torch
from transformers import Seq2SeqTrainer, Trainer
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from .checkpoints import (
    OutputDirLock,
    check_checkpoint_shapes,
    delete_checkpoint,
    is_resumable_candidate,
    last_good_checkpoint,
    mark_complete,
    read_trainer_state,
    resume_checkpoint,
    rotate_checkpoints,
)
from .schedules import get_noam_schedule, is_noam

TRAINING_ARGS_NAME = "training_args.bin"
#: The learning-rate settings a checkpoint was trained with (written before its marker, so the marker covers it).
SCHEDULE_FILE = "lr_schedule.json"
SCHEDULER_NAME = "scheduler.pt"
#: Options that decide the learning rate at a step; transformers restores the optimizer/scheduler state of a
#: checkpoint, so a resumed run keeps the checkpoint's values of these whatever the command line says.
SCHEDULE_OPTIONS = ("learning_rate", "lr_scheduler_type", "warmup_steps", "lr_scheduler_kwargs")
OVERRIDE_FLAG = "--override_lr_scheduler_on_resume"

logger = logging.getLogger("tobigs_transformer.training")


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
        self._num_training_steps = num_training_steps  # for a schedule re-created on resume
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

    # -------------------------------------------------------------------------------------------- lock + resume
    def train(self, resume_from_checkpoint: str | bool | None = None, trial=None, ignore_keys_for_eval=None,
              **kwargs):
        """``Trainer.train`` holding the ``--output_dir`` lock, resuming only from a checkpoint that verifies."""
        # Under DDP only the world-main process locks and chooses the checkpoint; the others take its decision (or
        # its error, so that no rank waits forever in a collective another rank never reaches).
        lock = OutputDirLock(self.args.output_dir) if self.args.process_index == 0 else None

        def decide():
            if lock is not None:
                lock.acquire()
            checkpoint = self._checkpoint_to_resume(resume_from_checkpoint)
            if checkpoint is not None:
                check_checkpoint_shapes(checkpoint, self.accelerator.unwrap_model(self.model))
                self._compare_schedule(checkpoint)
            return checkpoint

        try:
            checkpoint = self._decided_by_main_process(decide)
            return super().train(
                resume_from_checkpoint=checkpoint, trial=trial, ignore_keys_for_eval=ignore_keys_for_eval, **kwargs
            )
        finally:
            if lock is not None:
                lock.release()

    def _checkpoint_to_resume(self, value: str | bool | None) -> str | None:
        if value is None or value is False:
            return None
        if value is True:
            found = last_good_checkpoint(self.args.output_dir)
            if found is None:
                raise ValueError(f"No valid checkpoint found in output directory ({self.args.output_dir})")
            return found
        return resume_checkpoint(str(value))

    # -------------------------------------------------------------------------------------------- learning rate
    def schedule_settings(self) -> dict:
        """This run's values of :data:`SCHEDULE_OPTIONS` (JSON-ready)."""
        out = {}
        for name in SCHEDULE_OPTIONS:
            value = getattr(self.args, name, None)
            out[name] = str(getattr(value, "value", value)) if name == "lr_scheduler_type" else value
        out["lr_scheduler_kwargs"] = dict(out["lr_scheduler_kwargs"] or {})
        return out

    def _compare_schedule(self, checkpoint: str) -> None:
        """Warn, naming both values, about every schedule option that differs from the checkpoint's, unless
        ``--override_lr_scheduler_on_resume`` applies this run's (then say so)."""
        old, new = checkpoint_schedule(checkpoint), self.schedule_settings()
        changed = {k: (old[k], new[k]) for k in old if k in new and not _same(old[k], new[k])}
        if not changed:
            return
        what = ", ".join(f"--{k} {_shown(a)} in the checkpoint, {_shown(b)} now" for k, (a, b) in changed.items())
        if getattr(self.args, "override_lr_scheduler_on_resume", False):
            logger.warning(f"resuming from {checkpoint} with this run's learning-rate settings ({what}): "
                           f"{OVERRIDE_FLAG} applies them from step {read_trainer_state(checkpoint)['global_step']}")
            return
        logger.warning(
            f"resuming from {checkpoint}: {what}. transformers restores the checkpoint's optimizer and scheduler, so "
            f"the run continues with the checkpoint's values and ignores this run's; pass {OVERRIDE_FLAG} to apply "
            "this run's learning rate and schedule from the resumed step instead"
        )

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        """transformers' restore, then (``--override_lr_scheduler_on_resume``) this run's learning rate and
        schedule, evaluated at the resumed step rather than restarted from step 0."""
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is None or not getattr(self.args, "override_lr_scheduler_on_resume", False):
            return
        if self.is_deepspeed_enabled:  # DeepSpeed owns its optimizer and scheduler
            logger.warning(f"{OVERRIDE_FLAG} is not applied under DeepSpeed: its checkpoint's schedule goes on")
            return
        step = int(read_trainer_state(checkpoint)["global_step"])
        optimizer = self.optimizer
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"] = self.args.learning_rate
        self.lr_scheduler = None
        scheduler = self.create_scheduler(getattr(self, "_num_training_steps", self.args.max_steps), optimizer)
        _move_schedule_to(scheduler, step)
        self.lr_scheduler = scheduler

    def _decided_by_main_process(self, decide):
        dist = torch.distributed
        if self.args.world_size <= 1 or not (dist.is_available() and dist.is_initialized()):
            return decide()
        payload: list = [None]
        if self.args.process_index == 0:
            try:
                payload = [("ok", decide())]
            except Exception as exc:  # noqa: BLE001 - re-raised below on every rank
                payload = [("error", exc)]
        dist.broadcast_object_list(payload, src=0)
        kind, value = payload[0]
        if kind == "error":
            raise value
        return value

    # -------------------------------------------------------------------------------------------- saving
    def _save_checkpoint(self, model, trial) -> None:
        """transformers' save, then the completion marker, then rotation: never a moment without a complete
        checkpoint on disk (save order in :mod:`.checkpoints`)."""
        run_dir = self._get_output_dir(trial=trial)
        folder = os.path.join(run_dir, f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}")
        if self.args.should_save and os.path.isdir(folder):
            # left by an abandoned run or an interrupted save: its old marker must never vouch for the new files
            if is_resumable_candidate(folder):
                logger.warning(f"replacing {folder}: this run did not resume from it and has reached its step")
            delete_checkpoint(folder)
        self.accelerator.wait_for_everyone()
        limit = self.args.save_total_limit
        # transformers rotates at the end of its save, before any marker exists; hold it back and rotate below
        self.args.save_total_limit = None
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self.args.save_total_limit = limit
        # every rank's rng_state_<rank>.pth is on disk before the marker lists the folder's files
        self.accelerator.wait_for_everyone()
        if not self.args.should_save:
            return
        if os.path.isfile(os.path.join(folder, TRAINING_ARGS_NAME)):
            torch.save(self.args, os.path.join(folder, TRAINING_ARGS_NAME))  # record the real limit, not the None
        with open(os.path.join(folder, SCHEDULE_FILE), "w", encoding="utf-8") as f:
            json.dump(self.schedule_settings(), f, indent=1, sort_keys=True, default=str)
        for callback in self.callback_handler.callbacks:
            write_files = getattr(callback, "write_checkpoint_files", None)
            if callable(write_files):
                write_files(folder, self.args, self.state)
        mark_complete(folder, self.state.global_step)
        rotate_checkpoints(run_dir, limit, newest=folder, best=self.state.best_model_checkpoint)


def checkpoint_schedule(checkpoint: str) -> dict:
    """The schedule settings ``checkpoint`` was trained with: its ``lr_schedule.json``, or (a plain transformers
    checkpoint) the learning rate its ``scheduler.pt`` holds; {} when neither says."""
    path = os.path.join(checkpoint, SCHEDULE_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            recorded = json.load(f)
        if isinstance(recorded, dict):
            return recorded
    except (OSError, ValueError):  # absent, or cut short by a save stopped before the marker: ask scheduler.pt
        pass
    path = os.path.join(checkpoint, SCHEDULER_NAME)
    if not os.path.isfile(path):
        return {}
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - a scheduler transformers cannot load either fails there, with its own error
        return {}
    base = state.get("base_lrs") if isinstance(state, dict) else None
    return {"learning_rate": float(base[0])} if base else {}


def _shown(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else repr(value)


def _same(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0)
    return a == b


def _move_schedule_to(scheduler, step: int) -> None:
    """A fresh scheduler at ``step`` (as if stepped ``step`` times), setting its optimizer's learning rates."""
    lambdas = getattr(scheduler, "lr_lambdas", None)
    if lambdas is None:  # not a LambdaLR: step it (arithmetic only, no optimizer step)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(step):
                scheduler.step()
        return
    scheduler.last_epoch = step
    lrs = [base * fn(step) for base, fn in zip(scheduler.base_lrs, lambdas)]
    for group, lr in zip(scheduler.optimizer.param_groups, lrs):
        group["lr"] = lr
    scheduler._last_lr = lrs


class TobigsTrainer(_TobigsTrainerMixin, Trainer):
    """``transformers.Trainer`` + the paper's schedule + perplexity logging."""


class TobigsSeq2SeqTrainer(_TobigsTrainerMixin, Seq2SeqTrainer):
    """``transformers.Seq2SeqTrainer`` + the paper's schedule + perplexity logging."""


__all__ = ["OVERRIDE_FLAG", "SCHEDULE_FILE", "TobigsSeq2SeqTrainer", "TobigsTrainer", "checkpoint_schedule",
           "perplexity"]
