"""Pegasus <-> TobigsForConditionalGeneration / TobigsModel: identical logits, loss, greedy and beam tokens, exact
round trip, save/reload; `pipeline("summarization")` runs a converted model (tiny random models, fp32, no downloads).

Pegasus is pre-LN with a final LayerNorm per stack and stores its sinusoid tables (sines, then cosines); ours are
rebuilt from the config with `sinusoidal_layout="concatenated"`."""

import pytest
import torch
import transformers
from convert.test_convert_common import (
    assert_same_outputs,
    assert_same_state_dict,
    check_parity,
    outputs_of,
    randomize_,
    right_padded,
)
from pipeline_support import seq2seq_tokenizer
from tiny import TINY
from transformers import PegasusConfig, pipeline

from tobigs_transformer import TobigsConfig, TobigsForConditionalGeneration
from tobigs_transformer.convert import ConversionError, convert_config_from_hf, convert_from_hf, convert_to_hf
from tobigs_transformer.model.positional_encoding import sinusoidal_table

PAD, EOS = 0, 1


def tiny_pegasus(class_name: str, **overrides):
    config = PegasusConfig(**{**dict(vocab_size=99, d_model=32, encoder_layers=2, decoder_layers=2,
                                     encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=37,
                                     decoder_ffn_dim=37, max_position_embeddings=64, scale_embedding=True,
                                     activation_function="relu", pad_token_id=PAD, eos_token_id=EOS,
                                     decoder_start_token_id=PAD, forced_eos_token_id=EOS), **overrides})
    model = getattr(transformers, class_name)(config)
    # Pegasus keeps its fixed tables as frozen parameters: randomize everything else.
    tables = {name: p.detach().clone() for name, p in model.named_parameters() if "embed_positions" in name}
    randomize_(model.eval())
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in tables:
                p.copy_(tables[name])
    return model


def _batch():
    input_ids, attention_mask = right_padded(3, [9, 6, 4], 2, 98, pad=PAD, eos=EOS)
    labels, decoder_mask = right_padded(3, [5, 7, 3], 2, 98, pad=PAD, eos=EOS)
    return dict(input_ids=input_ids, attention_mask=attention_mask), labels.masked_fill(decoder_mask == 0, -100)


def test_conditional_generation(tmp_path):
    source, labels = _batch()
    model = tiny_pegasus("PegasusForConditionalGeneration")
    ours = check_parity(model, {**source, "labels": labels}, tmp_path, generate_inputs=source)
    assert ours.config.normalize_before and ours.config.sinusoidal_layout == "concatenated"
    assert torch.equal(ours.model.encoder.embeddings.position_embeddings.pe, sinusoidal_table(64, 32, "concatenated"))


def test_bare_model(tmp_path):
    source, labels = _batch()
    decoder_input_ids = labels.masked_fill(labels == -100, PAD)
    check_parity(tiny_pegasus("PegasusModel"), {**source, "decoder_input_ids": decoder_input_ids}, tmp_path)


def test_preset_is_pegasus_large():
    hf = PegasusConfig(vocab_size=96103, d_model=1024, encoder_layers=16, decoder_layers=16,
                       encoder_attention_heads=16, decoder_attention_heads=16, encoder_ffn_dim=4096,
                       decoder_ffn_dim=4096, max_position_embeddings=1024, activation_function="relu",
                       scale_embedding=True, dropout=0.1, attention_dropout=0.1, activation_dropout=0.1)
    assert convert_config_from_hf(hf).to_dict() == TobigsConfig.from_preset("pegasus-large").to_dict()


def test_export_of_a_model_built_from_the_preset():
    config = TobigsConfig.from_preset("pegasus-large", **TINY)
    ours = randomize_(TobigsForConditionalGeneration(config).eval())
    hf = convert_to_hf(ours).eval()
    assert type(hf).__name__ == "PegasusForConditionalGeneration"
    source, labels = _batch()
    assert_same_outputs(outputs_of(hf, {**source, "labels": labels}), outputs_of(ours, {**source, "labels": labels}))
    settings = dict(max_new_tokens=5, do_sample=False, num_beams=2)
    assert torch.equal(hf.generate(**source, **settings), ours.generate(**source, **settings))
    assert_same_state_dict(convert_from_hf(hf).state_dict(), ours.state_dict())


def test_summarization_pipeline_runs_a_converted_model():
    tokenizer = seq2seq_tokenizer()
    hf = tiny_pegasus("PegasusForConditionalGeneration", vocab_size=len(tokenizer),
                      pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                      decoder_start_token_id=tokenizer.pad_token_id, forced_eos_token_id=tokenizer.eos_token_id)
    ours = convert_from_hf(hf)
    summarize = pipeline("summarization", model=ours, tokenizer=tokenizer)
    settings = dict(max_new_tokens=6, min_new_tokens=2, num_beams=2)
    text = "the cat sat on a mat"
    summary = summarize(text, **settings)[0]["summary_text"]
    expected = hf.generate(**tokenizer([text], return_tensors="pt"), **settings)
    assert summary == tokenizer.decode(expected[0], skip_special_tokens=True)


def test_untied_pegasus_is_refused():
    with pytest.raises(ConversionError, match="tie_word_embeddings=False"):
        convert_config_from_hf(PegasusConfig(tie_word_embeddings=False))
