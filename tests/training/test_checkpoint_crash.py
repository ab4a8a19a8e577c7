"""Crash injection: a run killed at every file-system step of a checkpoint save never loses more than one save
interval, and resuming it reproduces the uninterrupted run's losses to 1e-6.

The real training CLI (``run_clm.main``) trains a tiny GPT for 6 steps saving every 2.  Every step the save at step 4
takes on disk (each file opened for writing, ``torch.save``, safetensors and tokenizer writes, renames, removals,
``rmtree``, folder creation) is numbered by patching those primitives; the run is then repeated once per step and
stopped just before it (an injected ``BaseException``, which no ``except Exception`` in transformers or ours can
swallow), with and without ``--save_total_limit 1``.  By default steps that differ only in which of the model's
copied source files (``*.py``) already exist are represented by the first of them (``distinct``); the ``slow`` test
stops before every single step.  After each stop: a complete checkpoint exists, every complete
checkpoint verifies against its marker, the newest is at most one interval old; then ``--resume_from_checkpoint
last`` finishes the run and every logged loss and the eval loss equal the uninterrupted run's.  One more case kills a
real process with ``os._exit`` in the middle of rotation.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
import transformers.modeling_utils
from fixtures.helpers import COMMON, TINY, path, read_metrics, tokenizers
from transformers import PreTrainedTokenizerBase, Trainer

from tobigs_transformer.training import run_clm
from tobigs_transformer.training.checkpoints import (
    checkpoint_step,
    is_complete_checkpoint,
    last_good_checkpoint,
    list_checkpoints,
    verify_checkpoint,
)
from tobigs_transformer.training.trainers import TobigsTrainer

MAX_STEPS, SAVE_STEPS, CRASH_STEP = 6, 2, 4
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/


class Crash(BaseException):
    """Stands for the process dying: BaseException, so no `except Exception` handler can swallow it."""


def argv(out: str, *extra: str) -> list[str]:
    common = list(COMMON)
    common[common.index("--save_strategy") + 1] = "steps"
    return ["--preset", "gpt2", "--config_overrides", TINY, "--tokenizer_name", tokenizers()["gpt"],
            "--train_file", path("en_train.txt"), "--validation_file", path("en_validation.txt"),
            "--block_size", "16", "--output_dir", out, "--max_steps", str(MAX_STEPS), "--save_steps", str(SAVE_STEPS),
            "--do_train", "--do_eval", "--max_eval_samples", "8", "--learning_rate", "3e-3", "--plot", "false",
            *common, *extra]


class SaveSteps:
    """Numbers every file-system step taken under ``root`` while the trainer saves at ``CRASH_STEP``; stops the run
    just before step ``stop_at`` (raising :class:`Crash`, or ``os._exit`` with ``hard=True``)."""

    def __init__(self, root: str, stop_at: int | None = None, hard: bool = False):
        self.root = os.path.realpath(root)
        self.stop_at = stop_at
        self.hard = hard
        self.steps: list[str] = []
        self.armed = False
        self._undo: list = []

    def step(self, kind: str, target) -> None:
        if not self.armed or not isinstance(target, (str, os.PathLike)):
            return
        target = os.path.realpath(os.fspath(target))
        if not target.startswith(self.root):
            return
        self.steps.append(f"{kind} {os.path.relpath(target, self.root)}")
        if len(self.steps) - 1 == self.stop_at:
            if self.hard:
                os._exit(77)
            raise Crash(self.steps[-1])

    def _patch(self, owner, name: str, kind: str, target=lambda *a, **k: a[0] if a else None, when=None) -> None:
        original = getattr(owner, name)

        def patched(*args, **kwargs):
            if when is None or when(*args, **kwargs):
                self.step(kind, target(*args, **kwargs))
            return original(*args, **kwargs)

        setattr(owner, name, patched)
        self._undo.append((owner, name, original))

    def __enter__(self) -> "SaveSteps":
        def writing(file, mode="r", *args, **kwargs):
            return any(c in mode for c in "wax+")

        self._patch(builtins, "open", "write", when=writing)
        self._patch(io, "open", "write", when=writing)
        for name in ("replace", "rename"):
            self._patch(os, name, name, target=lambda src, dst, *a, **k: dst)
        for name in ("remove", "unlink", "rmdir"):
            self._patch(os, name, name)
        self._patch(os, "makedirs", "mkdir", when=lambda p, *a, **k: not os.path.isdir(p))
        self._patch(os, "mkdir", "mkdir", when=lambda p, *a, **k: not os.path.isdir(p))
        self._patch(shutil, "rmtree", "rmtree")
        self._patch(torch, "save", "torch.save", target=lambda obj, f, *a, **k: f)
        self._patch(transformers.modeling_utils, "safe_save_file", "safetensors", target=lambda sd, f, *a, **k: f)
        self._patch(PreTrainedTokenizerBase, "save_pretrained", "tokenizer", target=lambda tok, d, *a, **k: d)
        original = Trainer._maybe_log_save_evaluate

        def log_save_evaluate(trainer, *args, **kwargs):
            self.armed = bool(trainer.control.should_save) and trainer.state.global_step == CRASH_STEP
            try:
                return original(trainer, *args, **kwargs)
            finally:
                self.armed = False

        TobigsTrainer._maybe_log_save_evaluate = log_save_evaluate
        self._undo.append((TobigsTrainer, "_maybe_log_save_evaluate", None))
        return self

    def __exit__(self, *exc) -> None:
        for owner, name, original in reversed(self._undo):
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


def losses(out: str) -> tuple[dict[int, float], float]:
    data = read_metrics(out)
    return {e["step"]: e["loss"] for e in data["log_history"] if "loss" in e}, data["metrics"]["eval_loss"]


def check_after_crash(out: str, where: str) -> str:
    """Invariants of the folder a dead run left; returns the checkpoint a resume will use."""
    complete = [p for _, p in list_checkpoints(out) if is_complete_checkpoint(p)]
    assert complete, f"no complete checkpoint after a crash before {where}"
    for folder in complete:
        verify_checkpoint(folder)  # a marker never vouches for missing or different files
    chosen = last_good_checkpoint(out)
    assert checkpoint_step(chosen) >= CRASH_STEP - SAVE_STEPS, f"more than one save interval lost ({where})"
    return chosen


def check_resumed(out: str, reference, where: str, limit: int | None) -> None:
    (ref_losses, ref_eval), (got_losses, got_eval) = reference, losses(out)
    assert sorted(got_losses) == list(range(1, MAX_STEPS + 1)), where
    for step, loss in ref_losses.items():
        assert got_losses[step] == pytest.approx(loss, abs=1e-6), (where, step)
    assert got_eval == pytest.approx(ref_eval, abs=1e-6), where
    complete = [p for _, p in list_checkpoints(out) if is_complete_checkpoint(p)]
    assert os.path.basename(complete[-1]) == f"checkpoint-{MAX_STEPS}", where
    if limit is not None:
        assert len(complete) <= limit, (where, complete)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # ~60 short runs: one intra-op thread is 2-4x faster than two on a shared CPU, and every run here (reference
    # included) uses the same count, so losses stay comparable to 1e-6
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("reference") / "run")
    run_clm.main(argv(out))
    return losses(out)


def save_steps(tmp_path, limit_args) -> list[str]:
    out = str(tmp_path / "record")
    with SaveSteps(out) as recorder:
        run_clm.main(argv(out, *limit_args))
    return recorder.steps


def distinct(steps: list[str]) -> list[int]:
    """Indices of the steps that change the folder in a new way: a run of writes of the same kind of file in the same
    folder (the 12 copied ``*.py`` model sources; ``os.makedirs`` calling ``os.mkdir``) keeps its first step."""

    def kind(step: str) -> tuple:
        verb, target = step.split(" ", 1)
        return verb, os.path.dirname(target), os.path.splitext(target)[1]

    return [i for i, step in enumerate(steps) if i == 0 or kind(step) != kind(steps[i - 1])]


def crash_at_every_step(reference, tmp_path, limit, exhaustive: bool) -> int:
    limit_args = () if limit is None else ("--save_total_limit", str(limit))
    steps = save_steps(tmp_path, limit_args)
    kinds = {s.split()[0] for s in steps}
    # the enumeration really covers the save: weights, optimiser/scheduler/RNG, trainer state, the marker's rename
    assert {"safetensors", "torch.save", "write", "replace"} <= kinds, steps
    assert any("checkpoint_complete.json" in s for s in steps), steps
    if limit == 1:
        assert any(s.startswith("rmtree checkpoint-2") for s in steps), steps  # rotation is among the steps
    chosen = range(len(steps)) if exhaustive else distinct(steps)
    for index in chosen:
        where = steps[index]
        out = str(tmp_path / f"stop{index}")
        with SaveSteps(out, stop_at=index), pytest.raises(Crash):
            run_clm.main(argv(out, *limit_args))
        check_after_crash(out, where)
        run_clm.main(argv(out, *limit_args, "--resume_from_checkpoint", "last"))
        check_resumed(out, reference, f"stopped before step {index}: {where}", limit)
    return len(chosen)


# ~36 s for the two: slow. The default run keeps test_killed_process_between_rotation_steps_resumes (a real death
# mid-save, then resume) and the checkpoint fault rows.
@pytest.mark.slow
@pytest.mark.parametrize("limit", [None, 1], ids=["no-limit", "save_total_limit-1"])
def test_crash_at_every_step_of_a_save_then_resume(reference, tmp_path, limit):
    assert crash_at_every_step(reference, tmp_path, limit, exhaustive=False) >= 15


@pytest.mark.slow
@pytest.mark.parametrize("limit", [None, 1], ids=["no-limit", "save_total_limit-1"])
def test_crash_before_each_single_write_then_resume(reference, tmp_path, limit):
    crash_at_every_step(reference, tmp_path, limit, exhaustive=True)


_DRIVER = """
import sys
sys.path.insert(0, {tests!r})
from training import test_checkpoint_crash as t
import torch
from fixtures import helpers
from tobigs_transformer.training import run_clm
torch.set_num_threads(1)
helpers._CACHE.update({tokenizers!r})  # the parent's tokenizers, so both processes train the same model
out = {out!r}
with t.SaveSteps(out, stop_at={stop}, hard=True):
    run_clm.main(t.argv(out, "--save_total_limit", "1"))
"""


def test_killed_process_between_rotation_steps_resumes(reference, tmp_path):
    # a real death (no finally, no atexit, lock released by the kernel) in the middle of rotation: after the old
    # checkpoint's marker is gone, before its files are
    steps = save_steps(tmp_path, ("--save_total_limit", "1"))
    stop = steps.index("rmtree checkpoint-2")
    out = str(tmp_path / "killed")
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    code = _DRIVER.format(tests=HERE, out=out, stop=stop, tokenizers=dict(tokenizers()))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 77, proc.stderr[-3000:]
    assert not is_complete_checkpoint(os.path.join(out, "checkpoint-2"))  # its deletion had begun
    assert check_after_crash(out, steps[stop]) == os.path.join(out, f"checkpoint-{CRASH_STEP}")
    run_clm.main(argv(out, "--save_total_limit", "1", "--resume_from_checkpoint", "last"))
    check_resumed(out, reference, "killed in rotation", 1)
    with open(os.path.join(out, f"checkpoint-{MAX_STEPS}", "checkpoint_complete.json")) as f:
        assert json.load(f)["global_step"] == MAX_STEPS
