"""The manifest a folder carries of its own files: ``{"files": {name: {"size", "sha256"}}, ...}``.

Training writes one into every checkpoint as its completion marker (``checkpoint_complete.json``, see
``training/checkpoints.py``); any loader that reads weights from such a folder (resume, ``tobigs-convert``,
``tobigs-export``) checks the files it reads against it.  Files in the Hugging Face cache carry a record too: a
large (LFS) file is stored as ``blobs/<sha256>``, so its link target names the hash it must have.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from .weights import CorruptWeightsError, FileRecord, compare_record, scan_weight_file, sha256_file

MANIFEST_NAME = "checkpoint_complete.json"
MANIFEST_FORMAT = 1
#: Weight files ``from_pretrained`` reads: what convert/export verify against a record.
_SAFE_SUFFIXES = (".safetensors", ".safetensors.index.json")
_PICKLE_PREFIXES = ("pytorch_model", "adapter_model")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class MalformedManifestError(CorruptWeightsError):
    """A manifest that is not the JSON object this module writes."""


def is_weight_file(name: str) -> bool:
    """Model weights (safetensors, or transformers' pickled ``pytorch_model*.bin``), not optimiser/RNG/arguments."""
    base = os.path.basename(name)
    pickled = base.startswith(_PICKLE_PREFIXES) and base.endswith((".bin", ".bin.index.json"))
    return base.endswith(_SAFE_SUFFIXES) or pickled


def build_manifest(folder: str, *, exclude: tuple[str, ...] = (), fsync: bool = True, **fields: Any) -> dict:
    """A manifest of every regular file under ``folder`` (recursively, sorted) except ``exclude``; ``fsync`` flushes
    each file to disk while hashing it, so the manifest never describes bytes that a power cut could lose."""
    files: dict[str, dict] = {}
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, folder).replace(os.sep, "/")
            if rel in exclude or rel.endswith(".tmp") or not os.path.isfile(path) or os.path.islink(path):
                continue
            files[rel] = sha256_file(path, fsync=fsync).to_json()
    return {"format": MANIFEST_FORMAT, **fields, "files": files}


def write_json_atomically(path: str, payload: dict) -> None:
    """``path`` appears complete or not at all: a temporary file, flushed and fsynced, renamed over it, and the
    folder fsynced so the rename itself survives a power cut."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=1, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(os.path.abspath(path)))


def fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not every platform opens folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_manifest(path: str) -> dict:
    """The manifest at ``path``; :class:`MalformedManifestError` names the file and line of a JSON error."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as exc:
        raise MalformedManifestError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedManifestError(
            f"{path}:{exc.lineno}:{exc.colno}: malformed JSON ({exc.msg}); the completion marker was damaged"
        ) from exc
    if not isinstance(payload, dict):
        raise MalformedManifestError(f"{path}:1: expected a JSON object, got {type(payload).__name__}")
    files = payload.get("files", {})
    if not isinstance(files, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("size"), int) and isinstance(v.get("sha256"), str)
        for v in files.values()
    ):
        raise MalformedManifestError(f"{path}: 'files' must map names to {{'size': int, 'sha256': str}}")
    return payload


def records(manifest: dict) -> dict[str, FileRecord]:
    return {name: FileRecord(size=v["size"], sha256=v["sha256"]) for name, v in manifest.get("files", {}).items()}


def verify_files(folder: str, manifest: dict, manifest_path: str, names=None) -> None:
    """Check the files ``manifest`` records (or only ``names`` among them) under ``folder``: present, same size, same
    sha256; safetensors files also finite.  Raises :class:`CorruptWeightsError` naming the first bad file."""
    source = f"the manifest {manifest_path}"
    for name, record in records(manifest).items():
        if names is not None and name not in names:
            continue
        path = os.path.join(folder, *name.split("/"))
        if name.endswith(".safetensors"):
            scan_weight_file(path, record, source)
        else:
            compare_record(path, record, source)


def hub_cache_record(path: str) -> FileRecord | None:
    """The record the Hugging Face cache keeps of ``path``: a snapshot link to ``blobs/<sha256>`` (LFS files)."""
    if not os.path.islink(path):
        return None
    target = os.path.realpath(path)
    name = os.path.basename(target)
    if not _HEX64.match(name) or os.path.basename(os.path.dirname(target)) != "blobs" or not os.path.isfile(target):
        return None
    return FileRecord(size=os.path.getsize(target), sha256=name)


def verify_recorded_weights(folder: str) -> list[str]:
    """Verify the weight files of a model folder wherever a record of them exists: the folder's manifest (a
    training checkpoint) or the Hugging Face cache's content addresses.  Returns the files verified (empty: no
    record); raises :class:`CorruptWeightsError` naming a file that differs from its record."""
    checked: list[str] = []
    manifest_path = os.path.join(folder, MANIFEST_NAME)
    recorded: dict[str, FileRecord] = {}
    if os.path.isfile(manifest_path):
        recorded = records(read_manifest(manifest_path))
        for name, record in recorded.items():
            if is_weight_file(name):
                compare_record(os.path.join(folder, *name.split("/")), record, f"the manifest {manifest_path}")
                checked.append(name)
    if os.path.isdir(folder):
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            if name in recorded or not is_weight_file(name):
                continue
            record = hub_cache_record(path)
            if record is not None:
                compare_record(path, record, "its Hugging Face cache address (blobs/<sha256>)")
                checked.append(name)
    return checked


__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "MalformedManifestError",
    "build_manifest",
    "fsync_dir",
    "hub_cache_record",
    "is_weight_file",
    "read_manifest",
    "records",
    "verify_files",
    "verify_recorded_weights",
    "write_json_atomically",
]
