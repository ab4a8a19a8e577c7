"""Writes tests/fixtures/saved_before_model_move/: folders saved by the package as it was before the model moved into
`tobigs_transformer/model/` (commit 966435a), with the outputs they gave then.  Run once, at that commit, with
`.venv/bin/python scripts/make_pre_move_fixture.py`; tests/model/test_saved_before_move.py loads them with the
current package and in a clean interpreter through the code they carry."""

import json
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from tiny import tiny_config  # noqa: E402

from tobigs_transformer import TobigsForCausalLM, TobigsForConditionalGeneration  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "saved_before_model_move"
IDS = [[5, 17, 33, 2, 60, 41, 7, 9]]


def main() -> None:
    torch.manual_seed(0)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    expected = {"commit": commit, "torch": torch.__version__, "input_ids": IDS}
    for name, cls, preset in [("gpt2", TobigsForCausalLM, "gpt2"),
                              ("bart", TobigsForConditionalGeneration, "bart-base")]:
        model = cls(tiny_config(preset, max_position_embeddings=16)).eval()
        model.save_pretrained(OUT / name)
        ids = torch.tensor(IDS)
        with torch.no_grad():
            if cls is TobigsForCausalLM:
                logits = model(input_ids=ids).logits
            else:
                logits = model(input_ids=ids, decoder_input_ids=ids[:, :5]).logits
        expected[name] = {"logits_sum": logits.double().sum().item(), "logits_first": logits[0, :, :4].tolist()}
    (OUT / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
