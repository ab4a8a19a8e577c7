"""Ours vs the transformers twin with identical weights, on any device (issue 14).

For every family in `twins_families.TWINS` the transformers model is built with random weights (offline),
converted with `convert_from_hf`, checked for identical logits (the run stops if they differ), and both are timed
in one process, interleaved, on identical inputs:
  - training tokens/s (forward + backward + AdamW step) and the step's peak memory, eager and under torch.compile
    (first-call time = compile cost), plus model FLOPs utilisation on CUDA (formula: `twins_families.train_flops`);
    for our models also with the plain LM loss (`config.loss_chunk_size=0`, modes `*_plain_loss`) against the
    same twin, to show what the chunked loss costs or saves in each mode;
  - greedy generation tokens/s at batch 1 and 32 with the dynamic cache, the static cache, and the static cache
    compiled the way transformers compiles it (its auto-compile of the decode step). On CPU, where transformers
    does not compile it by default, our model gets the public switch (an explicit `compile_config`, see
    `TobigsGenerationMixin`) and the twin transformers' private `CompileConfig._compile_all_devices`; the report
    sets the first call (the compile) against the steady state and says after how many new tokens compiling pays;
    beam-4 at batch 8 (dynamic cache; transformers compiles no beam step).
Every row records the 1-minute load average when it started (the machine may be shared).
CUDA: bf16 autocast for training, bf16 weights for generation, sdpa, the paper/checkpoint sizes. CPU: fp32, the
sizes of RESULTS.md section 1. Prints the goals of issue 14 and every measurement, writes JSON (`--out`, rewritten
after each measurement so a run cut short keeps what it measured), and with `--update-results` regenerates this
device's block of benchmarks/RESULTS.md (or the block `--results-block` names, e.g. one run's subsection).

    python benchmarks/bench_twins.py                  # full run on the device found (cuda if present)
    python benchmarks/bench_twins.py --smoke          # every path on tiny models (tests/benchmarks/test_bench_twins.py)
    python benchmarks/bench_twins.py --no-compile --families gpt2,bart --budget-s 120 --out /tmp/twins.json
    python benchmarks/bench_twins.py --families variants --no-compile --out benchmarks/results_twins_cpu_variants.json
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import gc
import json
import os
import platform
import re
import shlex
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import torch  # noqa: E402
import transformers  # noqa: E402

import twins_families as fams  # noqa: E402
import twins_measure as measure  # noqa: E402
import twins_report as report_mod  # noqa: E402
from tobigs_transformer.convert import convert_from_hf  # noqa: E402

SCHEMA = "bench_twins/1"
DEFAULT_PEAK_TFLOPS = 989.0  # H100/H200 SXM bf16 dense (datasheet; the shared anchors measured ~805 on 8192³)
GEN_MODES = ("dynamic", "static", "static_compiled")
TRAIN_MODES = ("eager", "compiled", "eager_plain_loss", "compiled_plain_loss")
SMOKE_COMPILED = ("gpt2",)
# Per profile: (train warm-up, train repeats, generation warm-up, generation repeats, logit tolerance)
# (our output, the twin's output) compared for exactness; ALBERT names its sentence-order logits `sop_logits`
LOGIT_OUTPUTS = (("logits", "logits"), ("prediction_logits", "prediction_logits"),
                 ("seq_relationship_logits", "seq_relationship_logits"), ("seq_relationship_logits", "sop_logits"))
TIMING = {"cpu": (2, 10, 1, 5, 1e-4), "gpu": (3, 10, 1, 3, 5e-4), "smoke": (1, 2, 0, 1, 1e-4)}


_START = time.monotonic()
# the machine's load before this run adds its own (reports are rebuilt after every measurement)
_START_LOAD = os.getloadavg() if hasattr(os, "getloadavg") else None


def _elapsed() -> str:
    return f"{time.monotonic() - _START:6.1f}s"


class LogitMismatch(RuntimeError):
    pass


@dataclass
class Family:
    """A converted pair: training copies (updated by the steps) and pristine generation copies."""

    twin: fams.Twin
    shape: fams.Shape
    hf: torch.nn.Module
    ours: torch.nn.Module
    gen_hf: torch.nn.Module | None
    gen_ours: torch.nn.Module | None
    batch: dict
    max_abs_logit_diff: float


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--device", default="auto", help="auto (cuda when available), cpu or cuda")
    p.add_argument("--profile", choices=("cpu", "gpu"), default=None,
                   help="sizes: cpu (RESULTS.md section 1) or gpu (paper sizes); default follows the device")
    p.add_argument("--smoke", action="store_true", help="tiny models, every path, a few seconds")
    p.add_argument("--families", default=None,
                   help="comma-separated rows of twins_families.TWINS or groups of twins_families.GROUPS "
                        "(variants: issue 10's ALBERT, RoBERTa, CTRL, Pegasus, ELECTRA); default: every row with "
                        "sizes for the profile")
    p.add_argument("--compile", dest="compile", action="store_true", default=True,
                   help="include the torch.compile rows (default)")
    p.add_argument("--no-compile", dest="compile", action="store_false", help="eager rows only")
    p.add_argument("--compile-backend", default=None,
                   help="torch.compile backend (default inductor; --smoke: aot_eager, which traces forward and "
                        "backward like inductor but skips its C++/Triton code generation, to stay within seconds)")
    p.add_argument("--no-generate", dest="generate", action="store_false", default=True, help="training rows only")
    p.add_argument("--no-train", dest="train", action="store_false", default=True,
                   help="generation rows only (no training steps, no memory probes), e.g. for issue 22's decode goals")
    p.add_argument("--gen-modes", default=",".join(GEN_MODES), metavar="MODES",
                   help=f"comma-separated generation modes to measure, of {', '.join(GEN_MODES)} (default: all; "
                        "'dynamic' alone: the default generate() call, greedy and beam-4)")
    p.add_argument("--no-plain-loss", dest="plain_loss", action="store_false", default=True,
                   help="skip the *_plain_loss training rows (ours with config.loss_chunk_size=0)")
    p.add_argument("--peak-tflops", type=float, default=None,
                   help=f"peak dense TFLOP/s for MFU (default on CUDA: {DEFAULT_PEAK_TFLOPS:g}, H100/H200 bf16)")
    p.add_argument("--threads", type=int, default=2, help="torch threads on CPU")
    p.add_argument("--repeats", type=int, default=None, help="timed training steps per side")
    p.add_argument("--gen-repeats", type=int, default=None, help="timed generate calls per side")
    p.add_argument("--budget-s", type=float, default=None,
                   help="stop starting new measurements after this many seconds (the rest are marked skipped)")
    p.add_argument("--probe-parallel", type=int, default=2, help="CPU memory probes run at once")
    p.add_argument("--no-memory", dest="memory", action="store_false", default=True,
                   help="CPU: skip the peak-memory probes (a fresh process per model and side)")
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results_twins_<device>.json)")
    p.add_argument("--update-results", nargs="?", const=os.path.join(HERE, "RESULTS.md"), default=None,
                   metavar="RESULTS_MD", help="regenerate this device's block of RESULTS.md")
    p.add_argument("--results-block", default=None, metavar="NAME",
                   help="with --update-results: the marked block to write (<!-- bench_twins:NAME:start -->, "
                        "added before the GPU block if absent); default: the device type (cpu or cuda)")
    p.add_argument("--results-title", default=None, metavar="TEXT",
                   help="with --update-results: the block's ### heading (default: the device and its name)")
    p.add_argument("--from-json", default=None, metavar="JSON",
                   help="measure nothing: print the tables of a saved run (e.g. a GPU visit's) and, with "
                        "--update-results, write its block of RESULTS.md")
    p.add_argument("--memory-probe", default=None, help=argparse.SUPPRESS)  # internal: FAMILY:SIDE
    args = p.parse_args(argv)
    if args.smoke and args.update_results:
        p.error("--update-results records a full run; --smoke numbers are not results")
    if args.smoke and args.profile:
        p.error(f"--smoke uses the smoke sizes; drop --profile {args.profile}")
    if args.results_block is not None and not re.fullmatch(r"[a-z0-9][a-z0-9-]*", args.results_block):
        p.error(f"--results-block takes lower-case letters, digits and '-', got {args.results_block!r}")
    modes = tuple(m.strip() for m in args.gen_modes.split(",") if m.strip())
    unknown = [m for m in modes if m not in GEN_MODES]
    if unknown or not modes:
        p.error(f"--gen-modes takes some of {', '.join(GEN_MODES)}, got {args.gen_modes!r}")
    args.gen_modes = modes
    if not args.train and not args.generate:
        p.error("--no-train with --no-generate leaves nothing to measure")
    if not args.train:
        args.memory = False  # the memory probes measure a training step
    if args.compile_backend is None:
        args.compile_backend = "aot_eager" if args.smoke else "inductor"
    if args.budget_s is not None and args.budget_s <= 0:
        p.error(f"--budget-s must be positive, got {args.budget_s}")
    for flag in ("repeats", "gen_repeats"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            p.error(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
    return args


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"--device must be auto, cpu or cuda, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: torch.cuda.is_available() is False on this machine")
    return torch.device(name)


def selected_twins(names: str | None, profile: str) -> list[fams.Twin]:
    if names is None:
        return [t for t in fams.TWINS if t.shape(profile) is not None]
    chosen = fams.twins_named(names)
    missing = [t.name for t in chosen if t.shape(profile) is None]
    if missing:
        raise ValueError(f"families {missing} have no sizes for the {profile!r} profile")
    return chosen


def check_logits(ours, hf, batch: dict, atol: float, name: str) -> float:
    """Max |Δ| over every logits output both models return (fp32, TF32 off); raises LogitMismatch above atol."""
    ours.eval()
    hf.eval()
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with torch.no_grad():
            a, b = ours(**batch), hf(**batch)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    pairs = [(k, h) for k, h in LOGIT_OUTPUTS if getattr(a, k, None) is not None and getattr(b, h, None) is not None]
    if not pairs:
        raise LogitMismatch(f"{name}: no logits output shared by {type(ours).__name__} and {type(hf).__name__}")
    diff = max((getattr(a, k).float() - getattr(b, h).float()).abs().max().item() for k, h in pairs)
    if not diff <= atol:
        keys = ", ".join(k if k == h else f"{k} / {h}" for k, h in pairs)
        raise LogitMismatch(f"{name}: converted model's logits differ from {type(hf).__name__}'s by {diff:.3e} "
                            f"(max |Δ| over {keys}), above the tolerance {atol:.0e}")
    return diff


def build_family(twin: fams.Twin, profile: str, device: torch.device, atol: float, generate: bool) -> Family:
    shape = twin.shape(profile)
    hf = fams.build_hf(twin, shape)
    ours = convert_from_hf(hf)
    hf, ours = hf.to(device), ours.to(device)
    batch = fams.train_batch(twin, shape, device)
    diff = check_logits(ours, hf, batch, atol, twin.name)
    gen_hf = gen_ours = None
    if generate and twin.generates:
        gen_dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
        gen_hf, gen_ours = (copy.deepcopy(m).to(gen_dtype).eval() for m in (hf, ours))
        for m in (gen_hf, gen_ours):
            if m.generation_config.pad_token_id is None:
                m.generation_config.pad_token_id = m.generation_config.eos_token_id
    return Family(twin, shape, hf.train(), ours.train(), gen_hf, gen_ours, batch, diff)


def memory_probe(spec: str, profile: str) -> None:
    """`--memory-probe FAMILY:SIDE`: one model in this fresh process; prints the step's peak RSS rise."""
    family, _, side = spec.partition(":")
    if side not in ("ours", "twin"):
        raise ValueError(f"--memory-probe takes FAMILY:ours or FAMILY:twin, got {spec!r}")
    twin = fams.twin_named(family)
    shape = twin.shape(profile)
    if shape is None:
        raise ValueError(f"family {family!r} has no sizes for the {profile!r} profile")
    model = fams.build_hf(twin, shape)
    if side == "ours":
        model = convert_from_hf(model)
    gc.collect()
    step, _ = measure.train_step_fn(model, fams.train_batch(twin, shape, torch.device("cpu")),
                                    torch.device("cpu"), compiled=False, autocast_dtype=None)
    step()  # the optimizer state and the allocator's pools exist from here on
    print(measure.PROBE_TAG + json.dumps({"family": family, "side": side,
                                          "peak_rise_mib": measure.cpu_step_rise_mib(step)}), flush=True)


