"""Fault table of the twin benchmark and the GPU visit's scripts (benchmarks/bench_twins.py, twins_*.py,
gpu_translation.py): a bad family, device, result file, saved run or budget fails at once with a message naming
the bad value and the limit, and converted weights whose logits differ stop the run before anything is timed."""

import json
import os
import sys
import tempfile

import pytest
import torch
from faults.fault_case import Fault, check, params

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "benchmarks")
if BENCH not in sys.path:
    sys.path.insert(0, BENCH)

import bench_twins  # noqa: E402
import gpu_translation  # noqa: E402
import twins_families as fams  # noqa: E402
import twins_report  # noqa: E402


def _perturbed_pair():
    twin, shape = fams.twin_named("gpt2"), fams.SMOKE
    hf = fams.build_hf(twin, shape)
    ours = bench_twins.convert_from_hf(hf)
    with torch.no_grad():
        ours.lm_head.weight.mul_(2.0)
    return ours, hf, fams.train_batch(twin, shape, torch.device("cpu"))


def _check_perturbed():
    ours, hf, batch = _perturbed_pair()
    bench_twins.check_logits(ours, hf, batch, 1e-4, "gpt2")


def _results_without_markers():
    tmp = os.path.join(tempfile.mkdtemp(prefix="bench-fault-"), "RESULTS.md")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"# Results\n\n{twins_report.SECTION_TITLE}\n\nmarkers removed by hand\n")
    twins_report.update_results(tmp, {"device": {"type": "cpu"}})


def _saved_run_with_schema(schema):
    tmp = os.path.join(tempfile.mkdtemp(prefix="bench-fault-"), "run.json")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"schema": schema}, f)
    bench_twins.from_json(tmp, None)


FAULTS = [
    Fault(id="bench-unknown-family", action=lambda: bench_twins.selected_twins("gpt3", "cpu"), error=ValueError,
          needles=("'gpt3'", "gpt2, bert, bart, marian"),
          guarantee="--families names a row of the twin table, and the error lists the rows there are"),
    Fault(id="bench-family-without-sizes", action=lambda: bench_twins.selected_twins("gpt2-32k", "gpu"),
          error=ValueError, needles=("gpt2-32k", "'gpu'"),
          guarantee="a family is benchmarked only at sizes its row defines for the chosen profile"),
    Fault(id="bench-cuda-unavailable", action=lambda: bench_twins.pick_device("cuda"), error=ValueError,
          needles=("--device cuda", "torch.cuda.is_available() is False"),
          guarantee="asking for CUDA where there is none fails at once instead of timing the CPU",
          marks=(pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA"),)),
    Fault(id="bench-unknown-device", action=lambda: bench_twins.pick_device("tpu"), error=ValueError,
          needles=("'tpu'", "auto, cpu or cuda"), guarantee="--device takes auto, cpu or cuda only"),
    Fault(id="bench-logits-differ", action=_check_perturbed, error=bench_twins.LogitMismatch,
          needles=("GPT2LMHeadModel", "above the tolerance 1e-04"),
          guarantee="a converted model whose logits differ from its twin's stops the benchmark before any timing"),
    Fault(id="bench-results-file-missing",
          action=lambda: twins_report.update_results("/nonexistent/RESULTS.md", {"device": {"type": "cpu"}}),
          error=FileNotFoundError, needles=("/nonexistent/RESULTS.md",),
          guarantee="--update-results never creates a results file in the wrong place"),
    Fault(id="bench-results-markers-missing", action=_results_without_markers, error=ValueError,
          needles=("RESULTS.md", "<!-- bench_twins:cpu:start -->"),
          guarantee="a RESULTS.md whose markers were removed is not overwritten past its section; the error "
                    "names the file and the marker to restore"),
    Fault(id="bench-saved-run-missing", action=lambda: bench_twins.from_json("/nonexistent/run.json", None),
          error=FileNotFoundError, needles=("/nonexistent/run.json",),
          guarantee="--from-json names the saved run it could not find"),
    Fault(id="bench-saved-run-schema", action=lambda: _saved_run_with_schema("bench_models/0"), error=ValueError,
          needles=("'bench_models/0'", bench_twins.SCHEMA),
          guarantee="--from-json reads only this script's JSON schema and names the one it found"),
    Fault(id="bench-repeats-below-one",
          action=lambda: __import__("twins_measure").time_interleaved({"a": lambda: None}, 0, 0,
                                                                      torch.device("cpu")),
          error=ValueError, needles=("repeats must be at least 1", "got 0"),
          guarantee="a median needs at least one timed call per side"),
    Fault(id="bench-translation-budget", action=lambda: gpu_translation.TimeBudget(0), error=ValueError,
          needles=("must be positive", "got 0"),
          guarantee="the GPU translation run's time budget is a positive number of seconds"),
    Fault(id="bench-translation-output-dir", action=lambda: gpu_translation._output_dir(["--preset", "x"]),
          error=ValueError, needles=("--output_dir",),
          guarantee="the GPU translation run names the missing --output_dir its summary is read from"),
]


@pytest.mark.parametrize("fault", params(FAULTS))
def test_fault(fault):
    check(fault)
