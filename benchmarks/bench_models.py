"""Side-by-side CPU benchmark: our models vs the transformers class of the same shape, in one process.

Measures (median of interleaved repeats, so both models see the same machine state):
  - train step: forward + backward + AdamW step, fp32;
  - greedy generate: fixed number of new tokens (EOS suppressed), batch 1 and batch 8, dynamic cache.
Prints a table and writes JSON. Usage:
    python benchmarks/bench_models.py [--quick] [--out benchmarks/results_models.json]
"""

import argparse
import json
import platform
import statistics
import time
from datetime import date

import torch
from transformers import BartConfig, BartForConditionalGeneration, GPT2Config, GPT2LMHeadModel

from tobigs_transformer import TobigsConfig, TobigsForCausalLM, TobigsForConditionalGeneration

VOCAB = 8192


def gpt2_pair(width: int, layers: int, heads: int, positions: int):
    ours = TobigsForCausalLM(TobigsConfig.from_preset(
        "gpt2", vocab_size=VOCAB, d_model=width, decoder_layers=layers, decoder_attention_heads=heads,
        decoder_ffn_dim=4 * width, max_position_embeddings=positions, bos_token_id=0, eos_token_id=0, pad_token_id=1,
    ))
    theirs = GPT2LMHeadModel(GPT2Config(
        vocab_size=VOCAB, n_embd=width, n_layer=layers, n_head=heads, n_positions=positions, bos_token_id=0,
        eos_token_id=0, pad_token_id=1,
    ))
    return ours, theirs


def bart_pair(width: int, layers: int, heads: int, positions: int):
    sizes = dict(encoder_layers=layers, decoder_layers=layers, encoder_attention_heads=heads,
                 decoder_attention_heads=heads, encoder_ffn_dim=4 * width, decoder_ffn_dim=4 * width,
                 max_position_embeddings=positions)
    ours = TobigsForConditionalGeneration(TobigsConfig.from_preset("bart-base", vocab_size=VOCAB, d_model=width, **sizes))
    # BartConfig's defaults drop out less than bart-base does: give it our preset's dropouts so both do the same work.
    dropouts = {k: ours.config.to_dict()[k] for k in ("dropout", "attention_dropout", "activation_dropout")}
    theirs = BartForConditionalGeneration(BartConfig(vocab_size=VOCAB, d_model=width, **sizes, **dropouts))
    return ours, theirs


def time_interleaved(fns: dict, repeats: int) -> dict:
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def train_step_fn(model, batch):
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        optimizer.zero_grad(set_to_none=True)
        model(**batch).loss.backward()
        optimizer.step()

    step()  # warm-up
    return step


def generate_fn(model, prompt, new_tokens):
    model.eval()
    kwargs = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)

    def run():
        with torch.inference_mode():
            model.generate(prompt, attention_mask=torch.ones_like(prompt), **kwargs)

    run()
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small shapes and few repeats (a smoke run)")
    parser.add_argument("--out", default="benchmarks/results_models.json")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    width, layers, heads = (64, 2, 2) if args.quick else (256, 4, 4)
    batch, length = (4, 32) if args.quick else (8, 128)
    repeats = 3 if args.quick else 10
    new_tokens = 8 if args.quick else 64

    rows = []
    ids = torch.randint(2, VOCAB, (batch, length))
    for family, pair in (("gpt2", gpt2_pair), ("bart", bart_pair)):
        ours, theirs = pair(width, layers, heads, 2 * length)
        theirs.config._attn_implementation = "sdpa"
        if family == "gpt2":
            batch_inputs = {"input_ids": ids, "labels": ids}
        else:
            batch_inputs = {"input_ids": ids, "labels": ids.roll(1, dims=1)}
        medians = time_interleaved(
            {"ours": train_step_fn(ours, batch_inputs), "hf": train_step_fn(theirs, batch_inputs)}, repeats
        )
        rows.append(dict(workload=f"{family} train step (B={batch}, T={length})", ours_s=medians["ours"],
                         hf_s=medians["hf"]))
        for gen_batch in (1, 8):
            prompt = torch.randint(2, VOCAB, (gen_batch, 16))
            medians = time_interleaved(
                {"ours": generate_fn(ours, prompt, new_tokens), "hf": generate_fn(theirs, prompt, new_tokens)},
                max(3, repeats // 2),
            )
            rows.append(dict(workload=f"{family} greedy generate (B={gen_batch}, {new_tokens} new)",
                             ours_s=medians["ours"], hf_s=medians["hf"]))

    for row in rows:
        row["ratio_ours_over_hf"] = row["ours_s"] / row["hf_s"]
    shape = f"d_model={width}, layers={layers}(+{layers} dec for bart), heads={heads}, ffn={4 * width}, vocab={VOCAB}"
    print(f"\nCPU benchmark, {args.threads} threads, torch {torch.__version__}, shape: {shape}")
    print(f"{'workload':<44} {'ours (s)':>10} {'HF (s)':>10} {'ours/HF':>8}")
    for row in rows:
        print(f"{row['workload']:<44} {row['ours_s']:>10.4f} {row['hf_s']:>10.4f} {row['ratio_ours_over_hf']:>8.2f}")
    import transformers

    report = dict(date=str(date.today()), machine=platform.processor() or platform.machine(), threads=args.threads,
                  torch=torch.__version__, transformers=transformers.__version__, shape=shape, quick=args.quick,
                  rows=rows)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
