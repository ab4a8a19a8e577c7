"""Rotary positions (RoFormer, Su et al. 2021): query and key rotated by their positions inside attention.

References: transformers' Llama rotary embedding (`LlamaRotaryEmbedding`, `apply_rotary_pos_emb`) on the same query
and key, the paper's per-pair rotation written out, and the relative property (scores depend only on i - j).
"""

import pytest
import torch
from transformers import LlamaConfig, StaticCache
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

import tobigs_transformer as tt
from tobigs_transformer.model.rotary import RotaryEmbedding, apply_rotary
from tiny import tiny_config

HEAD_DIM = 8  # tiny d_model 32 / 4 heads


def _rotary_model(preset: str, attn: str = "eager", cls=tt.TobigsModel):
    torch.manual_seed(0)
    config = tiny_config(preset, position_embedding_type="rotary")
    config._attn_implementation = attn
    return cls(config).eval()


def test_rotation_equals_transformers_llama_rotary():
    torch.manual_seed(0)
    query, key = torch.randn(2, 4, 6, HEAD_DIM), torch.randn(2, 4, 6, HEAD_DIM)
    position_ids = torch.tensor([[0, 1, 2, 3, 4, 5], [7, 3, 0, 12, 40, 63]])
    llama = LlamaRotaryEmbedding(config=LlamaConfig(hidden_size=32, num_attention_heads=4, rope_theta=10000.0))
    cos_ref, sin_ref = llama(query.transpose(1, 2), position_ids)
    query_ref, key_ref = apply_rotary_pos_emb(query, key, cos_ref, sin_ref)
    cos, sin = RotaryEmbedding(HEAD_DIM)(position_ids, torch.float32)
    assert (apply_rotary(query, cos, sin) - query_ref).abs().max() < 1e-5
    assert (apply_rotary(key, cos, sin) - key_ref).abs().max() < 1e-5


def test_rotation_is_the_papers_pairwise_rotation():
    """f(x, m): every pair (x_i, x_{i+d/2}) turned by the angle m θ_i, θ_i = 10000^(-2i/d)."""
    torch.manual_seed(0)
    x = torch.randn(1, 1, 3, HEAD_DIM, dtype=torch.float64)
    positions = torch.tensor([[0, 5, 17]])
    cos, sin = RotaryEmbedding(HEAD_DIM)(positions, torch.float64)
    rotated = apply_rotary(x, cos, sin)
    half = HEAD_DIM // 2
    for t, m in enumerate(positions[0].tolist()):
        for i in range(half):
            angle = torch.tensor(m * 10000.0 ** (-2 * i / HEAD_DIM), dtype=torch.float64)
            a, b = x[0, 0, t, i], x[0, 0, t, i + half]
            assert torch.isclose(rotated[0, 0, t, i], a * angle.cos() - b * angle.sin(), atol=1e-5)
            assert torch.isclose(rotated[0, 0, t, i + half], b * angle.cos() + a * angle.sin(), atol=1e-5)


def test_scores_depend_only_on_the_distance():
    torch.manual_seed(0)
    query, key = torch.randn(1, 1, 1, HEAD_DIM), torch.randn(1, 1, 1, HEAD_DIM)
    rotary = RotaryEmbedding(HEAD_DIM)

    def score(m: int, n: int) -> torch.Tensor:
        cos_m, sin_m = rotary(torch.tensor([[m]]), torch.float32)
        cos_n, sin_n = rotary(torch.tensor([[n]]), torch.float32)
        return (apply_rotary(query, cos_m, sin_m) * apply_rotary(key, cos_n, sin_n)).sum()

    assert torch.isclose(score(7, 3), score(27, 23), atol=1e-4)
    assert not torch.isclose(score(7, 3), score(7, 4), atol=1e-4)  # the distance does matter


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize("preset", ["gpt2", "bert-base"])
def test_shifting_every_position_leaves_the_outputs_unchanged(preset, attn):
    model = _rotary_model(preset, attn)
    ids = torch.randint(3, 90, (2, 9))
    with torch.no_grad():
        plain = model(ids, position_ids=torch.arange(9).unsqueeze(0), output_attentions=attn == "eager")
        shifted = model(ids, position_ids=torch.arange(9).unsqueeze(0) + 17, output_attentions=attn == "eager")
    assert (plain.last_hidden_state - shifted.last_hidden_state).abs().max() < 1e-5
    if attn == "eager":
        for before, after in zip(plain.attentions, shifted.attentions):
            assert (before - after).abs().max() < 1e-5


