"""Transformer-XL generation with a fixed memory (issue 21): what decoding recomputes at every step, and what it now
computes once per generate call, kept with the cache.

`generate(prompt, mems=context)` attends at every step over [memory; cache]. Two projections need not be redone at
each step: the memory's W^K, W^V (the memory is the same tensor at every step: `memory.projected_memory`), and
W_{k,R} R_d of every distance d (each step needs one more distance than the step before:
`RelativeMultiHeadAttention.projected_encodings`, a table grown by doubling). Three arms on the same weights, prompt
and memory, interleaved in one process, which must give identical tokens:

    before          both projected again at every step (the code before issue 21)
    memory kept     the memory's keys/values kept, every distance projected again at each step
    after           both kept

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
from tobigs_transformer.model.relative_attention import RelativeMultiHeadAttention


def reproject_every_step(cache, layer_idx, memory, project, parameters):
    """The code before: the memory's keys/values computed again at every call."""
    return project(memory)


def every_distance_every_step(self, encodings, dropped, cache):
    """The code before: W_{k,R} R_d of every distance computed again at every call."""
    return self.position_proj(encodings)


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
    kept_encodings = RelativeMultiHeadAttention.projected_encodings
    arms = {"before": "memory and every distance projected again at every step (before)",
            "memory_kept": "memory projected once per generate, every distance at every step",
            "after": "memory and distances projected once per generate (after)"}

    def run(arm: str):
        layers.projected_memory = kept_projection if arm != "before" else reproject_every_step
        RelativeMultiHeadAttention.projected_encodings = (kept_encodings if arm == "after"
                                                          else every_distance_every_step)
        try:
            start = time.perf_counter()
            tokens = model.generate(prompt, **kwargs)
            return time.perf_counter() - start, tokens
        finally:
            layers.projected_memory = kept_projection
            RelativeMultiHeadAttention.projected_encodings = kept_encodings

    run("after")  # warm-up (short runs would be dominated by it)
    times = {arm: [] for arm in arms}
    outputs = {}
    loads = []
    for _ in range(args.repeats):
        for arm in arms:
            seconds, outputs[arm] = run(arm)
            times[arm].append(seconds)
            loads.append(os.getloadavg()[0])
    identical = all(torch.equal(outputs["before"], outputs[arm]) for arm in arms)
    rows = []
    for arm, label in arms.items():
        seconds = statistics.median(times[arm])
        rows.append({"arm": arm, "label": label, "seconds": seconds, "tokens_per_s": args.new_tokens / seconds,
                     "runs_s": times[arm], "speedup_vs_before": statistics.median(times["before"]) / seconds})
    speedup = rows[-1]["speedup_vs_before"]
    result = {
        "date": time.strftime("%Y-%m-%d", time.gmtime()), "machine": machine(), "threads": args.threads,
        "load_1min": loads, "torch": torch.__version__, "transformers": transformers.__version__,
        "settings": vars(args), "identical_tokens": identical, "rows": rows, "speedup": speedup,
    }
    print(f"Transformer-XL generate, d_model {args.d_model}, {args.layers} layers, mem_len {args.mem_len} (a full "
          f"memory), prompt {args.prompt}, {args.new_tokens} new tokens greedy, {args.threads} thread(s), median of "
          f"{args.repeats} interleaved runs; 1-min load during the runs: {min(loads):.2f}-{max(loads):.2f}")
    print("\n| arm | seconds | tokens/s | speed-up vs before |\n|---|---|---|---|")
    for row in rows:
        print(f"| {row['label']} | {row['seconds']:.2f} | {row['tokens_per_s']:.1f} | "
              f"{row['speedup_vs_before']:.2f}x |")
    print(f"\nspeed-up {speedup:.2f}x; identical tokens: {identical}")
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    if not identical:
        raise SystemExit("the arms generated different tokens")
    return result


if __name__ == "__main__":
    main()
