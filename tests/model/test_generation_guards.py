"""generate() refuses, before the first decode step, what would decode something else than asked: a Transformer-XL
memory of another batch than the prompts (it was copied into every row) and a prompt + max_new_tokens past the
position table.  The limits are exact: the last position the table holds is used, relative positions have none, and
a memory of the prompts' batch still serves beams and returned sequences."""

import pytest
import torch
from tiny import tiny_config

import tobigs_transformer as tt
from tobigs_transformer.model.generation_tobigs import position_limit


def ids(*shape, seed=0):
    return torch.randint(3, 98, shape, generator=torch.Generator().manual_seed(seed))


def causal(preset="gpt2", **overrides):
    torch.manual_seed(0)
    return tt.TobigsForCausalLM(tiny_config(preset, **overrides)).eval()


def seq2seq(preset="bart-base"):
    torch.manual_seed(0)
    return tt.TobigsForConditionalGeneration(tiny_config(preset)).eval()


def forwards(model):
    """A list that gets one entry per forward of ``model`` (each prefill or decode step)."""
    calls = []
    model.register_forward_pre_hook(lambda module, args: calls.append(1))
    return calls


@pytest.mark.parametrize("positions", ["learned", "sinusoidal", "rotary"])
def test_a_prompt_may_use_the_last_position_and_not_one_more(positions):
    model = causal(position_embedding_type=positions)
    assert position_limit(model.get_decoder()) == model.config.max_position_embeddings == 64
    # 60 + 5: the fifth new token is predicted from position 63, the last row of the table
    out = model.generate(ids(1, 60), max_new_tokens=5, min_new_tokens=5, suppress_tokens=[98])
    assert out.shape == (1, 65)
    calls = forwards(model)
    with pytest.raises(ValueError) as info:
        model.generate(ids(1, 60), max_new_tokens=6)
    assert str(info.value) == (
        "generate(): prompt length 60 + max_new_tokens 6 exceeds max_position_embeddings=64: decoding would feed "
        "positions up to 64 (the last new token is never fed back), the position table holds 0 .. 63; ask for at "
        "most max_new_tokens=5")
    assert calls == []  # refused before the prompt's forward
    with pytest.raises(ValueError, match="max_new_tokens 10 .* ask for at most max_new_tokens=5"):
        model.generate(ids(1, 60), max_length=70)  # max_length counts the prompt: the same 10 new tokens
    with pytest.raises(ValueError, match="prompt length 65 .* shorten the prompt to at most 64 tokens"):
        model.generate(ids(1, 65), max_new_tokens=1)


def test_relative_positions_are_not_limited():
    model = causal("transformer-xl", mem_len=8)
    assert position_limit(model.get_decoder()) is None
    out = model.generate(ids(1, 60), max_new_tokens=20, min_new_tokens=20, suppress_tokens=[98])
    assert out.shape == (1, 80)  # past max_position_embeddings=64, which relative positions do not read


def test_seq2seq_decoder_and_source_limits():
    model = seq2seq()
    limit = model.config.max_position_embeddings
    eos = model.config.eos_token_id
    # the decoder starts from one token: 1 + limit new tokens feed positions 0 .. limit - 1
    assert model.generate(ids(1, 5), max_new_tokens=limit, min_new_tokens=limit,
                          suppress_tokens=[eos]).shape == (1, limit + 1)
    calls = forwards(model)
    with pytest.raises(ValueError, match=rf"decoder prompt \(decoder_input_ids\) length 1 \+ max_new_tokens "
                                         rf"{limit + 1} exceeds max_position_embeddings={limit}"):
        model.generate(ids(1, 5), max_new_tokens=limit + 1)
    assert calls == []
    assert model.generate(ids(1, limit), max_new_tokens=2).shape[0] == 1  # a source of exactly `limit` tokens fits
    encoder_calls = forwards(model.get_encoder())
    with pytest.raises(ValueError) as info:
        model.generate(ids(1, limit + 1), max_new_tokens=2)
    assert str(info.value) == (
        f"generate() got a source of {limit + 1} tokens (inputs of shape (1, {limit + 1})), which exceeds the "
        f"encoder's max_position_embeddings={limit}; truncate the source to at most {limit} tokens (e.g. the "
        "tokenizer's truncation=True, max_length=...)")
    assert encoder_calls == []


def test_memory_of_one_stream_is_not_copied_into_a_batch_of_prompts():
    model = causal("transformer-xl", mem_len=8)
    memory, two_streams = model(ids(1, 6, seed=1)).mems, model(ids(2, 6)).mems
    calls = forwards(model)
    with pytest.raises(ValueError) as info:
        model.generate(ids(2, 3), mems=memory, max_new_tokens=2)
    assert str(info.value) == (
        "generate() got mems for a batch of 1 stream(s) but 2 prompt(s): row b of the memory is the context before "
        "prompt b, so the two batch sizes must match; to give every prompt the memory of one stream, expand it "
        "yourself: mems = tuple(m.expand(2, -1, -1) for m in mems)")
    with pytest.raises(ValueError, match="a batch of 2 stream"):
        model.generate(mems=two_streams, max_new_tokens=2)  # no prompt: one row from bos
    assert calls == []
    # broadcast on purpose: every row decodes as it does alone with that memory
    prompts = ids(2, 3, seed=2)
    both = model.generate(prompts, mems=tuple(m.expand(2, -1, -1) for m in memory), max_new_tokens=4)
    for b in range(2):
        assert torch.equal(both[b], model.generate(prompts[b : b + 1], mems=memory, max_new_tokens=4)[0])


def test_memory_of_the_prompts_batch_still_serves_beams_and_returned_sequences():
    model = causal("transformer-xl", mem_len=8)
    memory = model(ids(2, 6, seed=1)).mems
    prompts = ids(2, 3, seed=2)
    greedy = model.generate(prompts, mems=memory, max_new_tokens=4)
    for b in range(2):  # row b decodes with memory row b
        alone = model.generate(prompts[b : b + 1], mems=tuple(m[b : b + 1] for m in memory), max_new_tokens=4)
        assert torch.equal(greedy[b], alone[0])
    assert model.generate(prompts, mems=memory, max_new_tokens=4, num_beams=3).shape == (2, 7)
    torch.manual_seed(0)
    sampled = model.generate(prompts, mems=memory, max_new_tokens=4, do_sample=True, num_return_sequences=3)
    assert sampled.shape == (6, 7)
    assert torch.equal(sampled[:3, :3], prompts[:1].expand(3, -1))  # the returned sequences of prompt 0 come first
