"""CTRL (transformers' `CTRLModel`, `CTRLLMHeadModel`, `CTRLForSequenceClassification`) <-> our decoder-only models
with the `ctrl` preset's layout.

CTRL (Keskar et al. 2019) is a GPT-2-like pre-LN decoder (LayerNorm before each sublayer, one final LayerNorm) with
the original paper's inputs: fixed sinusoids and token embeddings multiplied by sqrt(d_model). Its sinusoids are laid
out as all sines, then all cosines (`sinusoidal_layout="concatenated"`, the same table as Marian's; not stored in
checkpoints on either side), its FFN is ReLU, and its LM head has a bias.

    CTRL                                        tobigs_transformer
    w                                           decoder.embeddings.word_embeddings (x sqrt(d_model))
    h.{i}.layernorm1 / layernorm2               decoder.layers.{i}.self_attn_layer_norm / ffn_layer_norm
    h.{i}.multi_head_attention.Wq|Wk|Wv         decoder.layers.{i}.self_attn.qkv_proj   (concatenated)
    h.{i}.multi_head_attention.dense            decoder.layers.{i}.self_attn.out_proj
    h.{i}.ffn.0 / ffn.2                         decoder.layers.{i}.feed_forward.fc1 / fc2
    layernorm                                   decoder.final_layer_norm
    lm_head (+ bias) / classifier               lm_head / classifier

Not expressible (raise): `layer_norm_epsilon` other than 1e-6 (CTRL's layers hard-code 1e-6 and only its final
LayerNorm reads the config; ours share one epsilon). CTRL counts positions 0..T-1 whatever the mask (as GPT-1), so
parity holds for right padding; `embd_pdrop != resid_pdrop` only changes training (warning, `resid_pdrop` kept).
Precision: CTRL builds its table in float32, ours in float64 rounded to float32; at the 50000 positions of the
released checkpoint the two tables differ in the last bits at large positions only (see docs/variants.md).
"""

from transformers import CTRLConfig

from ..model.configuration_tobigs import TobigsConfig
from .config_fields import mismatches
from .engine import require
from .families import Family
from .gpt2 import DECODER_LAYOUT, decoder_fields, decoder_kwargs, decoder_pairs
from .rules import module_rules, rule

CTRL_LAYER_NORM_EPS = 1e-6  # hard-coded in CTRL's EncoderLayer

# One CTRL layer, our module <- CTRL's (separate W^Q, W^K, W^V: concatenated).
LAYER_MODULES = {
    "self_attn.qkv_proj": [f"multi_head_attention.W{n}" for n in "qkv"],
    "self_attn.out_proj": "multi_head_attention.dense",
    "feed_forward.fc1": "ffn.0",
    "feed_forward.fc2": "ffn.2",
    "self_attn_layer_norm": "layernorm1",
    "ffn_layer_norm": "layernorm2",
}
BASE_RULES = (
    (rule("w.weight", "decoder.embeddings.word_embeddings.weight"),)
    + module_rules("h.{i}.", "decoder.layers.{i}.", LAYER_MODULES)
    + (rule("layernorm.{p}", "decoder.final_layer_norm.{p}"),)
)

PAIRS = decoder_pairs("CTRL", lm_head=(rule("lm_head.{p}", "lm_head.{p}"),),
                      score=(rule("classifier.weight", "classifier.weight"),))

# What CTRL changes in GPT-2's layout: the original paper's inputs, ReLU, an LM head bias, one epsilon.
CTRL_LAYOUT = dict(position_embedding_type="sinusoidal", sinusoidal_layout="concatenated", scale_embedding=True,
                   normalize_before=True, lm_head_bias=True, activation_function="relu", attention_dropout=0.0,
                   layer_norm_eps=CTRL_LAYER_NORM_EPS)


def config_from_hf(hf: CTRLConfig) -> dict:
    if hf.layer_norm_epsilon != CTRL_LAYER_NORM_EPS:
        require([f"layer_norm_epsilon={hf.layer_norm_epsilon} (CTRL's layers always use 1e-6, only its final "
                 "LayerNorm reads this value; tobigs_transformer has one epsilon for all)"], "this CTRL config")
    return dict(decoder_fields(hf, "CTRL"), **CTRL_LAYOUT, decoder_ffn_dim=hf.dff, use_cache=hf.use_cache)


def incompatibilities(config: TobigsConfig) -> list[str]:
    # position_offset only shifts learned tables; CTRL's sinusoids ignore it.
    expected = {name: value for name, value in DECODER_LAYOUT.items() if name != "position_offset"}
    return mismatches(config, {**expected, **CTRL_LAYOUT}, "CTRL")


def config_to_hf(config: TobigsConfig) -> CTRLConfig:
    require(incompatibilities(config), "this TobigsConfig as CTRL")
    return CTRLConfig(**decoder_kwargs(config), dff=config.decoder_ffn_dim, use_cache=config.use_cache)


FAMILY = Family("ctrl", ("ctrl",), BASE_RULES, PAIRS, config_from_hf, config_to_hf, incompatibilities)
