"""Positions owned by the stacks: computed once per forward, shared by the embeddings and the attention layers.

Packed (padding-free) rows, whose given `position_ids` restart at 0 where each sequence begins, must give every
sequence exactly what it gets alone: its own positions and attention to itself only.
"""

import pytest
import torch

import tobigs_transformer as tt
from tobigs_transformer.model.attention import MultiHeadAttention
from tobigs_transformer.model.positional_encoding import positions_from_mask
from tiny import tiny_config

LENGTHS = [5, 7, 4]


def _model(preset: str, attn: str, **overrides) -> tt.TobigsModel:
    torch.manual_seed(0)
    config = tiny_config(preset, **overrides)
    config._attn_implementation = attn
    return tt.TobigsModel(config).eval()


def _packed_vs_separate(model: tt.TobigsModel, lengths: list[int], **forward_kwargs) -> float:
    torch.manual_seed(1)
    sequences = [torch.randint(3, 90, (1, n)) for n in lengths]
    packed_ids = torch.cat(sequences, dim=1)  # (1, sum(lengths))
    position_ids = torch.cat([torch.arange(n) for n in lengths]).unsqueeze(0)  # restarts at 0 per sequence
    with torch.no_grad():
        packed = model(packed_ids, position_ids=position_ids, **forward_kwargs).last_hidden_state
        separate = torch.cat([model(ids, **forward_kwargs).last_hidden_state for ids in sequences], dim=1)
    return (packed - separate).abs().max().item()


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize("preset", ["gpt2", "gpt", "bert-base", "roberta-base", "transformer-base"])
def test_packed_rows_equal_the_separate_sequences(preset, attn):
    overrides = {"architecture": "decoder-only"} if preset == "transformer-base" else {}  # sinusoidal positions
    model = _model(preset, attn, **overrides)
    assert _packed_vs_separate(model, LENGTHS) < 1e-5


@pytest.mark.parametrize("use_cache", [True, False])
def test_packed_decoder_rows_with_and_without_a_fresh_cache(use_cache):
    model = _model("gpt2", "sdpa")
    assert _packed_vs_separate(model, LENGTHS, use_cache=use_cache) < 1e-5


@pytest.mark.parametrize("preset", ["gpt2", "bert-base"])
def test_packed_row_longer_than_the_position_table(preset):
    """The length check is on the largest position used: 3 x 30 tokens in one row fit a 64-position table."""
    model = _model(preset, "sdpa")
    assert _packed_vs_separate(model, [30, 30, 30]) < 1e-5


def test_packing_is_not_mistaken_for_consecutive_positions():
    """Positions that continue (an offset, no restart) are one sequence: no sequence is cut off from the others."""
    model = _model("gpt2", "eager")
    ids = torch.randint(3, 90, (1, 6))
    with torch.no_grad():
        shifted = model(ids, position_ids=torch.arange(3, 9).unsqueeze(0), output_attentions=True)
    weights = shifted.attentions[0][0, 0]  # (Tq, Tk)
    assert (weights[-1] > 0).all()  # the last token still attends to every earlier one


def test_the_stack_hands_its_positions_to_every_attention_layer():
    model = _model("gpt2", "eager")
    seen = []
    hooks = [module.register_forward_hook(lambda m, args, kwargs, out: seen.append(kwargs["position_ids"]),
                                          with_kwargs=True)
             for module in model.modules() if isinstance(module, MultiHeadAttention)]
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    with torch.no_grad():
        model(torch.randint(3, 90, (2, 5)), attention_mask=mask)
    for hook in hooks:
        hook.remove()
    assert len(seen) == model.config.decoder_layers
    expected = positions_from_mask(mask, 0, 5)
    assert all(torch.equal(positions, expected) for positions in seen)
    assert seen[0][0].tolist() == [0, 1, 0, 1, 2]  # left padding does not shift the prompt


def test_left_padding_does_not_use_up_the_position_table():
    """A row longer than the table is accepted when its counted positions fit: padding is not counted."""
    model = _model("gpt2", "sdpa")
    prompt = torch.randint(3, 90, (1, 60))
    padded = torch.cat([torch.zeros(1, 10, dtype=torch.long), prompt], dim=1)  # 70 tokens, positions 0..59
    mask = torch.cat([torch.zeros(1, 10, dtype=torch.long), torch.ones(1, 60, dtype=torch.long)], dim=1)
    with torch.no_grad():
        alone = model(prompt).last_hidden_state
        left_padded = model(padded, attention_mask=mask).last_hidden_state[:, 10:]
    assert (alone - left_padded).abs().max().item() < 1e-5


def test_counted_positions_past_the_table_name_the_value_and_the_limit():
    model = _model("gpt2", "sdpa")
    with pytest.raises(ValueError, match=r"contains 64, .*exceeds max_position_embeddings=64"):
        model(torch.randint(3, 90, (1, 65)), attention_mask=torch.ones(1, 65, dtype=torch.long))
