"""Issue 22's leaner training step: each memory saving gives the plain path's loss and gradients.

- `residual_dropout` (torch.native_dropout, one-byte mask) against nn.Dropout: the same output and gradient, bit for
  bit, under the same seed;
- `ActivationThenLinear` (the FFN's activation recomputed in backward) against autograd's linear(activation(h));
- every `config.activation_checkpointing` value against "none", with dropout on under a fixed seed (the checkpoint
  restores the random state, so the recompute draws the same masks) and with dropout off, for the post-LN
  encoder-decoders (the paper's Transformer, BART, Marian), the pre-LN one (Pegasus) and GPT-2;
- the field's round trip through save/load and its error.
"""

import pytest
import torch
from torch import nn

from tests.tiny import tiny_config
from tobigs_transformer import TobigsConfig, TobigsForCausalLM, TobigsForConditionalGeneration
from tobigs_transformer.model.configuration_tobigs import ACTIVATION_CHECKPOINTING
from tobigs_transformer.model.feed_forward import ActivationThenLinear, get_activation
from tobigs_transformer.model.layers import residual_dropout

TOL = {"rtol": 0, "atol": 1e-5}


def test_residual_dropout_is_nn_dropout_bit_for_bit():
    x = torch.randn(4, 7, 16)
    y = torch.randn(4, 7, 16, requires_grad=True)
    dropout = nn.Dropout(0.3).train()
    torch.manual_seed(5)
    plain = x + dropout(y)
    (plain_grad,) = torch.autograd.grad(plain.pow(2).sum(), y)
    torch.manual_seed(5)
    fused = residual_dropout(x, y, dropout)
    (fused_grad,) = torch.autograd.grad(fused.pow(2).sum(), y)
    assert torch.equal(plain, fused)
    assert torch.equal(plain_grad, fused_grad)
    assert 0 < (fused - x == 0).float().mean() < 0.6  # some, not all, positions dropped
    assert torch.equal(residual_dropout(x, y, dropout.eval()), x + y)


@pytest.mark.parametrize("name", ["gelu", "gelu_new", "silu"])
def test_activation_then_linear_matches_autograd(name):
    activation = get_activation(name)
    h = torch.randn(3, 5, 12, dtype=torch.float64, requires_grad=True)
    fc2 = nn.Linear(12, 6).double()
    plain = fc2(activation(h))
    fused = ActivationThenLinear.apply(h, fc2.weight, fc2.bias, activation)
    torch.testing.assert_close(fused, plain, rtol=0, atol=1e-12)
    upstream = torch.randn_like(plain)
    want = torch.autograd.grad(plain, (h, fc2.weight, fc2.bias), upstream)
    got = torch.autograd.grad(fused, (h, fc2.weight, fc2.bias), upstream)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=0, atol=1e-12)
    assert torch.autograd.gradcheck(lambda a, w, b: ActivationThenLinear.apply(a, w, b, activation),
                                    (h.detach()[:1, :2].requires_grad_(), fc2.weight, fc2.bias))


SLOW = pytest.mark.slow
# (preset, model class, dropout): post-LN paper Transformer, BART, Marian (ReLU); pre-LN Pegasus; GPT-2. The default
# suite runs BART and Pegasus with dropout (the harder case); the rest are opt-in (`-m slow`), a few seconds each.
CASES = [
    pytest.param("bart-base", TobigsForConditionalGeneration, 0.1, id="bart-dropout"),
    pytest.param("pegasus-large", TobigsForConditionalGeneration, 0.1, id="pegasus-dropout"),
    pytest.param("bart-base", TobigsForConditionalGeneration, 0.0, id="bart", marks=SLOW),
    pytest.param("transformer-base", TobigsForConditionalGeneration, 0.1, id="transformer-dropout", marks=SLOW),
    pytest.param("transformer-base", TobigsForConditionalGeneration, 0.0, id="transformer", marks=SLOW),
    pytest.param("marian", TobigsForConditionalGeneration, 0.1, id="marian-dropout", marks=SLOW),
    pytest.param("pegasus-large", TobigsForConditionalGeneration, 0.0, id="pegasus", marks=SLOW),
    pytest.param("gpt2", TobigsForCausalLM, 0.1, id="gpt2-dropout", marks=SLOW),
]


def _loss_and_grads(preset, cls, setting, dropout, activation_dropout=0.0):
    config = tiny_config(preset, dropout=dropout, attention_dropout=dropout, activation_dropout=activation_dropout,
                         activation_checkpointing=setting, loss_chunk_size=16)
    torch.manual_seed(0)
    model = cls(config).train()
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, 90, (2, 11), generator=g)
    batch = {"input_ids": ids, "labels": ids}
    if cls is TobigsForConditionalGeneration:
        batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids),
                 "labels": torch.randint(3, 90, (2, 9), generator=g)}
    torch.manual_seed(123)
    loss = model(**batch).loss
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("preset,cls,dropout", CASES)
def test_every_checkpointing_setting_equals_the_plain_path(preset, cls, dropout):
    loss, grads = _loss_and_grads(preset, cls, "none", dropout)
    for setting in ACTIVATION_CHECKPOINTING[1:]:
        other_loss, other_grads = _loss_and_grads(preset, cls, setting, dropout)
        torch.testing.assert_close(other_loss, loss, **TOL, msg=f"{preset} {setting}")
        assert other_grads.keys() == grads.keys()
        for name, grad in grads.items():
            torch.testing.assert_close(other_grads[name], grad, **TOL, msg=f"{preset} {setting} {name}")


@SLOW
def test_ffn_activation_with_activation_dropout_keeps_the_plain_path():
    # activation dropout sits between the activation and W_2: the fused op does not apply and the result is unchanged
    loss, grads = _loss_and_grads("bart-base", TobigsForConditionalGeneration, "none", 0.1, activation_dropout=0.2)
    other, other_grads = _loss_and_grads("bart-base", TobigsForConditionalGeneration, "ffn_activation", 0.1,
                                         activation_dropout=0.2)
    torch.testing.assert_close(other, loss, **TOL)
    for name, grad in grads.items():
        torch.testing.assert_close(other_grads[name], grad, **TOL, msg=name)


def test_activation_checkpointing_round_trip_and_error(tmp_path):
    config = tiny_config("bart-base", activation_checkpointing="attention")
    config.save_pretrained(tmp_path)
    assert TobigsConfig.from_pretrained(tmp_path).activation_checkpointing == "attention"
    with pytest.raises(ValueError, match=r"activation_checkpointing='attn' is not supported; choose one of 'none'"):
        tiny_config("bart-base", activation_checkpointing="attn")
