"""TobigsConfig: presets carry the papers' sizes, invalid values fail at construction, save/load round-trips."""

import json
import logging
import re

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


# ---- unknown keys: a typo is an error naming the closest field, not an attribute written to config.json ----------


@pytest.mark.parametrize("build", [lambda: TobigsConfig(d_modle=128),
                                   lambda: TobigsConfig.from_preset("gpt2", d_modle=128),
                                   lambda: TobigsConfig.check_keys(["d_modle"])])
def test_unknown_key_names_the_closest_field(build):
    with pytest.raises(ValueError, match="TobigsConfig has no field 'd_modle'; did you mean 'd_model'"):
        build()


def test_unknown_key_without_a_close_field_lists_the_fields():
    with pytest.raises(ValueError, match="no field 'colour'; the fields are: architecture, vocab_size, d_model"):
        TobigsConfig(colour="blue")


# ---- loading keeps extra keys: a saved config carries what other tools set on it, and must load and save again ----
# transformers' own test helpers (testing_utils.set_config_for_less_flaky_test) set these on every config they test.
EXTRA = {"batch_norm_eps": 1.0, "norm_eps": 1.0, "rms_norm_eps": 1.0, "my_tool": {"run": 7, "tags": ["a", "b"]}}


def _tiny_gpt2() -> TobigsConfig:
    return TobigsConfig.from_preset("gpt2", vocab_size=99, d_model=32, decoder_layers=2, decoder_attention_heads=4,
                                    decoder_ffn_dim=37, max_position_embeddings=64, bos_token_id=98, eos_token_id=98)


def _with_extra_keys() -> TobigsConfig:
    config = _tiny_gpt2()
    for key, value in EXTRA.items():
        setattr(config, key, value)
    return config


def _warning_names_the_extra_keys(caplog) -> None:
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING and "no field" in r.getMessage()]
    assert warnings and all(re.search(rf"\b{key}\b", warnings[-1]) for key in EXTRA), warnings


@pytest.mark.parametrize("load", [
    lambda path: TobigsConfig.from_pretrained(path),
    lambda path: AutoConfig.from_pretrained(path),
    lambda path: TobigsConfig.from_json_file(path / "config.json"),
    lambda path: TobigsConfig.from_dict(json.loads((path / "config.json").read_text())),
], ids=["from_pretrained", "AutoConfig", "from_json_file", "from_dict"])
def test_saved_config_with_extra_keys_loads_keeps_them_and_saves_again(tmp_path, caplog, load):
    config = _with_extra_keys()
    config.save_pretrained(tmp_path / "first")
    saved = json.loads((tmp_path / "first" / "config.json").read_text())
    assert {key: value for key, value in saved.items() if key in EXTRA} == EXTRA
    with caplog.at_level(logging.WARNING):
        loaded = load(tmp_path / "first")
    _warning_names_the_extra_keys(caplog)
    assert isinstance(loaded, TobigsConfig)
    assert {key: getattr(loaded, key) for key in EXTRA} == EXTRA
    assert loaded.d_model == 32 and loaded.architecture == "decoder-only"
    loaded.save_pretrained(tmp_path / "second")
    again = TobigsConfig.from_pretrained(tmp_path / "second")
    drop = {"_name_or_path"}
    assert {k: v for k, v in again.to_dict().items() if k not in drop} == {
        k: v for k, v in config.to_dict().items() if k not in drop
    }


def test_model_with_extra_config_keys_saves_and_loads(tmp_path):
    """The round trip of transformers' common test_eager_matches_sdpa_inference: set the keys, save, load."""
    import torch
    from transformers import AutoModelForCausalLM

    from tobigs_transformer import TobigsForCausalLM

    torch.manual_seed(0)
    model = TobigsForCausalLM(_with_extra_keys()).eval()
    model.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path, attn_implementation="sdpa").eval()
    assert loaded.config.batch_norm_eps == 1.0 and loaded.config.my_tool == EXTRA["my_tool"]
    ids = torch.tensor([[5, 6, 7, 8]])
    torch.testing.assert_close(loaded(ids).logits, model(ids).logits)


def test_keyword_argument_wins_over_a_saved_extra_key(tmp_path):
    _with_extra_keys().save_pretrained(tmp_path)
    assert TobigsConfig.from_pretrained(tmp_path, norm_eps=0.5).norm_eps == 0.5


def test_loading_still_validates_the_fields(tmp_path):
    """Extra keys are kept, but the fields' values are checked as at construction."""
    saved = {**_tiny_gpt2().to_dict(), **EXTRA, "dropout": 1.5}
    with pytest.raises(ValueError, match=re.escape("dropout must be in [0, 1), got 1.5")):
        TobigsConfig.from_dict(saved)


def test_typo_in_overrides_of_a_loaded_config_with_extra_keys_is_caught(tmp_path):
    """--config_name DIR keeps the file's extra keys; a misspelt --config_overrides key on it still fails (it fails
    before the tokenizer is read, so none is given)."""
    from tobigs_transformer.training.arguments import ModelArguments
    from tobigs_transformer.training.model_config import build_config
    from tobigs_transformer.training.validation import ArgumentError

    _with_extra_keys().save_pretrained(tmp_path)
    args = ModelArguments(config_name=str(tmp_path), config_overrides="d_modle=48")
    with pytest.raises(ArgumentError, match="no field 'd_modle'; did you mean 'd_model'"):
        build_config(args, None, "clm", "gpt2")


