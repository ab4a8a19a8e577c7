"""The shipped accelerate configs (configs/accelerate/*.yaml), read by accelerate's own loader and launcher code.

What runs on this CPU-only machine, and what cannot (docs/gpu.md, "FSDP and DeepSpeed on a CPU"):
- accelerate 1.15 turns FSDP on only for accelerator devices: `AcceleratorState` switches to
  DistributedType.FSDP inside its MULTI_GPU/NPU/XPU/... branch, so `accelerate launch --config_file
  configs/accelerate/fsdp.yaml` on a CPU trains with plain DDP (MULTI_CPU, no FSDP plugin) and says nothing.
  `test_accelerate_launch_falls_back_to_ddp_on_cpu` pins that behaviour, so the day accelerate changes it the test
  says so.
- torch's FSDP2 itself runs on CPU with gloo. `test_fsdp_config_trains_like_one_process_and_resumes` prepares a
  GPT-style model (as `tobigs-train-clm` builds it) with accelerate's own FSDP2 code path (`fsdp2_prepare_model`,
  `save_fsdp_model`/`load_fsdp_model` with the config's SHARDED_STATE_DICT), fed by the plugin accelerate's
  launcher builds from the shipped fsdp.yaml (plus the GPT layer override), on 2 processes: 20 steps give the
  losses of 1 process to 1e-4, and a sharded checkpoint written at step 10 resumes to the same last 10 losses.
- The tied encoder-decoder (source = target = output embedding) does not survive that preparation yet: its
  encoder and decoder hold two Embedding modules sharing one weight, accelerate puts one of them in its own FSDP
  group and torch 2.13 refuses the shared parameter (`test_tied_encoder_decoder_under_fsdp2`, strict xfail).
- DeepSpeed is not installed here (`accelerate launch` stops with "DeepSpeed is not installed"); its config is
  checked through accelerate's launcher environment and `DeepSpeedPlugin`, which do not need deepspeed.

- ddp_cpu.yaml starts num_processes CPU workers through accelerate's torchrun launcher (MULTI_GPU): which launcher
  each spelling reaches is checked in-process, and a launch with a probe script counts the ranks that ran.

When run as a script (under torchrun) this module is the FSDP worker.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from free_port import free_port

from tobigs_transformer.tooling.main import COMMANDS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = os.path.join(ROOT, "configs", "accelerate")
FSDP = os.path.join(CONFIGS, "fsdp.yaml")
DEEPSPEED = os.path.join(CONFIGS, "deepspeed_zero2.yaml")
DDP_CPU = os.path.join(CONFIGS, "ddp_cpu.yaml")
STEPS, SAVE_AT, GLOBAL_BATCH, LENGTH, LR = 20, 10, 4, 8, 3e-3


def launch_args(config: str, *flags: str):
    """The arguments `accelerate launch --config_file CONFIG FLAGS train.py` ends up with (accelerate's own
    parser and its config merge, `_validate_launch_command`, which `accelerate launch` runs first)."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    args = launch_command_parser().parse_args(["--config_file", config, *flags, "train.py"])
    args, defaults, mixed_precision_from_config = _validate_launch_command(args)
    return args, defaults, mixed_precision_from_config


def fsdp_env(*flags: str) -> dict[str, str]:
    """The environment `accelerate launch` gives each process for the FSDP config."""
    from accelerate.utils.launch import prepare_multi_gpu_env

    args, _, _ = launch_args(FSDP, *flags)
    return prepare_multi_gpu_env(args)


def fsdp_plugin(monkeypatch, *flags: str):
    from accelerate.utils import FullyShardedDataParallelPlugin

    for key, value in fsdp_env(*flags).items():
        monkeypatch.setenv(key, value)
    return FullyShardedDataParallelPlugin()


