"""One exclusive lock per folder a command writes: an `flock` on a lock file, which the operating system drops when
the holder dies (no stale lock after a kill), with the holder's pid, host and command written into the file so that a
refused second writer can say who holds it. Used by the training runs' `--output_dir` lock
(training/checkpoints.py) and by export/convert's output lock (tooling/output_folders.py)."""

from __future__ import annotations

import datetime
import errno
import json
import os
import socket
import sys

try:
    import fcntl
except ImportError:  # not on Windows: callers warn that nothing is locked
    fcntl = None

LOCKING_AVAILABLE = fcntl is not None


class LockHeld(Exception):
    """Another process holds the lock; `holder` says who (pid, host, start time, command)."""

    def __init__(self, holder: str):
        super().__init__(holder)
        self.holder = holder


def acquire(path: str | os.PathLike) -> int:
    """Lock `path` (created if missing) without waiting and record this process as its holder; returns the open file
    descriptor to pass to `release`. Raises `LockHeld` when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = _read_holder(fd)
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise
        raise LockHeld(holder) from None
    info = {"pid": os.getpid(), "host": socket.gethostname(),
            "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": " ".join(sys.argv)[:500]}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(info) + "\n").encode("utf-8"), 0)
    return fd


def release(fd: int) -> None:
    """Forget the holder, unlock and close."""
    try:
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not info.get("pid"):
        return "holder not recorded yet"
    return (f"pid {info['pid']} on host {info.get('host', '?')}, started {info.get('started', '?')}: "
            f"{info.get('command', '')}")
