"""The repository's model_card.md is the one model-card template: the package's copy is a symlink to it, which a
wheel build turns into the file itself (so an installed package renders the same card)."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import tobigs_transformer.hub as hub
from tobigs_transformer.hub.model_card import PACKAGE_TEMPLATE, ModelCardInfo, build_model_card, resolve_template

ROOT = Path(__file__).resolve().parents[2]


def test_packaged_template_is_a_symlink_to_the_root_model_card():
    packaged = Path(hub.__file__).with_name("model_card_template.md")
    assert packaged == PACKAGE_TEMPLATE
    assert packaged.is_symlink(), "a second hand-kept copy of model_card.md"
    assert os.readlink(packaged) == "../../../model_card.md"  # relative: valid in every checkout
    assert packaged.resolve() == (ROOT / "model_card.md").resolve()


def test_the_default_template_is_the_root_model_card(monkeypatch):
    monkeypatch.delenv("TOBIGS_MODEL_CARD_TEMPLATE", raising=False)
    assert resolve_template().resolve() == (ROOT / "model_card.md").resolve()
    with pytest.raises(FileNotFoundError, match="model card template /nonexistent.md does not exist"):
        resolve_template("/nonexistent.md")


def test_card_info_fields_and_unknown_keywords():
    info = ModelCardInfo(model_name="m", src_lang="ro").updated(tgt_lang="en")
    assert (info.model_name, info.src_lang, info.tgt_lang, info.license) == ("m", "ro", "en", "apache-2.0")
    with pytest.raises(TypeError, match=r"\['src_language'\] are no ModelCardInfo fields"):
        info.updated(src_language="ro")


def test_build_model_card_takes_the_info_and_keywords_on_top():
    from tiny import tiny_config

    from tobigs_transformer import TobigsForConditionalGeneration

    model = TobigsForConditionalGeneration(tiny_config("bart-base"))
    info = ModelCardInfo(model_name="tiny-ro-en", src_lang="ro", tgt_lang="en", limitations="Toy only.")
    card = build_model_card(model, info)
    assert card.data.language == ["ro", "en"] and card.data.pipeline_tag == "translation"
    assert "Toy only." in card.text and "tiny-ro-en" in card.text
    assert build_model_card(model, info, model_name="other").data.model_name == "other"
    with pytest.raises(ValueError, match="needs a model_name"):
        build_model_card(model)


@pytest.mark.slow
def test_a_built_wheel_holds_the_template_as_a_file(tmp_path):
    """setuptools follows the symlink: the wheel's model_card_template.md is the root model_card.md's text."""
    tree = tmp_path / "checkout"  # a copy, so that the build writes no build/ or egg-info into the checkout
    shutil.copytree(ROOT / "src", tree / "src", symlinks=True, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    for name in ("pyproject.toml", "README.md", "model_card.md"):
        shutil.copy(ROOT / name, tree / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(tree)],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("tobigs_transformer-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        info = archive.getinfo("tobigs_transformer/hub/model_card_template.md")
        assert info.external_attr >> 28 != 0o12  # a regular file, not a link
        text = archive.read(info).decode("utf-8")
    assert text == (ROOT / "model_card.md").read_text(encoding="utf-8")
