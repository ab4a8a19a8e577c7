"""Fault table of checkpoints, weight files and the output-folder lock: damaged or non-finite weights for the three
loaders (resume, convert, export), damaged checkpoints and markers, a resume path that does not exist, and a second
run into a folder a live run holds.  Every row fails before a step is trained or a file is written, naming the file
(and tensor, or line), or the folder and the process holding it."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile

import pytest
from training import test_checkpoint_integrity as ci
import torch
from faults.fault_case import Fault, check, params
from fixtures.helpers import TINY, path, tokenizers
from transformers import GPT2Config, GPT2LMHeadModel

from tobigs_transformer import TobigsForCausalLM
from tobigs_transformer.convert import convert_from_hf, convert_to_hf
from tobigs_transformer.hub import export_for_hub
from tobigs_transformer.integrity import CorruptWeightsError
from tobigs_transformer.training import ArgumentError
from tobigs_transformer.training import recipe, run_clm
from tobigs_transformer.training.checkpoints import (
    COMPLETE_MARKER,
    CheckpointMismatchError,
    CorruptCheckpointError,
    OutputDirInUseError,
    last_good_checkpoint,
    rotate_checkpoints,
)
from tobigs_transformer.training.trainers import TobigsTrainer

_DIR = tempfile.mkdtemp(prefix="tobigs-faults-checkpoint-")
WEIGHTS = "model.safetensors"
HOST = socket.gethostname()


def _fresh(name: str) -> str:
    """``_DIR/name``: a new copy of a run folder with complete checkpoint-1 and checkpoint-2."""
    target = os.path.join(_DIR, name)
    shutil.rmtree(target, ignore_errors=True)
    os.makedirs(target)
    return ci.tiny_run(target)


def _ckpt(name: str, step: int = 1) -> str:
    return os.path.join(_DIR, name, "run", f"checkpoint-{step}")


def _only(name: str, step: int, damage) -> str:
    """A run folder whose only checkpoint is ``checkpoint-<step>``, damaged by ``damage(folder)``; returns it."""
    out = _fresh(name)
    shutil.rmtree(os.path.join(out, f"checkpoint-{3 - step}"))
    damage(os.path.join(out, f"checkpoint-{step}"))
    return os.path.join(out, f"checkpoint-{step}")


def _resume(name: str, damage, step: int = 1, marked: bool = True):
    """TobigsTrainer.train resuming from a damaged checkpoint with no older one to fall back to."""
    folder = _only(name, step, damage)
    if not marked:
        os.remove(os.path.join(folder, COMPLETE_MARKER))
    return ci.train_tiny(os.path.dirname(folder), resume=folder)


def _poisoned(value: float, remark: bool = True):
    def damage(folder):
        ci.poison(os.path.join(folder, WEIGHTS), value, name=_TENSOR)
        if remark and os.path.isfile(os.path.join(folder, COMPLETE_MARKER)):
            ci.remark(folder)
    return damage


_TENSOR = "model.decoder.layers.0.self_attn.out_proj.weight"


def _weights(damage):
    return lambda folder: damage(os.path.join(folder, WEIGHTS))


def _model_folder(name: str, value: float | None = None) -> str:
    folder = ci._saved_model(os.path.join(_DIR, name))
    if value is not None:
        ci.poison(os.path.join(folder, WEIGHTS), value, name=_TENSOR)
    return folder


def _hf_gpt2_folder(name: str, value: float) -> str:
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=99, n_positions=64, n_embd=32, n_layer=2, n_head=4))
    folder = os.path.join(_DIR, name)
    model.save_pretrained(folder)
    ci.poison(os.path.join(folder, WEIGHTS), value, name="transformer.h.1.mlp.c_fc.weight")
    return folder


def _flipped_checkpoint(name: str) -> TobigsForCausalLM:
    """A model loaded from a checkpoint whose weights file changed after its marker recorded it."""
    folder = os.path.join(_fresh(name), "checkpoint-2")
    model = TobigsForCausalLM.from_pretrained(folder)
    ci.flip_byte(os.path.join(folder, WEIGHTS))
    return model


def _hub_cache_model(name: str) -> TobigsForCausalLM:
    """A model loaded from a Hugging Face cache snapshot whose blob no longer has the sha256 it is named by."""
    import hashlib

    source = ci._saved_model(os.path.join(_DIR, name, "source"))
    blobs, snapshot = os.path.join(_DIR, name, "blobs"), os.path.join(_DIR, name, "snapshots", "abc")
    os.makedirs(blobs)
    os.makedirs(snapshot)
    for file in os.listdir(source):
        data = open(os.path.join(source, file), "rb").read()
        blob = os.path.join(blobs, hashlib.sha256(data).hexdigest())
        with open(blob, "wb") as f:
            f.write(data)
        os.symlink(blob, os.path.join(snapshot, file))
    model = TobigsForCausalLM.from_pretrained(snapshot)
    ci.flip_byte(os.path.join(snapshot, WEIGHTS))
    return model


def _locked(name: str, action):
    out = os.path.join(_DIR, name)
    shutil.rmtree(out, ignore_errors=True)
    with ci.lock_held_elsewhere(out):
        return action(out)


def _clm(out: str, *extra: str):
    return run_clm.main(["--preset", "gpt2", "--config_overrides", TINY, "--tokenizer_name", tokenizers()["gpt"],
                         "--train_file", path("en_train.txt"), "--block_size", "16", "--do_train", "--max_steps", "2",
                         "--output_dir", out, "--use_cpu", "--report_to", "none", *extra])


def _write(folder: str, name: str, text: str) -> None:
    with open(os.path.join(folder, name), "w") as f:
        f.write(text)


def _marker(name: str, text: str):
    out = _fresh(name)
    _write(os.path.join(out, "checkpoint-2"), COMPLETE_MARKER, text)
    shutil.rmtree(os.path.join(out, "checkpoint-1"))
    return last_good_checkpoint(out)


def _rotate_unmarked(name: str):
    out = _fresh(name)
    newest = os.path.join(out, "checkpoint-3")
    shutil.copytree(os.path.join(out, "checkpoint-2"), newest)
    os.remove(os.path.join(newest, COMPLETE_MARKER))
    return rotate_checkpoints(out, 1, newest=newest)


def _all_damaged(name: str):
    out = _fresh(name)
    for step in (1, 2):
        ci.truncate(os.path.join(out, f"checkpoint-{step}", "optimizer.pt"))
    return last_good_checkpoint(out)


def _unmarked(name: str, damage=None) -> str:
    """A run folder whose checkpoints have no marker (plain transformers / an older version), ``damage``d."""
    out = _fresh(name)
    for step in (1, 2):
        folder = os.path.join(out, f"checkpoint-{step}")
        os.remove(os.path.join(folder, COMPLETE_MARKER))
        if damage is not None:
            damage(folder)
    return out


def _clm_checkpoint(name: str) -> str:
    """An output folder of a 2-step tiny `tobigs train clm` run that saved checkpoint-1 and checkpoint-2."""
    out = os.path.join(_DIR, name)
    shutil.rmtree(out, ignore_errors=True)
    _clm(out, "--save_strategy", "steps", "--save_steps", "1", "--plot", "false")
    return out


def _probe_lock(out: str) -> str | None:
    """Try to take ``out``'s lock from another process: its OutputDirInUseError message, or None if it got it."""
    from tobigs_transformer.training import checkpoints

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: a process of its own, no lock inherited from the parent's bookkeeping
        try:
            os.close(read)
            checkpoints._HELD.clear()
            try:
                checkpoints.OutputDirLock(out).acquire()
                message = "-"
            except OutputDirInUseError as exc:
                message = str(exc)
            os.write(write, message.encode("utf-8"))
        finally:
            os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    message = b"".join(chunks).decode("utf-8")
    return None if message == "-" else message


