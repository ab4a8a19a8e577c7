"""The blocks against their references: Eq. 1 vs torch's SDPA, §3.5 sinusoids vs the formula, LayerNorm placement."""

import math

import pytest
import torch
from tiny import tiny_config
from torch import nn

from tobigs_transformer import TobigsForConditionalGeneration, TobigsModel
from tobigs_transformer.model.attention import scaled_dot_product_attention
from tobigs_transformer.model.layers import add_and_norm
from tobigs_transformer.model.positional_encoding import sinusoidal_table


def _qkv(batch=2, heads=3, q_len=5, k_len=5, dim=8):
    return torch.randn(batch, heads, q_len, dim), torch.randn(batch, heads, k_len, dim), torch.randn(
        batch, heads, k_len, dim
    )


def test_eager_attention_equals_torch_sdpa_with_causal_mask():
    q, k, v = _qkv()
    causal = torch.ones(5, 5, dtype=torch.bool).tril()
    ours, weights = scaled_dot_product_attention(nn.Module(), q, k, v, causal[None, None])
    ref = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(ours, ref.transpose(1, 2), rtol=1e-5, atol=1e-5)
    assert torch.all(weights.masked_select(~causal) == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 5))


def test_eager_attention_equals_torch_sdpa_with_padding_mask():
    q, k, v = _qkv(k_len=7)
    keep = torch.tensor([[1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    additive = torch.zeros(2, 1, 1, 7).masked_fill(~keep[:, None, None], torch.finfo(torch.float32).min)
    ours, weights = scaled_dot_product_attention(nn.Module(), q, k, v, additive)
    ref = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=keep[:, None, None])
    torch.testing.assert_close(ours, ref.transpose(1, 2), rtol=1e-5, atol=1e-5)
    assert torch.all(weights[0, :, :, 5:] == 0)


def test_scaling_is_one_over_sqrt_dk():
    q, k, v = _qkv(dim=16)
    ours, _ = scaled_dot_product_attention(nn.Module(), q, k, v, None)
    scores = q @ k.transpose(-1, -2) / math.sqrt(16)
    torch.testing.assert_close(ours, (scores.softmax(-1) @ v).transpose(1, 2))


@pytest.mark.parametrize("num_positions, dim", [(10, 10), (50, 16), (7, 5)])
def test_sinusoid_matches_paper_formula(num_positions, dim):
    table = sinusoidal_table(num_positions, dim)
    expected = torch.zeros(num_positions, dim)
    for pos in range(num_positions):
        for i in range(dim):
            angle = pos / 10000 ** (2 * (i // 2) / dim)
            expected[pos, i] = math.sin(angle) if i % 2 == 0 else math.cos(angle)
    torch.testing.assert_close(table, expected, rtol=1e-6, atol=1e-6)


def test_concatenated_layout_is_a_column_permutation():
    interleaved, concatenated = sinusoidal_table(20, 8), sinusoidal_table(20, 8, "concatenated")
    torch.testing.assert_close(concatenated, torch.cat([interleaved[:, 0::2], interleaved[:, 1::2]], dim=1))


def test_sinusoid_survives_save_and_load(tmp_path):
    model = TobigsForConditionalGeneration(tiny_config("transformer-base")).eval()
    model.save_pretrained(tmp_path)
    loaded = TobigsForConditionalGeneration.from_pretrained(tmp_path).eval()
    table = loaded.model.encoder.embeddings.position_embeddings.pe
    torch.testing.assert_close(table, sinusoidal_table(64, 32))
    ids = torch.randint(3, 99, (2, 9))
    torch.testing.assert_close(model(ids).logits, loaded(ids).logits)


def test_post_ln_outputs_are_normalised_and_pre_ln_keeps_the_residual():
    x = torch.randn(4, 6, 32) * 5 + 3
    norm = nn.LayerNorm(32, elementwise_affine=False)
    post = add_and_norm(x, lambda h: h * 2, norm, nn.Dropout(0.0), normalize_before=False)
    torch.testing.assert_close(post.mean(-1), torch.zeros(4, 6), atol=1e-5, rtol=0)
    torch.testing.assert_close(post.var(-1, unbiased=False), torch.ones(4, 6), atol=1e-3, rtol=0)
    pre = add_and_norm(x, lambda h: torch.zeros_like(h), norm, nn.Dropout(0.0), normalize_before=True)
    torch.testing.assert_close(pre, x)  # x + Sublayer(LN(x)) with a zero sublayer is the identity


def test_embedding_scale_and_initialisation():
    paper = TobigsModel(tiny_config("transformer-base"))
    assert paper.encoder.embeddings.embed_scale == math.sqrt(32)
    # Xavier-uniform: a fused W^Q|W^K|W^V gets the bound of one d_model x d_model matrix.
    weight = paper.encoder.layers[0].self_attn.qkv_proj.weight
    assert weight.abs().max() <= math.sqrt(6 / 64) + 1e-6 and weight.abs().max() > 0.8 * math.sqrt(6 / 64)
    bert = TobigsModel(tiny_config("bert-base", init_std=0.02))
    weight = bert.encoder.layers[0].self_attn.qkv_proj.weight
    assert abs(weight.std().item() - 0.02) < 0.003 and bert.encoder.embeddings.embed_scale == 1.0
    assert torch.all(bert.encoder.embeddings.word_embeddings.weight[0] == 0)  # padding row
