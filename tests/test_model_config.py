"""TobigsConfig: presets carry the papers' sizes, invalid values fail at construction, save/load round-trips."""

import pytest
from transformers import AutoConfig

from tobigs_transformer import TobigsConfig


def test_presets_listed():
    assert {"transformer-base", "transformer-big", "gpt", "gpt2", "bert-base", "bart-base", "bart-large"} <= set(
        TobigsConfig.presets()
    )


@pytest.mark.parametrize(
    "preset, d_model, heads, d_ff, dropout",
    [("transformer-base", 512, 8, 2048, 0.1), ("transformer-big", 1024, 16, 4096, 0.3)],
)
def test_paper_table3_sizes(preset, d_model, heads, d_ff, dropout):
    c = TobigsConfig.from_preset(preset)
    assert (c.encoder_layers, c.decoder_layers) == (6, 6)
    assert (c.d_model, c.encoder_attention_heads, c.decoder_attention_heads) == (d_model, heads, heads)
    assert (c.encoder_ffn_dim, c.decoder_ffn_dim, c.dropout) == (d_ff, d_ff, dropout)
    assert c.position_embedding_type == "sinusoidal" and c.scale_embedding and not c.normalize_before
    assert c.activation_function == "relu" and c.tie_word_embeddings and c.label_smoothing == 0.1
    assert c.init_method == "xavier_uniform" and c.is_encoder_decoder


def test_family_differences_are_config_values():
    gpt, gpt2 = TobigsConfig.from_preset("gpt"), TobigsConfig.from_preset("gpt2")
    assert gpt.architecture == gpt2.architecture == "decoder-only" and not gpt2.is_encoder_decoder
    assert not gpt.normalize_before and gpt2.normalize_before and gpt2.activation_function == "gelu_new"
    bert = TobigsConfig.from_preset("bert-base")
    assert bert.architecture == "encoder-only" and bert.type_vocab_size == 2 and bert.layernorm_embedding
    bart = TobigsConfig.from_preset("bart-base")
    assert bart.position_offset == 2 and bart.layernorm_embedding and bart.position_embedding_type == "learned"
    assert TobigsConfig.from_preset("bart-large").d_model == 1024


def test_aliases_follow_the_architecture():
    gpt2 = TobigsConfig.from_preset("gpt2")
    assert (gpt2.hidden_size, gpt2.num_hidden_layers, gpt2.num_attention_heads) == (768, 12, 12)
    assert gpt2.get_text_config(decoder=True).num_hidden_layers == 12


def test_overrides_and_unknown_preset():
    assert TobigsConfig.from_preset("gpt2", d_model=64, decoder_attention_heads=4).d_model == 64
    with pytest.raises(ValueError, match="unknown preset 'gpt5'.*available presets"):
        TobigsConfig.from_preset("gpt5")


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(d_model=100, encoder_attention_heads=8), "d_model=100 must be divisible by encoder_attention_heads=8"),
        (dict(architecture="rnn"), "architecture='rnn' is not supported"),
        (dict(activation_function="tanhh"), "activation_function='tanhh' is not supported"),
        (dict(position_embedding_type="rotary"), "position_embedding_type='rotary' is not supported"),
        (dict(dropout=1.0), r"dropout must be in \[0, 1\), got 1.0"),
        (dict(vocab_size=0), "vocab_size must be > 0"),
        (dict(encoder_layers=-1), "encoder_layers must be > 0"),
        (dict(vocab_size=10, pad_token_id=10), r"pad_token_id=10 is outside the vocabulary \[0, vocab_size=10\)"),
        (dict(label_smoothing=-0.1), "label_smoothing must be in"),
    ],
)
def test_invalid_config_names_field_and_limit(overrides, message):
    with pytest.raises(ValueError, match=message):
        TobigsConfig(**overrides)


def test_wrong_type_is_rejected():
    with pytest.raises(Exception, match="d_model"):
        TobigsConfig(d_model="512")


def test_save_load_roundtrip(tmp_path):
    config = TobigsConfig.from_preset("bert-base", num_labels=3)
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, TobigsConfig)
    drop = {"_name_or_path"}
    assert {k: v for k, v in loaded.to_dict().items() if k not in drop} == {
        k: v for k, v in config.to_dict().items() if k not in drop
    }
