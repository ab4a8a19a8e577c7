"""Transformer-XL training: the paper's LM iterator (parallel streams whose rows continue from batch to batch), the
trainer that carries segment memory from step to step, the ``tobigs train clm`` wiring and the xl-memory experiment."""

from __future__ import annotations

import math

import pytest
import torch
from accelerate.data_loader import BatchSamplerShard
from torch.utils.data import BatchSampler, SequentialSampler

from tobigs_transformer.training.lm_streams import plan_streams, stream_segments


def _shards(items: list, batch_size: int, processes: int) -> list[list[list]]:
    """What each of ``processes`` processes receives, batch by batch, from a sequential sampler sharded by accelerate
    (round-robin over batches, the Trainer's default ``split_batches=False``)."""
    out = []
    for rank in range(processes):
        sampler = BatchSamplerShard(BatchSampler(SequentialSampler(items), batch_size, drop_last=False),
                                    num_processes=processes, process_index=rank)
        out.append([[items[i] for i in batch] for batch in sampler])
    return out


@pytest.mark.parametrize("batch_size,processes", [(3, 1), (2, 2), (1, 3)])
def test_rows_continue_from_batch_to_batch(batch_size, processes):
    stream = list(range(1000, 1000 + 97))  # token ids that name their position in the stream
    segment = 5
    ds = stream_segments({"input_ids": [stream[:40], stream[40:]]}, segment, batch_size * processes)
    items = [dict(input_ids=i, shift_labels=t) for i, t in zip(ds["input_ids"], ds["shift_labels"])]
    shards = _shards(items, batch_size, processes)
    steps = {len(batches) for batches in shards}
    assert len(steps) == 1 and steps.pop() >= 2  # every process gets the same number of full batches
    for batches in shards:
        for before, after in zip(batches, batches[1:]):
            assert len(before) == len(after) == batch_size
            for row_before, row_after in zip(before, after):
                # row b of batch t+1 starts where row b of batch t ended: the memory is the right context
                assert row_after["input_ids"][0] == row_before["input_ids"][-1] + 1
                assert row_before["shift_labels"][-1] == row_after["input_ids"][0]
    # the first batches of all processes together start the num_streams streams, in stream order
    starts = [row["input_ids"][0] for batches in shards for row in batches[0]]
    assert starts == sorted(starts) and len(set(starts)) == batch_size * processes


def test_every_token_trained_exactly_once_and_targets_are_next_tokens():
    stream = list(range(200))
    ds = stream_segments({"input_ids": [stream]}, segment_length=7, num_streams=4)
    plan = plan_streams(200, 4, 7)
    targets = [t for row in ds["shift_labels"] for t in row]
    assert sorted(targets) == list(range(1, 1 + plan.targets))  # a partition: no target twice, none skipped
    assert plan.targets + plan.dropped == 199
    assert plan.dropped < 4 * 7  # only a tail shorter than one segment per stream is dropped
    for inputs, labels in zip(ds["input_ids"], ds["shift_labels"]):
        assert len(inputs) == len(labels) == 7
        assert labels == [token + 1 for token in inputs]  # position t predicts the token after it
    assert len(ds["input_ids"]) == 4 * plan.segments


def test_stream_too_short_names_the_values():
    with pytest.raises(ValueError, match=r"30 tokens .*num_streams=4 .*segment_length=8.*33 tokens"):
        stream_segments({"input_ids": [list(range(30))]}, segment_length=8, num_streams=4)
    assert plan_streams(33, 4, 8).segments == 1  # the limit named in the error is exact


