"""transformers' own example scripts (run_clm, run_mlm, run_translation, run_summarization, run_classification,
run_ner, run_qa) fine-tune our saved folders with `--model_name_or_path <folder> --trust_remote_code`, a few steps
each, in a process that cannot import tobigs_transformer.

The scripts are not part of transformers' wheel or sdist. Set TOBIGS_HF_EXAMPLES_DIR to a folder laid out like
transformers' `examples/pytorch/` (language-modeling/run_clm.py, ...,
question-answering/{run_qa,trainer_qa,utils_qa}.py) taken at a commit whose `check_min_version(...)` the installed
transformers satisfies; docs/interop.md says how to get them. Without it the tests skip. No version check is
neutralised: the scripts run unmodified.

What runs offline, and the local stand-ins this module provides:
- every script runs through tests/interop/run_example.py, which puts a finder refusing `tobigs_transformer` at the
  front of `sys.meta_path` and reports any attempt; the environment is `clean_env` (no PYTHONPATH, HF_HUB_OFFLINE=1,
  own HF_MODULES_CACHE and HF_HOME);
- the Hub metrics the scripts load with `evaluate.load(name)` (accuracy, sacrebleu, rouge, seqeval, squad) are
  tests/interop/metrics/<name>/<name>.py, copied into the working directory where `evaluate` looks first; they
  compute the real scores with sacrebleu / rouge_score / seqeval (accuracy with numpy, squad with the official v1.1
  rules) and return the Hub metrics' keys;
- run_summarization's nltk `punkt` sentence splitter is a Punkt model trained (nltk's own PunktTrainer) on the
  fixtures' English text and saved as `tokenizers/punkt_tab/english` under an NLTK_DATA folder.
A script whose metric library (rouge_score, seqeval, nltk) is not installed is skipped with the package to install.

The folders are built as a user would: tiny models (tests/tiny.py sizes) and tokenizers trained with
tobigs_transformer.data on tests/fixtures, saved with `save_pretrained`. Each run must train (finite train_loss,
`max_steps` optimizer steps in trainer_state.json), report its evaluation metric, and leave an output folder that
loads back with its task's Auto class and `trust_remote_code=True`, again without the package.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixtures import helpers as fx
from pipeline_support import clean_env
from tiny import tiny_config

from tobigs_transformer import TobigsForCausalLM, TobigsForConditionalGeneration, TobigsForMaskedLM

ENV_VAR = "TOBIGS_HF_EXAMPLES_DIR"
INTEROP = Path(__file__).resolve().parent
MAX_STEPS = 4
COMMON = [
    "--do_train", "--do_eval", "--max_steps", str(MAX_STEPS), "--per_device_train_batch_size", "4",
    "--per_device_eval_batch_size", "4", "--learning_rate", "1e-3", "--use_cpu", "--report_to", "none",
    "--seed", "0", "--save_strategy", "no", "--disable_tqdm", "true", "--dataloader_num_workers", "0",
    "--logging_steps", "1", "--trust_remote_code",
]
SKIP_REASON = (
    f"{ENV_VAR} is not set: point it at a folder laid out like transformers' examples/pytorch/ "
    "(language-modeling/run_clm.py, run_mlm.py, translation/run_translation.py, summarization/run_summarization.py, "
    "text-classification/run_classification.py, token-classification/run_ner.py, "
    "question-answering/run_qa.py + trainer_qa.py + utils_qa.py) from a transformers commit whose check_min_version "
    "the installed transformers satisfies; see docs/interop.md"
)


def examples_dir() -> Path:
    value = os.environ.get(ENV_VAR)
    if not value:
        pytest.skip(SKIP_REASON)
    root = Path(value)
    if not root.is_dir():
        pytest.fail(f"{ENV_VAR}={value} is not a folder")
    return root


# ---------------------------------------------------------------------------------------------------------------
# Folders: tiny models + tokenizers of the three architectures, saved as a user would.


def _save(model, tokenizer, folder: Path) -> str:
    tokenizer.model_max_length = model.config.max_position_embeddings
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, str]:
    import torch
    from transformers import AutoTokenizer

    examples_dir()  # skip before building anything when the scripts are not there
    toks = fx.tokenizers()
    root = tmp_path_factory.mktemp("example_folders")
    torch.manual_seed(0)

    wordpiece = AutoTokenizer.from_pretrained(toks["wordpiece"])
    encoder = TobigsForMaskedLM(
        tiny_config("bert-base", vocab_size=len(wordpiece), pad_token_id=wordpiece.pad_token_id)
    )

    gpt = AutoTokenizer.from_pretrained(toks["gpt"])
    decoder = TobigsForCausalLM(tiny_config(
        "gpt2", vocab_size=len(gpt), pad_token_id=gpt.pad_token_id, bos_token_id=gpt.bos_token_id,
        eos_token_id=gpt.eos_token_id,
    ))

    seq2seq = _seq2seq_tokenizer(root / "seq2seq_tokenizer")
    encoder_decoder = TobigsForConditionalGeneration(tiny_config(
        "transformer-base", vocab_size=len(seq2seq), pad_token_id=seq2seq.pad_token_id,
        bos_token_id=seq2seq.bos_token_id, eos_token_id=seq2seq.eos_token_id,
        decoder_start_token_id=seq2seq.bos_token_id,
    ))
    return {
        "encoder": _save(encoder, wordpiece, root / "encoder-mlm"),
        "decoder": _save(decoder, gpt, root / "decoder-clm"),
        "encoder_decoder": _save(encoder_decoder, seq2seq, root / "encoder-decoder"),
    }


def _seq2seq_tokenizer(save_dir: Path):
    """One shared Korean/English vocabulary for translation and English summarization."""
    from tobigs_transformer.data import train_translation_tokenizer

    texts = list(fx._texts("ko_en_train.jsonl", "ko_en_validation.jsonl", "docs_train.jsonl", "docs_validation.jsonl"))
    return train_translation_tokenizer(texts, vocab_size=200, min_frequency=1, save_dir=save_dir)


# ---------------------------------------------------------------------------------------------------------------
# Data: the fixtures in the layouts the scripts read.


def _jsonl(path: Path, records) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return str(path)


def _read_jsonl(name: str) -> list[dict]:
    with open(fx.path(name), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def translation_files(data: Path) -> list[str]:
    split = {}
    for name in ("train", "validation"):
        split[name] = _jsonl(data / f"translation_{name}.json",
                             ({"translation": r} for r in _read_jsonl(f"ko_en_{name}.jsonl")))
    return ["--train_file", split["train"], "--validation_file", split["validation"]]


def summarization_files(data: Path) -> list[str]:
    """Documents of sentences; the summary is the first sentence (a lead-1 summary)."""
    split = {}
    for name in ("train", "validation"):
        records = ({"text": " ".join(d["sentences"]), "summary": d["sentences"][0]}
                   for d in _read_jsonl(f"docs_{name}.jsonl"))
        split[name] = _jsonl(data / f"summarization_{name}.json", records)
    return ["--train_file", split["train"], "--validation_file", split["validation"]]


def copy_as_json(data: Path, prefix: str) -> list[str]:
    """run_classification / run_ner accept .json (JSON lines) only, not .jsonl."""
    split = {}
    for name in ("train", "validation"):
        split[name] = str(data / f"{prefix}_{name}.json")
        shutil.copyfile(fx.path(f"{prefix}_{name}.jsonl"), split[name])
    return ["--train_file", split["train"], "--validation_file", split["validation"]]


_QA_LINE = re.compile(r"^(The \w+|My friend) (\w+) the (\w+)")


def qa_records(name: str) -> list[dict]:
    """SQuAD-style questions on the English fixture sentences: 'Who <verb> the <object>?' -> the subject."""
    records = []
    with open(fx.path(name), encoding="utf-8") as f:
        for i, line in enumerate(line.strip() for line in f):
            match = _QA_LINE.match(line)
            if not match:
                continue
            subject, verb, obj = match.groups()
            records.append({
                "id": f"{name}-{i}", "title": "fixtures", "context": line,
                "question": f"Who {verb} the {obj}?", "answers": {"text": [subject], "answer_start": [0]},
            })
    return records


def qa_files(data: Path) -> list[str]:
    train, validation = qa_records("en_train.txt"), qa_records("en_validation.txt")
    assert len(train) >= 16 and len(validation) >= 4, "the fixture sentences no longer match the question pattern"
    # run_qa reads local files as SQuAD's layout: one JSON object whose "data" field holds the examples.
    (data / "qa_train.json").write_text(json.dumps({"data": train}), encoding="utf-8")
    (data / "qa_validation.json").write_text(json.dumps({"data": validation}), encoding="utf-8")
    return ["--train_file", str(data / "qa_train.json"), "--validation_file", str(data / "qa_validation.json")]


def lm_files(data: Path) -> list[str]:
    return ["--train_file", fx.path("en_train.txt"), "--validation_file", fx.path("en_validation.txt")]


# ---------------------------------------------------------------------------------------------------------------
# The scripts.

# name: (script under examples/pytorch, folder, data, arguments, metric modules, libraries, eval metric, Auto class)
SCRIPTS = {
    "run_clm": ("language-modeling/run_clm.py", "decoder", lm_files, ["--block_size", "32"],
                ["accuracy"], [], "eval_accuracy", "AutoModelForCausalLM"),
    "run_mlm": ("language-modeling/run_mlm.py", "encoder", lm_files, ["--max_seq_length", "32"],
                ["accuracy"], [], "eval_accuracy", "AutoModelForMaskedLM"),
    "run_translation": ("translation/run_translation.py", "encoder_decoder", translation_files,
                        ["--source_lang", "ko", "--target_lang", "en", "--max_source_length", "32",
                         "--max_target_length", "32", "--predict_with_generate"],
                        ["sacrebleu"], ["sacrebleu"], "eval_bleu", "AutoModelForSeq2SeqLM"),
    "run_summarization": ("summarization/run_summarization.py", "encoder_decoder", summarization_files,
                          ["--text_column", "text", "--summary_column", "summary", "--max_source_length", "64",
                           "--max_target_length", "16", "--predict_with_generate"],
                          ["rouge"], ["nltk", "rouge_score"], "eval_rouge1", "AutoModelForSeq2SeqLM"),
    "run_classification": ("text-classification/run_classification.py", "encoder",
                           lambda data: copy_as_json(data, "cls"),
                           ["--text_column_names", "text", "--label_column_name", "label", "--max_seq_length", "32"],
                           ["accuracy"], [], "eval_accuracy", "AutoModelForSequenceClassification"),
    "run_ner": ("token-classification/run_ner.py", "encoder", lambda data: copy_as_json(data, "ner"),
                ["--text_column_name", "tokens", "--label_column_name", "tags", "--max_seq_length", "32"],
                ["seqeval"], ["seqeval"], "eval_f1", "AutoModelForTokenClassification"),
    "run_qa": ("question-answering/run_qa.py", "encoder", qa_files,
               ["--max_seq_length", "48", "--doc_stride", "16", "--max_answer_length", "8"],
               ["squad"], [], "eval_f1", "AutoModelForQuestionAnswering"),
}


def punkt_data(root: Path) -> Path:
    """An NLTK_DATA folder whose English Punkt model is trained on the fixtures (no download)."""
    import nltk
    from nltk.tokenize.punkt import PunktTrainer, save_punkt_params

    text = "\n".join(fx._texts("english_documents.txt", "docs_train.jsonl", "en_train.txt"))
    trainer = PunktTrainer()
    trainer.train(text, finalize=True)
    english = root / "tokenizers" / "punkt_tab" / "english"
    # nltk writes only inside its data folders: make this one of them for the save (the script reads NLTK_DATA).
    english.parent.mkdir(parents=True)
    nltk.data.path.insert(0, str(root))
    try:
        save_punkt_params(trainer.get_params(), dir=str(english))
    finally:
        nltk.data.path.remove(str(root))
    # run_summarization checks for the older `tokenizers/punkt` resource before anything else.
    (root / "tokenizers" / "punkt").mkdir()
    return root


def run_script(name: str, tmp_path: Path, folder: str) -> dict:
    script_rel, _, data_fn, args, metrics, libraries, _, _ = SCRIPTS[name]
    script = examples_dir() / script_rel
    if not script.is_file():
        pytest.fail(f"{script} is missing from {ENV_VAR}={examples_dir()}")
    missing = [lib for lib in libraries if importlib.util.find_spec(lib) is None]
    if missing:
        pytest.skip(f"{name} needs {', '.join(missing)} for its metric (pip install {' '.join(missing)})")
    workdir, data, out = tmp_path / "cwd", tmp_path / "data", tmp_path / "out"
    workdir.mkdir()
    data.mkdir()
    for metric in metrics:
        shutil.copytree(INTEROP / "metrics" / metric, workdir / metric)
    env = clean_env(tmp_path)
    if name == "run_summarization":
        env["NLTK_DATA"] = str(punkt_data(tmp_path / "nltk_data"))
    report = tmp_path / "imports.json"
    command = [sys.executable, str(INTEROP / "run_example.py"), str(report), str(script),
               "--model_name_or_path", folder, "--output_dir", str(out), *data_fn(data), *args, *COMMON]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise AssertionError(f"{name} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    imports = json.loads(report.read_text())
    assert imports == {"blocked_imports": [], "tobigs_modules": []}, f"{name} reached the installed package: {imports}"
    return {"out": out, "env": env, "workdir": workdir, "seconds": seconds}


def check_trained(name: str, out: Path, folder: str) -> dict:
    results = json.loads((out / "all_results.json").read_text())
    assert math.isfinite(results["train_loss"]) and results["train_loss"] > 0, results
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == MAX_STEPS, state["global_step"]
    losses = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    assert len(losses) == MAX_STEPS and all(math.isfinite(x) for x in losses), losses
    metric = SCRIPTS[name][6]
    assert metric in results and math.isfinite(results[metric]), f"{metric} missing from {sorted(results)}"
    # The optimizer moved the weights the task model shares with the folder it started from.
    from safetensors.torch import load_file

    before, after = load_file(Path(folder) / "model.safetensors"), load_file(out / "model.safetensors")
    shared = [key for key in before if key in after and before[key].shape == after[key].shape]
    assert shared, f"no weight of {folder} kept its name in {out}: {sorted(after)[:5]}"
    assert any(not before[key].equal(after[key]) for key in shared), "training left every shared weight unchanged"
    return results


def check_loads_back(name: str, run: dict) -> None:
    auto_class = SCRIPTS[name][7]
    report = run["workdir"] / "load_back_imports.json"
    proc = subprocess.run(
        [sys.executable, str(INTEROP / "run_example.py"), str(report), str(INTEROP / "load_back.py"), auto_class,
         str(run["out"])],
        cwd=run["workdir"], env=run["env"], capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"{run['out']} does not load back as {auto_class}:\n{proc.stderr[-4000:]}"
    assert json.loads(report.read_text()) == {"blocked_imports": [], "tobigs_modules": []}
    # The output folder is our model again (remote code from the folder), not a stock transformers class.
    module, cls = proc.stdout.strip().splitlines()[-1].split()[:2]
    assert module.startswith("transformers_modules.") and module.endswith(".modeling_tobigs"), proc.stdout
    assert cls.startswith("Tobigs"), proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SCRIPTS))
def test_example_script_trains_our_folder(name, folders, tmp_path):
    folder = folders[SCRIPTS[name][1]]
    run = run_script(name, tmp_path, folder)
    results = check_trained(name, run["out"], folder)
    check_loads_back(name, run)
    metric = SCRIPTS[name][6]
    print(f"| {name} | {run['seconds']:.1f} s | {results['train_loss']:.4f} | {metric} = {results[metric]:.4g} |")


def test_import_blocker_reports_the_package(tmp_path):
    """The harness itself: a script that imports tobigs_transformer fails under run_example.py and is reported."""
    script = tmp_path / "uses_package.py"
    script.write_text("import tobigs_transformer\n")
    report = tmp_path / "imports.json"
    proc = subprocess.run([sys.executable, str(INTEROP / "run_example.py"), str(report), str(script)],
                          env=clean_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "tobigs_transformer is blocked" in proc.stderr
    assert json.loads(report.read_text()) == {"blocked_imports": ["tobigs_transformer"], "tobigs_modules": []}


@pytest.mark.parametrize(
    "name, predictions, references, expected",
    [
        ("accuracy", [0, 1, 1, 0], [0, 1, 0, 0], {"accuracy": 0.75}),
        ("sacrebleu", ["the cat sat on the mat"], [["the cat sat on the mat"]], {"score": 100.0}),
        ("rouge", ["the cat sat"], ["the cat sat"], {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0}),
        # One of the two gold entities found, one spurious entity: precision 1/2, recall 1/2.
        ("seqeval", [["B-PER", "O", "B-LOC", "O"]], [["B-PER", "O", "O", "B-LOC"]],
         {"overall_precision": 0.5, "overall_recall": 0.5, "overall_f1": 0.5, "overall_accuracy": 0.5}),
        # Articles and punctuation are ignored; "king rests" vs "king" is F1 2/3.
        ("squad", [{"id": "a", "prediction_text": "The king."}, {"id": "b", "prediction_text": "king rests"}],
         [{"id": "a", "answers": {"text": ["king"], "answer_start": [4]}},
          {"id": "b", "answers": {"text": ["the king"], "answer_start": [0]}}],
         {"exact_match": 50.0, "f1": 100.0 * (1 + 2 / 3) / 2}),
    ],
)
def test_metric_stand_ins_compute_the_real_scores(name, predictions, references, expected, monkeypatch, tmp_path):
    """Each stand-in loads the way the scripts load it (`evaluate.load(name)` from the working directory) and gives
    the known score; sacrebleu / rouge / seqeval must also agree with their libraries called directly."""
    for library in {"rouge": ["rouge_score", "nltk"], "seqeval": ["seqeval"]}.get(name, []):
        pytest.importorskip(library)
    import evaluate

    shutil.copytree(INTEROP / "metrics" / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "modules"))
    result = evaluate.load(name).compute(predictions=predictions, references=references)
    for key, value in expected.items():
        assert result[key] == pytest.approx(value), (key, result)
    if name == "sacrebleu":
        import sacrebleu

        assert result["score"] == sacrebleu.corpus_bleu(predictions, [[r[0] for r in references]]).score
    if name == "seqeval":
        from seqeval.metrics import f1_score

        assert result["overall_f1"] == pytest.approx(f1_score(references, predictions))
        assert result["LOC"]["f1"] == 0.0 and result["PER"]["f1"] == 1.0
