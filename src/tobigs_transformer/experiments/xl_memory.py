"""Transformer-XL's claim at CPU scale (Dai et al. 2019 §3.2, §4.2): does segment-level recurrence lower perplexity?

One scaled-down decoder, one text (the offline Shakespeare corpus), one tokenizer, one data order; arms:

* ``xl``          — ``--preset transformer-xl`` with memory (``mem_len``), evaluated with memory;
* ``xl/no-memory`` — the same trained ``xl`` model evaluated with its memory emptied before every segment (no extra
  training: the trainer's ``eval_perplexity_no_memory``);
* ``xl-mem0``     — the same preset trained with ``mem_len=0`` (relative positions, no recurrence);
* ``xl-adaptive`` — the ``xl`` arm with adaptive input and adaptive softmax (Baevski & Auli 2019, Grave et al.
  2017, as the Transformer-XL authors use them): the vocabulary cut at ``--adaptive_cutoffs`` (default: a quarter
  and a half of ``--vocab_size``; byte-level BPE ids are roughly frequency-ordered, the merges being learned most
  frequent first), widths d_model / ``--adaptive_div_val``**i, tables and tail projections tied as the authors'
  WikiText-103 setting. Not in the default ``--arms``: ``--arms xl,xl-adaptive`` compares the two softmaxes;
* ``gpt``         — ``--preset gpt2`` scaled the same (d_model, layers, heads, FFN width, segment length = its
  learned position table).

Equal compute is the same optimizer steps × batch × segment length (the same tokens, each trained once, the same
learning-rate schedule): every arm reads the paper's LM iterator (``tobigs train clm --parallel_streams true``, batches
in order; for ``xl`` it is what makes the memory the true left context), and every arm is scored on the same
validation streams (Macbeth, the Sonnets and Paradise Regained are held out whole by ``tobigs corpora``).  The memory
arm also attends over ``mem_len`` more keys per query, which the measured training time shows.

    tobigs xl-memory --output_dir runs/xl_memory

Writes ``results.json`` and ``results.md`` in ``--output_dir`` after every run (a run cut short keeps what finished),
and the final JSON to ``--results_file``; prints the Markdown table.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from ..tooling.cli import UsageError
from ..tooling.commands import Command, run_command
from .common import machine, spread, tobigs, write_results

logger = logging.getLogger(__name__)

ARMS = ("xl", "xl-mem0", "gpt", "xl-adaptive")
#: Rows of the report: (name, arm trained, metric of its evaluation).
ROWS = (("xl", "xl", "eval_perplexity"), ("xl/no-memory", "xl", "eval_perplexity_no_memory"),
        ("xl-mem0", "xl-mem0", "eval_perplexity"), ("gpt", "gpt", "eval_perplexity"),
        ("xl-adaptive", "xl-adaptive", "eval_perplexity"))
MODULE = "tobigs_transformer.experiments.xl_memory"


@dataclass
class XlMemoryArguments:
    """Options of the experiment; the defaults take ~10 min on a shared 2-core CPU (3 seeds x 3 trainings)."""

    output_dir: str = field(default="runs/xl_memory", metadata={"help": "Where runs and results.json go."})
    results_file: str = field(default="docs/results/xl_memory.json",
                              metadata={"help": "Where the final results JSON is copied ('' = nowhere)."})
    data_dir: str = field(default="data", metadata={"help": "tobigs corpora output (built here when missing)."})
    cache_dir: str = field(default="data_cache/downloads", metadata={"help": "Download cache of tobigs corpora."})
    quick: bool = field(default=False, metadata={"help": "Tiny sizes, one seed: a smoke test in seconds."})
    seeds: str = field(default="0,1,2", metadata={"help": "Comma-separated seeds."})
    arms: str = field(default="xl,xl-mem0,gpt", metadata={"help": f"Comma-separated subset of {ARMS}."})
    vocab_size: int = field(default=2000, metadata={"help": "Byte-level BPE vocabulary size."})
    d_model: int = field(default=128, metadata={"help": "Width (every arm)."})
    layers: int = field(default=2, metadata={"help": "Decoder layers."})
    heads: int = field(default=4, metadata={"help": "Attention heads."})
    ffn_dim: int = field(default=512, metadata={"help": "Position-wise FFN width."})
    segment_length: int = field(default=32, metadata={"help": "Tokens per segment (--block_size) for every arm."})
    mem_len: int = field(default=32, metadata={"help": "Memory of the xl arm (hidden states per layer)."})
    steps: int = field(default=1500, metadata={"help": "Optimizer steps (equal for every arm)."})
    batch_size: int = field(default=8, metadata={"help": "Parallel training streams (= batch size)."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Peak learning rate (linear warm-up over the first "
                                                                 "tenth of the steps, then linear decay)."})
    eval_streams: int = field(default=8, metadata={"help": "Parallel validation streams (= eval batch size)."})
    eval_segments: int = field(default=128, metadata={"help": "Validation segments per stream (0 = all)."})
    threads: int = field(default=1, metadata={"help": "Torch threads (0 = torch's default)."})
    adaptive_cutoffs: str = field(default="", metadata={"help": "Cluster boundaries of the xl-adaptive arm, "
                                                                  "comma-separated ('' = vocab_size/4,vocab_size/2)."})
    adaptive_div_val: int = field(default=2, metadata={"help": "Width divisor per cluster of the xl-adaptive arm."})

    def __post_init__(self):
        if self.quick:
            self.seeds = "0" if self.seeds == "0,1,2" else self.seeds
            for name, value in dict(vocab_size=300, d_model=32, layers=2, heads=4, ffn_dim=64, segment_length=8,
                                    mem_len=8, steps=4, batch_size=2, eval_streams=2, eval_segments=4).items():
                setattr(self, name, value)
        try:
            seeds = self.seed_list()
        except ValueError as error:
            raise UsageError(f"--seeds {self.seeds!r}: {error}") from error
        if not seeds:
            raise UsageError(f"--seeds {self.seeds!r}: give at least one seed")
        if not self.arm_list() or set(self.arm_list()) - set(ARMS):
            raise UsageError(f"--arms {self.arms!r}: choose from {ARMS}")
        for name in ("steps", "batch_size", "layers", "heads", "eval_streams", "mem_len"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.segment_length < 2:
            raise UsageError(f"--segment_length must be >= 2, got {self.segment_length}")
        try:
            cutoffs = self.cutoff_list()
        except ValueError as error:
            raise UsageError(f"--adaptive_cutoffs {self.adaptive_cutoffs!r}: {error}") from error
        if "xl-adaptive" in self.arm_list() and not all(a < b for a, b in zip([0, *cutoffs], cutoffs)):
            raise UsageError(f"--adaptive_cutoffs {cutoffs} must be increasing and > 0")
        if self.adaptive_div_val < 1:
            raise UsageError(f"--adaptive_div_val must be >= 1, got {self.adaptive_div_val}")
        if self.eval_segments < 0:
            raise UsageError(f"--eval_segments must be >= 0 (0 = all), got {self.eval_segments}")

    def seed_list(self) -> list[int]:
        return [int(s) for s in self.seeds.split(",") if s.strip()]

    def arm_list(self) -> list[str]:
        return [a.strip() for a in self.arms.split(",") if a.strip()]

    def cutoff_list(self) -> list[int]:
        if not self.adaptive_cutoffs.strip():
            return [self.vocab_size // 4, self.vocab_size // 2]
        return [int(c) for c in self.adaptive_cutoffs.split(",") if c.strip()]

    def model(self, arm: str) -> list[str]:
        """``--preset`` and ``--config_overrides`` of an arm: one size for all."""
        size = (f"d_model={self.d_model},decoder_layers={self.layers},decoder_attention_heads={self.heads},"
                f"decoder_ffn_dim={self.ffn_dim},max_position_embeddings={self.segment_length}")
        if arm == "gpt":
            return ["--preset", "gpt2", "--config_overrides", size]
        mem_len = self.mem_len if arm in ("xl", "xl-adaptive") else 0
        if arm == "xl-adaptive":
            # A mapping (the cutoffs are a list); tie_projs as the authors' WikiText-103 runs: all but the head's.
            cutoffs = self.cutoff_list()
            ties = ", ".join(["false"] + ["true"] * len(cutoffs))
            overrides = (f"{{{size.replace('=', ': ').replace(',', ', ')}, mem_len: {mem_len}, adaptive_input: true, "
                         f"adaptive_softmax: true, cutoffs: {cutoffs}, div_val: {self.adaptive_div_val}, "
                         f"tie_projs: [{ties}]}}")
            return ["--preset", "transformer-xl", "--config_overrides", overrides]
        return ["--preset", "transformer-xl", "--config_overrides", f"{size},mem_len={mem_len}"]


# ------------------------------------------------------------------------------------------------ data
def prepare_data(args: XlMemoryArguments, work: str) -> dict[str, str]:
    """The Shakespeare paragraphs (corpora built when missing) and a byte-level BPE tokenizer trained on the
    training split."""
    from ..data import train_gpt_tokenizer
    from ..data.corpora import build_corpora

    files = {split: os.path.join(args.data_dir, "en", f"shakespeare_{split}.jsonl") for split in ("train",
                                                                                               "validation")}
    if not all(os.path.isfile(p) for p in files.values()):
        build_corpora(args.data_dir, args.cache_dir, corpora=("shakespeare",))
    tokenizer = os.path.join(work, f"tokenizer-{args.vocab_size}")
    if not os.path.isfile(os.path.join(tokenizer, "tokenizer.json")):  # a rerun in the same folder: the same text
        with open(files["train"], encoding="utf-8") as f:
            texts = [json.loads(line)["text"] for line in f if line.strip()]
        train_gpt_tokenizer(texts, vocab_size=args.vocab_size, min_frequency=2, save_dir=tokenizer,
                            source=files["train"])
    return {"train": files["train"], "validation": files["validation"], "tokenizer": tokenizer}


# ------------------------------------------------------------------------------------------------ runs
def train(args: XlMemoryArguments, arm: str, seed: int, data: dict[str, str], output_dir: str) -> dict:
    """``tobigs train clm`` for one arm: ``steps`` batches of ``batch_size`` streams × ``segment_length`` tokens."""
    eval_limit = ["--max_eval_samples", str(args.eval_segments * args.eval_streams)] if args.eval_segments else []
    start = time.perf_counter()
    metrics = tobigs("train clm", [
        *args.model(arm), "--tokenizer_name", data["tokenizer"], "--train_file", data["train"], "--validation_file",
        data["validation"], "--block_size", str(args.segment_length), "--parallel_streams", "true",
        "--train_sampling_strategy", "sequential", "--do_train", "--do_eval",
        "--max_steps", str(args.steps), "--max_train_samples", str(args.steps * args.batch_size),
        "--per_device_train_batch_size", str(args.batch_size), "--per_device_eval_batch_size", str(args.eval_streams),
        *eval_limit, "--learning_rate", str(args.learning_rate), "--warmup_steps", str(max(1, args.steps // 10)),
        "--weight_decay", "0.01", "--output_dir", output_dir, "--seed", str(seed), "--use_cpu", "--report_to", "none",
        "--disable_tqdm", "true", "--save_strategy", "no", "--dataloader_num_workers", "0",
        "--logging_steps", str(max(1, args.steps // 10)), "--plot", "false",
    ])
    keep = ("train_runtime", "train_loss", "eval_loss", "eval_perplexity", "eval_loss_no_memory",
            "eval_perplexity_no_memory", "eval_accuracy", "eval_samples", "epoch")
    return {"seconds": round(time.perf_counter() - start, 1), **{k: metrics[k] for k in keep if k in metrics}}


def summarise(runs: dict[str, list[dict]]) -> dict[str, dict]:
    """Per report row: mean, sample standard deviation and range over seeds of the validation perplexity."""
    out = {}
    for row, arm, metric in ROWS:
        values = [r[metric] for r in runs.get(arm, []) if metric in r]
        if not values:
            continue
        out[row] = {**spread(values),
                    "train_seconds_mean": statistics.fmean(r.get("train_runtime", r["seconds"]) for r in runs[arm])}
    return out


def report_markdown(results: dict) -> str:
    """Validation perplexity per row (mean ± std over seeds, range, training seconds), then every run."""
    a = results["arguments"]
    lines = [f"Budget per arm: {a['steps']} steps × {a['batch_size']} streams × {a['segment_length']} tokens "
             f"= {a['steps'] * a['batch_size'] * a['segment_length']} training tokens; d_model {a['d_model']}, "
             f"{a['layers']} layers, {a['heads']} heads, FFN {a['ffn_dim']}, mem_len {a['mem_len']} (xl).", "",
             "| model | seeds | validation perplexity mean ± std | min .. max | train s (mean) |",
             "|---|---|---|---|---|"]
    for row, s in results.get("summary", {}).items():
        lines.append(f"| {row} | {s['seeds']} | {s['mean']:.2f} ± {s['std']:.2f} | {s['min']:.2f} .. {s['max']:.2f} "
                     f"| {s['train_seconds_mean']:.0f} |")
    lines += ["", "| seed | arm | eval perplexity | without memory | train loss | train s |",
              "|---|---|---|---|---|---|"]
    for arm, rows in results["runs"].items():
        for r in rows:
            plain = r.get("eval_perplexity_no_memory")
            lines.append(f"| {r['seed']} | {arm} | {r['eval_perplexity']:.2f} | "
                         f"{'—' if plain is None else f'{plain:.2f}'} | {r.get('train_loss', float('nan')):.3f} | "
                         f"{r.get('train_runtime', r['seconds']):.0f} |")
    return "\n".join(lines) + "\n"


def run_experiment(args: XlMemoryArguments) -> dict:
    import torch

    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        os.makedirs(args.output_dir, exist_ok=True)
        started, start = datetime.now(timezone.utc).isoformat(timespec="seconds"), time.perf_counter()
        words = sys.argv[1:]
        words = words[1:] if words[:1] == ["xl-memory"] else words  # `tobigs xl-memory ...` or `python -m ...`
        results = {"started": started, "command": " ".join(["tobigs", "xl-memory", *words]),
                   "arguments": asdict(args), "machine": machine(), "runs": {arm: [] for arm in args.arm_list()}}
        data = prepare_data(args, args.output_dir)
        for seed in args.seed_list():
            for arm in args.arm_list():
                row = {"seed": seed, **train(args, arm, seed, data, os.path.join(args.output_dir, f"seed{seed}", arm))}
                results["runs"][arm].append(row)
                logger.warning("seed %d %s: %s", seed, arm, row)
                results["summary"] = summarise(results["runs"])
                write_results(args.output_dir, results, report_markdown)  # after every run: a cut-short experiment keeps what ran
        results["seconds"] = round(time.perf_counter() - start, 1)
        results["machine_after"] = {"uptime": machine()["uptime"]}
        write_results(args.output_dir, results, report_markdown)
    finally:
        torch.set_num_threads(threads)
    if args.results_file:
        os.makedirs(os.path.dirname(os.path.abspath(args.results_file)), exist_ok=True)
        shutil.copyfile(os.path.join(args.output_dir, "results.json"), args.results_file)
    return results


def run(args: XlMemoryArguments) -> int:
    results = run_experiment(args)
    sys.stdout.write(report_markdown(results))
    written = args.results_file or os.path.join(args.output_dir, "results.json")
    sys.stdout.write(f"wrote {written} in {results['seconds']:.0f}s\n")
    return 0


COMMAND = Command(arguments=(XlMemoryArguments,), run=run, description=__doc__)


def main(argv: list[str] | None = None) -> int:
    """Exit status 2 with one line on stderr for a bad option, 1 for a runtime failure, 0 otherwise."""
    return run_command(COMMAND, "tobigs xl-memory", argv)


if __name__ == "__main__":
    raise SystemExit(main())
