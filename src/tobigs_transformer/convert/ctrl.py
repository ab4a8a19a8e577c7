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
from transformers.utils import logging

from ..configuration_tobigs import TobigsConfig
from .common import CAT, ClassPair, Family, common_config_fields, require, rule

logger = logging.get_logger(__name__)

CTRL_LAYER_NORM_EPS = 1e-6  # hard-coded in CTRL's EncoderLayer

BASE_RULES = (
    rule("w.weight", "decoder.embeddings.word_embeddings.weight"),
    rule([f"h.{{i}}.multi_head_attention.W{n}.{{p}}" for n in "qkv"], "decoder.layers.{i}.self_attn.qkv_proj.{p}",
         CAT),
    rule("h.{i}.multi_head_attention.dense.{p}", "decoder.layers.{i}.self_attn.out_proj.{p}"),
    rule("h.{i}.ffn.0.{p}", "decoder.layers.{i}.feed_forward.fc1.{p}"),
    rule("h.{i}.ffn.2.{p}", "decoder.layers.{i}.feed_forward.fc2.{p}"),
    rule("h.{i}.layernorm1.{p}", "decoder.layers.{i}.self_attn_layer_norm.{p}"),
    rule("h.{i}.layernorm2.{p}", "decoder.layers.{i}.ffn_layer_norm.{p}"),
    rule("layernorm.{p}", "decoder.final_layer_norm.{p}"),
)

PAIRS = (
    ClassPair("CTRLModel", "TobigsModel"),
    ClassPair("CTRLLMHeadModel", "TobigsForCausalLM", "transformer.", "model.",
              (rule("lm_head.{p}", "lm_head.{p}"),)),
    ClassPair("CTRLForSequenceClassification", "TobigsForSequenceClassification", "transformer.", "model.",
              (rule("classifier.weight", "classifier.weight"),)),
)


def config_from_hf(hf: CTRLConfig) -> dict:
    if hf.layer_norm_epsilon != CTRL_LAYER_NORM_EPS:
        require([f"layer_norm_epsilon={hf.layer_norm_epsilon} (CTRL's layers always use 1e-6, only its final "
                 "LayerNorm reads this value; tobigs_transformer has one epsilon for all)"], "this CTRL config")
    if hf.embd_pdrop != hf.resid_pdrop:
        logger.warning(f"CTRL embd_pdrop={hf.embd_pdrop} differs from resid_pdrop={hf.resid_pdrop}; "
                       "tobigs_transformer has one dropout for both and keeps resid_pdrop (this changes training "
                       "only, not the outputs)")
    return dict(
        architecture="decoder-only",
        vocab_size=hf.vocab_size,
        d_model=hf.n_embd,
        decoder_layers=hf.n_layer,
        decoder_attention_heads=hf.n_head,
        decoder_ffn_dim=hf.dff,
        activation_function="relu",
        dropout=hf.resid_pdrop,
        attention_dropout=0.0,
        activation_dropout=0.0,
        max_position_embeddings=hf.n_positions,
        position_embedding_type="sinusoidal",
        sinusoidal_layout="concatenated",
        position_offset=0,
        scale_embedding=True,
        layernorm_embedding=False,
        normalize_before=True,
        type_vocab_size=0,
        layer_norm_eps=CTRL_LAYER_NORM_EPS,
        attention_bias=True,
        lm_head_bias=True,
        init_std=hf.initializer_range,
        init_method="normal",
        label_smoothing=0.0,
        tie_word_embeddings=hf.tie_word_embeddings,
        use_cache=hf.use_cache,
        pad_token_id=hf.pad_token_id,
        bos_token_id=hf.bos_token_id,
        eos_token_id=hf.eos_token_id,
        decoder_start_token_id=None,
        **common_config_fields(hf),
    )


def incompatibilities(config: TobigsConfig) -> list[str]:
    expected = dict(architecture="decoder-only", position_embedding_type="sinusoidal",
                    sinusoidal_layout="concatenated", scale_embedding=True, layernorm_embedding=False,
                    normalize_before=True, attention_bias=True, lm_head_bias=True, activation_function="relu",
                    activation_dropout=0.0, attention_dropout=0.0, label_smoothing=0.0,
                    layer_norm_eps=CTRL_LAYER_NORM_EPS)
    return [f"{name}={getattr(config, name)!r} (CTRL needs {value!r})" for name, value in expected.items()
            if getattr(config, name) != value]


def config_to_hf(config: TobigsConfig) -> CTRLConfig:
    require(incompatibilities(config), "this TobigsConfig as CTRL")
    return CTRLConfig(
        vocab_size=config.vocab_size,
        n_embd=config.d_model,
        n_layer=config.decoder_layers,
        n_head=config.decoder_attention_heads,
        dff=config.decoder_ffn_dim,
        resid_pdrop=config.dropout,
        embd_pdrop=config.dropout,
        n_positions=config.max_position_embeddings,
        layer_norm_epsilon=config.layer_norm_eps,
        initializer_range=config.init_std,
        tie_word_embeddings=config.tie_word_embeddings,
        use_cache=config.use_cache,
        pad_token_id=config.pad_token_id,
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        **common_config_fields(config),
    )


FAMILY = Family("ctrl", ("ctrl",), BASE_RULES, PAIRS, config_from_hf, config_to_hf, incompatibilities)
