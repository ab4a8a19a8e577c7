"""Attention maps: weights come from the eager path's output_attentions, rows sum to 1, the look-ahead mask is exact,
figures have one panel per (layer, head), and a model without an eager path fails loudly."""

import numpy as np
import pytest
import torch
from tiny import tiny_config

from tobigs_transformer import TobigsForCausalLM, TobigsForConditionalGeneration, TobigsForMaskedLM
from tobigs_transformer.viz import (
    compute_attention_maps,
    ensure_eager,
    load_for_attention,
    panel_axes,
    plot_attention,
    save_attention_figures,
    token_labels,
)
from tobigs_transformer.viz.demo import LECTURE_SOURCE, LECTURE_TARGET, word_level_tokenizer

TEXTS = [LECTURE_SOURCE, LECTURE_TARGET, "나는 학생이다.", "I am a student."]


@pytest.fixture(scope="module")
def tokenizer():
    return word_level_tokenizer(TEXTS)  # ids 0..~20, inside the tiny vocabulary of 99


def _special(tok):
    return dict(pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)


@pytest.fixture(scope="module")
def seq2seq_dir(tmp_path_factory, tokenizer):
    torch.manual_seed(0)
    config = tiny_config("transformer-base", **_special(tokenizer), decoder_start_token_id=tokenizer.bos_token_id)
    model = TobigsForConditionalGeneration(config)  # default attention: sdpa
    path = tmp_path_factory.mktemp("seq2seq")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def seq2seq(seq2seq_dir):
    return load_for_attention(seq2seq_dir)


def _rows_sum_to_one(weights):
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)


def test_load_switches_to_eager(seq2seq):
    model, _ = seq2seq
    assert model.config._attn_implementation == "eager"
    assert not model.training


def test_encoder_decoder_maps(seq2seq):
    model, tokenizer = seq2seq
    maps = compute_attention_maps(model, tokenizer, LECTURE_SOURCE, LECTURE_TARGET)
    assert maps.kinds == ["self", "masked", "cross"]
    source = tokenizer(LECTURE_SOURCE)["input_ids"]
    target = tokenizer(text_target=LECTURE_TARGET)["input_ids"]  # the decoder reads <s> + target[:-1]
    layers, heads = model.config.encoder_layers, model.config.encoder_attention_heads
    assert maps.weights["self"].shape == (layers, heads, len(source), len(source))
    assert maps.weights["masked"].shape == (layers, heads, len(target), len(target))
    assert maps.weights["cross"].shape == (layers, heads, len(target), len(source))
    for kind in maps.kinds:
        _rows_sum_to_one(maps.weights[kind])
        assert len(maps.query_tokens[kind]) == maps.weights[kind].shape[2]
        assert len(maps.key_tokens[kind]) == maps.weights[kind].shape[3]
    upper = np.triu(np.ones((len(target), len(target)), dtype=bool), 1)
    assert np.all(maps.weights["masked"][..., upper] == 0.0)  # exactly zero, not just small
    assert np.all(maps.weights["masked"][..., ~upper] > 0.0)
    assert maps.key_tokens["self"][:3] == ["투빅아", ",", "나는"]
    assert maps.query_tokens["cross"] == ["Tobigs", ",", "I", "love", "you", "so", "much", ".", "</s>"]
    assert maps.key_tokens["masked"][:3] == ["<s>", "Tobigs", ","]  # row "Tobigs" reads only "<s>"


def test_maps_are_the_eager_output_attentions(seq2seq):
    model, tokenizer = seq2seq
    maps = compute_attention_maps(model, tokenizer, LECTURE_SOURCE, LECTURE_TARGET)
    source = tokenizer(LECTURE_SOURCE, return_tensors="pt")["input_ids"]
    target = tokenizer(text_target=LECTURE_TARGET, return_tensors="pt")["input_ids"]
    decoder_input = torch.cat([torch.tensor([[model.config.decoder_start_token_id]]), target[:, :-1]], 1)
    with torch.no_grad():
        out = model(input_ids=source, decoder_input_ids=decoder_input, output_attentions=True, use_cache=False)
    np.testing.assert_array_equal(maps.weights["cross"][1], out.cross_attentions[1][0].numpy())
    np.testing.assert_array_equal(maps.weights["self"][0], out.encoder_attentions[0][0].numpy())


def test_greedy_target_when_none_given(seq2seq):
    model, tokenizer = seq2seq
    maps = compute_attention_maps(model, tokenizer, LECTURE_SOURCE, max_new_tokens=5)
    assert 1 <= maps.weights["cross"].shape[2] <= 5
    _rows_sum_to_one(maps.weights["cross"])


def test_sdpa_model_is_switched_to_eager(tokenizer):
    model = TobigsForConditionalGeneration(tiny_config("transformer-base", **_special(tokenizer),
                                                       decoder_start_token_id=0))
    assert model.config._attn_implementation != "eager"
    maps = compute_attention_maps(model, tokenizer, LECTURE_SOURCE, LECTURE_TARGET)
    assert model.config._attn_implementation == "eager"
    _rows_sum_to_one(maps.weights["self"])


def test_decoder_only_is_masked(tokenizer):
    model = TobigsForCausalLM(tiny_config("gpt2", **_special(tokenizer)))
    maps = compute_attention_maps(model, tokenizer, LECTURE_TARGET)
    assert maps.kinds == ["masked"]
    weights = maps.weights["masked"]
    _rows_sum_to_one(weights)
    assert np.all(weights[..., np.triu(np.ones(weights.shape[-2:], dtype=bool), 1)] == 0.0)
    with pytest.raises(ValueError, match="encoder-decoder"):
        compute_attention_maps(model, tokenizer, LECTURE_TARGET, "target")


