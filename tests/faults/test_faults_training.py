"""Fault table of the training path and the command lines: data files, CLI arguments, config overrides and local
paths.  Every row fails before any weights are built or any data is tokenised, with a message that names the file
and line, or the option, the bad value and what would fit."""

import os
import tempfile
from unittest import mock

import pytest
from faults.fault_case import Fault, check, params
from fixtures.helpers import TINY, char_tokenizer, path, tokenizers

from tobigs_transformer.convert import cli as convert_cli
from tobigs_transformer.data import cli_train_tokenizer
from tobigs_transformer.tooling.cli import UsageError
from tobigs_transformer.tooling.data_files import DataFileError
from tobigs_transformer.training import ArgumentError, run_classification, run_clm, run_mlm

_DIR = tempfile.mkdtemp(prefix="tobigs-faults-training-")


def _file(name: str, content: bytes | str) -> str:
    """A file under this table's temporary folder (written on first use)."""
    target = os.path.join(_DIR, name)
    if not os.path.exists(target):
        data = content.encode("utf-8") if isinstance(content, str) else content
        with open(target, "wb") as f:
            f.write(data)
    return target


def _dir(name: str) -> str:
    target = os.path.join(_DIR, name)
    os.makedirs(target, exist_ok=True)
    return target


def _clm(*argv: str, tokenizer: str | None = None):
    """run_clm.main with a tokenizer, a tiny preset and no training (every row fails before it would start)."""
    return run_clm.main(["--preset", "gpt2", "--config_overrides", TINY, "--tokenizer_name",
                         tokenizer or tokenizers()["gpt"], "--block_size", "32", "--do_train", "--output_dir",
                         _dir("out"), "--use_cpu", "--report_to", "none", *argv])


def _train(name: str, content: bytes | str, *argv: str):
    return _clm("--train_file", _file(name, content), *argv)


def _launched(*argv: str, accelerator: bool = False, local_rank: bool = True):
    """run_clm.main as worker 0 of 2 started by torchrun (its environment), without --use_cpu.  ``accelerator``: as
    if the machine had a device accelerate does not distribute.  Without ``local_rank`` accelerate opens no process
    group (with it, one that waits for worker 1): the rows fail before or without one."""
    env = {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}
    if local_rank:
        env["LOCAL_RANK"] = "0"
    with mock.patch.dict(os.environ, env), mock.patch("tobigs_transformer.training.arguments.has_accelerator",
                                                       return_value=accelerator):
        if not local_rank:
            os.environ.pop("LOCAL_RANK", None)
        return run_clm.main(["--preset", "gpt2", "--config_overrides", TINY, "--tokenizer_name", tokenizers()["gpt"],
                             "--train_file", path("en_train.txt"), "--do_train", "--output_dir", _dir("launched"),
                             "--report_to", "none", *argv])


def _tokenizer_cli(*argv: str):
    args = cli_train_tokenizer.TrainTokenizerArguments(**dict(zip(argv[::2], argv[1::2])))
    cli_train_tokenizer.check_sources(args)
    return list(cli_train_tokenizer.iter_texts(args))


def _no_pad_tokenizer() -> str:
    folder = os.path.join(_DIR, "char-tok")
    if not os.path.isdir(folder):
        char_tokenizer("abcdefghijklmnopqrstuvwxyz .,'", folder)
    return folder


