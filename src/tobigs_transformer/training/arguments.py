"""Command-line arguments shared by the training commands (``HfArgumentParser`` dataclasses, as in transformers'
examples).

Every command parses ``ModelArguments``, its own data-arguments dataclass (a subclass of :class:`DataArguments`) and
``TobigsTrainingArguments`` (or ``TobigsSeq2SeqTrainingArguments``), i.e. all of transformers' ``TrainingArguments``
plus ``--lr_scheduler_type noam`` (the paper's schedule, see :mod:`.schedules`).  Parsing is
:func:`tobigs_transformer.tooling.commands.parse`, the same for every command of the package: ``--help``, and a
``.json``/``.yaml``/``.yml`` file as the first argument (or ``--config_file path.yaml``) with flags that win over it.

Each dataclass checks its own values in ``__post_init__`` (data files that do not exist, an unknown preset, a
percentage out of range, ...); those errors, unknown options and values of the wrong type raise
:class:`~tobigs_transformer.tooling.cli.UsageError` naming the option (a command line prints it on one line and exits
with status 2).  Values that depend on two dataclasses are settled before either is built
(:func:`route_label_smoothing`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from transformers import Seq2SeqTrainingArguments, TrainingArguments
from transformers.trainer_utils import SchedulerType

from ..tooling.commands import Command, parse
from .schedules import NOAM_SCHEDULER_NAMES, is_noam
from .validation import ArgumentError, check_data_file_options, check_model_sources, check_resume_arg

logger = logging.getLogger("tobigs_transformer.training")

_SCHEDULER_HELP = (
    "Learning-rate schedule: one of transformers' SchedulerType values "
    f"({', '.join(s.value for s in SchedulerType)}) or {' / '.join(NOAM_SCHEDULER_NAMES)} for the Transformer paper's "
    "warm-up schedule d_model^-0.5 * min(step^-0.5, step * warmup^-1.5) scaled by --learning_rate."
)


class _TobigsArgumentsMixin:
    """Lets ``lr_scheduler_type`` take the paper's schedule: the base ``__post_init__`` sees a valid placeholder, then
    the name is put back (a plain ``str``) for ``TobigsTrainer.create_scheduler`` to read.  Refuses ``--push_to_hub``
    offline (it would fail only after training) and a ``--resume_from_checkpoint`` folder that does not exist."""

    def __post_init__(self):
        if self.push_to_hub and os.environ.get("HF_HUB_OFFLINE") == "1":
            raise ArgumentError("--push_to_hub cannot work with HF_HUB_OFFLINE=1")
        # before the base __post_init__: it sets up the device and, under a launcher, the process group
        self.use_cpu = cpu_for_launched_workers(self.use_cpu, self.ddp_backend)
        check_resume_arg(self.resume_from_checkpoint)
        check_max_steps(self.max_steps)
        check_output_dir(self.output_dir)
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
        check_launch(self)
        if custom is not None:
            self.lr_scheduler_type = custom


def launcher_world_size() -> int:
    """The number of workers the launcher started (``WORLD_SIZE`` of torchrun / ``accelerate launch``), 1 without
    one."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def has_accelerator() -> bool:
    """A GPU (or another accelerator torch knows) this process could train on; asked the way accelerate asks."""
    from accelerate.utils import get_torch_accelerator_backend

    return get_torch_accelerator_backend()[0] is not None


def cpu_backends() -> tuple[str, ...]:
    """The --ddp_backend values accelerate joins CPU workers with (mpi only where torch was built with it)."""
    import torch.distributed

    return ("gloo", "mpi") if torch.distributed.is_mpi_available() else ("gloo",)


def cpu_for_launched_workers(use_cpu: bool, ddp_backend: str | None) -> bool:
    """``use_cpu`` for this worker.  Several workers launched (``WORLD_SIZE`` > 1) on a machine without GPU train on
    the CPU in one DDP group: transformers joins CPU workers only when asked for the CPU, and otherwise lets every
    worker train the whole model alone on all the data into the same --output_dir (``distributed: not_parallel``).
    With no accelerator the CPU is the only device, so asking for it changes nothing else; it is said in a log line.
    A --ddp_backend that cannot join CPU processes (nccl, ...) is refused here, before any process group waits."""
    world = launcher_world_size()
    cpu = use_cpu or os.environ.get("ACCELERATE_USE_CPU", "false").lower() in ("1", "true", "yes", "on")
    if world <= 1:
        return use_cpu
    if not cpu and has_accelerator():
        return use_cpu
    if ddp_backend is not None and ddp_backend not in cpu_backends():
        raise ArgumentError(f"--ddp_backend {ddp_backend} cannot join CPU workers (the launcher started "
                            f"WORLD_SIZE={world} workers on the CPU): use --ddp_backend gloo or leave it out")
    if not cpu and os.environ.get("RANK", "0") == "0":
        logger.warning(f"the launcher started WORLD_SIZE={world} workers and there is no GPU: training on the CPU in "
                       f"one DDP group (--use_cpu set)")
    return True


def check_launch(training_args) -> None:
    """Workers started by a launcher (``WORLD_SIZE`` > 1) must form one DDP group: otherwise each trains alone on all
    the data and they write the same --output_dir (transformers only warns).  Run after the device is set up."""
    from transformers.training_args import ParallelMode

    world = launcher_world_size()
    mode = training_args.parallel_mode
    if world <= 1 or mode not in (ParallelMode.NOT_PARALLEL, ParallelMode.NOT_DISTRIBUTED):
        return
    raise ArgumentError(f"the launcher started WORLD_SIZE={world} workers but transformers set up no DDP group on "
                        f"{training_args.device} (distributed: {mode.value}): each would train alone on all the data "
                        f"into the same --output_dir; pass --use_cpu to train on the CPU (gloo), or launch one worker "
                        f"per GPU")


