"""Training speed and peak memory of adaptive input + adaptive softmax against the full softmax at WikiText-103's
vocabulary (267,735 words).

Issue 21 item 3. One small decoder-only model (Transformer-XL's relative attention, d_model 256, 2 layers, 4 heads,
d_ff 1024, no memory) in four versions that differ only in the vocabulary's two ends:

    full-plain      one tied 267,735 x 256 table and the full softmax, config.loss_chunk_size=0 (full logits)
    full-chunked    the same with the chunked loss (`chunked_loss.py`, no (tokens x vocab) logits)
    adaptive        adaptive input and softmax as the authors' WT103 large model: cutoffs [20000, 40000, 200000],
                    div_val 4 (widths 256/64/16/4), tables and tail projections tied (tie_projs
                    [False, True, True, True]); loss per cluster, loss_chunk_size=0
    adaptive-chunked  the same, the head computed `--chunk` tokens at a time and recomputed in backward

Speed: training tokens/s of one step (forward + backward + AdamW), the four versions timed interleaved in one process
(`twins_measure.time_interleaved`: first call alone, warm-up, then alternating order, median). Memory: the rise of the
peak resident set size during one step after a warm-up step, each version in a fresh process
(`twins_measure.cpu_step_rise_mib`, as bench_twins.py and bench_chunked_loss.py measure CPU peaks).

    nice -n 10 .venv/bin/python benchmarks/bench_adaptive_softmax.py [--batch 8 --length 128 --chunk 256]
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
import twins_measure as measure  # noqa: E402

SIDES = ("full-plain", "full-chunked", "adaptive", "adaptive-chunked")
WT103_VOCAB, WT103_CUTOFFS = 267735, [20000, 40000, 200000]


def build(side: str, chunk: int):
    from tobigs_transformer import TobigsConfig, TobigsForCausalLM

    adaptive = side.startswith("adaptive")
    settings = dict(vocab_size=WT103_VOCAB, d_model=256, decoder_layers=2, decoder_attention_heads=4,
                    decoder_ffn_dim=1024, mem_len=0, dropout=0.0, max_position_embeddings=512,
                    loss_chunk_size=chunk if side.endswith("chunked") else 0)
    if adaptive:
        settings.update(adaptive_input=True, adaptive_softmax=True, cutoffs=WT103_CUTOFFS, div_val=4,
                        tie_projs=[False, True, True, True])
    torch.manual_seed(0)
    return TobigsForCausalLM(TobigsConfig.from_preset("transformer-xl", **settings))


def batch(batch_size: int, length: int) -> dict:
    """Zipf-distributed ids (p(rank r) ~ 1/r, as word frequencies; ids sorted by frequency as the cutoffs assume),
    a fixed draw for every version: most tokens fall in the head cluster, as in text."""
    generator = torch.Generator().manual_seed(0)
    zipf = 1.0 / torch.arange(1, WT103_VOCAB + 1, dtype=torch.float64)
    ids = torch.multinomial(zipf, batch_size * length, replacement=True, generator=generator)
    ids = ids.reshape(batch_size, length)
    return {"input_ids": ids, "labels": ids}


def probe(side: str, args) -> None:
    """In this fresh process: one model, one warm-up step, then the peak RSS rise of one step (printed as JSON)."""
    model = build(side, args.chunk)
    step, _ = measure.train_step_fn(model, batch(args.batch, args.length), torch.device("cpu"), compiled=False,
                                    autocast_dtype=None)
    step()
    print(measure.PROBE_TAG + json.dumps({"peak_rise_mib": measure.cpu_step_rise_mib(step)}), flush=True)


def one_minute_load() -> float:
    return os.getloadavg()[0]


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), else what platform knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--chunk", type=int, default=256, help="loss_chunk_size of the chunked versions")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results_adaptive_softmax_cpu.json"))
    parser.add_argument("--probe", default=None, help=argparse.SUPPRESS)  # internal: SIDE
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.probe:
        probe(args.probe, args)
        return
    load_before = one_minute_load()
    models = {side: build(side, args.chunk) for side in SIDES}
    data = batch(args.batch, args.length)
    steps = {}
    for side, model in models.items():
        steps[side], _ = measure.train_step_fn(model, data, torch.device("cpu"), compiled=False, autocast_dtype=None)
    timing = measure.time_interleaved(steps, warmup=1, repeats=args.repeats, device=torch.device("cpu"))
    losses = {side: float(steps[side]()) for side in SIDES}
    parameters = {side: sum(p.numel() for p in model.parameters()) for side, model in models.items()}
    del models, steps
    memory = {}
    for side in SIDES:
        cmd = [sys.executable, os.path.abspath(__file__), "--probe", side, "--batch", str(args.batch), "--length",
               str(args.length), "--chunk", str(args.chunk), "--threads", str(args.threads)]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        lines = [line for line in out.stdout.splitlines() if line.startswith(measure.PROBE_TAG)]
        if out.returncode != 0 or not lines:
            raise RuntimeError(f"probe {side} failed:\n{out.stderr[-2000:]}")
        memory[side] = json.loads(lines[-1][len(measure.PROBE_TAG):])["peak_rise_mib"]
    tokens = args.batch * args.length
    rows = [{"side": side, "parameters": parameters[side], "step_s": timing[side]["median_s"],
             "tokens_per_s": tokens / timing[side]["median_s"], "peak_rise_mib": memory[side],
             "loss_after_steps": losses[side]} for side in SIDES]
    print(f"{'version':<17} {'params':>11} {'step s':>8} {'tokens/s':>9} {'peak MiB':>9}")
    for r in rows:
        print(f"{r['side']:<17} {r['parameters']:>11,} {r['step_s']:>8.3f} {r['tokens_per_s']:>9.0f} "
              f"{r['peak_rise_mib']:>9.0f}")
    load_after = one_minute_load()
    print(f"1-minute load average: {load_before:.2f} before, {load_after:.2f} after")
    with open(args.out, "w") as f:
        json.dump({"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                   "machine": f"{cpu_name()}, {os.cpu_count()} cores",
                   "threads": args.threads, "torch": torch.__version__,
                   "load_1min": [load_before, load_after],
                   "command": " ".join(["benchmarks/bench_adaptive_softmax.py", *sys.argv[1:]]),
                   "shape": {"batch": args.batch, "length": args.length, "chunk": args.chunk, "vocab": WT103_VOCAB,
                             "cutoffs": WT103_CUTOFFS, "div_val": 4, "d_model": 256, "layers": 2},
                   "memory_method": measure.MEMORY_METHOD["cpu"], "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
