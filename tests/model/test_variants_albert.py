"""ALBERT's two parameter reductions as config values (Lan et al. 2020 §3.1): factorized embeddings and cross-layer
sharing with the paper's ablations, plus sentence-order prediction in TobigsForPreTraining."""

import pytest
import torch
from tiny import TINY

from tobigs_transformer import TobigsConfig, TobigsForMaskedLM, TobigsForPreTraining, TobigsModel
from tobigs_transformer.model.layers import layer_plan


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_albert_base_is_an_order_of_magnitude_smaller_than_bert_base():
    bert = _count(TobigsModel(TobigsConfig.from_preset("bert-base")))
    albert = _count(TobigsModel(TobigsConfig.from_preset("albert-base")))
    large = _count(TobigsModel(TobigsConfig.from_preset("albert-large")))
    # Table 1 of the paper: BERT-base 108M, ALBERT-base 12M, ALBERT-large 18M.
    assert 105e6 < bert < 112e6 and 11e6 < albert < 13e6 and 17e6 < large < 19e6


def test_sharing_ablations_have_the_parameter_counts_of_table_4():
    # Table 4 (ALBERT-base, E=128): all-shared 12M, shared-attention 64M, shared-FFN 38M, not-shared 89M.
    counts = {sharing: _count(TobigsModel(TobigsConfig.from_preset("albert-base", layer_sharing=sharing)))
              for sharing in ("all", "attention", "ffn", "none")}
    config = TobigsConfig.from_preset("albert-base")
    d, ff, n = config.d_model, config.encoder_ffn_dim, config.encoder_layers
    attention = 4 * d * d + 4 * d + 2 * d  # W^Q,W^K,W^V,W^O with biases, and its LayerNorm
    ffn = 2 * d * ff + ff + d + 2 * d  # W_1, W_2 with biases, and its LayerNorm
    assert counts["none"] - counts["all"] == (n - 1) * (attention + ffn)
    assert counts["none"] - counts["attention"] == (n - 1) * attention
    assert counts["none"] - counts["ffn"] == (n - 1) * ffn
    for sharing, paper in (("all", 12e6), ("attention", 64e6), ("ffn", 38e6), ("none", 89e6)):
        assert abs(counts[sharing] - paper) < 1.5e6, (sharing, counts[sharing])


def test_layer_plan_follows_transformers_grouping():
    config = TobigsConfig.from_preset("albert-base", encoder_layers=6, layer_groups=4, inner_group_num=2)
    plan = layer_plan(config)
    # int(i / (6 / 4)) = 0, 0, 1, 2, 2, 3; each group applies its two layers in turn.
    assert plan.num_layers == 8 and plan.order == [0, 1, 0, 1, 2, 3, 4, 5, 4, 5, 6, 7]
    ffn = layer_plan(TobigsConfig.from_preset("albert-base", encoder_layers=4, layer_sharing="ffn", layer_groups=2))
    assert ffn.order == [0, 1, 2, 3] and [(layer, owner) for layer, owner, _ in ffn.borrowed] == [(1, 0), (3, 2)]


@pytest.mark.parametrize("sharing", ["attention", "ffn"])
def test_partially_shared_layers_train_save_and_load_once(sharing, tmp_path):
    config = TobigsConfig.from_preset("albert-base", **{**TINY, "layer_sharing": sharing, "embedding_size": 16})
    model = TobigsForMaskedLM(config)
    layers = model.model.encoder.layers
    shared = "self_attn" if sharing == "attention" else "feed_forward"
    own = "feed_forward" if sharing == "attention" else "self_attn"
    assert getattr(layers[1], shared) is getattr(layers[0], shared)
    assert getattr(layers[1], own) is not getattr(layers[0], own)
    assert not any(key.startswith(f"model.encoder.layers.1.{shared}") for key in model.state_dict())
    ids = torch.randint(4, 99, (2, 6))
    loss = model(ids, labels=ids).loss
    loss.backward()
    assert all(p.grad is not None for p in getattr(layers[0], shared).parameters())  # trained through every layer
    model.eval().save_pretrained(tmp_path)
    reloaded = TobigsForMaskedLM.from_pretrained(tmp_path).eval()
    assert getattr(reloaded.model.encoder.layers[1], shared) is getattr(reloaded.model.encoder.layers[0], shared)
    with torch.no_grad():
        assert torch.equal(model(ids).logits, reloaded(ids).logits)


def test_sentence_order_label_is_the_second_objective():
    config = TobigsConfig.from_preset("albert-base", **{**TINY, "embedding_size": 16})
    model = TobigsForPreTraining(config).eval()
    ids = torch.randint(4, 99, (2, 6))
    order = torch.tensor([0, 1])
    with torch.no_grad():
        sop = model(ids, labels=ids, sentence_order_label=order).loss
        nsp = model(ids, labels=ids, next_sentence_label=order).loss
        mlm = model(ids, labels=ids).loss
    assert torch.equal(sop, nsp) and not torch.equal(sop, mlm)
    with pytest.raises(ValueError, match="not both"):
        model(ids, next_sentence_label=order, sentence_order_label=order)


@pytest.mark.parametrize("overrides, message", [
    (dict(architecture="decoder-only"), "apply to encoder-only models"),
    (dict(embedding_size=0), "embedding_size must be > 0"),
    (dict(layer_sharing="some"), "layer_sharing='some' is not supported"),
    (dict(layer_groups=13), "layer_groups=13 must be <= encoder_layers=12"),
    (dict(layer_sharing="none", layer_groups=2), "with layer_sharing='none'"),
    (dict(layer_sharing="ffn", inner_group_num=2), "inner_group_num=2 needs layer_sharing='all'"),
])
def test_invalid_albert_values_name_the_field(overrides, message):
    with pytest.raises(ValueError, match=message):
        TobigsConfig.from_preset("albert-base", **overrides)
