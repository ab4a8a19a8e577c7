"""The one shape of every training command:

    arguments → data → model → collator → trainer → train / evaluate / predict → artefacts

A command is a :class:`Recipe` subclass: its arguments dataclass, its :class:`~.tasks.Task` (model class, language
model or not, title, metrics) and the few steps that differ (reading and tokenising the data, the collator, what is
generated after training).  :meth:`Recipe.run` is the whole flow, read top to bottom; nothing is set on an object
after it is built (the trainer class, the training arguments' defaults and the collator's ids are chosen before).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

import datasets

from ..tooling.commands import Command, execute
from .arguments import KeepColumnsTrainingArguments, ModelArguments, TobigsTrainingArguments, route_label_smoothing
from .callbacks import (
    METRICS_FILE,
    PLOT_FILE,
    RunArtifactsCallback,
    plot_loss_curve,
    summarise_log_history,
    write_metrics_json,
)
from .checkpoints import OutputDirLock, read_trainer_state
from .documents import read_documents
from .labels import label_config, label_names
from .logging_setup import setup
from .model_config import build_config
from .model_loading import load_model, load_tokenizer, require_pad_token
from .raw_data import load_raw_datasets, map_examples, require_columns, select, split_source
from .resume import resolve_checkpoint
from .tasks import Task
from .trainers import perplexity
from .validation import ArgumentError, check_length, check_run

__all__ = ["ClassifierRecipe", "DocumentRecipe", "Recipe", "Splits", "finished_at"]

logger = logging.getLogger("tobigs_transformer.training")


@dataclass(frozen=True)
class Splits:
    """The tokenised datasets a run trains, evaluates and predicts on (None where there is none)."""

    train: datasets.Dataset | None
    eval: datasets.Dataset | None
    test: datasets.Dataset | None


class Recipe:
    """A training command.  Subclasses set the class attributes and override the steps that differ."""

    #: The command's data arguments (a subclass of :class:`~.arguments.DataArguments`).
    data_arguments: ClassVar[type]
    training_arguments: ClassVar[type] = TobigsTrainingArguments
    #: The preset of new weights when neither --preset nor --config_name is given.
    default_preset: ClassVar[str]
    #: Why this task pads batches (asked of the tokenizer before anything is read); None: it never pads.
    pads: ClassVar[str | None] = None
    #: One raw row is one example: --max_*_samples cut the raw data before it is tokenised.
    row_per_example: ClassVar[bool] = False
    #: Data options that are lengths in tokens: each must fit the model's max_position_embeddings.
    lengths: ClassVar[tuple[str, ...]] = ()
    #: The error when the training data gives no example ({source}: where it came from).
    no_training_examples: ClassVar[str] = "no training examples could be built from {source}"
    #: Flags of earlier releases → what replaced them (a usage error says so).
    removed_flags: ClassVar[dict[str, str]] = {}

    def __init__(self, model_args, data_args, training_args):
        self.model_args = model_args
        self.data_args = data_args
        self.training_args = training_args

    @classmethod
    def command(cls, description: str = "") -> Command:
        """The command line of this recipe (``tobigs train NAME``)."""
        return Command(arguments=(ModelArguments, cls.data_arguments, cls.training_arguments),
                       run=lambda *parsed: cls(*parsed).run(), description=description, resolve=cls.resolve,
                       removed=cls.removed_flags)

    @classmethod
    def run_args(cls, args: list[str] | None = None) -> dict[str, Any]:
        """Parse ``args`` and run (the ``main(args)`` of a ``run_*`` module: errors raise, metrics are returned)."""
        return execute(cls.command(), args)

    @staticmethod
    def resolve(values: dict[str, Any]) -> None:
        """Values that depend on two argument dataclasses, settled before either is built."""
        route_label_smoothing(values)

    # ---------------------------------------------------------------------------------------- declared per task
    @property
    def task(self) -> Task:
        raise NotImplementedError

    # ---------------------------------------------------------------------------------------- steps that differ
    def check_tokenizer(self, tokenizer) -> None:
        if self.pads is not None:
            require_pad_token(tokenizer, self.model_args, self.pads)

    def read(self) -> datasets.DatasetDict:
        """The raw splits (train / validation / test)."""
        return load_raw_datasets(self.data_args, self.model_args)

    def data_tokens(self, tokenizer, raw: datasets.DatasetDict):
        """The tokenizer with the tokens the data declares (e.g. CTRL's control codes), before the model is sized."""
        return tokenizer

    def config_values(self, raw: datasets.DatasetDict) -> dict[str, Any]:
        """Config values the data decides (e.g. the labels of a classifier)."""
        return {}

    def check_config(self, config) -> None:
        """Lengths and other options checked against the model's config, before anything is tokenised."""
        for name in self.lengths:
            check_length(getattr(self.data_args, name), config, f"--{name}")

    def tokenize(self, raw: datasets.DatasetDict, tokenizer, config) -> dict[str, datasets.Dataset]:
        raise NotImplementedError

    def generation(self, config) -> dict[str, Any] | None:
        """Settings for the model's ``generation_config`` (saved with it)."""
        return None

    def collator(self, tokenizer, config, model) -> Callable:
        raise NotImplementedError

    def compute_metrics(self, tokenizer, config) -> Callable | None:
        return self.task.metrics

    def after_predict(self, trainer, tokenizer, test: datasets.Dataset, result) -> dict[str, Any]:
        """Artefacts of ``--do_predict`` besides its metrics (e.g. generated text); main process only."""
        return {}

    def samples(self, trainer, tokenizer) -> dict[str, Any]:
        """What the trained model produces for the command's sample inputs (main process; into ``metrics.json``)."""
        return {}

    # ---------------------------------------------------------------------------------------- the shape
    def run(self) -> dict[str, Any]:
        """arguments → data → model → collator → trainer → train / evaluate / predict → artefacts."""
        model_args, data_args, training_args = self.model_args, self.data_args, self.training_args
        check_run(model_args, data_args, training_args)
        setup(training_args, model_args, data_args)
        # held until the last file of the command is written (the final model, its metrics, the artefacts), not
        # only while transformers trains: a second run must not write into the folder in between
        with output_dir_lock(training_args):
            checkpoint = resolve_checkpoint(training_args) if training_args.do_train else None
            done = finished_at(checkpoint, training_args)
            if done is not None:
                logger.warning(done)
                return previous_metrics(training_args.output_dir)
            return self._run(checkpoint)

    def _run(self, checkpoint: str | None) -> dict[str, Any]:
        model_args, data_args, training_args, task = self.model_args, self.data_args, self.training_args, self.task
        tokenizer = load_tokenizer(model_args)
        self.check_tokenizer(tokenizer)
        with training_args.main_process_first(desc="read the data"):
            raw = self.read()
        tokenizer = self.data_tokens(tokenizer, raw)
        config, _ = build_config(model_args, tokenizer, task.name, self.default_preset, **self.config_values(raw))
        self.check_config(config)
        with training_args.main_process_first(desc="tokenize"):
            splits = self.splits(self.tokenize(self.cut(raw), tokenizer, config))
        model = load_model(task.model_class, model_args, config, self.generation(config))
        trainer = task.trainer_class(
            model=model,
            args=training_args,
            train_dataset=splits.train,
            eval_dataset=splits.eval if training_args.do_eval else None,
            processing_class=tokenizer,
            data_collator=self.collator(tokenizer, config, model),
            compute_metrics=self.compute_metrics(tokenizer, config),
            preprocess_logits_for_metrics=task.logits_to_predictions,
            callbacks=[RunArtifactsCallback(lm=task.language_model, plot=data_args.plot, title=task.title)],
        )
        metrics = train_and_evaluate(trainer, task, splits, checkpoint)
        test_metrics, extra = self.predict(trainer, tokenizer, splits)
        metrics.update(test_metrics)
        if trainer.is_world_process_zero():
            extra.update(self.samples(trainer, tokenizer))
        write_artefacts(trainer, task, metrics, extra, plot=data_args.plot)
        return {**metrics, **{k: v for k, v in extra.items() if not isinstance(v, (list, dict))}}

    # ---------------------------------------------------------------------------------------- shared pieces
    def cut(self, raw: datasets.DatasetDict) -> datasets.DatasetDict:
        """``--max_*_samples`` on the raw rows, when one row is one example (cheaper than after tokenising)."""
        if not self.row_per_example:
            return raw
        return datasets.DatasetDict({split: select(ds, self._limit(split)) for split, ds in raw.items()})

    def _limit(self, split: str) -> int | None:
        names = {"train": "max_train_samples", "validation": "max_eval_samples", "test": "max_predict_samples"}
        return getattr(self.data_args, names[split]) if split in names else None

    def splits(self, tokenized: dict[str, datasets.Dataset]) -> Splits:
        """The tokenised splits this run uses, cut to ``--max_*_samples``."""
        args = self.training_args
        train = select(tokenized["train"], self._limit("train")) if args.do_train else None
        if train is not None and len(train) == 0:
            raise ArgumentError(self.no_training_examples.format(source=split_source(self.data_args, "train")))
        evaluation = select(tokenized["validation"], self._limit("validation")) if "validation" in tokenized else None
        test = select(tokenized["test"], self._limit("test")) if "test" in tokenized else None
        return Splits(train=train, eval=evaluation, test=test)

    def predict(self, trainer, tokenizer, splits: Splits) -> tuple[dict[str, Any], dict[str, Any]]:
        """``--do_predict``: the metrics on the test split, and :meth:`after_predict`'s artefacts."""
        if not (self.training_args.do_predict and splits.test is not None):
            return {}, {}
        result = trainer.predict(splits.test, metric_key_prefix="test")
        trainer.log_metrics("test", result.metrics)
        trainer.save_metrics("test", result.metrics)
        extra = self.after_predict(trainer, tokenizer, splits.test, result) if trainer.is_world_process_zero() else {}
        return dict(result.metrics), extra


class DocumentRecipe(Recipe):
    """Pretraining on documents of sentences (pairs, packing, noising): ``--max_seq_length`` tokens per example, and
    a collator that reads columns the model does not take."""

    training_arguments = KeepColumnsTrainingArguments
    lengths = ("max_seq_length",)

    def read(self) -> datasets.DatasetDict:
        return read_documents(self.data_args, self.model_args)


class ClassifierRecipe(Recipe):
    """A classifier fine-tuned on labelled rows (one row, one example); the labels of the training split (or of the
    only split there is) are the classes, stored in the config as ``id2label``/``label2id``."""

    default_preset = "bert-base"
    pads = "fine-tuning a classifier (batches of examples of unequal length are padded)"
    row_per_example = True
    lengths = ("max_seq_length",)
    #: The option that names the label column (for errors).
    label_option: ClassVar[str]
    #: Batched ``datasets.map`` function ``(batch, tokenizer, data_args, label2id) -> features``.
    preprocess: ClassVar[Callable[..., dict]]

    def columns(self, split: str, present: list[str]) -> list[str]:
        """The columns a split must hold (``present``: those it has)."""
        raise NotImplementedError

    def read(self) -> datasets.DatasetDict:
        """The raw splits, once every split is known to hold its :meth:`columns` (else an error naming file and
        columns)."""
        raw = super().read()
        for split, ds in raw.items():
            require_columns(ds, self.columns(split, ds.column_names), f"{split} split", split_source(self.data_args,
                                                                                                   split))
        return raw

    def label_values(self, rows: datasets.Dataset) -> set:
        """The distinct label values of ``rows``."""
        raise NotImplementedError

    def config_values(self, raw: datasets.DatasetDict) -> dict[str, Any]:
        source = raw["train"] if "train" in raw else next(iter(raw.values()))
        return label_config(label_names(self.label_values(source), self.label_option))

    def tokenize(self, raw, tokenizer, config) -> dict[str, datasets.Dataset]:
        preprocess = partial(self.preprocess, tokenizer=tokenizer, data_args=self.data_args,
                             label2id=dict(config.label2id))
        return {split: map_examples(ds, preprocess, self.data_args, f"tokenize {split}",
                                    remove_columns=ds.column_names) for split, ds in raw.items()}


def output_dir_lock(training_args):
    """The ``--output_dir`` lock for the whole command (the main process holds it; the trainer's own acquire is
    re-entrant)."""
    if training_args.process_index != 0:
        return contextlib.nullcontext()
    return OutputDirLock(training_args.output_dir)


def finished_at(checkpoint: str | None, training_args) -> str | None:
    """A message when ``checkpoint`` already reached the end this run asks for (``--max_steps``, else
    ``--num_train_epochs``), else None.  transformers' Trainer would train one more step past the end and save a new
    checkpoint (docs/reliability.md); the command says the run is complete instead."""
    if checkpoint is None:
        return None
    state = read_trainer_state(checkpoint)
    step, epoch = int(state.get("global_step", 0)), float(state.get("epoch") or 0.0)
    if training_args.max_steps > 0:
        if step < training_args.max_steps:
            return None
        end = f"--max_steps {training_args.max_steps}"
    else:
        if epoch < training_args.num_train_epochs - 1e-9:
            return None
        end = f"--num_train_epochs {training_args.num_train_epochs:g}"
    return (f"the run in {training_args.output_dir} is complete: {checkpoint} is at step {step} (epoch {epoch:g}), "
            f"the end of {end}; nothing trained or written. Raise {end.split()[0]} to train further.")


def previous_metrics(output_dir: str) -> dict[str, Any]:
    """The metrics a finished run wrote (``metrics.json``), {} when there are none."""
    try:
        with open(os.path.join(output_dir, METRICS_FILE), encoding="utf-8") as f:
            return dict(json.load(f).get("metrics", {}))
    except (OSError, ValueError, AttributeError):
        return {}


def train_and_evaluate(trainer, task: Task, splits: Splits, checkpoint: str | None = None) -> dict[str, Any]:
    """Train (from ``checkpoint`` when resuming) and save model + tokenizer, then evaluate; the metrics of both."""
    args, metrics = trainer.args, {}
    if args.do_train:
        result = trainer.train(resume_from_checkpoint=checkpoint)
        trainer.save_model()
        train = {**result.metrics, "train_samples": len(splits.train)}
        if task.language_model:
            train["train_perplexity"] = perplexity(train.get("train_loss"))
        trainer.log_metrics("train", train)
        trainer.save_metrics("train", train)
        trainer.save_state()
        metrics.update(train)
    if args.do_eval and splits.eval is not None:
        evaluation = {**trainer.evaluate(), "eval_samples": len(splits.eval)}
        if task.language_model and "eval_loss" in evaluation:
            evaluation["eval_perplexity"] = perplexity(evaluation["eval_loss"])
        trainer.log_metrics("eval", evaluation)
        trainer.save_metrics("eval", evaluation)
        metrics.update(evaluation)
    return metrics


def write_artefacts(trainer, task: Task, metrics: dict, extra: dict, plot: bool) -> None:
    """``metrics.json`` (latest logged values, the run's metrics, ``extra``, the log history) and
    ``loss_curve.png`` in ``--output_dir``, by the main process."""
    if not trainer.is_world_process_zero():
        return
    history, output_dir = trainer.state.log_history, trainer.args.output_dir
    write_metrics_json(output_dir, {**summarise_log_history(history), **metrics}, history,
                       lm=task.language_model, extra=extra or None)
    if plot:
        plot_loss_curve(history, os.path.join(output_dir, PLOT_FILE), task.title)