def _row(fam: Family, workload: str, mode: str, unit: str, **values) -> dict:
    row = dict(family=fam.twin.name, workload=workload, mode=mode, unit=unit, ok=True)
    row.update(values)
    if row.get("ours") is not None and row.get("twin"):
        row["ratio"] = row["ours"] / row["twin"]
    return row


class Runner:
    def __init__(self, args: argparse.Namespace, device: torch.device, profile: str):
        self.args, self.device, self.profile = args, device, profile
        train_warm, train_rep, gen_warm, gen_rep, self.atol = TIMING[profile]
        self.train_warm, self.gen_warm = train_warm, gen_warm
        self.train_rep = args.repeats or train_rep
        self.gen_rep = args.gen_repeats or gen_rep
        self.amp = torch.bfloat16 if device.type == "cuda" else None
        self.peak = args.peak_tflops if args.peak_tflops is not None else (
            DEFAULT_PEAK_TFLOPS if device.type == "cuda" else None)

    def train(self, fam: Family, mode: str) -> list[dict]:
        if mode not in TRAIN_MODES:
            raise ValueError(f"training mode {mode!r} is not one of {TRAIN_MODES}")
        compiled = mode.startswith("compiled")
        chunk = fam.ours.config.loss_chunk_size
        if mode.endswith("_plain_loss"):
            fam.ours.config.loss_chunk_size = 0  # full logits and transformers' cross-entropy, as the twin
        try:
            steps = {}
            for side, model in (("ours", fam.ours), ("twin", fam.hf)):
                steps[side] = measure.train_step_fn(model, fam.batch, self.device, compiled, self.amp,
                                                    self.args.compile_backend)
            timing = measure.time_interleaved({k: v[0] for k, v in steps.items()}, self.train_warm,
                                              self.train_rep, self.device)
        finally:
            fam.ours.config.loss_chunk_size = chunk
        tokens = fams.train_tokens(fam.twin, fam.shape)
        flops = fams.train_flops(fam.twin, fam.shape)
        values = {}
        for side in ("ours", "twin"):
            t = timing[side]
            values[side] = tokens / t["median_s"]
            values[f"{side}_median_s"] = t["median_s"]
            values[f"{side}_first_call_s"] = t["first_call_s"]
            values[f"{side}_tflops"] = flops / t["median_s"] / 1e12
            values[f"mfu_{side}"] = flops / t["median_s"] / (self.peak * 1e12) if self.peak else None
        rows = [_row(fam, "train", mode, "tokens/s", **values, flops_per_step=flops,
                     loss_chunk_size=0 if mode.endswith("_plain_loss") else chunk)]
        if self.device.type == "cuda" and not mode.endswith("_plain_loss"):
            mem = {side: measure.cuda_step_memory(steps[side][0], model, steps[side][1], self.device)
                   for side, model in (("ours", fam.ours), ("twin", fam.hf))}
            rows.append(_row(fam, "train memory", mode, "MiB", ours=mem["ours"]["peak_total_mib"],
                             twin=mem["twin"]["peak_total_mib"], ours_rise_mib=mem["ours"]["peak_rise_mib"],
                             twin_rise_mib=mem["twin"]["peak_rise_mib"]))
        return rows

    def cpu_memory(self, fam: Family, probes: dict) -> dict:
        """The train-step memory row from the fresh-process probes (CPU)."""
        ours, twin = probes.get((fam.twin.name, "ours")), probes.get((fam.twin.name, "twin"))
        failed = [v for v in (ours, twin) if not isinstance(v, float)]
        if failed:
            return dict(family=fam.twin.name, workload="train memory", mode="eager", unit="MiB", ok=False,
                        status=f"error: {failed[0]}")
        return _row(fam, "train memory", "eager", "MiB", ours=ours, twin=twin)

    def generation(self, fam: Family, workload: str, mode: str) -> list[dict]:
        s = fam.shape
        if workload.startswith("beam"):
            batch, prompt, new, beams = s.beam_batch, s.beam_prompt, s.beam_new, 4
        else:
            batch, prompt, new, beams = int(workload.split("b")[-1]), s.gen_prompt, s.gen_new, 1
        settings = dict(max_new_tokens=new, min_new_tokens=new, do_sample=False, num_beams=beams)
        per_side = {"ours": {}, "twin": {}}
        if mode == "static":
            settings.update(cache_implementation="static", disable_compile=True)
        elif mode == "static_compiled":
            settings["cache_implementation"] = "static"
            backend = self.args.compile_backend
            if self.device.type != "cuda":
                # transformers auto-compiles the static-cache decode step on accelerators only. Ours: the public
                # switch, an explicit compile_config; the twin: transformers' private flag for the same compile.
                per_side["ours"]["compile_config"] = transformers.CompileConfig(mode="default", backend=backend)
                config = transformers.CompileConfig(mode="default", backend=backend)
                config._compile_all_devices = True
                per_side["twin"]["compile_config"] = config
            elif backend != "inductor":
                settings["compile_config"] = transformers.CompileConfig(backend=backend)
        inputs = fams.generation_inputs(fam.twin, s, batch, prompt, self.device)
        store: dict = {}
        fns = {side: measure.generate_fn(model, inputs, {**settings, **per_side[side]}, store, side)
               for side, model in (("ours", fam.gen_ours), ("twin", fam.gen_hf))}
        timing = measure.time_interleaved(fns, self.gen_warm, self.gen_rep, self.device)
        values = {}
        for side in ("ours", "twin"):
            values[side] = batch * new / timing[side]["median_s"]
            values[f"{side}_median_s"] = timing[side]["median_s"]
            values[f"{side}_first_call_s"] = timing[side]["first_call_s"]
        same = store["ours"].shape == store["twin"].shape and bool(torch.equal(store["ours"], store["twin"]))
        return [_row(fam, workload, mode, "new tokens/s", **values, same_tokens=same, batch=batch,
                     prompt_length=prompt, new_tokens=new, num_beams=beams)]


