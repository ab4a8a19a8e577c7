"""Behaviours transformers' own test suites check on its models, checked on ours. Each test names the transformers
test it follows: tests/utils/test_deprecation.py, tests/test_modeling_common.py, tests/models/gpt2 and the contract of
transformers' `ForCausalLMLoss` (loss/loss_utils.py) that the Trainer relies on."""

import inspect
import math
import typing

import pytest
import torch
from tiny import tiny_config
from transformers import BartConfig, BartForSequenceClassification, BartModel, GPT2Config, GPT2Model
from transformers.loss.loss_utils import ForCausalLMLoss
from transformers.modeling_outputs import Seq2SeqSequenceClassifierOutput, SequenceClassifierOutput
from transformers.utils import TransformersKwargs

import tobigs_transformer as tt
from tobigs_transformer.convert.gpt2 import config_from_hf
from tobigs_transformer.model.layers import TobigsDecoderLayer, TobigsEncoderLayer
from tobigs_transformer.model.stacks import TobigsDecoder, TobigsEncoder

# ---- `past_key_values`, the deprecated name of `cache` -------------------------------------------------------------
# tests/utils/test_deprecation.py (test_rename_kwarg, test_warnings, test_raises), applied to every forward that takes
# a cache: the old name warns and IS the cache (before, `**kwargs` swallowed it and the step ran without a cache).

GENERATIVE = [
    ("gpt2", tt.TobigsForCausalLM),
    ("gpt2", tt.TobigsModel),
    ("bart-base", tt.TobigsForConditionalGeneration),
    ("transformer-base", tt.TobigsModel),
]


def _prefix(model, ids, source):
    """Run the first 5 target tokens with a cache; returns the cache and the inputs of the 6th step."""
    if model.config.is_encoder_decoder:
        first = model(source, decoder_input_ids=ids[:, :5], use_cache=True)
        return first.cache, dict(encoder_outputs=(first.encoder_last_hidden_state,), decoder_input_ids=ids[:, 5:])
    return model(ids[:, :5], use_cache=True).cache, dict(input_ids=ids[:, 5:])


def _main_output(out):
    return out.logits if hasattr(out, "logits") else out.last_hidden_state


@pytest.mark.parametrize("preset, cls", GENERATIVE, ids=lambda x: getattr(x, "__name__", x))
@torch.no_grad()
def test_rename_kwarg_past_key_values(preset, cls):
    model = cls(tiny_config(preset)).eval()
    ids, source = torch.randint(3, 98, (2, 6)), torch.randint(3, 98, (2, 7))
    cache, step = _prefix(model, ids, source)
    expected = _main_output(model(**step, cache=cache, use_cache=True))
    cache, step = _prefix(model, ids, source)  # the first call extended the cache in place
    with pytest.warns(FutureWarning, match=r"`past_key_values` is deprecated .* Use `cache` instead"):
        got = _main_output(model(**step, past_key_values=cache, use_cache=True))
    torch.testing.assert_close(got, expected)
    # What a swallowed past_key_values gave: the step alone, without the 5 cached tokens.
    assert not torch.allclose(_main_output(model(**step, use_cache=False)), expected, atol=1e-4)


@pytest.mark.parametrize("preset, cls", GENERATIVE, ids=lambda x: getattr(x, "__name__", x))
@torch.no_grad()
def test_raises_if_both_cache_names(preset, cls):
    model = cls(tiny_config(preset)).eval()
    cache, step = _prefix(model, torch.randint(3, 98, (2, 6)), torch.randint(3, 98, (2, 7)))
    with pytest.raises(ValueError, match=r"Both `past_key_values` and `cache` are set .* Pass the cache as `cache`"):
        model(**step, cache=cache, past_key_values=cache)


