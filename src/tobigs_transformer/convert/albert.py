"""ALBERT (transformers' `AlbertModel`, `AlbertForPreTraining`, `AlbertForMaskedLM`, `AlbertForSequenceClassification`)
<-> our encoder-only models with the `albert-base` preset's layout.

ALBERT is BERT with the two parameter reductions of Lan et al. (2020) §3.1, both config values here:

- factorized embeddings: E-wide token/position/segment tables and LayerNorm, then `embedding_hidden_mapping_in`
  (E -> H) = our `embeddings.projection` (`embedding_size=E`); the MLM head's dense layer maps H back to E and its
  decoder is tied to the E-wide table;
- cross-layer sharing: `num_hidden_groups` groups of `inner_group_num` layers, layer i running group
  `int(i / (num_hidden_layers / num_hidden_groups))` = our `layer_sharing="all"`, `layer_groups`, `inner_group_num`.
  Group g's j-th layer is our `encoder.layers.{g * inner_group_num + j}`, so the key map follows the config.

    ALBERT                                                 tobigs_transformer
    embeddings.word/position/token_type_embeddings         encoder.embeddings.*  (E wide)
    embeddings.LayerNorm                                   encoder.embeddings.layer_norm
    encoder.embedding_hidden_mapping_in                    encoder.embeddings.projection
    encoder.albert_layer_groups.{g}.albert_layers.{j}.     encoder.layers.{g * inner + j}.
        attention.query|key|value / dense / LayerNorm          self_attn.qkv_proj (concatenated) / out_proj / ..._norm
        ffn / ffn_output / full_layer_layer_norm               feed_forward.fc1 / fc2 / ffn_layer_norm
    pooler                                                 pooler.dense
    predictions.dense / LayerNorm                          lm_head.dense / layer_norm
    predictions.decoder (+ .bias, = predictions.bias)      lm_head.decoder
    sop_classifier.classifier / classifier                 next_sentence_head / classifier

The paper's partial-sharing ablations (`layer_sharing="attention"` / `"ffn"`) have no transformers class and are
refused on export, with that reason.
"""

from transformers import AlbertConfig

from ..configuration_tobigs import TobigsConfig
from .bert import _pooler_kwargs
from .common import CAT, SAME, ClassPair, Family, activation_of, common_config_fields, require, rule

EMBEDDING_RULES = (
    rule("embeddings.word_embeddings.weight", "encoder.embeddings.word_embeddings.weight"),
    rule("embeddings.position_embeddings.weight", "encoder.embeddings.position_embeddings.weight"),
    rule("embeddings.token_type_embeddings.weight", "encoder.embeddings.token_type_embeddings.weight"),
    rule("embeddings.LayerNorm.{p}", "encoder.embeddings.layer_norm.{p}"),
    rule("encoder.embedding_hidden_mapping_in.{p}", "encoder.embeddings.projection.{p}"),
    rule("pooler.{p}", "pooler.dense.{p}"),
)


def groups_of(config: TobigsConfig) -> tuple[int, int]:
    """(num_hidden_groups, inner_group_num) of the ALBERT that `config` is: unshared layers are N groups of one."""
    if config.layer_sharing == "none":
        return config.encoder_layers, 1
    return config.layer_groups, config.inner_group_num


def base_rules(config: TobigsConfig) -> tuple:
    """The key map of an ALBERT with the config's groups: group g's j-th layer is our layer g * inner + j."""
    groups, inner = groups_of(config)
    rules = list(EMBEDDING_RULES)
    for g in range(groups):
        for j in range(inner):
            hf, ours = f"encoder.albert_layer_groups.{g}.albert_layers.{j}.", f"encoder.layers.{g * inner + j}."
            rules += [
                rule([f"{hf}attention.{n}.{{p}}" for n in ("query", "key", "value")],
                     f"{ours}self_attn.qkv_proj.{{p}}", CAT),
                rule(f"{hf}attention.dense.{{p}}", f"{ours}self_attn.out_proj.{{p}}"),
                rule(f"{hf}attention.LayerNorm.{{p}}", f"{ours}self_attn_layer_norm.{{p}}"),
                rule(f"{hf}ffn.{{p}}", f"{ours}feed_forward.fc1.{{p}}"),
                rule(f"{hf}ffn_output.{{p}}", f"{ours}feed_forward.fc2.{{p}}"),
                rule(f"{hf}full_layer_layer_norm.{{p}}", f"{ours}ffn_layer_norm.{{p}}"),
            ]
    return tuple(rules)


MLM_HEAD = (
    rule("predictions.dense.{p}", "lm_head.dense.{p}"),
    rule("predictions.LayerNorm.{p}", "lm_head.layer_norm.{p}"),
    rule("predictions.decoder.weight", "lm_head.decoder.weight"),
    rule(["predictions.decoder.bias", "predictions.bias"], "lm_head.decoder.bias", SAME),
)
SOP_HEAD = (rule("sop_classifier.classifier.{p}", "next_sentence_head.{p}"),)

