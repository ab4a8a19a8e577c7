"""Fault table of the folders `tobigs export` and `tobigs convert` write (issue 19): an output folder that is the
source, contains it, or holds what the command did not write is refused before the disk is touched; a bad option is
found before anything is written; a second writer of the same output is refused; a writer killed mid-write leaves the
old output or nothing under the target's name; a folder whose config names code it lacks is not uploaded. Every row
also checks, after the error, that nothing was deleted or half-written."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest
import pipeline_support as support
from faults.fault_case import Fault, check, params
from transformers import PreTrainedTokenizerBase

from tobigs_transformer.convert import cli as convert_cli
from tobigs_transformer.hub import cli as export_cli
from tobigs_transformer.hub import export_for_hub, push_to_hub
from tobigs_transformer.tooling.cli import InputError
from tobigs_transformer.tooling.output_folders import (
    OUTPUT_MARKER,
    OutputInUseError,
    _TargetLock,
)

_DIR = Path(tempfile.mkdtemp(prefix="tobigs-faults-outputs-"))


class Crash(BaseException):
    """Stands for the process dying mid-write (no `except Exception` can swallow it)."""


def _snapshot(folder: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under `folder`."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _run(name: str) -> Path:
    """`_DIR/name/run`: a training run folder (model, tokenizer, a checkpoint, trainer state, metrics)."""
    root = _DIR / name
    shutil.rmtree(root, ignore_errors=True)
    run = root / "run"
    model, tokenizer = support.gpt2_lm()
    model.save_pretrained(run)
    tokenizer.save_pretrained(run)
    model.save_pretrained(run / "checkpoint-2")
    (run / "trainer_state.json").write_text('{"global_step": 2}\n')
    (run / "all_results.json").write_text('{"eval_loss": 3.0}\n')
    return run


@contextmanager
def _untouched(*folders: Path):
    """The block must raise, and leave every file under `folders` as it was."""
    before = {folder: _snapshot(folder) for folder in folders}
    try:
        yield
    finally:
        for folder, files in before.items():
            assert _snapshot(folder) == files, f"{folder} changed"


def _export_cli(model_dir: Path, output_dir: Path, *extra: str):
    args = export_cli.ExportArguments(model_dir=str(model_dir), output_dir=str(output_dir), **dict(extra))
    return export_cli.export(args)


def _export_into_source():
    run = _run("e-self")
    with _untouched(run):
        _export_cli(run, run, ("overwrite", True))


def _export_into_parent():
    run = _run("e-parent")
    sibling = run.parent / "other-run"
    shutil.copytree(run, sibling)
    with _untouched(run.parent):
        _export_cli(run, run.parent, ("overwrite", True))


def _export_over_foreign(kind: str):
    run = _run(f"e-foreign-{kind}")
    target = _run(f"e-foreign-{kind}-target") if kind == "run" else _DIR / "e-edited"
    if kind == "edited":
        shutil.rmtree(target, ignore_errors=True)
        model, tokenizer = support.gpt2_lm()
        export_for_hub(model, tokenizer, target)
        with open(target / "README.md", "a") as f:
            f.write("my notes\n")
    with _untouched(run, target):
        _export_cli(run, target, ("overwrite", True))


def _export_src_lang_decoder():
    model, tokenizer = support.gpt2_lm()
    target = _DIR / "e-srclang"
    shutil.rmtree(target, ignore_errors=True)
    try:
        export_for_hub(model, tokenizer, target, src_lang="en", tgt_lang="de")
    finally:
        assert not target.exists() and not list(_DIR.glob(".e-srclang*")), "the export wrote before failing"


def _convert_into_source():
    folder = _run("c-self")
    with _untouched(folder):
        convert_cli._main(["--to-hf", str(folder), "--output_dir", str(folder)])


def _convert_no_config():
    folder = _DIR / "c-noconfig"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"")
    try:
        convert_cli._main(["--to-hf", str(folder), "--output_dir", str(_DIR / "c-noconfig-out")])
    finally:
        assert not (_DIR / "c-noconfig-out").exists()


def _model_dir_no_config():
    folder = _DIR / "e-noconfig"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    _export_cli(folder, _DIR / "e-noconfig-out")


@contextmanager
def _locked_elsewhere(target: Path):
    """Another process holds the writer's lock of `target` until the block ends."""
    ready_r, ready_w = os.pipe()
    stop_r, stop_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: no torch work, _exit without pytest's teardown
        try:
            os.close(ready_r)
            os.close(stop_w)
            with _TargetLock(target, "--output_dir"):
                os.write(ready_w, b"1")
                os.read(stop_r, 1)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(stop_r)
    try:
        assert os.read(ready_r, 1) == b"1"
        yield pid
    finally:
        os.close(stop_w)
        os.waitpid(pid, 0)
        os.close(ready_r)


def _in_use(command: str):
    run = _run(f"{command}-busy")
    target = _DIR / f"{command}-busy-out"
    with _locked_elsewhere(target):
        try:
            if command == "export":
                _export_cli(run, target)
            else:
                convert_cli._main(["--to-hf", str(run), "--output_dir", str(target)])
        finally:
            assert not target.exists()