def tiny_model(architecture: str = "transformer-base"):
    from tiny import tiny_config
    from tobigs_transformer import TobigsForCausalLM, TobigsForConditionalGeneration, TobigsForMaskedLM

    torch.manual_seed(0)
    cls = {"transformer-base": TobigsForConditionalGeneration, "gpt2": TobigsForCausalLM,
           "bert-base": TobigsForMaskedLM}[architecture]
    return cls(tiny_config(architecture, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0))


def wrapped_names(plugin, model) -> list[str]:
    from accelerate.utils.fsdp_utils import fsdp2_prepare_auto_wrap_policy

    policy = fsdp2_prepare_auto_wrap_policy(plugin, model)
    return [name for name, module in model.named_modules() if policy(module)]


# --- the configs through accelerate's loader ---------------------------------------------------------------------

def test_every_config_loads_with_accelerates_loader():
    from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file
    from accelerate.utils import DistributedType

    # ddp_cpu.yaml says MULTI_GPU, accelerate's torchrun launcher
    # (see test_ddp_cpu_config_takes_the_multi_process_launcher)
    expected = {"ddp_cpu.yaml": DistributedType.MULTI_GPU, "fsdp.yaml": DistributedType.FSDP,
                "deepspeed_zero2.yaml": DistributedType.DEEPSPEED}
    assert sorted(f for f in os.listdir(CONFIGS) if f.endswith(".yaml")) == sorted(expected)
    for name, kind in expected.items():
        config = load_config_from_file(os.path.join(CONFIGS, name))
        assert isinstance(config, ClusterConfig), name
        assert config.distributed_type == kind, name
        assert config.num_machines == 1 and config.machine_rank == 0, name
    ddp = load_config_from_file(DDP_CPU)
    assert ddp.num_processes == 2 and ddp.mixed_precision == "no" and ddp.dynamo_config == {"dynamo_backend": "NO"}


def test_fsdp_config_fields():
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(FSDP)
    assert config.use_cpu is False and config.mixed_precision == "bf16"
    assert config.fsdp_config == {
        "fsdp_version": 2, "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
        "fsdp_transformer_layer_cls_to_wrap": "TobigsEncoderLayer,TobigsDecoderLayer",
        "fsdp_reshard_after_forward": True, "fsdp_state_dict_type": "SHARDED_STATE_DICT",
        "fsdp_cpu_ram_efficient_loading": True, "fsdp_offload_params": False, "fsdp_activation_checkpointing": False,
    }


def test_fsdp_config_becomes_accelerates_plugin(monkeypatch):
    from torch.distributed.fsdp import StateDictType

    env = fsdp_env()
    assert env["ACCELERATE_USE_FSDP"] == "true" and env["FSDP_VERSION"] == "2"
    assert env["ACCELERATE_MIXED_PRECISION"] == "bf16"
    plugin = fsdp_plugin(monkeypatch)
    assert plugin.fsdp_version == 2 and plugin.reshard_after_forward is True
    assert plugin.state_dict_type == StateDictType.SHARDED_STATE_DICT
    assert plugin.cpu_ram_efficient_loading is True
    assert plugin.transformer_cls_names_to_wrap == ["TobigsEncoderLayer", "TobigsDecoderLayer"]


def test_fsdp_wrap_policy_shards_every_layer_of_an_encoder_decoder(monkeypatch):
    model = tiny_model("transformer-base")
    names = wrapped_names(fsdp_plugin(monkeypatch), model)
    assert names == [f"model.{stack}.layers.{i}" for stack in ("encoder", "decoder") for i in range(2)]
    # the shared (tied) embedding is outside every layer unit: it stays with the root
    assert not any(name.startswith(n) for n in names for name, _ in model.named_parameters()
                   if "embed" in name)


