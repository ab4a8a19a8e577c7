"""Transformer-XL (issue 11): relative positional attention (Dai et al. 2019 §3.3) and segment-level recurrence
(§3.2).

The relative scores are checked against a direct transcription of the paper's four terms, with the encoding R_{i-j}
built for every (i, j) pair; the memory against one forward over the concatenated segments."""

import math

import pytest
import torch
from tiny import tiny_config
from transformers import AutoModelForCausalLM

from tobigs_transformer import TobigsConfig, TobigsForCausalLM
from tobigs_transformer.model.relative_attention import relative_sinusoids


def xl_model(seed: int = 0, **overrides) -> TobigsForCausalLM:
    torch.manual_seed(seed)
    settings = dict(dropout=0.0, mem_len=32)
    settings.update(overrides)
    model = TobigsForCausalLM(tiny_config("transformer-xl", **settings)).eval()
    model.generation_config.suppress_tokens = [model.config.eos_token_id]  # compare every step of a random model
    return model


def ids(batch: int = 2, length: int = 12, seed: int = 1) -> torch.Tensor:
    return torch.randint(3, 99, (batch, length), generator=torch.Generator().manual_seed(seed))


# ---- the four terms ------------------------------------------------------------------------------------------------

def four_term_scores(attention, hidden: torch.Tensor, clamp_len: int | None, shared=None) -> torch.Tensor:
    """§3.3 written out pair by pair: A_ij = q_i k_j + q_i W_kR R_{i-j} + u k_j + v W_kR R_{i-j}, scaled, -inf for
    j > i. hidden: (B, T, d) -> (B, H, T, T) scores before the softmax."""
    batch, length, d_model = hidden.shape
    heads, head_dim = attention.num_heads, attention.head_dim
    q, k, _ = attention.qkv_proj(hidden).view(batch, length, 3, heads, head_dim).unbind(2)  # (B, T, H, Dh) each
    biases = attention.global_bias or shared
    u, v = biases.content_bias, biases.position_bias  # (H, Dh)
    scores = torch.full((batch, heads, length, length), float("-inf"))
    for i in range(length):
        for j in range(i + 1):
            distance = i - j if clamp_len is None else min(i - j, clamp_len)
            r = relative_sinusoids(distance + 1, d_model, hidden.device)[distance]  # R_{i-j}: (d,)
            wr = attention.position_proj(r).view(heads, head_dim)  # W_{k,R} R_{i-j}
            a = (q[:, i] * k[:, j]).sum(-1)  # (B, H)
            b = (q[:, i] * wr).sum(-1)
            c = (u * k[:, j]).sum(-1)
            d = (v * wr).sum(-1)
            scores[:, :, i, j] = (a + b + c + d) / math.sqrt(head_dim)
    return scores


@pytest.mark.parametrize("clamp_len", [None, 3])
@pytest.mark.parametrize("untie_r", [True, False])
def test_attention_weights_are_the_papers_four_terms(clamp_len, untie_r):
    model = xl_model(clamp_len=clamp_len, untie_r=untie_r, attn_implementation="eager")
    tokens = ids(length=7)
    captured = {}
    layer = model.model.decoder.layers[1]
    hook = layer.register_forward_pre_hook(lambda module, args: captured.setdefault("input", args[0]))
    weights = model(tokens, output_attentions=True).attentions[1]  # (B, H, T, T)
    hook.remove()
    reference = four_term_scores(layer.self_attn, captured["input"], clamp_len, model.model.decoder.global_bias)
    torch.testing.assert_close(weights, torch.softmax(reference, dim=-1), atol=1e-6, rtol=1e-5)


def test_sinusoids_are_the_papers_relative_encoding():
    table = relative_sinusoids(5, 8, torch.device("cpu"))
    frequencies = 1.0 / 10000 ** (torch.arange(0, 8, 2) / 8)
    assert torch.allclose(table[3], torch.cat([torch.sin(3 * frequencies), torch.cos(3 * frequencies)]))
    assert torch.equal(table[0], torch.cat([torch.zeros(4), torch.ones(4)]))