@contextmanager
def _crash_in_tokenizer_save():
    original = PreTrainedTokenizerBase.save_pretrained

    def crash(*args, **kwargs):
        raise Crash("killed while the tokenizer was being written")

    PreTrainedTokenizerBase.save_pretrained = crash
    try:
        yield
    finally:
        PreTrainedTokenizerBase.save_pretrained = original


def _export_killed():
    """An export over an earlier export dies mid-write: the earlier one is intact under the target's name."""
    model, tokenizer = support.gpt2_lm()
    target = _DIR / "e-killed"
    shutil.rmtree(target, ignore_errors=True)
    export_for_hub(model, tokenizer, target)
    with _untouched(target):
        with _crash_in_tokenizer_save():
            export_for_hub(model, tokenizer, target, overwrite=True)


def _convert_killed():
    """A convert dies after the weights are written, before the tokenizer: nothing appears under the target."""
    run = _run("c-killed")
    target = _DIR / "c-killed-out"
    original = convert_cli._copy_tokenizer

    def crash(*args, **kwargs):
        raise Crash("killed while the tokenizer files were being copied")

    convert_cli._copy_tokenizer = crash
    try:
        convert_cli._main(["--to-hf", str(run), "--output_dir", str(target)])
    finally:
        convert_cli._copy_tokenizer = original
        assert not target.exists()


def _push_without_code():
    model, tokenizer = support.gpt2_lm()
    folder = _DIR / "p-nocode"
    shutil.rmtree(folder, ignore_errors=True)
    model.save_pretrained(folder)
    for file in folder.glob("*.py"):
        file.unlink()
    push_to_hub(folder, "me/nothing")


FAULTS = [
    Fault(id="export-output-is-model-dir", action=_export_into_source, error=InputError,
          needles=(str(_DIR / "e-self" / "run"), "is the folder given as --model_dir", "Give another --output_dir"),
          guarantee="tobigs export --output_dir = --model_dir --overwrite is refused before anything is deleted "
                    "(checkpoints, trainer state and metrics stay)."),
    Fault(id="export-output-contains-model-dir", action=_export_into_parent, error=InputError,
          needles=(str(_DIR / "e-parent"), "contains --model_dir", str(_DIR / "e-parent" / "run")),
          guarantee="An --output_dir that contains the model folder (its parent, with sibling runs) is never "
                    "replaced."),
    Fault(id="export-overwrite-not-an-export", action=lambda: _export_over_foreign("run"), error=InputError,
          needles=(str(_DIR / "e-foreign-run-target" / "run"), OUTPUT_MARKER, "Nothing was deleted"),
          guarantee="--overwrite replaces only an earlier export: a training run there is refused, untouched."),
    Fault(id="export-overwrite-edited-export", action=lambda: _export_over_foreign("edited"), error=InputError,
          needles=(str(_DIR / "e-edited"), "changed since it was written: README.md"),
          guarantee="An earlier export someone edited since is not overwritten: the changed file is named."),
    Fault(id="export-src-lang-before-writing", action=_export_src_lang_decoder, error=ValueError,
          needles=("src_lang/tgt_lang only apply to encoder-decoder", "decoder-only"),
          guarantee="export --src_lang on a model that cannot take it fails before weights or code are written."),
    Fault(id="export-model-dir-no-config", action=_model_dir_no_config, error=InputError,
          needles=(str(_DIR / "e-noconfig"), "no config.json"),
          guarantee="tobigs export of a folder without config.json names the folder and the missing file."),
    Fault(id="convert-output-is-source", action=_convert_into_source, error=InputError,
          needles=(str(_DIR / "c-self" / "run"), "is the folder given as --to-hf"),
          guarantee="tobigs convert --to-hf D --output_dir D is refused before D's config is overwritten."),
    Fault(id="convert-no-config", action=_convert_no_config, error=InputError,
          needles=(str(_DIR / "c-noconfig"), "no config.json"),
          guarantee="tobigs convert of a folder without config.json names the folder and the missing file."),
    Fault(id="export-output-in-use", action=lambda: _in_use("export"), error=OutputInUseError,
          needles=(str(_DIR / "export-busy-out"), "being written by another process", "pid "),
          guarantee="A second export into an output another export is writing is refused, naming the holder."),
    Fault(id="convert-output-in-use", action=lambda: _in_use("convert"), error=OutputInUseError,
          needles=(str(_DIR / "convert-busy-out"), "being written by another process"),
          guarantee="A second convert into an output another convert is writing is refused."),
    Fault(id="export-killed-mid-write", action=_export_killed, error=Crash,
          needles=("killed while the tokenizer was being written",),
          guarantee="An export killed mid-write over an earlier export leaves that export intact (written beside "
                    "the target, renamed into place)."),
    Fault(id="convert-killed-mid-write", action=_convert_killed, error=Crash,
          needles=("killed while the tokenizer files were being copied",),
          guarantee="A convert killed after writing weights leaves no half folder under the target's name."),
    Fault(id="push-folder-without-code", action=_push_without_code, error=FileNotFoundError,
          needles=(str((_DIR / "p-nocode").resolve()), "configuration_tobigs.py", "Nothing was uploaded"),
          guarantee="A folder whose auto_map names code files it lacks is never uploaded (it would not load)."),
]


@pytest.mark.parametrize("fault", params(FAULTS))
def test_fault(fault):
    check(fault)
