"""Invariants every family must keep: causality, padding invariance, and equality of the attention kernels."""

import pytest
import torch
from tiny import FAMILY_PRESETS, tiny_config

from tobigs_transformer import (
    TobigsForCausalLM,
    TobigsForConditionalGeneration,
    TobigsForMaskedLM,
    TobigsModel,
)

MODEL_FOR = {
    "transformer-base": TobigsForConditionalGeneration,
    "bart-base": TobigsForConditionalGeneration,
    "gpt": TobigsForCausalLM,
    "gpt2": TobigsForCausalLM,
    "bert-base": TobigsForMaskedLM,
}


def _inputs(preset, batch=2, length=9, target_length=7, mask=None):
    ids = torch.randint(3, 98, (batch, length))
    inputs = {"input_ids": ids}
    if mask is not None:
        inputs["attention_mask"] = mask
    if MODEL_FOR[preset] is TobigsForConditionalGeneration:
        inputs["decoder_input_ids"] = torch.randint(3, 98, (batch, target_length))
    return inputs


# Flex attention compiles for every mask (7-34 s per preset on 2 cores): every preset runs with the slow tests.
@pytest.mark.slow
@pytest.mark.parametrize("preset", FAMILY_PRESETS)
def test_eager_sdpa_and_flex_agree(preset):
    model = MODEL_FOR[preset](tiny_config(preset)).eval()
    mask = torch.ones(2, 9, dtype=torch.long)
    mask[0, 6:] = 0  # right padding in the first row
    inputs = _inputs(preset, mask=mask)
    logits = {}
    with torch.no_grad():
        for impl in ("eager", "sdpa", "flex_attention"):
            model.set_attn_implementation(impl)
            logits[impl] = model(**inputs).logits
    real = mask.bool() if MODEL_FOR[preset] is not TobigsForConditionalGeneration else torch.ones(2, 7, dtype=bool)
    for impl in ("sdpa", "flex_attention"):
        torch.testing.assert_close(logits[impl][real], logits["eager"][real], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("preset", ["gpt", "gpt2", "transformer-base", "bart-base"])
@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_decoder_is_causal(preset, impl):
    model = MODEL_FOR[preset](tiny_config(preset, attn_implementation=impl)).eval()
    inputs = _inputs(preset)
    key = "decoder_input_ids" if "decoder_input_ids" in inputs else "input_ids"
    changed = {k: v.clone() for k, v in inputs.items()}
    t = 3
    changed[key][:, t + 1 :] = torch.randint(3, 98, changed[key][:, t + 1 :].shape)
    with torch.no_grad():
        before, after = model(**inputs).logits, model(**changed).logits
    torch.testing.assert_close(before[:, : t + 1], after[:, : t + 1], rtol=0, atol=1e-6)
    assert not torch.allclose(before[:, t + 1 :], after[:, t + 1 :])


@pytest.mark.parametrize("preset", FAMILY_PRESETS)
@pytest.mark.parametrize("side", ["right", "left"])
def test_padding_never_changes_real_positions(preset, side):
    model = TobigsModel(tiny_config(preset)).eval()
    ids = torch.randint(3, 98, (1, 6))
    pad = torch.zeros(1, 3, dtype=torch.long) + model.config.pad_token_id
    padded = torch.cat([ids, pad], 1) if side == "right" else torch.cat([pad, ids], 1)
    mask = (torch.arange(9) < 6) if side == "right" else (torch.arange(9) >= 3)
    mask = mask.long()[None]
    real = mask.bool()[0]
    with torch.no_grad():
        if model.config.is_encoder_decoder:
            target = torch.randint(3, 98, (1, 5))
            alone = model(input_ids=ids, decoder_input_ids=target).last_hidden_state
            batched = model(input_ids=padded, attention_mask=mask, decoder_input_ids=target).last_hidden_state
            torch.testing.assert_close(batched, alone, rtol=1e-5, atol=1e-5)
            enc_alone = model.encoder(ids).last_hidden_state
            enc_padded = model.encoder(padded, attention_mask=mask).last_hidden_state
            torch.testing.assert_close(enc_padded[:, real], enc_alone, rtol=1e-5, atol=1e-5)
        else:
            alone = model(input_ids=ids).last_hidden_state
            batched = model(input_ids=padded, attention_mask=mask).last_hidden_state
            torch.testing.assert_close(batched[:, real], alone, rtol=1e-5, atol=1e-5)


def test_fully_padded_row_gives_no_nan():
    model = TobigsForMaskedLM(tiny_config("bert-base")).eval()
    ids = torch.randint(3, 98, (2, 5))
    mask = torch.tensor([[1, 1, 1, 1, 1], [0, 0, 0, 0, 0]])
    for impl in ("eager", "sdpa"):
        model.set_attn_implementation(impl)
        with torch.no_grad():
            assert torch.isfinite(model(ids, attention_mask=mask).logits).all()
