"""Issue 19, the command-line side: config files (``--config_file=PATH``, several files, spellings of keys), a
``config_overrides`` mapping in a YAML file, and the exit status of refused options.  The resume side is in
tests/training/test_train_resume.py, the fault rows in tests/faults/test_faults_{checkpoint,training}.py."""

import pytest
from fixtures.helpers import TINY, path, tokenizers

from tobigs_transformer.tooling.commands import parse
from tobigs_transformer.tooling.main import main as tobigs
from tobigs_transformer.training import run_clm
from tobigs_transformer.training.model_config import build_config, parse_overrides
from tobigs_transformer.training.model_loading import load_tokenizer


def _yaml(tmp_path, name: str, text: str) -> str:
    target = tmp_path / name
    target.write_text(text, encoding="utf-8")
    return str(target)


def _parsed(*argv: str):
    model_args, data_args, training_args = parse(run_clm.COMMAND, list(argv))
    return model_args, data_args, training_args


def test_config_file_with_equals_is_read(tmp_path):
    config = _yaml(tmp_path, "a.yaml", f"output_dir: {tmp_path / 'out'}\nmax_steps: 7\nblock_size: 24\n")
    _, data_args, training_args = _parsed(f"--config_file={config}")
    assert (training_args.max_steps, data_args.block_size) == (7, 24)


def test_every_config_file_is_read_later_wins_and_the_command_line_wins_over_all(tmp_path):
    first = _yaml(tmp_path, "first.yaml", f"output_dir: {tmp_path / 'out'}\nmax_steps: 7\nblock_size: 24\n"
                                          "seed: 5\n")
    second = _yaml(tmp_path, "second.yaml", "max_steps: 9\nlearning_rate: 0.01\n")
    third = _yaml(tmp_path, "third.yaml", "seed: 11\n")
    _, data_args, args = _parsed(first, "--config_file", second, f"--config_file={third}", "--learning_rate", "0.5")
    assert args.max_steps == 9  # the second file wins over the first
    assert data_args.block_size == 24  # the first file's other keys stay
    assert args.seed == 11  # the third file, given with '='
    assert args.learning_rate == 0.5  # the command line wins over every file


def test_config_file_keys_may_use_the_dash_spelling_and_aliases(tmp_path):
    config = _yaml(tmp_path, "dash.yaml", f"output-dir: {tmp_path / 'out'}\n--max_steps: 4\n")
    _, _, args = _parsed(config)
    assert args.max_steps == 4 and args.output_dir == str(tmp_path / "out")


def test_config_overrides_mapping_in_yaml_gives_the_same_config_as_the_string(tmp_path):
    mapping = "\n".join(f"  {item.replace('=', ': ')}" for item in TINY.split(","))
    text = (f"output_dir: {tmp_path / 'out'}\npreset: gpt2\ntokenizer_name: {tokenizers()['gpt']}\n"
            f"config_overrides:\n{mapping}\n")
    config = _yaml(tmp_path, "overrides.yaml", text)
    from_mapping, _, _ = _parsed(config)
    from_string, _, _ = _parsed("--output_dir", str(tmp_path / "out"), "--preset", "gpt2", "--tokenizer_name",
                                tokenizers()["gpt"], "--config_overrides", TINY)
    assert parse_overrides(from_mapping.config_overrides) == parse_overrides(from_string.config_overrides)
    assert parse_overrides(from_mapping.config_overrides)["d_model"] == 32
    tokenizer = load_tokenizer(from_string)
    a, _ = build_config(from_mapping, tokenizer, "clm", "gpt2")
    b, _ = build_config(from_string, tokenizer, "clm", "gpt2")
    assert a.to_dict() == b.to_dict()


def test_config_overrides_mapping_is_accepted_directly():
    assert parse_overrides({"d_model": 48, "dropout": 0.0}) == {"d_model": 48, "dropout": 0.0}
    assert parse_overrides("{d_model: 48, dropout: 0.0}") == parse_overrides("d_model=48,dropout=0.0")


@pytest.mark.parametrize("value", ["0", "-3"])
def test_max_steps_zero_or_negative_exits_2_naming_the_option(value, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        tobigs(["train", "clm", "--preset", "gpt2", "--tokenizer_name", tokenizers()["gpt"], "--train_file",
                path("en_train.txt"), "--do_train", "--output_dir", str(tmp_path), "--max_steps", value])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tobigs train clm: error: --max_steps must be a positive number") and f"got {value}" in err
    assert len(err.splitlines()) == 1


def test_max_steps_minus_one_is_the_default_and_accepted(tmp_path):
    _, _, args = _parsed("--output_dir", str(tmp_path), "--max_steps", "-1")
    assert args.max_steps == -1


@pytest.mark.parametrize("state, max_steps, epochs, complete", [
    ({"global_step": 6, "epoch": 0.3}, 6, 3.0, True),
    ({"global_step": 6, "epoch": 0.3}, 8, 3.0, False),
    ({"global_step": 9, "epoch": 0.4}, 6, 3.0, True),  # past a lowered --max_steps: nothing to train either
    ({"global_step": 60, "epoch": 3.0}, -1, 3.0, True),
    ({"global_step": 40, "epoch": 2.0}, -1, 3.0, False),
])
def test_finished_at_reads_the_checkpoint_step_against_max_steps_or_epochs(tmp_path, state, max_steps, epochs,
                                                                          complete):
    import json
    from types import SimpleNamespace

    from tobigs_transformer.training.recipe import finished_at

    folder = tmp_path / "checkpoint-1"
    folder.mkdir()
    (folder / "trainer_state.json").write_text(json.dumps(state), encoding="utf-8")
    args = SimpleNamespace(max_steps=max_steps, num_train_epochs=epochs, output_dir=str(tmp_path))
    message = finished_at(str(folder), args)
    assert (message is not None) == complete
    if complete:
        assert "is complete" in message and ("--max_steps" if max_steps > 0 else "--num_train_epochs") in message
    assert finished_at(None, args) is None