@pytest.mark.parametrize("architecture, layer", [("gpt2", "TobigsDecoderLayer"), ("bert-base", "TobigsEncoderLayer")])
def test_fsdp_config_needs_the_layer_override_for_one_stack_models(monkeypatch, architecture, layer):
    """The shipped list names both layer classes; accelerate refuses a class the model lacks, so GPT/BERT-style
    models take `--fsdp_transformer_layer_cls_to_wrap <their layer>` on the accelerate command line."""
    model = tiny_model(architecture)
    missing = {"TobigsDecoderLayer": "TobigsEncoderLayer", "TobigsEncoderLayer": "TobigsDecoderLayer"}[layer]
    with pytest.raises(ValueError, match=f"Could not find the transformer layer class {missing} in the model"):
        wrapped_names(fsdp_plugin(monkeypatch), model)
    plugin = fsdp_plugin(monkeypatch, "--fsdp_transformer_layer_cls_to_wrap", layer)
    stack = "decoder" if architecture == "gpt2" else "encoder"
    assert wrapped_names(plugin, model) == [f"model.{stack}.layers.{i}" for i in range(2)]


def test_deepspeed_config_through_accelerates_launcher(monkeypatch):
    """ZeRO-2, no offload, clipping 1.0, bf16; batch sizes left to the Trainer ("auto")."""
    from accelerate.utils import DeepSpeedPlugin
    from accelerate.utils.launch import prepare_deepspeed_cmd_env

    args, defaults, mixed_precision_from_config = launch_args(DEEPSPEED)
    assert defaults.deepspeed_config["zero_stage"] == 2
    referenced = defaults.deepspeed_config.get("deepspeed_config_file")
    if referenced:  # a JSON file named by the YAML must parse and carry the ZeRO-2 fields
        with open(os.path.join(ROOT, referenced), encoding="utf-8") as f:
            assert json.load(f)["zero_optimization"]["stage"] == 2
    # as `accelerate launch` does before starting the DeepSpeed launcher (launch.py, launch_command)
    fields = list(defaults.deepspeed_config) + (["mixed_precision"] if mixed_precision_from_config else [])
    args.deepspeed_fields_from_accelerate_config = ",".join(fields)
    _, env = prepare_deepspeed_cmd_env(args)
    assert env["ACCELERATE_USE_DEEPSPEED"] == "true" and env["ACCELERATE_MIXED_PRECISION"] == "bf16"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    ds = DeepSpeedPlugin().deepspeed_config
    assert ds["zero_optimization"]["stage"] == 2
    assert ds["zero_optimization"]["offload_optimizer"]["device"] == "none"
    assert ds["zero_optimization"]["offload_param"]["device"] == "none"
    assert ds["gradient_clipping"] == 1.0 and ds["gradient_accumulation_steps"] == 1
    assert ds["train_batch_size"] == "auto" and ds["train_micro_batch_size_per_gpu"] == "auto"


def test_usage_lines_name_files_that_exist():
    pattern = re.compile(r"^#\s+accelerate launch --config_file (\S+) -m tobigs_transformer\.tooling\.main "
                         r"(train \S+) (\S+)(?: --\S+)*$")
    commands = {entry.words for entry in COMMANDS}
    seen = 0
    for name in sorted(os.listdir(CONFIGS)):
        with open(os.path.join(CONFIGS, name), encoding="utf-8") as f:
            for line in f:
                match = pattern.match(line.strip())
                if match:
                    seen += 1
                    assert match.group(2) in commands, f"{name}: `tobigs {match.group(2)}` is not a command"
                    for path in (match.group(1), match.group(3)):
                        assert os.path.isfile(os.path.join(ROOT, path)), f"{name}: {path} does not exist"
    assert seen == 3


def _launcher_taken(monkeypatch, *argv: str) -> tuple[str, object]:
    """Which of accelerate's launchers `accelerate launch ARGV train.py` calls (recorded, not run), and its args."""
    import accelerate.commands.launch as launch

    taken = []
    for name in ("simple_launcher", "multi_gpu_launcher", "deepspeed_launcher", "tpu_launcher"):
        monkeypatch.setattr(launch, name, lambda args, name=name: taken.append((name, args)))
    launch.launch_command(launch.launch_command_parser().parse_args([*argv, "train.py"]))
    assert len(taken) == 1, taken
    return taken[0]