def test_rename_kwarg_on_the_decoder_stack():
    decoder = tt.TobigsModel(tiny_config("gpt2")).eval().decoder
    ids = torch.randint(3, 98, (1, 4))
    with torch.no_grad():
        expected = decoder(ids[:, 3:], cache=decoder(ids[:, :3], use_cache=True).cache).last_hidden_state
        with pytest.warns(FutureWarning):
            got = decoder(ids[:, 3:], past_key_values=decoder(ids[:, :3], use_cache=True).cache).last_hidden_state
    torch.testing.assert_close(got, expected)


# ---- shift_labels: transformers' ForCausalLMLoss contract -----------------------------------------------------------
# Under context/sequence parallelism the Trainer (and DeepSpeed's Ulysses) call
# `model.loss_function(logits=..., labels=None, shift_labels=..., vocab_size=...)` and pass `shift_labels` to forward.


def _causal_lm(**overrides):
    return tt.TobigsForCausalLM(tiny_config("gpt2", label_smoothing=0.0, dropout=0.0, **overrides)).eval()


@pytest.mark.parametrize("num_items_in_batch", [None, torch.tensor(9)])
def test_causal_lm_loss_matches_for_causal_lm_loss(num_items_in_batch):
    model = _causal_lm()
    logits = torch.randn(2, 6, 99)
    labels = torch.randint(0, 99, (2, 6))
    labels[0, :2] = -100
    shift_labels = torch.randint(0, 99, (2, 6))
    shift_labels[1, 4:] = -100
    kwargs = dict(vocab_size=99, num_items_in_batch=num_items_in_batch)
    cases = [dict(labels=labels), dict(labels=None, shift_labels=shift_labels),
             dict(labels=labels, shift_labels=shift_labels)]  # given both, shift_labels are the targets
    for case in cases:
        torch.testing.assert_close(model.loss_function(logits=logits, **case, **kwargs),
                                   ForCausalLMLoss(logits, **case, **kwargs))


def test_forward_with_shift_labels_trains_every_position():
    model = _causal_lm().train()
    ids = torch.randint(3, 98, (2, 8))
    next_tokens = torch.randint(3, 98, (2,))
    shift_labels = torch.cat([ids[:, 1:], next_tokens[:, None]], dim=1)  # the target of every position
    for labels in (None, ids):  # labels, if given, are not shifted again
        torch.manual_seed(1)
        out = model(ids, labels=labels, shift_labels=shift_labels, return_logits=True)
        expected = torch.nn.functional.cross_entropy(out.logits.reshape(-1, 99), shift_labels.reshape(-1))
        torch.testing.assert_close(out.loss, expected)
        # Training mode's default, the chunked loss without logits, reads shift_labels the same way.
        torch.manual_seed(1)  # the same attention-dropout masks
        chunked = model(ids, labels=labels, shift_labels=shift_labels)
        assert chunked.logits is None
        torch.testing.assert_close(chunked.loss, expected)
    # The last position embedding is trained only when the last position has a target.
    positions = model.model.decoder.embeddings.position_embeddings.weight
    for kwargs, trained in ((dict(labels=ids), False), (dict(shift_labels=shift_labels), True)):
        model.zero_grad()
        model(ids, **kwargs).loss.backward()
        assert bool(positions.grad[7].abs().sum() > 0) is trained
        assert positions.grad[6].abs().sum() > 0


def test_trainer_finds_the_same_label_names_as_on_the_twins():
    # transformers.utils.find_labels reads `*label*` parameters off forward; the Trainer expects every one of them in
    # an evaluation batch and otherwise skips compute_metrics. A named `shift_labels` parameter did exactly that.
    from transformers import (BartForConditionalGeneration, BertForMaskedLM, BertForMultipleChoice,
                              BertForNextSentencePrediction, BertForPreTraining, BertForQuestionAnswering,
                              BertForSequenceClassification, BertForTokenClassification, GPT2LMHeadModel)
    from transformers.utils import find_labels

    twins = {tt.TobigsForCausalLM: GPT2LMHeadModel, tt.TobigsForConditionalGeneration: BartForConditionalGeneration,
             tt.TobigsForMaskedLM: BertForMaskedLM, tt.TobigsForPreTraining: BertForPreTraining,
             tt.TobigsForNextSentencePrediction: BertForNextSentencePrediction,
             tt.TobigsForSequenceClassification: BertForSequenceClassification,
             tt.TobigsForTokenClassification: BertForTokenClassification,
             tt.TobigsForQuestionAnswering: BertForQuestionAnswering, tt.TobigsForMultipleChoice: BertForMultipleChoice}
    for ours, theirs in twins.items():
        assert find_labels(ours) == find_labels(theirs), ours.__name__


