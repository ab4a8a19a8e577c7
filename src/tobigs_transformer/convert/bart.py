"""BART (transformers' `BartModel`, `BartForConditionalGeneration`, `BartForSequenceClassification`,
`BartForCausalLM`) <-> our encoder-decoder models.

BART is the paper's encoder-decoder with learned positions (offset by 2 rows: `position_offset=2`), an embedding
LayerNorm (`layernorm_embedding`), post-LN and GELU. Weights map by name, with three remarks:

- self-attention q/k/v are stacked into `qkv_proj`, cross-attention k/v into `kv_proj` (`CAT`, split on export);
- `shared`, `encoder.embed_tokens` (and, tied, `decoder.embed_tokens`, `lm_head`) are one matrix; `shared` and the
  encoder's copy are checked equal (`SAME`) and stored once;
- `final_logits_bias` (a (1, vocab) buffer) is our LM head bias (`lm_head_bias=True`, `ROW`).

    BART                                        tobigs_transformer
    shared = encoder.embed_tokens               encoder.embeddings.word_embeddings
    {enc,dec}oder.embed_tokens                  {enc,dec}oder.embeddings.word_embeddings
    {enc,dec}oder.embed_positions               {enc,dec}oder.embeddings.position_embeddings (offset 2)
    {enc,dec}oder.layernorm_embedding           {enc,dec}oder.embeddings.layer_norm
    *.layers.{i}.self_attn.q|k|v_proj           *.layers.{i}.self_attn.qkv_proj          (concatenated)
    *.layers.{i}.self_attn.out_proj             *.layers.{i}.self_attn.out_proj
    *.layers.{i}.self_attn_layer_norm           *.layers.{i}.self_attn_layer_norm
    decoder.layers.{i}.encoder_attn.q_proj      decoder.layers.{i}.cross_attn.q_proj
    decoder.layers.{i}.encoder_attn.k|v_proj    decoder.layers.{i}.cross_attn.kv_proj    (concatenated)
    decoder.layers.{i}.encoder_attn.out_proj    decoder.layers.{i}.cross_attn.out_proj
    decoder.layers.{i}.encoder_attn_layer_norm  decoder.layers.{i}.cross_attn_layer_norm
    *.layers.{i}.fc1 / fc2                      *.layers.{i}.feed_forward.fc1 / fc2
    *.layers.{i}.final_layer_norm               *.layers.{i}.ffn_layer_norm
    lm_head / final_logits_bias                 lm_head.weight / lm_head.bias
    classification_head.dense / out_proj        classifier.dense / out_proj

`BartForCausalLM` (the decoder stack alone, under `model.decoder.`) is our `TobigsForCausalLM` over the same config
(`decoder_alone`): the same decoder keys, and an `lm_head` without bias, so our LM head bias (`lm_head_bias=True`,
BART's `final_logits_bias`) converts in as zeros and out only when it is zero (`ZERO_BIAS`).

Not expressible (raise): `tie_word_embeddings=False` (our encoder, decoder and output embeddings are tied or untied
together, BART's `shared` would be left over). `encoder_layerdrop`/`decoder_layerdrop` only change training: converted
with a warning and dropped.
"""

from transformers import BartConfig
from transformers.utils import logging

from ..model.configuration_tobigs import TobigsConfig
from .config_fields import activation_of, common_config_fields, mismatches
from .engine import require
from .families import Family, class_pairs
from .ops import ROW, SAME, SINUSOID, ZERO_BIAS
from .rules import module_rules, rule

logger = logging.get_logger(__name__)

# transformers' BART-like models hard-code nn.LayerNorm's default epsilon.
BART_LAYER_NORM_EPS = 1e-5


# One layer of a BART-like stack (BART, Marian, Pegasus), our module <- theirs; the decoder adds cross-attention,
# whose query and key|value projections we keep as two (the keys and values are computed once per source).
LAYER_MODULES = {
    "self_attn.qkv_proj": [f"self_attn.{n}_proj" for n in "qkv"],
    "self_attn.out_proj": "self_attn.out_proj",
    "self_attn_layer_norm": "self_attn_layer_norm",
    "feed_forward.fc1": "fc1",
    "feed_forward.fc2": "fc2",
    "ffn_layer_norm": "final_layer_norm",
}
CROSS_ATTENTION_MODULES = {
    "cross_attn.q_proj": "encoder_attn.q_proj",
    "cross_attn.kv_proj": [f"encoder_attn.{n}_proj" for n in "kv"],
    "cross_attn.out_proj": "encoder_attn.out_proj",
    "cross_attn_layer_norm": "encoder_attn_layer_norm",
}


def seq2seq_layer_rules() -> tuple:
    """The layers of BART-like encoder-decoders (BART, Marian, Pegasus): identical key layouts."""
    return (module_rules("encoder.layers.{i}.", "encoder.layers.{i}.", LAYER_MODULES)
            + module_rules("decoder.layers.{i}.", "decoder.layers.{i}.", {**LAYER_MODULES, **CROSS_ATTENTION_MODULES}))


SHARED_EMBEDDING_RULES = (
    rule(["shared.weight", "encoder.embed_tokens.weight"], "encoder.embeddings.word_embeddings.weight", SAME),
    rule("decoder.embed_tokens.weight", "decoder.embeddings.word_embeddings.weight"),
)

BASE_RULES = SHARED_EMBEDDING_RULES + (
    rule("encoder.embed_positions.weight", "encoder.embeddings.position_embeddings.weight"),
    rule("decoder.embed_positions.weight", "decoder.embeddings.position_embeddings.weight"),
    rule("encoder.layernorm_embedding.{p}", "encoder.embeddings.layer_norm.{p}"),
    rule("decoder.layernorm_embedding.{p}", "decoder.embeddings.layer_norm.{p}"),
) + seq2seq_layer_rules()

