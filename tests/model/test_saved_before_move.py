"""Folders saved before the model moved into `tobigs_transformer/model/` (written by
scripts/make_pre_move_fixture.py at the commit recorded in expected.json) still load: with the package installed
(through the registered Auto classes), with `trust_remote_code=True` in an interpreter that cannot import the
package (through the code the folder carries), and after a re-save with the current code."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

from tobigs_transformer.hub import EXPORTED_MODULES

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "saved_before_model_move"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text())
AUTO = {"gpt2": AutoModelForCausalLM, "bart": AutoModelForSeq2SeqLM}


def _logits(model) -> torch.Tensor:
    ids = torch.tensor(EXPECTED["input_ids"])
    with torch.no_grad():
        if model.config.is_encoder_decoder:
            return model(input_ids=ids, decoder_input_ids=ids[:, :5]).logits
        return model(input_ids=ids).logits


def _check(name: str, logits) -> None:
    expected = EXPECTED[name]
    first = torch.as_tensor(logits)[0, :, :4]
    torch.testing.assert_close(first, torch.tensor(expected["logits_first"]), atol=1e-5, rtol=0)
    assert float(torch.as_tensor(logits).double().sum()) == pytest.approx(expected["logits_sum"], abs=1e-3)


def test_the_fixture_predates_the_move():
    assert (FIXTURE / "gpt2" / "modeling_tobigs.py").is_file()
    assert "ROOT_MODULES" in (FIXTURE / "gpt2" / "remote_code.py").read_text()
    assert EXPECTED["commit"].startswith("966435a")


@pytest.mark.parametrize("name", ["gpt2", "bart"])
def test_loads_with_the_installed_package(name):
    model = AUTO[name].from_pretrained(FIXTURE / name).eval()
    assert type(model).__module__ == "tobigs_transformer.model.modeling_tobigs"
    _check(name, _logits(model))


@pytest.mark.parametrize("name", ["gpt2", "bart"])
def test_resaved_with_the_current_code(name, tmp_path):
    AUTO[name].from_pretrained(FIXTURE / name).save_pretrained(tmp_path)
    assert {p.name for p in tmp_path.glob("*.py")} == set(EXPORTED_MODULES)
    _check(name, _logits(AUTO[name].from_pretrained(tmp_path).eval()))


CLEAN = """
import json, sys
sys.modules["tobigs_transformer"] = None  # the package cannot be imported here
import torch
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM
folder, name, ids = sys.argv[1], sys.argv[2], torch.tensor(json.loads(sys.argv[3]))
auto = AutoModelForCausalLM if name == "gpt2" else AutoModelForSeq2SeqLM
model = auto.from_pretrained(folder, trust_remote_code=True).eval()
with torch.no_grad():
    extra = {"decoder_input_ids": ids[:, :5]} if model.config.is_encoder_decoder else {}
    logits = model(input_ids=ids, **extra).logits
print(json.dumps({"module": type(model).__module__, "logits": logits.tolist()}))
"""


@pytest.mark.parametrize("name", ["gpt2", "bart"])
def test_loads_as_remote_code_where_the_package_is_not_installed(name, tmp_path):
    folder = shutil.copytree(FIXTURE / name, tmp_path / name)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"), HF_HOME=str(tmp_path / "home"),
               TRANSFORMERS_VERBOSITY="error", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", CLEAN, str(folder), name, json.dumps(EXPECTED["input_ids"])],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["module"].startswith("transformers_modules.")
    _check(name, result["logits"])