# ---- encoder-decoder sequence classification: Seq2SeqSequenceClassifierOutput, as BART ------------------------------
# tests/test_modeling_common.py test_hidden_states_output / test_attention_outputs for encoder-decoder models.


def test_attention_outputs_and_hidden_states_output_of_seq2seq_classification():
    config = tiny_config("bart-base", decoder_layers=3, num_labels=3, attn_implementation="eager")
    model = tt.TobigsForSequenceClassification(config).eval()
    source = torch.randint(3, 98, (2, 6))
    source[:, -1] = config.eos_token_id
    out = model(source, labels=torch.tensor([0, 2]), output_hidden_states=True, output_attentions=True)
    assert isinstance(out, Seq2SeqSequenceClassifierOutput)
    assert len(out.encoder_hidden_states) == 2 + 1 and len(out.decoder_hidden_states) == 3 + 1
    assert [a.shape for a in out.encoder_attentions] == [(2, 4, 6, 6)] * 2
    assert [a.shape for a in out.decoder_attentions] == [(2, 4, 6, 6)] * 3
    assert [a.shape for a in out.cross_attentions] == [(2, 4, 6, 6)] * 3
    bare = model.model(source)
    torch.testing.assert_close(out.encoder_last_hidden_state, bare.encoder_last_hidden_state)
    torch.testing.assert_close(out.decoder_hidden_states[-1], bare.last_hidden_state)
    # The same fields, under the same names, as transformers' BART returns.
    bart = BartForSequenceClassification(BartConfig(vocab_size=99, d_model=32, encoder_layers=2, decoder_layers=3,
                                                    encoder_attention_heads=4, decoder_attention_heads=4,
                                                    encoder_ffn_dim=37, decoder_ffn_dim=37, num_labels=3,
                                                    max_position_embeddings=64, attn_implementation="eager")).eval()
    reference = bart(source, labels=torch.tensor([0, 2]), use_cache=False, output_hidden_states=True,
                     output_attentions=True)
    assert type(out) is type(reference) and set(out.keys()) == set(reference.keys())
    assert isinstance(model(source, return_dict=False), tuple)


@pytest.mark.parametrize("preset", ["bert-base", "gpt2"])
def test_other_architectures_keep_sequence_classifier_output(preset):
    model = tt.TobigsForSequenceClassification(tiny_config(preset, attn_implementation="eager")).eval()
    out = model(torch.randint(3, 98, (2, 5)), output_hidden_states=True, output_attentions=True)
    assert type(out) is SequenceClassifierOutput and len(out.hidden_states) == 3 and len(out.attentions) == 2


# ---- **kwargs: Unpack[TransformersKwargs] (test_modeling_common.py test_forward_signature) --------------------------

MODELS = [tt.TobigsModel, tt.TobigsForConditionalGeneration, tt.TobigsForCausalLM, tt.TobigsForMaskedLM,
          tt.TobigsForPreTraining, tt.TobigsForNextSentencePrediction, tt.TobigsForSequenceClassification,
          tt.TobigsForTokenClassification, tt.TobigsForQuestionAnswering, tt.TobigsForMultipleChoice]


@pytest.mark.parametrize("cls", MODELS + [TobigsEncoder, TobigsDecoder, TobigsEncoderLayer, TobigsDecoderLayer],
                         ids=lambda c: c.__name__)
