"""Where a default `generate()` call spends its time, ours and the transformers twin side by side (issue 22).

Both models come from `twins_families` with identical weights (as in bench_twins.py). First the plain calls are timed,
interleaved (median of `--repeats`); then one instrumented call per side records, with `time.perf_counter`, the
time spent in each part of the model's forward and of transformers' generate loop:

  model forward: embeddings (ours: with the input checks), self-attention (with the cache update), cross-attention,
      feed-forward, LayerNorms, LM head, mask building, ours' position ids and input-shape checks, and the rest of
      the forward (module calls, output objects, ...) = forward total - the parts;
  generate loop: prepare_inputs_for_generation, _update_model_kwargs_for_generation, logits processors, stopping
      criteria, and the rest of the loop = call total - forwards - the parts.

Timers sit in forward hooks and function wrappers; they add a few microseconds per timed call, so the instrumented
total exceeds the plain one (both are printed). The table gives microseconds per new token (the prefill forward,
with the whole prompt, is listed on its own line and left out of the per-token forward rows; the encoder runs
once per call).

    python benchmarks/profile_decode.py --family gpt2 --out /tmp/profile_gpt2.json
    python benchmarks/profile_decode.py --family bart --beams 4
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import time
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import torch  # noqa: E402
import transformers  # noqa: E402
import twins_families as fams  # noqa: E402 (after the sys.path line above)
from torch import nn  # noqa: E402
from transformers.cache_utils import DynamicLayer  # noqa: E402
from transformers.generation.logits_process import LogitsProcessorList  # noqa: E402
from transformers.generation.stopping_criteria import StoppingCriteriaList  # noqa: E402

from tobigs_transformer.convert import convert_from_hf  # noqa: E402
from tobigs_transformer.model import embeddings as our_embeddings  # noqa: E402
from tobigs_transformer.model import stacks as our_stacks  # noqa: E402

# (row key, label) in table order; "of which" rows are already inside the row above them
ROWS = (
    ("call", "generate() call, plain (untimed run)"),
    ("call_timed", "generate() call, instrumented"),
    ("floor", "arithmetic floor: the same ops as raw torch calls in one loop (ours' weights)"),
    ("encoder", "encoder (once per call)"),
    ("prefill", "prefill forward (the prompt, once per call)"),
    ("forward", "decode-step model forward"),
    ("embeddings", "  embeddings (ours: with the input checks)"),
    ("checks", "    of which input value checks (ours)"),
    ("self_attention", "  self-attention, all layers"),
    ("cache_update", "    of which cache update"),
    ("cross_attention", "  cross-attention, all layers"),
    ("ffn", "  feed-forward, all layers"),
    ("layer_norm", "  LayerNorms"),
    ("lm_head", "  LM head (last position)"),
    ("mask", "  mask building"),
    ("positions", "  position ids (ours)"),
    ("shape_checks", "  input shape checks (ours)"),
    ("forward_other", "  rest of the forward (module calls, outputs, ...)"),
    ("prepare_inputs", "prepare_inputs_for_generation"),
    ("update_kwargs", "_update_model_kwargs_for_generation"),
    ("logits_processors", "logits processors"),
    ("stopping", "stopping criteria"),
    ("loop_other", "rest of the generate loop (argmax/beam bookkeeping, ...)"),
)
FORWARD_PARTS = ("embeddings", "self_attention", "cross_attention", "ffn", "layer_norm", "lm_head", "mask",
                 "positions", "shape_checks")
LOOP_PARTS = ("prepare_inputs", "update_kwargs", "logits_processors", "stopping")


def timed_call(fn, key: str, recorder_of):
    """`fn`, its seconds added under `key` to the recorder `recorder_of()` returns at the time of the call (none: not
    counted)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            recorder = recorder_of()
            if recorder is not None:
                recorder.add(key, time.perf_counter() - start)
    return wrapper


