"""Checkpoints that are either complete or ignored, and one run per output folder.

A ``checkpoint-N`` folder is *complete* once ``checkpoint_complete.json`` exists in it.  That marker is a manifest:
the size and sha256 of every file the save wrote (weights, optimiser, scheduler, RNG states, ``trainer_state.json``,
config, tokenizer, artefacts).  :class:`~.trainers.TobigsTrainer` saves in this order::

    1. delete a stale checkpoint-N left by an abandoned run or an interrupted save (its marker first)
    2. transformers writes the checkpoint (weights, optimiser, scheduler, RNG, trainer state), rotation held back
    3. metrics.json + loss_curve.png (RunArtifactsCallback)
    4. the marker: every file hashed and fsynced, then marker.tmp written, fsynced and renamed over the marker
    5. only now rotation (--save_total_limit): complete checkpoints only, oldest first, never the new one or the best,
       each deleted marker first

so a process killed at any point leaves the previous complete checkpoint untouched: at most one save interval is
lost.  Resuming verifies the chosen checkpoint against its marker and falls back to the previous complete one (with a
warning naming the bad file) when a file is missing, differs, or holds NaN/inf weights; with none left it raises
instead of silently training from step 0.

A folder with ``trainer_state.json`` but no marker (written by plain transformers, by an older version of this
package, or by a save killed after transformers' last write and before the marker) is *resumable* too: transformers
writes ``trainer_state.json`` last, so its presence means every file before it was written.  It is verified without a
manifest (the state parses and names its step, a weight file exists, every safetensors tensor is finite) and, when it
is the newest that verifies, ``--resume_from_checkpoint last`` resumes from it with a warning; it is never counted by
rotation nor deleted by it.  Only a folder without either file is an interrupted save.

:class:`OutputDirLock` keeps a second run out of an ``--output_dir`` that a live run is writing: an exclusive
``flock`` on a file in the folder, which the operating system drops when the holder exits, so a crashed run never
leaves it stuck.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
import shutil

from ..integrity.manifest import (
    MANIFEST_NAME,
    is_weight_file,
    MalformedManifestError,
    build_manifest,
    fsync_dir,
    read_manifest,
    verify_files,
    write_json_atomically,
)
from ..integrity.weights import CorruptWeightsError, scan_weight_file
from ..tooling import locks
from ..tooling.cli import UsageError


logger = logging.getLogger("tobigs_transformer.training")

COMPLETE_MARKER = MANIFEST_NAME
LOCK_FILE = ".tobigs_run.lock"
TRAINER_STATE = "trainer_state.json"
#: Written first when a checkpoint is deleted: an unmarked folder holding it is never resumed from.
DELETING = "checkpoint_deleting"
CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")


class CorruptCheckpointError(ValueError):
    """No checkpoint can be resumed from: the one asked for (and every older complete one) fails verification."""


class CheckpointMismatchError(UsageError):
    """The checkpoint holds a model of another size than the one this run builds (a usage error: exit status 2)."""


class OutputDirInUseError(RuntimeError):
    """Another live process holds the ``--output_dir`` lock."""


# ------------------------------------------------------------------------------------------------ listing
def checkpoint_step(folder: str) -> int | None:
    match = CHECKPOINT_RE.match(os.path.basename(os.path.normpath(folder)))
    return int(match.group(1)) if match else None


def list_checkpoints(run_dir: str) -> list[tuple[int, str]]:
    """``(step, path)`` of every ``checkpoint-N`` folder in ``run_dir``, oldest step first."""
    if not os.path.isdir(run_dir):
        return []
    found = []
    for name in os.listdir(run_dir):
        path = os.path.join(run_dir, name)
        step = checkpoint_step(name)
        if step is not None and os.path.isdir(path):
            found.append((step, path))
    return sorted(found)


def is_complete_checkpoint(folder: str) -> bool:
    """The marker exists (whether its files still match is :func:`verify_checkpoint`'s question)."""
    return os.path.isfile(os.path.join(folder, COMPLETE_MARKER))


# ------------------------------------------------------------------------------------------------ writing
def mark_complete(folder: str, global_step: int) -> dict:
    """Write the completion marker of ``folder``: the last step of a save, before any rotation."""
    manifest = build_manifest(
        folder, exclude=(COMPLETE_MARKER,), global_step=int(global_step),
        saved_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )
    write_json_atomically(os.path.join(folder, COMPLETE_MARKER), manifest)
    return manifest


def delete_checkpoint(folder: str) -> None:
    """Mark ``folder`` as being deleted (:data:`DELETING`), then remove the completion marker, then
    ``trainer_state.json``, each durably, then the rest.  A deletion cut short leaves either the whole complete
    checkpoint or a folder that is never resumed from: never a marker vouching for a missing file, and never an
    unmarked folder that looks like a plain transformers checkpoint."""
    with open(os.path.join(folder, DELETING), "w", encoding="utf-8"):
        pass
    fsync_dir(folder)
    for name in (COMPLETE_MARKER, TRAINER_STATE):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            os.remove(path)
            fsync_dir(folder)
    shutil.rmtree(folder, ignore_errors=True)


def rotate_checkpoints(run_dir: str, save_total_limit: int | None, newest: str, best: str | None = None) -> list[str]:
    """Delete the oldest *complete* checkpoints beyond ``save_total_limit``; ``newest`` (the checkpoint just marked
    complete) and ``best`` are never deleted, and incomplete folders are neither counted nor deleted (an interrupted
    save at step N is overwritten when training reaches N again).  Returns the deleted folders."""
    if not save_total_limit or save_total_limit <= 0:
        return []
    newest = os.path.abspath(newest)
    if not is_complete_checkpoint(newest):
        # rotating now could leave no complete checkpoint at all
        raise RuntimeError(f"refusing to rotate checkpoints: {newest} has no {COMPLETE_MARKER} yet")
    protected = {newest} | ({os.path.abspath(best)} if best else set())
    complete = [os.path.abspath(p) for _, p in list_checkpoints(run_dir) if is_complete_checkpoint(p)]
    keep = max(save_total_limit, len(protected.intersection(complete)))
    deleted = []
    for path in complete:
        if len(complete) - len(deleted) <= keep:
            break
        if path in protected:
            continue
        logger.info(f"deleting older checkpoint {path} (--save_total_limit {save_total_limit})")
        delete_checkpoint(path)
        deleted.append(path)
    return deleted


# ------------------------------------------------------------------------------------------------ verifying
_VERIFIED: dict[str, tuple] = {}


def _fingerprint(folder: str, names) -> tuple:
    """Cheap identity of a folder's files (stat only): a verification is reused until one of them changes."""
    out = []
    for name in sorted(names):
        try:
            st = os.stat(os.path.join(folder, name))
        except OSError:
            return ()
        out.append((name, st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(out)


def verify_checkpoint(folder: str) -> None:
    """Raise :class:`CorruptCheckpointError` naming the bad file unless ``folder`` can be resumed from.

    A marked checkpoint: every recorded file present, same size and sha256, safetensors weights finite.  A marker
    without a manifest (older versions): weights finite.  An unmarked folder with ``trainer_state.json`` (plain
    transformers, an older version): the state parses and names its step, a weight file exists, weights finite.  An
    unmarked folder without trainer state: an interrupted save."""
    folder = os.path.abspath(folder)
    marker = os.path.join(folder, COMPLETE_MARKER)
    if not os.path.isdir(folder):
        raise CorruptCheckpointError(f"{folder}: no such directory")
    names = sorted(n for n in os.listdir(folder) if not n.endswith(".tmp"))
    fingerprint = _fingerprint(folder, names)
    if fingerprint and _VERIFIED.get(folder) == fingerprint:
        return
    try:
        if os.path.isfile(marker):
            manifest = read_manifest(marker)
            if "files" in manifest:
                if TRAINER_STATE not in manifest["files"]:
                    raise CorruptCheckpointError(f"{marker}: records no {TRAINER_STATE}; not a training checkpoint")
                verify_files(folder, manifest, marker)
            else:
                _scan_weights(folder, names)
        elif os.path.exists(os.path.join(folder, DELETING)):
            raise CorruptCheckpointError(f"{folder}: its deletion was begun ({DELETING}); not resumed from")
        elif os.path.isfile(os.path.join(folder, TRAINER_STATE)):
            _check_unmarked(folder, names)
        else:
            raise CorruptCheckpointError(
                f"{folder}: no {COMPLETE_MARKER} and no {TRAINER_STATE}; the save of this checkpoint was interrupted"
            )
    except (CorruptWeightsError, MalformedManifestError) as exc:
        raise CorruptCheckpointError(str(exc)) from exc
    _VERIFIED[folder] = fingerprint


def _scan_weights(folder: str, names) -> None:
    for name in names:
        if name.endswith(".safetensors"):
            scan_weight_file(os.path.join(folder, name))


def _check_unmarked(folder: str, names) -> None:
    """A checkpoint without a manifest: what can be checked without recorded sizes and hashes."""
    state = read_trainer_state(folder)
    if not isinstance(state.get("global_step"), int):
        raise CorruptCheckpointError(f"{os.path.join(folder, TRAINER_STATE)}: records no global_step")
    if not any(is_weight_file(name) for name in names):
        raise CorruptCheckpointError(f"{folder}: no model weights (model.safetensors / pytorch_model.bin) next to "
                                     f"{TRAINER_STATE}")
    _scan_weights(folder, names)


def read_trainer_state(folder: str) -> dict:
    """``folder/trainer_state.json`` as a dict (:class:`CorruptCheckpointError` naming the file and line if it is
    not one)."""
    path = os.path.join(folder, TRAINER_STATE)
    try:
        with open(path, encoding="utf-8") as f:
            state = json.load(f)
    except FileNotFoundError:
        raise CorruptCheckpointError(f"{path}: missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f":{exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise CorruptCheckpointError(f"{path}{where}: not a readable trainer state ({exc})") from None
    if not isinstance(state, dict):
        raise CorruptCheckpointError(f"{path}: expected a JSON object, got {type(state).__name__}")
    return state


def is_resumable_candidate(folder: str) -> bool:
    """Marked complete, or holding transformers' last write (``trainer_state.json``) and not being deleted: worth
    verifying for a resume.  A folder with neither is an interrupted save."""
    if is_complete_checkpoint(folder):
        return True
    return os.path.isfile(os.path.join(folder, TRAINER_STATE)) and not os.path.exists(os.path.join(folder, DELETING))


def _first_that_verifies(candidates: list[str], asked: str) -> str:
    """The first of ``candidates`` (newest first) that verifies; warns for each one skipped, raises if none."""
    problems = []
    for path in candidates:
        try:
            verify_checkpoint(path)
        except CorruptCheckpointError as exc:
            problems.append(f"{os.path.basename(path)}: {exc}")
            logger.warning(f"checkpoint {path} cannot be resumed from: {exc}")
            continue
        if problems:
            logger.warning(f"resuming from {path}, the newest checkpoint that verifies, instead of {asked}")
        if not is_complete_checkpoint(path):
            logger.warning(
                f"resuming from {path}, which has no {COMPLETE_MARKER} (saved by plain transformers, an older version "
                f"of this package, or a save stopped before its marker): its {TRAINER_STATE} parses and its weights "
                "are finite, but no manifest vouches for the other files"
            )
        return path
    raise CorruptCheckpointError(
        f"no checkpoint to resume from: {asked} and every older checkpoint fail verification:\n  "
        + "\n  ".join(problems)
        + "\nRestore the damaged files, or move the folder(s) away to train from step 0 deliberately."
    )


def resumable_checkpoints(output_dir: str) -> list[str]:
    """Every ``checkpoint-N`` of ``output_dir`` worth verifying for a resume (marked, or unmarked with trainer
    state), newest first; interrupted saves are left out."""
    return [p for _, p in reversed(list_checkpoints(output_dir)) if is_resumable_candidate(p)]


def last_good_checkpoint(output_dir: str) -> str | None:
    """The newest ``checkpoint-N`` in ``output_dir`` that verifies, marked or not (older ones replace a damaged
    newest, with a warning); None when there is none but interrupted saves.  Raises :class:`CorruptCheckpointError`
    when checkpoints exist but none verifies: resuming must not silently start from step 0."""
    candidates = resumable_checkpoints(output_dir)
    if not candidates:
        return None
    return _first_that_verifies(candidates, f"the newest checkpoint in {output_dir}")


def resume_checkpoint(requested: str) -> str:
    """``requested`` if it verifies, else the newest older complete checkpoint beside it that does (with warnings
    naming the bad file); raises :class:`CorruptCheckpointError` when none is left."""
    requested = os.path.abspath(requested)
    if not os.path.isdir(requested):
        raise FileNotFoundError(f"--resume_from_checkpoint {requested!r}: no such directory")
    step = checkpoint_step(requested)
    parent = os.path.dirname(requested)
    older = [] if step is None else [
        p for s, p in reversed(list_checkpoints(parent)) if s < step and is_resumable_candidate(p)
    ]
    return _first_that_verifies([requested, *older], requested)


# ------------------------------------------------------------------------------------------------ model size
#: Config fields that decide tensor shapes, named in the error of a checkpoint of another size.
_SIZE_FIELDS = ("vocab_size", "d_model", "encoder_layers", "decoder_layers", "encoder_attention_heads",
                "decoder_attention_heads", "encoder_ffn_dim", "decoder_ffn_dim", "max_position_embeddings",
                "embedding_size", "num_labels", "type_vocab_size")


def checkpoint_shapes(folder: str) -> dict[str, tuple[int, ...]]:
    """``{tensor name: shape}`` of every safetensors weight file in ``folder`` (headers only)."""
    from safetensors import safe_open

    shapes = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".safetensors"):
            with safe_open(os.path.join(folder, name), framework="pt") as f:
                for key in f.keys():
                    shapes[key] = tuple(f.get_slice(key).get_shape())
    return shapes


def check_checkpoint_shapes(folder: str, model) -> None:
    """Raise :class:`CheckpointMismatchError` naming the option, a tensor and both shapes (and the config fields
    that differ) when ``folder``'s weights do not fit ``model``; tensors only one side has are transformers' to
    judge (tied weights are saved once)."""
    saved = checkpoint_shapes(folder)
    wanted = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    different = [(k, saved[k], wanted[k]) for k in sorted(saved) if k in wanted and saved[k] != wanted[k]]
    if not different:
        return
    name, old, new = different[0]
    more = f" (and {len(different) - 1} more tensor(s))" if len(different) > 1 else ""
    fields = _config_differences(folder, getattr(model, "config", None))
    raise CheckpointMismatchError(
        f"--resume_from_checkpoint {folder} holds a model of another size than this run builds: {name} is "
        f"{list(old)} in the checkpoint but {list(new)} here{more}{fields}. Resume with the --config_overrides "
        "(and --preset / --config_name / --model_name_or_path) the checkpoint was trained with, or train the new "
        "size into another --output_dir"
    )


def _config_differences(folder: str, config) -> str:
    try:
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return ""
    diffs = [f"{k}={saved[k]} in the checkpoint, {getattr(config, k)} here" for k in _SIZE_FIELDS
             if k in saved and config is not None and hasattr(config, k) and saved[k] != getattr(config, k)]
    return f"; config: {', '.join(diffs)}" if diffs else ""


# ------------------------------------------------------------------------------------------------ locking
_HELD: dict[str, list] = {}  # lock path -> [fd, depth]: re-entrant within one process


class OutputDirLock:
    """Exclusive lock on ``output_dir`` for the life of a run (re-entrant within one process).

    ``acquire`` raises :class:`OutputDirInUseError` naming the folder and the holder (pid, host, start, command)
    when another live process holds it.  The lock is an ``flock`` on ``<output_dir>/.tobigs_run.lock``: the kernel
    releases it when the holder exits in any way, so nothing needs cleaning up after a crash."""

    def __init__(self, output_dir: str):
        self.output_dir = output_dir
        self.path = os.path.join(os.path.abspath(output_dir), LOCK_FILE)
        self.held = False

    def acquire(self) -> "OutputDirLock":
        if self.held:
            return self
        if not locks.LOCKING_AVAILABLE:
            logger.warning(f"no file locking on this platform; {self.output_dir} is not protected from a second run")
            self.held = True
            return self
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        key = os.path.realpath(self.path)
        if key in _HELD:
            _HELD[key][1] += 1
        else:
            try:
                fd = locks.acquire(self.path)
            except locks.LockHeld as held:
                raise OutputDirInUseError(
                    f"--output_dir {self.output_dir} is in use by another run ({held.holder}); two runs in one folder "
                    "would interleave their checkpoints. Wait for it to finish or choose another --output_dir "
                    f"(lock file {self.path}, released by the system when that process exits)."
                ) from None
            _HELD[key] = [fd, 1]
        self.held = True
        return self

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        if not locks.LOCKING_AVAILABLE:
            return
        key = os.path.realpath(self.path)
        entry = _HELD.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            del _HELD[key]
            locks.release(entry[0])

    def __enter__(self) -> "OutputDirLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


__all__ = [
    "COMPLETE_MARKER",
    "CheckpointMismatchError",
    "check_checkpoint_shapes",
    "checkpoint_shapes",
    "CorruptCheckpointError",
    "LOCK_FILE",
    "OutputDirInUseError",
    "OutputDirLock",
    "checkpoint_step",
    "delete_checkpoint",
    "is_complete_checkpoint",
    "is_resumable_candidate",
    "last_good_checkpoint",
    "list_checkpoints",
    "mark_complete",
    "read_trainer_state",
    "resumable_checkpoints",
    "resume_checkpoint",
    "rotate_checkpoints",
    "verify_checkpoint",
]
