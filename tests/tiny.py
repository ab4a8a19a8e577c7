"""The one tiny configuration of the tests: every preset family at transformers' tester sizes (2 layers, d_model 32).

`tiny_config(preset)` for Python tests; `TINY_OVERRIDES` is the same sizes as a `--config_overrides` string for the
command lines.
"""

from tobigs_transformer import TobigsConfig

TINY = dict(
    vocab_size=99,
    d_model=32,
    encoder_layers=2,
    decoder_layers=2,
    encoder_attention_heads=4,
    decoder_attention_heads=4,
    encoder_ffn_dim=37,
    decoder_ffn_dim=37,
    max_position_embeddings=64,
)
# Special ids inside the tiny vocabulary, per family (the presets carry the real checkpoints' ids).
TINY_SPECIAL = {
    "transformer": dict(pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1),
    "gpt": dict(pad_token_id=0, bos_token_id=98, eos_token_id=98),
    "bert": dict(pad_token_id=0),
    "bart": dict(pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2),
    "roberta": dict(pad_token_id=1, bos_token_id=0, eos_token_id=2),
    "albert": dict(pad_token_id=0, bos_token_id=2, eos_token_id=3),
    "electra": dict(pad_token_id=0),
    "ctrl": dict(),
    "pegasus": dict(pad_token_id=0, eos_token_id=1, decoder_start_token_id=0),
    "marian": dict(pad_token_id=98, bos_token_id=0, eos_token_id=0, decoder_start_token_id=98),
}
FAMILY_PRESETS = ["transformer-base", "gpt", "gpt2", "bert-base", "bart-base"]


def tiny_config(preset: str, **overrides) -> TobigsConfig:
    """A 2-layer, d_model=32 version of a preset, with every family difference kept."""
    family = next(f for f in TINY_SPECIAL if preset.startswith(f))
    return TobigsConfig.from_preset(preset, **{**TINY, **TINY_SPECIAL[family], **overrides})


# The sizes above (not the special ids) as a `--config_overrides` value: every CLI test runs a few steps in seconds.
TINY_OVERRIDES = ",".join(f"{key}={value}" for key, value in TINY.items() if key != "vocab_size")