class Recorder:
    """Accumulated seconds per row key; the top-level model forward counts its calls (the first is the prefill)."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.active = False
        self.forwards = 0
        self.prefill_snapshot: dict[str, float] | None = None

    def add(self, key: str, seconds: float) -> None:
        if self.active:
            self.seconds[key] += seconds

    def timed(self, key: str, fn):
        return timed_call(fn, key, lambda: self)

    def hook(self, module: nn.Module, key: str) -> None:
        starts: list[float] = []
        module.register_forward_pre_hook(lambda m, a: starts.append(time.perf_counter()))
        module.register_forward_hook(lambda m, a, o: self.add(key, time.perf_counter() - starts.pop()))


def classify(name: str, module: nn.Module, decoder_prefix: str) -> str | None:
    """The row a module's time goes to (None: not timed on its own)."""
    if not name.startswith(decoder_prefix) and not name.endswith("lm_head"):
        return None
    last = name.rsplit(".", 1)[-1]
    if last == "lm_head":
        return "lm_head"
    if last in ("encoder_attn", "cross_attn", "crossattention"):
        return "cross_attention"
    if last in ("self_attn", "attn"):
        return "self_attention"
    if last in ("mlp", "feed_forward", "fc1", "fc2"):
        return "ffn"
    if isinstance(module, nn.LayerNorm) and ".embeddings." not in name:
        return "layer_norm"
    if name.endswith("decoder.embeddings") or last in ("wte", "wpe", "embed_tokens", "embed_positions"):
        return "embeddings"
    return None


def instrument(model: nn.Module, recorder: Recorder) -> None:
    decoder = model.get_decoder()
    prefix = next(n for n, m in model.named_modules() if m is decoder)
    timed: list[str] = []
    for name, module in model.named_modules():  # parents come before their children
        key = classify(name, module, prefix)
        if key is not None and not any(name.startswith(t + ".") for t in timed):  # no time counted twice
            recorder.hook(module, key)
            timed.append(name)
    if model.config.is_encoder_decoder:
        recorder.hook(model.get_encoder(), "encoder")
    starts: list[float] = []

    def before(m, a, k):
        starts.append(time.perf_counter())

    def after(m, a, k, o):
        seconds = time.perf_counter() - starts.pop()
        recorder.forwards += recorder.active
        if recorder.active and recorder.forwards == 1:  # the prefill: kept out of the per-step rows
            recorder.prefill_snapshot = dict(recorder.seconds)
            recorder.add("prefill", seconds)
        else:
            recorder.add("forward", seconds)

    model.register_forward_pre_hook(before, with_kwargs=True)
    model.register_forward_hook(after, with_kwargs=True)
    model.prepare_inputs_for_generation = recorder.timed("prepare_inputs", model.prepare_inputs_for_generation)
    model._update_model_kwargs_for_generation = recorder.timed("update_kwargs",
                                                               model._update_model_kwargs_for_generation)


class Current:
    """The recorder of the side being measured, for the functions both sides share."""

    recorder: Recorder | None = None

    @classmethod
    def timed(cls, key: str, fn):
        return timed_call(fn, key, lambda: cls.recorder)


PATCHED: set[str] = set()
MASK_FUNCTIONS = ("create_causal_mask", "create_bidirectional_mask", "create_sliding_window_causal_mask")


