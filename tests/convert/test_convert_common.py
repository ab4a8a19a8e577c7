"""The strict conversion engine, family inference and configs that cannot be converted (the per-family parity tests
are in test_convert_families.py; shared helpers in convert_cases.py)."""

import pytest
import torch
import transformers
from convert.convert_cases import TINY_HF, assert_same_state_dict, randomize_, tiny_hf
from tiny import tiny_config
from transformers import BertForMaskedLM, BertModel, GPT2LMHeadModel

from tobigs_transformer import TobigsForCausalLM, TobigsForConditionalGeneration, TobigsModel
from tobigs_transformer.convert import (
    ConversionError,
    convert_config_from_hf,
    convert_config_to_hf,
    convert_from_hf,
    convert_to_hf,
    supported_classes,
)
from tobigs_transformer.convert.engine import convert_state_dict
from tobigs_transformer.convert.ops import CAT, RENAME, ROW, SAME, TRANSPOSE
from tobigs_transformer.convert.rules import module_rules, rule

# ---------------------------------------------------------------------------------------------------------------
# Engine tests.
# ---------------------------------------------------------------------------------------------------------------

RULES = [
    rule(["q.{i}.{p}", "k.{i}.{p}", "v.{i}.{p}"], "qkv.{i}.{p}", CAT),
    rule("conv.weight", "linear.weight", TRANSPOSE),
    rule(["shared", "emb"], "emb", SAME),
    rule("flb", "bias", ROW),
]


def _hf_state():
    state = {f"{n}.0.{p}": torch.randn(4, 3) if p == "weight" else torch.randn(4)
             for n in "qkv" for p in ("weight", "bias")}
    emb = torch.randn(5, 3)
    state.update({"conv.weight": torch.randn(3, 6), "shared": emb, "emb": emb.clone(), "flb": torch.randn(1, 5)})
    return state


def _ours_shapes():
    return {"qkv.0.weight": (12, 3), "qkv.0.bias": (12,), "linear.weight": (6, 3), "emb": (5, 3), "bias": (5,)}


def test_engine_maps_both_ways_exactly():
    config = tiny_config("bart-base")
    hf = _hf_state()
    ours = convert_state_dict(hf, _ours_shapes(), RULES, "from_hf", config)
    assert torch.equal(ours["qkv.0.weight"][4:8], hf["k.0.weight"])
    assert torch.equal(ours["linear.weight"], hf["conv.weight"].t())
    assert ours["bias"].shape == (5,)
    back = convert_state_dict(ours, {k: v.shape for k, v in hf.items()}, RULES, "to_hf", config)
    assert_same_state_dict(back, hf)


def test_module_tables_expand_to_rules():
    table = {"self_attn.qkv_proj": ["q", "k", "v"], "ffn_layer_norm": "ln_2"}
    assert module_rules("h.{i}.", "layers.{i}.", table, TRANSPOSE) == (
        rule(["h.{i}.q.{p}", "h.{i}.k.{p}", "h.{i}.v.{p}"], "layers.{i}.self_attn.qkv_proj.{p}", CAT),
        rule("h.{i}.ln_2.{p}", "layers.{i}.ffn_layer_norm.{p}", TRANSPOSE),
    )
    assert module_rules("", "emb.", {"word": "wte"}) == (rule("wte.{p}", "emb.word.{p}", RENAME),)
    # TRANSPOSE on a {p} rule also carries a Conv1D's 1-D bias, unchanged.
    bias = torch.randn(6)
    assert torch.equal(TRANSPOSE.to_ours([bias], None, ["b"]), bias)
    assert torch.equal(TRANSPOSE.to_hf(bias, None, 1)[0], bias)


def test_engine_names_unused_missing_and_mismatched_keys():
    config = tiny_config("bart-base")
    hf = _hf_state()
    hf["extra.weight"] = torch.zeros(1)
    del hf["v.0.bias"]
    shapes = {**_ours_shapes(), "linear.weight": (7, 3), "unfilled.weight": (2,)}
    with pytest.raises(ConversionError) as error:
        convert_state_dict(hf, shapes, RULES, "from_hf", config)
    message = str(error.value)
    for expected in ("extra.weight", "v.0.bias", "linear.weight (6, 3) vs (7, 3)", "unfilled.weight"):
        assert expected in message


def test_engine_rejects_a_tensor_used_twice_and_differing_aliases():
    config = tiny_config("bart-base")
    rules = RULES + [rule("flb", "bias2", ROW)]
    with pytest.raises(ConversionError, match="used more than once.*flb"):
        convert_state_dict(_hf_state(), {**_ours_shapes(), "bias2": (5,)}, rules, "from_hf", config)
    hf = _hf_state()
    hf["emb"] = hf["emb"] + 1
    with pytest.raises(ConversionError, match="shared and emb must hold the same tensor"):
        convert_state_dict(hf, _ours_shapes(), RULES, "from_hf", config)


def test_every_supported_class_exists_in_both_libraries():
    import tobigs_transformer

    for hf_name, ours_name in supported_classes().items():
        assert hasattr(transformers, hf_name) and hasattr(tobigs_transformer, ours_name)


