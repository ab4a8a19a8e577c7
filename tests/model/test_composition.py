"""Composition with transformers' `EncoderDecoderModel` ("BERT2GPT": Rothe et al. 2020) and BART's decoder alone.

- our encoder-only model as the encoder and our GPT-2 with `add_cross_attention` as the decoder, composed by
  `EncoderDecoderModel.from_encoder_decoder_pretrained` from two saved folders, against transformers' own
  `EncoderDecoderModel(BertModel | RobertaModel, GPT2LMHeadModel(add_cross_attention=True))` holding the same weights
  (converted with the project's converters): loss, logits, greedy and beam tokens;
- `TobigsForCausalLM` over an encoder-decoder config against `BartForCausalLM`, alone and as the decoder;
- save/reload of the composed model, gradients into the cross-attention, and the errors.

Tiny random models, fp32, nothing downloaded.
"""

import pytest
import torch
from convert.convert_cases import ATOL, assert_same_state_dict, randomize_, right_padded, tiny_hf
from tiny import tiny_config
from transformers import BartForCausalLM, EncoderDecoderModel, GPT2LMHeadModel

from tobigs_transformer import (
    TobigsConfig,
    TobigsForCausalLM,
    TobigsForConditionalGeneration,
    TobigsModel,
)
from tobigs_transformer.convert import ConversionError, convert_from_hf, convert_to_hf

DECODER_START, PAD = 98, 0  # GPT-2's tiny <|endoftext|> starts the target; BERT's [PAD] pads it
ENCODER_PRESETS = ["bert-base", "roberta-base"]


def _saved(model, path):
    model.save_pretrained(path)
    return str(path)


def _set_special_ids(model: EncoderDecoderModel, decoder_start: int = DECODER_START, pad: int = PAD):
    model.config.decoder_start_token_id = decoder_start
    model.config.pad_token_id = pad
    return model


@torch.no_grad()
def _randomize_cross_attention(model: torch.nn.Module) -> None:
    """The warm start initialises cross-attention as new weights (std 0.02): make it matter in the outputs."""
    for name, param in model.named_parameters():
        if "cross_attn" in name:
            param.normal_(0.0, 0.2 if param.dim() > 1 else 0.5)
            if name.endswith("norm.weight"):
                param.add_(1.0)


@torch.no_grad()
def _let_the_source_decide(final_layer_norm: torch.nn.LayerNorm) -> None:
    """A random bias on a stack's last LayerNorm is the same vector for every token whatever the source (and, on the
    decoder's, the same score for every row), so greedy search would pick the same tokens for every row: without it
    the generated tokens depend on the encoder output."""
    final_layer_norm.bias.zero_()
    final_layer_norm.weight.fill_(3.0)


def _bert2gpt(tmp_path, encoder_preset: str = "bert-base"):
    """Ours, composed from two saved folders: an encoder-only TobigsModel and a GPT-2 TobigsForCausalLM without
    cross-attention (the warm start adds it). Returns (composed model, saved encoder, saved decoder)."""
    encoder = randomize_(TobigsModel(tiny_config(encoder_preset)).eval())
    decoder = randomize_(TobigsForCausalLM(tiny_config("gpt2")).eval())
    _let_the_source_decide(encoder.encoder.layers[-1].ffn_layer_norm)  # post-LN: the encoder's last LayerNorm
    _let_the_source_decide(decoder.model.decoder.final_layer_norm)
    model = EncoderDecoderModel.from_encoder_decoder_pretrained(
        _saved(encoder, tmp_path / "encoder"), _saved(decoder, tmp_path / "decoder")
    )
    _randomize_cross_attention(model)
    return _set_special_ids(model, pad=encoder.config.pad_token_id).eval(), encoder, decoder


def _hf_twin(ours: EncoderDecoderModel, pad: int = PAD, decoder_start: int = DECODER_START) -> EncoderDecoderModel:
    """transformers' EncoderDecoderModel over the native classes, converted from ours with the project's converters."""
    hf = EncoderDecoderModel(encoder=convert_to_hf(ours.encoder), decoder=convert_to_hf(ours.decoder))
    return _set_special_ids(hf, decoder_start, pad).eval()


def _source(pad: int):
    input_ids, attention_mask = right_padded(3, [7, 5, 3], 3, 98, pad=pad)
    return input_ids, attention_mask


