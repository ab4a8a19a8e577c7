"""benchmarks/bench_twins.py (issue 14): the smoke run as a test, the FLOP count, the goals, the RESULTS.md block,
the loud failure on different logits; issue 10's variant rows (exact conversion, their smoke run, a named block);
scripts/gpu_check.sh: its fail-fast path without CUDA and a CPU rehearsal of the GPU visit's translation step."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import time

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "benchmarks")
sys.path.insert(0, BENCH)

import bench_twins  # noqa: E402
import twins_families as fams  # noqa: E402
import twins_report  # noqa: E402

GENERATING = ("gpt2", "bart", "marian", "ctrl", "pegasus")
VARIANTS = ("albert", "roberta", "ctrl", "pegasus", "electra")  # issue 10's rows, `--families variants`
SMOKE_FAMILIES = ("gpt2", "bert", "bart", "marian") + VARIANTS
ENV = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
           CUDA_VISIBLE_DEVICES="")


# --- the smoke run ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("twins") / "smoke.json"
    proc = subprocess.run([sys.executable, os.path.join(BENCH, "bench_twins.py"), "--smoke", "--out", str(out)],
                          env=ENV, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(out) as f:
        return json.load(f), proc.stdout


@pytest.mark.slow
def test_smoke_report_schema(smoke):
    report, _ = smoke
    assert report["schema"] == bench_twins.SCHEMA and report["smoke"] is True and report["profile"] == "smoke"
    assert report["device"]["type"] == "cpu" and report["device"]["name"]
    assert report["torch"] == torch.__version__
    import transformers

    assert report["transformers"] == transformers.__version__
    assert "bench_twins.py --smoke --out" in report["command"] and report["date"].endswith("UTC")
    assert "6·(L·(4d² + 2d·f) + d·V)" in report["flop_formula"]
    assert [f["family"] for f in report["families"]] == list(SMOKE_FAMILIES)
    for fam in report["families"]:
        assert fam["logits_match"] is True and fam["max_abs_logit_diff"] <= fam["logit_atol"] == 1e-4


@pytest.mark.slow
def test_smoke_runs_every_path(smoke):
    report, _ = smoke
    rows = {(r["family"], r["workload"], r["mode"]): r for r in report["rows"]}
    failed = [r for r in report["rows"] if not r.get("ok")]
    assert not failed, failed
    expected = [(f, "train", "eager") for f in SMOKE_FAMILIES]
    expected += [("gpt2", "train", "compiled"), ("gpt2", "train", "eager_plain_loss"),
                 ("gpt2", "train memory", "eager")]
    for f in GENERATING:
        expected += [(f, "greedy b1", "dynamic"), (f, "greedy b1", "static"), (f, "greedy b3", "dynamic"),
                     (f, "greedy b3", "static"), (f, "beam4 b2", "dynamic")]
    expected += [("gpt2", "greedy b1", "static_compiled"), ("gpt2", "greedy b3", "static_compiled")]
    assert sorted(rows) == sorted(expected)
    for row in report["rows"]:
        assert math.isfinite(row["ratio"]) and row["ratio"] > 0, row
        assert row["ours"] > 0 and row["twin"] > 0, row
        if row["workload"] != "train memory":
            assert row["ours_first_call_s"] > 0 and row["twin_first_call_s"] > 0, row
            assert row["load_1m"] >= 0, row  # the machine's load is recorded beside every number
        if row["workload"].startswith(("greedy", "beam")):
            assert row["same_tokens"] is True, row  # fp32 on CPU: identical tokens in every mode
    assert report["compile_backend"] == "aot_eager"
    assert rows[("gpt2", "train", "eager_plain_loss")]["loss_chunk_size"] == 0
    assert rows[("gpt2", "train", "eager")]["loss_chunk_size"] > 0  # the default: chunked LM loss


@pytest.mark.slow
def test_smoke_shows_the_compile_cost_against_the_steady_state(smoke):
    report, stdout = smoke
    costs = {(c["family"], c["workload"]): c for c in twins_report.compile_costs(report["rows"])}
    assert sorted(costs) == [("gpt2", "greedy b1"), ("gpt2", "greedy b3")]
    for c in costs.values():
        assert c["first_call_s"] > c["compile_s"] > 0
    assert "| pays after (new tokens) |" in stdout


@pytest.mark.slow
def test_smoke_goals_and_table(smoke):
    report, stdout = smoke
    goals = {(g["goal"], g["family"]) for g in report["goals"]}
    assert {("cpu-train-time", "gpt2"), ("cpu-train-time", "bart")} <= goals
    assert {("cpu-greedy-b1", f) for f in GENERATING} <= goals
    assert all(g["met"] for g in report["goals"] if g["goal"].startswith("exact"))
    assert "| goal (issue 14 unless named) |" in stdout and "| family | workload |" in stdout


# --- units --------------------------------------------------------------------------------------------------------

def test_flops_of_gpt2_124m_match_nanogpt():
    twin, shape = fams.twin_named("gpt2"), fams.GPU_GPT2
    with torch.device("meta"):
        model = fams.build_hf(twin, shape)
    n = sum(p.numel() for p in model.parameters()) - model.transformer.wpe.weight.numel()
    nanogpt = (6 * n + 12 * shape.layers * shape.d_model * shape.length) * shape.batch * shape.length
    assert fams.train_flops(twin, shape) == pytest.approx(nanogpt, rel=2e-3)  # biases and LayerNorms left out


def test_flops_of_bart_count_each_linear_once_per_token_it_sees():
    twin, shape = fams.twin_named("bart"), fams.GPU_BART
    with torch.device("meta"):
        model = fams.build_hf(twin, shape)
    b, s, t, d, n = shape.batch, shape.length, shape.target_length, shape.d_model, shape.layers
    matmul = 0
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            cross_kv = name.endswith(("encoder_attn.k_proj", "encoder_attn.v_proj"))
            on_source = name.startswith("model.encoder") or cross_kv
            matmul += 6 * module.in_features * module.out_features * (b * s if on_source else b * t)
    attention = 12 * n * d * (b * s * s + b * t * t + b * t * s)
    assert fams.train_flops(twin, shape) == pytest.approx(matmul + attention, rel=1e-9)


@pytest.mark.parametrize("name", ["albert", "roberta", "electra"])
def test_flops_of_the_encoder_variants_count_each_linear_once_per_token_it_sees(name):
    twin = fams.twin_named(name)
    shape = twin.shape("cpu")
    with torch.device("meta"):
        model = fams.build_hf(twin, shape)
    reuse = shape.layers if name == "albert" else 1  # ALBERT's one shared layer runs `layers` times per step
    per_token = 0
    for module_name, module in model.named_modules():
        # the formula leaves out the pooler and the two-way SOP head (one position per sequence)
        if isinstance(module, torch.nn.Linear) and not module_name.startswith(("albert.pooler", "sop_classifier")):
            per_token += 6 * module.in_features * module.out_features * (
                reuse if "albert_layer_groups" in module_name else 1)
    b, t = shape.batch, shape.length
    attention = 12 * shape.layers * shape.d_model * b * t * t
    assert fams.train_flops(twin, shape) == pytest.approx(per_token * b * t + attention, rel=1e-9)


def _family(name, vocab=8192, length=128, target=0):
    return dict(family=name, shape=dict(vocab=vocab, length=length, target_length=target), max_abs_logit_diff=0.0,
                logit_atol=1e-4, logits_match=True)


def _measured(family, workload, mode, ours, twin, unit="tokens/s", **extra):
    return dict(family=family, workload=workload, mode=mode, unit=unit, ok=True, ours=ours, twin=twin,
                ratio=ours / twin, **extra)


def test_goals_follow_the_issue_thresholds():
    rows = [_measured("gpt2", "train", "eager", 118.0, 100.0), _measured("bart", "train", "eager", 117.0, 100.0),
            _measured("gpt2", "greedy b1", "dynamic", 10.0, 10.0, "new tokens/s"),
            _measured("gpt2", "greedy b1", "static_compiled", 17.0, 30.0, "new tokens/s"),
            _measured("gpt2-32k", "train memory", "eager", 60.0, 100.0, "MiB"),
            _measured("bert", "train memory", "eager", 10.0, 100.0, "MiB")]
    families = [_family("gpt2"), _family("bart", target=128), _family("gpt2-32k", vocab=32768, length=256),
                _family("bert")]
    goals = {(g["goal"], g["family"]): g for g in twins_report.evaluate_goals(rows, families, "cpu")}
    assert goals[("cpu-train-time", "gpt2")]["met"] is True  # 1.18 ≥ 1/0.85 = 1.176
    assert goals[("cpu-train-time", "bart")]["met"] is False  # 1.17 < 1.176
    best = goals[("cpu-greedy-b1", "gpt2")]
    assert best["compared"] == "ours static_compiled vs twin dynamic" and best["value"] == pytest.approx(1.7)
    assert best["met"] is True
    # issue 22: the default call against the twin's default call, greedy b1 and beam-4
    assert goals[("cpu-default-greedy-b1", "gpt2")]["value"] == pytest.approx(1.0)
    assert goals[("cpu-default-greedy-b1", "gpt2")]["met"] is False
    assert ("cpu-default-beam4", "gpt2") not in goals  # not measured
    beam = twins_report.evaluate_goals([_measured("bart", "beam4 b8", "dynamic", 17.0, 10.0, "new tokens/s")],
                                       [_family("bart", target=128)], "cpu")
    beam = {g["goal"]: g for g in beam}["cpu-default-beam4"]
    assert beam["met"] is True and beam["compared"] == "beam4 b8, ours default vs twin default"  # 1.7 ≥ 1/0.6
    assert goals[("cpu-train-memory", "gpt2-32k")]["met"] is True  # 0.6 ≤ 0.6
    assert ("cpu-train-memory", "bert") not in goals  # vocab 8192, length 128: the goal's sizes are not met
    gpu = twins_report.evaluate_goals([_measured("gpt2", "train", "compiled", 130.0, 100.0, mfu_ours=0.49,
                                                 mfu_twin=0.37)], [_family("gpt2")], "cuda")
    by_id = {g["goal"]: g for g in gpu}
    assert by_id["gpu-train-compiled"]["met"] is True and by_id["gpu-gpt2-mfu"]["met"] is False


def test_compile_cost_is_first_call_minus_a_steady_call_and_pays_back_per_token():
    compiled = _measured("gpt2", "greedy b1", "static_compiled", 200.0, 150.0, "new tokens/s", ours_first_call_s=10.5,
                         ours_median_s=0.5, load_1m=1.25)
    rows = [_measured("gpt2", "greedy b1", "dynamic", 100.0, 90.0, "new tokens/s"), compiled,
            _measured("gpt2", "greedy b1", "static", 110.0, 95.0, "new tokens/s"),
            _measured("bart", "greedy b1", "dynamic", 100.0, 90.0, "new tokens/s"),
            _measured("bart", "greedy b1", "static_compiled", 80.0, 90.0, "new tokens/s", ours_first_call_s=3.0,
                      ours_median_s=1.0)]
    costs = {c["family"]: c for c in twins_report.compile_costs(rows)}
    gpt2 = costs["gpt2"]
    assert gpt2["compile_s"] == pytest.approx(10.0) and gpt2["speedup"] == pytest.approx(2.0)
    # 10 s of compile over 1/100 - 1/200 = 5 ms saved per new token: 2000 tokens
    assert gpt2["break_even_tokens"] == pytest.approx(2000.0) and gpt2["eager_static"] == 110.0
    assert costs["bart"]["break_even_tokens"] is None  # slower compiled: never pays
    table = "\n".join(twins_report.compile_cost_table(rows))
    assert "| gpt2 | greedy b1 | 200 | 100 / 110 | 2.00× | 10.50 | 10.00 | 2,000 | 1.2 |" in table
    assert "| bart | greedy b1 | 80 | 100 / – | 0.80× | 3.00 | 2.00 | never |  |" in table


def _report(device="cpu"):
    return dict(device=dict(type=device, name="Test CPU", description="2 cores"), date="2026-12-01 10:00 UTC",
                torch="t", transformers="tf", precision="fp32", attn_implementation="sdpa",
                command="python benchmarks/bench_twins.py", json_path="benchmarks/results_twins_cpu.json",
                profile="cpu", families=[dict(family="gpt2", shape_text="tiny")], timing="t", memory_method="m",
                load_average="0.1", goals=[], rows=[_measured("gpt2", "train", "eager", 2.0, 1.0)], notes=["n"])


def test_update_results_writes_only_its_block(tmp_path):
    path = tmp_path / "RESULTS.md"
    shutil.copy(os.path.join(BENCH, "RESULTS.md"), path)
    before = path.read_text()
    twins_report.update_results(str(path), _report())
    twins_report.update_results(str(path), _report())  # idempotent: one section, one block per device
    text = path.read_text()
    head = before.split(twins_report.SECTION_TITLE)[0].rstrip("\n")
    assert text.startswith(head)
    assert text.count(twins_report.SECTION_TITLE) == 1 and text.count("<!-- bench_twins:cpu:start -->") == 1
    assert "| gpt2 | train | eager | tokens/s | 2 | 1 | 2.00 |" in text
    assert "| load |" in text
    assert "Not measured yet: no GPU was lent" in text  # the GPU block keeps its placeholder
    twins_report.update_results(str(path), _report("cuda"))
    assert "Not measured yet: no GPU was lent" not in path.read_text()


def test_named_block_is_added_before_the_gpu_block_and_rewritten_in_place(tmp_path):
    path = tmp_path / "RESULTS.md"
    shutil.copy(os.path.join(BENCH, "RESULTS.md"), path)
    cpu_block = re.search(r"<!-- bench_twins:cpu:start -->.*?<!-- bench_twins:cpu:end -->", path.read_text(), re.S)
    rows = [_measured("ctrl", "train", "eager", 1000.0, 800.0, ours_median_s=1.024, twin_median_s=1.28),
            _measured("ctrl", "greedy b1", "dynamic", 64.0, 32.0, "new tokens/s", ours_median_s=1.0,
                      twin_median_s=2.0, new_tokens=64),
            _measured("ctrl", "train memory", "eager", 300.0, 400.0, "MiB")]
    report = dict(_report(), block="cpu-variants", title="CPU, 2026-12-02: the variants", rows=rows,
                  families=[dict(family="ctrl", hf_class="CTRLLMHeadModel", shape_text="tiny")])
    twins_report.update_results(str(path), report)
    twins_report.update_results(str(path), report)  # idempotent: the block is found and replaced
    text = path.read_text()
    assert text.count("<!-- bench_twins:cpu-variants:start -->") == 1
    assert text.index("<!-- bench_twins:cpu-variants:end -->") < text.index("<!-- bench_twins:cuda:start -->")
    assert cpu_block.group(0) in text  # the device block is untouched
    assert "### CPU, 2026-12-02: the variants\n" in text
    # per call: 1024 ms vs 1280 ms a step (0.80), 1000 vs 2000 ms a generate call, 300 vs 400 MiB
    row = "| ctrl | CTRLLMHeadModel | 1,024 / 1,280 | 0.80 | 1,000 / 2,000 (64 new tokens) | 0.50 | 300 / 400 | 0.75 |"
    assert row in text


def test_results_block_names_are_checked():
    with pytest.raises(SystemExit):
        bench_twins.parse_args(["--results-block", "CPU variants"])
    assert bench_twins.parse_args(["--results-block", "cpu-variants"]).results_block == "cpu-variants"


def test_check_logits_fails_loudly_on_different_weights():
    twin, shape = fams.twin_named("gpt2"), fams.SMOKE
    hf = fams.build_hf(twin, shape)
    ours = bench_twins.convert_from_hf(hf)
    batch = fams.train_batch(twin, shape, torch.device("cpu"))
    assert bench_twins.check_logits(ours, hf, batch, 1e-4, "gpt2") <= 1e-4
    with torch.no_grad():
        ours.lm_head.weight.add_(0.1 * torch.randn_like(ours.lm_head.weight))
    with pytest.raises(bench_twins.LogitMismatch, match=r"gpt2: converted model's logits differ from "
                                                        r"GPT2LMHeadModel's by .* above the tolerance 1e-04"):
        bench_twins.check_logits(ours, hf, batch, 1e-4, "gpt2")


def test_main_stops_before_timing_when_logits_differ(monkeypatch, capsys):
    def broken(model):
        converted = bench_twins_convert(model)
        with torch.no_grad():
            converted.lm_head.weight.mul_(1.5)
        return converted

    bench_twins_convert = bench_twins.convert_from_hf
    monkeypatch.setattr(bench_twins, "convert_from_hf", broken)
    threads = torch.get_num_threads()
    try:
        code = bench_twins.main(["bench_twins.py", "--smoke", "--families", "gpt2", "--out", "/dev/null"])
    finally:
        torch.set_num_threads(threads)
    assert code == 3
    assert "logits differ from GPT2LMHeadModel's" in capsys.readouterr().err


def test_smoke_numbers_never_become_results(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(BENCH, "bench_twins.py"), "--smoke", "--update-results"],
                          env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--smoke numbers are not results" in proc.stderr
    saved = tmp_path / "smoke.json"
    saved.write_text(json.dumps(dict(_report(), schema=bench_twins.SCHEMA, smoke=True)))
    results = tmp_path / "RESULTS.md"
    results.write_text("# r\n")
    assert bench_twins.main(["b", "--from-json", str(saved), "--update-results", str(results)]) == 2
    assert results.read_text() == "# r\n"


# --- issue 10's variants ----------------------------------------------------------------------------------------

def test_variants_group_names_the_issue_10_rows():
    assert [t.name for t in fams.twins_named("variants")] == list(VARIANTS)
    assert [t.name for t in fams.twins_named("ctrl, variants,gpt2")] == ["ctrl", "albert", "roberta", "pegasus",
                                                                         "electra", "gpt2"]
    with pytest.raises(ValueError, match=r"unknown family 'xlnet'.* and the groups variants"):
        fams.twins_named("variants,xlnet")


@pytest.mark.parametrize("name", VARIANTS)
def test_variant_rows_convert_exactly_and_give_the_same_loss(name):
    twin = fams.twin_named(name)
    shape = twin.shape("smoke")
    hf = fams.build_hf(twin, shape)
    assert type(hf).__name__ == twin.hf_class
    ours = bench_twins.convert_from_hf(hf)
    batch = fams.train_batch(twin, shape, torch.device("cpu"))
    if twin.kind == "mlm-sop":
        assert "sentence_order_label" in batch and "next_sentence_label" not in batch
    if twin.kind == "rtd":
        assert set(batch["labels"].unique().tolist()) == {0, 1}  # one replaced / original label per token
    assert bench_twins.check_logits(ours, hf, batch, 1e-5, name) <= 1e-5
    with torch.no_grad():
        assert ours(**batch).loss.item() == pytest.approx(hf(**batch).loss.item(), rel=1e-5)


def test_check_logits_compares_albert_sentence_order_logits():
    twin = fams.twin_named("albert")
    hf = fams.build_hf(twin, twin.shape("smoke"))
    ours = bench_twins.convert_from_hf(hf)
    batch = fams.train_batch(twin, twin.shape("smoke"), torch.device("cpu"))
    with torch.no_grad():
        ours.next_sentence_head.bias.add_(1.0)  # only the SOP logits change
    with pytest.raises(bench_twins.LogitMismatch, match=r"seq_relationship_logits / sop_logits"):
        bench_twins.check_logits(ours, hf, batch, 1e-4, "albert")


@pytest.fixture(scope="module")
def variants_smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("variants") / "variants.json"
    threads = torch.get_num_threads()
    try:
        # one thread: tiny matmuls gain nothing from two, and two spin against other jobs on a shared machine
        code = bench_twins.main(["bench_twins.py", "--smoke", "--families", "variants", "--threads", "1",
                                 "--out", str(out)])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    with open(out) as f:
        return json.load(f)


def test_variants_smoke_run_measures_every_row(variants_smoke):
    report = variants_smoke
    assert [f["family"] for f in report["families"]] == list(VARIANTS)
    assert [f["hf_class"] for f in report["families"]] == [
        "AlbertForPreTraining", "RobertaForMaskedLM", "CTRLLMHeadModel", "PegasusForConditionalGeneration",
        "ElectraForPreTraining"]
    assert all(f["logits_match"] for f in report["families"])
    expected = [(f, "train", "eager") for f in VARIANTS]
    for f in ("ctrl", "pegasus"):
        expected += [(f, "greedy b1", "dynamic"), (f, "greedy b1", "static"), (f, "greedy b3", "dynamic"),
                     (f, "greedy b3", "static"), (f, "beam4 b2", "dynamic")]
    rows = report["rows"]
    assert sorted((r["family"], r["workload"], r["mode"]) for r in rows) == sorted(expected)
    assert all(r["ok"] and r["ours_median_s"] > 0 and r["twin_median_s"] > 0 for r in rows), rows
    assert all(r["same_tokens"] is True for r in rows if r["workload"] != "train")
    table = "\n".join(twins_report.time_table(rows, report["families"]))
    assert "| electra | ElectraForPreTraining |" in table and "(4 new tokens)" in table


# --- scripts/gpu_check.sh -----------------------------------------------------------------------------------------

def _gpu_check(tmp_path, *args, **env):
    full = dict(ENV, PYTHON=sys.executable, OUT=str(tmp_path / "out"), **env)
    return subprocess.run(["bash", os.path.join(ROOT, "scripts", "gpu_check.sh"), *args], env=full,
                          capture_output=True, text=True, timeout=900)


def test_gpu_check_fails_fast_without_cuda(tmp_path):
    start = time.monotonic()
    proc = _gpu_check(tmp_path)
    assert proc.returncode == 2
    assert "gpu_check.sh: no CUDA device: torch.cuda.is_available() is False" in proc.stderr
    assert time.monotonic() - start < 60
    assert not (tmp_path / "out").exists()  # nothing installed, built or written


def test_gpu_check_rejects_an_unknown_phase(tmp_path):
    proc = _gpu_check(tmp_path, "benchmark")
    assert proc.returncode == 64 and "unknown phase 'benchmark'; use all, bench or translate" in proc.stderr


def test_gpu_check_names_missing_training_data(tmp_path):
    proc = _gpu_check(tmp_path, "translate", GPU_CHECK_REHEARSAL="1", TRAIN_DATA=str(tmp_path / "none"))
    assert proc.returncode == 4
    assert f"translation skipped: not carried: {tmp_path / 'none'}/train.jsonl" in proc.stderr


@pytest.mark.slow
def test_gpu_check_rehearses_the_translation_on_cpu(tmp_path):
    from fixtures.helpers import TINY, path, tokenizers

    data = tmp_path / "ko_en"
    data.mkdir()
    shutil.copy(path("ko_en_train.jsonl"), data / "train.jsonl")
    shutil.copy(path("ko_en_validation.jsonl"), data / "validation.jsonl")
    shutil.copy(path("ko_en_validation.jsonl"), data / "test.jsonl")
    extra = (f"--config_overrides {TINY} --max_source_length 32 --max_target_length 32 --generation_max_length 32 "
             "--per_device_train_batch_size 4 --generation_num_beams 1 --dataloader_num_workers 0 --warmup_steps 10")
    proc = _gpu_check(tmp_path, "translate", GPU_CHECK_REHEARSAL="1", TRAIN_DATA=str(data),
                      TRAIN_TOKENIZER=tokenizers()["translation"], TRAIN_BUDGET_S="2", TRAIN_EXTRA=extra)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(tmp_path / "out" / "translation.json") as f:
        summary = json.load(f)
    assert summary["stopped_by_budget"] is True and summary["steps"] > 0  # --max_steps 1000000 was not reached
    assert {"test_bleu", "test_chrf", "eval_bleu"} <= set(summary["metrics"])
    assert [s["source"] for s in summary["samples"]][0] == "투빅아, 나는 너를 많이 사랑해."
    assert len(summary["samples"]) == 3
    assert (tmp_path / "out" / "translation" / "metrics.json").is_file()
    assert "tobigs_transformer" in (tmp_path / "out" / "env.txt").read_text()
