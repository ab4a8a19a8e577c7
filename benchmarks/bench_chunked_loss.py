"""Peak memory of one training step: the chunked LM-head loss against the plain path and the transformers twin.

Issue 14 item 2. The same model (a transformers GPT-2 / BART with random weights, converted) is measured three ways,
each in a fresh Python process so one side's freed pages cannot hide another's allocations:

    twin     the transformers model itself (full logits, its own loss)
    plain    ours with config.loss_chunk_size=0 (full logits, token_cross_entropy)
    chunked  ours with the default config.loss_chunk_size (no (tokens x vocab) logits are built)

The number is the rise of the peak resident set size during one step (forward + backward + AdamW) after a warm-up
step (`twins_measure.cpu_step_rise_mib`). Sizes: the `cpu` profile rows of `twins_families.py` at vocabulary 32k.

    .venv/bin/python benchmarks/bench_chunked_loss.py [--families gpt2-32k,bart-32k] [--out JSON]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import twins_families as fams  # noqa: E402
import twins_measure as measure  # noqa: E402

SIDES = ("twin", "plain", "chunked")


def probe(family: str, side: str) -> None:
    """In this fresh process: one model, one warm-up step, then the peak RSS rise of one step (printed as JSON)."""
    from tobigs_transformer.convert import convert_from_hf

    twin = fams.twin_named(family)
    shape = twin.shape("cpu")
    model = fams.build_hf(twin, shape)
    if side != "twin":
        model = convert_from_hf(model)
        if side == "plain":
            model.config.loss_chunk_size = 0
    model.train()
    step, _ = measure.train_step_fn(model, fams.train_batch(twin, shape, torch.device("cpu")), torch.device("cpu"),
                                    compiled=False, autocast_dtype=None)
    step()
    print(measure.PROBE_TAG + json.dumps({"peak_rise_mib": measure.cpu_step_rise_mib(step)}), flush=True)


def run(families: list[str], threads: int) -> list[dict]:
    rows = []
    for family in families:
        row = {"family": family, "shape": str(fams.twin_named(family).shape("cpu"))}
        for side in SIDES:
            cmd = [sys.executable, os.path.abspath(__file__), "--probe", f"{family}:{side}", "--threads", str(threads)]
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
            lines = [line for line in out.stdout.splitlines() if line.startswith(measure.PROBE_TAG)]
            if out.returncode != 0 or not lines:
                raise RuntimeError(f"probe {family}:{side} failed:\n{out.stderr[-2000:]}")
            row[side] = json.loads(lines[-1][len(measure.PROBE_TAG):])["peak_rise_mib"]
        row["chunked/twin"] = row["chunked"] / row["twin"]
        row["chunked/plain"] = row["chunked"] / row["plain"]
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="gpt2-32k,bart-32k", help="rows of twins_families.TWINS")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results_chunked_loss_cpu.json"))
    parser.add_argument("--probe", default=None, help=argparse.SUPPRESS)  # internal: FAMILY:SIDE
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.probe:
        family, _, side = args.probe.partition(":")
        if side not in SIDES:
            raise SystemExit(f"--probe takes FAMILY:{'|'.join(SIDES)}, got {args.probe!r}")
        probe(family, side)
        return
    rows = run(args.families.split(","), args.threads)
    print(f"{'family':<10} {'twin MiB':>9} {'plain MiB':>10} {'chunked MiB':>12} {'chunked/twin':>13} {'chunked/plain':>14}")
    for r in rows:
        print(f"{r['family']:<10} {r['twin']:>9.0f} {r['plain']:>10.0f} {r['chunked']:>12.0f} "
              f"{r['chunked/twin']:>13.2f} {r['chunked/plain']:>14.2f}")
    with open(args.out, "w") as f:
        json.dump({"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                   "machine": platform.processor() or platform.machine(), "threads": args.threads,
                   "torch": torch.__version__, "command": " ".join(["benchmarks/bench_chunked_loss.py", *sys.argv[1:]]),
                   "method": measure.MEMORY_METHOD["cpu"], "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
