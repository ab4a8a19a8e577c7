"""Checkpoint markers, verification, fallback, rotation order, the output-folder lock, and the weight checks of the
convert/export loaders (``tobigs_transformer.integrity``)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import tempfile
from contextlib import contextmanager

import pytest
import torch
from tiny import tiny_config
from safetensors.torch import load_file, save_file
from transformers import TrainingArguments

from tobigs_transformer import TobigsForCausalLM
from tobigs_transformer.convert import convert_to_hf
from tobigs_transformer.hub import export_for_hub
from tobigs_transformer.integrity import CorruptWeightsError, check_model_weights, verify_recorded_weights
from tobigs_transformer.training import checkpoints
from tobigs_transformer.training.checkpoints import (
    COMPLETE_MARKER,
    LOCK_FILE,
    CorruptCheckpointError,
    OutputDirInUseError,
    OutputDirLock,
    delete_checkpoint,
    is_complete_checkpoint,
    last_good_checkpoint,
    list_checkpoints,
    mark_complete,
    resume_checkpoint,
    rotate_checkpoints,
    verify_checkpoint,
)
from tobigs_transformer.training.trainers import TobigsTrainer

WEIGHTS = "model.safetensors"


# ------------------------------------------------------------------------------------------------ helpers
def train_tiny(output_dir: str, max_steps: int = 2, save_steps: int = 1, limit: int | None = None,
               resume: str | bool | None = None) -> TobigsTrainer:
    """A 2-layer GPT trained by TobigsTrainer on random tokens, saving every ``save_steps``."""
    torch.manual_seed(0)
    model = TobigsForCausalLM(tiny_config("gpt2"))
    ids = torch.randint(3, 98, (16, 8), generator=torch.Generator().manual_seed(0))
    data = [{"input_ids": row, "labels": row} for row in ids]
    args = TrainingArguments(
        output_dir=output_dir, max_steps=max_steps, save_strategy="steps", save_steps=save_steps,
        save_total_limit=limit, per_device_train_batch_size=4, use_cpu=True, report_to="none", logging_steps=1,
        disable_tqdm=True, seed=0, dataloader_num_workers=0,
    )
    trainer = TobigsTrainer(model=model, args=args, train_dataset=data)
    trainer.train(resume_from_checkpoint=resume)
    return trainer


_TEMPLATE: list[str] = []


def tiny_run(tmp: str) -> str:
    """A copy (under ``tmp``) of an output folder holding complete checkpoint-1 and checkpoint-2 (trained once)."""
    if not _TEMPLATE:
        root = tempfile.mkdtemp(prefix="tobigs-ckpt-template-")
        train_tiny(os.path.join(root, "run"))
        _TEMPLATE.append(os.path.join(root, "run"))
    out = os.path.join(tmp, "run")
    shutil.copytree(_TEMPLATE[0], out)
    return out


def flip_byte(path: str) -> None:
    """Flip the lowest mantissa bit of the last float32: the file changes, every value stays finite."""
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) - 4)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 1]))


def truncate(path: str, keep: float = 0.5) -> None:
    with open(path, "r+b") as f:
        f.truncate(int(os.path.getsize(path) * keep))


def poison(path: str, value: float, name: str | None = None) -> str:
    """Write ``value`` into the first element of one tensor of a safetensors file; returns the tensor's name."""
    tensors = load_file(path)
    name = name or sorted(k for k, v in tensors.items() if v.is_floating_point())[0]
    tensors[name].view(-1)[0] = value
    save_file(tensors, path, metadata={"format": "pt"})
    return name


def remark(folder: str) -> None:
    """Rewrite the marker over the folder's current files (a checkpoint saved with bad weights)."""
    with open(os.path.join(folder, COMPLETE_MARKER)) as f:
        step = json.load(f)["global_step"]
    mark_complete(folder, step)


@contextmanager
def lock_held_elsewhere(output_dir: str, release: bool = True):
    """Another process holds the lock on ``output_dir`` until the block ends; yields its pid.  ``release=False``:
    the holder dies with ``os._exit`` while holding it (a crashed run)."""
    ready_r, ready_w = os.pipe()
    stop_r, stop_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: pure Python + fcntl only (no torch), then _exit without running pytest's teardown
        try:
            os.close(ready_r)
            os.close(stop_w)
            lock = OutputDirLock(output_dir).acquire()
            os.write(ready_w, b"1")
            os.read(stop_r, 1)
            if release:
                lock.release()
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(stop_r)
    try:
        assert os.read(ready_r, 1) == b"1"
        yield pid
    finally:
        os.close(stop_w)
        os.waitpid(pid, 0)
        os.close(ready_r)


