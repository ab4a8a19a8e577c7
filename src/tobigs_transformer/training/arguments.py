"""Command-line arguments shared by the training scripts (``HfArgumentParser`` dataclasses, as transformers' examples).

Every script parses ``ModelArguments``, its own data-arguments dataclass (a subclass of :class:`DataArguments`) and
``TobigsTrainingArguments`` (or ``TobigsSeq2SeqTrainingArguments``), i.e. all of transformers' ``TrainingArguments``
plus ``--lr_scheduler_type noam`` (the paper's schedule, see :mod:`.schedules`).  A single ``.json``/``.yaml``/``.yml``
path as the only argument is read as a config file; ``--config_file path.yaml`` followed by more flags overrides the
file's values with the flags.

Unknown options, values of the wrong type and failed checks of the dataclasses raise
:class:`~tobigs_transformer.tooling.cli.UsageError` naming the option (a command line prints it on one line and exits
with status 2).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field

import yaml
from transformers import HfArgumentParser, Seq2SeqTrainingArguments, TrainingArguments
from transformers.trainer_utils import SchedulerType

from ..tooling.cli import UsageError, parse_dataclasses
from .schedules import NOAM_SCHEDULER_NAMES, is_noam


_SCHEDULER_HELP = (
    "Learning-rate schedule: one of transformers' SchedulerType values "
    f"({', '.join(s.value for s in SchedulerType)}) or {' / '.join(NOAM_SCHEDULER_NAMES)} for the Transformer paper's "
    "warm-up schedule d_model^-0.5 * min(step^-0.5, step * warmup^-1.5) scaled by --learning_rate."
)


class _NoamSchedulerMixin:
    """Lets ``lr_scheduler_type`` take the paper's schedule: the base ``__post_init__`` sees a valid placeholder, then
    the name is put back (a plain ``str``) for ``TobigsTrainer.create_scheduler`` to read."""

    def __post_init__(self):
        custom = None
        if is_noam(self.lr_scheduler_type):
            custom = str(getattr(self.lr_scheduler_type, "value", self.lr_scheduler_type)).lower()
            self.lr_scheduler_type = SchedulerType.CONSTANT_WITH_WARMUP.value
        else:
            valid = {s.value for s in SchedulerType}
            value = str(getattr(self.lr_scheduler_type, "value", self.lr_scheduler_type))
            if value not in valid:
                raise ValueError(
                    f"--lr_scheduler_type {value!r} is not a known schedule; choose from "
                    f"{sorted(valid) + list(NOAM_SCHEDULER_NAMES)}"
                )
        super().__post_init__()
        if custom is not None:
            self.lr_scheduler_type = custom


@dataclass
class TobigsTrainingArguments(_NoamSchedulerMixin, TrainingArguments):
    lr_scheduler_type: str = field(default="linear", metadata={"help": _SCHEDULER_HELP})


@dataclass
class TobigsSeq2SeqTrainingArguments(_NoamSchedulerMixin, Seq2SeqTrainingArguments):
    lr_scheduler_type: str = field(default="linear", metadata={"help": _SCHEDULER_HELP})


@dataclass
class ModelArguments:
    """Which model to train: a preset (new weights), a config, or a saved/converted checkpoint to continue from."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "A saved or converted checkpoint folder (or Hub id when online) to continue from."},
    )
    preset: str | None = field(
        default=None,
        metadata={"help": "Start from new weights with TobigsConfig.from_preset(PRESET) (e.g. transformer-base, gpt2)."},
    )
    config_name: str | None = field(
        default=None, metadata={"help": "A config.json / folder holding one, or a preset name, for new weights."}
    )
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "Comma-separated config values, e.g. 'd_model=256,encoder_layers=3,dropout=0.1'."},
    )
    tokenizer_name: str | None = field(
        default=None, metadata={"help": "Tokenizer folder (defaults to --model_name_or_path)."}
    )
    label_smoothing: float | None = field(
        default=None,
        metadata={"help": "Label smoothing of the LM losses (config.label_smoothing); the paper uses 0.1."},
    )
    cache_dir: str | None = field(default=None, metadata={"help": "Where downloaded models/datasets are cached."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow code shipped with a checkpoint."})
    attn_implementation: str | None = field(
        default=None, metadata={"help": "Attention kernel: sdpa (default), eager, flash_attention_2, flex_attention."}
    )


@dataclass
class DataArguments:
    """Where the text comes from: a ``datasets`` Hub dataset (online) or local text/JSON/CSV files."""

    dataset_name: str | None = field(default=None, metadata={"help": "A dataset name for datasets.load_dataset."})
    dataset_config_name: str | None = field(default=None, metadata={"help": "The dataset's configuration name."})
    train_file: str | None = field(default=None, metadata={"help": "Training data: .txt, .json/.jsonl or .csv."})
    validation_file: str | None = field(default=None, metadata={"help": "Evaluation data (same formats)."})
    test_file: str | None = field(default=None, metadata={"help": "Data for --do_predict (same formats)."})
    validation_split_percentage: int = field(
        default=5, metadata={"help": "Percent of train held out for evaluation when no validation split exists."}
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep only this many training examples."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep only this many evaluation examples."})
    max_predict_samples: int | None = field(default=None, metadata={"help": "Keep only this many test examples."})
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for datasets.map."})
    overwrite_cache: bool = field(default=False, metadata={"help": "Recompute the datasets.map caches."})
    plot: bool = field(default=True, metadata={"help": "Write loss_curve.png next to checkpoints and the model."})


def parse_args(dataclass_types, args: list[str] | None = None):
    """Parse ``args`` (default ``sys.argv[1:]``) into the dataclasses.

    * ``script.py config.yaml`` / ``config.json``: the file alone;
    * ``script.py --config_file config.yaml --flag value ...``: the file, with the flags taking precedence.
    """
    parser = HfArgumentParser(dataclass_types)
    argv = list(sys.argv[1:] if args is None else args)
    if len(argv) == 1 and argv[0].endswith((".json", ".yaml", ".yml")):
        try:
            return parser.parse_dict(_read_config(argv[0]), allow_extra_keys=False)
        except UsageError:
            raise
        except (TypeError, ValueError) as exc:
            raise UsageError(f"config file {argv[0]!r}: {exc}") from exc
    if "--config_file" in argv:
        i = argv.index("--config_file")
        if i + 1 >= len(argv):
            raise UsageError("--config_file needs a path")
        values = _read_config(argv[i + 1])
        rest = argv[:i] + argv[i + 2 :]
        flags = []
        for key, value in values.items():
            if f"--{key}" in rest:
                continue
            if isinstance(value, bool):
                flags += [f"--{key}", str(value)]
            elif isinstance(value, (list, tuple)):
                flags += [f"--{key}", *map(str, value)]
            elif isinstance(value, dict):
                flags += [f"--{key}", json.dumps(value)]
            elif value is not None:
                flags += [f"--{key}", str(value)]
        argv = flags + rest
    return parse_dataclasses(parser, argv)


def _read_config(path: str) -> dict:
    if not os.path.isfile(path):
        raise UsageError(f"config file {path!r}: no such file")
    try:
        with open(path, encoding="utf-8") as f:
            values = yaml.safe_load(f) if path.endswith((".yaml", ".yml")) else json.load(f)
    except json.JSONDecodeError as exc:
        raise UsageError(f"config file {path}:{exc.lineno}: malformed JSON: {exc.msg} (column {exc.colno})") from exc
    except yaml.YAMLError as exc:
        raise UsageError(f"config file {path!r}: malformed YAML: {' '.join(str(exc).split())}") from exc
    if not isinstance(values, dict):
        raise UsageError(f"config file {path!r} must hold a mapping of argument names to values")
    return values


__all__ = [
    "DataArguments",
    "ModelArguments",
    "TobigsSeq2SeqTrainingArguments",
    "TobigsTrainingArguments",
    "parse_args",
]
