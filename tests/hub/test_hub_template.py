"""The repository's model_card.md is the template the package ships (one text, two places a user may look)."""

from pathlib import Path

import tobigs_transformer.hub as hub

ROOT = Path(__file__).resolve().parents[2]


def test_root_model_card_is_the_packaged_template():
    packaged = Path(hub.__file__).with_name("model_card_template.md")
    assert (ROOT / "model_card.md").read_text(encoding="utf-8") == packaged.read_text(encoding="utf-8")