def patch_functions(recorder: type[Current], twin_module) -> None:
    """Module-level functions: masks (both sides), cache updates (both), ours' positions and checks, the loop's
    logits processors and stopping criteria (both). Each module once per process (a second wrapper would count
    the time twice): the shared ones with the first family, each twin's modeling module when it first appears."""
    modules = [m for m in ((our_stacks, twin_module) if not PATCHED else (twin_module,)) if m.__name__ not in PATCHED]
    for module in modules:
        PATCHED.add(module.__name__)
        for name in MASK_FUNCTIONS:
            if hasattr(module, name):
                setattr(module, name, recorder.timed("mask", getattr(module, name)))
    if our_stacks not in modules:
        return
    our_stacks.stack_position_ids = recorder.timed("positions", our_stacks.stack_position_ids)
    our_stacks.check_decoder_inputs = recorder.timed("shape_checks", our_stacks.check_decoder_inputs)
    our_embeddings.check_embedding_inputs = recorder.timed("checks", our_embeddings.check_embedding_inputs)
    DynamicLayer.update = recorder.timed("cache_update", DynamicLayer.update)
    LogitsProcessorList.__call__ = recorder.timed("logits_processors", LogitsProcessorList.__call__)
    StoppingCriteriaList.__call__ = recorder.timed("stopping", StoppingCriteriaList.__call__)


def floor_generate(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, new_tokens: int) -> torch.Tensor:
    """The arithmetic floor of greedy batch decoding with our weights: the same matmuls, LayerNorms, sdpa and cache
    (a torch.cat per step) written as raw torch calls in one Python loop, no modules, hooks, checks, masks, output
    objects or logits-processor classes (the benchmark's min_new_tokens and forced first/last tokens as plain indexing).
    What a decode step would cost if the model's and the generate loop's Python took no time at all."""
    config = model.config
    decoder = model.get_decoder()
    seq2seq = config.is_encoder_decoder
    layers = list(decoder.layers)
    pre = config.normalize_before
    emb = decoder.embeddings
    cross: list[tuple[torch.Tensor, torch.Tensor]] = []
    if seq2seq:
        memory = model.get_encoder()(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        for layer in layers:
            kv = nn.functional.linear(memory, layer.cross_attn.kv_proj.weight, layer.cross_attn.kv_proj.bias)
            cross.append(layer.cross_attn._split_heads(kv, 2))
        ids = torch.full((input_ids.shape[0], 1), config.decoder_start_token_id)
    else:
        ids = input_ids
    out = ids
    start = out.shape[1]
    eos = model.generation_config.eos_token_id
    eos = [eos] if isinstance(eos, int) else list(eos or [])
    forced_bos = model.generation_config.forced_bos_token_id
    forced_eos = model.generation_config.forced_eos_token_id
    cache: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * len(layers)
    past = 0

    def sublayer(x, norm, fn):
        if pre:
            return x + fn(nn.functional.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps))
        return nn.functional.layer_norm(x + fn(x), norm.normalized_shape, norm.weight, norm.bias, norm.eps)

    def attention(x, attn, index):
        q, k, v = attn._split_heads(nn.functional.linear(x, attn.qkv_proj.weight, attn.qkv_proj.bias), 3)
        if cache[index] is not None:
            k, v = torch.cat([cache[index][0], k], dim=2), torch.cat([cache[index][1], v], dim=2)
        cache[index] = (k, v)
        o = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=q.shape[2] > 1)
        o = o.transpose(1, 2).reshape(x.shape)
        return nn.functional.linear(o, attn.out_proj.weight, attn.out_proj.bias)

    def cross_attention(x, attn, index):
        (q,) = attn._split_heads(nn.functional.linear(x, attn.q_proj.weight, attn.q_proj.bias), 1)
        o = nn.functional.scaled_dot_product_attention(q, *cross[index])
        o = o.transpose(1, 2).reshape(x.shape)
        return nn.functional.linear(o, attn.out_proj.weight, attn.out_proj.bias)

    def ffn(x, ff):
        return nn.functional.linear(ff.activation(nn.functional.linear(x, ff.fc1.weight, ff.fc1.bias)),
                                    ff.fc2.weight, ff.fc2.bias)

    for _ in range(new_tokens):
        positions = torch.arange(past, past + ids.shape[1]).unsqueeze(0)
        x = nn.functional.embedding(ids, emb.word_embeddings.weight) * emb.embed_scale
        if emb.position_embeddings is not None:
            x = x + (emb.position_embeddings(positions, x.dtype) if hasattr(emb.position_embeddings, "pe")
                     else nn.functional.embedding(positions + emb.position_embeddings.offset,
                                                  emb.position_embeddings.weight))
        if emb.layer_norm is not None:
            x = emb.layer_norm(x)
        for index, layer in enumerate(layers):
            x = sublayer(x, layer.self_attn_layer_norm, lambda h, a=layer.self_attn, i=index: attention(h, a, i))
            if seq2seq:
                x = sublayer(x, layer.cross_attn_layer_norm,
                             lambda h, a=layer.cross_attn, i=index: cross_attention(h, a, i))
            x = sublayer(x, layer.ffn_layer_norm, lambda h, f=layer.feed_forward: ffn(h, f))
        if decoder.final_layer_norm is not None:
            x = decoder.final_layer_norm(x)
        logits = model.lm_head(x[:, -1:])[:, -1]
        past += ids.shape[1]
        # the benchmark's two logits processors, as plain indexing: min_new_tokens (no EOS before the last token)
        # and BART's forced first and last tokens
        logits[:, eos] = float("-inf")
        forced = (forced_bos if out.shape[1] == start else
                  forced_eos if out.shape[1] == start + new_tokens - 1 else None)
        if forced is not None:
            logits[:, :] = float("-inf")
            logits[:, forced] = 0.0
        ids = logits.argmax(-1, keepdim=True)
        out = torch.cat([out, ids], dim=1)
    return out