# ------------------------------------------------------------------------------------------------ marker
def test_marker_records_size_and_sha256_of_every_file(tmp_path):
    out = tiny_run(str(tmp_path))
    folder = os.path.join(out, "checkpoint-2")
    with open(os.path.join(folder, COMPLETE_MARKER)) as f:
        marker = json.load(f)
    assert marker["global_step"] == 2 and marker["format"] == 1
    on_disk = sorted(n for n in os.listdir(folder) if n != COMPLETE_MARKER)
    assert sorted(marker["files"]) == on_disk
    assert {WEIGHTS, "optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json"} <= set(on_disk)
    for name, record in marker["files"].items():
        data = open(os.path.join(folder, name), "rb").read()
        assert record == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}, name
    assert not [n for n in os.listdir(folder) if n.endswith(".tmp")]


def test_training_args_keep_the_real_save_total_limit(tmp_path):
    # rotation is held back during transformers' save by clearing the limit; the saved arguments must not show it
    train_tiny(str(tmp_path / "run"), max_steps=2, limit=1)
    saved = torch.load(tmp_path / "run" / "checkpoint-2" / "training_args.bin", weights_only=False)
    assert saved.save_total_limit == 1


# ------------------------------------------------------------------------------------------------ rotation
def test_rotation_keeps_the_newest_complete_checkpoints_and_leaves_incomplete_ones_uncounted(tmp_path):
    out = str(tmp_path / "run")
    partial = os.path.join(out, "checkpoint-99")  # an interrupted save from an earlier run: no marker
    os.makedirs(partial)
    open(os.path.join(partial, WEIGHTS), "wb").close()
    train_tiny(out, max_steps=4, limit=2)
    steps = [s for s, p in list_checkpoints(out) if is_complete_checkpoint(p)]
    assert steps == [3, 4]
    assert os.path.isdir(partial)  # neither counted as kept nor deleted


def test_rotation_refuses_to_run_before_the_new_marker_exists(tmp_path):
    out = tiny_run(str(tmp_path))
    unmarked = os.path.join(out, "checkpoint-3")
    shutil.copytree(os.path.join(out, "checkpoint-2"), unmarked)
    os.remove(os.path.join(unmarked, COMPLETE_MARKER))
    with pytest.raises(RuntimeError, match="checkpoint-3 has no checkpoint_complete.json"):
        rotate_checkpoints(out, 1, newest=unmarked)
    assert [s for s, p in list_checkpoints(out) if is_complete_checkpoint(p)] == [1, 2]


def test_rotation_never_deletes_the_best_or_the_newest(tmp_path):
    out = tiny_run(str(tmp_path))
    newest = os.path.join(out, "checkpoint-3")
    shutil.copytree(os.path.join(out, "checkpoint-2"), newest)
    deleted = rotate_checkpoints(out, 1, newest=newest, best=os.path.join(out, "checkpoint-1"))
    assert deleted == [os.path.join(out, "checkpoint-2")]
    assert [s for s, _ in list_checkpoints(out)] == [1, 3]


def test_deleting_a_checkpoint_removes_its_marker_before_any_file(tmp_path, monkeypatch):
    out = tiny_run(str(tmp_path))
    folder = os.path.join(out, "checkpoint-1")

    def dies(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints.shutil, "rmtree", dies)
    with pytest.raises(KeyboardInterrupt):
        delete_checkpoint(folder)
    assert os.path.isfile(os.path.join(folder, WEIGHTS)) and not is_complete_checkpoint(folder)


def test_a_stale_folder_at_the_save_step_is_replaced_not_trusted(tmp_path):
    out = str(tmp_path / "run")
    stale = os.path.join(out, "checkpoint-2")
    os.makedirs(stale)
    for name in (WEIGHTS, "junk.bin"):
        with open(os.path.join(stale, name), "wb") as f:
            f.write(b"old")
    mark_complete(stale, 2)
    train_tiny(out)
    assert not os.path.exists(os.path.join(stale, "junk.bin"))
    verify_checkpoint(stale)


