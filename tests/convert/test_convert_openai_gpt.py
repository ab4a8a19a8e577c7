"""GPT-1 (OpenAI GPT) <-> TobigsForCausalLM / TobigsModel / TobigsForSequenceClassification: identical logits, loss,
greedy and beam tokens, exact round trip, save/reload (tiny random models, fp32, no downloads)."""

import pytest
import torch
from convert.test_convert_common import (
    assert_same_outputs,
    assert_same_state_dict,
    check_parity,
    outputs_of,
    randomize_,
    right_padded,
)
from tiny import tiny_config
from transformers import OpenAIGPTConfig
import transformers

from tobigs_transformer import TobigsConfig, TobigsForCausalLM
from tobigs_transformer.convert import ConversionError, convert_config_from_hf, convert_from_hf, convert_to_hf


def tiny_openai(class_name: str, **overrides):
    config = OpenAIGPTConfig(**{**dict(vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_positions=64,
                                       pad_token_id=0, num_labels=3), **overrides})
    return randomize_(getattr(transformers, class_name)(config).eval())


def _inputs():
    return right_padded(3, [9, 6, 4], 1, 98, pad=0)


def test_lm_head_model(tmp_path):
    model = tiny_openai("OpenAIGPTLMHeadModel")
    input_ids, attention_mask = _inputs()
    labels = input_ids.masked_fill(attention_mask == 0, -100)
    # OpenAI GPT counts positions 0..T-1 whatever the mask (and keeps no cache): prompts are unpadded.
    prompt = torch.randint(1, 98, (2, 5))
    ours = check_parity(model, dict(input_ids=input_ids, attention_mask=attention_mask, labels=labels), tmp_path,
                        generate_inputs=dict(input_ids=prompt), generate_kwargs=dict(pad_token_id=0))
    assert ours.config.activation_function == "gelu_new" and not ours.config.normalize_before


def test_bare_model(tmp_path):
    input_ids, attention_mask = _inputs()
    check_parity(tiny_openai("OpenAIGPTModel"), dict(input_ids=input_ids, attention_mask=attention_mask), tmp_path)


def test_sequence_classification(tmp_path):
    input_ids, attention_mask = _inputs()
    check_parity(tiny_openai("OpenAIGPTForSequenceClassification"),
                 dict(input_ids=input_ids, attention_mask=attention_mask, labels=torch.tensor([0, 2, 1])), tmp_path)


@pytest.mark.parametrize("afn, ours", [("relu", "relu"), ("silu", "silu")])
def test_other_activations(afn, ours, tmp_path):
    input_ids, attention_mask = _inputs()
    converted = check_parity(tiny_openai("OpenAIGPTLMHeadModel", afn=afn),
                             dict(input_ids=input_ids, attention_mask=attention_mask), tmp_path)
    assert converted.config.activation_function == ours


def test_gpt_preset_layout_exports_with_the_tanh_gelu():
    # The `gpt` preset's layout (post-LN, learned positions, no final LayerNorm, tied head, FFN 4 x d_model).
    config = tiny_config("gpt", decoder_ffn_dim=128, activation_function="gelu_new")
    ours = randomize_(TobigsForCausalLM(config).eval())
    hf = convert_to_hf(ours).eval()
    assert type(hf).__name__ == "OpenAIGPTLMHeadModel"
    input_ids, attention_mask = _inputs()
    inputs = dict(input_ids=input_ids, attention_mask=attention_mask, labels=input_ids)
    assert_same_outputs(outputs_of(hf, inputs), outputs_of(ours, inputs))
    prompt = torch.randint(1, 98, (2, 4))
    settings = dict(max_new_tokens=5, do_sample=False, num_beams=2, pad_token_id=0)
    assert torch.equal(hf.generate(prompt, **settings), ours.generate(prompt, **settings))
    assert_same_state_dict(convert_from_hf(hf).state_dict(), ours.state_dict())
    # The converted config is the preset's (GELU as the tanh approximation in both).
    preset = TobigsConfig.from_preset("gpt")
    full = convert_config_from_hf(OpenAIGPTConfig())
    for name in ("architecture", "d_model", "decoder_layers", "decoder_attention_heads", "decoder_ffn_dim",
                 "max_position_embeddings", "vocab_size", "normalize_before", "position_embedding_type",
                 "scale_embedding", "layernorm_embedding", "activation_function", "layer_norm_eps",
                 "tie_word_embeddings", "dropout", "attention_dropout"):
        assert getattr(full, name) == getattr(preset, name), name


def test_what_openai_gpt_cannot_express_is_named():
    model = TobigsForCausalLM(tiny_config("gpt", activation_function="gelu"))  # exact GELU, FFN 37
    with pytest.raises(ConversionError) as error:
        convert_to_hf(model, target="OpenAIGPTLMHeadModel")
    assert "use 'gelu_new'" in str(error.value) and "decoder_ffn_dim=37" in str(error.value)
    with pytest.raises(ConversionError, match="afn='quick_gelu'"):
        convert_config_from_hf(OpenAIGPTConfig(afn="quick_gelu"))