def test_ddp_cpu_config_takes_the_multi_process_launcher(monkeypatch):
    """The accelerate 1.16 trap (issue #2741): every single-machine CPU spelling goes to the simple launcher, which
    starts one process whatever num_processes says; the torchrun launcher is reached through MULTI_GPU."""
    from accelerate.utils.launch import prepare_multi_gpu_env

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    name, args = _launcher_taken(monkeypatch, "--config_file", DDP_CPU)
    assert name == "multi_gpu_launcher" and args.num_processes == 2 and args.num_machines == 1
    env = prepare_multi_gpu_env(args)
    assert env["ACCELERATE_MIXED_PRECISION"] == "no" and env["ACCELERATE_DYNAMO_BACKEND"] == "NO"
    assert args.nproc_per_node == "2"  # torchrun's --nproc_per_node, set by prepare_multi_gpu_env
    # the command-line spelling of the same (hf-v5-notes §5)
    name, args = _launcher_taken(monkeypatch, "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                                 "--mixed_precision", "no", "--dynamo_backend", "no")
    assert name == "multi_gpu_launcher" and args.num_processes == 2
    # the spellings that start ONE process
    assert _launcher_taken(monkeypatch, "--cpu", "--num_processes", "2")[0] == "simple_launcher"


def test_a_multi_cpu_config_file_starts_one_process(monkeypatch, tmp_path):
    config = tmp_path / "multi_cpu.yaml"
    with open(DDP_CPU, encoding="utf-8") as f:
        config.write_text(f.read().replace("distributed_type: MULTI_GPU", "distributed_type: MULTI_CPU"))
    name, args = _launcher_taken(monkeypatch, "--config_file", str(config))
    assert name == "simple_launcher" and args.num_processes == 2  # asked for 2, gets the one-process launcher


@pytest.mark.slow
def test_ddp_cpu_config_starts_two_workers(tmp_path):
    """`accelerate launch --config_file configs/accelerate/ddp_cpu.yaml` really starts 2 processes that form one
    gloo group on the CPU: each rank writes its own file."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import json, os\n"
        "import torch.distributed as dist\n"
        "from accelerate import Accelerator\n"
        "a = Accelerator(cpu=True)\n"
        "total = __import__('torch').tensor([a.process_index + 1.0])\n"
        "dist.all_reduce(total)  # a collective over both ranks: they are one group\n"
        "report = {'type': str(a.state.distributed_type), 'processes': a.num_processes, 'backend': a.state.backend,\n"
        "          'device': a.device.type, 'sum_of_ranks_plus_one': total.item(), 'pid': os.getpid()}\n"
        f"open(os.path.join({str(tmp_path)!r}, f'rank_{{a.process_index}}.json'), 'w').write(json.dumps(report))\n"
        # Leave the group before exiting: gloo threads still running at interpreter exit abort the process now and
        # then ('terminate called without an active exception').
        "dist.barrier()\n"
        "dist.destroy_process_group()\n")
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    cmd = [os.path.join(os.path.dirname(sys.executable), "accelerate"), "launch", "--config_file", DDP_CPU,
           "--main_process_port", free_port(), str(probe)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.glob("rank_*.json")) == ["rank_0.json", "rank_1.json"]
    reports = [json.loads((tmp_path / f"rank_{rank}.json").read_text()) for rank in range(2)]
    assert reports[0]["pid"] != reports[1]["pid"]
    for report in reports:
        assert {k: v for k, v in report.items() if k != "pid"} == {
            "type": "DistributedType.MULTI_CPU", "processes": 2, "backend": "gloo", "device": "cpu",
            "sum_of_ranks_plus_one": 3.0}


@pytest.mark.slow
def test_ddp_cpu_config_without_use_cpu_trains_each_worker_alone(tmp_path):
    """The trap docs/training.md warns about: the workers start, but a Trainer not asked for the CPU (`--use_cpu`)
    on a machine without GPUs does not join them: every rank is a single-process run over all the data."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import json, os\n"
        "from transformers import TrainingArguments\n"
        f"args = TrainingArguments(output_dir={str(tmp_path / 'out')!r}, report_to=[])\n"
        "report = {'parallel_mode': str(args.parallel_mode), 'world_size': args.world_size}\n"
        f"name = os.path.join({str(tmp_path)!r}, f'rank_{{os.environ[\"RANK\"]}}.json')\n"
        "open(name, 'w').write(json.dumps(report))\n")
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    cmd = [os.path.join(os.path.dirname(sys.executable), "accelerate"), "launch", "--config_file", DDP_CPU,
           "--main_process_port", free_port(), str(probe)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for rank in range(2):
        report = json.loads((tmp_path / f"rank_{rank}.json").read_text())
        assert report == {"parallel_mode": "ParallelMode.NOT_PARALLEL", "world_size": 1}, report


# --- what actually runs on 2 CPU processes ------------------------------------------------------------------------

GPT_FLAGS = ("--fsdp_transformer_layer_cls_to_wrap", "TobigsDecoderLayer")


def _batch(step: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1000 + step % 2)  # two batches in turn: the loss visibly falls
    ids = torch.randint(3, 98, (GLOBAL_BATCH, LENGTH), generator=g)
    # every row has LENGTH - 1 predicted tokens, so the mean of the ranks' mean losses is the global mean loss
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}


