"""The start of every training run: logging as transformers' examples do it, then the seed."""

from __future__ import annotations

import logging
import sys

import datasets
import transformers
from transformers import set_seed

logger = logging.getLogger("tobigs_transformer.training")


def setup(training_args, *dataclasses_to_log) -> None:
    """Logging as transformers' examples do it (INFO on the main process), then the seed."""
    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        datefmt="%m/%d/%Y %H:%M:%S",
        handlers=[logging.StreamHandler(sys.stdout)],
    )
    level = training_args.get_process_log_level()
    logger.setLevel(level)
    datasets.utils.logging.set_verbosity(max(level, logging.WARNING))
    transformers.utils.logging.set_verbosity(level)
    transformers.utils.logging.enable_default_handler()
    transformers.utils.logging.enable_explicit_format()
    logger.warning(
        f"process rank {training_args.process_index}/{training_args.world_size}, device {training_args.device}, "
        f"distributed: {training_args.parallel_mode.value}, bf16: {training_args.bf16}, fp16: {training_args.fp16}"
    )
    for obj in dataclasses_to_log:
        logger.info(f"{type(obj).__name__}: {obj}")
    set_seed(training_args.seed)
