"""RoBERTa <-> TobigsModel / TobigsForMaskedLM / TobigsForSequenceClassification: identical outputs and losses on
right-padded batches (fairseq's positions: padding reads its own row), exact round trip, save/reload (tiny random
models, fp32, no downloads)."""

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
from transformers import RobertaConfig

from tobigs_transformer import TobigsConfig, TobigsForSequenceClassification
from tobigs_transformer.convert import ConversionError, convert_config_from_hf, convert_from_hf, convert_to_hf

PAD = 1


def tiny_roberta(class_name: str, **overrides):
    config = RobertaConfig(**{**dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=37, max_position_embeddings=66, type_vocab_size=1,
                                     layer_norm_eps=1e-5, num_labels=3), **overrides})
    return randomize_(getattr(transformers, class_name)(config).eval())


def _inputs():
    input_ids, attention_mask = right_padded(3, [10, 7, 4], 3, 99, pad=PAD)
    input_ids[:, 0] = 0  # <s>
    return dict(input_ids=input_ids, attention_mask=attention_mask)


def _mlm_labels(inputs):
    labels = torch.full_like(inputs["input_ids"], -100)
    labels[:, 1:4] = inputs["input_ids"][:, 1:4]
    return labels


LABELS = {
    "RobertaModel": lambda inputs: {},
    "RobertaForMaskedLM": lambda inputs: dict(labels=_mlm_labels(inputs)),
    "RobertaForSequenceClassification": lambda inputs: dict(labels=torch.tensor([2, 0, 1])),
}


@pytest.mark.parametrize("class_name", sorted(LABELS))
def test_pair(class_name, tmp_path):
    inputs = _inputs()
    ours = check_parity(tiny_roberta(class_name), {**inputs, **LABELS[class_name](inputs)}, tmp_path)
    assert ours.config.position_offset == PAD + 1 and ours.config.position_padding_idx == PAD
    assert ours.config.max_position_embeddings == 64


def test_padding_reads_the_padding_row_and_the_mask_does_not_move_positions():
    # transformers reads the positions off the ids: without a mask (or with one) the real tokens are unchanged.
    hf = tiny_roberta("RobertaModel")
    ours = convert_from_hf(hf)
    inputs = _inputs()
    no_mask = dict(input_ids=inputs["input_ids"])
    assert_same_outputs(outputs_of(ours, no_mask), outputs_of(hf, no_mask))
    with torch.no_grad():
        embeds = hf.embeddings.word_embeddings(inputs["input_ids"])
    embeds = dict(inputs_embeds=embeds, attention_mask=inputs["attention_mask"])
    assert_same_outputs(outputs_of(ours, embeds), outputs_of(hf, embeds))


def test_two_token_types_and_regression(tmp_path):
    inputs = _inputs()
    token_type_ids = torch.zeros_like(inputs["input_ids"])
    token_type_ids[:, 5:] = 1
    model = tiny_roberta("RobertaForSequenceClassification", type_vocab_size=2, num_labels=1, classifier_dropout=0.2)
    ours = check_parity(model, {**inputs, "token_type_ids": token_type_ids, "labels": torch.tensor([0.5, -1.0, 2.0])},
                        tmp_path)
    assert ours.config.classifier_head == "dense-tanh" and ours.model.pooler is None


def test_preset_is_what_roberta_base_converts_to():
    hf = RobertaConfig(vocab_size=50265, max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5,
                       pad_token_id=1, bos_token_id=0, eos_token_id=2)
    converted = convert_config_from_hf(hf).to_dict()
    preset = TobigsConfig.from_preset("roberta-base").to_dict()
    differ = {k: (converted.get(k), preset.get(k)) for k in set(converted) | set(preset)
              if converted.get(k) != preset.get(k)}
    # An encoder keeps no cache whatever use_cache says: the converter writes False, the presets keep the default.
    assert differ == {"use_cache": (False, True)}, differ


def test_export_of_a_model_built_from_the_preset():
    config = TobigsConfig.from_preset("roberta-base", **TINY, num_labels=3)
    ours = randomize_(TobigsForSequenceClassification(config).eval())
    hf = convert_to_hf(ours).eval()
    assert type(hf).__name__ == "RobertaForSequenceClassification"
    inputs = {**_inputs(), "labels": torch.tensor([1, 0, 2])}
    assert_same_outputs(outputs_of(hf, inputs), outputs_of(ours, inputs))
    assert_same_state_dict(convert_from_hf(hf).state_dict(), ours.state_dict())


def test_what_roberta_cannot_express_is_named():
    with pytest.raises(ConversionError, match="hidden_act='relu'"):
        convert_config_from_hf(RobertaConfig(hidden_act="relu"))
    config = TobigsConfig.from_preset("bert-base", **TINY)
    with pytest.raises(ConversionError, match="classifier_head='pooler'"):
        convert_to_hf(TobigsForSequenceClassification(config), target="roberta")
