"""The README and docs/commands.md (where the README's recipes live) run as written: their Python examples, and every
`tobigs` command of their shell blocks (each parses with the current options and its --help works; the training
chain, the tokenizers, the export and the figures run on tiny data in place of the corpora)."""

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
from fixtures.helpers import COMMON, TINY, path

from tobigs_transformer.tooling.cli import argparse_errors_raise
from tobigs_transformer.tooling.commands import Command, _with_positional, build_parser
from tobigs_transformer.tooling.main import _load, find, main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: The pages whose commands and Python are tested here: the README, then the page with every recipe.
DOCUMENTS = (README, ROOT / "docs" / "commands.md")
TEXT = "\n".join(document.read_text(encoding="utf-8") for document in DOCUMENTS)


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", TEXT, flags=re.S)


def readme_commands() -> list[list[str]]:
    """The words after `tobigs` of every command in the bash blocks of `DOCUMENTS` (continuation lines joined, comments
    dropped), in the order they appear."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", TEXT, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] in ("tobigs", ".venv/bin/tobigs"):
                commands.append(words[1:])
    return commands


def test_readme_quick_example_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    example = next(b for b in blocks if "TobigsConfig.from_preset" in b)
    assert len(example.strip().splitlines()) <= 10  # the README's promise: a ten-line quickstart
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(example, "README.md", "exec"), namespace)  # noqa: S102 - our own documentation
    assert type(namespace["model"]).__name__ == "TobigsForConditionalGeneration"
    assert namespace["out"].shape[0] == 1 and (tmp_path / "my-transformer" / "model.safetensors").is_file()


def test_the_readme_commands_are_the_set_up_and_the_help():
    readme = README.read_text(encoding="utf-8")
    shell = "\n".join(re.findall(r"```bash\n(.*?)```", readme, flags=re.S))
    assert "bash scripts/run_demo.sh" in shell and "bash scripts/run_tests.sh" in shell
    for script in ("scripts/run_demo.sh", "scripts/run_tests.sh", "scripts/quickstart.py"):
        assert (ROOT / script).is_file(), script
    assert "`tobigs --help`" in readme and ["--help"] in readme_commands()


def test_the_docs_show_every_recipe_and_every_command_kind():
    commands = [" ".join(words) for words in readme_commands()]
    for recipe in ("train clm", "train mlm --objective mlm+nsp", "train mlm --objective mlm ",
                   "train mlm --objective mlm+sop", "train denoising --noising paper",
                   "train denoising --noising bart-large", "train denoising --noising pegasus",
                   "train translation --task translation", "train classification", "train token-classification",
                   "convert", "export", "viz ", "corpora", "tokenizer", "rnn-vs-transformer", "--help"):
        assert any(c.startswith(recipe) or f" {recipe}" in f" {c} " for c in commands), recipe


@pytest.mark.parametrize("words", readme_commands(), ids=lambda w: " ".join(w[:3]))
def test_every_readme_command_parses_and_has_help(words, capsys):
    if words == ["--help"]:
        assert main(words) == 0
        return
    entry, rest = find(words)
    assert entry is not None, f"`tobigs {' '.join(words)}` is no command"
    with pytest.raises(SystemExit) as info:
        main([*entry.words.split(), "--help"])
    assert info.value.code == 0
    target = _load(entry)
    if isinstance(target, Command):  # the options and their values are the command's (nothing runs)
        with argparse_errors_raise():
            _, unknown = build_parser(target).parse_known_args(_with_positional(rest, target.positional))
        assert unknown == [], unknown


# ------------------------------------------------------------------------------------------------ the chain
#: README paths → the tiny fixture each stands for (the real ones come from `tobigs corpora`).
DATA = {
    "data/en/shakespeare_train.jsonl": "en_train.txt", "data/en/shakespeare_validation.jsonl": "en_validation.txt",
    "data/en/shakespeare_documents_train.jsonl": "docs_train.jsonl",
    "data/en/shakespeare_documents_validation.jsonl": "docs_validation.jsonl",
    "data/ko_en/train.jsonl": "ko_en_train.jsonl", "data/ko_en/validation.jsonl": "ko_en_validation.jsonl",
    "data/ko_en/test.jsonl": "ko_en_validation.jsonl", "data/cls/rotten_tomatoes_train.jsonl": "cls_train.jsonl",
    "data/cls/rotten_tomatoes_validation.jsonl": "cls_validation.jsonl",
    "data/cls/rotten_tomatoes_test.jsonl": "cls_validation.jsonl",
    "tests/fixtures/ner_train.jsonl": "ner_train.jsonl",
    "tests/fixtures/ner_validation.jsonl": "ner_validation.jsonl",
}
#: What runs here; the rest (downloads, a Hub model to convert, minutes of training) only parses above.
RUN = ("tokenizer", "train", "export", "viz attention", "viz curves")
#: Appended to a training command: tiny sizes (the later value of an option wins), a few steps on the CPU.
SHORT = {"train clm": ["--block_size", "32"], "train mlm": ["--max_seq_length", "32"],
         "train denoising": ["--max_seq_length", "32"],
         "train translation": ["--max_source_length", "32", "--max_target_length", "32", "--generation_max_length",
                               "12", "--max_eval_samples", "4", "--max_predict_samples", "4"],
         "train classification": ["--max_seq_length", "32"], "train token-classification": ["--max_seq_length", "32"]}


def _fake_data(root: Path) -> None:
    for target, fixture in DATA.items():
        (root / target).parent.mkdir(parents=True, exist_ok=True)
        if fixture.endswith(".txt"):  # the corpora's paragraphs are {"text": ...} records
            lines = [line for line in open(path(fixture), encoding="utf-8").read().splitlines() if line.strip()]
            (root / target).write_text("".join(json.dumps({"text": t}) + "\n" for t in lines), encoding="utf-8")
        else:
            shutil.copy(path(fixture), root / target)


def _tiny(words: list[str]) -> list[str]:
    entry, _ = find(words)
    if not entry.words.startswith("train"):
        return words
    preset = ["--config_overrides", TINY] if "--preset" in words else []
    return [*words, *preset, *SHORT[entry.words], "--max_steps", "2", *COMMON]


@pytest.mark.slow
def test_the_readme_training_chain_runs_on_tiny_data(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _fake_data(tmp_path)
    ran = []
    for words in readme_commands():
        if " ".join(words).startswith(RUN):
            assert main(_tiny(words)) == 0, " ".join(words)
            ran.append(find(words)[0].words)
    assert ran.count("train mlm") == 4 and ran.count("train denoising") == 3 and "export" in ran
    for run in ("gpt", "xl", "bert", "roberta", "albert", "electra", "bart", "bart-large-noising", "pegasus",
                "transformer-ko-en", "bert-rotten-tomatoes", "bert-ner"):
        assert (tmp_path / "runs" / run / "metrics.json").is_file(), run
    metrics = json.loads((tmp_path / "runs" / "bert-ner" / "metrics.json").read_text())["metrics"]
    assert {"test_accuracy", "test_entity_f1"} <= set(metrics)  # token classification predicts too
    assert (tmp_path / "hub" / "transformer-ko-en" / "README.md").is_file()
    assert (tmp_path / "figures" / "loss.png").is_file()
    # the plain-Python translator of the README, on the model the chain trained
    example = next(b for b in _python_blocks() if "AutoModelForSeq2SeqLM.from_pretrained(\"runs/" in b)
    capsys.readouterr()
    exec(compile(example, "docs/commands.md", "exec"), {})  # noqa: S102 - our own documentation
    printed = capsys.readouterr().out.strip()
    assert printed.startswith("[") and printed.endswith("]")
