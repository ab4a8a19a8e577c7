"""ALBERT <-> TobigsModel / TobigsForPreTraining (MLM + sentence-order prediction) / TobigsForMaskedLM /
TobigsForSequenceClassification: identical outputs and losses on right-padded two-segment batches for every way
transformers groups its shared layers, exact round trip, save/reload (tiny random models, fp32, no downloads)."""

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
from transformers import AlbertConfig

from tobigs_transformer import TobigsConfig, TobigsForMaskedLM, TobigsForPreTraining
from tobigs_transformer.convert import ConversionError, convert_config_from_hf, convert_from_hf, convert_to_hf


def tiny_albert(class_name: str, **overrides):
    config = AlbertConfig(**{**dict(vocab_size=99, embedding_size=16, hidden_size=32, num_hidden_layers=4,
                                    num_attention_heads=4, intermediate_size=37, max_position_embeddings=64,
                                    num_labels=2), **overrides})
    return randomize_(getattr(transformers, class_name)(config).eval())


def _inputs():
    input_ids, attention_mask = right_padded(3, [10, 7, 4], 4, 99, pad=0)
    token_type_ids = torch.zeros_like(input_ids)
    token_type_ids[:, 5:] = 1
    return dict(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids * attention_mask)


def _mlm_labels(inputs):
    labels = torch.full_like(inputs["input_ids"], -100)
    labels[:, 1:4] = inputs["input_ids"][:, 1:4]
    return labels


LABELS = {
    "AlbertModel": lambda inputs: {},
    "AlbertForPreTraining": lambda inputs: dict(labels=_mlm_labels(inputs),
                                                sentence_order_label=torch.tensor([0, 1, 0])),
    "AlbertForMaskedLM": lambda inputs: dict(labels=_mlm_labels(inputs)),
    "AlbertForSequenceClassification": lambda inputs: dict(labels=torch.tensor([1, 0, 1])),
}
# (num_hidden_groups, inner_group_num): ALBERT's default, two groups of two layers, unshared, uneven groups.
GROUPINGS = [(1, 1), (2, 2), (4, 1), (3, 1)]


@pytest.mark.parametrize("class_name", sorted(LABELS))
@pytest.mark.parametrize("groups, inner", GROUPINGS)
def test_pair(class_name, groups, inner, tmp_path):
    inputs = _inputs()
    hf = tiny_albert(class_name, num_hidden_groups=groups, inner_group_num=inner)
    ours = check_parity(hf, {**inputs, **LABELS[class_name](inputs)}, tmp_path)
    assert (ours.config.layer_groups, ours.config.inner_group_num, ours.config.embedding_size) == (groups, inner, 16)


def test_parameters_are_shared_not_copied():
    ours = convert_from_hf(tiny_albert("AlbertForMaskedLM"))  # 4 layers, one group
    assert len(ours.model.encoder.layers) == 1 and ours.model.encoder.layer_order == [0, 0, 0, 0]
    assert ours.lm_head.decoder.weight.shape == (99, 16)  # tied to the E-wide token table
    assert ours.lm_head.decoder.weight.data_ptr() == ours.model.encoder.embeddings.word_embeddings.weight.data_ptr()


def test_preset_is_albert_base_v2():
    converted = convert_config_from_hf(AlbertConfig(hidden_size=768, num_attention_heads=12,
                                                    intermediate_size=3072)).to_dict()
    preset = TobigsConfig.from_preset("albert-base").to_dict()
    differ = {k: (converted.get(k), preset.get(k)) for k in set(converted) | set(preset)
              if converted.get(k) != preset.get(k)}
    assert differ == {"use_cache": (False, True)}, differ  # an encoder keeps no cache either way


def test_export_of_a_model_built_from_the_preset():
    config = TobigsConfig.from_preset("albert-base", **{**TINY, "embedding_size": 16})
    ours = randomize_(TobigsForPreTraining(config).eval())
    hf = convert_to_hf(ours).eval()
    assert type(hf).__name__ == "AlbertForPreTraining"
    inputs = _inputs()
    inputs = {**inputs, "labels": _mlm_labels(inputs), "sentence_order_label": torch.tensor([1, 1, 0])}
    assert_same_outputs(outputs_of(hf, inputs), outputs_of(ours, inputs))
    assert_same_state_dict(convert_from_hf(hf).state_dict(), ours.state_dict())


@pytest.mark.parametrize("sharing", ["attention", "ffn"])
def test_partial_sharing_ablations_are_refused_on_export(sharing):
    config = TobigsConfig.from_preset("albert-base", **{**TINY, "layer_sharing": sharing})
    with pytest.raises(ConversionError, match=f"layer_sharing='{sharing}'.*no transformers class"):
        convert_to_hf(TobigsForMaskedLM(config))