def check_max_steps(max_steps: int) -> None:
    """transformers trains one step for ``--max_steps 0`` and reads any negative value as "use the epochs"."""
    if max_steps == 0 or max_steps < -1:
        raise ArgumentError(f"--max_steps must be a positive number of optimizer steps (or -1, the default: train "
                            f"--num_train_epochs epochs), got {max_steps}")


def check_output_dir(output_dir: str | None) -> None:
    """``--output_dir`` is a folder (created if missing): neither it nor a folder above it may be a file."""
    if not output_dir:
        return
    path = os.path.abspath(output_dir)
    while path and not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            return
        path = parent
    if not os.path.isdir(path):
        where = "is a file" if path == os.path.abspath(output_dir) else f"is inside {path!r}, which is a file"
        raise ArgumentError(f"--output_dir {output_dir!r} {where}; give a folder (it is created if missing)")


_OVERWRITE_HELP = (
    "Train from step 0 into an --output_dir that holds checkpoints of an earlier run, replacing them as this run "
    "reaches their steps. Without it such a run stops and says so: pass --resume_from_checkpoint last to continue "
    "the earlier run instead."
)
_OVERRIDE_LR_HELP = (
    "When resuming, apply this run's --learning_rate, --lr_scheduler_type, --warmup_steps and --lr_scheduler_kwargs "
    "from the resumed step. By default transformers restores the checkpoint's optimizer and scheduler, which keep "
    "the checkpoint's values (a warning names both when they differ)."
)


@dataclass
class TobigsTrainingArguments(_TobigsArgumentsMixin, TrainingArguments):
    lr_scheduler_type: str = field(default="linear", metadata={"help": _SCHEDULER_HELP})
    overwrite_output_dir: bool = field(default=False, metadata={"help": _OVERWRITE_HELP})
    override_lr_scheduler_on_resume: bool = field(default=False, metadata={"help": _OVERRIDE_LR_HELP})


@dataclass
class TobigsSeq2SeqTrainingArguments(_TobigsArgumentsMixin, Seq2SeqTrainingArguments):
    lr_scheduler_type: str = field(default="linear", metadata={"help": _SCHEDULER_HELP})
    overwrite_output_dir: bool = field(default=False, metadata={"help": _OVERWRITE_HELP})
    override_lr_scheduler_on_resume: bool = field(default=False, metadata={"help": _OVERRIDE_LR_HELP})


@dataclass
class ModelArguments:
    """Which model to train: a preset (new weights), a config, or a saved/converted checkpoint to continue from."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "A saved or converted checkpoint folder (or Hub id when online) to continue from."},
    )
    preset: str | None = field(
        default=None,
        metadata={"help": "Start from new weights: TobigsConfig.from_preset(PRESET) (e.g. transformer-base, gpt2)."},
    )
    config_name: str | None = field(
        default=None, metadata={"help": "A config.json / folder holding one, or a preset name, for new weights."}
    )
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "Config values: comma-separated key=value ('d_model=256,encoder_layers=3,dropout=0.1') "
                          "or a mapping ('{d_model: 256, dropout: 0.1}', or a mapping in a config file)."},
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

    def __post_init__(self):
        check_model_sources(self)


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

    def __post_init__(self):
        check_data_file_options(self)


@dataclass
class DocumentDataArguments(DataArguments):
    """Data read as documents of sentences (:func:`~.documents.load_documents`): NSP/SOP pairs, RoBERTa packing and
    BART noising."""

    sentences_column: str = field(default="sentences", metadata={"help": "Column of documents as sentence lists."})
    text_column: str = field(
        default="text", metadata={"help": "Text column (a sentence per line) used when there is no sentences column."}
    )


@dataclass
class KeepColumnsTrainingArguments(TobigsTrainingArguments):
    """For collators that read columns the model does not take (``special_tokens_mask``, ``sentence_ends``)."""

    remove_unused_columns: bool = field(
        default=False,
        metadata={"help": "Kept false: the collator of this task reads columns the model's forward does not take."},
    )

    def __post_init__(self):
        if self.remove_unused_columns:
            raise ArgumentError("--remove_unused_columns must stay false: this task's collator reads columns "
                                "(special_tokens_mask / sentence_ends) that the model's forward does not take")
        super().__post_init__()


def route_label_smoothing(values: dict[str, Any]) -> None:
    """``--label_smoothing_factor`` becomes the model's ``config.label_smoothing`` (its ``loss_function`` smooths);
    Trainer's own LabelSmoother would smooth the model's loss a second time."""
    factor = values.get("label_smoothing_factor") or 0.0
    if not factor or "label_smoothing" not in values:
        return
    if values["label_smoothing"] is None:
        values["label_smoothing"] = float(factor)
    logger.warning("--label_smoothing_factor is applied as the model's config.label_smoothing (loss_function)")
    values["label_smoothing_factor"] = 0.0


def parse_args(dataclass_types, args: list[str] | None = None) -> tuple:
    """Parse ``args`` (default ``sys.argv[1:]``) into the dataclasses (see the module docstring for config files)."""
    return parse(Command(tuple(dataclass_types), run=tuple, resolve=route_label_smoothing), args)


__all__ = [
    "DataArguments",
    "DocumentDataArguments",
    "KeepColumnsTrainingArguments",
    "ModelArguments",
    "TobigsSeq2SeqTrainingArguments",
    "TobigsTrainingArguments",
    "parse_args",
    "route_label_smoothing",
]
