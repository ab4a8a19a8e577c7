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
    settings = dict(dropout=0.0, activation_dropout=0.0, mem_len=32)
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


@pytest.mark.parametrize("settings", [dict(do_sample=False), dict(do_sample=True, top_k=5),
                                      dict(num_beams=3, num_return_sequences=2)])
def test_generate_projects_the_fixed_memory_once(monkeypatch, settings):
    """The memory's keys/values are computed once per layer and kept with the cache: same tokens and scores as
    re-projecting them at every step (the code before), and one projection per layer instead of one per step."""
    from tobigs_transformer.model import layers

    model = xl_model(mem_len=16)
    tokens = ids(length=9)
    context = model(tokens[:, :6]).mems
    kwargs = dict(attention_mask=torch.ones_like(tokens[:, 6:]), mems=context, max_new_tokens=6,
                  output_scores=True, return_dict_in_generate=True, **settings)
    calls = []
    original = layers.TobigsDecoderLayer.project_memory
    monkeypatch.setattr(layers.TobigsDecoderLayer, "project_memory",
                        lambda self, memory: calls.append(1) or original(self, memory))
    torch.manual_seed(7)
    kept = model.generate(tokens[:, 6:], **kwargs)
    kept_calls = len(calls)
    monkeypatch.setattr(layers, "projected_memory", lambda cache, index, memory, project, parameters: project(memory))
    calls.clear()
    torch.manual_seed(7)
    every_step = model.generate(tokens[:, 6:], **kwargs)
    assert torch.equal(kept.sequences, every_step.sequences)
    for a, b in zip(kept.scores, every_step.scores, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert kept_calls == model.config.decoder_layers and len(calls) == 6 * model.config.decoder_layers


def test_kept_memory_projection_follows_new_memory_and_new_weights():
    """A kept projection is reused only for the same memory (same tensor or equal values) and unchanged weights, per
    cache; with gradients enabled it is never kept (training must reach W^K, W^V)."""
    from transformers import DynamicCache

    from tobigs_transformer.model.memory import projected_memory

    model = xl_model(mem_len=16)
    layer = model.model.decoder.layers[0]
    memory, other = model(ids(length=4, seed=2)).mems[0], model(ids(length=4, seed=3)).mems[0]
    calls = []

    def project(m):
        calls.append(1)
        return layer.project_memory(m)

    def kept(cache, m):
        return projected_memory(cache, 0, m, project, layer.memory_parameters)

    cache = DynamicCache(config=model.config)
    with torch.no_grad():
        first = kept(cache, memory)
        assert kept(cache, memory) is first and kept(cache, memory.clone()) is first and len(calls) == 1
        assert kept(DynamicCache(config=model.config), memory) is not first  # another cache: its own projection
        torch.testing.assert_close(kept(cache, other)[0], layer.project_memory(other)[0])  # another memory
        calls.clear()
        layer.self_attn.qkv_proj.weight.mul_(1.5)  # new weights: the projection is redone
        torch.testing.assert_close(kept(cache, other)[1], layer.project_memory(other)[1])
        assert len(calls) == 1
    calls.clear()
    key, _ = kept(cache, other)  # gradients enabled: computed every call
    assert key.requires_grad and len(calls) == 1


@pytest.mark.parametrize("settings", [dict(), dict(clamp_len=5), dict(num_beams=2)])
def test_generate_projects_each_distance_once(monkeypatch, settings):
    """W_{k,R} R_d is kept with the cache and grown by doubling, new distances only: the same tokens and scores as
    projecting every distance again at each step (the code before), with a few projections per layer instead of one
    per step."""
    from tobigs_transformer.model.relative_attention import RelativeMultiHeadAttention

    clamp_len = settings.pop("clamp_len", None)
    model = xl_model(mem_len=16, clamp_len=clamp_len)
    tokens = ids(length=9)
    context = model(tokens[:, :6]).mems
    kwargs = dict(attention_mask=torch.ones_like(tokens[:, 6:]), mems=context, max_new_tokens=80, min_new_tokens=80,
                  output_scores=True, return_dict_in_generate=True, **settings)
    rows = []
    for layer in model.model.decoder.layers:
        layer.self_attn.position_proj.register_forward_hook(lambda module, args, out: rows.append(args[0].shape[0]))
    kept = model.generate(tokens[:, 6:], **kwargs)
    kept_rows = list(rows)
    monkeypatch.setattr(RelativeMultiHeadAttention, "projected_encodings",
                        lambda self, encodings, dropped, cache: self.position_proj(encodings))
    rows.clear()
    every_step = model.generate(tokens[:, 6:], **kwargs)
    assert torch.equal(kept.sequences, every_step.sequences)
    for a, b in zip(kept.scores, every_step.scores, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    layers = model.config.decoder_layers
    assert len(rows) == 80 * layers  # before: every distance again at every step
    # kept: a table of 64 rows, then the rows 64..127 (unclamped), or 0..clamp_len once
    assert kept_rows == ([64] * layers + [64] * layers if clamp_len is None else [clamp_len + 1] * layers)


def test_kept_encodings_follow_new_weights_and_are_not_kept_in_training():
    from transformers import DynamicCache

    from tobigs_transformer.model.relative_attention import relative_sinusoids

    model = xl_model()
    attention = model.model.decoder.layers[0].self_attn
    encodings = relative_sinusoids(10, model.config.d_model, torch.device("cpu"))
    cache = DynamicCache(config=model.config)
    with torch.no_grad():
        first = attention.projected_encodings(encodings, False, cache)
        torch.testing.assert_close(first, attention.position_proj(encodings))
        assert attention.projected_encodings(encodings[:4], False, cache).data_ptr() == first.data_ptr()
        attention.position_proj.weight.mul_(2.0)  # new weights: projected again
        torch.testing.assert_close(attention.projected_encodings(encodings, False, cache),
                                   attention.position_proj(encodings))
        dropped = encodings * 0.5  # dropped-out encodings (training) are projected as they are
        torch.testing.assert_close(attention.projected_encodings(dropped, True, cache), attention.position_proj(dropped))
    assert attention.projected_encodings(encodings, False, cache).requires_grad  # gradients on: computed, not kept


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


def test_preset_is_the_authors_wt103_base_configuration():
    """run_wt103_base.sh (train) with train.py's defaults and mem_transformer.py's layers (pytorch code, 44781ed)."""
    config = TobigsConfig.from_preset("transformer-xl")
    assert (config.decoder_layers, config.d_model, config.decoder_attention_heads, config.decoder_ffn_dim) == (
        16, 410, 10, 2100)
    assert (config.mem_len, config.position_embedding_type, config.normalize_before) == (150, "relative", False)
    assert (config.dropout, config.attention_dropout, config.activation_dropout) == (0.1, 0.0, 0.1)
    assert (config.clamp_len, config.same_length, config.untie_r) == (None, False, False)
    assert (config.attention_bias, config.lm_head_bias, config.tie_word_embeddings) == (False, True, True)
    # the projections of qkv_net, o_net and r_net carry no bias; the softmax (out_layers) does
    model = xl_model(**{k: v for k, v in vars(config).items() if k in ("attention_bias", "lm_head_bias", "untie_r")})
    attention = model.model.decoder.layers[0].self_attn
    assert attention.qkv_proj.bias is None and attention.out_proj.bias is None
    assert attention.position_proj.bias is None
    assert model.lm_head.bias is not None and attention.global_bias is None


# ---- pre-LN without a final LayerNorm (the authors' pre_lnorm) ------------------------------------------------------

def test_pre_ln_without_final_norm_is_the_authors_layer_written_out():
    """One pre-LN layer, written out as mem_transformer.py's pre_lnorm=True does it: x + Attn(LN(x)), then
    x + FFN(LN(x)), and the last residual sum straight into the softmax (no final LayerNorm)."""
    model = xl_model(decoder_layers=1, normalize_before=True, final_layer_norm=False, attn_implementation="eager",
                     lm_head_bias=True, attention_bias=False)
    assert model.model.decoder.final_layer_norm is None
    decoder, layer = model.model.decoder, model.model.decoder.layers[0]
    with torch.no_grad():  # non-trivial LayerNorms, biases and u, v
        for name, parameter in model.named_parameters():
            if "norm" in name or "bias" in name:
                parameter.normal_(0.5, 0.3)
    tokens = ids(length=6)
    x = decoder.embeddings.word_embeddings(tokens) * math.sqrt(model.config.d_model)
    attention = layer.self_attn
    normed = layer.self_attn_layer_norm(x)
    weights = torch.softmax(four_term_scores(attention, normed, None, decoder.global_bias), dim=-1)  # (B, H, T, T)
    value = attention.qkv_proj(normed).view(2, 6, 3, attention.num_heads, attention.head_dim)[:, :, 2]
    heads = torch.einsum("bhij,bjhd->bihd", weights, value).reshape(2, 6, -1)
    x = x + attention.out_proj(heads)
    ffn = layer.feed_forward
    x = x + ffn.fc2(torch.relu(ffn.fc1(layer.ffn_layer_norm(x))))
    expected = x @ decoder.embeddings.word_embeddings.weight.T + model.lm_head.bias
    torch.testing.assert_close(model(tokens).logits, expected, atol=1e-5, rtol=1e-5)
    # the GPT-2 style stack (the default) differs exactly by the final LayerNorm
    with_norm = xl_model(decoder_layers=1, normalize_before=True, attn_implementation="eager", lm_head_bias=True,
                         attention_bias=False)
    with_norm.load_state_dict(model.state_dict(), strict=False)
    final = with_norm.model.decoder.final_layer_norm
    torch.testing.assert_close(with_norm(tokens).logits,
                               final(x) @ decoder.embeddings.word_embeddings.weight.T + model.lm_head.bias,
                               atol=1e-5, rtol=1e-5)


def test_final_layer_norm_is_saved_in_the_config_and_the_weights(tmp_path):
    model = xl_model(normalize_before=True, final_layer_norm=False, same_length=True)
    model.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert (loaded.config.final_layer_norm, loaded.config.same_length) == (False, True)
    assert not any("final_layer_norm" in name for name in loaded.state_dict())
    tokens = ids()
    assert torch.equal(loaded(tokens).logits, model(tokens).logits)
    assert TobigsConfig.from_dict(model.config.to_dict()).final_layer_norm is False


def test_final_layer_norm_applies_to_pre_ln_encoders_too():
    config = tiny_config("bert-base", normalize_before=True, final_layer_norm=False)
    from tobigs_transformer import TobigsModel

    assert TobigsModel(config).encoder.final_layer_norm is None
    assert TobigsModel(tiny_config("bert-base", normalize_before=True)).encoder.final_layer_norm is not None


# ---- same-length attention ------------------------------------------------------------------------------------------

def authors_same_length_mask(q_length: int, memory_length: int, mem_len: int) -> torch.Tensor:
    """mem_transformer.py MemTransformerLM._forward, same_length=True: True where attention is masked, (T, M + T)."""
    k_length = memory_length + q_length
    ones = torch.ones(q_length, k_length)
    mask_len = k_length - mem_len
    mask_shift_len = q_length - mask_len if mask_len > 0 else q_length
    return (torch.triu(ones, 1 + memory_length) + torch.tril(ones, -mask_shift_len)).bool()


@pytest.mark.parametrize("mem_len", [3, 5, 8])
def test_same_length_renormalises_the_scores_over_the_authors_window(mem_len):
    """Layer 0 reads the same inputs with and without same_length, so its weights with it are the weights without it
    restricted to the authors' mask and renormalised."""
    plain = xl_model(mem_len=mem_len, attn_implementation="eager")
    same = xl_model(mem_len=mem_len, same_length=True, attn_implementation="eager")
    same.load_state_dict(plain.state_dict())
    first, second = ids(length=5, seed=2), ids(length=5, seed=3)
    memory_length = min(mem_len, 5)
    weights = {}
    for name, model in (("plain", plain), ("same", same)):
        weights[name] = model(second, mems=model(first).mems, output_attentions=True).attentions[0]
    allowed = ~authors_same_length_mask(5, memory_length, mem_len)  # (T, M + T)
    restricted = weights["plain"] * allowed
    torch.testing.assert_close(weights["same"], restricted / restricted.sum(-1, keepdim=True), atol=1e-6, rtol=1e-5)
    seen = (weights["same"][0, 0] > 0).sum(-1)  # (T,) keys per query
    assert torch.equal(seen, allowed.sum(-1))
    if memory_length == mem_len:  # a full memory: the first query of the segment sees as many tokens as the last
        assert seen.tolist() == [mem_len] * 5


@pytest.mark.parametrize("mem_len", [4, 16])
def test_same_length_sdpa_equals_eager_over_segments(mem_len):
    models = [xl_model(mem_len=mem_len, same_length=True, attn_implementation=a) for a in ("eager", "sdpa")]
    outputs = []
    for model in models:
        mems, logits = None, []
        for seed in (2, 3, 4):
            out = model(ids(length=6, seed=seed), mems=mems)
            mems = out.mems
            logits.append(out.logits)
        outputs.append(torch.cat(logits, dim=1))
    torch.testing.assert_close(*outputs, atol=1e-5, rtol=1e-5)
    differs = xl_model(mem_len=mem_len, attn_implementation="eager")
    assert (differs(ids(length=6, seed=2)).logits - models[0](ids(length=6, seed=2)).logits).abs().max() > 1e-4 or \
        mem_len >= 6  # a first segment no longer than mem_len is not restricted


@pytest.mark.parametrize("settings", [dict(do_sample=False), dict(do_sample=True, top_k=5)])
def test_same_length_generate_with_the_cache_equals_without(settings):
    """In generation every new token sees itself and the mem_len - 1 tokens before it, cached or recomputed."""
    model = xl_model(mem_len=4, same_length=True)
    tokens = ids(length=9)
    context = model(tokens[:, :5]).mems
    runs = []
    for use_cache in (True, False):  # (beam search without a cache cannot be given mems: transformers refuses it)
        torch.manual_seed(7)
        runs.append(model.generate(tokens[:, 5:], attention_mask=torch.ones_like(tokens[:, 5:]), mems=context,
                                   max_new_tokens=6, use_cache=use_cache, **settings))
    assert torch.equal(*runs)


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


def test_training_drops_r_and_the_output_as_the_authors():
    """In training, R (once per forward, every layer reads the same dropped encodings) and the stack's output are
    dropped with config.dropout, as the authors' `self.drop(pos_emb)` and `self.drop(core_out)`; in evaluation
    neither is. (Equality with their code under one seed: scripts/compare_xl_reference.py, training-mode rows.)"""
    model = xl_model(dropout=0.5, activation_dropout=0.0)
    seen = []
    for layer in model.model.decoder.layers:
        layer.self_attn.position_proj.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    model.train()
    out = model.model(ids(), mems=None)
    assert len(seen) == len(model.model.decoder.layers) and all(r is seen[0] for r in seen)
    zeros = (seen[0] == 0).float().mean().item()
    assert 0.35 < zeros < 0.65  # R itself has no exact zeros except sin(0) in row 0: this is the dropout
    assert 0.35 < (out.last_hidden_state == 0).float().mean().item() < 0.65
    model.model.decoder.output_dropout.p = 0.0
    torch.manual_seed(0)
    assert (model.model(ids()).last_hidden_state == 0).float().mean().item() < 0.01

    seen.clear()
    model.eval()
    with torch.no_grad():
        out = model.model(ids())
    assert (seen[0] == 0).float().mean().item() < 0.05 and not (out.last_hidden_state == 0).any()
    assert TobigsForCausalLM(tiny_config("gpt2")).model.decoder.position_dropout is None  # XL only