def plan(families: list[Family], args: argparse.Namespace) -> list[tuple[Family, str, str]]:
    """Measurements in the order they are worth having when `--budget-s` cuts the run short."""
    def compiles(f: Family) -> bool:
        # --smoke compiles one tiny model: compiling every family takes minutes even with aot_eager
        return args.compile and f.twin.compiles and (not args.smoke or f.twin.name in SMOKE_COMPILED)

    jobs = [(f, "train", "eager") for f in families]
    gen = [f for f in families if f.gen_ours is not None] if args.generate else []
    # the first generating family (GPT-2) carries the batch-1 and MFU goals: measure it before the others
    lead, rest = gen[:1], gen[1:]
    def batch1(group: list[Family]) -> list[tuple[Family, str, str]]:
        return [(f, "greedy b1", m) for f in group for m in ("dynamic", "static_compiled")
                if m == "dynamic" or compiles(f)]

    jobs += batch1(lead)
    jobs += [(f, "train", "compiled") for f in families if compiles(f)]
    jobs += batch1(rest)
    jobs += [(f, "greedy b1", "static") for f in gen]
    for f in gen:
        workload = f"greedy b{max(f.shape.gen_batches)}"
        jobs += [(f, workload, m) for m in GEN_MODES if m != "static_compiled" or compiles(f)]
    # what the chunked LM loss costs or saves, eager and compiled (--smoke: one family, eager only)
    # (ELECTRA's discriminator has no LM head: one logit per token, nothing to chunk)
    chunked = [f for f in families if f.ours.config.loss_chunk_size and f.twin.compiles and f.twin.kind != "rtd"
               and args.plain_loss and (not args.smoke or f.twin.name in SMOKE_COMPILED)]
    jobs += [(f, "train", "eager_plain_loss") for f in chunked]
    jobs += [(f, "train", "compiled_plain_loss") for f in chunked if compiles(f) and not args.smoke]
    jobs += [(f, f"beam4 b{f.shape.beam_batch}", "dynamic") for f in gen]
    # --no-train: generation rows only; --gen-modes: only the modes asked for
    return [(f, w, m) for f, w, m in jobs if (w == "train" and args.train) or (w != "train" and m in args.gen_modes)]


