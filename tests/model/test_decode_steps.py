"""The default `generate()` decode steps (issue 22): `TobigsGenerationMixin` prepares them itself and leaves out the
inputs the forward computes alone (masks of only ones, positions counted over them). The tokens and scores must be
those of a plain greedy loop that recomputes the whole sequence without a cache, with and without padding."""

import pytest
import torch

from tests.tiny import tiny_config
from tobigs_transformer import TobigsForCausalLM, TobigsForConditionalGeneration
from tobigs_transformer.model.generation_tobigs import implied_inputs


def greedy_without_cache(model, steps: int, **inputs) -> torch.Tensor:
    """Greedy decoding the long way: the whole sequence through the model at every step, no cache, no generate."""
    seq2seq = model.config.is_encoder_decoder
    ids = (torch.full((inputs["input_ids"].shape[0], 1), model.config.decoder_start_token_id) if seq2seq
           else inputs["input_ids"])
    mask = inputs.get("attention_mask")
    eos = model.generation_config.eos_token_id
    eos = [eos] if isinstance(eos, int) else list(eos or [])
    for _ in range(steps):
        if seq2seq:
            logits = model(**inputs, decoder_input_ids=ids, use_cache=False).logits
        else:
            logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
        scores = logits[:, -1].clone()
        scores[:, eos] = float("-inf")  # as generate's min_new_tokens: no end of sequence before the last step
        ids = torch.cat([ids, scores.argmax(-1, keepdim=True)], dim=1)
        if mask is not None and not seq2seq:
            mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
    return ids


@pytest.mark.parametrize("preset", ["gpt2", "gpt", "ctrl", "bart-base", "transformer-base"])
@pytest.mark.parametrize("padded", [False, True])
def test_generate_matches_a_loop_without_cache(preset, padded):
    torch.manual_seed(0)
    seq2seq = preset.startswith(("bart", "transformer"))
    config = tiny_config(preset)
    model = (TobigsForConditionalGeneration if seq2seq else TobigsForCausalLM)(config).eval()
    ids = torch.randint(3, 90, (2, 6))
    mask = torch.ones_like(ids)
    if padded:  # the second row left-padded (decoder-only) or its source padded (seq2seq)
        mask[1, :2] = 0
        ids[1, :2] = config.pad_token_id or 0
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=5, min_new_tokens=5,
                             do_sample=False, pad_token_id=config.pad_token_id or 0)
        expected = greedy_without_cache(model, 5, input_ids=ids, attention_mask=mask)
    assert torch.equal(out, expected)


def test_implied_inputs_keep_padding_and_given_positions():
    ones = torch.ones(2, 4, dtype=torch.long)
    counted = torch.arange(4).expand(2, 4)
    assert implied_inputs({"attention_mask": ones, "position_ids": counted}, True) == ("attention_mask",
                                                                                          "position_ids")
    padded = ones.clone()
    padded[0, 0] = 0
    # a mask with padding stays, and so do the positions counted over it
    assert implied_inputs({"attention_mask": padded, "position_ids": counted}, True) == ()
    # positions that do not count 0 .. L-1 were given on purpose; a padding-skipping position rule is left alone
    assert implied_inputs({"position_ids": counted + 3}, True) == ()
    assert implied_inputs({"position_ids": counted}, False) == ()
    assert implied_inputs({"decoder_attention_mask": ones.bool()}, True) == ("decoder_attention_mask",)