def _second_run_during(name: str, owner, attribute: str, when=lambda *a, **k: True):
    """A `tobigs train clm` run during which, inside ``owner.attribute`` (after training), another process tries to
    start a run into the same folder; raises the error that process got."""
    out = os.path.join(_DIR, name)
    shutil.rmtree(out, ignore_errors=True)
    original, seen = getattr(owner, attribute), []

    def probing(*args, **kwargs):
        if when(*args, **kwargs):
            seen.append(_probe_lock(out))
        return original(*args, **kwargs)

    setattr(owner, attribute, probing)
    try:
        _clm(out, "--plot", "false")
    finally:
        setattr(owner, attribute, original)
    assert seen, f"{attribute} was never called"
    if any(message is None for message in seen):
        return "a second run got the lock"
    raise OutputDirInUseError(seen[0])


def _final_save(trainer, output_dir=None, _internal_call=False):
    return not _internal_call  # the save after train() returned, not a checkpoint's


_CK = lambda name, step=1: os.path.join(_ckpt(name, step), WEIGHTS)  # noqa: E731

FAULTS = [
    # ---------------------------------------------------------------- resume: damaged weights
    Fault(id="weights-resume-nan", action=lambda: _resume("r-nan", _poisoned(float("nan"))),
          error=CorruptCheckpointError, needles=(_CK("r-nan"), repr(_TENSOR), "1 NaN"),
          guarantee="Resuming refuses a checkpoint whose weights hold NaN, naming the file and the tensor."),
    Fault(id="weights-resume-inf", action=lambda: _resume("r-inf", _poisoned(float("-inf"))),
          error=CorruptCheckpointError, needles=(_CK("r-inf"), repr(_TENSOR), "1 inf"),
          guarantee="Resuming refuses a checkpoint whose weights hold ±inf, naming the file and the tensor."),
    Fault(id="weights-resume-flipped-byte", action=lambda: _resume("r-flip", _weights(ci.flip_byte)),
          error=CorruptCheckpointError, needles=(_CK("r-flip"), "sha256", "differs"),
          guarantee="A weight file changed after its checkpoint was saved (still finite) fails its recorded sha256."),
    Fault(id="weights-resume-truncated", action=lambda: _resume("r-trunc", _weights(ci.truncate)),
          error=CorruptCheckpointError, needles=(_CK("r-trunc"), "truncated", "bytes"),
          guarantee="A truncated weight file is named with its size and the size the marker records."),
    Fault(id="weights-resume-missing", action=lambda: _resume("r-miss", _weights(os.remove)),
          error=CorruptCheckpointError, needles=(_CK("r-miss"), "missing"),
          guarantee="A checkpoint whose weight file is gone is refused, naming the file."),
    Fault(id="weights-resume-unmarked-nan",
          action=lambda: _resume("r-unmarked", _poisoned(float("nan"), remark=False), marked=False),
          error=CorruptCheckpointError, needles=(_CK("r-unmarked"), repr(_TENSOR), "NaN"),
          guarantee="A checkpoint without a marker (a plain transformers one) is still refused with NaN weights."),
    Fault(id="weights-resume-unreadable",
          action=lambda: _resume("r-header", _weights(lambda p: ci.truncate(p, 0.001)), marked=False),
          error=CorruptCheckpointError, needles=(_CK("r-header"), "not a readable safetensors file"),
          guarantee="A weight file cut inside its header is named as unreadable, not a safetensors traceback."),
    # ---------------------------------------------------------------- resume: damaged checkpoints and markers
    Fault(id="ckpt-optimizer-missing",
          action=lambda: _resume("r-opt", lambda f: os.remove(os.path.join(f, "optimizer.pt"))),
          error=CorruptCheckpointError, needles=(os.path.join(_ckpt("r-opt"), "optimizer.pt"), "missing"),
          guarantee="Resuming without the optimiser state it needs is refused, naming optimizer.pt."),
    Fault(id="ckpt-trainer-state-changed",
          action=lambda: _resume("r-state", lambda f: ci.flip_byte(os.path.join(f, "trainer_state.json"))),
          error=CorruptCheckpointError, needles=(os.path.join(_ckpt("r-state"), "trainer_state.json"), "sha256"),
          guarantee="A trainer_state.json edited after the save fails its recorded checksum."),
    Fault(id="ckpt-interrupted-save",
          action=lambda: _resume("r-int", lambda f: [os.remove(os.path.join(f, n))
                                                     for n in (COMPLETE_MARKER, "trainer_state.json")]),
          error=CorruptCheckpointError, needles=(_ckpt("r-int"), "save of this checkpoint was interrupted"),
          guarantee="A folder whose save was cut short is never resumed from, even when named explicitly."),
    Fault(id="ckpt-all-damaged-last", action=lambda: _all_damaged("all"),
          error=CorruptCheckpointError,
          needles=(os.path.join(_ckpt("all", 1), "optimizer.pt"), os.path.join(_ckpt("all", 2), "optimizer.pt"),
                   "truncated"),
          guarantee="--resume_from_checkpoint last with every checkpoint damaged raises; it never restarts from 0."),
    Fault(id="ckpt-marker-malformed-json", action=lambda: _marker("m-json", '{\n "format": 1,\n "files": {\n'),
          error=CorruptCheckpointError,
          needles=(os.path.join(_ckpt("m-json", 2), COMPLETE_MARKER) + ":4:1", "malformed JSON"),
          guarantee="A damaged completion marker is named with its file and line."),
    Fault(id="ckpt-marker-not-an-object", action=lambda: _marker("m-list", "[1, 2]\n"),
          error=CorruptCheckpointError,
          needles=(os.path.join(_ckpt("m-list", 2), COMPLETE_MARKER) + ":1", "expected a JSON object, got list"),
          guarantee="A marker that is valid JSON of the wrong shape is refused, naming the file."),
    Fault(id="ckpt-resume-path-missing",
          action=lambda: ci.train_tiny(os.path.join(_DIR, "nowhere"),
                                       resume=os.path.join(_DIR, "nowhere", "checkpoint-7")),
          error=FileNotFoundError, needles=(os.path.join(_DIR, "nowhere", "checkpoint-7"), "no such directory"),
          guarantee="Resuming from a folder that does not exist says 'no such directory' and names it."),
    Fault(id="ckpt-rotate-before-marker", action=lambda: _rotate_unmarked("rot"),
          error=RuntimeError, needles=(os.path.join(_DIR, "rot", "run", "checkpoint-3"), COMPLETE_MARKER),
          guarantee="Rotation refuses to delete anything before the new checkpoint's marker exists."),
    # ---------------------------------------------------------------- convert and export loaders
    Fault(id="weights-convert-to-hf-nan",
          action=lambda: convert_to_hf(TobigsForCausalLM.from_pretrained(_model_folder("c-nan", float("nan")),
                                                                         check_finite_weights=False)),
          error=CorruptWeightsError, needles=(os.path.join(_DIR, "c-nan", WEIGHTS), repr(_TENSOR), "NaN"),
          guarantee="tobigs-convert --to-hf refuses NaN weights, naming the file and the tensor."),
    Fault(id="weights-convert-from-hf-inf",
          action=lambda: convert_from_hf(GPT2LMHeadModel.from_pretrained(_hf_gpt2_folder("c-hf", float("inf")))),
          error=CorruptWeightsError,
          needles=(os.path.join(_DIR, "c-hf", WEIGHTS), "transformer.h.1.mlp.c_fc.weight", "inf"),
          guarantee="tobigs-convert --from-hf refuses a transformers checkpoint with inf weights, naming file and "
                    "tensor."),
    Fault(id="weights-convert-flipped-byte", action=lambda: convert_to_hf(_flipped_checkpoint("c-flip")),
          error=CorruptWeightsError, needles=(_CK("c-flip", 2), "sha256", "differs"),
          guarantee="Converting a checkpoint whose weights changed after its marker was written is refused."),
    Fault(id="weights-convert-hub-cache", action=lambda: convert_to_hf(_hub_cache_model("c-cache")),
          error=CorruptWeightsError,
          needles=(os.path.join(_DIR, "c-cache", "snapshots", "abc", WEIGHTS), "Hugging Face cache address"),
          guarantee="A Hub-cache weight file whose bytes no longer match its blobs/<sha256> name is refused."),
    Fault(id="weights-export-nan",
          action=lambda: export_for_hub(TobigsForCausalLM.from_pretrained(_model_folder("e-nan", float("nan")),
                                                                          check_finite_weights=False),
                                        None, os.path.join(_DIR, "e-nan-hub")),
          error=CorruptWeightsError, needles=(os.path.join(_DIR, "e-nan", WEIGHTS), repr(_TENSOR), "NaN"),
          guarantee="tobigs-export refuses NaN weights before writing anything, naming the file and the tensor."),
    Fault(id="weights-export-inf",
          action=lambda: export_for_hub(TobigsForCausalLM.from_pretrained(_model_folder("e-inf", float("inf")),
                                                                          check_finite_weights=False),
                                        None, os.path.join(_DIR, "e-inf-hub")),
          error=CorruptWeightsError, needles=(os.path.join(_DIR, "e-inf", WEIGHTS), repr(_TENSOR), "inf"),
          guarantee="tobigs-export refuses inf weights, naming the file and the tensor."),
    Fault(id="weights-export-flipped-byte",
          action=lambda: export_for_hub(_flipped_checkpoint("e-flip"), None, os.path.join(_DIR, "e-flip-hub")),
          error=CorruptWeightsError, needles=(_CK("e-flip", 2), "sha256", "differs"),
          guarantee="Exporting a checkpoint whose weights changed after its marker was written is refused."),
    # ---------------------------------------------------------------- one run per output folder
    Fault(id="lock-held-trainer", action=lambda: _locked("l-trainer", ci.train_tiny),
          error=OutputDirInUseError,
          needles=(os.path.join(_DIR, "l-trainer"), "in use by another run", f"on host {HOST}", "pid "),
          guarantee="A second TobigsTrainer run into a folder a live run holds fails before its first step."),
    Fault(id="lock-held-cli", action=lambda: _locked("l-cli", _clm),
          error=OutputDirInUseError,
          needles=(os.path.join(_DIR, "l-cli"), "in use by another run", f"on host {HOST}", "--output_dir"),
          guarantee="tobigs-train-clm into a --output_dir a live run holds fails fast, naming the folder and holder."),
    Fault(id="lock-held-resume",
          action=lambda: _locked("l-resume", lambda out: _clm(out, "--resume_from_checkpoint", "last")),
          error=OutputDirInUseError, needles=(os.path.join(_DIR, "l-resume"), "in use by another run"),
          guarantee="Resuming into a folder a live run is writing is refused as well."),
    # ---------------------------------------------------------------- unmarked checkpoints, the whole command locked
    Fault(id="ckpt-unmarked-state-malformed-last",
          action=lambda: last_good_checkpoint(_unmarked("u-state", lambda f: ci.truncate(
              os.path.join(f, "trainer_state.json")))),
          error=CorruptCheckpointError,
          needles=(os.path.join(_ckpt("u-state", 2), "trainer_state.json"), "not a readable trainer state",
                   os.path.join(_ckpt("u-state", 1), "trainer_state.json")),
          guarantee="--resume_from_checkpoint last over unmarked checkpoints that do not load raises naming them; it "
                    "never restarts from step 0 while checkpoints exist."),
    Fault(id="ckpt-unmarked-no-weights-last",
          action=lambda: last_good_checkpoint(_unmarked("u-weights", lambda f: os.remove(os.path.join(f, WEIGHTS)))),
          error=CorruptCheckpointError, needles=(_ckpt("u-weights", 2), "no model weights", "trainer_state.json"),
          guarantee="An unmarked checkpoint is resumed only with loadable weights; without them 'last' says so."),
    Fault(id="ckpt-start-from-zero-over-checkpoints",
          action=lambda: _clm(_unmarked("u-zero")),
          error=ArgumentError,
          needles=(os.path.join(_DIR, "u-zero", "run"), "checkpoint-2, checkpoint-1", "--resume_from_checkpoint last",
                   "--overwrite_output_dir"),
          guarantee="A run without --resume_from_checkpoint into a folder holding checkpoints (marked or not) stops "
                    "and says how to continue or replace them, instead of training from step 0 over them."),
    Fault(id="ckpt-resume-other-model-size",
          action=lambda: _clm(_clm_checkpoint("size"), "--resume_from_checkpoint", "last", "--max_steps", "4",
                              "--config_overrides", TINY.replace("d_model=32", "d_model=48")),
          error=CheckpointMismatchError,
          needles=("--config_overrides", "[64, 32] in the checkpoint", "[64, 48] here",
                   "d_model=32 in the checkpoint, 48 here", os.path.join(_DIR, "size", "checkpoint-2")),
          guarantee="Resuming with a changed model size names the option, a tensor's shapes in the checkpoint and "
                    "now, and the config fields that differ (was a state-dict size-mismatch traceback)."),
    Fault(id="lock-held-final-save",
          action=lambda: _second_run_during("l-final-save", TobigsTrainer, "save_model", when=_final_save),
          error=OutputDirInUseError, needles=(os.path.join(_DIR, "l-final-save"), "in use by another run"),
          guarantee="The lock is held after trainer.train() returns: a second run started during the final save "
                    "is refused."),
    Fault(id="lock-held-final-artefacts",
          action=lambda: _second_run_during("l-final-artefacts", recipe, "write_artefacts"),
          error=OutputDirInUseError, needles=(os.path.join(_DIR, "l-final-artefacts"), "in use by another run"),
          guarantee="...and until the command has written its last file (metrics.json, loss curve)."),
]


@pytest.mark.parametrize("fault", params(FAULTS))
def test_fault(fault):
    check(fault)