def device_info(device: torch.device, threads: int, peak: float | None) -> dict:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        mfu = f", MFU against {peak:g} TFLOP/s" if peak else ""
        return dict(type="cuda", name=torch.cuda.get_device_name(device),
                    description=f"{props.total_memory / 2**30:.0f} GiB, CUDA {torch.version.cuda}{mfu}")
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            name = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return dict(type="cpu", name=name, description=f"{os.cpu_count()} cores, {threads} torch threads")


def build_report(args, device, profile, runner, families, rows, argv, out_path) -> dict:
    fam_entries = [dict(family=f.twin.name, hf_class=f.twin.hf_class, ours_class=type(f.ours).__name__,
                        shape=asdict(f.shape), shape_text=f.shape.describe(), notes=f.twin.notes,
                        max_abs_logit_diff=f.max_abs_logit_diff, logit_atol=runner.atol,
                        logits_match=f.max_abs_logit_diff <= runner.atol) for f in families]
    # only the notes that explain rows this run can have
    notes = ["transformers compiles only the greedy/sampling decode step with a static cache "
             "(GenerationMixin._sample); beam search is never compiled, so beam-4 is eager."] if args.generate else []
    if args.compile:
        notes.append("first-call times include torch.compile; inductor's on-disk cache can shorten them on later "
                     "runs.")
    if device.type == "cpu" and args.compile and args.generate:
        notes.append("static_compiled on CPU: transformers' own decode-step compile (CompileConfig(mode='default')), "
                     "which it skips on CPU by default; ours through the public switch (an explicit compile_config, "
                     "TobigsGenerationMixin), the twin through CompileConfig._compile_all_devices=True.")
    if args.plain_loss:
        notes.append("*_plain_loss rows: our model with config.loss_chunk_size=0 (full logits, plain cross-entropy) "
                     "against the same twin; the other training rows use our default chunked LM loss.")
    else:
        notes.append("training rows use our default chunked LM loss (--no-plain-loss: no *_plain_loss rows).")
    load = _START_LOAD
    return dict(
        schema=SCHEMA, block=args.results_block, title=args.results_title,
        date=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        command="python " + " ".join(shlex.quote(a) for a in argv), json_path=_display_path(out_path),
        profile=profile,
        smoke=args.smoke, device=device_info(device, args.threads, runner.peak), torch=torch.__version__,
        transformers=transformers.__version__, python=platform.python_version(),
        precision="bf16 autocast (training), bf16 weights (generation)" if device.type == "cuda" else "fp32",
        attn_implementation="sdpa", compile=args.compile, compile_backend=args.compile_backend,
        peak_tflops=runner.peak,
        load_average=", ".join(f"{x:.2f}" for x in load) if load else None,
        timing=(f"train: first call, {runner.train_warm} warm-up, median of {runner.train_rep} interleaved steps; "
                f"generate: first call, {runner.gen_warm} warm-up, median of {runner.gen_rep} interleaved calls"),
        memory_method=measure.MEMORY_METHOD[device.type],
        flop_formula=fams.train_flops.__doc__, families=fam_entries, rows=rows,
        goals=report_mod.evaluate_goals(rows, fam_entries, device.type), notes=notes)


