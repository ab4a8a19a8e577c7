"""CTRL <-> TobigsForCausalLM / TobigsModel / TobigsForSequenceClassification: identical logits, loss, greedy and
beam tokens, exact round trip, save/reload (tiny random models, fp32, no downloads)."""

import pytest
import torch
import transformers
from convert.test_convert_common import (
    assert_same_outputs,
    assert_same_state_dict,
    check_parity,
    outputs_of,
    randomize_,
    right_padded,
)
from tiny import TINY
from transformers import CTRLConfig

from tobigs_transformer import TobigsConfig, TobigsForCausalLM
from tobigs_transformer.convert import ConversionError, convert_config_from_hf, convert_from_hf, convert_to_hf


def tiny_ctrl(class_name: str, **overrides):
    config = CTRLConfig(**{**dict(vocab_size=99, n_embd=32, n_layer=2, n_head=4, dff=37, n_positions=64,
                                  pad_token_id=0, num_labels=3), **overrides})
    return randomize_(getattr(transformers, class_name)(config).eval())


def _inputs():
    return right_padded(3, [9, 6, 4], 1, 98, pad=0)


def test_lm_head_model(tmp_path):
    input_ids, attention_mask = _inputs()
    labels = input_ids.masked_fill(attention_mask == 0, -100)
    prompt = torch.randint(1, 98, (2, 5))  # CTRL counts positions 0..T-1 whatever the mask: unpadded prompts
    ours = check_parity(tiny_ctrl("CTRLLMHeadModel"), dict(input_ids=input_ids, attention_mask=attention_mask,
                                                           labels=labels), tmp_path,
                        generate_inputs=dict(input_ids=prompt), generate_kwargs=dict(pad_token_id=0))
    assert ours.config.sinusoidal_layout == "concatenated" and ours.config.normalize_before
    assert ours.lm_head.bias is not None


def test_bare_model(tmp_path):
    input_ids, attention_mask = _inputs()
    check_parity(tiny_ctrl("CTRLModel"), dict(input_ids=input_ids, attention_mask=attention_mask), tmp_path)


def test_sequence_classification(tmp_path):
    input_ids, attention_mask = _inputs()
    check_parity(tiny_ctrl("CTRLForSequenceClassification"),
                 dict(input_ids=input_ids, attention_mask=attention_mask, labels=torch.tensor([0, 2, 1])), tmp_path)


def test_preset_is_the_released_ctrl():
    converted = convert_config_from_hf(CTRLConfig(vocab_size=246534, n_positions=50000, n_embd=1280, dff=8192,
                                                  n_layer=48, n_head=16)).to_dict()
    preset = TobigsConfig.from_preset("ctrl").to_dict()
    assert {k for k in set(converted) | set(preset) if converted.get(k) != preset.get(k)} == set()


def test_export_of_a_model_built_from_the_preset():
    ours = randomize_(TobigsForCausalLM(TobigsConfig.from_preset("ctrl", **TINY)).eval())
    hf = convert_to_hf(ours).eval()
    assert type(hf).__name__ == "CTRLLMHeadModel"
    input_ids, attention_mask = _inputs()
    inputs = dict(input_ids=input_ids, attention_mask=attention_mask, labels=input_ids)
    assert_same_outputs(outputs_of(hf, inputs), outputs_of(ours, inputs))
    prompt = torch.randint(1, 98, (2, 4))
    settings = dict(max_new_tokens=5, do_sample=False, num_beams=2, pad_token_id=0)
    assert torch.equal(hf.generate(prompt, **settings), ours.generate(prompt, **settings))
    assert_same_state_dict(convert_from_hf(hf).state_dict(), ours.state_dict())


def test_a_config_epsilon_ctrl_does_not_use_is_refused():
    with pytest.raises(ConversionError, match="layer_norm_epsilon=1e-05"):
        convert_config_from_hf(CTRLConfig(layer_norm_epsilon=1e-5))