LM_HEAD = (
    rule("lm_head.weight", "lm_head.weight"),
    rule("final_logits_bias", "lm_head.bias", ROW),
)

# BartForCausalLM's head: the tied projection, no bias.
CAUSAL_LM_HEAD = (
    rule("lm_head.weight", "lm_head.weight"),
    rule((), "lm_head.bias", ZERO_BIAS),
)

# Marian's and Pegasus' sinusoid tables: checked, not stored (both sides rebuild them from the config).
SINUSOID_RULES = (
    rule("encoder.embed_positions.weight", None, SINUSOID),
    rule("decoder.embed_positions.weight", None, SINUSOID),
)

PAIRS = class_pairs("Bart", "model.", {
    "ForConditionalGeneration": ("TobigsForConditionalGeneration", LM_HEAD),
    "ForCausalLM": ("TobigsForCausalLM", CAUSAL_LM_HEAD),
    "ForSequenceClassification": ("TobigsForSequenceClassification",
                                  module_rules("classification_head.", "classifier.",
                                               {"dense": "dense", "out_proj": "out_proj"})),
})


def check_tied(hf, family: str) -> list[str]:
    if not hf.tie_word_embeddings:
        return [f"tie_word_embeddings=False ({family}'s `shared` embedding would have no tobigs equivalent; "
                "tobigs_transformer ties source, target and output embeddings together)"]
    return []


def warn_layerdrop(hf, family: str) -> None:
    for name in ("encoder_layerdrop", "decoder_layerdrop"):
        if getattr(hf, name, 0.0):
            logger.warning(f"{family} {name}={getattr(hf, name)} is dropped: tobigs_transformer has no LayerDrop "
                           "(this changes training only, not the outputs)")


def seq2seq_config_from_hf(hf) -> dict:
    """The fields BART and Marian configs share (same names as ours)."""
    return dict(
        architecture="encoder-decoder",
        vocab_size=hf.vocab_size,
        d_model=hf.d_model,
        encoder_layers=hf.encoder_layers,
        decoder_layers=hf.decoder_layers,
        encoder_attention_heads=hf.encoder_attention_heads,
        decoder_attention_heads=hf.decoder_attention_heads,
        encoder_ffn_dim=hf.encoder_ffn_dim,
        decoder_ffn_dim=hf.decoder_ffn_dim,
        activation_function=activation_of(hf.activation_function, hf.model_type),
        dropout=hf.dropout,
        attention_dropout=hf.attention_dropout,
        activation_dropout=hf.activation_dropout,
        max_position_embeddings=hf.max_position_embeddings,
        scale_embedding=bool(hf.scale_embedding),
        normalize_before=False,
        type_vocab_size=0,
        layer_norm_eps=BART_LAYER_NORM_EPS,
        attention_bias=True,
        lm_head_bias=True,
        init_std=hf.init_std,
        init_method="normal",
        label_smoothing=0.0,
        tie_word_embeddings=True,
        use_cache=hf.use_cache,
        pad_token_id=hf.pad_token_id,
        bos_token_id=getattr(hf, "bos_token_id", None),  # Pegasus has none
        eos_token_id=hf.eos_token_id,
        decoder_start_token_id=hf.decoder_start_token_id,
        **common_config_fields(hf),
    )


def seq2seq_config_to_hf(config: TobigsConfig) -> dict:
    return dict(
        vocab_size=config.vocab_size,
        d_model=config.d_model,
        encoder_layers=config.encoder_layers,
        decoder_layers=config.decoder_layers,
        encoder_attention_heads=config.encoder_attention_heads,
        decoder_attention_heads=config.decoder_attention_heads,
        encoder_ffn_dim=config.encoder_ffn_dim,
        decoder_ffn_dim=config.decoder_ffn_dim,
        activation_function=config.activation_function,
        dropout=config.dropout,
        attention_dropout=config.attention_dropout,
        activation_dropout=config.activation_dropout,
        max_position_embeddings=config.max_position_embeddings,
        scale_embedding=config.scale_embedding,
        init_std=config.init_std,
        tie_word_embeddings=True,
        use_cache=config.use_cache,
        pad_token_id=config.pad_token_id,
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        decoder_start_token_id=config.decoder_start_token_id,
        **common_config_fields(config),
    )


def seq2seq_incompatibilities(config: TobigsConfig, family: str, **expected) -> list[str]:
    expected = {**dict(architecture="encoder-decoder", normalize_before=False, attention_bias=True, lm_head_bias=True,
                       layer_norm_eps=BART_LAYER_NORM_EPS, type_vocab_size=0, tie_word_embeddings=True,
                       label_smoothing=0.0), **expected}
    return mismatches(config, expected, family)


def config_from_hf(hf: BartConfig) -> dict:
    require(check_tied(hf, "BART"), "this BART config")
    warn_layerdrop(hf, "BART")
    fields = seq2seq_config_from_hf(hf)
    fields.update(position_embedding_type="learned", position_offset=2, layernorm_embedding=True,
                  classifier_dropout=hf.classifier_dropout)
    return fields


def incompatibilities(config: TobigsConfig) -> list[str]:
    return seq2seq_incompatibilities(config, "BART", position_embedding_type="learned", position_offset=2,
                                     layernorm_embedding=True)


def config_to_hf(config: TobigsConfig) -> BartConfig:
    require(incompatibilities(config), "this TobigsConfig as BART")
    classifier_dropout = config.classifier_dropout if config.classifier_dropout is not None else config.dropout
    return BartConfig(**seq2seq_config_to_hf(config), classifier_dropout=classifier_dropout)


FAMILY = Family("bart", ("bart",), BASE_RULES, PAIRS, config_from_hf, config_to_hf, incompatibilities)
