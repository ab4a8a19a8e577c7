"""BERT <-> the encoder-only Tobigs classes: identical outputs and losses on right-padded batches with two segments,
exact round trip, save/reload (tiny random models, fp32, no downloads)."""

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

from tobigs_transformer import TobigsForPreTraining
from tobigs_transformer.convert import convert_from_hf, convert_to_hf

BATCH = 3


def _inputs():
    input_ids, attention_mask = right_padded(BATCH, [10, 7, 4], 1, 99, pad=0)
    token_type_ids = torch.zeros_like(input_ids)
    token_type_ids[:, 5:] = 1
    token_type_ids = token_type_ids * attention_mask
    return dict(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)


def _mlm_labels(inputs):
    labels = torch.full_like(inputs["input_ids"], -100)
    labels[:, 1:4] = inputs["input_ids"][:, 1:4]
    return labels


LABELS = {
    "BertModel": lambda inputs: {},
    "BertForPreTraining": lambda inputs: dict(labels=_mlm_labels(inputs), next_sentence_label=torch.tensor([0, 1, 0])),
    "BertForMaskedLM": lambda inputs: dict(labels=_mlm_labels(inputs)),
    "BertForNextSentencePrediction": lambda inputs: dict(labels=torch.tensor([1, 0, 1])),
    "BertForSequenceClassification": lambda inputs: dict(labels=torch.tensor([2, 0, 1])),
    "BertForTokenClassification": lambda inputs: dict(labels=inputs["input_ids"] % 3),
    "BertForQuestionAnswering": lambda inputs: dict(start_positions=torch.tensor([1, 2, 0]),
                                                    end_positions=torch.tensor([3, 5, 2])),
}


@pytest.mark.parametrize("class_name", sorted(LABELS))
def test_pair(class_name, tmp_path):
    inputs = _inputs()
    # transformers' QA head has `num_labels` outputs (start and end: 2), ours always 2.
    overrides = dict(num_labels=2) if class_name == "BertForQuestionAnswering" else {}
    check_parity(tiny_hf("bert", class_name, **overrides), {**inputs, **LABELS[class_name](inputs)}, tmp_path)


def test_multiple_choice(tmp_path):
    inputs = _inputs()
    choices = {name: torch.stack([value, value.roll(1, dims=0)], dim=1) for name, value in inputs.items()}  # (B, 2, T)
    check_parity(tiny_hf("bert", "BertForMultipleChoice"), {**choices, "labels": torch.tensor([1, 0, 1])}, tmp_path)


def test_regression_head_and_classifier_dropout(tmp_path):
    model = tiny_hf("bert", "BertForSequenceClassification", num_labels=1, classifier_dropout=0.3)
    ours = check_parity(model, {**_inputs(), "labels": torch.tensor([0.5, -1.0, 2.0])}, tmp_path)
    assert ours.config.classifier_dropout == 0.3 and ours.config.num_labels == 1


def test_untied_mlm_decoder(tmp_path):
    # Untied, transformers keeps the (unused) `cls.predictions.bias` apart from the decoder bias: both must agree.
    model = tiny_hf("bert", "BertForMaskedLM", tie_word_embeddings=False)
    with torch.no_grad():
        model.cls.predictions.bias.copy_(model.cls.predictions.decoder.bias)
    check_parity(model, _inputs(), tmp_path)


def test_export_of_a_model_built_here():
    ours = randomize_(TobigsForPreTraining(tiny_config("bert-base")).eval())
    hf = convert_to_hf(ours).eval()
    assert type(hf).__name__ == "BertForPreTraining"
    inputs = _inputs()
    assert_same_outputs(outputs_of(hf, inputs), outputs_of(ours, inputs))
    assert_same_state_dict(convert_from_hf(hf).state_dict(), ours.state_dict())
