"""Same command + same seed ⇒ identical artefacts, across fresh processes (docs/reliability.md, "Reproducibility").

Every check runs the work in two new Python processes that differ in everything that must not matter —
``PYTHONHASHSEED``, ``TOKENIZERS_PARALLELISM`` and ``RAYON_NUM_THREADS`` — and compares the outputs byte for byte.
Before the fix the WordPiece and Unigram files (and so the NSP pairs built with them) differed between any two
processes: the ``tokenizers`` trainers iterate Rust hash maps seeded at random per process.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
# Two environments that share nothing a result may depend on.
ENVIRONMENTS = (
    {"PYTHONHASHSEED": "0", "TOKENIZERS_PARALLELISM": "false", "RAYON_NUM_THREADS": "1"},
    {"PYTHONHASHSEED": "4242", "TOKENIZERS_PARALLELISM": "true", "RAYON_NUM_THREADS": "2"},
)
TRAINERS = {  # folder: (kind, extra arguments)
    "gpt": ("gpt", {}),
    "bart": ("bart", {}),
    "wordpiece": ("wordpiece", {}),
    "translation-unigram": ("translation", {"model": "unigram"}),
    "translation-bpe": ("translation", {"model": "bpe"}),
}

SCRIPT = """
import json, sys
from functools import partial
from pathlib import Path
import datasets
from tobigs_transformer.data import create_nsp_examples, create_sop_examples, train_tokenizer
out, fixtures, trainers = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
pairs = [json.loads(line) for line in (fixtures / "ko_en_pairs.jsonl").read_text(encoding="utf-8").splitlines()]
lines = (fixtures / "english_documents.txt").read_text(encoding="utf-8").splitlines()
# both languages, and each text also in lower case: enough equal-count pairs and rare characters for the trainers'
# hash-order ties to show
texts = [p["ko"] for p in pairs] + [p["en"] for p in pairs] + lines
texts = texts + [t.lower() for t in texts]
for folder, (kind, extra) in trainers.items():
    vocab = 300 if kind in ("translation", "wordpiece") and extra.get("model") != "bpe" else 400
    train_tokenizer(kind, texts, vocab_size=vocab, min_frequency=1, save_dir=out / folder, **extra)

# NSP/SOP pairs as run_mlm builds them: the process's own WordPiece tokenizer, then datasets.map over documents
tokenizer = train_tokenizer("wordpiece", texts, vocab_size=300, min_frequency=1)
documents = [[s.strip() for s in line.split(". ") if s.strip()] for line in lines]
ds = datasets.Dataset.from_dict({"sentences": documents})
result = {}
for name, builder in (("nsp", create_nsp_examples), ("sop", create_sop_examples)):
    built = ds.map(partial(builder, tokenizer=tokenizer, max_seq_length=24, seed=7), batched=True, batch_size=4,
                   remove_columns=["sentences"], load_from_cache_file=False)
    result[name] = built.to_dict()
(out / "pairs.json").write_text(json.dumps(result, sort_keys=True))
"""


def _run_in_two_processes(script: str, tmp_path: Path, *args: str) -> list[Path]:
    """Run ``script`` in two fresh interpreters at once (one per environment); return their output folders."""
    outs, procs = [], []
    for i, extra in enumerate(ENVIRONMENTS):
        out = tmp_path / f"process{i}"
        out.mkdir()
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", **extra}
        env["HF_DATASETS_CACHE"] = str(tmp_path / f"datasets-cache{i}")  # nothing shared through a cache
        procs.append(subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(script), str(out), *args],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ))
        outs.append(out)
    for proc in procs:
        output, _ = proc.communicate(timeout=1800)  # two demos side by side on 2 cores; slower on a shared machine
        assert proc.returncode == 0, output[-3000:]
    return outs


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def trained_twice(tmp_path_factory) -> list[Path]:
    """Every tokenizer trainer and the NSP/SOP pair builders, run in two fresh processes (~10 s on an idle machine)."""
    return _run_in_two_processes(SCRIPT, tmp_path_factory.mktemp("twice"), str(FIXTURES), json.dumps(TRAINERS))


@pytest.mark.parametrize("folder", list(TRAINERS))
def test_tokenizer_files_are_byte_identical_across_processes(trained_twice, folder):
    first, second = (_digests(out / folder) for out in trained_twice)
    assert set(first) >= {"tokenizer.json", "tokenizer_config.json"}
    differing = [name for name in first if first[name] != second.get(name)]
    assert not differing, f"{folder}: {differing} differ between two processes"


def test_tokenizers_in_the_two_processes_encode_alike(trained_twice):
    """The files being equal, the tokenizers are; check the one the issue saw differ on real text too."""
    from transformers import AutoTokenizer

    text = "투빅아, 나는 너를 많이 사랑해. Tobigs, I love you so much."
    for folder in TRAINERS:
        a, b = (AutoTokenizer.from_pretrained(out / folder) for out in trained_twice)
        assert a(text)["input_ids"] == b(text)["input_ids"], folder


def test_nsp_and_sop_pairs_are_identical_across_processes(trained_twice):
    a, b = (json.loads((out / "pairs.json").read_text()) for out in trained_twice)
    assert len(a["nsp"]["input_ids"]) > 5 and len(a["sop"]["input_ids"]) > 5
    assert a == b


# ------------------------------------------------------------------ the demo
DEMO_CACHE = Path(os.environ.get("TOBIGS_DEMO_CACHE", ROOT / "data_cache" / "downloads"))


@pytest.mark.slow
def test_quick_demo_is_reproducible(tmp_path):
    """Two fresh processes of ``demo --quick`` (same seed, different hash seeds) give byte-identical tokenizers and the
    same metrics, sample translations and generated text.  Downloads go to ``data_cache/downloads`` (or
    ``$TOBIGS_DEMO_CACHE``) once; each demo takes ~3-5 min on 2 CPU cores, and the two run side by side."""
    DEMO_CACHE.mkdir(parents=True, exist_ok=True)
    script = """
    import sys
    from tobigs_transformer.experiments.demo import main
    main(["--quick", "--output_dir", sys.argv[1], "--cache_dir", sys.argv[2], "--seed", "42"])
    """
    first, second = _run_in_two_processes(script, tmp_path, str(DEMO_CACHE))
    summaries = [json.loads((out / "summary.json").read_text(encoding="utf-8")) for out in (first, second)]
    toks = [Path(s["artefacts"]["tokenizers"]) for s in summaries]
    assert toks[0].name == toks[1].name  # same settings ⇒ same key
    assert _digests(toks[0]) == _digests(toks[1])
    stages = [
        {name: {f: stage[f] for f in ("metrics", "samples") if f in stage} for name, stage in s["stages"].items()}
        for s in summaries
    ]
    assert stages[0] == stages[1]
    assert summaries[0].get("hub", {}).get("pipeline_output") == summaries[1].get("hub", {}).get("pipeline_output")
    assert any("test_bleu" in stage.get("metrics", {}) for stage in stages[0].values())
