"""Segment-level recurrence in ``Trainer`` (Transformer-XL, Dai et al. 2019 §3.2): the memory of one step is the
context of the next.

The model returns ``mems`` (per layer the last ``mem_len`` hidden states, detached: no gradient flows into the
past) and takes them back as ``mems=``.  This trainer keeps them between calls of ``compute_loss`` — one memory for
training, one for evaluation, so an evaluation in the middle of training does not disturb the training streams —
and relies on the data being the paper's LM iterator (:mod:`.lm_streams`): row b of batch t + 1 continues row b of
batch t on every process, and the micro-batches of a gradient-accumulation step are consecutive batches, so the
memory is carried per micro-batch.  Therefore, with memory:

* training batches are never shuffled (a sequential sampler);
* memory is emptied when an epoch starts (the streams start again) and when an evaluation starts;
* evaluation reports the loss and perplexity with memory (``eval_loss``, ``eval_perplexity``) and, from a second
  pass over the same batches with the memory emptied before every batch, ``eval_loss_no_memory`` and
  ``eval_perplexity_no_memory``: what the memory adds, measured on the same model; with
  ``evaluate_same_length = True`` a third pass with same-length attention (``config.same_length``: every token sees
  ``mem_len`` tokens, the authors' evaluation) reports ``eval_loss_same_length`` and ``eval_perplexity_same_length``.

transformers' own ``Trainer`` carried ``mems`` through ``--past_index`` until v5 removed it with the TransfoXL
classes; this is its replacement.  Memory is not saved in checkpoints: a resumed run starts its next segment with
empty memory.  A model without memory (``config.mem_len == 0``) trains exactly as with the plain language-model
trainer.
"""

from __future__ import annotations

import logging

import torch
from torch.utils.data import SequentialSampler
from transformers import TrainerCallback
from transformers.trainer_utils import has_length

from .trainers import TobigsTrainer, perplexity

__all__ = ["SegmentMemoryMixin", "SegmentMemoryTrainer", "memory_length"]

logger = logging.getLogger(__name__)


def memory_length(model) -> int:
    """The model's ``config.mem_len`` (0 for a model without segment memory)."""
    config = getattr(model, "config", None)
    return int(getattr(config, "mem_len", 0) or 0)


class _EmptyMemoryEachEpoch(TrainerCallback):
    """The streams start again at every epoch: so does the memory."""

    def __init__(self, trainer: SegmentMemoryMixin):
        self.trainer = trainer

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.trainer.reset_memory("train")


