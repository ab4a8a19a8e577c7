"""ELECTRA (transformers' `ElectraModel`, `ElectraForPreTraining` = the discriminator, `ElectraForMaskedLM` = the
generator) <-> our encoder-only models with the `electra-small` / `electra-base` presets' layout.

ELECTRA's encoder is BERT's (the same layer keys under `electra.`) without a pooler (`add_pooling_layer=False`);
its embeddings may be narrower than the encoder (ELECTRA-small: E = 128, H = 256), projected by `embeddings_project`
= our `embeddings.projection` (`embedding_size=E`; absent when E = H, then `embedding_size=None`).

    ELECTRA                                        tobigs_transformer
    electra.embeddings.* / electra.encoder.*       model.encoder.embeddings.* / model.encoder.layers.*  (as BERT)
    electra.embeddings_project                     model.encoder.embeddings.projection
    discriminator_predictions.dense / dense_prediction   discriminator_head.dense / dense_prediction
    generator_predictions.dense / LayerNorm        lm_head.dense / layer_norm          (H -> E, then LayerNorm(E))
    generator_lm_head                              lm_head.decoder                     (tied to the E-wide table)

Not expressible (raise): `hidden_act` other than "gelu" (the generator head always uses GELU), and what BERT cannot
express (`position_embedding_type` other than "absolute", `is_decoder`, `add_cross_attention`).
"""

from transformers import ElectraConfig

from ..configuration_tobigs import TobigsConfig
from .bert import BASE_RULES as BERT_RULES
from .bert import config_from_hf as bert_config_from_hf
from .common import ClassPair, Family, common_config_fields, require, rule

BASE_RULES = tuple(r for r in BERT_RULES if not r.hf[0].startswith("pooler.")) + (
    rule("embeddings_project.{p}", "encoder.embeddings.projection.{p}"),
)

DISCRIMINATOR_HEAD = (
    rule("discriminator_predictions.dense.{p}", "discriminator_head.dense.{p}"),
    rule("discriminator_predictions.dense_prediction.{p}", "discriminator_head.dense_prediction.{p}"),
)
GENERATOR_HEAD = (
    rule("generator_predictions.dense.{p}", "lm_head.dense.{p}"),
    rule("generator_predictions.LayerNorm.{p}", "lm_head.layer_norm.{p}"),
    rule("generator_lm_head.{p}", "lm_head.decoder.{p}"),
)


PAIRS = (
    ClassPair("ElectraModel", "TobigsModel"),
    ClassPair("ElectraForPreTraining", "TobigsForReplacedTokenDetection", "electra.", "model.", DISCRIMINATOR_HEAD),
    ClassPair("ElectraForMaskedLM", "TobigsForMaskedLM", "electra.", "model.", GENERATOR_HEAD),
)


def config_from_hf(hf: ElectraConfig) -> dict:
    if hf.hidden_act != "gelu":
        require([f"hidden_act={hf.hidden_act!r} (ELECTRA's generator head uses GELU whatever hidden_act is; one "
                 "activation_function here serves both)"], "this ELECTRA config")
    fields = bert_config_from_hf(hf)
    fields.update(embedding_size=None if hf.embedding_size == hf.hidden_size else hf.embedding_size,
                  add_pooling_layer=False)
    return fields


def incompatibilities(config: TobigsConfig) -> list[str]:
    expected = dict(architecture="encoder-only", position_embedding_type="learned", position_offset=0,
                    position_padding_idx=None, scale_embedding=False, layernorm_embedding=True,
                    normalize_before=False, attention_bias=True, activation_dropout=0.0, label_smoothing=0.0,
                    activation_function="gelu", layer_sharing="none")
    reasons = [f"{name}={getattr(config, name)!r} (ELECTRA needs {value!r})" for name, value in expected.items()
               if getattr(config, name) != value]
    if config.embedding_size == config.d_model:
        reasons.append(f"embedding_size={config.embedding_size} = d_model (ELECTRA projects only narrower "
                       "embeddings: use embedding_size=None)")
    if config.type_vocab_size < 1:
        reasons.append("type_vocab_size=0 (ELECTRA always has segment embeddings)")
    return reasons


def config_to_hf(config: TobigsConfig) -> ElectraConfig:
    require(incompatibilities(config), "this TobigsConfig as ELECTRA")
    return ElectraConfig(
        vocab_size=config.vocab_size,
        embedding_size=config.embedding_size or config.d_model,
        hidden_size=config.d_model,
        num_hidden_layers=config.encoder_layers,
        num_attention_heads=config.encoder_attention_heads,
        intermediate_size=config.encoder_ffn_dim,
        hidden_act=config.activation_function,
        hidden_dropout_prob=config.dropout,
        attention_probs_dropout_prob=config.attention_dropout,
        classifier_dropout=config.classifier_dropout,
        max_position_embeddings=config.max_position_embeddings,
        type_vocab_size=config.type_vocab_size,
        layer_norm_eps=config.layer_norm_eps,
        initializer_range=config.init_std,
        tie_word_embeddings=config.tie_word_embeddings,
        pad_token_id=config.pad_token_id,
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        **common_config_fields(config),
    )


FAMILY = Family("electra", ("electra",), BASE_RULES, PAIRS, config_from_hf, config_to_hf, incompatibilities)
