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

from ..model.configuration_tobigs import TobigsConfig
from .bert import EMBEDDING_RULES, _pooler_kwargs, encoder_incompatibilities, encoder_kwargs
from .bert import config_from_hf as bert_config_from_hf
from .engine import require
from .families import Family, class_pairs
from .ops import SAME
from .rules import module_rules, rule

# One ALBERT layer, our module <- ALBERT's (separate W^Q, W^K, W^V: concatenated).
LAYER_MODULES = {
    "self_attn.qkv_proj": [f"attention.{name}" for name in ("query", "key", "value")],
    "self_attn.out_proj": "attention.dense",
    "self_attn_layer_norm": "attention.LayerNorm",
    "feed_forward.fc1": "ffn",
    "feed_forward.fc2": "ffn_output",
    "ffn_layer_norm": "full_layer_layer_norm",
}
# BERT's embeddings (E wide), the E -> H projection, and a pooler without BERT's `.dense`.
EMBEDDING_AND_POOLER_RULES = EMBEDDING_RULES + (
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
    rules = EMBEDDING_AND_POOLER_RULES
    for g in range(groups):
        for j in range(inner):
            rules += module_rules(f"encoder.albert_layer_groups.{g}.albert_layers.{j}.",
                                  f"encoder.layers.{g * inner + j}.", LAYER_MODULES)
    return rules


MLM_HEAD = module_rules("predictions.", "lm_head.", {"dense": "dense", "layer_norm": "LayerNorm"}) + (
    rule("predictions.decoder.weight", "lm_head.decoder.weight"),
    rule(["predictions.decoder.bias", "predictions.bias"], "lm_head.decoder.bias", SAME),
)
SOP_HEAD = (rule("sop_classifier.classifier.{p}", "next_sentence_head.{p}"),)

PAIRS = class_pairs("Albert", "albert.", {
    "ForPreTraining": ("TobigsForPreTraining", MLM_HEAD + SOP_HEAD),
    "ForMaskedLM": ("TobigsForMaskedLM", MLM_HEAD),
    "ForSequenceClassification": ("TobigsForSequenceClassification", (rule("classifier.{p}", "classifier.{p}"),)),
}, bare_kwargs=_pooler_kwargs)


def config_from_hf(hf: AlbertConfig) -> dict:
    if hf.num_hidden_groups > hf.num_hidden_layers:
        require([f"num_hidden_groups={hf.num_hidden_groups} > num_hidden_layers={hf.num_hidden_layers} (groups "
                 "that no layer runs)"], "this ALBERT config")
    return dict(
        bert_config_from_hf(hf, "ALBERT"),
        embedding_size=hf.embedding_size,
        layer_sharing="all",
        layer_groups=hf.num_hidden_groups,
        inner_group_num=hf.inner_group_num,
        classifier_dropout=hf.classifier_dropout_prob,
    )


def incompatibilities(config: TobigsConfig) -> list[str]:
    reasons = encoder_incompatibilities(config, "ALBERT", position_offset=0, position_padding_idx=None,
                                        classifier_head="pooler")
    if config.embedding_size is None:
        reasons.append("embedding_size=None (ALBERT always projects its embeddings: set embedding_size)")
    if config.layer_sharing not in ("all", "none"):
        reasons.append(f"layer_sharing={config.layer_sharing!r} (transformers' ALBERT shares whole layers or none; "
                       "the paper's partial-sharing ablations have no transformers class)")
    return reasons


def config_to_hf(config: TobigsConfig) -> AlbertConfig:
    require(incompatibilities(config), "this TobigsConfig as ALBERT")
    groups, inner = groups_of(config)
    return AlbertConfig(**encoder_kwargs(config), embedding_size=config.embedding_size, num_hidden_groups=groups,
                        inner_group_num=inner, classifier_dropout_prob=config.head_dropout)


FAMILY = Family("albert", ("albert",), base_rules, PAIRS, config_from_hf, config_to_hf, incompatibilities)
