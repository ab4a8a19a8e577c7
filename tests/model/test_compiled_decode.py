"""Compiled decoding on CPU (issue 14, item 3): an explicit `compile_config` with the static cache compiles the
decode step on CPU too (transformers does so only on accelerators), as one graph, with the same tokens as eager
decoding; without it, or with `disable_compile=True`, the CPU decodes eagerly as in transformers."""

import pytest
import torch
from tiny import tiny_config
from torch._dynamo.utils import counters
from transformers import CompileConfig

from tobigs_transformer import TobigsForCausalLM, TobigsForConditionalGeneration

CASES = [("gpt2", TobigsForCausalLM), ("bart-base", TobigsForConditionalGeneration)]
STATIC = dict(max_new_tokens=8, min_new_tokens=8, cache_implementation="static")
# aot_eager traces the decode step exactly as inductor does (dynamo + AOT autograd) but skips C++ code generation,
# so the fast tests stay within seconds; the inductor tests below are the real thing and marked slow.
TRACE = dict(backend="aot_eager", fullgraph=True)


def _model(preset, cls):
    torch.manual_seed(0)
    model = cls(tiny_config(preset)).eval()
    # Random models emit EOS early; forbid it so every step is compared.
    model.generation_config.suppress_tokens = [model.config.eos_token_id]
    return model


def _graphs() -> int:
    return counters["stats"]["unique_graphs"]


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize("preset, cls", CASES)
def test_compile_config_compiles_the_decode_step_on_cpu_with_the_same_greedy_tokens(preset, cls):
    model = _model(preset, cls)
    prompt = torch.randint(3, 98, (2, 5))
    eager = model.generate(prompt, **STATIC)
    before = _graphs()
    config = CompileConfig(**TRACE)
    compiled = model.generate(prompt, compile_config=config, **STATIC)
    assert _graphs() > before  # fullgraph=True: the decode step traced as one graph, no graph break
    assert torch.equal(compiled, eager)
    assert config._compile_all_devices is None  # the caller's CompileConfig is not changed
    assert model.generation_config.compile_config is None


@pytest.mark.parametrize("preset, cls", CASES)
def test_compiled_sampling_draws_the_same_tokens_for_a_seed(preset, cls):
    model = _model(preset, cls)
    prompt = torch.randint(3, 98, (2, 5))
    sample = dict(do_sample=True, top_k=20, temperature=0.9, **STATIC)
    torch.manual_seed(7)
    eager = model.generate(prompt, **sample)
    before = _graphs()
    torch.manual_seed(7)
    compiled = model.generate(prompt, compile_config=CompileConfig(**TRACE), **sample)
    assert _graphs() > before
    assert torch.equal(compiled, eager)


@pytest.mark.parametrize("preset, cls", CASES)
def test_beam_search_with_compile_config_keeps_its_tokens(preset, cls):
    # transformers compiles no beam-search step; the compile_config must not change what beam search returns
    model = _model(preset, cls)
    prompt = torch.randint(3, 98, (2, 5))
    beam = dict(num_beams=3, length_penalty=0.6, **STATIC)
    assert torch.equal(model.generate(prompt, compile_config=CompileConfig(**TRACE), **beam),
                       model.generate(prompt, **beam))


def test_cpu_decodes_eagerly_without_compile_config_or_with_disable_compile():
    model = _model(*CASES[0])
    prompt = torch.randint(3, 98, (1, 4))
    before = _graphs()
    model.generate(prompt, **STATIC)
    model.generate(prompt, compile_config=CompileConfig(**TRACE), disable_compile=True, **STATIC)
    model.generate(prompt, compile_config=CompileConfig(**TRACE), max_new_tokens=4)  # dynamic cache: not compiled
    assert _graphs() == before
    assert not hasattr(model, "_compiled_call")


def test_compile_config_on_the_model_generation_config_is_the_same_switch():
    model = _model(*CASES[0])
    prompt = torch.randint(3, 98, (1, 4))
    eager = model.generate(prompt, **STATIC)
    model.generation_config.compile_config = CompileConfig(**TRACE)
    before = _graphs()
    assert torch.equal(model.generate(prompt, **STATIC), eager)
    assert _graphs() > before


@pytest.mark.slow
@pytest.mark.parametrize("preset, cls", CASES)
def test_inductor_compiled_decoding_gives_the_eager_tokens(preset, cls):
    # transformers' default CompileConfig (mode "reduce-overhead": no CUDA graphs on CPU) and inductor's default mode
    model = _model(preset, cls)
    prompt = torch.randint(3, 98, (2, 5))
    eager = model.generate(prompt, **STATIC)
    torch.manual_seed(3)
    eager_sample = model.generate(prompt, do_sample=True, top_k=20, **STATIC)
    for config in (CompileConfig(), CompileConfig(mode="default", fullgraph=True)):
        before = _graphs()
        assert torch.equal(model.generate(prompt, compile_config=config, **STATIC), eager)
        assert _graphs() > before
        torch.manual_seed(3)
        assert torch.equal(model.generate(prompt, do_sample=True, top_k=20, compile_config=config, **STATIC),
                           eager_sample)
        torch._dynamo.reset()
