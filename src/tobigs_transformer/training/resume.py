"""Which checkpoint a run continues from (`--resume_from_checkpoint`), and refusing to mix with an earlier run."""

from __future__ import annotations

import os

from .callbacks import last_good_checkpoint
from .checkpoints import resumable_checkpoints
from .logging_setup import logger
from .validation import LAST_CHECKPOINT, ArgumentError, check_resume_arg


def resolve_checkpoint(training_args) -> str | None:
    """``--resume_from_checkpoint last`` (or ``true``) → the newest checkpoint in ``--output_dir`` that verifies
    (marked complete, or a plain transformers one that loads).  Without the option, a folder that holds checkpoints
    of an earlier run is refused unless ``--overwrite_output_dir`` says to start again from step 0."""
    value = training_args.resume_from_checkpoint
    if value is None:
        found = resumable_checkpoints(training_args.output_dir)
        if found and not getattr(training_args, "overwrite_output_dir", False):
            names = [os.path.basename(p) for p in found]
            raise ArgumentError(
                f"--output_dir {training_args.output_dir} holds checkpoints of an earlier run ({', '.join(names)}): "
                "pass --resume_from_checkpoint last to continue it, --overwrite_output_dir to train from step 0 and "
                "replace them, or choose another --output_dir"
            )
        return None
    if str(value).lower() in LAST_CHECKPOINT:
        found = last_good_checkpoint(training_args.output_dir)
        if found is None:
            logger.warning(f"no checkpoint in {training_args.output_dir} to resume from; training from the start")
        return found
    check_resume_arg(value)
    return value
