"""BERT (transformers' `BertModel`, `BertForPreTraining`, `BertForMaskedLM`, `BertForNextSentencePrediction`,
`BertForSequenceClassification`, `BertForTokenClassification`, `BertForQuestionAnswering`, `BertForMultipleChoice`)
<-> our encoder-only models.

BERT is our encoder stack with learned positions, segment embeddings (`type_vocab_size=2`), an embedding LayerNorm
and post-LN. Its separate query/key/value projections are stacked into our fused `qkv_proj` (`CAT`, split back in
three on export). BERT's MLM head keeps its output bias twice (`cls.predictions.bias`, tied to
`cls.predictions.decoder.bias`): both names must hold the same tensor (`SAME`).

    BERT                                          tobigs_transformer
    embeddings.word/position/token_type_embeddings encoder.embeddings.word/position/token_type_embeddings
    embeddings.LayerNorm                          encoder.embeddings.layer_norm
    encoder.layer.{i}.attention.self.query|key|value   encoder.layers.{i}.self_attn.qkv_proj   (concatenated)
    encoder.layer.{i}.attention.output.dense      encoder.layers.{i}.self_attn.out_proj
    encoder.layer.{i}.attention.output.LayerNorm  encoder.layers.{i}.self_attn_layer_norm
    encoder.layer.{i}.intermediate.dense          encoder.layers.{i}.feed_forward.fc1
    encoder.layer.{i}.output.dense                encoder.layers.{i}.feed_forward.fc2
    encoder.layer.{i}.output.LayerNorm            encoder.layers.{i}.ffn_layer_norm
    pooler.dense                                  pooler.dense
    cls.predictions.transform.dense / LayerNorm   lm_head.dense / layer_norm
    cls.predictions.decoder (+ .bias, = cls.predictions.bias)   lm_head.decoder
    cls.seq_relationship                          next_sentence_head
    classifier / qa_outputs                       classifier / qa_outputs

Not expressible (raise): `position_embedding_type` other than "absolute", `is_decoder=True`,
`add_cross_attention=True`.
"""

from transformers import BertConfig

from ..model.configuration_tobigs import TobigsConfig
from .config_fields import activation_of, mismatches, single_stack_fields, token_fields
from .engine import require
from .families import Family, class_pairs
from .ops import SAME
from .rules import module_rules, rule

# Our embedding modules <- BERT's (RoBERTa, ALBERT and ELECTRA name them alike).
EMBEDDING_MODULES = {
    "word_embeddings": "word_embeddings",
    "position_embeddings": "position_embeddings",
    "token_type_embeddings": "token_type_embeddings",
    "layer_norm": "LayerNorm",
}
# One BERT layer, our module <- BERT's (separate W^Q, W^K, W^V: concatenated).
LAYER_MODULES = {
    "self_attn.qkv_proj": [f"attention.self.{name}" for name in ("query", "key", "value")],
    "self_attn.out_proj": "attention.output.dense",
    "self_attn_layer_norm": "attention.output.LayerNorm",
    "feed_forward.fc1": "intermediate.dense",
    "feed_forward.fc2": "output.dense",
    "ffn_layer_norm": "output.LayerNorm",
}
EMBEDDING_RULES = module_rules("embeddings.", "encoder.embeddings.", EMBEDDING_MODULES)
# The encoder without a pooler (ELECTRA's whole body).
ENCODER_RULES = EMBEDDING_RULES + module_rules("encoder.layer.{i}.", "encoder.layers.{i}.", LAYER_MODULES)
BASE_RULES = ENCODER_RULES + (rule("pooler.dense.{p}", "pooler.dense.{p}"),)

MLM_HEAD = (
    rule("cls.predictions.transform.dense.{p}", "lm_head.dense.{p}"),
    rule("cls.predictions.transform.LayerNorm.{p}", "lm_head.layer_norm.{p}"),
    rule("cls.predictions.decoder.weight", "lm_head.decoder.weight"),
    rule(["cls.predictions.decoder.bias", "cls.predictions.bias"], "lm_head.decoder.bias", SAME),
)
NSP_HEAD = (rule("cls.seq_relationship.{p}", "next_sentence_head.{p}"),)
LINEAR_CLASSIFIER = (rule("classifier.{p}", "classifier.{p}"),)


def _pooler_kwargs(model) -> dict:
    return {"add_pooling_layer": getattr(model, "pooler", None) is not None}


