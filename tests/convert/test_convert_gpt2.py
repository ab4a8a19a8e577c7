"""GPT-2 <-> TobigsForCausalLM / TobigsModel / TobigsForSequenceClassification: identical logits, loss, greedy and
beam tokens, exact round trip, save/reload (tiny random models, fp32, no downloads)."""

import pytest
import torch
from tiny import tiny_config
from convert.test_convert_common import (
    assert_same_outputs,
    assert_same_state_dict,
    check_parity,
    outputs_of,
    randomize_,
    right_padded,
    tiny_hf,
)

from tobigs_transformer import TobigsForCausalLM
from tobigs_transformer.convert import convert_from_hf, convert_to_hf


def _inputs():
    input_ids, attention_mask = right_padded(3, [9, 6, 4], 1, 98, pad=0)
    return input_ids, attention_mask


def test_lm_head_model(tmp_path):
    model = tiny_hf("gpt2", "GPT2LMHeadModel")
    input_ids, attention_mask = _inputs()
    labels = input_ids.masked_fill(attention_mask == 0, -100)
    # A LEFT-padded prompt: transformers' generate derives GPT-2's position ids from the mask, as our model does.
    prompt = torch.randint(1, 98, (2, 6))
    prompt_mask = torch.ones_like(prompt)
    prompt[0, :2], prompt_mask[0, :2] = 0, 0
    check_parity(model, dict(input_ids=input_ids, attention_mask=attention_mask, labels=labels), tmp_path,
                 generate_inputs=dict(input_ids=prompt, attention_mask=prompt_mask),
                 generate_kwargs=dict(pad_token_id=0))


def test_untied_lm_head(tmp_path):
    model = tiny_hf("gpt2", "GPT2LMHeadModel", tie_word_embeddings=False)
    assert not torch.equal(model.lm_head.weight, model.transformer.wte.weight)
    input_ids, attention_mask = _inputs()
    ours = check_parity(model, dict(input_ids=input_ids, attention_mask=attention_mask), tmp_path)
    assert not ours.config.tie_word_embeddings


def test_bare_model(tmp_path):
    input_ids, attention_mask = _inputs()
    check_parity(tiny_hf("gpt2", "GPT2Model"), dict(input_ids=input_ids, attention_mask=attention_mask), tmp_path)


def test_sequence_classification(tmp_path):
    input_ids, attention_mask = _inputs()
    labels = torch.tensor([0, 2, 1])
    check_parity(tiny_hf("gpt2", "GPT2ForSequenceClassification"),
                 dict(input_ids=input_ids, attention_mask=attention_mask, labels=labels), tmp_path)


def test_export_of_a_model_built_here():
    ours = randomize_(TobigsForCausalLM(tiny_config("gpt2")).eval())
    hf = convert_to_hf(ours).eval()
    input_ids, attention_mask = _inputs()
    inputs = dict(input_ids=input_ids, attention_mask=attention_mask, labels=input_ids)
    assert_same_outputs(outputs_of(hf, inputs), outputs_of(ours, inputs))
    prompt = torch.randint(1, 98, (2, 4))
    settings = dict(max_new_tokens=5, do_sample=False, num_beams=2, pad_token_id=0)
    assert torch.equal(hf.generate(prompt, **settings), ours.generate(prompt, **settings))
    assert_same_state_dict(convert_from_hf(hf).state_dict(), ours.state_dict())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_dtype_is_kept(dtype):
    model = tiny_hf("gpt2", "GPT2LMHeadModel").to(dtype)
    ours = convert_from_hf(model)
    assert ours.dtype == dtype
    assert_same_state_dict(convert_to_hf(ours).state_dict(), model.state_dict())
