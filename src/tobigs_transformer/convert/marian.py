"""Marian (transformers' `MarianModel`, `MarianMTModel`, e.g. the opus-mt translation checkpoints) <-> our
paper-style encoder-decoder.

Marian is the original Transformer of the paper: fixed sinusoidal positions, embeddings multiplied by sqrt(d_model),
post-LN, no embedding LayerNorm, one vocabulary shared by source, target and output (SiLU/"swish" FFN in opus-mt).
Its layers use BART's key layout (see `bart.seq2seq_layer_rules`); what differs:

- Marian lays its sinusoids out differently from the paper: all sines first, then all cosines
  (`sinusoidal_layout="concatenated"`). The tables are stored as `embed_positions.weight` in Marian checkpoints but
  are a non-persistent buffer computed from the config here: on the way in each table is checked against ours
  (error if it differs, e.g. after training it) and counted as used (`SINUSOID`); on the way out transformers
  rebuilds them itself.
- no `layernorm_embedding`.

    Marian                                      tobigs_transformer
    shared = encoder.embed_tokens               encoder.embeddings.word_embeddings
    decoder.embed_tokens                        decoder.embeddings.word_embeddings
    {enc,dec}oder.embed_positions               (checked, rebuilt from the config)
    layers                                      as BART
    lm_head / final_logits_bias                 lm_head.weight / lm_head.bias

Not expressible (raise): `share_encoder_decoder_embeddings=False` or a `decoder_vocab_size` different from
`vocab_size` (separate source and target vocabularies), `tie_word_embeddings=False`.
"""

from transformers import MarianConfig

from ..model.configuration_tobigs import TobigsConfig
from .bart import (
    LM_HEAD,
    SHARED_EMBEDDING_RULES,
    SINUSOID_RULES,
    check_tied,
    seq2seq_config_from_hf,
    seq2seq_config_to_hf,
    seq2seq_incompatibilities,
    seq2seq_layer_rules,
    warn_layerdrop,
)
from .engine import require
from .families import Family, class_pairs

BASE_RULES = SHARED_EMBEDDING_RULES + SINUSOID_RULES + seq2seq_layer_rules()

PAIRS = class_pairs("Marian", "model.", {"MTModel": ("TobigsForConditionalGeneration", LM_HEAD)})


def config_from_hf(hf: MarianConfig) -> dict:
    reasons = check_tied(hf, "Marian")
    if not hf.share_encoder_decoder_embeddings:
        reasons.append("share_encoder_decoder_embeddings=False (separate source and target embeddings)")
    if hf.decoder_vocab_size not in (None, hf.vocab_size):
        reasons.append(f"decoder_vocab_size={hf.decoder_vocab_size} != vocab_size={hf.vocab_size} "
                       "(one shared vocabulary only)")
    require(reasons, "this Marian config")
    warn_layerdrop(hf, "Marian")
    fields = seq2seq_config_from_hf(hf)
    fields.update(position_embedding_type="sinusoidal", sinusoidal_layout="concatenated", position_offset=0,
                  layernorm_embedding=False)
    return fields


def incompatibilities(config: TobigsConfig) -> list[str]:
    return seq2seq_incompatibilities(config, "Marian", position_embedding_type="sinusoidal",
                                     sinusoidal_layout="concatenated", layernorm_embedding=False)


def config_to_hf(config: TobigsConfig) -> MarianConfig:
    require(incompatibilities(config), "this TobigsConfig as Marian")
    return MarianConfig(**seq2seq_config_to_hf(config), decoder_vocab_size=config.vocab_size,
                        share_encoder_decoder_embeddings=True)


FAMILY = Family("marian", ("marian",), BASE_RULES, PAIRS, config_from_hf, config_to_hf, incompatibilities)
