"""Checkpoints: save/load gives identical outputs for every class, ties survive, Auto classes pick our classes."""

import pytest
import torch
from tiny import tiny_config
from safetensors.torch import load_file
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoModelForMultipleChoice,
    AutoModelForNextSentencePrediction,
    AutoModelForPreTraining,
    AutoModelForQuestionAnswering,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
)

import tobigs_transformer as tt

# (class, auto class, preset) for every class and every architecture it takes.
CASES = [
    (tt.TobigsModel, AutoModel, "transformer-base"),
    (tt.TobigsModel, AutoModel, "gpt2"),
    (tt.TobigsModel, AutoModel, "bert-base"),
    (tt.TobigsForConditionalGeneration, AutoModelForSeq2SeqLM, "transformer-base"),
    (tt.TobigsForConditionalGeneration, AutoModelForSeq2SeqLM, "bart-base"),
    (tt.TobigsForCausalLM, AutoModelForCausalLM, "gpt"),
    (tt.TobigsForCausalLM, AutoModelForCausalLM, "gpt2"),
    (tt.TobigsForMaskedLM, AutoModelForMaskedLM, "bert-base"),
    (tt.TobigsForPreTraining, AutoModelForPreTraining, "bert-base"),
    (tt.TobigsForNextSentencePrediction, AutoModelForNextSentencePrediction, "bert-base"),
    (tt.TobigsForSequenceClassification, AutoModelForSequenceClassification, "bert-base"),
    (tt.TobigsForSequenceClassification, AutoModelForSequenceClassification, "gpt2"),
    (tt.TobigsForSequenceClassification, AutoModelForSequenceClassification, "bart-base"),
    (tt.TobigsForTokenClassification, AutoModelForTokenClassification, "bert-base"),
    (tt.TobigsForTokenClassification, AutoModelForTokenClassification, "gpt2"),
    (tt.TobigsForQuestionAnswering, AutoModelForQuestionAnswering, "bert-base"),
    (tt.TobigsForMultipleChoice, AutoModelForMultipleChoice, "bert-base"),
]


def _inputs(model_class, config):
    if model_class is tt.TobigsForMultipleChoice:
        return {"input_ids": torch.randint(3, 98, (2, 3, 6))}
    ids = torch.randint(3, 98, (2, 7))
    ids[:, -1] = config.eos_token_id if config.eos_token_id is not None else ids[:, -1]
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if config.architecture == "encoder-only":
        inputs["token_type_ids"] = torch.tensor([[0, 0, 0, 1, 1, 1, 1]] * 2)
    return inputs


def _flat_outputs(output):
    return [v for v in output.values() if isinstance(v, torch.Tensor)]


@pytest.mark.parametrize("model_class, auto_class, preset", CASES, ids=lambda x: getattr(x, "__name__", x))
def test_save_load_identical_and_auto_class(tmp_path, model_class, auto_class, preset):
    config = tiny_config(preset, num_labels=3)
    model = model_class(config).eval()
    model.save_pretrained(tmp_path)
    loaded = auto_class.from_pretrained(tmp_path).eval()
    assert type(loaded) is model_class
    inputs = _inputs(model_class, config)
    with torch.no_grad():
        for ours, theirs in zip(_flat_outputs(model(**inputs)), _flat_outputs(loaded(**inputs)), strict=True):
            torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "model_class, preset, output_key, source",
    [
        (tt.TobigsForCausalLM, "gpt2", "lm_head.weight", "model.decoder.embeddings.word_embeddings.weight"),
        (tt.TobigsForConditionalGeneration, "transformer-base", "lm_head.weight",
         "model.encoder.embeddings.word_embeddings.weight"),
        (tt.TobigsForMaskedLM, "bert-base", "lm_head.decoder.weight",
         "model.encoder.embeddings.word_embeddings.weight"),
    ],
)
def test_tied_weights_stay_tied_through_save_load_and_resize(tmp_path, model_class, preset, output_key, source):
    model = model_class(tiny_config(preset))
    params = dict(model.named_parameters(remove_duplicate=False))
    assert params[output_key] is params[source]
    model.save_pretrained(tmp_path)
    stored = load_file(tmp_path / "model.safetensors")
    assert output_key not in stored  # saved once
    loaded = model_class.from_pretrained(tmp_path)
    params = dict(loaded.named_parameters(remove_duplicate=False))
    assert params[output_key] is params[source]
    if loaded.config.is_encoder_decoder:
        assert params["model.decoder.embeddings.word_embeddings.weight"] is params[source]
    loaded.resize_token_embeddings(120)
    params = dict(loaded.named_parameters(remove_duplicate=False))
    assert params[output_key] is params[source] and params[source].shape[0] == 120
    assert loaded.config.vocab_size == 120
    ids = torch.randint(100, 120, (1, 5))  # new ids are usable
    assert loaded(ids).logits.shape[-1] == 120


def test_untied_output_projection(tmp_path):
    model = tt.TobigsForCausalLM(tiny_config("gpt2", tie_word_embeddings=False))
    assert model.lm_head.weight is not model.get_input_embeddings().weight
    model.save_pretrained(tmp_path)
    loaded = tt.TobigsForCausalLM.from_pretrained(tmp_path)
    torch.testing.assert_close(loaded.lm_head.weight, model.lm_head.weight)


def test_resize_keeps_lm_head_bias_in_step():
    model = tt.TobigsForConditionalGeneration(tiny_config("bart-base"))
    model.resize_token_embeddings(110)
    assert model.lm_head.bias.shape == (110,)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_dtype_loading(tmp_path, dtype):
    tt.TobigsForCausalLM(tiny_config("gpt2")).save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path, dtype=dtype)
    assert loaded.lm_head.weight.dtype == dtype
    assert loaded.model.decoder.layers[0].self_attn.qkv_proj.weight.dtype == dtype
    if dtype is torch.bfloat16:
        out = loaded.generate(torch.randint(3, 98, (1, 4)), max_new_tokens=3)
        assert out.shape[1] >= 5


def test_device_map_auto(tmp_path):
    model = tt.TobigsForConditionalGeneration(tiny_config("bart-base"))
    model.save_pretrained(tmp_path)
    loaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path, device_map="auto").eval()
    ids = torch.randint(3, 98, (1, 4))
    torch.testing.assert_close(loaded(ids).logits, model.eval()(ids).logits)


def test_no_split_modules_keep_layers_whole():
    from accelerate import infer_auto_device_map

    model = tt.TobigsForConditionalGeneration(tiny_config("bart-base", encoder_layers=4, decoder_layers=4))
    size = sum(p.numel() * 4 for p in model.parameters())
    device_map = infer_auto_device_map(
        model, max_memory={"cpu": size // 2, "disk": 10**9}, no_split_module_classes=model._no_split_modules
    )
    assert "disk" in device_map.values()  # the budget forces a split ...
    for name in device_map:  # ... but never inside a layer
        assert not any(part in name for part in ("self_attn", "cross_attn", "feed_forward", "layer_norm."))
