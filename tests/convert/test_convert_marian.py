"""Marian (the paper's Transformer as opus-mt ships it) <-> TobigsForConditionalGeneration / TobigsModel: identical
logits, loss, greedy and beam tokens, exact round trip, save/reload (tiny random models, fp32, no downloads).

Marian stores its sinusoid tables (all sines, then all cosines); ours are rebuilt from the config with
`sinusoidal_layout="concatenated"`."""

import torch
from tiny import tiny_config
from convert.test_convert_common import (
    assert_same_outputs,
    assert_same_state_dict,
    check_parity,
    outputs_of,
    randomize_,
    right_padded,
    tiny_hf,
)

from tobigs_transformer import TobigsForConditionalGeneration
from tobigs_transformer.convert import convert_from_hf, convert_to_hf
from tobigs_transformer.model.positional_encoding import sinusoidal_table

PAD, EOS = 98, 0


def _batch():
    input_ids, attention_mask = right_padded(3, [9, 6, 4], 1, 98, pad=PAD, eos=EOS)
    labels, decoder_mask = right_padded(3, [5, 7, 3], 1, 98, pad=PAD, eos=EOS)
    return dict(input_ids=input_ids, attention_mask=attention_mask), labels.masked_fill(decoder_mask == 0, -100)


def test_mt_model(tmp_path):
    source, labels = _batch()
    model = tiny_hf("marian", "MarianMTModel")
    model.generation_config.bad_words_ids = [[PAD]]  # as opus-mt checkpoints: never generate the pad token
    ours = check_parity(model, {**source, "labels": labels}, tmp_path, generate_inputs=source)
    assert ours.config.sinusoidal_layout == "concatenated" and ours.config.scale_embedding
    assert ours.config.activation_function == "swish"
    table = ours.model.encoder.embeddings.position_embeddings.pe
    assert torch.equal(table, model.model.encoder.embed_positions.weight)
    assert torch.equal(table, sinusoidal_table(64, 32, "concatenated"))


def test_bare_model(tmp_path):
    source, labels = _batch()
    decoder_input_ids = labels.masked_fill(labels == -100, PAD)
    check_parity(tiny_hf("marian", "MarianModel"), {**source, "decoder_input_ids": decoder_input_ids}, tmp_path)


def test_odd_width_sinusoids(tmp_path):
    # With an odd d_model Marian puts ceil(d/2) sines before floor(d/2) cosines; ours does the same.
    source, labels = _batch()
    model = tiny_hf("marian", "MarianMTModel", d_model=36, encoder_attention_heads=4, decoder_attention_heads=4)
    check_parity(model, {**source, "labels": labels}, tmp_path)


def test_paper_preset_exports_once_its_layout_matches():
    config = tiny_config("transformer-base", sinusoidal_layout="concatenated", layer_norm_eps=1e-5,
                         label_smoothing=0.0, lm_head_bias=True, pad_token_id=PAD, eos_token_id=EOS,
                         decoder_start_token_id=PAD, bos_token_id=None)
    ours = randomize_(TobigsForConditionalGeneration(config).eval())
    hf = convert_to_hf(ours).eval()
    assert type(hf).__name__ == "MarianMTModel"
    source, labels = _batch()
    inputs = {**source, "labels": labels}
    assert_same_outputs(outputs_of(hf, inputs), outputs_of(ours, inputs))
    settings = dict(max_new_tokens=5, do_sample=False, num_beams=2)
    assert torch.equal(hf.generate(**source, **settings), ours.generate(**source, **settings))
    assert_same_state_dict(convert_from_hf(hf).state_dict(), ours.state_dict())


def test_half_precision_checkpoint_keeps_its_dtype():
    model = tiny_hf("marian", "MarianMTModel").to(torch.float16)
    ours = convert_from_hf(model)
    assert ours.dtype == torch.float16
    assert_same_state_dict(convert_to_hf(ours).state_dict(), model.state_dict())


def test_marian_preset_is_what_opus_mt_en_de_converts_to():
    # opus-mt-en-de's config.json values (sizes, swish, scaled embeddings, ids): the preset is that config exactly.
    from transformers import MarianConfig

    from tobigs_transformer import TobigsConfig
    from tobigs_transformer.convert import convert_config_from_hf

    opus_mt_en_de = MarianConfig(
        vocab_size=58101, decoder_vocab_size=58101, d_model=512, encoder_layers=6, decoder_layers=6,
        encoder_attention_heads=8, decoder_attention_heads=8, encoder_ffn_dim=2048, decoder_ffn_dim=2048,
        activation_function="swish", max_position_embeddings=512, scale_embedding=True, pad_token_id=58100,
        eos_token_id=0, bos_token_id=0, decoder_start_token_id=58100,
    )
    assert convert_config_from_hf(opus_mt_en_de).to_dict() == TobigsConfig.from_preset("marian").to_dict()
    # ... and a model built from it exports as Marian.
    config = TobigsConfig.from_preset("marian", vocab_size=99, d_model=32, encoder_layers=1, decoder_layers=1,
                                      encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=37,
                                      decoder_ffn_dim=37, max_position_embeddings=64)
    assert (config.pad_token_id, config.decoder_start_token_id, config.eos_token_id) == (98, 98, 0)
    ours = randomize_(TobigsForConditionalGeneration(config).eval())
    assert type(convert_to_hf(ours)).__name__ == "MarianMTModel"
