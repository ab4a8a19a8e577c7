"""Reliability: resuming continues exactly, the same seed gives the same curve, an interrupted save is never resumed
from, and a damaged checkpoint is replaced by the previous complete one (never by a silent restart from step 0).
Crash injection at every step of a save: tests/test_checkpoint_crash.py; markers, rotation, lock:
tests/test_checkpoint_integrity.py."""

import os
import shutil

import pytest
from fixtures.helpers import COMMON, TINY, path, read_metrics, tokenizers

from tobigs_transformer.training import last_good_checkpoint, run_clm
from tobigs_transformer.training.callbacks import COMPLETE_MARKER
from tobigs_transformer.training.checkpoints import CorruptCheckpointError, verify_checkpoint

N = 6


def _argv(out, *extra):
    common = [c for c in COMMON if c not in ()]
    i = common.index("--save_strategy")
    common[i + 1] = "steps"
    return ["--preset", "gpt2", "--config_overrides", TINY, "--tokenizer_name", tokenizers()["gpt"],
            "--train_file", path("en_train.txt"), "--validation_file", path("en_validation.txt"),
            "--block_size", "16", "--output_dir", out, "--max_steps", str(N), "--save_steps", str(N // 2),
            "--do_train", "--do_eval", "--learning_rate", "3e-3", *common, *extra]


def _losses(out):
    history = read_metrics(out)["log_history"]
    return {e["step"]: e["loss"] for e in history if "loss" in e}, read_metrics(out)["metrics"]["eval_loss"]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("straight") / "run")
    run_clm.main(_argv(out))  # dropout stays at the preset's 0.1: the RNG state is part of the checkpoint
    return out


def test_resume_from_half_way_gives_the_same_final_loss(straight, tmp_path):
    # second run: take the half-way checkpoint of an identical run and continue from it for N/2 steps
    out = str(tmp_path / "resumed")
    os.makedirs(out)
    shutil.copytree(os.path.join(straight, f"checkpoint-{N // 2}"), os.path.join(out, f"checkpoint-{N // 2}"))
    run_clm.main(_argv(out, "--resume_from_checkpoint", "last"))
    a, eval_a = _losses(straight)
    b, eval_b = _losses(out)
    assert sorted(b) == list(range(1, N + 1))  # history restored from the checkpoint + the second half
    assert b[N] == pytest.approx(a[N], abs=1e-6)
    for step in b:
        assert b[step] == pytest.approx(a[step], abs=1e-6)
    assert eval_b == pytest.approx(eval_a, abs=1e-6)


def test_same_seed_twice_gives_identical_loss_curve(straight, tmp_path):
    out = str(tmp_path / "again")
    run_clm.main(_argv(out))
    assert _losses(out) == _losses(straight)


def test_checkpoints_carry_artifacts_and_a_completion_marker(straight):
    ckpt = os.path.join(straight, f"checkpoint-{N}")
    for name in ("metrics.json", "loss_curve.png", COMPLETE_MARKER, "trainer_state.json", "optimizer.pt"):
        assert os.path.isfile(os.path.join(ckpt, name)), name
    assert last_good_checkpoint(straight) == ckpt


def test_interrupted_save_is_never_resumed_from(straight, tmp_path):
    out = str(tmp_path / "crash")
    shutil.copytree(straight, out)
    # a save killed half-way: a newer folder with weights but without trainer state / completion marker
    partial = os.path.join(out, f"checkpoint-{N + 3}")
    os.makedirs(partial)
    shutil.copy(os.path.join(out, "config.json"), partial)
    with open(os.path.join(partial, "model.safetensors"), "wb") as f:
        f.write(b"\0" * 100)
    assert last_good_checkpoint(out) == os.path.join(out, f"checkpoint-{N}")
    # the good checkpoints are untouched
    assert os.path.isfile(os.path.join(out, f"checkpoint-{N // 2}", COMPLETE_MARKER))


def _flip_last_weight_byte(folder):
    weights = os.path.join(folder, "model.safetensors")
    with open(weights, "r+b") as f:
        f.seek(-4, os.SEEK_END)  # lowest mantissa byte of the last float: the file changes, the value stays finite
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 1]))
    return weights


def test_damaged_newest_checkpoint_falls_back_and_still_matches(straight, tmp_path, caplog):
    out = str(tmp_path / "damaged")
    os.makedirs(out)
    for step in (N // 2, N):
        shutil.copytree(os.path.join(straight, f"checkpoint-{step}"), os.path.join(out, f"checkpoint-{step}"))
    bad = _flip_last_weight_byte(os.path.join(out, f"checkpoint-{N}"))
    with caplog.at_level("WARNING", logger="tobigs_transformer.training"):
        # --log_level: the passive default follows transformers' verbosity, which other tests set to error.
        run_clm.main(_argv(out, "--resume_from_checkpoint", "last", "--log_level", "warning"))
    assert bad in caplog.text and f"checkpoint-{N // 2}" in caplog.text
    a, eval_a = _losses(straight)
    b, eval_b = _losses(out)
    assert sorted(b) == list(range(1, N + 1))
    for step in a:
        assert b[step] == pytest.approx(a[step], abs=1e-6)
    assert eval_b == pytest.approx(eval_a, abs=1e-6)
    verify_checkpoint(os.path.join(out, f"checkpoint-{N}"))  # saved again, whole


def test_resume_never_silently_restarts_from_step_zero(straight, tmp_path):
    out = str(tmp_path / "all-damaged")
    os.makedirs(out)
    shutil.copytree(os.path.join(straight, f"checkpoint-{N // 2}"), os.path.join(out, f"checkpoint-{N // 2}"))
    bad = _flip_last_weight_byte(os.path.join(out, f"checkpoint-{N // 2}"))
    with pytest.raises(CorruptCheckpointError) as info:
        run_clm.main(_argv(out, "--resume_from_checkpoint", "last"))
    assert bad in str(info.value)
    assert not os.path.exists(os.path.join(out, "metrics.json"))  # nothing was trained
