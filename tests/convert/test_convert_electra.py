"""ELECTRA <-> TobigsModel / TobigsForReplacedTokenDetection (the discriminator) / TobigsForMaskedLM (the generator) /
TobigsForSequenceClassification (ELECTRA's dense + GELU head): identical outputs and losses on right-padded
two-segment batches, with and without the E -> H embedding projection, exact round trip, save/reload (tiny random
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
from transformers import ElectraConfig

from tobigs_transformer import TobigsConfig, TobigsForReplacedTokenDetection, TobigsForSequenceClassification
from tobigs_transformer.convert import ConversionError, convert_config_from_hf, convert_from_hf, convert_to_hf


def tiny_electra(class_name: str, **overrides):
    config = ElectraConfig(**{**dict(vocab_size=99, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=37, max_position_embeddings=64,
                                     num_labels=3),
                              **overrides})
    return randomize_(getattr(transformers, class_name)(config).eval())


def _inputs():
    input_ids, attention_mask = right_padded(3, [10, 7, 4], 1, 99, pad=0)
    token_type_ids = torch.zeros_like(input_ids)
    token_type_ids[:, 5:] = 1
    return dict(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids * attention_mask)


def _labels(class_name, inputs):
    if class_name == "ElectraForPreTraining":  # 1 = replaced
        return dict(labels=(inputs["input_ids"] % 3 == 0).long())
    if class_name == "ElectraForMaskedLM":
        labels = torch.full_like(inputs["input_ids"], -100)
        labels[:, 1:4] = inputs["input_ids"][:, 1:4]
        return dict(labels=labels)
    if class_name == "ElectraForSequenceClassification":
        return dict(labels=torch.tensor([2, 0, 1]))
    return {}


CLASSES = ["ElectraModel", "ElectraForPreTraining", "ElectraForMaskedLM", "ElectraForSequenceClassification"]


@pytest.mark.parametrize("embedding_size", [16, 32])
@pytest.mark.parametrize("class_name", CLASSES)
def test_pair(class_name, embedding_size, tmp_path):
    inputs = _inputs()
    ours = check_parity(tiny_electra(class_name, embedding_size=embedding_size),
                        {**inputs, **_labels(class_name, inputs)}, tmp_path)
    assert ours.config.embedding_size == (None if embedding_size == 32 else embedding_size)
    assert ours.config.classifier_head == "dense-gelu"


def test_classifier_is_electras_gelu_head_over_the_first_token():
    hf = tiny_electra("ElectraForSequenceClassification", classifier_dropout=0.2)
    ours = convert_from_hf(hf)
    assert ours.model.pooler is None and ours.config.head_dropout == 0.2
    inputs = _inputs()
    with torch.no_grad():
        first = ours.model(**inputs).last_hidden_state[:, 0]
        head = ours.classifier
        gelu = head.out_proj(torch.nn.functional.gelu(head.dense(first)))
        tanh = head.out_proj(torch.tanh(head.dense(first)))
        logits = ours(**inputs).logits
    assert torch.allclose(logits, gelu, atol=1e-6) and not torch.allclose(logits, tanh, atol=1e-3)
    # Dropout sits where ELECTRA's does (before dense and before out_proj): the same masks, the same outputs.
    features = torch.randn(3, 5, 32)
    hf.classifier.train()
    head.train()
    torch.manual_seed(0)
    expected = hf.classifier(features)
    torch.manual_seed(0)
    got = head(features[:, 0])
    assert torch.allclose(got, expected, atol=1e-6)
    assert not torch.allclose(got, head.eval()(features[:, 0]), atol=1e-3)  # the masks did drop something


def test_classifier_regression_and_multi_label_losses(tmp_path):
    inputs = _inputs()
    check_parity(tiny_electra("ElectraForSequenceClassification", num_labels=1),
                 {**inputs, "labels": torch.tensor([0.5, -1.0, 2.0])}, tmp_path / "regression")
    hf = tiny_electra("ElectraForSequenceClassification", problem_type="multi_label_classification")
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    ours = check_parity(hf, {**inputs, "labels": labels}, tmp_path / "multi")
    assert ours.config.problem_type == "multi_label_classification"


def test_discriminator_loss_ignores_padding_as_transformers():
    hf = tiny_electra("ElectraForPreTraining")
    ours = convert_from_hf(hf)
    inputs = _inputs()
    labels = (inputs["input_ids"] % 3 == 0).long()
    noisy = labels.masked_fill(inputs["attention_mask"] == 0, 1)  # labels under padding must not count
    with torch.no_grad():
        assert torch.equal(ours(**inputs, labels=labels).loss, ours(**inputs, labels=noisy).loss)
        no_mask = {k: v for k, v in inputs.items() if k != "attention_mask"}
        assert torch.allclose(ours(**no_mask, labels=labels).loss, hf(**no_mask, labels=labels).loss, atol=1e-6)


@pytest.mark.parametrize("preset, d_model, embedding_size",
                         [("electra-small", 256, 128), ("electra-base", 768, None)])
def test_presets_are_the_released_discriminators(preset, d_model, embedding_size):
    config = TobigsConfig.from_preset(preset)
    assert (config.d_model, config.embedding_size) == (d_model, embedding_size)
    hf = ElectraConfig(embedding_size=embedding_size or d_model, hidden_size=d_model,
                       num_attention_heads=config.encoder_attention_heads, intermediate_size=config.encoder_ffn_dim)
    converted = convert_config_from_hf(hf).to_dict()
    preset_dict = config.to_dict()
    differ = {k for k in set(converted) | set(preset_dict) if converted.get(k) != preset_dict.get(k)}
    # An encoder keeps no cache either way; the generator's size is a pre-training setting no discriminator records.
    assert differ == {"use_cache", "generator_size"}, differ


def test_export_of_a_discriminator_built_from_the_preset():
    config = TobigsConfig.from_preset("electra-small", **{**TINY, "embedding_size": 16})
    ours = randomize_(TobigsForReplacedTokenDetection(config).eval())
    hf = convert_to_hf(ours).eval()
    assert type(hf).__name__ == "ElectraForPreTraining"
    inputs = _inputs()
    inputs = {**inputs, **_labels("ElectraForPreTraining", inputs)}
    assert_same_outputs(outputs_of(hf, inputs), outputs_of(ours, inputs))
    assert_same_state_dict(convert_from_hf(hf).state_dict(), ours.state_dict())


def test_export_of_a_classifier_built_from_the_preset():
    config = TobigsConfig.from_preset("electra-small", **{**TINY, "embedding_size": 16}, num_labels=3)
    ours = randomize_(TobigsForSequenceClassification(config).eval())
    hf = convert_to_hf(ours).eval()
    assert type(hf).__name__ == "ElectraForSequenceClassification"
    inputs = {**_inputs(), "labels": torch.tensor([1, 0, 2])}
    assert_same_outputs(outputs_of(hf, inputs), outputs_of(ours, inputs))
    assert_same_state_dict(convert_from_hf(hf).state_dict(), ours.state_dict())


def test_what_electra_cannot_express_is_named():
    with pytest.raises(ConversionError, match="hidden_act='relu'"):
        convert_config_from_hf(ElectraConfig(hidden_act="relu"))
    for head in ("pooler", "dense-tanh"):  # BERT's and RoBERTa's classifiers are not ELECTRA's
        config = TobigsConfig.from_preset("electra-small", **TINY, classifier_head=head)
        with pytest.raises(ConversionError, match=f"classifier_head='{head}' \\(ELECTRA needs 'dense-gelu'\\)"):
            convert_to_hf(TobigsForSequenceClassification(config), target="ElectraForSequenceClassification")
