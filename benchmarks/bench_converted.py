"""Ours vs the transformers twin with IDENTICAL weights (converted with `tobigs_transformer.convert`), on CPU.

For each family a transformers model is built at a CPU-sized shape, converted with `convert_from_hf`, checked for
equal logits, then both are timed in one process, interleaved (median of repeats, so both see the same machine state):
  - train step: forward + backward (+ zero_grad), fp32, labels given (loss included);
  - peak memory of that train step: the rise of the process's peak resident set size (VmHWM, reset through
    /proc/self/clear_refs before the step, glibc malloc_trim first) over the resident size before it: activations,
    gradients and temporaries. Linux only; "n/a" elsewhere;
  - greedy and beam (4 beams) generation of a fixed number of new tokens (EOS suppressed), dynamic cache; the
    generated tokens are compared too. BERT has no generation: its inference forward is timed instead.
Prints a table and writes JSON. Usage:
    python benchmarks/bench_converted.py [--quick] [--threads 2] [--out benchmarks/results_converted.json]
"""

import argparse
import ctypes
import gc
import json
import platform
import statistics
import time
from datetime import date

import torch
import transformers
from transformers import (
    BartConfig,
    BartForConditionalGeneration,
    BertConfig,
    BertForMaskedLM,
    GPT2Config,
    GPT2LMHeadModel,
    MarianConfig,
    MarianMTModel,
)

from tobigs_transformer.convert import convert_from_hf

VOCAB = 8192


def build_hf(family: str, width: int, layers: int, heads: int, positions: int):
    ffn = 4 * width
    if family == "gpt2":
        return GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_embd=width, n_layer=layers, n_head=heads, n_inner=ffn,
                                          n_positions=positions, bos_token_id=0, eos_token_id=0, pad_token_id=1))
    if family == "bert":
        return BertForMaskedLM(BertConfig(vocab_size=VOCAB, hidden_size=width, num_hidden_layers=layers,
                                          num_attention_heads=heads, intermediate_size=ffn,
                                          max_position_embeddings=positions))
    sizes = dict(vocab_size=VOCAB, d_model=width, encoder_layers=layers, decoder_layers=layers,
                 encoder_attention_heads=heads, decoder_attention_heads=heads, encoder_ffn_dim=ffn,
                 decoder_ffn_dim=ffn, max_position_embeddings=positions)
    if family == "bart":
        return BartForConditionalGeneration(BartConfig(**sizes))
    return MarianMTModel(MarianConfig(**sizes, decoder_vocab_size=VOCAB, scale_embedding=True,
                                      activation_function="swish", pad_token_id=VOCAB - 1,
                                      decoder_start_token_id=VOCAB - 1, eos_token_id=0))


def batch_for(family: str, batch: int, length: int) -> dict:
    ids = torch.randint(3, VOCAB - 1, (batch, length))
    if family == "gpt2":
        return {"input_ids": ids, "labels": ids}
    if family == "bert":
        labels = ids.masked_fill(torch.rand(ids.shape) > 0.15, -100)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids.roll(1, dims=1)}


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

    def step():
        model.zero_grad(set_to_none=True)
        model(**batch).loss.backward()

    step()  # warm-up
    return step


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def peak_step_mib(step) -> float | None:
    """Rise of the peak resident set size during one call of `step`, in MiB (None where Linux' counters are absent)."""
    try:
        gc.collect()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current resident size
        before = _status_kib("VmRSS")
        step()
        return (_status_kib("VmHWM") - before) / 1024
    except (OSError, KeyError):
        return None


def generate_fn(model, inputs: dict, new_tokens: int, num_beams: int, result: dict, key: str):
    model.eval()
    settings = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, num_beams=num_beams)

    def run():
        with torch.inference_mode():
            result[key] = model.generate(**inputs, **settings)

    run()
    return run