# ------------------------------------------------------------------------------------------------ verification
@pytest.mark.parametrize("damage, needles", [
    (lambda f: flip_byte(os.path.join(f, WEIGHTS)), (WEIGHTS, "sha256")),
    (lambda f: truncate(os.path.join(f, WEIGHTS)), (WEIGHTS, "truncated", "bytes")),
    (lambda f: os.remove(os.path.join(f, WEIGHTS)), (WEIGHTS, "missing")),
    (lambda f: truncate(os.path.join(f, "optimizer.pt"), 0.9), ("optimizer.pt", "truncated")),
    (lambda f: os.remove(os.path.join(f, "rng_state.pth")), ("rng_state.pth", "missing")),
    (lambda f: flip_byte(os.path.join(f, "trainer_state.json")), ("trainer_state.json", "sha256")),
], ids=["flipped", "truncated", "missing", "optimizer-truncated", "rng-missing", "state-changed"])
def test_verification_names_the_damaged_file(tmp_path, damage, needles):
    folder = os.path.join(tiny_run(str(tmp_path)), "checkpoint-2")
    verify_checkpoint(folder)
    damage(folder)
    with pytest.raises(CorruptCheckpointError) as info:
        verify_checkpoint(folder)
    for needle in needles:
        assert needle in str(info.value)


@pytest.mark.parametrize("value, kind", [(float("nan"), "1 NaN"), (float("inf"), "1 inf"), (float("-inf"), "1 inf")])
def test_non_finite_weights_are_refused_even_with_a_matching_marker(tmp_path, value, kind):
    folder = os.path.join(tiny_run(str(tmp_path)), "checkpoint-2")
    name = poison(os.path.join(folder, WEIGHTS), value)
    remark(folder)
    with pytest.raises(CorruptCheckpointError) as info:
        verify_checkpoint(folder)
    assert WEIGHTS in str(info.value) and repr(name) in str(info.value) and kind in str(info.value)


def test_a_malformed_marker_is_named_with_its_line(tmp_path):
    folder = os.path.join(tiny_run(str(tmp_path)), "checkpoint-2")
    with open(os.path.join(folder, COMPLETE_MARKER), "w") as f:
        f.write('{\n "format": 1,\n "files": {\n')
    with pytest.raises(CorruptCheckpointError, match=rf"{COMPLETE_MARKER}:4:1: malformed JSON"):
        verify_checkpoint(folder)


def test_a_verification_is_not_reused_after_a_file_changes(tmp_path):
    folder = os.path.join(tiny_run(str(tmp_path)), "checkpoint-2")
    verify_checkpoint(folder)
    flip_byte(os.path.join(folder, WEIGHTS))
    with pytest.raises(CorruptCheckpointError):
        verify_checkpoint(folder)


# ------------------------------------------------------------------------------------------------ fallback
def test_last_falls_back_to_the_previous_complete_checkpoint_with_a_warning(tmp_path, caplog):
    out = tiny_run(str(tmp_path))
    flip_byte(os.path.join(out, "checkpoint-2", WEIGHTS))
    with caplog.at_level(logging.WARNING, logger="tobigs_transformer.training"):
        assert last_good_checkpoint(out) == os.path.join(out, "checkpoint-1")
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert os.path.join(out, "checkpoint-2", WEIGHTS) in warned and "checkpoint-1" in warned


def test_last_raises_when_every_complete_checkpoint_is_damaged(tmp_path):
    out = tiny_run(str(tmp_path))
    for step in (1, 2):
        truncate(os.path.join(out, f"checkpoint-{step}", "optimizer.pt"))
    with pytest.raises(CorruptCheckpointError) as info:
        last_good_checkpoint(out)
    assert "checkpoint-1" in str(info.value) and "checkpoint-2" in str(info.value)
    assert "optimizer.pt" in str(info.value)


def test_last_without_any_complete_checkpoint_is_none(tmp_path):
    out = str(tmp_path / "run")
    os.makedirs(os.path.join(out, "checkpoint-5"))  # only an interrupted save
    assert last_good_checkpoint(out) is None
    assert last_good_checkpoint(str(tmp_path / "nothing")) is None


def test_an_explicit_damaged_checkpoint_falls_back_to_an_older_one(tmp_path):
    out = tiny_run(str(tmp_path))
    os.remove(os.path.join(out, "checkpoint-2", "scheduler.pt"))
    assert resume_checkpoint(os.path.join(out, "checkpoint-2")) == os.path.join(out, "checkpoint-1")
    os.remove(os.path.join(out, "checkpoint-1", "scheduler.pt"))
    with pytest.raises(CorruptCheckpointError, match="scheduler.pt"):
        resume_checkpoint(os.path.join(out, "checkpoint-2"))


