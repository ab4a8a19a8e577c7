"""The strict conversion engine, family inference and unsupported configs; shared helpers for the family tests.

The family tests (test_convert_{gpt2,bert,bart,marian}.py) import `check_parity`, `randomize_` and the tiny configs
from here. Tiny transformers models are built from configs and randomly initialised: nothing is downloaded.
"""

import pytest
import torch
import transformers
from tiny import tiny_config
from transformers import (
    BartConfig,
    BertConfig,
    BertForMaskedLM,
    BertModel,
    GPT2Config,
    GPT2LMHeadModel,
    MarianConfig,
)

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

ATOL = 1e-5  # acceptance: max |ours - transformers| < 1e-5 in fp32
OUTPUT_FIELDS = ("loss", "logits", "prediction_logits", "seq_relationship_logits", "start_logits", "end_logits",
                 "last_hidden_state", "pooler_output", "encoder_last_hidden_state")

# ---------------------------------------------------------------------------------------------------------------
# Tiny transformers configs (transformers' own tester sizes) and helpers shared by the family tests.
# ---------------------------------------------------------------------------------------------------------------

TINY_HF = {
    "gpt2": lambda **kw: GPT2Config(**{**dict(vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_inner=37,
                                              n_positions=64, bos_token_id=98, eos_token_id=98, pad_token_id=0,
                                              num_labels=3), **kw}),
    "bert": lambda **kw: BertConfig(**{**dict(vocab_size=99, hidden_size=32, num_hidden_layers=2,
                                              num_attention_heads=4, intermediate_size=37,
                                              max_position_embeddings=64, type_vocab_size=2, num_labels=3), **kw}),
    "bart": lambda **kw: BartConfig(**{**dict(vocab_size=99, d_model=32, encoder_layers=2, decoder_layers=2,
                                              encoder_attention_heads=4, decoder_attention_heads=4,
                                              encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=64,
                                              pad_token_id=1, bos_token_id=0, eos_token_id=2,
                                              decoder_start_token_id=2, forced_eos_token_id=2, num_labels=3), **kw}),
    "marian": lambda **kw: MarianConfig(**{**dict(vocab_size=99, decoder_vocab_size=99, d_model=32,
                                                  encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                                                  decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37,
                                                  max_position_embeddings=64, scale_embedding=True,
                                                  activation_function="swish", pad_token_id=98, eos_token_id=0,
                                                  decoder_start_token_id=98, forced_eos_token_id=0), **kw}),
    "openai-gpt": lambda **kw: transformers.OpenAIGPTConfig(**{**dict(vocab_size=99, n_embd=32, n_layer=2, n_head=4,
                                                                      n_positions=64, pad_token_id=0, num_labels=3),
                                                               **kw}),
    "ctrl": lambda **kw: transformers.CTRLConfig(**{**dict(vocab_size=99, n_embd=32, n_layer=2, n_head=4, dff=37,
                                                           n_positions=64, pad_token_id=0, num_labels=3), **kw}),
    "roberta": lambda **kw: transformers.RobertaConfig(**{**dict(vocab_size=99, hidden_size=32, num_hidden_layers=2,
                                                                 num_attention_heads=4, intermediate_size=37,
                                                                 max_position_embeddings=66, type_vocab_size=1,
                                                                 num_labels=3), **kw}),
    "albert": lambda **kw: transformers.AlbertConfig(**{**dict(vocab_size=99, embedding_size=16, hidden_size=32,
                                                               num_hidden_layers=4, num_hidden_groups=2,
                                                               num_attention_heads=4, intermediate_size=37,
                                                               max_position_embeddings=64), **kw}),
    "electra": lambda **kw: transformers.ElectraConfig(**{**dict(vocab_size=99, embedding_size=16, hidden_size=32,
                                                                 num_hidden_layers=2, num_attention_heads=4,
                                                                 intermediate_size=37, max_position_embeddings=64),
                                                          **kw}),
    "pegasus": lambda **kw: transformers.PegasusConfig(**{**dict(vocab_size=99, d_model=32, encoder_layers=2,
                                                                 decoder_layers=2, encoder_attention_heads=4,
                                                                 decoder_attention_heads=4, encoder_ffn_dim=37,
                                                                 decoder_ffn_dim=37, max_position_embeddings=64,
                                                                 scale_embedding=True, activation_function="relu"),
                                                          **kw}),
}