def test_clamped_distances_share_one_encoding():
    """With clamp_len=1 every earlier token is at "distance 1": swapping the first two tokens swaps the last query's
    weights on them and changes nothing else; without clamping their distances differ and so do the weights."""
    tokens = ids(batch=1, length=5)
    order = [1, 0, 2, 3, 4]
    changes = {}
    for clamp_len in (1, None):
        model = xl_model(clamp_len=clamp_len, decoder_layers=1, attn_implementation="eager")
        attention = model.model.decoder.layers[0].self_attn
        with torch.no_grad():  # scores of order 1, so that the weights show the position terms
            attention.qkv_proj.weight.mul_(20)
            attention.position_proj.weight.mul_(20)
        weights = model(tokens, output_attentions=True).attentions[0][..., -1, :]  # (B, H, T): the last query
        swapped = model(tokens[:, order], output_attentions=True).attentions[0][..., -1, order]
        changes[clamp_len] = (weights - swapped).abs().max()
    assert changes[1] < 1e-6 and changes[None] > 1e-3


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_left_padding_shifts_nothing(attn):
    """Scores depend on i - j only: the same tokens after k padding tokens (masked) give the same outputs."""
    model = xl_model(attn_implementation=attn)
    tokens = ids(batch=1, length=6)
    padded = torch.cat([torch.zeros(1, 4, dtype=torch.long), tokens], dim=1)
    mask = torch.cat([torch.zeros(1, 4, dtype=torch.long), torch.ones(1, 6, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(padded, attention_mask=mask).logits[:, 4:], model(tokens).logits,
                               atol=1e-5, rtol=1e-5)


def test_no_position_is_added_and_no_length_limit():
    model = xl_model()
    assert model.model.decoder.embeddings.position_embeddings is None
    long = ids(batch=1, length=model.config.max_position_embeddings + 20)  # past the declared table size
    assert model(long).logits.shape[1] == long.shape[1]


# ---- segment-level recurrence ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("cuts", [[12], [5, 12], [3, 8, 12]])
@pytest.mark.parametrize("preset_overrides", [{}, {"normalize_before": True}, {"untie_r": False}])
def test_segments_with_memory_equal_one_forward_over_their_concatenation(cuts, preset_overrides):
    model = xl_model(**preset_overrides)
    tokens = ids()
    full = model(tokens).logits
    mems, pieces, start = None, [], 0
    for end in cuts:
        out = model(tokens[:, start:end], mems=mems)
        pieces.append(out.logits)
        mems, start = out.mems, end
    assert (torch.cat(pieces, dim=1) - full).abs().max() < 1e-5


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_eager_equals_sdpa_with_memory_and_padding(attn):
    model, reference = xl_model(attn_implementation=attn), xl_model(attn_implementation="eager")
    first, second = ids(seed=2, length=6), ids(seed=3, length=5)
    mask = torch.ones(2, 5, dtype=torch.long)
    mask[1, :2] = 0
    out = model(second, attention_mask=mask, mems=model(first).mems).logits
    expected = reference(second, attention_mask=mask, mems=reference(first).mems).logits
    assert (out - expected)[mask.bool()].abs().max() < 1e-5


def test_memory_keeps_the_last_mem_len_states_with_no_gradient():
    model = xl_model(mem_len=4).train()
    embeds = model.get_input_embeddings()(ids(length=6)).detach().requires_grad_(True)
    first = model(inputs_embeds=embeds)
    assert len(first.mems) == model.config.decoder_layers
    assert all(m.shape == (2, 4, 32) and not m.requires_grad for m in first.mems)
    # Layer 0's memory is its input: the last 4 of the 6 (scaled, dropped-out: dropout is 0) embeddings.
    torch.testing.assert_close(first.mems[0], embeds[:, -4:].detach() * model.model.decoder.embeddings.embed_scale)
    second = model(ids(length=3, seed=4), labels=ids(length=3, seed=4), mems=first.mems)
    second.loss.backward()
    assert embeds.grad is None  # the stop-gradient: nothing flows back into the previous segment
    assert all(m.shape == (2, 4, 32) for m in second.mems)
    torch.testing.assert_close(second.mems[0][:, :1], first.mems[0][:, -1:])  # the window slid by 3


def test_without_mem_len_no_memory_is_returned_or_accepted():
    model = xl_model(mem_len=0)
    out = model(ids())
    assert out.mems is None
    with pytest.raises(ValueError, match="keeps no memory"):
        model(ids(), mems=xl_model().forward(ids()).mems)


@pytest.mark.parametrize("bad, needle", [
    (lambda m: tuple(t[:1] for t in m), r"must be \(batch=2"),
    (lambda m: m[:1], "one tensor per layer"),
    (lambda m: (m[0], m[1][:, :3]), "every layer's memory"),
])
def test_bad_memory_is_named(bad, needle):
    model = xl_model()
    mems = model(ids()).mems
    with pytest.raises(ValueError, match=needle):
        model(ids(), mems=bad(mems))


def test_packed_rows_are_refused():
    model = xl_model()
    with pytest.raises(ValueError, match="packed rows"):
        model(ids(batch=1, length=6), position_ids=torch.tensor([[0, 1, 2, 0, 1, 2]]))
    positions = torch.arange(6)[None] + 3  # one sequence per row: accepted (and not used)
    tokens = ids(batch=1, length=6)
    assert torch.equal(model(tokens, position_ids=positions).logits, model(tokens).logits)


@pytest.mark.parametrize("overrides, needle", [
    (dict(mem_len=4, position_embedding_type="learned"), "needs position_embedding_type='relative'"),
    (dict(mem_len=-1), "mem_len must be >= 0"),
    (dict(clamp_len=0), "clamp_len must be >= 1"),
    (dict(architecture="encoder-only", mem_len=0), "built for architecture='decoder-only'"),
])
def test_config_errors_name_the_value(overrides, needle):
    with pytest.raises(ValueError, match=needle):
        tiny_config("transformer-xl", **overrides)


# ---- generation -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("settings", [dict(do_sample=False), dict(do_sample=True, top_k=5), dict(num_beams=3)])
def test_generate_with_the_cache_equals_without(settings):
    model = xl_model()
    prompt = ids(length=4)
    runs = []
    for use_cache in (True, False):
        torch.manual_seed(7)
        runs.append(model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=6,
                                   use_cache=use_cache, **settings))
    assert torch.equal(*runs)


def test_static_cache_equals_dynamic_cache_in_generate():
    """Unfilled static-cache slots lie in the future of every query (negative distance), so they are masked."""
    model = xl_model()
    prompt = ids(length=5)
    kwargs = dict(attention_mask=torch.ones_like(prompt), max_new_tokens=6, do_sample=False)
    static = model.generate(prompt, cache_implementation="static", **kwargs)
    assert torch.equal(model.generate(prompt, **kwargs), static)


def test_generate_with_memory_equals_without_when_the_prompt_fits_one_segment():
    with_memory, without = xl_model(mem_len=16), xl_model(mem_len=0)
    without.load_state_dict(with_memory.state_dict())
    prompt = ids(length=5)
    kwargs = dict(attention_mask=torch.ones_like(prompt), max_new_tokens=8, do_sample=False)
    assert torch.equal(with_memory.generate(prompt, **kwargs), without.generate(prompt, **kwargs))


@pytest.mark.parametrize("num_beams", [1, 2])
def test_generate_continues_from_the_memory_of_earlier_segments(num_beams):
    """Memory of a context + the prompt == the context and the prompt in one prompt (mem_len >= the context)."""
    model = xl_model(mem_len=16)
    tokens = ids(length=9)
    context = model(tokens[:, :6]).mems
    kwargs = dict(max_new_tokens=5, do_sample=False, num_beams=num_beams)
    continued = model.generate(tokens[:, 6:], attention_mask=torch.ones_like(tokens[:, 6:]), mems=context, **kwargs)
    whole = model.generate(tokens, attention_mask=torch.ones_like(tokens), **kwargs)
    assert torch.equal(continued[:, 3:], whole[:, 9:])


# ---- the v5 protocol ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("untie_r", [True, False])
def test_save_and_load_through_the_auto_classes(tmp_path, untie_r):
    model = xl_model(untie_r=untie_r)
    names = [n for n in model.state_dict() if "bias" in n and ("content" in n or "position_bias" in n)]
    assert len(names) == (2 * model.config.decoder_layers if untie_r else 2)
    model.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, TobigsForCausalLM)
    tokens = ids()
    first = model(tokens[:, :6])
    reloaded_first = loaded(tokens[:, :6])
    assert torch.equal(first.logits, reloaded_first.logits)
    assert torch.equal(model(tokens[:, 6:], mems=first.mems).logits,
                       loaded(tokens[:, 6:], mems=reloaded_first.mems).logits)
    assert loaded.lm_head.weight.data_ptr() == loaded.get_input_embeddings().weight.data_ptr()  # tied


