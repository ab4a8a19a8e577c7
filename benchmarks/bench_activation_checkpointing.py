"""What each `config.activation_checkpointing` setting costs and saves (issue 22): train-step time and peak step
memory of one encoder-decoder, every setting against `none` and against the transformers twin of the same shape.

The settings recompute part of each layer in backward instead of keeping its activations:
`ffn_activation` (W_1's activation output), `attention` (the attention sub-layer), `ffn` (the FFN sub-layer) and
`layer` (the whole layer). All give the same loss and gradients (tests/model/test_activation_checkpointing.py).

The models are the twin (built by `twins_families`) and ours converted from it, then rebuilt with each setting
and the same weights. Times: median of interleaved steps of our five models in one process (the twin's time is
bench_twins' measurement: timed beside five of ours, its large per-step allocations were slowed by the resident
models). Memory: the rise of the peak resident set size during one step after a warm-up step, each model in a
fresh process (as bench_twins' probes), the twin's included.

    python benchmarks/bench_activation_checkpointing.py                        # bart-32k: table + JSON
    python benchmarks/bench_activation_checkpointing.py --family bart --repeats 3
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import torch  # noqa: E402
import twins_families as fams  # noqa: E402
import twins_measure as measure  # noqa: E402

from tobigs_transformer.convert import convert_from_hf  # noqa: E402
from tobigs_transformer.experiments.common import machine  # noqa: E402
from tobigs_transformer.model.configuration_tobigs import ACTIVATION_CHECKPOINTING  # noqa: E402

TWIN = "twin"
CPU = torch.device("cpu")


def build(family: str, setting: str, profile: str = "cpu"):
    """The twin (setting "twin") or ours with `activation_checkpointing=setting`, same weights; and the batch."""
    twin = fams.twin_named(family)
    shape = twin.shape(profile)
    if shape is None:
        raise ValueError(f"family {family!r} has no sizes for the {profile!r} profile")
    torch.manual_seed(0)
    hf = fams.build_hf(twin, shape)
    batch = fams.train_batch(twin, shape, CPU)
    if setting == TWIN:
        return hf.train(), batch
    converted = convert_from_hf(hf)
    config = copy.deepcopy(converted.config)
    config.activation_checkpointing = setting
    model = type(converted)(config)
    model.load_state_dict(converted.state_dict())
    return model.train(), batch


def probe(family: str, setting: str, profile: str) -> None:
    """In this fresh process: one model, a warm-up step, then the peak RSS rise of one step."""
    model, batch = build(family, setting, profile)
    step, _ = measure.train_step_fn(model, batch, CPU, compiled=False, autocast_dtype=None)
    step()
    print(measure.PROBE_TAG + json.dumps({"setting": setting, "peak_rise_mib": measure.cpu_step_rise_mib(step)}))


def memory(family: str, setting: str, threads: int, profile: str) -> float | None:
    cmd = [sys.executable, __file__, "--family", family, "--threads", str(threads), "--profile", profile,
           "--probe", setting]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith(measure.PROBE_TAG))
    return json.loads(line[len(measure.PROBE_TAG):])["peak_rise_mib"]


def _ratio(value: float | None, reference: float | None) -> float | None:
    """value / reference, or None where either is unknown (no /proc counters) or the reference rose by 0 MiB."""
    return None if value is None or not reference else value / reference


def _number(value: float | None, spec: str = ".2f") -> str:
    return "–" if value is None else format(value, spec)


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", default="bart-32k", help="a seq2seq row of twins_families (default bart-32k)")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per model, interleaved")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--profile", choices=("cpu", "smoke"), default="cpu",
                        help="sizes of twins_families (smoke: tiny models, seconds; its family is 'bart')")
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    parser.add_argument("--output", default="benchmarks/results_activation_checkpointing_cpu.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.probe:
        probe(args.family, args.probe, args.profile)
        return None
    settings = [TWIN, *ACTIVATION_CHECKPOINTING]
    steps = {}
    for setting in ACTIVATION_CHECKPOINTING:
        model, batch = build(args.family, setting, args.profile)
        steps[setting] = measure.train_step_fn(model, batch, CPU, compiled=False, autocast_dtype=None)[0]
    timing = measure.time_interleaved(steps, args.warmup, args.repeats, CPU)
    peaks = {setting: memory(args.family, setting, args.threads, args.profile) for setting in settings}
    rows = []
    for setting in settings:
        ms = timing[setting]["median_s"] * 1e3 if setting in timing else None
        rows.append(dict(setting=setting, step_ms=ms, peak_mib=peaks[setting],
                         time_vs_none=None if ms is None else ms / (timing["none"]["median_s"] * 1e3),
                         memory_vs_none=_ratio(peaks[setting], peaks["none"]),
                         memory_vs_twin=_ratio(peaks[setting], peaks[TWIN])))
    shape = fams.twin_named(args.family).shape(args.profile)
    report = dict(family=args.family, profile=args.profile, shape=dict(d_model=shape.d_model, layers=shape.layers, vocab=shape.vocab,
                                                  batch=shape.batch, length=shape.length,
                                                  target_length=shape.target_length),
                  machine=machine(), threads=args.threads, repeats=args.repeats, rows=rows,
                  command="python benchmarks/bench_activation_checkpointing.py " + " ".join(argv or sys.argv[1:]))
    print(f"{args.family}: {report['shape']}; {args.threads} threads, median of {args.repeats} interleaved steps")
    print("| activation_checkpointing | step ms | time vs none | peak step MiB | memory vs none | memory vs twin |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        timed = "– | –" if r["step_ms"] is None else f"{r['step_ms']:,.0f} | {r['time_vs_none']:.2f}"
        print(f"| {r['setting']} | {timed} | {_number(r['peak_mib'], ',.0f')} | {_number(r['memory_vs_none'])} | "
              f"{_number(r['memory_vs_twin'])} |")
    with open(args.output, "w") as f:
        json.dump(report, f, indent=1)
    print(f"wrote {args.output}")
    return report


if __name__ == "__main__":
    main()
