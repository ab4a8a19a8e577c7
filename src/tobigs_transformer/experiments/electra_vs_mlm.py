"""ELECTRA's claim at CPU scale (Clark et al. 2020, §3.2 and Table 1): at equal pre-training compute on the same text,
does replaced-token detection give a better encoder for fine-tuning than masked-LM alone?

Arms (one encoder configuration for all, the same pre-training text, tokenizer and fine-tuning recipe):

* ``electra`` — ``tobigs train mlm --objective electra``: generator (``--generator_size`` of the encoder) +
  discriminator, loss MLM + 50·RTD; the discriminator is fine-tuned;
* ``mlm``     — ``tobigs train mlm --objective mlm``: the same encoder as a masked LM (RoBERTa's recipe: packed full
  sentences, dynamic masking, no NSP);
* ``scratch`` — no pre-training (what pre-training adds at all).

Equal compute is counted as the same optimizer steps × batch × sequence length (the same tokens seen, the same
learning-rate schedule); ELECTRA's step also runs its small generator, which the measured pre-training wall time
shows. Each model is then fine-tuned on Rotten Tomatoes (``tobigs train classification``, same steps, same learning
rate) and scored on the test split (never used for a choice). Every seed repeats pre-training and fine-tuning.

Text: Shakespeare's works as documents (the README's MLM text) plus, as unlabelled in-domain text, the Rotten Tomatoes
training snippets (labels dropped), from ``tobigs corpora`` (built into ``--data_dir`` when missing). Tokenizer:
WordPiece trained on that text (``tobigs tokenizer --kind wordpiece``).

    python -m tobigs_transformer.experiments.electra_vs_mlm --output_dir runs/electra_vs_mlm

Writes ``results.json`` (per seed and arm: pre-training metrics and wall time, test accuracy; mean ± std per arm)
and the same as tables in ``results.md``, after every run (a run cut short keeps what finished).
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from ..tooling.cli import UsageError
from ..tooling.commands import Command, run_command
from .common import machine, spread, tobigs, write_results

logger = logging.getLogger(__name__)

ARMS = ("electra", "mlm", "scratch")
MODULE = "tobigs_transformer.experiments.electra_vs_mlm"


@dataclass
class ElectraVsMlmArguments:
    """Options of the experiment; the defaults are sized for a whole run of ~25 min on a shared 2-core CPU."""

    output_dir: str = field(default="runs/electra_vs_mlm", metadata={"help": "Where runs and results.json go."})
    data_dir: str = field(default="data", metadata={"help": "tobigs corpora output (built here when missing)."})
    cache_dir: str = field(default="data_cache/downloads", metadata={"help": "Download cache of tobigs corpora."})
    seeds: str = field(default="0,1,2", metadata={"help": "Comma-separated seeds (pre-training and fine-tuning)."})
    arms: str = field(default="electra,mlm,scratch", metadata={"help": f"Comma-separated subset of {ARMS}."})
    vocab_size: int = field(default=2000, metadata={"help": "WordPiece vocabulary size."})
    d_model: int = field(default=128, metadata={"help": "Encoder width (every arm)."})
    layers: int = field(default=2, metadata={"help": "Encoder layers."})
    heads: int = field(default=4, metadata={"help": "Attention heads."})
    ffn_dim: int = field(default=512, metadata={"help": "Position-wise FFN width."})
    generator_size: float = field(default=0.25, metadata={"help": "ELECTRA's generator / discriminator (paper 1/4)."})
    max_seq_length: int = field(default=64, metadata={"help": "Tokens per example, pre-training and fine-tuning."})
    pretrain_steps: int = field(default=300, metadata={"help": "Pre-training optimizer steps (equal for both)."})
    pretrain_batch_size: int = field(default=16, metadata={"help": "Pre-training batch size."})
    pretrain_learning_rate: float = field(default=1e-3, metadata={"help": "Pre-training peak learning rate."})
    unlabelled_reviews: bool = field(
        default=True, metadata={"help": "Add the Rotten Tomatoes training snippets (no labels) to the pre-training "
                                        "text."})
    finetune_steps: int = field(default=400, metadata={"help": "Fine-tuning optimizer steps."})
    finetune_batch_size: int = field(default=16, metadata={"help": "Fine-tuning batch size."})
    finetune_learning_rate: float = field(default=1e-3, metadata={"help": "Fine-tuning peak learning rate."})
    threads: int = field(
        default=1, metadata={"help": "Torch threads (1: a shared CPU runs these small models ~3x faster than with "
                                     "threads that wait on each other; 0 = torch's default)."})

    def __post_init__(self):
        try:
            self.seed_list()
            unknown = set(self.arm_list()) - set(ARMS)
        except ValueError as error:
            raise UsageError(f"--seeds {self.seeds!r}: {error}") from error
        if unknown or not self.arm_list():
            raise UsageError(f"--arms {self.arms!r}: choose from {ARMS}")
        for name in ("pretrain_steps", "finetune_steps", "pretrain_batch_size", "finetune_batch_size", "layers"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be >= 1, got {getattr(self, name)}")

    def seed_list(self) -> list[int]:
        return [int(s) for s in self.seeds.split(",") if s.strip()]

    def arm_list(self) -> list[str]:
        return [a.strip() for a in self.arms.split(",") if a.strip()]

    def encoder_overrides(self) -> str:
        """The one encoder configuration (a --config_overrides string on the bert-base preset)."""
        return (f"d_model={self.d_model},encoder_layers={self.layers},encoder_attention_heads={self.heads},"
                f"encoder_ffn_dim={self.ffn_dim},max_position_embeddings={self.max_seq_length}")


# ------------------------------------------------------------------------------------------------ data
def prepare_data(args: ElectraVsMlmArguments, work: str) -> dict[str, str]:
    """The corpora (built when missing), the pre-training documents and the WordPiece tokenizer."""
    from ..data import train_wordpiece_tokenizer
    from ..data.corpora import build_corpora

    shakespeare = os.path.join(args.data_dir, "en", "shakespeare_documents_train.jsonl")
    reviews = {split: os.path.join(args.data_dir, "cls", f"rotten_tomatoes_{split}.jsonl")
               for split in ("train", "test")}
    if not all(os.path.isfile(p) for p in (shakespeare, *reviews.values())):
        build_corpora(args.data_dir, args.cache_dir, corpora=("shakespeare", "rotten_tomatoes"))
    documents = [json.loads(line)["sentences"] for line in open(shakespeare, encoding="utf-8") if line.strip()]
    if args.unlabelled_reviews:
        snippets = [json.loads(line)["text"] for line in open(reviews["train"], encoding="utf-8") if line.strip()]
        # one review per sentence, 50 reviews per document (packing fills blocks across them anyway)
        documents += [snippets[i:i + 50] for i in range(0, len(snippets), 50)]
    pretrain = os.path.join(work, "pretrain_documents.jsonl")
    with open(pretrain, "w", encoding="utf-8") as f:
        for sentences in documents:
            f.write(json.dumps({"sentences": sentences}) + "\n")
    tokenizer = os.path.join(work, "tokenizer")
    if not os.path.isfile(os.path.join(tokenizer, "tokenizer.json")):  # a rerun in the same folder: the same text
        train_wordpiece_tokenizer((s for doc in documents for s in doc), vocab_size=args.vocab_size, min_frequency=2,
                                  save_dir=tokenizer)
    return {"pretrain": pretrain, "tokenizer": tokenizer, "cls_train": reviews["train"], "cls_test": reviews["test"]}


# ------------------------------------------------------------------------------------------------ runs
def _common(seed: int, output_dir: str) -> list[str]:
    return ["--output_dir", output_dir, "--seed", str(seed), "--use_cpu", "--report_to", "none", "--disable_tqdm",
            "true", "--save_strategy", "no", "--dataloader_num_workers", "0", "--logging_steps", "50", "--plot",
            "false"]


def pretrain(args: ElectraVsMlmArguments, arm: str, seed: int, data: dict[str, str], output_dir: str) -> dict:
    """``tobigs train mlm`` with ``--objective electra`` or ``mlm`` on the same text, steps and batch."""
    overrides = args.encoder_overrides()
    if arm == "electra":
        overrides += f",generator_size={args.generator_size}"
    start = time.perf_counter()
    metrics = tobigs("train mlm", [
        "--objective", arm, "--preset", "bert-base", "--config_overrides", overrides,
        "--tokenizer_name", data["tokenizer"], "--train_file", data["pretrain"], "--validation_split_percentage", "2",
        "--max_seq_length", str(args.max_seq_length), "--do_train", "--do_eval", "--max_eval_samples", "256",
        "--max_steps", str(args.pretrain_steps), "--per_device_train_batch_size", str(args.pretrain_batch_size),
        "--per_device_eval_batch_size", "64", "--learning_rate", str(args.pretrain_learning_rate),
        "--warmup_steps", str(max(1, args.pretrain_steps // 10)), "--weight_decay", "0.01",
        *_common(seed, output_dir),
    ])
    keep = ("train_runtime", "train_loss", "eval_loss", "eval_mlm_loss", "eval_rtd_loss", "eval_rtd_accuracy",
            "eval_replaced_fraction", "eval_generator_accuracy", "eval_mlm_accuracy", "eval_perplexity")
    return {"seconds": round(time.perf_counter() - start, 1), **{k: metrics[k] for k in keep if k in metrics}}


def fine_tune(args: ElectraVsMlmArguments, arm: str, seed: int, data: dict[str, str], model_dir: str | None,
              output_dir: str) -> dict:
    """``tobigs train classification`` on Rotten Tomatoes; accuracy on its test split."""
    model = (["--model_name_or_path", model_dir] if model_dir else
             ["--preset", "bert-base", "--config_overrides", args.encoder_overrides(), "--tokenizer_name",
              data["tokenizer"]])
    start = time.perf_counter()
    metrics = tobigs("train classification", [
        *model, "--train_file", data["cls_train"], "--validation_file", data["cls_test"], "--max_seq_length",
        str(args.max_seq_length), "--do_train", "--do_eval", "--max_steps", str(args.finetune_steps),
        "--per_device_train_batch_size", str(args.finetune_batch_size), "--per_device_eval_batch_size", "128",
        "--learning_rate", str(args.finetune_learning_rate), "--warmup_steps", str(max(1, args.finetune_steps // 10)),
        *_common(seed, output_dir),
    ])
    return {"seconds": round(time.perf_counter() - start, 1), "test_accuracy": metrics["eval_accuracy"],
            **({"test_f1": metrics["eval_f1"]} if "eval_f1" in metrics else {})}


def summarise(runs: dict[str, list[dict]]) -> dict[str, dict]:
    """Per arm: mean, sample standard deviation and range of the test accuracy over seeds."""
    out = {}
    for arm, rows in runs.items():
        if not rows:
            continue
        out[arm] = spread([r["fine_tune"]["test_accuracy"] for r in rows])
        seconds = [r["pretrain"].get("train_runtime", r["pretrain"]["seconds"]) for r in rows if r.get("pretrain")]
        if seconds:
            out[arm]["pretrain_seconds_mean"] = statistics.fmean(seconds)
    return out


def run_experiment(args: ElectraVsMlmArguments) -> dict:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    os.makedirs(args.output_dir, exist_ok=True)
    started, start = datetime.now(timezone.utc).isoformat(timespec="seconds"), time.perf_counter()
    machine_before = machine()
    data = prepare_data(args, args.output_dir)
    runs: dict[str, list[dict]] = {arm: [] for arm in args.arm_list()}
    results = {"started": started, "command": " ".join(["python", "-m", MODULE, *sys.argv[1:]]),
               "arguments": asdict(args), "machine": machine_before, "runs": runs}
    for seed in args.seed_list():
        for arm in args.arm_list():
            folder = os.path.join(args.output_dir, f"seed{seed}", arm)
            row: dict = {"seed": seed}
            model_dir = None
            if arm != "scratch":
                model_dir = os.path.join(folder, "pretrain")
                row["pretrain"] = pretrain(args, arm, seed, data, model_dir)
            row["fine_tune"] = fine_tune(args, arm, seed, data, model_dir, os.path.join(folder, "classify"))
            runs[arm].append(row)
            logger.warning("seed %d %s: %s", seed, arm, row)
            results["summary"] = summarise(runs)
            write_results(args.output_dir, results, report_markdown)  # after every run: a cut-short experiment keeps what ran
    results["seconds"] = round(time.perf_counter() - start, 1)
    results["machine_after"] = {"uptime": machine()["uptime"]}
    write_results(args.output_dir, results, report_markdown)
    return results


def report_markdown(results: dict) -> str:
    """The results as Markdown tables: test accuracy per arm (mean ± std over seeds), then every run."""
    lines = ["| arm | seeds | test accuracy mean ± std | min .. max | pre-training train s (mean) |",
             "|---|---|---|---|---|"]
    for arm, s in results.get("summary", {}).items():
        seconds = f"{s['pretrain_seconds_mean']:.0f}" if "pretrain_seconds_mean" in s else "—"
        lines.append(f"| {arm} | {s['seeds']} | {s['mean']:.4f} ± {s['std']:.4f} | {s['min']:.4f} .. "
                     f"{s['max']:.4f} | {seconds} |")
    lines += ["", "| seed | arm | pre-training (eval) | pre-training train s | fine-tune s | test accuracy |",
              "|---|---|---|---|---|---|"]
    for arm, rows in results["runs"].items():
        for row in rows:
            pre = row.get("pretrain", {})
            if "eval_rtd_accuracy" in pre:
                shown = (f"mlm_loss {pre['eval_mlm_loss']:.3f}, rtd_loss {pre['eval_rtd_loss']:.3f}, rtd_accuracy "
                         f"{pre['eval_rtd_accuracy']:.3f} (floor {1 - pre['eval_replaced_fraction']:.3f})")
            elif "eval_loss" in pre:
                accuracy = pre.get("eval_mlm_accuracy", float("nan"))
                shown = f"mlm_loss {pre['eval_loss']:.3f}, mlm_accuracy {accuracy:.3f}"
            else:
                shown = "—"
            seconds = pre.get("train_runtime", pre.get("seconds"))
            seconds = "—" if seconds is None else f"{seconds:.0f}"
            tuned = row["fine_tune"]
            lines.append(f"| {row['seed']} | {arm} | {shown} | {seconds} | {tuned['seconds']} | "
                         f"{tuned['test_accuracy']:.4f} |")
    return "\n".join(lines) + "\n"


def run(args: ElectraVsMlmArguments) -> int:
    results = run_experiment(args)
    for arm, s in results["summary"].items():
        sys.stdout.write(f"{arm:<8} test accuracy {s['mean']:.4f} ± {s['std']:.4f} (n={s['seeds']}, "
                         f"{s['min']:.4f}..{s['max']:.4f})\n")
    sys.stdout.write(f"wrote {os.path.join(args.output_dir, 'results.json')} in {results['seconds']:.0f}s\n")
    return 0


COMMAND = Command(arguments=(ElectraVsMlmArguments,), run=run, description=__doc__)


def main(argv: list[str] | None = None) -> int:
    """Exit status 2 with one line on stderr for a bad option, 1 for a runtime failure, 0 otherwise."""
    return run_command(COMMAND, f"python -m {MODULE}", argv)


if __name__ == "__main__":
    raise SystemExit(main())
