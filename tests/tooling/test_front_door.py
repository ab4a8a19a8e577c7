"""`tobigs`, the one front door: every subcommand's --help, its usage errors, config files, the previous release's
names and spellings, and the shape shared by the training commands."""

import ast
import dataclasses
import json
import os
import subprocess
import sys
import tomllib
import typing
from pathlib import Path

import pytest
from fixtures.helpers import COMMON, TINY, path, read_metrics, tokenizers

from tobigs_transformer.tooling import aliases
from tobigs_transformer.tooling.cli import DEBUG_ENV
from tobigs_transformer.tooling.commands import Command, build_parser, parse
from tobigs_transformer.tooling.main import COMMANDS, _load, main

ROOT = Path(__file__).resolve().parents[2]
TRAINING = ROOT / "src" / "tobigs_transformer" / "training"
WORDS = [entry.words for entry in COMMANDS]


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _usage_error(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    return _error_line(capsys)


# ------------------------------------------------------------------------------------------------ tobigs --help
def test_help_lists_every_command_with_one_line(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for entry in COMMANDS:
        line = next(line for line in out.splitlines() if line.strip().startswith(entry.words + "  "))
        assert line.strip().endswith(entry.help) and len(entry.help) > 20, line
    assert main(["train", "--help"]) == 0
    listed = [line.split()[1] for line in capsys.readouterr().out.splitlines() if line.startswith("  train ")]
    assert listed == ["clm", "mlm", "denoising", "translation", "classification", "token-classification"]


@pytest.mark.parametrize("words", WORDS)
def test_subcommand_help_lists_every_option_with_its_help(words, capsys):
    with pytest.raises(SystemExit) as info:
        main([*words.split(), "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    target = _load(next(e for e in COMMANDS if e.words == words))
    assert isinstance(target, Command), words
    assert out.startswith(f"usage: tobigs {words} ")
    actions = [a for a in build_parser(target, f"tobigs {words}")._actions if a.option_strings]
    for action in actions:
        assert action.help and action.help.strip(), action.option_strings
        assert action.option_strings[0] in out, action.option_strings
    # every field of the command's dataclasses is an option
    fields = {f.name for dtype in target.arguments for f in dataclasses.fields(dtype) if f.init}
    assert fields <= {a.dest for a in actions}


@pytest.mark.parametrize("words", WORDS)
def test_unknown_option_is_one_line_naming_it_with_status_2(words, capsys, monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    line = _usage_error(capsys, [*words.split(), "--no-such-option", "3"])
    assert line == f"tobigs {words}: error: unrecognized arguments: --no-such-option 3"


BAD_VALUES = {  # a value of the wrong type or out of range: the line names the option and the value
    "train clm": (["--block_size", "many"], ["--block_size", "'many'"]),
    "xl-memory": (["--steps", "many"], ["--steps", "'many'"]),
    "train mlm": (["--objective", "xlnet"], ["--objective", "'xlnet'", "mlm+nsp", "electra"]),
    "train denoising": (["--noising", "custom"], ["--noising", "'custom'", "bart-large", "pegasus"]),
    "train translation": (["--task", "qa"], ["--task", "'qa'", "summarization"]),
    "train classification": (["--max_seq_length", "1.5"], ["--max_seq_length", "'1.5'"]),
    "train token-classification": (["--validation_split_percentage", "100"],
                                   ["--validation_split_percentage", "[0, 100)", "100"]),
    "convert": (["--from-hf", "./no/such/model", "--output_dir", "o"], ["--from-hf", "./no/such/model",
                                                                         "no such directory"]),
    "export": (["--model_dir", "./no/such/run", "--output_dir", "o"], ["--model_dir", "./no/such/run"]),
    "viz attention": (["m", "--text", "x", "--layer", "one"], ["--layer", "'one'"]),
    "viz positional": (["--metric", "manhattan"], ["--metric", "'manhattan'"]),
    "viz softmax": (["--d-k", "four"], ["--d-k", "'four'"]),
    "viz curves": (["--log"], ["RUN_DIR"]),
    "viz demo": (["--steps", "few"], ["--steps", "'few'"]),
    "corpora": (["--max_pairs", "lots"], ["--max_pairs", "'lots'"]),
    "tokenizer": (["--kind", "sentencepiece", "--train_file", path("en_train.txt")], ["--kind", "'sentencepiece'"]),
    "demo": (["--stages", "gpt3"], ["--stages", "'gpt3'"]),
    "rnn-vs-transformer": (["--task", "sort"], ["--task", "'sort'"]),
    "electra-vs-mlm": (["--d_model", "wide"], ["--d_model", "'wide'"]),
}


def test_every_subcommand_has_a_bad_value_case():
    assert sorted(BAD_VALUES) == sorted(WORDS)


@pytest.mark.parametrize("words", WORDS)
def test_bad_value_is_one_line_naming_option_and_value(words, capsys, monkeypatch, tmp_path):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    argv, needles = BAD_VALUES[words]
    line = _usage_error(capsys, [*words.split(), *argv])
    assert line.startswith(f"tobigs {words}: error: ")
    for needle in needles:
        assert needle in line, line


def test_unknown_and_missing_commands(capsys):
    assert "did you mean 'train'?" in _usage_error(capsys, ["trian", "clm"])
    line = _usage_error(capsys, ["train", "gpt"])
    assert line.startswith("tobigs: error: unknown train command 'gpt'; choose from clm, mlm,")
    assert _usage_error(capsys, []) == "tobigs: error: missing command; `tobigs --help` lists them"
    assert _usage_error(capsys, ["--verbose"]) == "tobigs: error: unrecognized arguments: --verbose"


def test_runtime_failure_is_one_line_with_status_1(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a"}\n{"text": }\n', encoding="utf-8")
    assert main(["tokenizer", "--train_file", str(bad), "--output_dir", str(tmp_path / "tok")]) == 1
    line = _error_line(capsys)
    assert line.startswith("tobigs tokenizer: error: DataFileError: ") and f"{bad}:2: malformed JSON line" in line


# ------------------------------------------------------------------------------------------------ config files
def test_config_files_work_for_every_command_kind(tmp_path, capsys):
    """The config-file mechanism of the training commands, here on a figure command: flags win over the file."""
    config = tmp_path / "softmax.yaml"
    config.write_text(f"d_k: '4,8'\nqueries: 8\noutput_dir: {tmp_path / 'ignored'}\ndpi: 40\n", encoding="utf-8")
    assert main(["viz", "softmax", "--config_file", str(config), "--output_dir", str(tmp_path / "figs")]) == 0
    assert json.loads((tmp_path / "figs" / "softmax_saturation.json").read_text())["d_k"] == [4, 8]
    assert not (tmp_path / "ignored").exists()
    config.write_text("d_k: '4'\nquerys: 8\n", encoding="utf-8")
    line = _usage_error(capsys, ["viz", "softmax", "--config_file", str(config)])
    assert "softmax.yaml" in line and "'querys'" in line


def test_a_single_config_file_argument(tmp_path):
    from tobigs_transformer.data.cli_build_corpora import COMMAND

    config = tmp_path / "corpora.json"
    config.write_text(json.dumps({"output_dir": "here", "corpora": ["ko_en"], "no_verify": True}), encoding="utf-8")
    (args,) = parse(COMMAND, [str(config)])
    assert (args.output_dir, args.corpora, args.no_verify) == ("here", ["ko_en"], True)
    (args,) = parse(COMMAND, [str(config), "--output_dir", "there"])  # options after the file win
    assert (args.output_dir, args.corpora) == ("there", ["ko_en"])


@pytest.mark.parametrize("config", sorted(p.name for p in (ROOT / "configs").glob("*.*")))
def test_the_shipped_config_files_name_only_options_of_their_command(config):
    import yaml

    command_of = {"clm": "run_clm", "mlm": "run_mlm", "denoising": "run_denoising", "translation": "run_translation",
                  "classification": "run_classification"}
    module = next(m for key, m in command_of.items() if config.startswith(key))
    values = yaml.safe_load((ROOT / "configs" / config).read_text(encoding="utf-8"))
    command = _load(next(e for e in COMMANDS if e.target.endswith(f"{module}:COMMAND")))
    fields = {f.name for dtype in command.arguments for f in dataclasses.fields(dtype)}
    assert sorted(set(values) - fields) == []


# ------------------------------------------------------------------------------------------------ previous names
def test_pyproject_declares_the_front_door_and_the_aliases():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts.pop("tobigs") == "tobigs_transformer.tooling.main:main"
    assert sorted(scripts) == sorted(aliases.ALIASES)
    for name, target in scripts.items():
        module, function = target.split(":")
        assert module == "tobigs_transformer.tooling.aliases" and callable(getattr(aliases, function)), name
    for words in aliases.ALIASES.values():  # every alias runs a command of the front door
        assert any(w == words or w.startswith(words + " ") for w in WORDS), words


def test_aliases_run_the_same_command_under_their_old_name(capsys, monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    with pytest.raises(SystemExit):
        aliases.train_mlm(["--no_nsp"])
    assert _error_line(capsys) == "tobigs-train-mlm: error: --no_nsp no longer exists: use --objective mlm"
    with pytest.raises(SystemExit):
        aliases.viz(["softmax", "--d-k", "x"])
    assert _error_line(capsys).startswith("tobigs-viz: error: --d-k 'x'")


@pytest.mark.parametrize("module, old, new", [
    ("tobigs_transformer.convert.cli", ["--from-hf", "gpt2", "--out", "o"],
     ["--from-hf", "gpt2", "--output_dir", "o"]),
    ("tobigs_transformer.data.cli_build_corpora", ["--out_dir", "o"], ["--output_dir", "o"]),
    ("tobigs_transformer.experiments.rnn_vs_transformer", ["--out", "o"], ["--output_dir", "o"]),
])
def test_previous_spellings_of_output_dir_still_parse(module, old, new):
    import importlib

    command = importlib.import_module(module).COMMAND
    assert parse(command, old) == parse(command, new)


def test_positional_words_of_the_figure_commands():
    from tobigs_transformer.viz.cli import COMMANDS as VIZ

    (args,) = parse(VIZ["curves"], ["run1", "run2", "--log"])
    assert args.runs == ["run1", "run2"] and args.log
    (args,) = parse(VIZ["attention"], ["model_dir", "--text", "hi", "--layer", "0,2"])
    assert (args.model, args.layers) == ("model_dir", [0, 2])


def test_python_dash_m_is_the_same_front_door():
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env.pop(DEBUG_ENV, None)
    proc = subprocess.run([sys.executable, "-m", "tobigs_transformer.tooling.main", "train", "clm", "--bogus"],
                          capture_output=True, text=True, env=env, timeout=300, cwd=str(ROOT))
    assert proc.returncode == 2 and proc.stderr.strip() == "tobigs train clm: error: unrecognized arguments: --bogus"


# ------------------------------------------------------------------------------------------------ recipes
def test_noising_flags_are_the_fields_of_noising_config(tmp_path):
    from tobigs_transformer.data.denoising import NoisingConfig
    from tobigs_transformer.training.run_denoising import COMMAND, Denoising, NoisingArguments

    knobs = [f.name for f in dataclasses.fields(NoisingConfig)]
    assert [f.name for f in dataclasses.fields(NoisingArguments)] == knobs  # generated: a new knob is a new flag
    argv = ["--noising", "bart-large", "--mask", "0.5", "--word_units", "false", "--output_dir", str(tmp_path)]
    model_args, data_args, training_args = parse(COMMAND, argv)
    assert data_args.noising_config == NoisingConfig.bart_large(mask=0.5, word_units=False)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizers()["bart"])
    collator = Denoising(model_args, data_args, training_args).collator(tokenizer, _bart_config(), model=None)
    assert collator.noising == NoisingConfig.bart_large(mask=0.5, word_units=False)
    assert collator.max_length == _bart_config().max_position_embeddings


def _bart_config():
    from tiny import tiny_config

    return tiny_config("bart-base")


def test_one_task_per_recipe_value():
    from tobigs_transformer.training import run_denoising, run_mlm, run_translation
    from tobigs_transformer.training.tasks import LanguageModelSeq2SeqTrainer, LanguageModelTrainer

    objectives = typing.get_args(run_mlm.Objective)
    assert set(objectives) == set(run_mlm.OBJECTIVES)
    assert [o for o in objectives if run_mlm.OBJECTIVES[o].language_model] == ["mlm"]  # no pair loss in exp(loss)
    assert set(typing.get_args(run_denoising.Noising)) == set(run_denoising.DENOISING) == {"paper", "bart-large",
                                                                                          "pegasus"}
    assert run_mlm.OBJECTIVES["mlm"].trainer_class is LanguageModelTrainer
    assert run_translation.SEQ2SEQ_TASKS["translation"].trainer_class is LanguageModelSeq2SeqTrainer
    assert LanguageModelTrainer.report_perplexity is True


def _functions(tree):
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def test_training_functions_are_short_and_commands_share_nothing_sideways():
    long, sideways = [], []
    for file in sorted(TRAINING.glob("*.py")):
        if file.name == "demo.py":  # the demo driver (owned elsewhere) is split up separately
            continue
        tree = ast.parse(file.read_text(encoding="utf-8"))
        long += [f"{file.name}:{f.lineno} {f.name} ({f.end_lineno - f.lineno + 1} lines)" for f in _functions(tree)
                 if f.end_lineno - f.lineno + 1 > 60]
        if file.name.startswith("run_"):
            sideways += [f"{file.name}:{n.lineno}" for n in ast.walk(tree)
                         if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("run_")]
    assert long == [] and sideways == []


def test_nothing_is_set_on_the_trainer_or_the_arguments_after_construction():
    """`trainer.x = ...`, `training_args.x = ...` and `collator.x = ...` do not occur in the training commands."""
    offending = []
    for file in sorted(TRAINING.glob("run_*.py")) + [TRAINING / f"{name}.py" for name in ("recipe", "logging_setup", "raw_data", "documents", "labels", "model_config", "model_loading", "resume")]:
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    owner = target.value if isinstance(target, ast.Attribute) else None
                    name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
                    if name in ("trainer", "training_args", "args", "collator", "data_args", "model_args"):
                        offending.append(f"{file.name}:{node.lineno}")
    assert offending == []


# ------------------------------------------------------------------------------------------------ a run through it
def test_a_training_run_through_the_front_door(tmp_path):
    out = tmp_path / "ner"
    assert main(["train", "token-classification", "--preset", "bert-base", "--config_overrides", TINY,
                 "--tokenizer_name", tokenizers()["wordpiece"], "--train_file", path("ner_train.jsonl"),
                 "--validation_file", path("ner_validation.jsonl"), "--test_file", path("ner_validation.jsonl"),
                 "--max_seq_length", "32", "--output_dir", str(out), "--max_steps", "2", "--do_train", "--do_predict",
                 *COMMON]) == 0
    metrics = read_metrics(str(out))["metrics"]
    assert {"test_accuracy", "test_f1", "test_entity_f1", "train_loss"} <= set(metrics)