PAIRS = (
    ClassPair("AlbertModel", "TobigsModel", ours_kwargs=_pooler_kwargs, hf_kwargs=_pooler_kwargs),
    ClassPair("AlbertForPreTraining", "TobigsForPreTraining", "albert.", "model.", MLM_HEAD + SOP_HEAD),
    ClassPair("AlbertForMaskedLM", "TobigsForMaskedLM", "albert.", "model.", MLM_HEAD),
    ClassPair("AlbertForSequenceClassification", "TobigsForSequenceClassification", "albert.", "model.",
              (rule("classifier.{p}", "classifier.{p}"),)),
)


def config_from_hf(hf: AlbertConfig) -> dict:
    reasons = []
    position_type = getattr(hf, "position_embedding_type", "absolute")
    if position_type != "absolute":
        reasons.append(f"position_embedding_type={position_type!r} (only 'absolute' learned positions)")
    if hf.num_hidden_groups > hf.num_hidden_layers:
        reasons.append(f"num_hidden_groups={hf.num_hidden_groups} > num_hidden_layers={hf.num_hidden_layers} (groups "
                       "that no layer runs)")
    require(reasons, "this ALBERT config")
    return dict(
        architecture="encoder-only",
        vocab_size=hf.vocab_size,
        d_model=hf.hidden_size,
        embedding_size=hf.embedding_size,
        encoder_layers=hf.num_hidden_layers,
        layer_sharing="all",
        layer_groups=hf.num_hidden_groups,
        inner_group_num=hf.inner_group_num,
        encoder_attention_heads=hf.num_attention_heads,
        encoder_ffn_dim=hf.intermediate_size,
        activation_function=activation_of(hf.hidden_act, "ALBERT"),
        dropout=hf.hidden_dropout_prob,
        attention_dropout=hf.attention_probs_dropout_prob,
        activation_dropout=0.0,
        classifier_dropout=hf.classifier_dropout_prob,
        max_position_embeddings=hf.max_position_embeddings,
        position_embedding_type="learned",
        position_offset=0,
        scale_embedding=False,
        layernorm_embedding=True,
        normalize_before=False,
        type_vocab_size=hf.type_vocab_size,
        layer_norm_eps=hf.layer_norm_eps,
        attention_bias=True,
        lm_head_bias=False,
        init_std=hf.initializer_range,
        init_method="normal",
        label_smoothing=0.0,
        tie_word_embeddings=hf.tie_word_embeddings,
        use_cache=False,
        pad_token_id=hf.pad_token_id,
        bos_token_id=hf.bos_token_id,
        eos_token_id=hf.eos_token_id,
        decoder_start_token_id=None,
        **common_config_fields(hf),
    )


def incompatibilities(config: TobigsConfig) -> list[str]:
    expected = dict(architecture="encoder-only", position_embedding_type="learned", position_offset=0,
                    position_padding_idx=None, scale_embedding=False, layernorm_embedding=True,
                    normalize_before=False, attention_bias=True, activation_dropout=0.0, label_smoothing=0.0,
                    classifier_head="pooler")
    reasons = [f"{name}={getattr(config, name)!r} (ALBERT needs {value!r})" for name, value in expected.items()
               if getattr(config, name) != value]
    if config.embedding_size is None:
        reasons.append("embedding_size=None (ALBERT always projects its embeddings: set embedding_size)")
    if config.layer_sharing not in ("all", "none"):
        reasons.append(f"layer_sharing={config.layer_sharing!r} (transformers' ALBERT shares whole layers or none; "
                       "the paper's partial-sharing ablations have no transformers class)")
    if config.type_vocab_size < 1:
        reasons.append("type_vocab_size=0 (ALBERT always has segment embeddings)")
    return reasons


def config_to_hf(config: TobigsConfig) -> AlbertConfig:
    require(incompatibilities(config), "this TobigsConfig as ALBERT")
    groups, inner = groups_of(config)
    return AlbertConfig(
        vocab_size=config.vocab_size,
        embedding_size=config.embedding_size,
        hidden_size=config.d_model,
        num_hidden_layers=config.encoder_layers,
        num_hidden_groups=groups,
        inner_group_num=inner,
        num_attention_heads=config.encoder_attention_heads,
        intermediate_size=config.encoder_ffn_dim,
        hidden_act=config.activation_function,
        hidden_dropout_prob=config.dropout,
        attention_probs_dropout_prob=config.attention_dropout,
        classifier_dropout_prob=config.head_dropout,
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


FAMILY = Family("albert", ("albert",), base_rules, PAIRS, config_from_hf, config_to_hf, incompatibilities)
