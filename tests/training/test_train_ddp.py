"""Data-parallel training with torchrun on CPU (gloo): 2 processes × batch 2 reach the same losses as 1 process ×
batch 4 (same global batch, same samples per step); `accelerate launch --config_file configs/accelerate/ddp_cpu.yaml`
starts the same 2 ranks and reaches the same losses as torchrun.  Launched without --use_cpu on a machine without
GPU, the workers still form one group (the training arguments ask for the CPU and say so once); a GPU-only
--ddp_backend on CPU workers stops every worker at once with a usage error.

Tolerance: 1e-4 absolute on every logged training loss and on the final eval loss.  The two runs differ only in
the order of floating-point sums (gradients are all-reduced across ranks; the loss over the global batch is formed
from per-rank token sums), which on this tiny model moves losses by ~1e-6; 1e-4 leaves room for other CPUs/BLAS
builds while still catching a loss or gradient scaled by the world size (a factor of 2).  Dropout is off because
ranks draw different dropout masks than a single process would.  Evaluation uses batch size 1: Trainer averages
per-batch mean losses and, under DDP, trims the sampler's padding duplicates from the gathered *batch means*, which
biases eval_loss slightly (~1e-3) unless every batch is one example.
"""

import json
import os
import re
import subprocess
import sys

import pytest
from fixtures.helpers import TINY, path, tokenizers
from free_port import free_port

STEPS = 5
DDP_CPU = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "configs", "accelerate",
                       "ddp_cpu.yaml")


def _argv(out, batch, use_cpu=True):
    return ["--preset", "gpt2", "--config_overrides", TINY + ",dropout=0.0,attention_dropout=0.0",
            "--tokenizer_name", tokenizers()["gpt"], "--train_file", path("en_train.txt"), "--validation_file",
            path("en_validation.txt"), "--block_size", "16", "--output_dir", out, "--max_steps", str(STEPS),
            "--per_device_train_batch_size", str(batch), "--per_device_eval_batch_size", "1", "--do_train",
            "--do_eval", "--learning_rate", "3e-3", *(["--use_cpu"] if use_cpu else []), "--ddp_find_unused_parameters",
            "false", "--ddp_backend", "gloo", "--report_to", "none", "--seed", "0", "--logging_steps", "1",
            "--save_strategy", "no", "--disable_tqdm", "true", "--dataloader_num_workers", "0"]


def _run(nproc, out, batch, launcher="torchrun", use_cpu=True):
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false", CUDA_VISIBLE_DEVICES="")
    if launcher == "torchrun":
        start = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port",
                 free_port()]
    else:  # the shipped accelerate config (docs/training.md, "Several processes and GPUs")
        assert nproc == 2
        start = [os.path.join(os.path.dirname(sys.executable), "accelerate"), "launch", "--config_file", DDP_CPU,
                 "--main_process_port", free_port()]
    cmd = [*start, "-m", "tobigs_transformer.tooling.main", "train", "clm", *_argv(out, batch, use_cpu)]  # as the docs
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(os.path.join(out, "metrics.json")) as f:
        data = json.load(f)
    losses = {e["step"]: e["loss"] for e in data["log_history"] if "loss" in e}
    return losses, data["metrics"]["eval_loss"], proc.stdout + proc.stderr


@pytest.mark.slow
def test_two_processes_match_one_process(tmp_path):
    one, eval_one, _ = _run(1, str(tmp_path / "one"), batch=4)
    two, eval_two, log = _run(2, str(tmp_path / "two"), batch=2)
    assert "process rank 1/2" in log and "distributed: distributed" in log
    assert sorted(one) == sorted(two) == list(range(1, STEPS + 1))
    for step in one:
        assert two[step] == pytest.approx(one[step], abs=1e-4), (step, one, two)
    assert eval_two == pytest.approx(eval_one, abs=1e-4)
    # not scaled by the world size
    assert abs(two[1] / one[1] - 1) < 1e-3
    # `accelerate launch --config_file configs/accelerate/ddp_cpu.yaml` starts the same 2 ranks (not one process)
    launched, eval_launched, log = _run(2, str(tmp_path / "accelerate"), batch=2, launcher="accelerate")
    for rank in range(2):
        assert re.search(rf"process rank {rank}/2, device cpu(:\d)?, distributed: distributed", log), log[-3000:]
    assert launched == pytest.approx(two, abs=1e-6) and eval_launched == pytest.approx(eval_two, abs=1e-6)


AUTO_CPU = "the launcher started WORLD_SIZE=2 workers and there is no GPU: training on the CPU in one DDP group"


