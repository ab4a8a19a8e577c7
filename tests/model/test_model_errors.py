"""Bad input fails early with a ValueError that names the value and the limit."""

import re

import pytest
import torch
from tiny import tiny_config

import tobigs_transformer as tt


@pytest.mark.parametrize(
    "model_class, preset, takes",
    [
        (tt.TobigsForCausalLM, "bert-base", "'decoder-only' or 'encoder-decoder'"),
        (tt.TobigsForConditionalGeneration, "gpt2", "'encoder-decoder'"),
        (tt.TobigsForMaskedLM, "gpt2", "'encoder-only'"),
        (tt.TobigsForPreTraining, "bart-base", "'encoder-only'"),
        (tt.TobigsForNextSentencePrediction, "gpt", "'encoder-only'"),
        (tt.TobigsForTokenClassification, "bart-base", "'encoder-only' or 'decoder-only'"),
        (tt.TobigsForQuestionAnswering, "transformer-base", "'encoder-only' or 'decoder-only'"),
        (tt.TobigsForMultipleChoice, "gpt2", "'encoder-only'"),
    ],
)
def test_head_with_unsupported_architecture(model_class, preset, takes):
    with pytest.raises(ValueError, match=f"{model_class.__name__} does not support architecture=.*it takes {takes}"):
        model_class(tiny_config(preset))


@pytest.mark.parametrize("preset", ["gpt2", "bert-base", "transformer-base"])
@pytest.mark.parametrize("bad_id", [99, 500, -1])
def test_token_ids_outside_the_vocabulary(preset, bad_id):
    model = tt.TobigsModel(tiny_config(preset))
    ids = torch.randint(3, 98, (2, 5))
    ids[1, 2] = bad_id
    inputs = {"input_ids": ids}
    if model.config.is_encoder_decoder:
        inputs["decoder_input_ids"] = torch.randint(3, 98, (2, 3))
    with pytest.raises(ValueError, match=rf"input_ids contains {bad_id}, outside \[0, vocab_size=99\)"):
        model(**inputs)


def test_bad_token_type_ids():
    model = tt.TobigsModel(tiny_config("bert-base"))
    with pytest.raises(ValueError, match=r"token_type_ids contains 2, outside \[0, type_vocab_size=2\)"):
        model(torch.randint(3, 98, (1, 4)), token_type_ids=torch.tensor([[0, 1, 2, 0]]))
    with pytest.raises(ValueError, match="no segment embeddings"):
        tt.TobigsModel(tiny_config("bart-base")).encoder(torch.randint(3, 98, (1, 4)), token_type_ids=torch.zeros(1, 4).long())


@pytest.mark.parametrize("preset", ["gpt2", "bert-base", "bart-base", "transformer-base"])
def test_sequence_longer_than_the_positions(preset):
    model = tt.TobigsModel(tiny_config(preset))
    ids = torch.randint(3, 98, (1, 65))
    inputs = {"input_ids": ids}
    if model.config.is_encoder_decoder:
        inputs["decoder_input_ids"] = torch.randint(3, 98, (1, 3))
    with pytest.raises(ValueError, match="sequence length 65 .* exceeds max_position_embeddings=64"):
        model(**inputs)


def test_generation_past_the_positions_is_an_error_not_a_truncation():
    model = tt.TobigsForCausalLM(tiny_config("gpt2")).eval()
    with pytest.raises(ValueError, match="exceeds max_position_embeddings=64"):
        model.generate(torch.randint(3, 98, (1, 60)), max_new_tokens=10, min_new_tokens=10,
                       suppress_tokens=[98])


@pytest.mark.parametrize("preset", ["gpt2", "bert-base"])
def test_attention_mask_shape_must_match(preset):
    model = tt.TobigsModel(tiny_config(preset))
    with pytest.raises(ValueError, match=r"attention_mask has shape \(2, 6\) but input_ids needs \(2, 5\)"
                       if preset == "bert-base" else r"attention_mask has shape \(2, 6\) but cached \+ new tokens needs \(2, 5\)"):
        model(torch.randint(3, 98, (2, 5)), attention_mask=torch.ones(2, 6))


def test_encoder_attention_mask_shape_must_match():
    model = tt.TobigsForConditionalGeneration(tiny_config("bart-base"))
    with pytest.raises(ValueError, match=r"attention_mask has shape \(2, 4\) but input_ids needs \(2, 5\)"):
        model(torch.randint(3, 98, (2, 5)), attention_mask=torch.ones(2, 4), decoder_input_ids=torch.ones(2, 3).long())