def tiny_hf(family: str, class_name: str, **config_overrides):
    """A tiny randomly initialised transformers model, in eval mode, with every parameter randomised."""
    model = getattr(transformers, class_name)(TINY_HF[family](**config_overrides))
    return randomize_(model.eval())


@torch.no_grad()
def randomize_(model: torch.nn.Module) -> torch.nn.Module:
    """Give every parameter (LayerNorms and biases included) and BART's final_logits_bias a distinct random value, so
    that a swapped or dropped tensor changes the outputs. Marian's and Pegasus' fixed sinusoid tables are left
    alone."""
    for name, param in model.named_parameters():
        if name.endswith("embed_positions.weight") and type(model).__name__.startswith(("Marian", "Pegasus")):
            continue
        param.normal_(0.0, 0.2 if param.dim() > 1 else 0.5)
        if name.endswith("norm.weight") or "LayerNorm.weight" in name or name.endswith("layernorm_embedding.weight"):
            param.add_(1.0)
    for name, buffer in model.named_buffers():
        if name.endswith("final_logits_bias"):
            buffer.normal_(0.0, 0.5)
    return model


# transformers' names for outputs that ours carry under another name (ALBERT's SOP head is our NSP head).
OUTPUT_ALIASES = {"sop_logits": "seq_relationship_logits"}


def outputs_of(model, inputs: dict) -> dict:
    with torch.no_grad():
        out = model(**inputs)
    found = {name: getattr(out, name) for name in OUTPUT_FIELDS if getattr(out, name, None) is not None}
    found.update({ours: getattr(out, name) for name, ours in OUTPUT_ALIASES.items()
                  if getattr(out, name, None) is not None})
    return found


def assert_same_outputs(a: dict, b: dict, atol: float = ATOL) -> None:
    # BART's classifier also returns the encoder output; our SequenceClassifierOutput does not.
    assert set(a) ^ set(b) <= {"encoder_last_hidden_state"}, (sorted(a), sorted(b))
    for name in set(a) & set(b):
        assert a[name].shape == b[name].shape, name
        diff = (a[name] - b[name]).abs().max().item()
        assert diff < atol, f"{name}: max |difference| = {diff}"


def assert_same_state_dict(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key


def check_parity(hf_model, inputs: dict, tmp_path, generate_inputs: dict | None = None, generate_kwargs=None):
    """The acceptance checks for one pair: same outputs (and loss, when `inputs` carry labels), same greedy and beam
    tokens, exact round trip of the state dict, and save/reload of the converted model."""
    ours = convert_from_hf(hf_model)
    assert not ours.training
    assert_same_outputs(outputs_of(ours, inputs), outputs_of(hf_model, inputs))

    if generate_inputs is not None:
        for num_beams in (1, 3):
            settings = dict(max_new_tokens=6, do_sample=False, num_beams=num_beams, **(generate_kwargs or {}))
            expected = hf_model.generate(**generate_inputs, **settings)
            got = ours.generate(**generate_inputs, **settings)
            assert torch.equal(got, expected), (num_beams, got, expected)

    back = convert_to_hf(ours, target=type(hf_model))
    assert type(back) is type(hf_model)
    assert_same_state_dict(back.state_dict(), hf_model.state_dict())
    assert_same_outputs(outputs_of(back.eval(), inputs), outputs_of(hf_model, inputs))

    ours.save_pretrained(tmp_path / "ours")
    reloaded = type(ours).from_pretrained(tmp_path / "ours").eval()
    assert_same_state_dict(reloaded.state_dict(), ours.state_dict())
    # Same weights; memory-mapped tensors may take another SIMD path, hence a tolerance rather than bit equality.
    assert_same_outputs(outputs_of(reloaded, inputs), outputs_of(ours, inputs))
    if generate_inputs is not None:
        assert reloaded.generation_config.to_diff_dict() == ours.generation_config.to_diff_dict()
    return ours


def right_padded(batch_size: int, lengths: list[int], low: int, high: int, pad: int, eos: int | None = None):
    """Random ids in [low, high) with right padding (and an end-of-sequence token last, when given)."""
    seq_length = max(lengths)
    ids = torch.randint(low, high, (batch_size, seq_length))
    mask = torch.zeros(batch_size, seq_length, dtype=torch.long)
    for row, length in enumerate(lengths):
        mask[row, :length] = 1
        if eos is not None:
            ids[row, length - 1] = eos
        ids[row, length:] = pad
    return ids, mask


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