class SegmentMemoryMixin:
    """Carries ``mems`` from step to step (module docstring); mix in before a ``transformers.Trainer``."""

    #: Also evaluate with the memory emptied before every batch (``*_perplexity_no_memory``).
    evaluate_without_memory: bool = True
    #: Also evaluate with same-length attention (``*_perplexity_same_length``): every token sees the same number
    #: (``mem_len``) of tokens, as the authors evaluate (``config.same_length``, set for that pass only). Off by
    #: default: one more pass over the evaluation set.
    evaluate_same_length: bool = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.memory: dict[str, tuple[torch.Tensor, ...] | None] = {"train": None, "eval": None}
        self._memory_disabled = False
        self._warned_batch_change = False
        self.add_callback(_EmptyMemoryEachEpoch(self))
        if self.carries_memory:
            logger.info(f"segment memory: mem_len={memory_length(self._plain_model)} hidden states per layer are "
                        "carried from step to step (sequential batches; emptied at every epoch and evaluation)")

    @property
    def _plain_model(self):
        return self.accelerator.unwrap_model(self.model)

    @property
    def carries_memory(self) -> bool:
        return memory_length(self._plain_model) > 0

    def reset_memory(self, which: str | None = None) -> None:
        """Empty the training memory, the evaluation memory, or (``None``) both."""
        for key in (self.memory if which is None else (which,)):
            self.memory[key] = None

    # ------------------------------------------------------------------------------------------ the recurrence
    def compute_loss(self, model, inputs, return_outputs: bool = False, num_items_in_batch=None):
        if not self.carries_memory:
            return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                        num_items_in_batch=num_items_in_batch)
        key = "train" if model.training else "eval"
        mems = None if self._memory_disabled else self.memory[key]
        rows = inputs["input_ids"].shape[0]
        if mems is not None and mems[0].shape[0] != rows:
            # Only a batch that is not the LM iterator's (a ragged last batch, a dataset of plain blocks) gets here.
            if not self._warned_batch_change:
                logger.warning(f"segment memory: the batch has {rows} rows but the memory {mems[0].shape[0]}; the "
                               "memory is emptied (feed the LM iterator's streams for continuity)")
                self._warned_batch_change = True
            mems = None
        loss, outputs = super().compute_loss(model, {**inputs, "mems": mems}, return_outputs=True,
                                             num_items_in_batch=num_items_in_batch)
        self.memory[key] = outputs["mems"] if isinstance(outputs, dict) and "mems" in outputs else None
        return (loss, outputs) if return_outputs else loss

    def prediction_step(self, model, inputs, prediction_loss_only: bool, ignore_keys: list[str] | None = None):
        if self.carries_memory:
            # the memory is a hidden state, not a prediction: never gathered with the logits
            if ignore_keys is None:
                ignore_keys = list(getattr(self._plain_model.config, "keys_to_ignore_at_inference", ["cache"]))
            ignore_keys = [*ignore_keys, "mems"]
        return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)

    # ------------------------------------------------------------------------------------------ data order
    def _get_train_sampler(self, train_dataset=None):
        if not self.carries_memory:
            return super()._get_train_sampler(train_dataset)
        train_dataset = self.train_dataset if train_dataset is None else train_dataset
        strategy = self.args.train_sampling_strategy
        if strategy not in ("random", "sequential"):
            raise ValueError(f"--train_sampling_strategy {strategy!r} reorders the batches, which breaks the streams "
                             "that segment memory follows (mem_len > 0): use 'sequential' (the default with memory)")
        if train_dataset is None or not has_length(train_dataset):
            return None
        return SequentialSampler(train_dataset)

    # ------------------------------------------------------------------------------------------ evaluation
    def _extra_evaluation(self, dataloader, description, ignore_keys, metric_key_prefix, switch, owner) -> float:
        """One more loss-only evaluation pass with `owner.switch` set to True (memory disabled, same-length
        attention), set back and the memory emptied afterwards; returns its loss."""
        setattr(owner, switch, True)
        try:
            extra = super().evaluation_loop(dataloader, description, True, ignore_keys, metric_key_prefix)
        finally:
            setattr(owner, switch, False)
            self.reset_memory("eval")
        return extra.metrics[f"{metric_key_prefix}_loss"]

    def evaluation_loop(self, dataloader, description, prediction_loss_only=None, ignore_keys=None,
                        metric_key_prefix: str = "eval"):
        if not self.carries_memory:
            return super().evaluation_loop(dataloader, description, prediction_loss_only, ignore_keys,
                                           metric_key_prefix)
        self.reset_memory("eval")
        output = super().evaluation_loop(dataloader, description, prediction_loss_only, ignore_keys,
                                         metric_key_prefix)
        loss_key = f"{metric_key_prefix}_loss"
        config = self._plain_model.config
        if self.evaluate_without_memory and loss_key in output.metrics:
            loss = self._extra_evaluation(dataloader, f"{description} (memory disabled)", ignore_keys,
                                          metric_key_prefix, "_memory_disabled", self)
            output.metrics[f"{loss_key}_no_memory"] = loss
            output.metrics[f"{metric_key_prefix}_perplexity_no_memory"] = perplexity(loss)
        if self.evaluate_same_length and loss_key in output.metrics and not config.same_length:
            self.reset_memory("eval")
            loss = self._extra_evaluation(dataloader, f"{description} (same length)", ignore_keys,
                                          metric_key_prefix, "same_length", config)
            output.metrics[f"{loss_key}_same_length"] = loss
            output.metrics[f"{metric_key_prefix}_perplexity_same_length"] = perplexity(loss)
        self.reset_memory("eval")
        return output


class SegmentMemoryTrainer(SegmentMemoryMixin, TobigsTrainer):
    """The language-model trainer (perplexity next to every evaluation loss) with segment memory carried from step
    to step when the model has one (``config.mem_len > 0``)."""

    report_perplexity = True