def build(family: str):
    twin = fams.twin_named(family)
    shape = twin.shape("cpu")
    hf = fams.build_hf(twin, shape).eval()
    ours = convert_from_hf(hf).eval()
    for m in (hf, ours):
        if m.generation_config.pad_token_id is None:
            m.generation_config.pad_token_id = m.generation_config.eos_token_id
    return twin, shape, hf, ours


def measure(args) -> dict:
    twin, shape, hf, ours = build(args.family)
    batch = shape.beam_batch if args.beams > 1 else args.batch
    inputs = fams.generation_inputs(twin, shape, batch, shape.gen_prompt, torch.device("cpu"))
    settings = {"max_new_tokens": args.new_tokens, "min_new_tokens": args.new_tokens, "do_sample": False,
                    "num_beams": args.beams}
    sides = {"ours": ours, "twin": hf}

    def call(model):
        with torch.inference_mode():
            return model.generate(**inputs, **settings)

    tokens = {side: call(m) for side, m in sides.items()}  # warm-up, and the tokens compared
    same = bool(torch.equal(tokens["ours"], tokens["twin"]))
    times: dict[str, list[float]] = {side: [] for side in sides}
    for _ in range(args.repeats):
        for side, model in sides.items():
            start = time.perf_counter()
            call(model)
            times[side].append(time.perf_counter() - start)
    floor_times: list[float] = []
    floor_same = None
    if args.beams == 1:
        with torch.inference_mode():
            floor_tokens = floor_generate(ours, inputs["input_ids"], inputs["attention_mask"], args.new_tokens)
            floor_same = bool(torch.equal(floor_tokens, tokens["ours"]))
            for _ in range(args.repeats):
                start = time.perf_counter()
                floor_generate(ours, inputs["input_ids"], inputs["attention_mask"], args.new_tokens)
                floor_times.append(time.perf_counter() - start)
    load = os.getloadavg()[0]
    recorders = {side: Recorder() for side in sides}
    for side, model in sides.items():
        instrument(model, recorders[side])
    # the shared functions are patched once; they report to the recorder of the side being called
    patch_functions(Current, sys.modules[type(hf).__module__])
    result = {}
    for side, model in sides.items():
        recorder = recorders[side]
        Current.recorder = recorder
        runs = []
        for _ in range(args.timed_repeats):
            recorder.seconds.clear()
            recorder.forwards = 0
            recorder.active = True
            start = time.perf_counter()
            call(model)
            total = time.perf_counter() - start
            recorder.active = False
            seconds = dict(recorder.seconds)
            prefill = recorder.prefill_snapshot or {}
            # nested timings recorded during the prefill forward belong to the prefill row
            for key in FORWARD_PARTS + ("checks", "cache_update"):
                seconds[key] = seconds.get(key, 0.0) - prefill.get(key, 0.0)
            seconds["call_timed"] = total
            runs.append(seconds)
        seconds = {key: statistics.median(run.get(key, 0.0) for run in runs) for key in {k for r in runs for k in r}}
        seconds["call"] = statistics.median(times[side])
        seconds["forward_other"] = seconds.get("forward", 0.0) - sum(seconds.get(k, 0.0) for k in FORWARD_PARTS)
        seconds["loop_other"] = (seconds["call_timed"] - seconds.get("encoder", 0.0) - seconds.get("prefill", 0.0)
                                 - seconds.get("forward", 0.0) - sum(seconds.get(k, 0.0) for k in LOOP_PARTS))
        result[side] = seconds
    if floor_times:
        result["ours"]["floor"] = statistics.median(floor_times)
    return {"family": args.family, "beams": args.beams, "batch": batch, "prompt": shape.gen_prompt, "new_tokens": args.new_tokens,
                "shape": shape.describe(), "same_tokens": same, "floor_same_tokens": floor_same, "load_1m": load, "threads": torch.get_num_threads(),
                "seconds": result}