@pytest.mark.parametrize(
    "model_class, preset, labels, message",
    [
        (tt.TobigsForCausalLM, "gpt2", torch.zeros(2, 4).long(), r"labels have shape \(2, 4\) but input_ids"),
        (tt.TobigsForMaskedLM, "bert-base", torch.zeros(2).long(), r"labels have shape \(2,\) but the input"),
        (tt.TobigsForConditionalGeneration, "bart-base", torch.zeros(3, 5).long(), r"labels have shape \(3, 5\)"),
        (tt.TobigsForTokenClassification, "bert-base", torch.zeros(2, 6).long(), r"labels have shape \(2, 6\)"),
        (tt.TobigsForSequenceClassification, "bert-base", torch.zeros(3).long(), "labels have batch size 3"),
        (tt.TobigsForNextSentencePrediction, "bert-base", torch.zeros(2, 5).long(), r"labels have shape \(2, 5\)"),
    ],
)
def test_labels_with_the_wrong_shape(model_class, preset, labels, message):
    model = model_class(tiny_config(preset))
    inputs = {"input_ids": torch.randint(3, 98, (2, 5)), "labels": labels}
    if model_class is tt.TobigsForConditionalGeneration:
        inputs["decoder_input_ids"] = torch.randint(3, 98, (2, 4))
    with pytest.raises(ValueError, match=message):
        model(**inputs)


def test_decoder_input_ids_without_an_encoder():
    model = tt.TobigsForConditionalGeneration(tiny_config("transformer-base"))
    with pytest.raises(ValueError, match="decoder_input_ids alone have no encoder output to attend to"):
        model(decoder_input_ids=torch.randint(3, 98, (2, 4)))
    with pytest.raises(ValueError, match="needs encoder_hidden_states"):
        model.model.decoder(torch.randint(3, 98, (2, 4)))


def test_encoder_decoder_inputs_on_other_architectures():
    with pytest.raises(ValueError, match="decoder_input_ids only apply to encoder-decoder models"):
        tt.TobigsModel(tiny_config("gpt2"))(torch.randint(3, 98, (1, 3)), decoder_input_ids=torch.ones(1, 2).long())


def test_shift_tokens_right_needs_a_start_token():
    with pytest.raises(ValueError, match="decoder_start_token_id must be set"):
        tt.shift_tokens_right(torch.ones(1, 3).long(), 0, None)


def test_exactly_one_of_ids_or_embeddings():
    model = tt.TobigsModel(tiny_config("bert-base"))
    with pytest.raises(ValueError, match="exactly one of input_ids or inputs_embeds"):
        model(torch.ones(1, 3).long(), inputs_embeds=torch.zeros(1, 3, 32))


@pytest.mark.parametrize("preset", ["gpt2", "bert-base"])
def test_mask_of_any_dtype_with_zeros_and_ones_is_the_same_mask(preset):
    model = tt.TobigsModel(tiny_config(preset)).eval()
    ids = torch.randint(3, 98, (2, 5))
    mask = torch.tensor([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]])
    with torch.no_grad():
        expected = model(ids, attention_mask=mask).last_hidden_state
        for same in (mask.bool(), mask.float(), mask.half()):
            torch.testing.assert_close(model(ids, attention_mask=same).last_hidden_state, expected)


@pytest.mark.parametrize("mask, value", [([[1, 1, 2, 1, 1]], "2"), ([[0.0, -10000.0, 0.0, 0.0, 0.0]], "-10000.0"),
                                         ([[1, 1, -1, 1, 1]], "-1")])
def test_mask_values_other_than_zero_and_one_are_rejected(mask, value):
    # A 2 used to shift every later position by one; an additive mask inverted the padding.
    model = tt.TobigsForCausalLM(tiny_config("gpt2")).eval()
    message = rf"attention_mask contains {re.escape(value)}; a mask holds only 1 \(attend\)"
    with pytest.raises(ValueError, match=message):
        model(torch.randint(3, 98, (1, 5)), attention_mask=torch.tensor(mask))


def test_labels_of_minus_100_pass_the_range_check():
    model = tt.TobigsForCausalLM(tiny_config("gpt2")).eval()
    ids = torch.randint(3, 98, (2, 5))
    labels = ids.clone()
    labels[:, :2] = -100
    assert torch.isfinite(model(ids, labels=labels).loss)
    for bad in (-1, -101, 99):
        labels[0, 3] = bad
        with pytest.raises(ValueError, match=rf"labels contains {bad}, outside \[0, vocab_size=99\)"):
            model(ids, labels=labels)