def test_an_explicit_unmarked_transformers_checkpoint_is_accepted_if_finite(tmp_path):
    out = tiny_run(str(tmp_path))
    folder = os.path.join(out, "checkpoint-2")
    os.remove(os.path.join(folder, COMPLETE_MARKER))  # as a plain transformers.Trainer leaves it
    assert resume_checkpoint(folder) == folder
    poison(os.path.join(folder, WEIGHTS), float("nan"))
    assert resume_checkpoint(folder) == os.path.join(out, "checkpoint-1")


def test_trainer_resumes_from_the_fallback_and_ends_where_an_uninterrupted_run_ends(tmp_path):
    straight = train_tiny(str(tmp_path / "straight"))
    out = tiny_run(str(tmp_path))
    flip_byte(os.path.join(out, "checkpoint-2", WEIGHTS))
    resumed = train_tiny(out, resume=os.path.join(out, "checkpoint-2"))  # falls back to checkpoint-1
    losses = [e["loss"] for e in resumed.state.log_history if "loss" in e]
    assert losses == pytest.approx([e["loss"] for e in straight.state.log_history if "loss" in e], abs=1e-6)
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=name)
    verify_checkpoint(os.path.join(out, "checkpoint-2"))  # re-saved over the damaged one


# ------------------------------------------------------------------------------------------------ lock
def test_a_second_process_is_refused_naming_the_folder_and_the_holder(tmp_path):
    out = str(tmp_path / "run")
    with lock_held_elsewhere(out) as pid:
        with pytest.raises(OutputDirInUseError) as info:
            OutputDirLock(out).acquire()
        with pytest.raises(OutputDirInUseError):
            train_tiny(out)
    message = str(info.value)
    assert out in message and f"pid {pid} on host {socket.gethostname()}" in message
    assert not os.path.exists(os.path.join(out, "checkpoint-1"))  # refused before the first step
    train_tiny(out)  # the holder is gone
    assert os.path.getsize(os.path.join(out, LOCK_FILE)) == 0  # released, holder record cleared


def test_a_crashed_holder_never_leaves_the_lock_stuck(tmp_path):
    out = str(tmp_path / "run")
    with lock_held_elsewhere(out, release=False):
        pass
    with OutputDirLock(out):
        pass


def test_the_lock_is_reentrant_within_one_process(tmp_path):
    out = str(tmp_path / "run")
    with OutputDirLock(out), OutputDirLock(out):
        train_tiny(out)  # the trainer takes it once more
        with lock_held_elsewhere(str(tmp_path / "other")):
            pass
    with lock_held_elsewhere(out):  # everything released
        pass


# ------------------------------------------------------------------------------------------------ loaders
def _saved_model(folder: str) -> str:
    torch.manual_seed(0)
    TobigsForCausalLM(tiny_config("gpt2")).save_pretrained(folder)
    return folder


def test_convert_and_export_refuse_nan_weights_naming_file_and_tensor(tmp_path):
    folder = _saved_model(str(tmp_path / "model"))
    name = poison(os.path.join(folder, WEIGHTS), float("nan"))
    # from_pretrained itself refuses it (test_finite_weights.py); skip it to test convert's and export's own
    model = TobigsForCausalLM.from_pretrained(folder, check_finite_weights=False)
    for action in (lambda: convert_to_hf(model), lambda: export_for_hub(model, None, tmp_path / "hub")):
        with pytest.raises(CorruptWeightsError) as info:
            action()
        assert os.path.join(folder, WEIGHTS) in str(info.value) and repr(name) in str(info.value)
    assert not (tmp_path / "hub").exists()


def test_convert_and_export_check_a_checkpoint_against_its_marker(tmp_path):
    folder = os.path.join(tiny_run(str(tmp_path)), "checkpoint-2")
    model = TobigsForCausalLM.from_pretrained(folder)
    assert verify_recorded_weights(folder) == [WEIGHTS]
    convert_to_hf(model)
    flip_byte(os.path.join(folder, WEIGHTS))
    for action in (lambda: convert_to_hf(model), lambda: export_for_hub(model, None, tmp_path / "hub")):
        with pytest.raises(CorruptWeightsError, match=rf"{WEIGHTS}: sha256 .* differs"):
            action()


