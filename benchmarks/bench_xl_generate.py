"""Transformer-XL generation with a fixed memory (issue 21): the memory's keys/values projected once per generate
(kept with the cache, `memory.projected_memory`) against projected again at every decode step (the code before).

`generate(prompt, mems=context)` attends at every step over [memory; cache]. The memory is the same tensor at every
step, so its W^K, W^V projection (B x M x d_model x 2 d_model multiply-adds per layer) need only be done once. "before"
runs the same model with `projected_memory` replaced by a plain call of the projection (exactly the earlier code path);
both arms run interleaved in one process on the same weights, prompt and memory, and must give identical tokens.

    python benchmarks/bench_xl_generate.py                      # table + benchmarks/results_xl_generate_cpu.json
    python benchmarks/bench_xl_generate.py --new_tokens 64 --repeats 1   # seconds
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch
import transformers

from tobigs_transformer import TobigsConfig, TobigsForCausalLM
from tobigs_transformer.experiments.common import machine
from tobigs_transformer.model import layers


def reproject_every_step(cache, layer_idx, memory, project, parameters):
    """The code before: the memory's keys/values computed again at every call."""
    return project(memory)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--d_model", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--mem_len", type=int, default=512)
    parser.add_argument("--prompt", type=int, default=16)
    parser.add_argument("--new_tokens", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2, help="runs per arm, interleaved; the median is reported")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default="benchmarks/results_xl_generate_cpu.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = TobigsConfig.from_preset(
        "transformer-xl", vocab_size=args.vocab, d_model=args.d_model, decoder_layers=args.layers,
        decoder_attention_heads=args.heads, decoder_ffn_dim=4 * args.d_model, mem_len=args.mem_len, dropout=0.0,
        activation_dropout=0.0, bos_token_id=0, eos_token_id=0,
    )
    model = TobigsForCausalLM(config).eval()
    text = torch.randint(1, args.vocab, (1, args.mem_len + args.prompt))
    with torch.no_grad():
        context = model(text[:, :args.mem_len], use_cache=False).mems  # a full memory of mem_len tokens
    prompt = text[:, args.mem_len:]
    kwargs = dict(attention_mask=torch.ones_like(prompt), mems=context, max_new_tokens=args.new_tokens,
                  min_new_tokens=args.new_tokens, do_sample=False)
    kept_projection = layers.projected_memory

    def run(arm: str):
        layers.projected_memory = kept_projection if arm == "after" else reproject_every_step
        try:
            start = time.perf_counter()
            tokens = model.generate(prompt, **kwargs)
            return time.perf_counter() - start, tokens
        finally:
            layers.projected_memory = kept_projection

    run("after")  # warm-up (short runs would be dominated by it)
    times = {"before": [], "after": []}
    outputs = {}
    loads = []
    for _ in range(args.repeats):
        for arm in ("before", "after"):
            seconds, outputs[arm] = run(arm)
            times[arm].append(seconds)
            loads.append(os.getloadavg()[0])
    identical = torch.equal(outputs["before"], outputs["after"])
    rows = []
    for arm, label in (("before", "memory re-projected every step (before)"),
                       ("after", "memory projected once per generate (after)")):
        seconds = statistics.median(times[arm])
        rows.append({"arm": arm, "label": label, "seconds": seconds, "tokens_per_s": args.new_tokens / seconds,
                     "runs_s": times[arm]})
    speedup = rows[0]["seconds"] / rows[1]["seconds"]
    result = {
        "date": time.strftime("%Y-%m-%d", time.gmtime()), "machine": machine(), "threads": args.threads,
        "load_1min": loads, "torch": torch.__version__, "transformers": transformers.__version__,
        "settings": vars(args), "identical_tokens": identical, "rows": rows, "speedup": speedup,
    }
    print(f"Transformer-XL generate, d_model {args.d_model}, {args.layers} layers, mem_len {args.mem_len} (a full "
          f"memory), prompt {args.prompt}, {args.new_tokens} new tokens greedy, {args.threads} thread(s), median of "
          f"{args.repeats} interleaved runs; 1-min load during the runs: {min(loads):.2f}-{max(loads):.2f}")
    print("\n| arm | seconds | tokens/s |\n|---|---|---|")
    for row in rows:
        print(f"| {row['label']} | {row['seconds']:.2f} | {row['tokens_per_s']:.1f} |")
    print(f"\nspeed-up {speedup:.2f}x; identical tokens: {identical}")
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    if not identical:
        raise SystemExit("the two arms generated different tokens")
    return result


if __name__ == "__main__":
    main()