def test_forward_signature_declares_transformers_kwargs(cls):
    kwargs = inspect.signature(cls.forward).parameters["kwargs"]
    assert kwargs.kind is inspect.Parameter.VAR_KEYWORD
    assert typing.get_args(kwargs.annotation) == (TransformersKwargs,)
    # Written the way transformers writes it on its own models.
    assert kwargs.annotation == inspect.signature(BartModel.forward).parameters["kwargs"].annotation


# ---- GPT-2's scaled residual initialisation (tests/models/gpt2: create_and_check_gpt2_weight_initialization) --------


def _residual_weights(model):
    return {n: p for n, p in model.named_parameters() if n.endswith(("out_proj.weight", "fc2.weight"))}


def test_gpt2_weight_initialization():
    config = tt.TobigsConfig.from_preset("gpt2", vocab_size=99, d_model=256, decoder_layers=4,
                                         decoder_attention_heads=4, decoder_ffn_dim=256, max_position_embeddings=64)
    assert config.scale_residual_init
    model = tt.TobigsModel(config)
    model_std = config.init_std / math.sqrt(2 * config.decoder_layers)
    residual = _residual_weights(model)
    assert len(residual) == 2 * 4
    for name, weight in residual.items():  # 65536 draws each: the sample std is within ~1% of the true one
        assert abs(weight.std().item() - model_std) < 0.05 * model_std, name
        assert abs(weight.mean().item()) <= 0.001
    # Every other projection keeps init_std.
    assert abs(model.decoder.layers[0].feed_forward.fc1.weight.std().item() - config.init_std) < 0.0005
    assert abs(model.decoder.layers[0].self_attn.qkv_proj.weight.std().item() - config.init_std) < 0.0005
    # transformers' GPT-2 of the same shape draws from the same distribution.
    gpt2 = GPT2Model(GPT2Config(vocab_size=99, n_embd=256, n_layer=4, n_head=4, n_inner=256, n_positions=64))
    assert abs(gpt2.h[0].attn.c_proj.weight.std().item() - model_std) < 0.0005


def test_scaled_residual_init_only_where_asked():
    sizes = dict(vocab_size=99, d_model=256, encoder_layers=3, decoder_layers=3, encoder_attention_heads=4,
                 decoder_attention_heads=4, encoder_ffn_dim=256, decoder_ffn_dim=256, max_position_embeddings=64)
    for preset in ("gpt", "bert-base", "bart-base"):
        config = tt.TobigsConfig.from_preset(preset, **sizes)
        assert not config.scale_residual_init
        for name, weight in _residual_weights(tt.TobigsModel(config)).items():
            assert abs(weight.std().item() - config.init_std) < 0.0005, (preset, name)
    # Switched on for an encoder-decoder: every residual projection, cross-attention included, per its stack's depth.
    config = tt.TobigsConfig.from_preset("bart-base", scale_residual_init=True, **{**sizes, "encoder_layers": 2})
    model = tt.TobigsModel(config)
    for name, weight in _residual_weights(model).items():
        layers = 2 if name.startswith("encoder") else 3
        assert abs(weight.std().item() - config.init_std / math.sqrt(2 * layers)) < 0.0005, name
    assert "decoder.layers.0.cross_attn.out_proj.weight" in _residual_weights(model)


def test_gpt2_conversion_maps_scaled_residual_init(tmp_path):
    assert config_from_hf(GPT2Config(n_embd=32, n_layer=2, n_head=4))["scale_residual_init"] is True
    # Loaded weights are never re-initialised: the flag only shapes new weights.
    model = tt.TobigsForCausalLM(tiny_config("gpt2"))
    with torch.no_grad():
        model.model.decoder.layers[0].feed_forward.fc2.weight.fill_(0.5)
    model.save_pretrained(tmp_path)
    reloaded = tt.TobigsForCausalLM.from_pretrained(tmp_path)
    assert torch.all(reloaded.model.decoder.layers[0].feed_forward.fc2.weight == 0.5)