def test_hub_cache_addresses_are_checked(tmp_path):
    # the Hub cache stores an LFS file as blobs/<sha256> and links the snapshot to it
    folder = _saved_model(str(tmp_path / "source"))
    data = open(os.path.join(folder, WEIGHTS), "rb").read()
    blobs, snapshot = tmp_path / "blobs", tmp_path / "snapshots" / "abc"
    blobs.mkdir()
    snapshot.mkdir(parents=True)
    blob = blobs / hashlib.sha256(data).hexdigest()
    blob.write_bytes(data)
    os.symlink(blob, snapshot / WEIGHTS)
    assert verify_recorded_weights(str(snapshot)) == [WEIGHTS]
    blob.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(CorruptWeightsError, match="Hugging Face cache address"):
        verify_recorded_weights(str(snapshot))


def test_in_memory_models_are_checked_too(tmp_path):
    model = TobigsForCausalLM(tiny_config("gpt2"))
    with torch.no_grad():
        model.lm_head.weight[3, 4] = float("inf")
    with pytest.raises(CorruptWeightsError, match=r"TobigsForCausalLM \(in memory\): tensor .* at index \(3, 4\)"):
        check_model_weights(model)


# ------------------------------------------------------------------------------------------------ unmarked (issue 19)
def test_last_takes_the_newest_unmarked_checkpoint_that_verifies(tmp_path, caplog):
    out = tiny_run(str(tmp_path))
    newest = os.path.join(out, "checkpoint-2")
    os.remove(os.path.join(newest, COMPLETE_MARKER))  # as plain transformers / an older version leaves it
    with caplog.at_level(logging.WARNING, logger="tobigs_transformer.training"):
        assert last_good_checkpoint(out) == newest
        assert f"{newest}, which has no {COMPLETE_MARKER}" in caplog.text
        os.remove(os.path.join(newest, WEIGHTS))  # not loadable: the older marked one, with a warning naming why
        assert last_good_checkpoint(out) == os.path.join(out, "checkpoint-1")
    assert "no model weights" in caplog.text


def test_rotation_neither_counts_nor_deletes_an_unmarked_resumable_checkpoint(tmp_path):
    out = tiny_run(str(tmp_path))
    unmarked = os.path.join(out, "checkpoint-1")
    os.remove(os.path.join(unmarked, COMPLETE_MARKER))
    newest = os.path.join(out, "checkpoint-3")
    shutil.copytree(os.path.join(out, "checkpoint-2"), newest)
    remark(newest)
    assert rotate_checkpoints(out, 1, newest=newest) == [os.path.join(out, "checkpoint-2")]
    assert os.path.isfile(os.path.join(unmarked, "trainer_state.json"))


def test_a_deletion_cut_short_never_leaves_a_resumable_folder(tmp_path, monkeypatch):
    out = tiny_run(str(tmp_path))
    folder = os.path.join(out, "checkpoint-2")

    def dies(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints.shutil, "rmtree", dies)
    with pytest.raises(KeyboardInterrupt):
        delete_checkpoint(folder)
    assert os.path.isfile(os.path.join(folder, WEIGHTS))
    assert not os.path.exists(os.path.join(folder, "trainer_state.json"))  # not a plain transformers checkpoint now
    assert last_good_checkpoint(out) == os.path.join(out, "checkpoint-1")


def test_a_deletion_stopped_after_the_marker_is_not_resumed_from(tmp_path, monkeypatch):
    # the one instant between the marker's removal and trainer_state.json's: the folder is unmarked with a trainer
    # state, and must still not be taken for a plain transformers checkpoint
    out = tiny_run(str(tmp_path))
    folder = os.path.join(out, "checkpoint-2")
    remove = os.remove

    def stops_at_the_state(path, *args, **kwargs):
        if os.path.basename(path) == "trainer_state.json":
            raise KeyboardInterrupt
        return remove(path, *args, **kwargs)

    monkeypatch.setattr(checkpoints.os, "remove", stops_at_the_state)
    with pytest.raises(KeyboardInterrupt):
        delete_checkpoint(folder)
    monkeypatch.setattr(checkpoints.os, "remove", remove)
    assert os.path.isfile(os.path.join(folder, "trainer_state.json")) and not is_complete_checkpoint(folder)
    assert last_good_checkpoint(out) == os.path.join(out, "checkpoint-1")
    with pytest.raises(CorruptCheckpointError, match="deletion was begun"):
        verify_checkpoint(folder)
