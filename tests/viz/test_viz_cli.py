"""`tobigs-viz` end to end: every subcommand writes its PNGs; bad input gives exit status 2 and a message."""

import json
import logging

import pytest
import torch
from tiny import tiny_config

from tobigs_transformer import TobigsForConditionalGeneration
from tobigs_transformer.viz import cli, fonts
from tobigs_transformer.viz.demo import LECTURE_SOURCE, LECTURE_TARGET, toy_corpus, word_level_tokenizer


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    tokenizer = word_level_tokenizer([LECTURE_SOURCE, LECTURE_TARGET])
    config = tiny_config("transformer-base", pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=0)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model")
    TobigsForConditionalGeneration(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _pngs(folder):
    return sorted(p.name for p in folder.glob("*.png"))


def test_attention(model_dir, tmp_path, capsys):
    rc = cli.main(["attention", str(model_dir), "--text", LECTURE_SOURCE, "--target", LECTURE_TARGET,
                   "--output_dir", str(tmp_path), "--average"])
    assert rc == 0
    assert _pngs(tmp_path) == ["attention_cross_mean.png", "attention_masked_mean.png", "attention_self_mean.png"]
    assert "attention_cross_mean.png" in capsys.readouterr().out
    rc = cli.main(["attention", str(model_dir), "--text", LECTURE_SOURCE, "--kind", "cross", "--layer", "1",
                   "--head", "0,1", "--output_dir", str(tmp_path / "one"), "--max-new-tokens", "4"])
    assert rc == 0 and _pngs(tmp_path / "one") == ["attention_cross.png"]


def test_attention_errors(model_dir, tmp_path, capsys):
    assert cli.main(["attention", str(tmp_path / "missing"), "--text", "x", "--output_dir", str(tmp_path)]) == 2
    assert "error" in capsys.readouterr().err
    rc = cli.main(["attention", str(model_dir), "--text", "x", "--layer", "7", "--output_dir", str(tmp_path)])
    assert rc == 2 and "layer 7 does not exist" in capsys.readouterr().err


def test_positional(model_dir, tmp_path):
    assert cli.main(["positional", "--output_dir", str(tmp_path)]) == 0
    assert _pngs(tmp_path) == ["positional_sinusoidal.png"]
    assert cli.main(["positional", "--model", str(model_dir), "--positions", "16", "--output_dir", str(tmp_path)]) == 0
    assert _pngs(tmp_path) == ["positional_distance_profile.png", "positional_model.png", "positional_sinusoidal.png"]


def test_softmax(tmp_path):
    assert cli.main(["softmax", "--d-k", "4,64", "--queries", "16", "--output_dir", str(tmp_path)]) == 0
    assert _pngs(tmp_path) == ["softmax_saturation.png"]
    stats = json.loads((tmp_path / "softmax_saturation.json").read_text())
    assert stats["d_k"] == [4, 64]


def test_curves(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "trainer_state.json").write_text(json.dumps({"log_history": [
        {"step": 1, "loss": 3.0, "learning_rate": 1e-3}, {"step": 2, "loss": 2.0, "learning_rate": 5e-4},
        {"step": 2, "eval_loss": 2.5}]}))
    assert cli.main(["curves", str(run), "--output_dir", str(tmp_path / "loss.png")]) == 0
    assert (tmp_path / "loss.png").stat().st_size > 0
    assert cli.main(["curves", str(tmp_path / "nothing"), "--output_dir", str(tmp_path)]) == 2


def test_toy_corpus_holds_the_lecture_pair_out():
    pairs = toy_corpus()
    assert (LECTURE_SOURCE, LECTURE_TARGET) not in pairs
    assert (LECTURE_SOURCE, LECTURE_TARGET) in toy_corpus(include_lecture_pair=True)
    assert ("나는 너를 사랑해.", "I love you.") in pairs
    assert len(pairs) == len(set(pairs)) == 599


def test_hangul_font_or_clear_warning(monkeypatch, caplog):
    family = fonts.find_hangul_font()
    if family is not None:
        from matplotlib import font_manager

        path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
        assert fonts.font_has_glyph(path, "투")
    monkeypatch.setattr(fonts, "find_hangul_font", lambda: None)
    with caplog.at_level(logging.WARNING, logger="tobigs_transformer.viz.fonts"):
        assert fonts.configure_fonts.__wrapped__() is None
    assert "no font with Hangul glyphs" in caplog.text and "koreanize-matplotlib" in caplog.text


def test_demo_trains_with_trainer_and_draws(tmp_path):
    """The toy translator goes through the real Trainer (trainer_state.json) and save_pretrained/from_pretrained."""
    from tobigs_transformer.viz import read_log_history

    assert cli.main(["demo", "--steps", "4", "--output_dir", str(tmp_path), "--dpi", "50"]) == 0
    history = read_log_history(tmp_path / "model")
    assert [step for step, _ in history.train_loss] == [1, 2, 3, 4] and history.eval_loss
    assert _pngs(tmp_path) == [
        "attention_cross_mean.png", "attention_layer1_cross.png", "attention_masked_mean.png",
        "attention_self_mean.png", "loss_curves.png", "positional_sinusoidal.png"]
