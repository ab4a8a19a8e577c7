"""Is a weight file the one that was written, and are its numbers numbers?

A safetensors file whose body was damaged (a flipped byte, a disk error, a copy cut short) often still parses: a
flipped exponent byte turns a weight into NaN or inf and transformers' ``from_pretrained`` loads it without a word
(the tobigs models' ``from_pretrained`` checks, see ``finite_weights.py``).  Two checks catch that: the file's sha256
against the one recorded when it was written (where a record exists), and every floating-point tensor being finite
(the model's own check, imported from ``finite_weights.py``: one implementation).  Both run in one read of the
file: the hash reads it from disk and the finite check reads the tensors back from the page cache (measured: ~0.16 s
sha256 + ~0.22 s finite check for a 100 MB file on a busy 2-core machine).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from ..model.finite_weights import CorruptWeightsError, check_finite, describe_non_finite, first_non_finite

_CHUNK = 8 << 20


@dataclass(frozen=True)
class FileRecord:
    """What a manifest records of one file: its size in bytes and its sha256 (hex)."""

    size: int
    sha256: str

    def to_json(self) -> dict:
        return {"size": self.size, "sha256": self.sha256}


def sha256_file(path: str, *, fsync: bool = False) -> FileRecord:
    """Size and sha256 of ``path`` in one sequential read; ``fsync=True`` also flushes its data to disk first (so a
    record written next is never ahead of the bytes it describes)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        if fsync:
            os.fsync(f.fileno())
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return FileRecord(size=size, sha256=digest.hexdigest())


def compare_record(path: str, recorded: FileRecord, source: str) -> None:
    """Raise :class:`CorruptWeightsError` unless ``path`` exists and matches ``recorded`` (size checked first: it is
    free and names a truncated file as such)."""
    if not os.path.isfile(path):
        raise CorruptWeightsError(f"{path}: file is missing; {source} records it ({recorded.size} bytes)")
    size = os.path.getsize(path)
    if size != recorded.size:
        raise CorruptWeightsError(
            f"{path}: size {size} bytes differs from the {recorded.size} bytes {source} records "
            f"({'truncated' if size < recorded.size else 'grown'} after it was written)"
        )
    actual = sha256_file(path)
    if actual.sha256 != recorded.sha256:
        raise CorruptWeightsError(
            f"{path}: sha256 {actual.sha256[:16]}... differs from {recorded.sha256[:16]}... that {source} records "
            "(the file changed after it was written)"
        )


def _safetensors_tensors(path: str):
    from safetensors import SafetensorError, safe_open

    try:
        handle = safe_open(path, framework="pt")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CorruptWeightsError(f"{path}: not a readable safetensors file ({exc})") from exc
    with handle:
        for name in handle.keys():
            try:
                yield name, handle.get_tensor(name)
            except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
                raise CorruptWeightsError(f"{path}: tensor {name!r} cannot be read ({exc})") from exc


def scan_weight_file(path: str, recorded: FileRecord | None = None, source: str = "the manifest") -> None:
    """Verify one weight file: against ``recorded`` when given, and (safetensors) every tensor finite.

    Raises :class:`CorruptWeightsError` naming the file (and the tensor)."""
    if recorded is not None:
        compare_record(path, recorded, source)
    elif not os.path.isfile(path):
        raise CorruptWeightsError(f"{path}: file is missing")
    if path.endswith(".safetensors"):
        check_finite(_safetensors_tensors(path), path)


__all__ = [
    "CorruptWeightsError",
    "FileRecord",
    "check_finite",
    "compare_record",
    "describe_non_finite",
    "first_non_finite",
    "scan_weight_file",
    "sha256_file",
]