def _one_process_losses() -> dict[int, float]:
    model = tiny_model("gpt2")
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR)
    losses = {}
    for step in range(STEPS):
        loss = model(**_batch(step)).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses[step + 1] = loss.item()
    return losses


def _torchrun(tmp_path, mode: str) -> dict[int, float]:
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="", HF_HUB_OFFLINE="1",
               PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "tests"), os.path.join(ROOT, "src")]))
    port = free_port()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port,
           os.path.abspath(__file__), mode, str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(tmp_path / f"losses_{mode}.json") as f:
        return {int(k): v for k, v in json.load(f).items()}


@pytest.mark.slow
def test_fsdp_config_trains_like_one_process_and_resumes(tmp_path):
    reference = _one_process_losses()
    straight = _torchrun(tmp_path, "straight")
    assert sorted(straight) == list(range(1, STEPS + 1))
    for step, loss in reference.items():
        assert straight[step] == pytest.approx(loss, abs=1e-4), (step, reference, straight)
    shards = sorted(os.listdir(tmp_path / "checkpoint" / "pytorch_model_fsdp_0"))
    assert "__0_0.distcp" in shards and "__1_0.distcp" in shards  # one shard file per rank: a sharded checkpoint
    resumed = _torchrun(tmp_path, "resume")
    assert sorted(resumed) == list(range(SAVE_AT + 1, STEPS + 1))
    for step, loss in resumed.items():
        assert loss == pytest.approx(straight[step], abs=1e-6), (step, straight, resumed)


@pytest.mark.xfail(strict=True, raises=ValueError,
                   reason="encoder and decoder share one embedding weight through two modules; accelerate's FSDP2 "
                          "grouping puts them in different groups, which torch >= 2.13 refuses")