def forward_fn(model, inputs: dict):
    model.eval()

    def run():
        with torch.inference_mode():
            model(**inputs)

    run()
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small shapes and few repeats (a smoke run)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--families", default="gpt2,bert,bart,marian")
    parser.add_argument("--out", default="benchmarks/results_converted.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    width, layers, heads = (64, 2, 2) if args.quick else (256, 4, 4)
    batch, length = (4, 32) if args.quick else (8, 128)
    repeats = 3 if args.quick else 7
    new_tokens = 8 if args.quick else 32
    gen_batch, prompt_length = 4, 16

    rows = []
    for family in args.families.split(","):
        torch.manual_seed(0)
        hf = build_hf(family, width, layers, heads, 2 * length)
        hf.config._attn_implementation = "sdpa"
        ours = convert_from_hf(hf.eval())
        train_batch = batch_for(family, batch, length)
        with torch.no_grad():
            diff = (ours(**train_batch).logits - hf(**train_batch).logits).abs().max().item()
        row = dict(family=family, hf_class=type(hf).__name__, ours_class=type(ours).__name__, max_abs_logit_diff=diff)

        steps = {"ours": train_step_fn(ours, train_batch), "hf": train_step_fn(hf, train_batch)}
        medians = time_interleaved(steps, repeats)
        row.update(train_ours_s=medians["ours"], train_hf_s=medians["hf"])
        row.update(peak_ours_mib=peak_step_mib(steps["ours"]), peak_hf_mib=peak_step_mib(steps["hf"]))

        prompt = torch.randint(3, VOCAB - 1, (gen_batch, prompt_length))
        inputs = {"input_ids": prompt, "attention_mask": torch.ones_like(prompt)}
        if family == "bert":
            medians = time_interleaved({"ours": forward_fn(ours, inputs), "hf": forward_fn(hf, inputs)}, repeats)
            row.update(infer_ours_s=medians["ours"], infer_hf_s=medians["hf"])
        else:
            for label, beams in (("greedy", 1), ("beam4", 4)):
                tokens = {}
                fns = {"ours": generate_fn(ours, inputs, new_tokens, beams, tokens, "ours"),
                       "hf": generate_fn(hf, inputs, new_tokens, beams, tokens, "hf")}
                medians = time_interleaved(fns, max(3, repeats // 2))
                row.update({f"{label}_ours_s": medians["ours"], f"{label}_hf_s": medians["hf"],
                            f"{label}_same_tokens": bool(torch.equal(tokens["ours"], tokens["hf"]))})
        rows.append(row)
        del ours, hf
        gc.collect()

    shape = (f"d_model={width}, layers={layers} (per stack), heads={heads}, ffn={4 * width}, vocab={VOCAB}; "
             f"train B={batch} T={length}; generate B={gen_batch}, prompt {prompt_length}, {new_tokens} new tokens")
    print(f"\nCPU, {args.threads} threads, torch {torch.__version__}, transformers {transformers.__version__}")
    print(f"shape: {shape}")
    header = (f"{'family':<7} {'max|dlogit|':>11} {'train ours/HF (s)':>19} {'peak ours/HF (MiB)':>19} "
              f"{'greedy ours/HF (s)':>19} {'beam4 ours/HF (s)':>18} {'same tokens':>11}")
    print(header)
    for r in rows:
        peak = (f"{r['peak_ours_mib']:.0f} / {r['peak_hf_mib']:.0f}" if r["peak_ours_mib"] is not None else "n/a")
        if r["family"] == "bert":
            greedy, beam, same = f"fwd {r['infer_ours_s']:.3f}/{r['infer_hf_s']:.3f}", "-", "-"
        else:
            greedy = f"{r['greedy_ours_s']:.3f} / {r['greedy_hf_s']:.3f}"
            beam = f"{r['beam4_ours_s']:.3f} / {r['beam4_hf_s']:.3f}"
            same = "yes" if r["greedy_same_tokens"] and r["beam4_same_tokens"] else "NO"
        print(f"{r['family']:<7} {r['max_abs_logit_diff']:>11.1e} "
              f"{r['train_ours_s']:>8.3f} / {r['train_hf_s']:<8.3f} {peak:>19} {greedy:>19} {beam:>18} {same:>11}")
    report = dict(date=str(date.today()), machine=platform.processor() or platform.machine(), threads=args.threads,
                  torch=torch.__version__, transformers=transformers.__version__, shape=shape, quick=args.quick,
                  memory_method="rise of VmHWM over VmRSS during one train step (/proc/self/clear_refs reset)",
                  rows=rows)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