@pytest.mark.slow
def test_two_workers_without_use_cpu_train_as_one_group(tmp_path):
    """Launched without --use_cpu on a machine without GPU, the workers still form one gloo group (they used to
    train alone on all the data each, `distributed: not_parallel`): the losses of one process with the global batch,
    under torchrun and under `accelerate launch --config_file configs/accelerate/ddp_cpu.yaml`."""
    one, eval_one, _ = _run(1, str(tmp_path / "one"), batch=4)
    for launcher in ("torchrun", "accelerate"):
        two, eval_two, log = _run(2, str(tmp_path / launcher), batch=2, launcher=launcher, use_cpu=False)
        for rank in range(2):
            assert re.search(rf"process rank {rank}/2, device cpu(:\d)?, distributed: distributed", log), log[-3000:]
        assert log.count(AUTO_CPU) == 1, log[-3000:]  # said once, by rank 0
        assert sorted(two) == list(range(1, STEPS + 1))
        for step in one:
            assert two[step] == pytest.approx(one[step], abs=1e-4), (launcher, step, one, two)
        assert eval_two == pytest.approx(eval_one, abs=1e-4)


@pytest.mark.slow
def test_two_cpu_workers_with_a_gpu_backend_stop_at_once(tmp_path):
    """torchrun, 2 workers without GPU, --ddp_backend nccl: each worker exits with status 2 and one line naming the
    backend and WORLD_SIZE, before any process group waits (no hang) and before anything is written."""
    out = tmp_path / "run"
    argv = _argv(str(out), 2, use_cpu=False)
    argv[argv.index("--ddp_backend") + 1] = "nccl"
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false", CUDA_VISIBLE_DEVICES="")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", free_port(), "-m",
           "tobigs_transformer.tooling.main", "train", "clm", *argv]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    error = ("tobigs train clm: error: --ddp_backend nccl cannot join CPU workers (the launcher started WORLD_SIZE=2 "
             "workers on the CPU): use --ddp_backend gloo or leave it out")
    assert proc.returncode != 0 and error in proc.stderr.splitlines(), proc.stderr[-3000:]
    assert re.search(r"exitcode\s*: 2 ", proc.stderr), proc.stderr[-3000:]  # the worker's usage-error status
    assert not out.exists() or not any(out.iterdir())


def _launcher_env(monkeypatch, world="2", rank="0"):
    for name, value in (("WORLD_SIZE", world), ("RANK", rank), ("LOCAL_RANK", rank)):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ACCELERATE_USE_CPU", raising=False)


@pytest.mark.parametrize("rank", ["0", "1"])
def test_launched_workers_without_gpu_ask_for_the_cpu(monkeypatch, caplog, rank):
    """torchrun's environment, no GPU: the worker asks for the CPU (what joins it into the gloo group); only rank 0
    says so.  The group itself is exercised by the slow test above."""
    from tobigs_transformer.training import arguments

    _launcher_env(monkeypatch, rank=rank)
    monkeypatch.setattr(arguments, "has_accelerator", lambda: False)
    with caplog.at_level("WARNING", logger="tobigs_transformer.training"):
        assert arguments.cpu_for_launched_workers(False, None) is True
        assert arguments.cpu_for_launched_workers(False, "gloo") is True
    assert sum(AUTO_CPU in r.getMessage() for r in caplog.records) == (2 if rank == "0" else 0)


def test_cpu_left_alone_with_a_gpu_or_one_worker(monkeypatch, caplog):
    from tobigs_transformer.training import arguments

    _launcher_env(monkeypatch)
    monkeypatch.setattr(arguments, "has_accelerator", lambda: True)  # one GPU per worker: train on the GPUs
    assert arguments.cpu_for_launched_workers(False, "nccl") is False
    assert arguments.cpu_for_launched_workers(True, "gloo") is True
    monkeypatch.setenv("WORLD_SIZE", "1")  # a single worker is never changed
    monkeypatch.setattr(arguments, "has_accelerator", lambda: False)
    assert arguments.cpu_for_launched_workers(False, "nccl") is False
    monkeypatch.delenv("WORLD_SIZE")
    assert arguments.cpu_for_launched_workers(False, None) is False
    assert not any(AUTO_CPU in r.getMessage() for r in caplog.records)


def test_cpu_workers_refuse_a_gpu_backend(monkeypatch):
    from tobigs_transformer.training import arguments
    from tobigs_transformer.training.validation import ArgumentError

    _launcher_env(monkeypatch)
    monkeypatch.setattr(arguments, "has_accelerator", lambda: True)
    with pytest.raises(ArgumentError, match=r"--ddp_backend nccl cannot join CPU workers \(the launcher started "
                                            r"WORLD_SIZE=2 workers on the CPU\)"):
        arguments.cpu_for_launched_workers(True, "nccl")  # --use_cpu with nccl: accelerate would fail later