FAULTS = [
    # --------------------------------------------------------------------------------------------- data files
    Fault(id="data-file-missing", action=lambda: _clm("--train_file", os.path.join(_DIR, "absent.txt")),
          error=ArgumentError, needles=("--train_file", "absent.txt", "no such file"),
          guarantee="A --train_file that does not exist fails before anything loads, naming the path."),
    Fault(id="data-file-validation-missing",
          action=lambda: _clm("--train_file", path("en_train.txt"), "--validation_file",
                              os.path.join(_DIR, "absent_val.txt")),
          error=ArgumentError, needles=("--validation_file", "absent_val.txt", "no such file"),
          guarantee="A --validation_file that does not exist fails the same way, naming the option and the path."),
    Fault(id="data-file-is-directory", action=lambda: _clm("--train_file", _dir("a_folder.txt")),
          error=ArgumentError, needles=("a_folder.txt", "is a directory"),
          guarantee="A folder given as a data file is named as a folder, not read."),
    Fault(id="data-file-unknown-extension", action=lambda: _train("data.parquet", "x"),
          error=ArgumentError, needles=("data.parquet", "'.parquet'", ".jsonl"),
          guarantee="A data file of an unsupported format names its extension and the extensions that work."),
    Fault(id="data-file-empty-text", action=lambda: _train("empty.txt", ""),
          error=DataFileError, needles=("empty.txt", "empty"),
          guarantee="An empty .txt training file is reported as empty, not as 'shorter than one block'."),
    Fault(id="data-file-blank-jsonl", action=lambda: _train("blank.jsonl", "\n  \n\n"),
          error=DataFileError, needles=("blank.jsonl", "empty"),
          guarantee="A JSON-lines file of blank lines only is reported as empty."),
    Fault(id="data-file-malformed-json-line",
          action=lambda: _train("broken.jsonl", '{"text": "a"}\n{"text": "b"}\n{"text": "c",}\n'),
          error=DataFileError, needles=("broken.jsonl:3:", "malformed JSON line", "column 14"),
          guarantee="A malformed JSON line is named by file:line with the JSON error and its column."),
    Fault(id="data-file-json-line-not-object", action=lambda: _train("array.jsonl", '{"text": "a"}\n[1, 2]\n'),
          error=DataFileError, needles=("array.jsonl:2:", "expected one JSON object per line", "an array"),
          guarantee="A JSON line that is not an object is named by file:line and says what it is."),
    Fault(id="data-file-malformed-json-document",
          action=lambda: _train("doc.json", '[\n  {"text": "a"},\n  {"text": "b"\n]\n'),
          error=DataFileError, needles=("doc.json:4:", "malformed JSON"),
          guarantee="A .json array document with a syntax error names the file and the line of the error."),
    Fault(id="data-file-non-utf8-text", action=lambda: _train("latin1.txt", b"first line\nna\xefve\n"),
          error=DataFileError, needles=("latin1.txt:2:", "not UTF-8", "0xef", "byte offset 13"),
          guarantee="Non-UTF-8 bytes in a .txt name the file, the line, the byte and its offset in the file."),
    Fault(id="data-file-non-utf8-jsonl", action=lambda: _train("latin1.jsonl", b'{"text": "caf\xe9"}\n'),
          error=DataFileError, needles=("latin1.jsonl:1:", "0xe9", "byte offset 13"),
          guarantee="Non-UTF-8 bytes in JSON lines are caught before datasets/pyarrow, with file, line and offset."),
    Fault(id="data-file-csv-ragged-row",
          action=lambda: _train("ragged.csv", "text,label\nhello,1\nworld,2,extra\n"),
          error=DataFileError, needles=("ragged.csv:3:", "3 fields", "header has 2"),
          guarantee="A CSV row with a different number of fields than the header names its line and both counts."),
    Fault(id="data-file-csv-header-only", action=lambda: _train("header.csv", "text,label\n"),
          error=DataFileError, needles=("header.csv", "no rows"),
          guarantee="A CSV file with a header and no rows is reported as holding no rows."),
    Fault(id="data-file-missing-column",
          action=lambda: _train("body.jsonl", '{"body": "some text"}\n{"body": "more text"}\n'),
          error=ArgumentError, needles=("--text_column", "['text']", "body.jsonl", "columns: ['body']"),
          guarantee="A required column missing from a data file names the column, the file and the columns present."),
    Fault(id="data-file-too-short", action=lambda: _train("tiny.jsonl", '{"text": ""}\n{"text": " "}\n'),
          error=ArgumentError, needles=("tiny.jsonl", "fewer than 2 tokens"),
          guarantee="Training text too short to give one target fails naming the file, not training on nothing."),
    Fault(id="data-file-too-few-to-split", action=lambda: _train("one.jsonl", '{"text": "just one example"}\n'),
          error=ArgumentError, needles=("one.jsonl", "1 example(s)", "--validation_split_percentage 5"),
          guarantee="A training file too small to hold out a validation part says so (not a scikit-style split "
                    "error from datasets)."),
    Fault(id="data-file-tokenizer-malformed-jsonl",
          action=lambda: _tokenizer_cli("train_file", [_file("tok_bad.jsonl", '{"text": "a"}\n{text: "b"}\n')]),
          error=DataFileError, needles=("tok_bad.jsonl:2:", "malformed JSON line"),
          guarantee="tobigs-train-tokenizer checks its JSON-lines input the same way (file:line and the error)."),
    Fault(id="data-file-tokenizer-missing-column",
          action=lambda: _tokenizer_cli("train_file", [_file("tok_cols.jsonl", '{"body": "a"}\n')]),
          error=UsageError, needles=("--text_column", "['text']", "tok_cols.jsonl", "columns: ['body']"),
          guarantee="tobigs-train-tokenizer names a missing --text_column, the file and the columns it has."),
    # ------------------------------------------------------------------------------------------ command line
    Fault(id="cli-unknown-option", action=lambda: run_clm.main(["--bogus_option", "1"]),
          error=UsageError, needles=("unrecognized arguments", "--bogus_option 1"),
          guarantee="An unknown option is a usage error naming it (the CLI prints one line and exits 2)."),
    Fault(id="cli-bad-int-value", action=lambda: run_clm.main(["--block_size", "twelve"]),
          error=UsageError, needles=("--block_size", "invalid int value: 'twelve'"),
          guarantee="An option value of the wrong type is a usage error naming the option and the value."),
    Fault(id="cli-unknown-scheduler",
          action=lambda: run_clm.main(["--lr_scheduler_type", "fancy", "--output_dir", _dir("sched")]),
          error=UsageError, needles=("'fancy'", "not a known schedule", "noam"),
          guarantee="A failed check of the training-arguments dataclass is a usage error naming value and choices."),
    Fault(id="cli-config-file-missing", action=lambda: run_clm.main([os.path.join(_DIR, "absent.yaml")]),
          error=UsageError, needles=("absent.yaml", "no such file"),
          guarantee="A missing config file given as the only argument names the file."),
    Fault(id="cli-config-file-unknown-key",
          action=lambda: run_clm.main([_file("unknown_key.yaml", "output_dir: x\nblock_sise: 3\n")]),
          error=UsageError, needles=("unknown_key.yaml", "block_sise"),
          guarantee="An unknown key in a YAML config file is a usage error naming the key and the file."),
    Fault(id="cli-config-file-malformed-json",
          action=lambda: run_clm.main([_file("broken_config.json", '{\n  "output_dir": "x",\n}\n')]),
          error=UsageError, needles=("broken_config.json:3", "malformed JSON"),
          guarantee="A malformed JSON config file names its line."),
    Fault(id="cli-config-file-flag-without-path", action=lambda: run_clm.main(["--config_file"]),
          error=UsageError, needles=("--config_file", "needs a path"),
          guarantee="--config_file without a path is a usage error naming the option."),
    Fault(id="cli-tokenizer-no-source", action=lambda: _tokenizer_cli(),
          error=UsageError, needles=("--train_file", "--dataset_name"),
          guarantee="tobigs-train-tokenizer without a data source says which options give one."),
    Fault(id="cli-tokenizer-missing-file",
          action=lambda: _tokenizer_cli("train_file", [os.path.join(_DIR, "absent_tok.txt")]),
          error=UsageError, needles=("absent_tok.txt", "no such file"),
          guarantee="tobigs-train-tokenizer names a --train_file that does not exist."),
    Fault(id="cli-convert-missing-folder",
          action=lambda: convert_cli._main(["--from-hf", os.path.join(_DIR, "no_model"), "--out", _dir("conv")]),
          error=UsageError, needles=("--from-hf", "no_model", "no such directory"),
          guarantee="tobigs-convert names a local folder that does not exist instead of a Hub repo-id error."),
    # ------------------------------------------------------------------------------------- config overrides
    Fault(id="train-override-typo-preset",
          action=lambda: _clm("--train_file", path("en_train.txt"), "--config_overrides", "d_modle=48"),
          error=ArgumentError, needles=("'d_modle'", "did you mean 'd_model'"),
          guarantee="A misspelt --config_overrides key on a preset fails naming it and the closest field."),
    Fault(id="train-override-typo-checkpoint",
          action=lambda: run_clm.main(["--model_name_or_path", _tiny_checkpoint(), "--tokenizer_name",
                                       tokenizers()["gpt"], "--config_overrides", "dropuot=0.2", "--train_file",
                                       path("en_train.txt"), "--do_train", "--output_dir", _dir("out"), "--use_cpu",
                                       "--report_to", "none"]),
          error=ArgumentError, needles=("'dropuot'", "did you mean 'dropout'"),
          guarantee="A misspelt override on a checkpoint's config fails too (it used to be written to config.json)."),
    Fault(id="train-override-bad-value",
          action=lambda: _clm("--train_file", path("en_train.txt"), "--config_overrides", TINY + ",dropout=1.5"),
          error=ArgumentError, needles=("dropout", "[0, 1)", "1.5"),
          guarantee="An override value outside its range names the field, the limit and the value."),
    Fault(id="train-override-wrong-type",
          action=lambda: _clm("--train_file", path("en_train.txt"), "--config_overrides",
                              TINY + ",decoder_layers=1.5"),
          error=ArgumentError, needles=("decoder_layers", "expected int", "1.5"),
          guarantee="An override of the wrong type is a usage error naming the field, the type and the value."),
    Fault(id="train-override-not-key-value",
          action=lambda: _clm("--train_file", path("en_train.txt"), "--config_overrides", "d_model"),
          error=ArgumentError, needles=("--config_overrides", "'d_model'", "key=value"),
          guarantee="An override item without '=' names the item and the expected form."),
    # ------------------------------------------------------------------------------------------- paths
    Fault(id="train-model-path-missing",
          action=lambda: run_clm.main(["--model_name_or_path", os.path.join(_DIR, "runs", "gone"), "--train_file",
                                       path("en_train.txt"), "--do_train", "--output_dir", _dir("out"), "--use_cpu"]),
          error=ArgumentError, needles=("--model_name_or_path", "gone", "no such directory"),
          guarantee="A local --model_name_or_path that does not exist says 'no such directory', not a Hub message."),
    Fault(id="train-tokenizer-path-missing",
          action=lambda: _clm("--train_file", path("en_train.txt"), tokenizer="./no/such/tokenizer"),
          error=ArgumentError, needles=("--tokenizer_name", "./no/such/tokenizer", "no such directory"),
          guarantee="A local --tokenizer_name that does not exist says 'no such directory', naming the path."),
    Fault(id="train-tokenizer-repo-shaped-missing",
          action=lambda: _clm("--train_file", path("en_train.txt"), tokenizer="runs/no-such-tokenizer"),
          error=ArgumentError, needles=("--tokenizer_name", "'runs/no-such-tokenizer'", "no such directory"),
          guarantee="A relative path shaped like a repo id that neither exists nor loads still says 'no such "
                    "directory' first."),
    Fault(id="train-model-path-is-file",
          action=lambda: run_clm.main(["--model_name_or_path", _file("weights.bin", b"x"), "--train_file",
                                       path("en_train.txt"), "--do_train", "--output_dir", _dir("out"), "--use_cpu"]),
          error=ArgumentError, needles=("weights.bin", "is a file", "directory"),
          guarantee="A file given where a checkpoint folder is expected is named as a file."),
    Fault(id="train-resume-path-missing",
          action=lambda: _clm("--train_file", path("en_train.txt"), "--resume_from_checkpoint",
                              os.path.join(_DIR, "checkpoint-9")),
          error=ArgumentError, needles=("--resume_from_checkpoint", "checkpoint-9", "no such directory"),
          guarantee="--resume_from_checkpoint PATH that does not exist fails before any data is read."),
    # ------------------------------------------------------------------------------------------ tokenizer
    Fault(id="train-pad-token-needed",
          action=lambda: run_classification.main(["--preset", "bert-base", "--config_overrides", TINY,
                                                  "--tokenizer_name", _no_pad_tokenizer(), "--train_file",
                                                  path("cls_train.jsonl"), "--do_train", "--output_dir", _dir("out"),
                                                  "--use_cpu", "--report_to", "none"]),
          error=ArgumentError, needles=("char-tok", "has no pad token", "--tokenizer_name"),
          guarantee="A task that pads batches asks for a pad token before tokenizing, naming the tokenizer."),
    Fault(id="train-nsp-one-document",
          action=lambda: run_mlm.main(["--preset", "bert-base", "--config_overrides", TINY, "--tokenizer_name",
                                       tokenizers()["wordpiece"], "--train_file",
                                       _file("one_doc.jsonl", '{"sentences": ["The king rests.", "A dog runs."]}\n'),
                                       "--validation_split_percentage", "0", "--max_seq_length", "32", "--do_train",
                                       "--output_dir", _dir("out"), "--use_cpu", "--report_to", "none"]),
          error=ArgumentError, needles=("one_doc.jsonl", "1 document(s)", ">= 2", "--no_nsp"),
          guarantee="NSP/SOP pretraining on a one-document corpus fails naming the file (no pair labelled random "
                    "with a B from A's own document)."),
    Fault(id="train-block-size-over-positions",
          action=lambda: _clm("--train_file", path("en_train.txt"), "--block_size", "100"),
          error=ArgumentError, needles=("--block_size=100", "max_position_embeddings=64"),
          guarantee="A --block_size beyond the position table names both numbers."),
    # ------------------------------------------------------------------------------------------ issue 19
    Fault(id="train-max-steps-zero",
          action=lambda: _clm("--train_file", path("en_train.txt"), "--max_steps", "0"),
          error=ArgumentError, needles=("--max_steps", "positive", "got 0"),
          guarantee="--max_steps 0 is refused (transformers trains one step for it)."),
    Fault(id="train-max-steps-negative",
          action=lambda: _clm("--train_file", path("en_train.txt"), "--max_steps", "-5"),
          error=ArgumentError, needles=("--max_steps", "-1, the default", "got -5"),
          guarantee="A negative --max_steps other than the default -1 is refused, not read as 'use the epochs'."),
    Fault(id="train-output-dir-is-file",
          action=lambda: run_clm.main(["--output_dir", _file("not_a_folder.txt", "x")]),
          error=ArgumentError, needles=("--output_dir", "not_a_folder.txt", "is a file"),
          guarantee="A file given as --output_dir names the option (was an OS error while saving)."),
    Fault(id="train-output-dir-inside-file",
          action=lambda: run_clm.main(["--output_dir", os.path.join(_file("not_a_folder.txt", "x"), "run")]),
          error=ArgumentError, needles=("--output_dir", "is inside", "not_a_folder.txt", "which is a file"),
          guarantee="An --output_dir below a file names the option and the file."),
    Fault(id="cli-config-file-equals-unused-key",
          action=lambda: run_clm.main(["--config_file=" + _file("eq_unused.yaml", "output_dir: x\nmax_stepz: 3\n")]),
          error=UsageError, needles=("eq_unused.yaml", "max_stepz", "not options of this command"),
          guarantee="--config_file=PATH (with '=') is read like --config_file PATH: its unknown keys are an error "
                    "naming the file and the keys (it used to be ignored)."),
    Fault(id="cli-config-file-second-unused-key",
          action=lambda: run_clm.main([_file("first.yaml", "output_dir: x\n"), "--config_file",
                                       _file("second.yaml", "max_steps: 3\nbogus_key: 1\nother: 2\n")]),
          error=UsageError, needles=("second.yaml", "['bogus_key', 'other']"),
          guarantee="A second config file is read too (it used to be silently ignored), its unused keys named."),
    Fault(id="cli-config-file-nested-config-file",
          action=lambda: run_clm.main([_file("nested.yaml", "config_file: other.yaml\n")]),
          error=UsageError, needles=("nested.yaml", "config_file"),
          guarantee="A config file naming another config file is refused: that key would not be used."),
    # ------------------------------------------------------------------------------------------ issue 18.6 / 19
    Fault(id="train-launched-cpu-workers-gpu-backend",
          action=lambda: _launched("--ddp_backend", "nccl"),
          error=ArgumentError, needles=("--ddp_backend nccl", "WORLD_SIZE=2", "--ddp_backend gloo"),
          guarantee="Workers launched on a machine without GPU (torchrun's environment, WORLD_SIZE=2) with a GPU-only "
                    "--ddp_backend are refused before any process group waits for the others."),
    Fault(id="train-launched-workers-not-distributed",
          action=lambda: _launched(accelerator=True, local_rank=False),
          error=ArgumentError, needles=("WORLD_SIZE=2", "distributed: not_parallel", "--use_cpu",
                                        "alone on all the data"),
          guarantee="Launched workers (WORLD_SIZE=2) that transformers leaves unjoined (a device it does not "
                    "distribute) are refused before any data is read, instead of each training alone on all the data "
                    "into the same --output_dir."),
]


def _tiny_checkpoint() -> str:
    folder = os.path.join(_DIR, "tiny-ckpt")
    if not os.path.isdir(folder):
        from tobigs_transformer import TobigsConfig, TobigsForCausalLM

        config = TobigsConfig.from_preset("gpt2", vocab_size=300, d_model=32, decoder_layers=1,
                                          decoder_attention_heads=4, decoder_ffn_dim=37, max_position_embeddings=64,
                                          pad_token_id=1, bos_token_id=0, eos_token_id=0)
        TobigsForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("fault", params(FAULTS))
def test_fault(fault):
    check(fault)


def test_rows_are_this_areas():
    assert [f.id for f in FAULTS if not f.id.startswith(("data-file-", "cli-", "train-"))] == []
