"""generate(): the KV cache (dynamic and static) changes nothing but speed; the encoder runs once; left padding."""

import pytest
import torch
from tiny import tiny_config

from tobigs_transformer import TobigsForCausalLM, TobigsForConditionalGeneration

CASES = [("gpt2", TobigsForCausalLM), ("gpt", TobigsForCausalLM), ("transformer-base", TobigsForConditionalGeneration),
         ("bart-base", TobigsForConditionalGeneration)]


def _model(preset, cls):
    model = cls(tiny_config(preset)).eval()
    # Random models emit EOS early; forbid it so every step is compared.
    model.generation_config.suppress_tokens = [model.config.eos_token_id]
    return model


@pytest.mark.parametrize("preset, cls", CASES)
def test_incremental_decoding_equals_full_forward(preset, cls):
    model = _model(preset, cls)
    ids = torch.randint(3, 98, (2, 8))
    with torch.no_grad():
        if cls is TobigsForCausalLM:
            full = model(ids).logits
            out = model(ids[:, :5], use_cache=True)
            step = model(ids[:, 5:], cache=out.cache, use_cache=True).logits
            torch.testing.assert_close(torch.cat([out.logits, step], 1), full, rtol=1e-5, atol=1e-5)
        else:
            source = torch.randint(3, 98, (2, 6))
            full = model(source, decoder_input_ids=ids).logits
            encoder_outputs = model.get_encoder()(source)
            cache, pieces = None, []
            for t in range(8):  # one token at a time, as generate does
                out = model(encoder_outputs=encoder_outputs, decoder_input_ids=ids[:, t : t + 1], cache=cache,
                            use_cache=True)
                cache = out.cache
                pieces.append(out.logits)
            torch.testing.assert_close(torch.cat(pieces, 1), full, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("preset, cls", CASES)
@pytest.mark.parametrize("mode", [dict(do_sample=False), dict(num_beams=3, length_penalty=0.6)])
def test_generate_same_tokens_with_and_without_cache(preset, cls, mode):
    model = _model(preset, cls)
    prompt = torch.randint(3, 98, (2, 6))
    kwargs = dict(max_new_tokens=10, min_new_tokens=10, **mode)
    dynamic = model.generate(prompt, **kwargs)
    no_cache = model.generate(prompt, use_cache=False, **kwargs)
    static = model.generate(prompt, cache_implementation="static", **kwargs)
    assert torch.equal(dynamic, no_cache)
    assert torch.equal(dynamic, static)
    assert dynamic.shape[1] >= 10


@pytest.mark.parametrize("preset, cls", CASES[:1] + CASES[2:3])
def test_sampling_is_seeded_and_respects_top_k(preset, cls):
    model = _model(preset, cls)
    prompt = torch.randint(3, 98, (1, 4))
    kwargs = dict(max_new_tokens=8, do_sample=True, top_k=5, top_p=0.9, temperature=0.8)
    torch.manual_seed(1)
    first = model.generate(prompt, **kwargs)
    torch.manual_seed(1)
    assert torch.equal(first, model.generate(prompt, **kwargs))
    # top_k=1 sampling is greedy decoding.
    greedy = model.generate(prompt, max_new_tokens=8, do_sample=False)
    assert torch.equal(model.generate(prompt, max_new_tokens=8, do_sample=True, top_k=1), greedy)


def test_left_padded_batch_equals_each_prompt_alone():
    model = _model("gpt2", TobigsForCausalLM)
    pad = model.config.pad_token_id
    prompts = [torch.randint(3, 98, (n,)) for n in (6, 3, 5)]
    width = max(len(p) for p in prompts)
    ids = torch.stack([torch.cat([torch.full((width - len(p),), pad), p]) for p in prompts])
    mask = torch.stack([torch.cat([torch.zeros(width - len(p)), torch.ones(len(p))]) for p in prompts]).long()
    for mode in (dict(do_sample=False), dict(num_beams=2)):
        batched = model.generate(ids, attention_mask=mask, max_new_tokens=6, pad_token_id=pad, **mode)
        for row, p in enumerate(prompts):
            alone = model.generate(p[None], max_new_tokens=6, pad_token_id=pad, **mode)
            assert batched[row, width:].tolist() == alone[0, len(p) :].tolist()


def test_encoder_runs_once_per_generate():
    model = _model("transformer-base", TobigsForConditionalGeneration)
    calls = []
    model.model.encoder.register_forward_hook(lambda *args: calls.append(1))
    model.generate(torch.randint(3, 98, (2, 6)), max_new_tokens=7, num_beams=2)
    assert len(calls) == 1


def test_cross_attention_keys_are_computed_once():
    model = _model("bart-base", TobigsForConditionalGeneration)
    calls = []
    model.model.decoder.layers[0].cross_attn.kv_proj.register_forward_hook(lambda *args: calls.append(1))
    model.generate(torch.randint(3, 98, (1, 6)), max_new_tokens=6, min_new_tokens=6)
    assert len(calls) == 1


# Compiling the whole static-cache generation takes 11-15 s per family on 2 cores: slow (the default run keeps
# test_compiled_decode.py, which compiles the static-cache decode step of gpt2 and bart-base).
@pytest.mark.slow
@pytest.mark.parametrize("preset, cls", [CASES[0]] + CASES[3:])
def test_static_cache_generation_compiles_fullgraph(preset, cls):
    from transformers import CompileConfig

    model = _model(preset, cls)
    prompt = torch.randint(3, 98, (1, 5))
    compile_config = CompileConfig(fullgraph=True, dynamic=False)
    compile_config._compile_all_devices = True  # generate only auto-compiles on accelerators
    eager = model.generate(prompt, max_new_tokens=5, cache_implementation="static")
    compiled = model.generate(prompt, max_new_tokens=5, cache_implementation="static", compile_config=compile_config)
    assert torch.equal(eager, compiled)
    assert hasattr(model, "_compiled_call")  # the decode step really went through torch.compile