def test_no_position_is_added_at_the_input():
    model = _rotary_model("gpt2")
    assert model.decoder.embeddings.position_embeddings is None
    assert not any("position" in name for name, _ in model.named_parameters())


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize("preset", ["gpt2", "bert-base"])
def test_packed_rotary_rows_equal_the_separate_sequences(preset, attn):
    model = _rotary_model(preset, attn)
    lengths = [5, 7, 4]
    sequences = [torch.randint(3, 90, (1, n)) for n in lengths]
    position_ids = torch.cat([torch.arange(n) for n in lengths]).unsqueeze(0)
    with torch.no_grad():
        packed = model(torch.cat(sequences, dim=1), position_ids=position_ids).last_hidden_state
        separate = torch.cat([model(ids).last_hidden_state for ids in sequences], dim=1)
    assert (packed - separate).abs().max() < 1e-5


def test_generate_with_the_cache_equals_without():
    model = _rotary_model("gpt2", "sdpa", tt.TobigsForCausalLM)
    prompt = torch.randint(3, 90, (2, 5))
    mask = torch.tensor([[0, 1, 1, 1, 1], [1, 1, 1, 1, 1]])  # left padding: positions counted over the mask
    kwargs = dict(attention_mask=mask, max_new_tokens=8, do_sample=False, pad_token_id=0)
    with torch.no_grad():
        cached = model.generate(prompt, use_cache=True, **kwargs)
        uncached = model.generate(prompt, use_cache=False, **kwargs)
    assert torch.equal(cached, uncached)


def test_static_cache_equals_dynamic_cache_in_generate():
    model = _rotary_model("gpt2", "sdpa", tt.TobigsForCausalLM)
    prompt = torch.randint(3, 90, (1, 6))
    with torch.no_grad():
        dynamic = model.generate(prompt, max_new_tokens=8, do_sample=False)
        static = model.generate(prompt, max_new_tokens=8, do_sample=False,
                                cache=StaticCache(config=model.config, max_cache_len=32))
    assert torch.equal(dynamic, static)


def test_logits_with_the_cache_equal_one_forward():
    model = _rotary_model("gpt2", "eager", tt.TobigsForCausalLM)
    ids = torch.randint(3, 90, (1, 10))
    with torch.no_grad():
        full = model(ids, use_cache=False).logits
        first = model(ids[:, :6], use_cache=True)
        rest = model(ids[:, 6:], cache=first.cache).logits
    assert (full[:, 6:] - rest).abs().max() < 1e-5


def test_save_and_load_keep_the_rotary_model(tmp_path):
    model = _rotary_model("bert-base")
    model.save_pretrained(tmp_path)
    loaded = tt.TobigsModel.from_pretrained(tmp_path).eval()
    ids = torch.randint(3, 90, (1, 7))
    with torch.no_grad():  # the loaded model runs the default kernel (sdpa), the saved one eager
        assert (model(ids).last_hidden_state - loaded(ids).last_hidden_state).abs().max() < 1e-5


@pytest.mark.parametrize("overrides, message", [
    (dict(preset="transformer-base"), "position_embedding_type='rotary' is not supported for architecture="
                                      "'encoder-decoder'"),
    (dict(preset="gpt2", d_model=36, decoder_attention_heads=4), "head dimension .* = 9 must be even"),
])
def test_rotary_config_errors_name_the_value(overrides, message):
    preset = overrides.pop("preset")
    with pytest.raises(ValueError, match=message):
        tiny_config(preset, position_embedding_type="rotary", **overrides)


def test_compiled_decode_step_with_the_static_cache_keeps_the_greedy_tokens():
    """torch.compile (issue 11, item 4): the one-token decode step of a rotary model traces as one graph (fullgraph,
    aot_eager: dynamo + AOT autograd as inductor, without its C++ code generation) and decodes the same tokens."""
    from torch._dynamo.utils import counters
    from transformers import CompileConfig

    model = _rotary_model("gpt2", "sdpa", tt.TobigsForCausalLM)
    model.generation_config.suppress_tokens = [model.config.eos_token_id]
    prompt = torch.randint(3, 90, (2, 5))
    static = dict(max_new_tokens=6, min_new_tokens=6, cache_implementation="static")
    torch._dynamo.reset()
    try:
        eager = model.generate(prompt, **static)
        before = counters["stats"]["unique_graphs"]
        compiled = model.generate(prompt, compile_config=CompileConfig(backend="aot_eager", fullgraph=True), **static)
        assert counters["stats"]["unique_graphs"] > before
    finally:
        torch._dynamo.reset()
    assert torch.equal(compiled, eager)
