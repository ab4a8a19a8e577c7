"""Reliability: resuming continues exactly, the same seed gives the same curve, an interrupted save is never resumed
from, and a damaged checkpoint is replaced by the previous complete one (never by a silent restart from step 0).
Crash injection at every step of a save: tests/training/test_checkpoint_crash.py; markers, rotation, lock:
tests/training/test_checkpoint_integrity.py."""

import json
import os
import shutil

import pytest
from fixtures.helpers import COMMON, TINY, path, read_metrics, tokenizers

from tobigs_transformer.training import last_good_checkpoint, run_clm
from tobigs_transformer.training.callbacks import COMPLETE_MARKER
from tobigs_transformer.training.checkpoints import LOCK_FILE, CorruptCheckpointError, verify_checkpoint

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


# ------------------------------------------------------------------------------------------------ issue 19
def _copy_checkpoint(straight, out, step=N // 2, marked=True):
    os.makedirs(out, exist_ok=True)
    target = os.path.join(out, f"checkpoint-{step}")
    shutil.copytree(os.path.join(straight, f"checkpoint-{step}"), target)
    if not marked:
        os.remove(os.path.join(target, COMPLETE_MARKER))
    return target


def _learning_rates(out):
    return {e["step"]: e["learning_rate"] for e in read_metrics(out)["log_history"] if "learning_rate" in e}


def test_last_resumes_an_unmarked_checkpoint_and_never_deletes_it(straight, tmp_path, caplog):
    # a checkpoint of plain transformers / an older version: trainer_state.json, no completion marker
    out = str(tmp_path / "unmarked")
    unmarked = _copy_checkpoint(straight, out, marked=False)
    files = sorted(os.listdir(unmarked))
    with caplog.at_level("WARNING", logger="tobigs_transformer.training"):
        run_clm.main(_argv(out, "--resume_from_checkpoint", "last", "--log_level", "warning"))
    assert f"resuming from {unmarked}, which has no {COMPLETE_MARKER}" in caplog.text
    a, eval_a = _losses(straight)
    b, eval_b = _losses(out)
    assert sorted(b) == list(range(1, N + 1))  # steps 1..3 come from the checkpoint's state: not a restart
    for step in a:
        assert b[step] == pytest.approx(a[step], abs=1e-6)
    assert eval_b == pytest.approx(eval_a, abs=1e-6)
    assert sorted(os.listdir(unmarked)) == files  # kept as it was: neither rotated nor replaced as stale
    verify_checkpoint(unmarked)


def test_a_finished_run_is_not_trained_again(straight, tmp_path, caplog):
    # transformers' Trainer trains one step past --max_steps and saves checkpoint-(N+1) (see the upstream test)
    out = str(tmp_path / "finished")
    shutil.copytree(straight, out)
    def written():  # every file but the lock's holder record
        return {name: os.stat(os.path.join(out, name)).st_mtime_ns for name in os.listdir(out) if name != LOCK_FILE}

    before = written()
    with caplog.at_level("WARNING", logger="tobigs_transformer.training"):
        metrics = run_clm.main(_argv(out, "--resume_from_checkpoint", "last", "--log_level", "warning"))
    assert f"is complete: {os.path.join(out, f'checkpoint-{N}')} is at step {N}" in caplog.text
    assert "--max_steps" in caplog.text
    assert written() == before
    assert metrics == read_metrics(straight)["metrics"]


def test_plain_trainer_trains_one_step_past_a_finished_run(tmp_path):
    # the upstream behaviour the command guards against (transformers 5.25, plain GPT-2): documented in
    # docs/reliability.md; if this starts failing, transformers fixed it and the note there can go
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

    def train(resume):
        torch.manual_seed(0)
        model = GPT2LMHeadModel(GPT2Config(vocab_size=99, n_positions=32, n_embd=32, n_layer=2, n_head=4))
        ids = torch.randint(3, 98, (16, 8), generator=torch.Generator().manual_seed(0))
        args = TrainingArguments(output_dir=str(tmp_path), max_steps=3, save_steps=3, per_device_train_batch_size=4,
                                 use_cpu=True, report_to="none", disable_tqdm=True, save_strategy="steps")
        trainer = Trainer(model=model, args=args, train_dataset=[{"input_ids": r, "labels": r} for r in ids])
        trainer.train(resume_from_checkpoint=resume)
        return trainer

    train(None)
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-3"]
    assert train(True).state.global_step == 4  # one step past max_steps=3 (mid-epoch: 4 batches per epoch)
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-3", "checkpoint-4"]


def test_overwrite_output_dir_trains_from_step_zero_over_old_checkpoints(straight, tmp_path):
    out = str(tmp_path / "overwrite")
    _copy_checkpoint(straight, out, step=N, marked=False)
    run_clm.main(_argv(out, "--overwrite_output_dir"))
    assert _losses(out) == _losses(straight)
    verify_checkpoint(os.path.join(out, f"checkpoint-{N}"))  # replaced by this run's, marked


def test_a_changed_learning_rate_is_warned_about_and_the_checkpoints_kept(straight, tmp_path, caplog):
    out = str(tmp_path / "lr-warn")
    _copy_checkpoint(straight, out)
    with caplog.at_level("WARNING", logger="tobigs_transformer.training"):
        run_clm.main(_argv(out, "--resume_from_checkpoint", "last", "--learning_rate", "1e-3", "--log_level",
                           "warning"))
    assert "--learning_rate 0.003 in the checkpoint, 0.001 now" in caplog.text
    assert "--override_lr_scheduler_on_resume" in caplog.text
    # transformers restored the checkpoint's optimizer and scheduler: the old learning rate goes on
    old, got = _learning_rates(straight), _learning_rates(out)
    for step in range(N // 2 + 1, N + 1):
        assert got[step] == pytest.approx(old[step], rel=1e-9)


def test_a_changed_schedule_is_warned_about_naming_both(straight, tmp_path, caplog):
    out = str(tmp_path / "sched-warn")
    _copy_checkpoint(straight, out)
    with caplog.at_level("WARNING", logger="tobigs_transformer.training"):
        run_clm.main(_argv(out, "--resume_from_checkpoint", "last", "--lr_scheduler_type", "constant",
                           "--warmup_steps", "2", "--log_level", "warning"))
    assert "--lr_scheduler_type 'linear' in the checkpoint, 'constant' now" in caplog.text
    assert "--warmup_steps 0 in the checkpoint, 2 now" in caplog.text


@pytest.mark.parametrize("extra, expected", [
    (("--learning_rate", "1e-3"), lambda old, step: old[step] / 3),  # linear: the same shape, a third of the rate
    (("--learning_rate", "1e-3", "--lr_scheduler_type", "constant"), lambda old, step: 1e-3),
], ids=["learning_rate", "learning_rate+schedule"])
def test_override_lr_scheduler_on_resume_applies_the_new_values_from_the_resumed_step(straight, tmp_path, extra,
                                                                                       expected):
    out = str(tmp_path / "lr-override")
    _copy_checkpoint(straight, out)
    run_clm.main(_argv(out, "--resume_from_checkpoint", "last", "--override_lr_scheduler_on_resume", *extra))
    old, got = _learning_rates(straight), _learning_rates(out)
    for step in range(1, N // 2 + 1):
        assert got[step] == old[step]  # the history before the checkpoint is the checkpoint's
    for step in range(N // 2 + 1, N + 1):
        assert got[step] == pytest.approx(expected(old, step), rel=1e-6), step
    with open(os.path.join(out, f"checkpoint-{N}", "lr_schedule.json")) as f:
        assert json.load(f)["learning_rate"] == 1e-3