# ---------------------------------------------------------------------------------------------------------------
# What cannot be expressed raises, naming the field.
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "family, overrides, match",
    [
        ("gpt2", dict(scale_attn_by_inverse_layer_idx=True), "scale_attn_by_inverse_layer_idx"),
        ("gpt2", dict(reorder_and_upcast_attn=True), "reorder_and_upcast_attn"),
        ("gpt2", dict(scale_attn_weights=False), "scale_attn_weights"),
        ("gpt2", dict(activation_function="quick_gelu"), "quick_gelu"),
        ("bert", dict(is_decoder=True), "is_decoder"),
        ("bert", dict(add_cross_attention=True), "add_cross_attention"),
        ("bart", dict(tie_word_embeddings=False), "tie_word_embeddings"),
        ("marian", dict(share_encoder_decoder_embeddings=False), "share_encoder_decoder_embeddings"),
        ("marian", dict(decoder_vocab_size=50), "decoder_vocab_size"),
    ],
)
def test_inexpressible_configs_raise(family, overrides, match):
    with pytest.raises(ConversionError, match=match):
        convert_config_from_hf(TINY_HF[family](**overrides))


def test_bert_relative_positions_raise():
    config = TINY_HF["bert"]()
    config.position_embedding_type = "relative_key"
    with pytest.raises(ConversionError, match="relative_key"):
        convert_config_from_hf(config)


def test_unsupported_model_type_names_the_reason():
    config = transformers.FSMTConfig(langs=["en", "de"], src_vocab_size=10, tgt_vocab_size=12, d_model=8,
                                     encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                                     decoder_attention_heads=2, encoder_ffn_dim=8, decoder_ffn_dim=8)
    with pytest.raises(ConversionError, match="separate source and target vocabularies"):
        convert_config_from_hf(config)


def test_paper_preset_is_not_silently_exported_as_marian():
    # The paper interleaves sin/cos and uses eps 1e-6; Marian does neither. The error lists every difference.
    model = TobigsForConditionalGeneration(tiny_config("transformer-base"))
    with pytest.raises(ConversionError) as error:
        convert_to_hf(model)
    message = str(error.value)
    assert "sinusoidal_layout='interleaved'" in message and "layer_norm_eps=1e-06" in message
    with pytest.raises(ConversionError, match="sinusoidal_layout"):
        convert_to_hf(model, target="MarianMTModel")


def test_target_resolution_and_wrong_targets():
    model = TobigsForCausalLM(tiny_config("gpt2"))
    assert type(convert_to_hf(model)) is GPT2LMHeadModel
    assert type(convert_to_hf(model, target="gpt2")) is GPT2LMHeadModel
    assert type(convert_to_hf(model, target=GPT2LMHeadModel)) is GPT2LMHeadModel
    with pytest.raises(ConversionError, match="cannot be exported as BertForMaskedLM"):
        convert_to_hf(model, target=BertForMaskedLM)
    with pytest.raises(ConversionError, match="unknown target"):
        convert_to_hf(model, target="LlamaForCausalLM")
    with pytest.raises(TypeError):
        convert_from_hf(model)
    with pytest.raises(TypeError):
        convert_to_hf(BertModel(TINY_HF["bert"]()))


def test_unsupported_hf_class_is_named():
    model = transformers.BartForQuestionAnswering(TINY_HF["bart"]())
    with pytest.raises(ConversionError, match="BartForQuestionAnswering is not supported"):
        convert_from_hf(model)


def test_config_round_trip_keeps_every_field_that_matters():
    for family in TINY_HF:
        hf_config = TINY_HF[family]()
        ours = convert_config_from_hf(hf_config)
        again = convert_config_from_hf(convert_config_to_hf(ours, family))
        assert again.to_diff_dict() == ours.to_diff_dict(), family


def test_marian_checkpoint_with_trained_positions_is_refused():
    model = tiny_hf("marian", "MarianMTModel")
    with torch.no_grad():
        model.model.encoder.embed_positions.weight.add_(0.01)
    with pytest.raises(ConversionError, match="embed_positions.weight is not the fixed concatenated sinusoid"):
        convert_from_hf(model)


def test_untied_model_is_not_exported_as_bart():
    model = tiny_hf("bart", "BartForConditionalGeneration")
    ours = convert_from_hf(model)
    ours.config.tie_word_embeddings = False  # pretend: an untied model cannot become BART
    with pytest.raises(ConversionError, match="tie_word_embeddings"):
        convert_to_hf(ours)


def test_bare_models_convert_with_and_without_pooler():
    for add_pooling_layer in (True, False):
        hf = randomize_(BertModel(TINY_HF["bert"](), add_pooling_layer=add_pooling_layer).eval())
        ours = convert_from_hf(hf)
        assert isinstance(ours, TobigsModel) and (ours.pooler is not None) == add_pooling_layer
        back = convert_to_hf(ours)
        assert (back.pooler is not None) == add_pooling_layer
        assert_same_state_dict(back.state_dict(), hf.state_dict())