def _labels():
    labels = torch.randint(3, 98, (3, 6))
    labels[1, 4:] = -100  # padded targets: the decoder's mask hides them, the loss skips them
    labels[2, 2:] = -100
    return labels


def _assert_close(a: torch.Tensor, b: torch.Tensor, name: str) -> None:
    assert a.shape == b.shape, name
    diff = (a - b).abs().max().item()
    assert diff < ATOL, f"{name}: max |difference| = {diff}"


def _generate(model, input_ids, attention_mask, **settings):
    # min_new_tokens: a tiny random decoder may pick its end-of-sequence token first and end every row at once.
    return model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=6, min_new_tokens=6,
                          do_sample=False, **settings)


# ---------------------------------------------------------------------------------------------------------------
# 1. BERT2GPT: our encoder + our GPT-2 with cross-attention == transformers' BertModel + GPT2LMHeadModel
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoder_preset", ENCODER_PRESETS)
def test_bert2gpt_matches_transformers(tmp_path, encoder_preset):
    ours, encoder, decoder = _bert2gpt(tmp_path, encoder_preset)
    assert type(ours.encoder) is TobigsModel and type(ours.decoder) is TobigsForCausalLM
    assert ours.decoder.config.add_cross_attention and ours.decoder.config.is_decoder
    # The warm start keeps every pretrained weight and adds only the cross-attention.
    composed = ours.decoder.state_dict()
    assert_same_state_dict(ours.encoder.state_dict(), encoder.state_dict())
    new = sorted(key for key in composed if key not in decoder.state_dict())
    assert new and all(".cross_attn" in key for key in new)
    assert_same_state_dict({k: v for k, v in composed.items() if k not in new}, decoder.state_dict())

    pad = ours.encoder.config.pad_token_id
    hf = _hf_twin(ours, pad=pad)
    assert type(hf.decoder) is GPT2LMHeadModel and hf.decoder.config.add_cross_attention
    input_ids, attention_mask = _source(pad)
    labels = _labels()
    inputs = dict(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
    with torch.no_grad():
        got, expected = ours(**inputs), hf(**inputs)
    _assert_close(got.logits, expected.logits, "logits")
    _assert_close(got.loss, expected.loss, "loss")

    greedy = _generate(ours, input_ids, attention_mask)
    assert greedy.shape == (3, 7) and len(set(map(tuple, greedy.tolist()))) > 1  # the source matters
    assert torch.equal(greedy, _generate(hf, input_ids, attention_mask))
    assert torch.equal(greedy, _generate(ours, input_ids, attention_mask, use_cache=False))
    beams = _generate(ours, input_ids, attention_mask, num_beams=3)
    assert torch.equal(beams, _generate(hf, input_ids, attention_mask, num_beams=3))


def test_gpt2_with_cross_attention_converts_exactly():
    hf = tiny_hf("gpt2", "GPT2LMHeadModel", add_cross_attention=True)
    ours = convert_from_hf(hf)
    assert ours.config.add_cross_attention
    input_ids = torch.randint(3, 98, (2, 5))
    encoder_hidden_states = torch.randn(2, 7, 32)
    encoder_attention_mask = torch.ones(2, 7, dtype=torch.long)
    encoder_attention_mask[1, 4:] = 0
    inputs = dict(input_ids=input_ids, encoder_hidden_states=encoder_hidden_states,
                  encoder_attention_mask=encoder_attention_mask, labels=input_ids)
    with torch.no_grad():
        got, expected = ours(**inputs), hf(**inputs)
    _assert_close(got.logits, expected.logits, "logits")
    _assert_close(got.loss, expected.loss, "loss")
    back = convert_to_hf(ours)
    assert back.config.add_cross_attention
    assert_same_state_dict(back.state_dict(), hf.state_dict())


def test_decoder_with_cross_attention_runs_alone_as_the_plain_decoder():
    """Without encoder_hidden_states the cross-attention sublayers are skipped (as GPT-2's): the decoder computes what
    the same weights without cross-attention compute."""
    plain = randomize_(TobigsForCausalLM(tiny_config("gpt2")).eval())
    crossed = TobigsForCausalLM(tiny_config("gpt2", add_cross_attention=True)).eval()
    missing, unexpected = crossed.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all(".cross_attn" in key for key in missing)
    input_ids = torch.randint(3, 98, (2, 5))
    with torch.no_grad():
        _assert_close(crossed(input_ids).logits, plain(input_ids).logits, "logits")
    assert torch.equal(crossed.generate(input_ids, max_new_tokens=4, do_sample=False),
                       plain.generate(input_ids, max_new_tokens=4, do_sample=False))


def test_encoder_of_another_width_is_projected(tmp_path):
    """EncoderDecoderModel adds its enc_to_dec_proj when the widths differ; the decoder then reads d_model-wide
    states."""
    encoder = TobigsModel(tiny_config("bert-base", d_model=48)).eval()
    decoder = TobigsForCausalLM(tiny_config("gpt2")).eval()
    model = EncoderDecoderModel.from_encoder_decoder_pretrained(
        _saved(encoder, tmp_path / "encoder"), _saved(decoder, tmp_path / "decoder")
    )
    model = _set_special_ids(model).eval()
    assert (model.enc_to_dec_proj.in_features, model.enc_to_dec_proj.out_features) == (48, 32)
    input_ids, attention_mask = _source(PAD)
    out = model(input_ids=input_ids, attention_mask=attention_mask, labels=_labels())
    assert out.logits.shape == (3, 6, 99) and torch.isfinite(out.loss)


# ---------------------------------------------------------------------------------------------------------------
# 2. The decoder of an encoder-decoder config alone: TobigsForCausalLM == BartForCausalLM
# ---------------------------------------------------------------------------------------------------------------


def _encoder_states():
    encoder_hidden_states = torch.randn(2, 7, 32)
    encoder_attention_mask = torch.ones(2, 7, dtype=torch.long)
    encoder_attention_mask[1, 5:] = 0
    return dict(encoder_hidden_states=encoder_hidden_states, encoder_attention_mask=encoder_attention_mask)


def test_bart_causal_lm_matches_transformers():
    hf = tiny_hf("bart", "BartForCausalLM")
    ours = convert_from_hf(hf)
    assert type(ours) is TobigsForCausalLM and ours.model.encoder is None
    assert ours.config.architecture == "encoder-decoder" and not ours.config.is_encoder_decoder
    input_ids = torch.randint(3, 98, (2, 5))
    for extra in ({}, _encoder_states()):
        with torch.no_grad():
            got, expected = ours(input_ids, **extra), hf(input_ids, **extra)
            _assert_close(got.logits, expected.logits, f"logits with {sorted(extra)}")
            # BartForCausalLM scores logits[t] against labels[t] (no shift): our `shift_labels` is that target.
            _assert_close(ours(input_ids, shift_labels=input_ids, **extra).loss,
                          hf(input_ids, labels=input_ids, **extra).loss, "loss")

    settings = dict(max_new_tokens=6, do_sample=False)
    for num_beams in (1, 3):
        assert torch.equal(ours.generate(input_ids, num_beams=num_beams, **settings),
                           hf.generate(input_ids, num_beams=num_beams, **settings))
    # With an encoder output: transformers' BartForCausalLM appends the cross-attention keys to the self-attention
    # cache when generate() gives it a DynamicCache, so its reference is its uncached decoding; ours caches either way.
    extra = _encoder_states()
    expected = hf.generate(input_ids, use_cache=False, **extra, **settings)
    assert torch.equal(ours.generate(input_ids, **extra, **settings), expected)
    assert torch.equal(ours.generate(input_ids, use_cache=False, **extra, **settings), expected)

    back = convert_to_hf(ours)
    assert type(back) is BartForCausalLM
    assert_same_state_dict(back.state_dict(), hf.state_dict())


def test_bart_causal_lm_is_the_seq2seq_models_decoder(tmp_path):
    """TobigsForCausalLM loads the decoder (and LM head) of a saved TobigsForConditionalGeneration and, given the
    encoder's output, computes the seq2seq model's logits."""
    seq2seq = randomize_(TobigsForConditionalGeneration(tiny_config("bart-base")).eval())
    causal = TobigsForCausalLM.from_pretrained(_saved(seq2seq, tmp_path / "bart")).eval()
    assert causal.model.encoder is None and not causal.config.is_encoder_decoder
    expected_state = {k: v for k, v in seq2seq.state_dict().items() if not k.startswith("model.encoder.")}
    assert_same_state_dict(causal.state_dict(), expected_state)

    input_ids, attention_mask = right_padded(2, [7, 5], 3, 98, pad=1, eos=2)
    decoder_input_ids = torch.randint(3, 98, (2, 4))
    with torch.no_grad():
        full = seq2seq(input_ids, attention_mask, decoder_input_ids=decoder_input_ids)
        alone = causal(decoder_input_ids, encoder_hidden_states=full.encoder_last_hidden_state,
                       encoder_attention_mask=attention_mask)
    _assert_close(alone.logits, full.logits, "logits")
    # Saved and reloaded, the causal LM is still the decoder alone.
    reloaded = TobigsForCausalLM.from_pretrained(_saved(causal, tmp_path / "causal"))
    assert reloaded.model.encoder is None
    assert_same_state_dict(reloaded.state_dict(), causal.state_dict())


def _bert2bart(tmp_path) -> EncoderDecoderModel:
    """Ours, composed from two saved folders: an encoder-only TobigsModel and a whole TobigsForConditionalGeneration,
    whose decoder (with its cross-attention) and LM head are taken."""
    encoder = randomize_(TobigsModel(tiny_config("bert-base")).eval())
    bart = randomize_(TobigsForConditionalGeneration(tiny_config("bart-base")).eval())
    with torch.no_grad():
        bart.lm_head.bias.zero_()  # BartForCausalLM has no output bias (BART's final_logits_bias starts at zero)
    ours = EncoderDecoderModel.from_encoder_decoder_pretrained(
        _saved(encoder, tmp_path / "bert"), _saved(bart, tmp_path / "bart")
    )
    return _set_special_ids(ours, decoder_start=2, pad=PAD).eval()


def test_bart_decoder_in_encoder_decoder_model(tmp_path):
    """BERT2BART: our BERT and the decoder of our BART, composed from two folders, == transformers' BertModel +
    BartForCausalLM."""
    ours = _bert2bart(tmp_path)
    assert type(ours.decoder) is TobigsForCausalLM and ours.decoder.model.encoder is None
    hf = _hf_twin(ours, pad=PAD, decoder_start=2)
    assert type(hf.decoder) is BartForCausalLM
    input_ids, attention_mask = _source(PAD)
    inputs = dict(input_ids=input_ids, attention_mask=attention_mask, labels=_labels())
    with torch.no_grad():
        got, expected = ours(**inputs), hf(**inputs)
    _assert_close(got.logits, expected.logits, "logits")
    _assert_close(got.loss, expected.loss, "loss")
    greedy = _generate(ours, input_ids, attention_mask)
    assert torch.equal(greedy, _generate(hf, input_ids, attention_mask))
    assert torch.equal(greedy, _generate(ours, input_ids, attention_mask, use_cache=False))


# ---------------------------------------------------------------------------------------------------------------
# 3. Save/reload of the composed model; gradients reach the cross-attention
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("decoder", ["gpt2", "bart"])
def test_composed_model_round_trip(tmp_path, decoder):
    ours = _bert2gpt(tmp_path)[0] if decoder == "gpt2" else _bert2bart(tmp_path)
    reloaded = EncoderDecoderModel.from_pretrained(_saved(ours, tmp_path / "composed")).eval()
    assert type(reloaded.encoder) is TobigsModel and type(reloaded.decoder) is TobigsForCausalLM
    assert reloaded.decoder.config.add_cross_attention
    assert reloaded.decoder.model.encoder is None
    assert reloaded.config.decoder_start_token_id == ours.config.decoder_start_token_id
    assert_same_state_dict(reloaded.state_dict(), ours.state_dict())
    input_ids, attention_mask = _source(PAD)
    inputs = dict(input_ids=input_ids, attention_mask=attention_mask, labels=_labels())
    with torch.no_grad():
        _assert_close(reloaded(**inputs).logits, ours(**inputs).logits, "logits")
    assert torch.equal(_generate(reloaded, input_ids, attention_mask), _generate(ours, input_ids, attention_mask))


def test_gradient_flows_into_cross_attention(tmp_path):
    ours, _, _ = _bert2gpt(tmp_path)
    ours.train()
    input_ids, attention_mask = _source(PAD)
    ours(input_ids=input_ids, attention_mask=attention_mask, labels=_labels()).loss.backward()
    cross = {name: p.grad for name, p in ours.decoder.named_parameters() if ".cross_attn" in name}
    assert len(cross) == 2 * 8  # q, kv, out (weight + bias) and the LayerNorm, in each of 2 layers
    for name, grad in cross.items():
        assert grad is not None and grad.abs().sum() > 0, name
    # ... and through it into the encoder.
    encoder_grad = ours.encoder.encoder.layers[-1].feed_forward.fc2.weight.grad
    assert encoder_grad is not None and encoder_grad.abs().sum() > 0


# ---------------------------------------------------------------------------------------------------------------
# 4. Errors
# ---------------------------------------------------------------------------------------------------------------


def test_add_cross_attention_on_an_encoder_only_config_raises():
    with pytest.raises(ValueError, match="add_cross_attention=True needs a decoder, and architecture='encoder-only' "
                                         "has none"):
        tiny_config("bert-base", add_cross_attention=True)
    # transformers' EncoderDecoderModel sets these on a loaded config; the model built from it refuses them.
    config = tiny_config("bert-base")
    config.is_decoder = True
    with pytest.raises(ValueError, match=r"is_decoder=True \(a causal BERT, transformers' BertLMHeadModel\) is not "
                                         "supported for architecture='encoder-only'"):
        TobigsModel(config)


def test_add_cross_attention_on_transformer_xl_raises():
    with pytest.raises(ValueError, match="add_cross_attention=True is not supported with "
                                         "position_embedding_type='relative'"):
        tiny_config("transformer-xl", add_cross_attention=True)


def test_cross_attention_of_another_width_raises():
    config = tiny_config("gpt2", add_cross_attention=True)
    config.cross_attention_hidden_size = 48
    with pytest.raises(ValueError, match="cross_attention_hidden_size=48 is not supported.*d_model=32"):
        TobigsForCausalLM(config)


def test_encoder_only_folder_as_the_decoder_raises(tmp_path):
    folder = _saved(TobigsModel(tiny_config("bert-base")), tmp_path / "bert")
    with pytest.raises(ValueError, match="add_cross_attention=True needs a decoder, and architecture='encoder-only'"):
        EncoderDecoderModel.from_encoder_decoder_pretrained(folder, folder)


def test_encoder_hidden_states_without_cross_attention_raise():
    model = TobigsForCausalLM(tiny_config("gpt2")).eval()
    with pytest.raises(ValueError, match="encoder_hidden_states were given, but this decoder has no cross-attention "
                                         "to read them"):
        model(torch.randint(3, 98, (2, 5)), encoder_hidden_states=torch.randn(2, 7, 32))


def test_encoder_hidden_states_of_another_width_raise():
    model = TobigsForCausalLM(tiny_config("gpt2", add_cross_attention=True)).eval()
    with pytest.raises(ValueError, match="encoder_hidden_states are 48 wide but the decoder's cross-attention takes "
                                         "d_model=32"):
        model(torch.randint(3, 98, (2, 5)), encoder_hidden_states=torch.randn(2, 7, 48))


def test_encoder_inputs_to_a_model_with_its_own_encoder_raise():
    model = TobigsModel(tiny_config("bart-base")).eval()
    with pytest.raises(ValueError, match="are the input of a decoder without an encoder of its own, not of "
                                         "'encoder-decoder'"):
        model(torch.randint(3, 98, (2, 5)), encoder_hidden_states=torch.randn(2, 7, 32))


def test_encoder_attention_mask_alone_raises():
    model = TobigsForCausalLM(tiny_config("gpt2", add_cross_attention=True)).eval()
    with pytest.raises(ValueError, match="encoder_attention_mask was given without encoder_hidden_states"):
        model(torch.randint(3, 98, (2, 5)), encoder_attention_mask=torch.ones(2, 7))


def test_bart_causal_lm_with_a_trained_output_bias_does_not_export():
    model = TobigsForCausalLM(tiny_config("bart-base"))
    with torch.no_grad():
        model.lm_head.bias[3] = 0.5
    with pytest.raises(ConversionError, match="LM head bias .* holds non-zero values"):
        convert_to_hf(model)


def test_causal_lm_config_has_the_flag_in_its_saved_config(tmp_path):
    config = tiny_config("gpt2", add_cross_attention=True)
    model = TobigsForCausalLM(config)
    reloaded = TobigsConfig.from_pretrained(_saved(model, tmp_path / "gpt2"))
    assert reloaded.add_cross_attention and reloaded.has_cross_attention