def table(report: dict) -> list[str]:
    n = report["new_tokens"]
    ours, twin = report["seconds"]["ours"], report["seconds"]["twin"]
    lines = [f"| part (µs per new token; {n} new tokens) | ours | twin | ours − twin |", "|---|---:|---:|---:|"]
    for key, label in ROWS:
        a, b = ours.get(key), twin.get(key)
        if key in ("positions", "shape_checks", "checks") and not b:
            b = None
        cells = [("–" if v is None else f"{v / n * 1e6:,.0f}") for v in (a, b)]
        diff = "–" if a is None or b is None else f"{(a - b) / n * 1e6:+,.0f}"
        lines.append(f"| {label.strip() if not label.startswith(' ') else label.replace('  ', '&nbsp;&nbsp;')} | "
                     f"{cells[0]} | {cells[1]} | {diff} |")
    ratio = ours["call"] / twin["call"]
    lines.append(f"| **ours/twin time, plain call** | | | **{ratio:.3f}×** |")
    if ours.get("floor"):
        lines.append(f"| **floor/twin time** | | | **{ours['floor'] / twin['call']:.3f}×** |")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--family", default="gpt2",
                   help="generating rows of twins_families.TWINS (CPU sizes), comma-separated")
    p.add_argument("--beams", default="1", help="comma-separated: 1 = greedy at --batch; >1 = beam search at the "
                                                "family's beam batch")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--repeats", type=int, default=7, help="plain calls per side, interleaved (median)")
    p.add_argument("--timed-repeats", type=int, default=3, help="instrumented calls per side (median per part)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="JSON path (a list of reports, one per family and beam count)")
    args = p.parse_args(argv)
    transformers.logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    reports = []
    for family in (f.strip() for f in args.family.split(",") if f.strip()):
        for beams in (int(b) for b in args.beams.split(",")):
            report = measure(argparse.Namespace(**{**vars(args), "family": family, "beams": beams}))
            reports.append(report)
            print(f"\n{report['family']} {report['shape']}, batch {report['batch']}, beams {report['beams']}, "
                  f"prompt {report['prompt']}, {report['new_tokens']} new tokens; same tokens: "
                  f"{report['same_tokens']} (floor: {report['floor_same_tokens']}); load {report['load_1m']:.2f}; "
                  f"{report['threads']} thread(s)")
            print("\n".join(table(report)), flush=True)
            if args.out:
                with open(args.out, "w", encoding="utf-8") as f:
                    json.dump({"command": "python " + " ".join(sys.argv), "reports": reports}, f, indent=1)
    if args.out:
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
