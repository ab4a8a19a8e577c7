"""Pegasus (transformers' `PegasusModel`, `PegasusForConditionalGeneration`) <-> our encoder-decoder models with the
`pegasus-large` preset's layout.

Pegasus (Zhang et al. 2020) is the paper's encoder-decoder with pre-LN layers: LayerNorm before each sublayer and one
final LayerNorm per stack (`normalize_before=True`), fixed sinusoids laid out as all sines then all cosines (Marian's
layout; stored in checkpoints, checked and rebuilt here, `SINUSOID`), token embeddings scaled by sqrt(d_model), and
BART's key layout for the layers, the shared embedding and `final_logits_bias`.

    Pegasus                                     tobigs_transformer
    shared = encoder.embed_tokens               encoder.embeddings.word_embeddings
    decoder.embed_tokens                        decoder.embeddings.word_embeddings
    {enc,dec}oder.embed_positions               (checked, rebuilt from the config)
    {enc,dec}oder.layer_norm                    {enc,dec}oder.final_layer_norm
    layers                                      as BART
    lm_head / final_logits_bias                 lm_head.weight / lm_head.bias

Not expressible (raise): `tie_word_embeddings=False`. LayerDrop only changes training (warning, dropped).
"""

from transformers import PegasusConfig

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
from .rules import rule

BASE_RULES = SHARED_EMBEDDING_RULES + SINUSOID_RULES + (
    rule("encoder.layer_norm.{p}", "encoder.final_layer_norm.{p}"),
    rule("decoder.layer_norm.{p}", "decoder.final_layer_norm.{p}"),
) + seq2seq_layer_rules()

PAIRS = class_pairs("Pegasus", "model.", {"ForConditionalGeneration": ("TobigsForConditionalGeneration", LM_HEAD)})

LAYOUT = dict(position_embedding_type="sinusoidal", sinusoidal_layout="concatenated", position_offset=0,
              layernorm_embedding=False, normalize_before=True)


def config_from_hf(hf: PegasusConfig) -> dict:
    require(check_tied(hf, "Pegasus"), "this Pegasus config")
    warn_layerdrop(hf, "Pegasus")
    fields = seq2seq_config_from_hf(hf)
    fields.update(LAYOUT)
    return fields


def incompatibilities(config: TobigsConfig) -> list[str]:
    return seq2seq_incompatibilities(config, "Pegasus", **LAYOUT)


def config_to_hf(config: TobigsConfig) -> PegasusConfig:
    require(incompatibilities(config), "this TobigsConfig as Pegasus")
    return PegasusConfig(**seq2seq_config_to_hf(config))


FAMILY = Family("pegasus", ("pegasus",), BASE_RULES, PAIRS, config_from_hf, config_to_hf, incompatibilities)
