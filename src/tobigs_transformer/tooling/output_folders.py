"""The folders `tobigs export` and `tobigs convert` write: checked before the disk is touched, written beside the
target and renamed into place, one writer at a time.

* `check_output_dir` refuses, before anything is written, an output folder that is a source of the command, that
  contains one (its parent, ...), or that is not empty, unless `overwrite` is given and the folder is an earlier
  output of a tobigs command that nobody changed since. "Earlier output" = the folder holds `OUTPUT_MARKER`, written
  last by the command, recording the size and sha256 of every file it wrote, and it holds no other file, no changed
  file and no sub-folder. Anything else (a training run, checkpoints, a folder someone added a file to or edited) is
  never deleted: the error names the folder and what is in the way, and says how to proceed.
* `atomic_output` takes an exclusive lock beside the target (a second writer is refused with `OutputInUseError`
  naming the process), lets the command write into a fresh temporary folder beside it, writes the marker, and only
  then renames the temporary folder onto the target (an atomic exchange where the system has one, so that a kill at
  any instant leaves either the old target or the complete new one, never a half-written folder under its name).
  Leftover temporary folders of a killed writer are removed by the next writer of the same target.
"""

from __future__ import annotations

import ctypes
import datetime
import errno
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from . import locks


__all__ = [
    "OUTPUT_MARKER",
    "OutputInUseError",
    "UnsafeOutputError",
    "atomic_output",
    "check_output_dir",
    "local_source",
]

logger = logging.getLogger("tobigs_transformer.tooling")

OUTPUT_MARKER = ".tobigs_output.json"
_TMP_INFIX, _OLD_INFIX, _LOCK_SUFFIX = ".tobigs-tmp-", ".tobigs-old-", ".tobigs.lock"
_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


class UnsafeOutputError(ValueError):
    """The output folder cannot be written without deleting or mixing with something the command did not write."""


class OutputInUseError(RuntimeError):
    """Another live process is writing the same output folder."""


def local_source(value: str | os.PathLike | None) -> Path | None:
    """`value` as a resolved local folder, or None when it is not one (a Hub id, nothing)."""
    if not value or not os.path.isdir(value):
        return None
    return Path(value).resolve()


# ------------------------------------------------------------------------------------------------ checks
def check_output_dir(target: str | os.PathLike, sources: Iterable[tuple[str, str | os.PathLike | None]], *,
                     overwrite: bool, option: str = "--output_dir") -> None:
    """Raise before anything is written when writing `target` would delete or mix with what the command did not
    write. `sources` are (option name, folder) pairs the command reads (Hub ids and None are skipped)."""
    real = Path(os.path.realpath(target))
    for source_option, value in sources:
        source = local_source(value)
        if source is None:
            continue
        if source == real:
            raise UnsafeOutputError(
                f"{option} {target} is the folder given as {source_option} ({source}); writing there would replace "
                f"the model being read. Give another {option}"
            )
        if real in source.parents:
            raise UnsafeOutputError(
                f"{option} {target} contains {source_option} {source}; replacing it would delete the model being "
                f"read (and everything beside it). Give another {option}"
            )
    if real.exists() and not real.is_dir():
        raise UnsafeOutputError(f"{option} {target} is a file, not a folder")
    if not real.is_dir() or not any(real.iterdir()):
        return
    if not overwrite:
        raise FileExistsError(
            f"{option} {target} is not empty; pass --overwrite (overwrite=True) to replace an earlier output of this "
            f"command, or give a new {option}"
        )
    problems = _not_ours(real)
    if problems:
        raise UnsafeOutputError(
            f"{option} {target}: --overwrite only replaces an earlier output of tobigs export/convert that nobody "
            f"changed since, and this folder {problems}. Nothing was deleted; move or delete it yourself, or give a "
            f"new {option}"
        )


def _not_ours(folder: Path) -> str:
    """What makes `folder` not a pristine earlier output ('' when it is one)."""
    marker = folder / OUTPUT_MARKER
    if not marker.is_file():
        return f"has no {OUTPUT_MARKER} (it was not written by tobigs export/convert)"
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))["files"]
        if not isinstance(recorded, dict):
            raise TypeError("files")
    except (OSError, ValueError, KeyError, TypeError):
        return f"has an unreadable {OUTPUT_MARKER}"
    extra, changed = [], []
    for path in sorted(folder.iterdir()):
        if path.name == OUTPUT_MARKER:
            continue
        if path.is_dir() and not path.is_symlink():
            extra.append(path.name + "/")
        elif path.name not in recorded:
            extra.append(path.name)
        elif _record(path) != recorded[path.name]:
            changed.append(path.name)
    parts = []
    if extra:
        parts.append(f"holds what it did not write: {', '.join(extra[:8])}{' ...' if len(extra) > 8 else ''}")
    if changed:
        parts.append(f"has files changed since it was written: {', '.join(changed[:8])}")
    return " and ".join(parts)


