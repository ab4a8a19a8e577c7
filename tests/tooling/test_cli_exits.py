"""Every console script ends the same way: a usage error is one line on stderr naming the option (`prog: error: ...`)
and exit status 2, a runtime failure one line and exit status 1, never a traceback unless TOBIGS_DEBUG=1.

In-process cases call the entry-point functions pyproject.toml names (the previous release's names, aliases of
`tobigs <command>`, and the modules' own `main`); the subprocess cases start each console script as pip's generated
wrapper does (`sys.exit(entry())` with `sys.argv[0]` set to the script name).  `tests/tooling/test_front_door.py` covers
`tobigs <command>` itself."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from fixtures.helpers import path, tokenizers

from tobigs_transformer.convert import cli as convert_cli
from tobigs_transformer.data import cli_build_corpora, cli_train_tokenizer
from tobigs_transformer.experiments import rnn_vs_transformer
from tobigs_transformer.hub import cli as hub_cli
from tobigs_transformer.tooling import aliases
from tobigs_transformer.tooling.cli import DEBUG_ENV, UsageError, run_cli
from tobigs_transformer.viz import cli as viz_cli

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]


def _one_error_line(capsys, prog: str) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{prog}: error: ") and "Traceback" not in err, err
    return lines[0]


def _bad_jsonl(tmp_path) -> str:
    p = tmp_path / "bad.jsonl"
    p.write_text('{"text": "ok"}\n{"text": "broken",}\n', encoding="utf-8")
    return str(p)


def _blank_txt(tmp_path) -> str:
    """Rows whose text is only white space: a readable file from which no text comes."""
    p = tmp_path / "blank.jsonl"
    p.write_text('{"text": "   "}\n{"text": "\\t"}\n', encoding="utf-8")
    return str(p)


# (entry function, prog, argv builder, exit status, words the line must contain)
USAGE_CASES = {
    "clm-unknown-option": (aliases.train_clm, "tobigs-train-clm", lambda t: ["--bogus", "1"], 2,
                           ["unrecognized arguments: --bogus 1"]),
    "clm-bad-int": (aliases.train_clm, "tobigs-train-clm", lambda t: ["--block_size", "abc"], 2,
                    ["--block_size", "invalid int value: 'abc'"]),
    "clm-missing-file": (aliases.train_clm, "tobigs-train-clm",
                         lambda t: ["--preset", "gpt2", "--tokenizer_name", tokenizers()["gpt"], "--train_file",
                                    str(t / "nope.txt"), "--do_train", "--output_dir", str(t), "--use_cpu"], 2,
                         ["nope.txt", "no such file"]),
    "clm-malformed-jsonl": (aliases.train_clm, "tobigs-train-clm",
                            lambda t: ["--preset", "gpt2", "--tokenizer_name", tokenizers()["gpt"], "--train_file",
                                       _bad_jsonl(t), "--do_train", "--output_dir", str(t), "--use_cpu"], 1,
                            ["DataFileError", "bad.jsonl:2: malformed JSON line"]),
    "mlm-unknown-preset": (aliases.train_mlm, "tobigs-train-mlm",
                           lambda t: ["--preset", "nope", "--tokenizer_name", tokenizers()["wordpiece"], "--do_train",
                                      "--train_file", path("docs_train.jsonl"), "--output_dir", str(t), "--use_cpu"],
                           2, ["--preset 'nope' is unknown", "bert-base"]),
    "denoising-bad-noising": (aliases.train_denoising, "tobigs-train-denoising",
                              lambda t: ["--noising", "weird", "--output_dir", str(t), "--use_cpu"], 2,
                              ["--noising", "'weird'"]),
    "translation-bad-scheduler": (aliases.train_translation, "tobigs-train-translation",
                                  lambda t: ["--source_lang", "ko", "--target_lang", "en", "--lr_scheduler_type",
                                            "bogus", "--output_dir", str(t)], 2,
                                  ["--lr_scheduler_type 'bogus' is not a known schedule"]),
    "classification-unknown-option": (aliases.train_classification, "tobigs-train-classification",
                                      lambda t: ["--num_labelz", "3"], 2, ["unrecognized arguments: --num_labelz 3"]),
    "token-classification-missing-tokenizer": (
        aliases.train_token_classification, "tobigs-train-token-classification",
        lambda t: ["--preset", "bert-base", "--tokenizer_name", str(t / "no-tok"), "--train_file",
                   path("ner_train.jsonl"), "--do_train", "--output_dir", str(t), "--use_cpu"], 2,
        ["--tokenizer_name", "no-tok", "no such directory"]),
    "corpora-unknown-option": (cli_build_corpora.main, "tobigs-build-corpora", lambda t: ["--nope"], 2,
                               ["unrecognized arguments: --nope"]),
    "tokenizer-missing-file": (cli_train_tokenizer.main, "tobigs-train-tokenizer",
                               lambda t: ["--train_file", str(t / "none.txt")], 2, ["none.txt", "no such file"]),
    "tokenizer-malformed-jsonl": (cli_train_tokenizer.main, "tobigs-train-tokenizer",
                                  lambda t: ["--train_file", _bad_jsonl(t), "--output_dir", str(t / "tok")], 1,
                                  ["bad.jsonl:2: malformed JSON line"]),
    "denoising-bad-knob": (aliases.train_denoising, "tobigs-train-denoising",
                           lambda t: ["--noising", "bart-large", "--mask", "1.5", "--output_dir", str(t),
                                      "--use_cpu"], 2, ["--noising bart-large", "mask must be in [0, 1], got 1.5"]),
    "convert-missing-folder": (convert_cli.main, "tobigs-convert",
                               lambda t: ["--from-hf", str(t / "no-model"), "--output_dir", str(t / "o")], 2,
                               ["--from-hf", "no-model", "no such directory"]),
    "convert-two-sources": (convert_cli.main, "tobigs-convert",
                            lambda t: ["--from-hf", "a", "--to-hf", "b", "--output_dir", "c"], 2,
                            ["--to-hf", "not allowed with argument --from-hf"]),
    "export-missing-folder": (hub_cli.main, "tobigs-export",
                              lambda t: ["--model_dir", str(t / "no-run"), "--output_dir", str(t / "o")], 2,
                              ["--model_dir", "no-run", "no such directory"]),
    "viz-bad-value": (viz_cli.main, "tobigs-viz", lambda t: ["softmax", "--d-k", "four"], 2,
                      ["--d-k", "'four'"]),
    "experiment-bad-choice": (rnn_vs_transformer.main, "tobigs-rnn-vs-transformer", lambda t: ["--task", "sort"], 2,
                              ["--task", "invalid choice: 'sort'"]),
}


@pytest.mark.parametrize("case", list(USAGE_CASES), ids=list(USAGE_CASES))
def test_entry_point_fails_with_one_line(case, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    entry, prog, argv, status, words = USAGE_CASES[case]
    if status == 2:
        with pytest.raises(SystemExit) as info:
            entry(argv(tmp_path))
        assert info.value.code == 2
    else:
        assert entry(argv(tmp_path)) == 1
    line = _one_error_line(capsys, prog)
    for word in words:
        assert word in line, line


def test_blank_corpus_error_names_the_file(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    argv = ["--kind", "wordpiece", "--train_file", _blank_txt(tmp_path), "--output_dir", str(tmp_path / "tok")]
    assert cli_train_tokenizer.main(argv) == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]  # above it: the datasets progress of reading the file
    assert line.startswith("tobigs-train-tokenizer: error: ValueError: cannot train the wordpiece tokenizer: "), line
    assert f"{tmp_path / 'blank.jsonl'} yielded no text at all" in line, line


def test_debug_env_prints_the_traceback_and_keeps_the_status(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(DEBUG_ENV, "1")
    argv = ["--preset", "gpt2", "--tokenizer_name", tokenizers()["gpt"], "--train_file", _bad_jsonl(tmp_path),
            "--do_train", "--output_dir", str(tmp_path), "--use_cpu"]
    assert aliases.train_clm(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "data_files.py" in err
    assert err.strip().splitlines()[-1].startswith("tobigs-train-clm: error: DataFileError: ")


def test_run_cli_maps_results_and_errors(capsys):
    assert run_cli(lambda argv: {"metrics": 1}, "p") == 0
    assert run_cli(lambda argv: 3, "p") == 3

    def usage(argv):
        raise UsageError("--x 5 must be < 4\nsecond line")

    with pytest.raises(SystemExit) as info:
        run_cli(usage, "p")
    assert info.value.code == 2
    assert capsys.readouterr().err == "p: error: --x 5 must be < 4 | second line\n"

    def crash(argv):
        raise KeyError("k")

    assert run_cli(crash, "p") == 1
    assert capsys.readouterr().err.startswith("p: error: KeyError: 'k' (set TOBIGS_DEBUG=1")


# ----------------------------------------------------------------------------------------- every console script
BAD_OPTION = {"tobigs-viz": ["softmax", "--no-such-option"],
              "tobigs-convert": ["--to-hf", "x", "--output_dir", "y", "--no-such-option"]}


def _console(script: str, *argv: str) -> subprocess.CompletedProcess:
    module, func = SCRIPTS[script].split(":")
    code = f"import sys; sys.argv[0] = {script!r}; from {module} import {func}; sys.exit({func}())"
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.pop(DEBUG_ENV, None)
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, timeout=120,
                          cwd=str(ROOT))


# Started as real processes in the default run: one alias of each kind (a training command, a tool); the others,
# ~5 s each to start, run as processes in the slow run, and every script runs in-process below in both runs
# (test_front_door.py starts `tobigs` itself as a process).
SUBPROCESS_DEFAULT = {"tobigs-train-clm", "tobigs-convert"}


@pytest.mark.parametrize("script", [pytest.param(script, marks=() if script in SUBPROCESS_DEFAULT else pytest.mark.slow)
                                    for script in sorted(SCRIPTS)])
def test_console_script_unknown_option(script):
    proc = _console(script, *BAD_OPTION.get(script, ["--no-such-option"]))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [f"{script}: error: unrecognized arguments: --no-such-option"], \
        proc.stderr


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_console_script_entry_unknown_option_in_process(script, monkeypatch, capsys):
    # What pip's wrapper does, in this process: sys.argv[0] is the script name, `sys.exit(entry())`.
    module, func = SCRIPTS[script].split(":")
    entry = getattr(__import__(module, fromlist=[func]), func)
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    monkeypatch.setattr(sys, "argv", [script, *BAD_OPTION.get(script, ["--no-such-option"])])
    with pytest.raises(SystemExit) as info:
        sys.exit(entry())
    assert info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"{script}: error: unrecognized arguments: --no-such-option"]


def test_console_script_runtime_error_is_one_line_with_status_1(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine line\nbad \xff byte\n")
    proc = _console("tobigs-train-tokenizer", "--train_file", str(bad), "--output_dir", str(tmp_path / "t"))
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"tobigs-train-tokenizer: error: DataFileError: {bad}:2: not UTF-8: byte 0xff at byte offset 14 (column 5 "
        f"of the line) is invalid start byte; re-save the file as UTF-8 (set {DEBUG_ENV}=1 for the traceback)"]