@pytest.mark.parametrize("kwargs,needle", [
    (dict(n_tokens=10, num_streams=0, segment_length=2), "num_streams must be a positive int, got 0"),
    (dict(n_tokens=10, num_streams=2, segment_length=True), "segment_length must be a positive int, got True"),
    (dict(n_tokens=-1, num_streams=2, segment_length=2), "n_tokens must be an int >= 0, got -1"),
])
def test_bad_plan_values(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        plan_streams(**kwargs)


# ------------------------------------------------------------------------------------------------ the memory trainer
import datasets  # noqa: E402
from tiny import tiny_config  # noqa: E402
from transformers import TrainingArguments  # noqa: E402

from tobigs_transformer import TobigsForCausalLM  # noqa: E402
from tobigs_transformer.training.clm_data import DataCollatorForShiftedBlocks  # noqa: E402
from tobigs_transformer.training.segment_memory import SegmentMemoryTrainer  # noqa: E402

MEM_LEN, SEGMENT, STREAMS = 6, 4, 2


def _streams(n_tokens: int, seed: int = 0) -> datasets.Dataset:
    tokens = torch.randint(3, 99, (n_tokens,), generator=torch.Generator().manual_seed(seed)).tolist()
    return datasets.Dataset.from_dict(stream_segments({"input_ids": [tokens]}, SEGMENT, STREAMS))


def _trainer(tmp_path, model, train=None, evaluation=None, **args) -> SegmentMemoryTrainer:
    options = dict(output_dir=str(tmp_path), use_cpu=True, report_to="none", per_device_train_batch_size=STREAMS,
                   per_device_eval_batch_size=STREAMS, save_strategy="no", logging_steps=1, disable_tqdm=True,
                   dataloader_num_workers=0, label_names=["shift_labels"], learning_rate=1e-3, seed=0)
    return SegmentMemoryTrainer(model=model, args=TrainingArguments(**{**options, **args}), train_dataset=train,
                                eval_dataset=evaluation, data_collator=DataCollatorForShiftedBlocks())


def _record(model) -> tuple[list, list]:
    """The ``mems`` every forward received and returned (None or the tensors)."""
    given, returned = [], []
    model.register_forward_pre_hook(lambda m, a, kw: given.append(kw.get("mems")), with_kwargs=True)
    model.register_forward_hook(lambda m, a, out: returned.append(out.mems))
    return given, returned


def _xl(mem_len: int = MEM_LEN) -> TobigsForCausalLM:
    torch.manual_seed(0)
    return TobigsForCausalLM(tiny_config("transformer-xl", mem_len=mem_len, dropout=0.0, activation_dropout=0.0))


def test_memory_is_carried_per_step_without_gradient_and_emptied_at_each_epoch(tmp_path):
    model = _xl()
    train = _streams(STREAMS * SEGMENT * 3 + 1)  # 3 batches per epoch
    given, returned = _record(model)
    trainer = _trainer(tmp_path, model, train, num_train_epochs=2)
    assert type(trainer._get_train_sampler()).__name__ == "SequentialSampler"
    trainer.train()
    assert len(given) == 6
    assert [m is None for m in given] == [True, False, False, True, False, False]  # fresh at every epoch
    for before, after in zip(returned, given[1:]):
        if after is not None:  # each step gets exactly what the step before returned
            assert all(torch.equal(a, b) for a, b in zip(before, after))
    assert [tuple(m.shape) for m in returned[0]] == [(STREAMS, SEGMENT, 32)] * 2  # grows to mem_len, then slides
    assert [tuple(m.shape) for m in returned[1]] == [(STREAMS, MEM_LEN, 32)] * 2
    assert all(not m.requires_grad for mems in returned for m in mems)  # no gradient into the past
    carried = trainer.memory["train"]
    assert carried is not None and [tuple(m.shape) for m in carried] == [(STREAMS, MEM_LEN, 32)] * 2


def test_gradient_accumulation_keeps_the_memory_per_micro_batch(tmp_path):
    model = _xl()
    given, returned = _record(model)
    trainer = _trainer(tmp_path, model, _streams(STREAMS * SEGMENT * 4 + 1), gradient_accumulation_steps=2,
                       max_steps=2)
    trainer.train()
    assert len(given) == 4 and given[0] is None
    for before, after in zip(returned, given[1:]):
        assert after is not None and all(torch.equal(a, b) for a, b in zip(before, after))


def test_evaluation_with_and_without_memory_equals_a_manual_loop(tmp_path):
    model = _xl().eval()
    evaluation = _streams(STREAMS * SEGMENT * 5 + 1, seed=1)
    batches = [DataCollatorForShiftedBlocks()([evaluation[i] for i in range(k, k + STREAMS)])
               for k in range(0, len(evaluation), STREAMS)]
    with torch.no_grad():
        mems, with_memory, without = None, [], []
        for batch in batches:
            out = model(**batch, mems=mems)
            mems = out.mems
            with_memory.append(out.loss.item())
            without.append(model(**batch).loss.item())
    trainer = _trainer(tmp_path, model, evaluation=evaluation)
    metrics = trainer.evaluate()
    assert metrics["eval_loss"] == pytest.approx(sum(with_memory) / len(with_memory), rel=1e-5)
    assert metrics["eval_loss_no_memory"] == pytest.approx(sum(without) / len(without), rel=1e-5)
    assert abs(metrics["eval_loss"] - metrics["eval_loss_no_memory"]) > 1e-5  # the memory is used (float32 ~1e-7)
    assert metrics["eval_perplexity_no_memory"] == pytest.approx(math.exp(metrics["eval_loss_no_memory"]))
    assert "eval_perplexity" in metrics and trainer.memory["eval"] is None  # emptied after the evaluation
    # a second evaluation starts from empty memory again: the same numbers
    assert trainer.evaluate()["eval_loss"] == pytest.approx(metrics["eval_loss"], rel=1e-6)


def test_same_length_evaluation_equals_a_manual_loop_with_same_length(tmp_path):
    model = _xl().eval()
    evaluation = _streams(STREAMS * SEGMENT * 3 + 1, seed=1)
    batches = [DataCollatorForShiftedBlocks()([evaluation[i] for i in range(k, k + STREAMS)])
               for k in range(0, len(evaluation), STREAMS)]
    model.config.same_length = True
    with torch.no_grad():
        mems, losses = None, []
        for batch in batches:
            out = model(**batch, mems=mems)
            mems = out.mems
            losses.append(out.loss.item())
    model.config.same_length = False
    trainer = _trainer(tmp_path, model, evaluation=evaluation)
    trainer.evaluate_same_length = True
    metrics = trainer.evaluate()
    assert metrics["eval_loss_same_length"] == pytest.approx(sum(losses) / len(losses), rel=1e-5)
    assert metrics["eval_perplexity_same_length"] == pytest.approx(math.exp(metrics["eval_loss_same_length"]))
    assert abs(metrics["eval_loss_same_length"] - metrics["eval_loss"]) > 1e-6  # the window is used
    assert model.config.same_length is False and trainer.memory["eval"] is None


def test_a_model_without_memory_trains_as_before(tmp_path):
    model = _xl(mem_len=0)
    given, _ = _record(model)
    trainer = _trainer(tmp_path, model, _streams(STREAMS * SEGMENT * 2 + 1), max_steps=2)
    assert type(trainer._get_train_sampler()).__name__ == "RandomSampler"
    trainer.train()
    assert given == [None, None]
    assert "eval_perplexity_no_memory" not in trainer.evaluate(_streams(STREAMS * SEGMENT + 1))


def test_a_sampler_that_reorders_batches_is_refused_with_memory(tmp_path):
    trainer = _trainer(tmp_path, _xl(), _streams(STREAMS * SEGMENT * 2 + 1), train_sampling_strategy="group_by_length")
    with pytest.raises(ValueError, match="'group_by_length' reorders the batches.*mem_len > 0"):
        trainer._get_train_sampler()


# ------------------------------------------------------------------------------------------------ tobigs train clm
from fixtures.helpers import COMMON, TINY, path, read_metrics, tokenizers  # noqa: E402

from tobigs_transformer.training import ArgumentError, run_clm  # noqa: E402


def _clm(tmp_path, *extra) -> list[str]:
    return ["--preset", "transformer-xl", "--config_overrides", f"{TINY},mem_len=8", "--tokenizer_name",
            tokenizers()["gpt"], "--train_file", path("en_train.txt"), "--validation_file", path("en_validation.txt"),
            "--output_dir", str(tmp_path / "xl"), "--do_train", "--do_eval", *COMMON, *extra]


def test_train_clm_with_memory_uses_the_lm_iterator_and_reports_both_perplexities(tmp_path, caplog):
    caplog.set_level("INFO", logger="tobigs_transformer")
    # --block_size beyond max_position_embeddings=64 is fine: relative positions have no longest length
    metrics = run_clm.main(_clm(tmp_path, "--block_size", "80", "--max_steps", "2", "--max_eval_samples", "7",
                                "--per_device_eval_batch_size", "2", "--log_level", "info"))
    assert metrics["eval_samples"] == 6  # --max_eval_samples keeps whole rows of the 2 validation streams
    assert metrics["eval_perplexity_no_memory"] > 1 and metrics["eval_perplexity"] > 1
    assert metrics["eval_perplexity"] != metrics["eval_perplexity_no_memory"]  # 3 segments per stream: memory used
    assert "eval_perplexity_no_memory" in read_metrics(str(tmp_path / "xl"))["metrics"]
    logged = caplog.text
    assert "LM iterator: {'train': 4, 'validation': 2} parallel streams" in logged and "mem_len=8" in logged
    assert "validation: --max_eval_samples=7 keeps the first 3 segments of every stream" in logged


def test_train_clm_streams_too_short_names_the_options(tmp_path):
    with pytest.raises(ArgumentError, match=r"validation .*too short.*per_device_eval_batch_size x processes = 4.*"
                                            r"--block_size=400"):
        run_clm.main(_clm(tmp_path, "--block_size", "400", "--max_steps", "1"))
    with pytest.raises(ArgumentError, match="--parallel_streams .*--control_code_column"):
        run_clm.main(_clm(tmp_path, "--parallel_streams", "true", "--control_code_column", "domain"))


# ------------------------------------------------------------------------------------------------ tobigs xl-memory
import json  # noqa: E402

from tobigs_transformer.experiments import xl_memory  # noqa: E402
from tobigs_transformer.tooling.main import main as tobigs_main  # noqa: E402


def _corpora(root) -> str:
    """A corpora folder in ``build_corpora``'s layout (only what the experiment reads) made of the fixtures."""
    for split, name in (("train", "en_train.txt"), ("validation", "en_validation.txt")):
        lines = [line.strip() for line in open(path(name), encoding="utf-8") if line.strip()]
        file = root / "en" / f"shakespeare_{split}.jsonl"
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text("".join(json.dumps({"text": t, "work": split}) + "\n" for t in lines), encoding="utf-8")
    return str(root)


def test_xl_memory_quick_run(tmp_path, capsys):
    out, results_file = tmp_path / "run", tmp_path / "docs" / "xl_memory.json"
    assert tobigs_main(["xl-memory", "--quick", "--output_dir", str(out), "--data_dir", _corpora(tmp_path / "data"),
                        "--results_file", str(results_file)]) == 0
    results = json.loads(results_file.read_text())
    assert results == json.loads((out / "results.json").read_text())
    assert list(results["summary"]) == ["xl", "xl/no-memory", "xl-mem0", "gpt"]
    runs = results["runs"]
    # equal budget: the same tokens (streams x segments) for every arm, evaluated on the same validation rows
    assert {r["epoch"] for arm in runs.values() for r in arm} == {1.0}
    assert {r["eval_samples"] for arm in runs.values() for r in arm} == {2 * 4}
    assert "eval_perplexity_no_memory" in runs["xl"][0] and "eval_perplexity_no_memory" not in runs["gpt"][0]
    assert runs["xl"][0]["eval_perplexity"] != runs["xl"][0]["eval_perplexity_no_memory"]
    printed = capsys.readouterr().out
    assert "| xl/no-memory | 1 |" in printed and "4 steps × 2 streams × 8 tokens = 64 training tokens" in printed


def test_xl_memory_bad_options():
    with pytest.raises(xl_memory.UsageError, match="--arms 'xl,bert'"):
        xl_memory.XlMemoryArguments(arms="xl,bert")
    with pytest.raises(xl_memory.UsageError, match="--segment_length must be >= 2, got 1"):
        xl_memory.XlMemoryArguments(segment_length=1)
    assert xl_memory.XlMemoryArguments(arms="gpt").model("gpt")[:2] == ["--preset", "gpt2"]
    assert xl_memory.XlMemoryArguments().model("xl-mem0")[-1].endswith(",mem_len=0")
    with pytest.raises(xl_memory.UsageError, match=r"--adaptive_cutoffs \[1000, 500\] must be increasing"):
        xl_memory.XlMemoryArguments(arms="xl,xl-adaptive", adaptive_cutoffs="1000,500")


def test_xl_memory_adaptive_arm_builds_the_authors_setting():
    """The xl-adaptive arm is the xl arm (same sizes, same memory) with adaptive input and softmax."""
    from tobigs_transformer.training.model_config import parse_overrides

    args = xl_memory.XlMemoryArguments(arms="xl,xl-adaptive")
    preset, overrides = args.model("xl-adaptive")[1], parse_overrides(args.model("xl-adaptive")[-1])
    plain = parse_overrides(args.model("xl")[-1])
    assert preset == "transformer-xl" and {k: overrides[k] for k in plain} == plain  # nothing of the xl arm changed
    assert {k: overrides[k] for k in ("cutoffs", "div_val", "tie_projs")} == {
        "cutoffs": [500, 1000], "div_val": 2, "tie_projs": [False, True, True]}
    assert overrides["adaptive_input"] and overrides["adaptive_softmax"]


# ------------------------------------------------------------------------------------------------ data parallel
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from free_port import free_port  # noqa: E402


def _torchrun(nproc: int, out: str, batch: int, eval_batch: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false", CUDA_VISIBLE_DEVICES="")
    argv = ["--preset", "transformer-xl", "--config_overrides", f"{TINY},mem_len=8,dropout=0.0,activation_dropout=0.0",
            "--tokenizer_name", tokenizers()["gpt"], "--train_file", path("en_train.txt"), "--validation_file",
            path("en_validation.txt"), "--block_size", "8", "--output_dir", out, "--max_steps", "4",
            "--per_device_train_batch_size", str(batch), "--per_device_eval_batch_size", str(eval_batch),
            "--do_train", "--do_eval", "--learning_rate", "3e-3", "--use_cpu", "--ddp_find_unused_parameters",
            "false", "--ddp_backend", "gloo", "--report_to", "none", "--seed", "0", "--logging_steps", "1",
            "--save_strategy", "no", "--disable_tqdm", "true", "--dataloader_num_workers", "0",
            "--max_eval_samples", "16"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port",
           free_port(), "-m", "tobigs_transformer.tooling.main", "train", "clm", *argv]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return read_metrics(out)


@pytest.mark.slow
def test_two_processes_carry_the_same_streams_as_one(tmp_path):
    """2 processes x 2 rows and 1 process x 4 rows read the same 4 streams (row b of rank r is stream 2r + b), so
    with memory carried per process the losses are the same step by step, and so is the evaluation over the same
    2 validation streams, with and without memory."""
    one = _torchrun(1, str(tmp_path / "one"), batch=4, eval_batch=2)
    two = _torchrun(2, str(tmp_path / "two"), batch=2, eval_batch=1)
    losses = [{e["step"]: e["loss"] for e in run["log_history"] if "loss" in e} for run in (one, two)]
    assert sorted(losses[0]) == sorted(losses[1]) == [1, 2, 3, 4]
    for step in losses[0]:
        assert losses[1][step] == pytest.approx(losses[0][step], abs=1e-4), (step, losses)
    for key in ("eval_loss", "eval_loss_no_memory"):
        assert two["metrics"][key] == pytest.approx(one["metrics"][key], abs=1e-4), key
    assert one["metrics"]["eval_loss"] != one["metrics"]["eval_loss_no_memory"]