def _display_path(path: str) -> str:
    """Relative to the repository root when inside it (RESULTS.md is read there), else as given."""
    root = os.path.dirname(HERE)
    absolute = os.path.abspath(path)
    return os.path.relpath(absolute, root) if absolute.startswith(root + os.sep) else path


def write_json(path: str, data: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, default=float)
    os.replace(tmp, path)


def _start_probes(twins: list[fams.Twin], args: argparse.Namespace, profile: str) -> measure.ProbePool:
    # --smoke probes one family: each probe is a fresh interpreter (seconds of imports on a busy machine)
    probed = [t for t in twins if not args.smoke or t.name in SMOKE_COMPILED]
    commands = {(t.name, side): measure.probe_command(os.path.abspath(__file__), t.name, side, profile, args.threads)
                for t in probed for side in ("ours", "twin")}
    return measure.ProbePool(commands, args.probe_parallel, timeout_s=900)


def _print_row(r: dict) -> None:
    what = f"[{_elapsed()}] {r['family']:<9} {r['workload']:<12} {r['mode']:<16}"
    if r.get("ok"):
        print(f"{what} ours {r['ours']:>12,.1f} twin {r['twin']:>12,.1f} {r['unit']:<13} ratio {r['ratio']:.3f}",
              flush=True)
    else:
        print(f"{what} {r['status']}", flush=True)