PAIRS = class_pairs("Bert", "bert.", {
    "ForPreTraining": ("TobigsForPreTraining", MLM_HEAD + NSP_HEAD),
    "ForMaskedLM": ("TobigsForMaskedLM", MLM_HEAD),
    "ForNextSentencePrediction": ("TobigsForNextSentencePrediction", NSP_HEAD),
    "ForSequenceClassification": ("TobigsForSequenceClassification", LINEAR_CLASSIFIER),
    "ForTokenClassification": ("TobigsForTokenClassification", LINEAR_CLASSIFIER),
    "ForQuestionAnswering": ("TobigsForQuestionAnswering", (rule("qa_outputs.{p}", "qa_outputs.{p}"),)),
    "ForMultipleChoice": ("TobigsForMultipleChoice", LINEAR_CLASSIFIER),
}, bare_kwargs=_pooler_kwargs)


def config_from_hf(hf: BertConfig, family: str = "BERT") -> dict:
    """The TobigsConfig of a BERT-style config (BERT, RoBERTa, ALBERT, ELECTRA name their fields alike); the
    variants add or override what differs."""
    reasons = []
    position_type = getattr(hf, "position_embedding_type", "absolute")
    if position_type != "absolute":
        reasons.append(f"position_embedding_type={position_type!r} (only 'absolute' learned positions)")
    if getattr(hf, "is_decoder", False):
        reasons.append(f"is_decoder=True (a causal {family} is not an encoder-only model)")
    if getattr(hf, "add_cross_attention", False):
        reasons.append("add_cross_attention=True (an encoder-only model has no cross-attention)")
    require(reasons, f"this {family} config")
    return dict(
        architecture="encoder-only",
        vocab_size=hf.vocab_size,
        d_model=hf.hidden_size,
        encoder_layers=hf.num_hidden_layers,
        encoder_attention_heads=hf.num_attention_heads,
        encoder_ffn_dim=hf.intermediate_size,
        activation_function=activation_of(hf.hidden_act, family),
        dropout=hf.hidden_dropout_prob,
        attention_dropout=hf.attention_probs_dropout_prob,
        activation_dropout=0.0,
        classifier_dropout=getattr(hf, "classifier_dropout", None),
        max_position_embeddings=hf.max_position_embeddings,
        position_embedding_type="learned",
        position_offset=0,
        scale_embedding=False,
        layernorm_embedding=True,
        normalize_before=False,
        type_vocab_size=hf.type_vocab_size,
        layer_norm_eps=hf.layer_norm_eps,
        use_cache=False,
        **single_stack_fields(hf),
    )


# The layout every BERT-style export needs.
ENCODER_LAYOUT = dict(architecture="encoder-only", position_embedding_type="learned", scale_embedding=False,
                      layernorm_embedding=True, normalize_before=False, attention_bias=True, activation_dropout=0.0,
                      label_smoothing=0.0)


def encoder_incompatibilities(config: TobigsConfig, family: str, **expected) -> list[str]:
    """Why `config` is not a BERT-style `family` model: BERT's layout with the `expected` values, and segment
    embeddings."""
    reasons = mismatches(config, {**ENCODER_LAYOUT, **expected}, family)
    if config.type_vocab_size < 1:
        reasons.append(f"type_vocab_size=0 ({family} always has segment (token type) embeddings)")
    return reasons


def unshared_full_width(config: TobigsConfig, family: str) -> list[str]:
    if config.embedding_size is not None or config.layer_sharing != "none":
        return [f"embedding_size={config.embedding_size!r}, layer_sharing={config.layer_sharing!r} ({family} has "
                "d_model-wide embeddings and unshared layers: that is ALBERT)"]
    return []


def incompatibilities(config: TobigsConfig) -> list[str]:
    return encoder_incompatibilities(config, "BERT", position_offset=0, position_padding_idx=None,
                                     classifier_head="pooler") + unshared_full_width(config, "BERT")


def encoder_kwargs(config: TobigsConfig) -> dict:
    """The transformers config arguments that BERT, RoBERTa, ALBERT and ELECTRA name alike, from a TobigsConfig."""
    return dict(
        vocab_size=config.vocab_size,
        hidden_size=config.d_model,
        num_hidden_layers=config.encoder_layers,
        num_attention_heads=config.encoder_attention_heads,
        intermediate_size=config.encoder_ffn_dim,
        hidden_act=config.activation_function,
        hidden_dropout_prob=config.dropout,
        attention_probs_dropout_prob=config.attention_dropout,
        max_position_embeddings=config.max_position_embeddings,
        type_vocab_size=config.type_vocab_size,
        layer_norm_eps=config.layer_norm_eps,
        initializer_range=config.init_std,
        tie_word_embeddings=config.tie_word_embeddings,
        **token_fields(config),
    )


def config_to_hf(config: TobigsConfig) -> BertConfig:
    require(incompatibilities(config), "this TobigsConfig as BERT")
    return BertConfig(**encoder_kwargs(config), classifier_dropout=config.classifier_dropout)


FAMILY = Family("bert", ("bert",), BASE_RULES, PAIRS, config_from_hf, config_to_hf, incompatibilities)