def test_extra_keys_are_still_a_typo_when_typed():
    """The keys transformers' helpers set are no field: typed into the constructor or a preset they raise."""
    with pytest.raises(ValueError, match="TobigsConfig has no field 'norm_eps'; did you mean 'layer_norm_eps'"):
        TobigsConfig(norm_eps=1.0)
    with pytest.raises(ValueError, match="TobigsConfig has no field 'd_modle'; did you mean 'd_model'"):
        TobigsConfig.from_preset("gpt2", d_modle=1)
    assert TobigsConfig.unknown_keys(["d_model", "_commit_hash", "num_beams", "d_modle", "norm_eps"]) == [
        "d_modle", "norm_eps"]


def test_everything_transformers_passes_is_accepted(tmp_path):
    from transformers import AutoModelForSequenceClassification, GenerationConfig

    import tobigs_transformer as tt

    config = TobigsConfig.from_preset(
        "bert-base", vocab_size=99, d_model=32, encoder_layers=1, encoder_attention_heads=4, encoder_ffn_dim=37,
        # what from_pretrained, pipelines, the Trainer and v4-era config.json files put into a config
        id2label={0: "neg", 1: "neu", 2: "pos"}, label2id={"neg": 0, "neu": 1, "pos": 2}, problem_type=None,
        output_hidden_states=False, return_dict=True, tokenizer_class="BertTokenizerFast", dtype="float32",
        torch_dtype="float32", attn_implementation="eager", name_or_path="somewhere", _name_or_path="somewhere",
        _commit_hash="abc", transformers_version="5.24.0", architectures=["TobigsForSequenceClassification"],
        num_beams=4, max_length=20, hidden_size=32, finetuning_task="sst2", prefix="",
    )
    assert config.num_labels == 3 and config.d_model == 32 and config._attn_implementation == "eager"
    model = tt.TobigsForSequenceClassification(config)
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert {"auto_map", "architectures", "transformers_version", "model_type", "id2label"} <= set(saved)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path, num_labels=3, attn_implementation="sdpa",
                                                                output_hidden_states=True)
    assert isinstance(loaded, tt.TobigsForSequenceClassification) and loaded.config.output_hidden_states
    assert TobigsConfig.from_dict(saved).to_dict() == TobigsConfig.from_pretrained(tmp_path).to_dict()
    assert GenerationConfig._get_default_generation_params()  # the generation keys are derived, not listed by hand


def test_config_changed_after_construction_is_checked_when_a_model_is_built():
    import tobigs_transformer as tt

    config = TobigsConfig.from_preset("transformer-base", vocab_size=99, d_model=64, max_position_embeddings=16)
    config.d_model = 100  # with 8 heads
    with pytest.raises(ValueError, match="d_model=100 must be divisible by encoder_attention_heads=8"):
        tt.TobigsModel(config)
    config.d_model, config.pad_token_id = 64, 99
    with pytest.raises(ValueError, match=r"pad_token_id=99 is outside the vocabulary \[0, vocab_size=99\)"):
        tt.TobigsForConditionalGeneration(config)


# ---- preset special-token ids and a smaller vocabulary ------------------------------------------------------------


@pytest.mark.parametrize("preset", TobigsConfig.presets())
def test_preset_special_ids_follow_a_small_vocabulary(preset, caplog):
    original = TobigsConfig.from_preset(preset)
    with caplog.at_level(logging.INFO, logger="tobigs_transformer.model.configuration_tobigs"):
        small = TobigsConfig.from_preset(preset, vocab_size=99)
    for field in ("pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id"):
        before, after = getattr(original, field), getattr(small, field)
        if before is None or before < 99:
            assert after == before, field  # inside the new vocabulary: kept
        else:  # counted from the end: the preset's last id stays the last id
            assert after == 99 - (original.vocab_size - before), field
            assert f"{field} {before} -> {after}" in caplog.text


def test_gpt2_end_of_text_stays_the_last_id():
    config = TobigsConfig.from_preset("gpt2", vocab_size=8000)
    assert config.bos_token_id == config.eos_token_id == 7999


def test_explicit_special_ids_are_never_changed():
    config = TobigsConfig.from_preset("gpt2", vocab_size=99, eos_token_id=5)
    assert (config.eos_token_id, config.bos_token_id) == (5, 98)
    with pytest.raises(ValueError, match=r"bos_token_id=150 is outside the vocabulary \[0, vocab_size=99\)"):
        TobigsConfig.from_preset("gpt2", vocab_size=99, bos_token_id=150)


def test_vocabulary_too_small_for_the_preset_ids():
    with pytest.raises(ValueError, match="preset 'bart-base' has eos_token_id=2, outside vocab_size=2"):
        TobigsConfig.from_preset("bart-base", vocab_size=2)


# ---- local paths ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["./no/such/dir", "~/no-such-tobigs-dir", "runs/exp1/checkpoint-5", "C:\\models\\x"])
def test_missing_local_path_says_no_such_directory(path):
    import tobigs_transformer as tt

    for load in (TobigsConfig.from_pretrained, tt.TobigsForCausalLM.from_pretrained):
        with pytest.raises(FileNotFoundError, match=f"no such directory: {re.escape(repr(path))}"):
            load(path)


def test_hub_ids_are_left_to_transformers():
    from tobigs_transformer.model.configuration_tobigs import looks_local

    assert not any(looks_local(name) for name in ("gpt2", "owner/name", "my-org/tobigs-transformer-base"))
    assert all(looks_local(path) for path in ("/abs/dir", "./x", "../x", "~/x", "a/b/c", "a\\b"))