def _record(path: Path) -> dict:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"size": path.stat().st_size, "sha256": digest.hexdigest()}


# ------------------------------------------------------------------------------------------------ writing
@contextmanager
def atomic_output(target: str | os.PathLike, sources: Iterable[tuple[str, str | os.PathLike | None]] = (), *,
                  overwrite: bool = False, written_by: str, option: str = "--output_dir") -> Iterator[Path]:
    """Write a folder that appears at `target` complete or not at all.

    Yields a fresh temporary folder beside `target`; when the block ends normally the marker is written and the
    folder renamed onto `target` (replacing an earlier output, after the same checks as `check_output_dir`, made
    again under the lock). When the block raises, or the process dies, `target` is untouched."""
    sources = list(sources)
    check_output_dir(target, sources, overwrite=overwrite, option=option)
    target = Path(os.path.abspath(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    with _TargetLock(target, option):
        _remove_leftovers(target)
        check_output_dir(target, sources, overwrite=overwrite, option=option)  # unchanged since, now under the lock
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}{_TMP_INFIX}", dir=target.parent))
        try:
            yield tmp
            _write_marker(tmp, written_by)
            _commit(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def _write_marker(folder: Path, written_by: str) -> None:
    files = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name != OUTPUT_MARKER:
            files[path.name] = _record(path)
            with open(path, "rb") as f:  # durable before the rename publishes the folder
                os.fsync(f.fileno())
    payload = {"format": 1, "written_by": written_by, "files": files,
               "written_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    with open(folder / OUTPUT_MARKER, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=1, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


def _commit(tmp: Path, target: Path) -> None:
    """Move the complete `tmp` onto `target`: a plain rename when there is nothing (or an empty folder) there, an
    atomic exchange with the earlier output otherwise (then the earlier output, now at `tmp`, is deleted)."""
    if not target.exists() or (target.is_dir() and not any(target.iterdir())):
        os.replace(tmp, target)
    elif _exchange(tmp, target):
        shutil.rmtree(tmp)
    else:  # no atomic exchange on this system: the earlier output is kept under a backup name for an instant
        backup = Path(tempfile.mkdtemp(prefix=f".{target.name}{_OLD_INFIX}", dir=target.parent))
        os.rmdir(backup)
        os.replace(target, backup)
        os.replace(tmp, target)
        shutil.rmtree(backup)
    _fsync_dir(target.parent)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux `renameat2(RENAME_EXCHANGE)`); False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(error, f"cannot move {a} onto {b}: {os.strerror(error)}")


def _remove_leftovers(target: Path) -> None:
    """Temporary folders of this target left by a writer that died (only called under the target's lock). A backup
    left between the two renames of the fallback is put back when the target itself is gone."""
    for path in sorted(target.parent.glob(f".{target.name}{_OLD_INFIX}*")):
        if not target.exists():
            os.replace(path, target)
            logger.warning(f"{target}: restored the earlier output from {path.name}, left by an interrupted writer")
        else:
            shutil.rmtree(path, ignore_errors=True)
    for path in target.parent.glob(f".{target.name}{_TMP_INFIX}*"):
        shutil.rmtree(path, ignore_errors=True)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------------------------ locking
class _TargetLock:
    """Exclusive `flock` on `.<name>.tobigs.lock` beside the target (not inside it: the target is replaced by a
    rename). The kernel drops it when the holder exits in any way; the empty file stays."""

    def __init__(self, target: Path, option: str):
        self.target, self.option = target, option
        self.path = target.parent / f".{target.name}{_LOCK_SUFFIX}"
        self.fd: int | None = None

    def __enter__(self) -> "_TargetLock":
        if not locks.LOCKING_AVAILABLE:
            logger.warning(f"no file locking on this platform; {self.target} is not protected from a second writer")
            return self
        try:
            self.fd = locks.acquire(self.path)
        except locks.LockHeld as held:
            raise OutputInUseError(
                f"{self.option} {self.target} is being written by another process ({held.holder}); two writers would "
                f"replace each other's output. Wait for it to finish or give another {self.option} (lock file "
                f"{self.path}, released by the system when that process exits)."
            ) from None
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            locks.release(fd)