def test_tied_encoder_decoder_under_fsdp2(monkeypatch):
    import torch.distributed as dist
    from accelerate.utils.fsdp_utils import fsdp2_prepare_model

    plugin = fsdp_plugin(monkeypatch, "--mixed_precision", "no", "--num_processes", "1")
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        model = fsdp2_prepare_model(_stand_in_accelerator(plugin, 0, 1), tiny_model("transformer-base"))
        ids = torch.randint(3, 99, (2, LENGTH))
        model(input_ids=ids, labels=ids).loss.backward()  # FSDP2 checks its groups on the first forward
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_accelerate_launch_falls_back_to_ddp_on_cpu(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import json, os, sys\n"
        "from accelerate import Accelerator\n"
        "a = Accelerator(cpu=True)\n"
        "report = json.dumps({'type': str(a.state.distributed_type), 'processes': a.num_processes,\n"
        "    'fsdp_plugin': getattr(a.state, 'fsdp_plugin', None) is not None,\n"
        "    'use_fsdp_env': os.environ.get('ACCELERATE_USE_FSDP')})\n"
        # one file per rank: two ranks printing at once can interleave on the shared stdout
        f"open(os.path.join({str(tmp_path)!r}, f'probe_{{a.process_index}}.json'), 'w').write(report)\n")
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    cmd = [os.path.join(os.path.dirname(sys.executable), "accelerate"), "launch", "--config_file", FSDP,
           "--num_processes", "2", "--mixed_precision", "no", "--main_process_port",
           free_port(), str(probe)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    reports = [json.loads((tmp_path / f"probe_{rank}.json").read_text()) for rank in range(2)]
    for report in reports:
        # the launcher asked for FSDP, the state ignored it: DDP over gloo
        assert report == {"type": "DistributedType.MULTI_CPU", "processes": 2, "fsdp_plugin": False,
                          "use_fsdp_env": "true"}


# --- the FSDP worker (run by torchrun) ----------------------------------------------------------------------------

def _stand_in_accelerator(plugin, rank: int, world: int) -> SimpleNamespace:
    """What accelerate's FSDP functions read from an Accelerator (whose real state will not enter FSDP on CPU)."""
    import torch.distributed as dist

    return SimpleNamespace(state=SimpleNamespace(fsdp_plugin=plugin), torch_device_mesh=None, parallelism_config=None,
                           mixed_precision="no", is_main_process=rank == 0, process_index=rank, num_processes=world,
                           device=torch.device("cpu"), wait_for_everyone=dist.barrier)


def _worker(mode: str, folder: str) -> None:
    import torch.distributed as dist
    from accelerate.utils import FullyShardedDataParallelPlugin
    from accelerate.utils.fsdp_utils import (
        fsdp2_prepare_model,
        load_fsdp_model,
        load_fsdp_optimizer,
        save_fsdp_model,
        save_fsdp_optimizer,
    )

    from accelerate import PartialState

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    PartialState(cpu=True)  # accelerate's logging (used by its save/load functions) needs an initialised state
    os.environ.update(fsdp_env("--mixed_precision", "no", "--num_processes", str(world), *GPT_FLAGS))
    plugin = FullyShardedDataParallelPlugin()
    accelerator = _stand_in_accelerator(plugin, rank, world)
    model = fsdp2_prepare_model(accelerator, tiny_model("gpt2"))
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR)
    checkpoint = os.path.join(folder, "checkpoint")
    start = 0
    if mode == "resume":
        load_fsdp_model(plugin, accelerator, model, checkpoint)
        load_fsdp_optimizer(plugin, accelerator, optimizer, model, checkpoint)
        start = SAVE_AT
    losses = {}
    for step in range(start, STEPS):
        batch = {k: v[rank::world] for k, v in _batch(step).items()}  # this rank's rows of the global batch
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        total = loss.detach().clone()
        dist.all_reduce(total)
        losses[step + 1] = total.item() / world
        if mode == "straight" and step + 1 == SAVE_AT:
            save_fsdp_model(plugin, accelerator, model, checkpoint)
            save_fsdp_optimizer(plugin, accelerator, optimizer, model, checkpoint)
    if rank == 0:
        with open(os.path.join(folder, f"losses_{mode}.json"), "w") as f:
            json.dump(losses, f)
    dist.barrier()  # no rank leaves while another still talks to it (a gloo abort at exit otherwise, now and then)
    dist.destroy_process_group()


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2])
