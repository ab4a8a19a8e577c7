"""The folders `tobigs export` / `tobigs convert` write (issue 19): replaced only when they are an earlier, unchanged
output; written beside the target and renamed into place, so that a process killed mid-write (a real `os._exit`)
leaves the earlier output intact, and the next writer cleans up after it. The error rows are in
tests/faults/test_faults_outputs.py."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pipeline_support as support
from tobigs_transformer import TobigsForCausalLM
from tobigs_transformer.convert import cli as convert_cli
from tobigs_transformer.hub import EXPORTED_MODULES, export_for_hub
from tobigs_transformer.tooling import output_folders
from tobigs_transformer.tooling.output_folders import OUTPUT_MARKER, UnsafeOutputError

TESTS = Path(__file__).resolve().parents[1]
_KILLED_EXPORT = """
import os, sys
sys.path.insert(0, {tests!r})
import pipeline_support as support
from transformers import PreTrainedTokenizerBase
from tobigs_transformer.hub import export_for_hub
PreTrainedTokenizerBase.save_pretrained = lambda *a, **k: os._exit(77)   # dies with weights and code written
model, tokenizer = support.gpt2_lm()
export_for_hub(model, tokenizer, {target!r}, overwrite=True)
"""


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_export_killed_by_the_system_leaves_the_earlier_export(tmp_path):
    model, tokenizer = support.gpt2_lm()
    target = tmp_path / "hub" / "gpt"
    export_for_hub(model, tokenizer, target)
    before = _files(target)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS.parent / "src"), str(TESTS)]))
    proc = subprocess.run([sys.executable, "-c", _KILLED_EXPORT.format(tests=str(TESTS), target=str(target))],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 77, proc.stderr[-3000:]
    assert _files(target) == before  # the earlier export, byte for byte
    leftovers = list(target.parent.glob(".gpt.tobigs-tmp-*"))
    assert len(leftovers) == 1 and (leftovers[0] / "model.safetensors").is_file()  # the dead writer's half folder
    # the next export replaces the earlier one and removes the leftover
    export_for_hub(model, tokenizer, target, overwrite=True, prefix="x: ")
    assert json.loads((target / "config.json").read_text())["prefix"] == "x: "
    assert not list(target.parent.glob(".gpt.tobigs-tmp-*"))
    assert sorted(p.name for p in target.parent.iterdir()) == [".gpt.tobigs.lock", "gpt"]


def test_overwrite_without_atomic_exchange_and_interrupted_swap_is_restored(tmp_path, monkeypatch):
    model, tokenizer = support.gpt2_lm()
    target = tmp_path / "gpt"
    export_for_hub(model, tokenizer, target)
    monkeypatch.setattr(output_folders, "_exchange", lambda a, b: False)  # a system without renameat2
    export_for_hub(model, tokenizer, target, overwrite=True, prefix="a: ")
    assert json.loads((target / "config.json").read_text())["prefix"] == "a: "
    # a writer that died between the two renames of the fallback: the earlier output sits under its backup name
    backup = tmp_path / ".gpt.tobigs-old-abc"
    os.rename(target, backup)
    with pytest.raises(FileExistsError):  # restored first, then refused like any non-empty target
        export_for_hub(model, tokenizer, target)
    assert json.loads((target / "config.json").read_text())["prefix"] == "a: " and not backup.exists()


def test_marker_records_what_the_export_wrote(tmp_path):
    model, tokenizer = support.bart_seq2seq()
    folder = export_for_hub(model, tokenizer, tmp_path / "bart", src_lang="ro", tgt_lang="en")
    marker = json.loads((folder / OUTPUT_MARKER).read_text())
    assert marker["written_by"] == "tobigs export"
    assert set(marker["files"]) == {p.name for p in folder.iterdir()} - {OUTPUT_MARKER}
    assert "translation_ro_to_en" in json.loads((folder / "config.json").read_text())["custom_pipelines"]


def test_convert_overwrites_only_its_own_output(tmp_path, capsys):
    model, tokenizer = support.gpt2_lm()
    source = tmp_path / "ours"
    model.save_pretrained(source)
    tokenizer.save_pretrained(source)
    out = tmp_path / "hf"
    assert convert_cli.main(["--to-hf", str(source), "--output_dir", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["model_type"] == "gpt2"
    assert json.loads((out / OUTPUT_MARKER).read_text())["written_by"] == "tobigs convert"
    assert convert_cli.main(["--to-hf", str(source), "--output_dir", str(out)]) == 2  # not empty, no --overwrite
    assert "is not empty; pass --overwrite" in capsys.readouterr().err
    assert convert_cli.main(["--to-hf", str(source), "--output_dir", str(out), "--overwrite"]) == 0
    # a save_pretrained folder (no marker) is never replaced
    assert convert_cli.main(["--to-hf", str(source), "--output_dir", str(tmp_path), "--overwrite"]) == 2
    assert "contains --to-hf" in capsys.readouterr().err
    other = tmp_path / "other"
    model.save_pretrained(other)
    with pytest.raises(UnsafeOutputError, match=f"has no {OUTPUT_MARKER}"):
        output_folders.check_output_dir(other, [("--to-hf", source)], overwrite=True)


def test_output_inside_the_source_is_allowed(tmp_path):
    """Writing a new folder inside the model's folder deletes nothing: allowed."""
    model, tokenizer = support.gpt2_lm()
    run = tmp_path / "run"
    model.save_pretrained(run)
    tokenizer.save_pretrained(run)
    from tobigs_transformer.hub.cli import ExportArguments, export

    assert export(ExportArguments(model_dir=str(run), output_dir=str(run / "hub"))) == 0
    assert (run / "hub" / "README.md").is_file() and (run / "model.safetensors").is_file()


def test_api_refuses_the_folder_the_model_was_loaded_from(tmp_path):
    model, tokenizer = support.gpt2_lm()
    run = tmp_path / "run"
    model.save_pretrained(run)
    tokenizer.save_pretrained(run)
    (run / "trainer_state.json").write_text("{}")
    loaded = TobigsForCausalLM.from_pretrained(run)
    with pytest.raises(UnsafeOutputError, match="is the folder given as the model's folder"):
        export_for_hub(loaded, tokenizer, run, overwrite=True)
    with pytest.raises(UnsafeOutputError, match="contains the model's folder"):
        export_for_hub(loaded, tokenizer, tmp_path, overwrite=True)
    assert (run / "trainer_state.json").is_file() and (run / "model.safetensors").is_file()


def test_convert_from_hf_writes_a_complete_remote_code_folder(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    GPT2LMHeadModel(GPT2Config(vocab_size=99, n_positions=32, n_embd=32, n_layer=2, n_head=4, bos_token_id=0,
                                eos_token_id=0)).save_pretrained(
        tmp_path / "hf")
    out = tmp_path / "ours"
    assert convert_cli.main(["--from-hf", str(tmp_path / "hf"), "--output_dir", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert set(config["auto_map"]) == {"AutoConfig", "AutoModel", "AutoModelForCausalLM",
                                       "AutoModelForSequenceClassification", "AutoModelForTokenClassification",
                                       "AutoModelForQuestionAnswering"}
    assert {p.name for p in out.glob("*.py")} == set(EXPORTED_MODULES)
