"""Local paths given to command-line options: a path that does not exist says "no such directory" (naming it) instead
of transformers' message about Hub repository ids, which is what a missing local folder otherwise produces."""

from __future__ import annotations

import os

from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from .cli import UsageError

__all__ = ["check_local_dir", "looks_like_local_path", "not_found_message"]


def looks_like_local_path(value: str) -> bool:
    """True when ``value`` cannot be a Hub repo id (``name`` or ``namespace/name``), so it can only be a local path."""
    if os.path.isabs(value) or value.startswith((".", "~")) or "\\" in value:
        return True
    try:
        validate_repo_id(value)
    except HFValidationError:
        return True
    return False


def check_local_dir(option: str, value: str | None, error: type[Exception] = UsageError) -> None:
    """A directory option: a path that exists must be a directory, and a value that can only be a path must exist.
    A value shaped like a repo id that is no local directory is left to the Hub (or its cache when offline)."""
    if not value or os.path.isdir(value):
        return
    if os.path.exists(value):
        raise error(f"{option} {value!r} is a file; give the directory that holds it")
    if looks_like_local_path(value):
        raise error(f"{option} {value!r}: no such directory")


def not_found_message(option: str, value: str, exc: BaseException) -> str:
    """The one-line error of a model/tokenizer/config that failed to load: "no such directory" first when the path
    does not exist locally, then the Hub's reason."""
    reason = " ".join(str(exc).split())
    if not os.path.exists(value):
        return f"{option} {value!r}: no such directory, and no Hub repo of that name could be loaded ({reason})"
    return f"could not load {option} {value!r}: {reason}"
