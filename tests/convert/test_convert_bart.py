"""BART <-> TobigsForConditionalGeneration / TobigsModel / TobigsForSequenceClassification: identical logits, loss,
greedy and beam tokens, exact round trip, save/reload (tiny random models, fp32, no downloads)."""

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

from tobigs_transformer import TobigsForConditionalGeneration
from tobigs_transformer.convert import convert_from_hf, convert_to_hf

PAD, EOS = 1, 2


def _batch():
    input_ids, attention_mask = right_padded(3, [9, 6, 4], 3, 99, pad=PAD, eos=EOS)
    labels, decoder_mask = right_padded(3, [5, 7, 3], 3, 99, pad=PAD, eos=EOS)
    return dict(input_ids=input_ids, attention_mask=attention_mask), labels.masked_fill(decoder_mask == 0, -100)


def test_conditional_generation(tmp_path):
    source, labels = _batch()
    model = tiny_hf("bart", "BartForConditionalGeneration")
    ours = check_parity(model, {**source, "labels": labels}, tmp_path, generate_inputs=source)
    assert ours.config.position_offset == 2 and ours.config.lm_head_bias
    assert ours.generation_config.forced_eos_token_id == EOS


def test_generation_settings_are_carried_over():
    source, labels = _batch()
    model = tiny_hf("bart", "BartForConditionalGeneration", scale_embedding=True)
    model.generation_config.num_beams = 2
    model.generation_config.no_repeat_ngram_size = 2
    model.generation_config.max_length = 12
    ours = convert_from_hf(model)
    assert ours.config.scale_embedding
    inputs = {**source, "labels": labels}
    assert_same_outputs(outputs_of(ours, inputs), outputs_of(model, inputs))
    assert ours.generation_config.no_repeat_ngram_size == 2
    assert torch.equal(ours.generate(**source), model.generate(**source))  # the checkpoint's own settings
    assert convert_to_hf(ours).generation_config.to_diff_dict() == ours.generation_config.to_diff_dict()


def test_bare_model(tmp_path):
    source, labels = _batch()
    decoder_input_ids = labels.masked_fill(labels == -100, PAD)
    check_parity(tiny_hf("bart", "BartModel"), {**source, "decoder_input_ids": decoder_input_ids}, tmp_path)


def test_sequence_classification(tmp_path):
    source, _ = _batch()
    check_parity(tiny_hf("bart", "BartForSequenceClassification"), {**source, "labels": torch.tensor([0, 2, 1])},
                 tmp_path)


def test_export_of_a_model_built_here():
    ours = randomize_(TobigsForConditionalGeneration(tiny_config("bart-base")).eval())
    hf = convert_to_hf(ours).eval()
    assert type(hf).__name__ == "BartForConditionalGeneration"
    source, labels = _batch()
    inputs = {**source, "labels": labels}
    assert_same_outputs(outputs_of(hf, inputs), outputs_of(ours, inputs))
    settings = dict(max_new_tokens=5, do_sample=False, num_beams=2)
    assert torch.equal(hf.generate(**source, **settings), ours.generate(**source, **settings))
    assert_same_state_dict(convert_from_hf(hf).state_dict(), ours.state_dict())
