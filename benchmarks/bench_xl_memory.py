"""Transformer-XL's evaluation cost (issue 11): segment by segment with memory, each segment's attention is
O(segment x (segment + mem_len)) per layer, so the time per token stays flat as the evaluated text grows; one forward
over the whole text (what a GPT without memory must do to see the same context) grows with its length.

Rows, for texts of growing length (same weights, eval mode, no gradient):
  - `xl segments + memory`: our Transformer-XL, `--segment` tokens at a time, `mems` fed back;
  - `xl one forward`: the same model over the whole text at once (the context a full-attention model pays for);
  - `transformers GPT2LMHeadModel, one forward`: the transformers model of the same width/depth over the whole text.
transformers v5 has no Transformer-XL class (TransfoXL was removed), so the twin is GPT-2 of the same shape; the
ratio column is (per-token time at this length) / (per-token time at the shortest length).

    python benchmarks/bench_xl_memory.py                    # table + benchmarks/results_xl_memory_cpu.json
    python benchmarks/bench_xl_memory.py --lengths 256 512 --repeats 1   # seconds
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import transformers

from tobigs_transformer import TobigsConfig, TobigsForCausalLM
from tobigs_transformer.experiments.common import machine


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096])
    parser.add_argument("--segment", type=int, default=128)
    parser.add_argument("--mem_len", type=int, default=128)
    parser.add_argument("--d_model", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default="benchmarks/results_xl_memory_cpu.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    longest = max(args.lengths)
    config = TobigsConfig.from_preset(
        "transformer-xl", vocab_size=args.vocab, d_model=args.d_model, decoder_layers=args.layers,
        decoder_attention_heads=args.heads, decoder_ffn_dim=4 * args.d_model, mem_len=args.mem_len, dropout=0.0,
        bos_token_id=0, eos_token_id=0,
    )
    xl = TobigsForCausalLM(config).eval()
    gpt2 = transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=args.vocab, n_embd=args.d_model, n_layer=args.layers, n_head=args.heads, n_positions=longest,
        attn_implementation="sdpa",
    )).eval()
    text = torch.randint(0, args.vocab, (1, longest))

    def segments(length: int):
        mems = None
        for start in range(0, length, args.segment):
            mems = xl(text[:, start:start + args.segment], mems=mems, use_cache=False).mems

    rows = []
    with torch.inference_mode():
        for length in args.lengths:
            row = {"length": length}
            row["xl_segments_ms_per_token"] = 1e3 * timed(lambda: segments(length), args.repeats) / length
            row["xl_one_forward_ms_per_token"] = 1e3 * timed(
                lambda: xl(text[:, :length], use_cache=False), args.repeats) / length
            row["gpt2_one_forward_ms_per_token"] = 1e3 * timed(
                lambda: gpt2(text[:, :length], use_cache=False), args.repeats) / length
            rows.append(row)
            print(f"length {length}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items() if k != "length"),
                  flush=True)
    base = rows[0]
    header = ("| tokens evaluated | XL, segments + memory (ms/token) | ratio to shortest | XL, one forward | ratio | "
              "transformers GPT2LMHeadModel, one forward | ratio |")
    lines = [header, "|" + "---|" * 7]
    for row in rows:
        cells = [str(row["length"])]
        for key in ("xl_segments_ms_per_token", "xl_one_forward_ms_per_token", "gpt2_one_forward_ms_per_token"):
            cells += [f"{row[key]:.3f}", f"{row[key] / base[key]:.2f}x"]
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    result = {
        "machine": machine(),
        "shape": {k: getattr(args, k) for k in ("d_model", "layers", "heads", "vocab", "segment", "mem_len")},
        "repeats": args.repeats, "rows": rows, "table": table,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