def test_gradient_checkpointing_gives_the_same_gradients_with_memory():
    model = xl_model(mem_len=8).train()
    tokens = ids(length=6)
    mems = model(tokens).mems

    def grads():
        model.zero_grad()
        model(tokens, labels=tokens, mems=mems).loss.backward()
        return [p.grad.clone() for p in model.parameters() if p.grad is not None]

    plain = grads()
    model.activation_checkpointing_enable()
    checkpointed = grads()
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(plain, checkpointed, strict=True))


def test_preset_has_the_papers_wt103_base_sizes():
    config = TobigsConfig.from_preset("transformer-xl")
    assert (config.decoder_layers, config.d_model, config.decoder_attention_heads, config.decoder_ffn_dim) == (
        16, 410, 10, 2100)
    assert (config.mem_len, config.position_embedding_type, config.normalize_before) == (150, "relative", False)


def test_output_recorders_capture_every_layer_with_memory():
    model = xl_model(attn_implementation="eager")
    first = model(ids(length=4))
    out = model(ids(length=3), mems=first.mems, output_hidden_states=True, output_attentions=True)
    assert len(out.hidden_states) == model.config.decoder_layers + 1
    # each query sees the 4 remembered tokens and the new ones up to itself: rows sum to 1 over M + T keys
    assert all(a.shape == (2, 4, 3, 7) for a in out.attentions)
    torch.testing.assert_close(out.attentions[0].sum(-1), torch.ones(2, 4, 3))
    assert torch.all(out.attentions[0][..., 0, 5:] == 0)  # the first new token does not see the later ones


def test_kernels_that_take_no_bias_fall_back_to_sdpa_and_say_so():
    from transformers.testing_utils import CaptureLogger

    from tobigs_transformer import relative_attention

    model, reference = xl_model(), xl_model(attn_implementation="sdpa")
    model.config._attn_implementation = "flex_attention"  # as set after loading; flex takes no additive bias
    relative_attention.logger.warning_once.cache_clear()
    with CaptureLogger(relative_attention.logger) as captured:
        logits = model(ids()).logits
    assert "'flex_attention' cannot add Transformer-XL's position terms" in captured.out
    assert "uses sdpa" in captured.out
    assert torch.equal(logits, reference(ids()).logits)


def test_model_card_says_relative_positions_have_no_length_limit():
    from tobigs_transformer.hub.model_card import build_model_card

    card = str(build_model_card(xl_model(mem_len=16), model_name="tiny-xl"))
    assert "relative (Transformer-XL), no length limit, memory of 16 hidden states per layer" in card
    assert "up to" not in card.split("| positions |")[1].splitlines()[0]