def test_encoder_only_is_bidirectional(tokenizer):
    model = TobigsForMaskedLM(tiny_config("bert-base", pad_token_id=tokenizer.pad_token_id))
    maps = compute_attention_maps(model, tokenizer, LECTURE_SOURCE)
    assert maps.kinds == ["self"]
    _rows_sum_to_one(maps.weights["self"])
    assert np.all(maps.weights["self"] > 0)
    with pytest.raises(ValueError, match="no 'cross' attention"):
        plot_attention(maps, "cross")


# ---- a model without an eager path: a clear error, never a blank figure -----------------------------------------


def test_not_a_model_raises():
    with pytest.raises(ValueError, match="not a transformers model"):
        ensure_eager(torch.nn.Linear(2, 2))


def test_model_refusing_eager_raises(tokenizer, monkeypatch):
    model = TobigsForCausalLM(tiny_config("gpt2", **_special(tokenizer)))

    def refuse(*args, **kwargs):
        raise ValueError("this class only has a fused kernel")

    monkeypatch.setattr(model, "set_attn_implementation", refuse)
    with pytest.raises(ValueError, match="cannot switch to the eager attention path"):
        compute_attention_maps(model, tokenizer, LECTURE_TARGET)


def test_model_returning_no_weights_raises(tokenizer, monkeypatch):
    model = TobigsForCausalLM(tiny_config("gpt2", **_special(tokenizer)))
    model.set_attn_implementation("eager")
    forward = model.forward

    def without_weights(*args, **kwargs):  # a custom class whose attention never returns its weights
        out = forward(*args, **kwargs)
        out.attentions = ()
        return out

    monkeypatch.setattr(model, "forward", without_weights)
    with pytest.raises(ValueError, match="returned no attention weights"):
        compute_attention_maps(model, tokenizer, LECTURE_TARGET)


def test_load_refusing_eager_raises(seq2seq_dir, monkeypatch):
    from tobigs_transformer import TobigsPreTrainedModel

    def refuse(self, *args, **kwargs):
        raise ValueError('attn_implementation="eager" is not supported by this class')

    monkeypatch.setattr(TobigsPreTrainedModel, "get_correct_attn_implementation", refuse)
    with pytest.raises(ValueError, match="eager"):
        load_for_attention(seq2seq_dir)


# ---- figures ---------------------------------------------------------------------------------------------------


def test_panels_per_layer_and_head(seq2seq):
    model, tokenizer = seq2seq
    maps = compute_attention_maps(model, tokenizer, LECTURE_SOURCE, LECTURE_TARGET)
    layers, heads = model.config.decoder_layers, model.config.decoder_attention_heads
    assert len(panel_axes(plot_attention(maps, "cross"))) == layers * heads
    assert len(panel_axes(plot_attention(maps, "masked", average_heads=True))) == layers
    assert len(panel_axes(plot_attention(maps, "self", layers=[1], heads=[0, 2]))) == 2
    fig = plot_attention(maps, "self", layers=1, heads=0)
    (ax,) = panel_axes(fig)
    assert [t.get_text() for t in ax.get_xticklabels()] == maps.key_tokens["self"]
    image = ax.get_images()[0]
    np.testing.assert_allclose(np.asarray(image.get_array()), maps.weights["self"][1, 0])
    with pytest.raises(ValueError, match="layer 5 does not exist"):
        plot_attention(maps, "self", layers=5)


def test_masked_panel_hides_the_future(seq2seq):
    model, tokenizer = seq2seq
    maps = compute_attention_maps(model, tokenizer, LECTURE_SOURCE, LECTURE_TARGET)
    ax = panel_axes(plot_attention(maps, "masked", layers=0, heads=0))[0]
    shown = ax.get_images()[0].get_array()
    assert np.array_equal(np.ma.getmaskarray(shown), np.triu(np.ones(shown.shape, dtype=bool), 1))


def test_save_attention_figures(seq2seq, tmp_path):
    model, tokenizer = seq2seq
    maps = compute_attention_maps(model, tokenizer, LECTURE_SOURCE, LECTURE_TARGET)
    paths = save_attention_figures(maps, tmp_path, average_heads=True)
    assert [p.name for p in paths] == ["attention_self_mean.png", "attention_masked_mean.png",
                                       "attention_cross_mean.png"]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    per_layer = save_attention_figures(maps, tmp_path / "layers", kinds=["cross"], per_layer=True)
    assert len(per_layer) == model.config.decoder_layers


def test_byte_level_labels_are_readable():
    from tobigs_transformer.data.tokenization import train_gpt_tokenizer

    tok = train_gpt_tokenizer(TEXTS * 3, vocab_size=300, min_frequency=1)
    ids = tok(LECTURE_SOURCE + " " + LECTURE_TARGET)["input_ids"]
    labels = token_labels(tok, ids)
    assert len(labels) == len(ids)
    assert not any("Ġ" in label or "\ufffd" in label for label in labels)
    assert "you" in labels and "," in labels
    # A syllable split over two byte pieces is named on both, with '…' on the cut side.
    assert labels[0] == "투…" and labels[1].startswith("…투")
    assert all(label.strip() for label in labels)


def test_plain_labels():
    tok = word_level_tokenizer(TEXTS)
    ids = tok(LECTURE_SOURCE)["input_ids"]
    assert token_labels(tok, ids) == ["투빅아", ",", "나는", "너를", "많이", "사랑해", ".", "</s>"]