def _run_jobs(runner: Runner, families: list[Family], args, budget: measure.Budget, save) -> list[dict]:
    rows: list[dict] = []
    for fam, workload, mode in plan(families, args):
        if budget.expired():
            new = [dict(family=fam.twin.name, workload=workload, mode=mode, ok=False,
                        status=f"skipped: --budget-s {args.budget_s:g} spent")]
        else:
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
            try:
                new = runner.train(fam, mode) if workload == "train" else runner.generation(fam, workload, mode)
                for r in new:
                    r["load_1m"] = load
            except Exception as e:  # one failing path must not lose the others' numbers
                traceback.print_exc()
                first = str(e).splitlines()[0][:200] if str(e) else ""
                new = [dict(family=fam.twin.name, workload=workload, mode=mode, ok=False,
                            status=f"error: {type(e).__name__}: {first}")]
        rows += new
        for r in new:
            _print_row(r)
        save(rows)
    return rows


def from_json(path: str, results_md: str | None, block: str | None = None, title: str | None = None) -> int:
    """Tables (and the RESULTS.md block) of a saved run; the goals are re-evaluated from its rows."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--from-json {path!r} does not exist")
    with open(path, encoding="utf-8") as f:
        report = json.load(f)
    if report.get("schema") != SCHEMA:
        raise ValueError(f"{path} has schema {report.get('schema')!r}, expected {SCHEMA!r}")
    if results_md and report.get("smoke"):
        raise ValueError(f"{path} is a --smoke run; its numbers are not results")
    for key, value in (("block", block), ("title", title)):
        if value is not None:
            report[key] = value
    report["goals"] = report_mod.evaluate_goals(report["rows"], report["families"], report["device"]["type"])
    print("\n".join(report_mod.goals_table(report["goals"])))
    print("\n" + "\n".join(report_mod.time_table(report["rows"], report["families"])))
    print("\n" + "\n".join(report_mod.rows_table(report["rows"])))
    costs = report_mod.compile_cost_table(report["rows"])
    if costs:
        print("\n" + "\n".join(costs))
    if results_md:
        report_mod.update_results(results_md, report)
        print(f"updated {results_md}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    args = parse_args(argv[1:])
    if args.from_json:
        try:
            return from_json(args.from_json, args.update_results, args.results_block, args.results_title)
        except (OSError, ValueError) as e:
            print(f"bench_twins: {e}", file=sys.stderr)
            return 2
    transformers.logging.set_verbosity_error()
    device = pick_device(args.device)
    profile = "smoke" if args.smoke else (args.profile or ("gpu" if device.type == "cuda" else "cpu"))
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    if args.memory_probe:
        memory_probe(args.memory_probe, profile)
        return 0
    torch._dynamo.config.recompile_limit = 64  # one compiled decode step per batch size and model
    out_path = args.out or (os.path.join(tempfile.gettempdir(), "bench_twins_smoke.json") if args.smoke
                            else os.path.join(HERE, f"results_twins_{device.type}.json"))
    twins = selected_twins(args.families, profile)
    runner = Runner(args, device, profile)
    budget = measure.Budget(args.budget_s)
    try:
        families = [build_family(t, profile, device, runner.atol, args.generate) for t in twins]
    except LogitMismatch as e:
        print(f"bench_twins: {e}", file=sys.stderr)
        return 3
    print(f"[{_elapsed()}] bench_twins: {device.type} ({profile} sizes), logits match for "
          + ", ".join(f"{f.twin.name} (max |Δ| {f.max_abs_logit_diff:.1e})" for f in families), flush=True)
    pool = _start_probes(twins, args, profile) if device.type == "cpu" and args.memory else None
    if pool is not None and not args.smoke:
        pool.collect()  # a full run times nothing while the probes use the cores

    def save(rows: list[dict]) -> None:
        write_json(out_path, build_report(args, device, profile, runner, families, rows, argv, out_path))

    rows = _run_jobs(runner, families, args, budget, save)
    if pool is not None:
        probes = pool.collect()
        rows += [runner.cpu_memory(f, probes) for f in families if (f.twin.name, "ours") in probes]
        for r in rows[-len(probes) // 2:]:
            _print_row(r)
    report = build_report(args, device, profile, runner, families, rows, argv, out_path)
    write_json(out_path, report)
    print("\n" + "\n".join(report_mod.goals_table(report["goals"])))
    print("\n" + "\n".join(report_mod.time_table(rows, report["families"])))
    print("\n" + "\n".join(report_mod.rows_table(rows)))
    costs = report_mod.compile_cost_table(rows)
    if costs:
        print("\n" + "\n".join(costs))
    print(f"\nwrote {out_path}")
    if args.update_results:
        report_mod.update_results(args.update_results, report)
        print(f"updated {args.update_results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
